package awsemu_test

import (
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager/types"
	"github.com/stretchr/testify/require"
)

func TestSMDeleteAndRestore(t *testing.T) {
	t.Parallel()
	srv, c := newSM(t)
	clock := newFakeClock(srv, t0)
	created := createSecret(t, c, "s", "v1", 1)

	del, err := c.DeleteSecret(t.Context(), &secretsmanager.DeleteSecretInput{SecretId: aws.String("s"), RecoveryWindowInDays: aws.Int64(7)})
	require.NoError(t, err)
	require.True(t, t0.Add(7*24*time.Hour).Equal(*del.DeletionDate))

	d, err := c.DescribeSecret(t.Context(), &secretsmanager.DescribeSecretInput{SecretId: aws.String("s")})
	require.NoError(t, err, "a secret scheduled for deletion can be described")
	require.True(t, del.DeletionDate.Equal(*d.DeletedDate))

	refused := map[string]func() error{
		"GetSecretValue": func() error {
			_, err := c.GetSecretValue(t.Context(), &secretsmanager.GetSecretValueInput{SecretId: aws.String("s")})
			return err
		},
		"PutSecretValue": func() error {
			_, err := c.PutSecretValue(t.Context(), &secretsmanager.PutSecretValueInput{SecretId: aws.String("s"), SecretString: aws.String("v2")})
			return err
		},
		"UpdateSecret": func() error {
			_, err := c.UpdateSecret(t.Context(), &secretsmanager.UpdateSecretInput{SecretId: aws.String("s"), Description: aws.String("d")})
			return err
		},
		"UpdateSecretVersionStage": func() error {
			_, err := c.UpdateSecretVersionStage(t.Context(), &secretsmanager.UpdateSecretVersionStageInput{
				SecretId: aws.String("s"), VersionStage: aws.String("X"), MoveToVersionId: aws.String(token(1)),
			})
			return err
		},
		"ListSecretVersionIds": func() error {
			_, err := c.ListSecretVersionIds(t.Context(), &secretsmanager.ListSecretVersionIdsInput{SecretId: aws.String("s")})
			return err
		},
		"TagResource": func() error {
			_, err := c.TagResource(t.Context(), &secretsmanager.TagResourceInput{SecretId: aws.String("s"), Tags: []types.Tag{{Key: aws.String("k"), Value: aws.String("v")}}})
			return err
		},
		"GetResourcePolicy": func() error {
			_, err := c.GetResourcePolicy(t.Context(), &secretsmanager.GetResourcePolicyInput{SecretId: aws.String("s")})
			return err
		},
		"DeleteSecret again": func() error {
			_, err := c.DeleteSecret(t.Context(), &secretsmanager.DeleteSecretInput{SecretId: aws.String("s")})
			return err
		},
		"CreateSecret with the name": func() error {
			_, err := c.CreateSecret(t.Context(), &secretsmanager.CreateSecretInput{Name: aws.String("s"), SecretString: aws.String("x")})
			return err
		},
	}
	for name, call := range refused {
		t.Run(name, func(t *testing.T) {
			var ir *types.InvalidRequestException
			require.ErrorAs(t, call(), &ir)
		})
	}
	_, err = c.GetSecretValue(t.Context(), &secretsmanager.GetSecretValueInput{SecretId: aws.String("s")})
	requireSMError(t, err, "InvalidRequestException", "You can't perform this operation on the secret because it was marked for deletion.")

	restored, err := c.RestoreSecret(t.Context(), &secretsmanager.RestoreSecretInput{SecretId: created.ARN})
	require.NoError(t, err)
	require.Equal(t, *created.ARN, *restored.ARN)
	require.Equal(t, "v1", getString(t, c, &secretsmanager.GetSecretValueInput{SecretId: aws.String("s")}))
	d, err = c.DescribeSecret(t.Context(), &secretsmanager.DescribeSecretInput{SecretId: aws.String("s")})
	require.NoError(t, err)
	require.Nil(t, d.DeletedDate)

	t.Run("gone after the recovery window", func(t *testing.T) {
		_, err := c.DeleteSecret(t.Context(), &secretsmanager.DeleteSecretInput{SecretId: aws.String("s")})
		require.NoError(t, err)
		clock.Advance(30*24*time.Hour - time.Second)
		_, err = c.DescribeSecret(t.Context(), &secretsmanager.DescribeSecretInput{SecretId: aws.String("s")})
		require.NoError(t, err)
		clock.Advance(time.Second)
		_, err = c.DescribeSecret(t.Context(), &secretsmanager.DescribeSecretInput{SecretId: aws.String("s")})
		var nf *types.ResourceNotFoundException
		require.ErrorAs(t, err, &nf)
		createSecret(t, c, "s", "reborn", 2)
		_, err = c.GetSecretValue(t.Context(), &secretsmanager.GetSecretValueInput{SecretId: created.ARN})
		require.ErrorAs(t, err, &nf, "the old full ARN does not name the new secret")
	})
}

func TestSMForceDelete(t *testing.T) {
	t.Parallel()
	srv, c := newSM(t)
	newFakeClock(srv, t0)
	createSecret(t, c, "s", "v1", 1)
	del, err := c.DeleteSecret(t.Context(), &secretsmanager.DeleteSecretInput{SecretId: aws.String("s"), ForceDeleteWithoutRecovery: aws.Bool(true)})
	require.NoError(t, err)
	require.True(t, t0.Equal(*del.DeletionDate))
	_, err = c.DescribeSecret(t.Context(), &secretsmanager.DescribeSecretInput{SecretId: aws.String("s")})
	var nf *types.ResourceNotFoundException
	require.ErrorAs(t, err, &nf)
	createSecret(t, c, "s", "again", 2)
}

func TestSMDeleteSecretParameters(t *testing.T) {
	t.Parallel()
	_, c := newSM(t)
	createSecret(t, c, "s", "v1", 1)
	tests := []struct {
		name string
		in   secretsmanager.DeleteSecretInput
		msg  string
	}{
		{"window too short", secretsmanager.DeleteSecretInput{RecoveryWindowInDays: aws.Int64(6)}, "The RecoveryWindowInDays value must be between 7 and 30 days (inclusive)."},
		{"window too long", secretsmanager.DeleteSecretInput{RecoveryWindowInDays: aws.Int64(31)}, "The RecoveryWindowInDays value must be between 7 and 30 days (inclusive)."},
		{"window and force", secretsmanager.DeleteSecretInput{RecoveryWindowInDays: aws.Int64(7), ForceDeleteWithoutRecovery: aws.Bool(true)}, "You can't use ForceDeleteWithoutRecovery in conjunction with RecoveryWindowInDays."},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := tt.in
			in.SecretId = aws.String("s")
			_, err := c.DeleteSecret(t.Context(), &in)
			var ip *types.InvalidParameterException
			require.ErrorAs(t, err, &ip)
			require.Equal(t, tt.msg, ip.ErrorMessage())
		})
	}
	_, err := c.DeleteSecret(t.Context(), &secretsmanager.DeleteSecretInput{SecretId: aws.String("nope")})
	var nf *types.ResourceNotFoundException
	require.ErrorAs(t, err, &nf)
}
