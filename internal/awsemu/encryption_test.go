package awsemu_test

import (
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager/types"
	"github.com/stretchr/testify/require"
)

func TestSMCustomerManagedKey(t *testing.T) {
	t.Parallel()
	srv, c := newSM(t)
	kc := kms.NewFromConfig(srv.AWSConfig())
	key, err := kc.CreateKey(t.Context(), &kms.CreateKeyInput{})
	require.NoError(t, err)
	keyARN := *key.KeyMetadata.Arn

	_, err = c.CreateSecret(t.Context(), &secretsmanager.CreateSecretInput{
		Name: aws.String("s"), SecretString: aws.String("v1"), KmsKeyId: key.KeyMetadata.KeyId, ClientRequestToken: aws.String(token(1)),
	})
	require.NoError(t, err)
	createSecret(t, c, "plain", "p", 2)

	d, err := c.DescribeSecret(t.Context(), &secretsmanager.DescribeSecretInput{SecretId: aws.String("s")})
	require.NoError(t, err)
	require.Equal(t, keyARN, *d.KmsKeyId)
	versions, err := c.ListSecretVersionIds(t.Context(), &secretsmanager.ListSecretVersionIdsInput{SecretId: aws.String("s")})
	require.NoError(t, err)
	require.Equal(t, []string{keyARN}, versions.Versions[0].KmsKeyIds)
	require.Equal(t, "v1", getString(t, c, &secretsmanager.GetSecretValueInput{SecretId: aws.String("s")}))

	_, err = kc.DisableKey(t.Context(), &kms.DisableKeyInput{KeyId: key.KeyMetadata.KeyId})
	require.NoError(t, err)
	_, err = c.GetSecretValue(t.Context(), &secretsmanager.GetSecretValueInput{SecretId: aws.String("s")})
	var df *types.DecryptionFailure
	require.ErrorAs(t, err, &df)
	_, err = c.PutSecretValue(t.Context(), &secretsmanager.PutSecretValueInput{SecretId: aws.String("s"), SecretString: aws.String("v2")})
	var ef *types.EncryptionFailure
	require.ErrorAs(t, err, &ef)

	batch, err := c.BatchGetSecretValue(t.Context(), &secretsmanager.BatchGetSecretValueInput{SecretIdList: []string{"s", "plain"}})
	require.NoError(t, err)
	require.Len(t, batch.SecretValues, 1)
	require.Equal(t, "p", *batch.SecretValues[0].SecretString)
	require.Len(t, batch.Errors, 1)
	require.Equal(t, "s", *batch.Errors[0].SecretId)
	require.Equal(t, "DecryptionFailure", *batch.Errors[0].ErrorCode)

	_, err = c.CreateSecret(t.Context(), &secretsmanager.CreateSecretInput{Name: aws.String("bad-key"), SecretString: aws.String("x"), KmsKeyId: aws.String("alias/nope")})
	require.ErrorAs(t, err, &ef)
}
