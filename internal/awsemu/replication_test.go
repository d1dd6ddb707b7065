package awsemu_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager/types"
	"github.com/stretchr/testify/require"

	"github.com/rekeyhq/rekey/internal/awsemu"
)

const (
	east = awsemu.DefaultRegion // the server's default Region
	west = "us-west-2"
	eu   = "eu-west-1"
)

// smIn returns a non-retrying Secrets Manager client for region of srv.
func smIn(srv *awsemu.Server, region string) *secretsmanager.Client {
	return secretsmanager.NewFromConfig(srv.AWSConfigFor(region), func(o *secretsmanager.Options) { o.RetryMaxAttempts = 1 })
}

func describe(t *testing.T, c *secretsmanager.Client, id string) *secretsmanager.DescribeSecretOutput {
	t.Helper()
	out, err := c.DescribeSecret(t.Context(), &secretsmanager.DescribeSecretInput{SecretId: aws.String(id)})
	require.NoError(t, err)
	return out
}

func current(t *testing.T, c *secretsmanager.Client, id string) *secretsmanager.GetSecretValueOutput {
	t.Helper()
	out, err := c.GetSecretValue(t.Context(), &secretsmanager.GetSecretValueInput{SecretId: aws.String(id)})
	require.NoError(t, err)
	return out
}

// createReplicated creates "app/db" in east with value "v1", replicated to regions.
func createReplicated(t *testing.T, c *secretsmanager.Client, regions ...string) *secretsmanager.CreateSecretOutput {
	t.Helper()
	add := make([]types.ReplicaRegionType, len(regions))
	for i, r := range regions {
		add[i] = types.ReplicaRegionType{Region: aws.String(r)}
	}
	out, err := c.CreateSecret(t.Context(), &secretsmanager.CreateSecretInput{
		Name: aws.String("app/db"), SecretString: aws.String("v1"), ClientRequestToken: aws.String(token(1)), AddReplicaRegions: add,
	})
	require.NoError(t, err)
	return out
}

func TestRegionsAreSeparate(t *testing.T) {
	t.Parallel()
	srv := awsemu.New(t)
	ce, cw := smIn(srv, east), smIn(srv, west)
	createSecret(t, ce, "only-east", "e", 1)
	_, err := cw.GetSecretValue(t.Context(), &secretsmanager.GetSecretValueInput{SecretId: aws.String("only-east")})
	var nf *types.ResourceNotFoundException
	require.ErrorAs(t, err, &nf, "a secret lives in its own Region only")

	// The same name in two Regions: two secrets, each with its Region's ARN.
	out := createSecret(t, cw, "only-east", "w", 2)
	require.True(t, strings.HasPrefix(*out.ARN, "arn:aws:secretsmanager:us-west-2:123456789012:secret:only-east-"), *out.ARN)
	require.Equal(t, "e", *current(t, ce, "only-east").SecretString)
	require.Equal(t, "w", *current(t, cw, "only-east").SecretString)
	require.Nil(t, describe(t, cw, "only-east").PrimaryRegion, "a secret that is not replicated shows no PrimaryRegion")

	// Each Region has its own KMS keys, including aws/secretsmanager.
	ke := kms.NewFromConfig(srv.AWSConfigFor(east))
	kw := kms.NewFromConfig(srv.AWSConfigFor(west))
	de, err := ke.DescribeKey(t.Context(), &kms.DescribeKeyInput{KeyId: aws.String("alias/aws/secretsmanager")})
	require.NoError(t, err)
	dw, err := kw.DescribeKey(t.Context(), &kms.DescribeKeyInput{KeyId: aws.String("alias/aws/secretsmanager")})
	require.NoError(t, err)
	require.NotEqual(t, *de.KeyMetadata.KeyId, *dw.KeyMetadata.KeyId)
	require.True(t, strings.HasPrefix(*dw.KeyMetadata.Arn, "arn:aws:kms:us-west-2:123456789012:key/"), *dw.KeyMetadata.Arn)
	_, err = kw.DescribeKey(t.Context(), &kms.DescribeKeyInput{KeyId: de.KeyMetadata.Arn})
	require.Error(t, err, "another Region's key is not found")

	// AWSConfig is AWSConfigFor the default Region.
	require.Equal(t, srv.AWSConfigFor(srv.Region()).Region, srv.AWSConfig().Region)
}

func TestCreateSecretWithReplicas(t *testing.T) {
	t.Parallel()
	srv := awsemu.New(t)
	ce, cw, cu := smIn(srv, east), smIn(srv, west), smIn(srv, eu)
	out := createReplicated(t, ce, west, eu)
	require.Len(t, out.ReplicationStatus, 2)
	for i, r := range []string{west, eu} {
		rs := out.ReplicationStatus[i]
		require.Equal(t, r, *rs.Region)
		require.Equal(t, "alias/aws/secretsmanager", *rs.KmsKeyId)
		require.Equal(t, types.StatusTypeInSync, rs.Status, "replication is synchronous without a delay")
	}

	d := describe(t, ce, "app/db")
	require.Equal(t, east, *d.PrimaryRegion)
	require.Len(t, d.ReplicationStatus, 2)
	require.Equal(t, types.StatusTypeInSync, d.ReplicationStatus[0].Status)

	// The replica: same name, same suffix, its Region's ARN, same versions.
	suffix := (*out.ARN)[strings.LastIndex(*out.ARN, "-"):]
	for _, c := range []*secretsmanager.Client{cw, cu} {
		got := current(t, c, "app/db")
		require.Equal(t, "v1", *got.SecretString)
		require.Equal(t, token(1), *got.VersionId, "versions keep their ids")
		require.True(t, strings.HasSuffix(*got.ARN, ":secret:app/db"+suffix), *got.ARN)
		require.NotEqual(t, *out.ARN, *got.ARN)
		rd := describe(t, c, *got.ARN)
		require.Equal(t, east, *rd.PrimaryRegion)
		require.Empty(t, rd.ReplicationStatus, "a replica lists no replicas")
		require.Equal(t, describe(t, ce, "app/db").VersionIdsToStages, rd.VersionIdsToStages)
	}
	wARN := *current(t, cw, "app/db").ARN
	require.Equal(t, "arn:aws:secretsmanager:us-west-2:123456789012:secret:app/db"+suffix, wARN)

	// The replica's read is recorded in the primary's ReplicationStatus.
	d = describe(t, ce, "app/db")
	require.NotNil(t, d.ReplicationStatus[0].LastAccessedDate)
}

func TestReplicasFollowThePrimary(t *testing.T) {
	t.Parallel()
	srv := awsemu.New(t)
	ce, cw := smIn(srv, east), smIn(srv, west)
	createReplicated(t, ce, west)

	// A new version.
	_, err := ce.PutSecretValue(t.Context(), &secretsmanager.PutSecretValueInput{
		SecretId: aws.String("app/db"), SecretString: aws.String("v2"), ClientRequestToken: aws.String(token(2)),
	})
	require.NoError(t, err)
	got := current(t, cw, "app/db")
	require.Equal(t, "v2", *got.SecretString)
	require.Equal(t, token(2), *got.VersionId)
	require.Equal(t, stagesOf(t, ce, "app/db"), stagesOf(t, cw, "app/db"))

	// A pending version and a stage move, as a rotation makes them.
	_, err = ce.PutSecretValue(t.Context(), &secretsmanager.PutSecretValueInput{
		SecretId: aws.String("app/db"), SecretString: aws.String("v3"), ClientRequestToken: aws.String(token(3)), VersionStages: []string{"AWSPENDING"},
	})
	require.NoError(t, err)
	pending, err := cw.GetSecretValue(t.Context(), &secretsmanager.GetSecretValueInput{SecretId: aws.String("app/db"), VersionStage: aws.String("AWSPENDING")})
	require.NoError(t, err)
	require.Equal(t, "v3", *pending.SecretString)
	require.Equal(t, "v2", *current(t, cw, "app/db").SecretString)
	_, err = ce.UpdateSecretVersionStage(t.Context(), &secretsmanager.UpdateSecretVersionStageInput{
		SecretId: aws.String("app/db"), VersionStage: aws.String("AWSCURRENT"), MoveToVersionId: aws.String(token(3)), RemoveFromVersionId: aws.String(token(2)),
	})
	require.NoError(t, err)
	require.Equal(t, "v3", *current(t, cw, "app/db").SecretString)
	prev, err := cw.GetSecretValue(t.Context(), &secretsmanager.GetSecretValueInput{SecretId: aws.String("app/db"), VersionStage: aws.String("AWSPREVIOUS")})
	require.NoError(t, err)
	require.Equal(t, "v2", *prev.SecretString)
	require.Equal(t, stagesOf(t, ce, "app/db"), stagesOf(t, cw, "app/db"))

	// Metadata.
	_, err = ce.UpdateSecret(t.Context(), &secretsmanager.UpdateSecretInput{SecretId: aws.String("app/db"), Description: aws.String("the db")})
	require.NoError(t, err)
	_, err = ce.TagResource(t.Context(), &secretsmanager.TagResourceInput{SecretId: aws.String("app/db"), Tags: []types.Tag{{Key: aws.String("team"), Value: aws.String("x")}}})
	require.NoError(t, err)
	rd := describe(t, cw, "app/db")
	require.Equal(t, "the db", *rd.Description)
	require.Len(t, rd.Tags, 1)
}

func TestReplicaIsReadOnly(t *testing.T) {
	t.Parallel()
	srv := awsemu.New(t)
	ce, cw := smIn(srv, east), smIn(srv, west)
	createReplicated(t, ce, west)
	const msg = "Operation not permitted on a replica secret. Call must be made in primary secret's region."
	id := aws.String("app/db")
	ctx := t.Context()
	writes := map[string]func() error{
		"PutSecretValue": func() error {
			_, err := cw.PutSecretValue(ctx, &secretsmanager.PutSecretValueInput{SecretId: id, SecretString: aws.String("x")})
			return err
		},
		"UpdateSecret": func() error {
			_, err := cw.UpdateSecret(ctx, &secretsmanager.UpdateSecretInput{SecretId: id, Description: aws.String("x")})
			return err
		},
		"UpdateSecretVersionStage": func() error {
			_, err := cw.UpdateSecretVersionStage(ctx, &secretsmanager.UpdateSecretVersionStageInput{SecretId: id, VersionStage: aws.String("X"), MoveToVersionId: aws.String(token(1))})
			return err
		},
		"RotateSecret": func() error {
			_, err := cw.RotateSecret(ctx, &secretsmanager.RotateSecretInput{SecretId: id})
			return err
		},
		"DeleteSecret": func() error {
			_, err := cw.DeleteSecret(ctx, &secretsmanager.DeleteSecretInput{SecretId: id})
			return err
		},
		"PutResourcePolicy": func() error {
			_, err := cw.PutResourcePolicy(ctx, &secretsmanager.PutResourcePolicyInput{SecretId: id, ResourcePolicy: aws.String(`{"Version":"2012-10-17","Statement":[]}`)})
			return err
		},
		"TagResource": func() error {
			_, err := cw.TagResource(ctx, &secretsmanager.TagResourceInput{SecretId: id, Tags: []types.Tag{{Key: aws.String("k"), Value: aws.String("v")}}})
			return err
		},
		"ReplicateSecretToRegions": func() error {
			_, err := cw.ReplicateSecretToRegions(ctx, &secretsmanager.ReplicateSecretToRegionsInput{SecretId: id, AddReplicaRegions: []types.ReplicaRegionType{{Region: aws.String(eu)}}})
			return err
		},
	}
	for op, call := range writes {
		err := call()
		var ipe *types.InvalidParameterException
		require.ErrorAs(t, err, &ipe, op)
		requireSMError(t, err, "InvalidParameterException", msg)
	}
	require.Equal(t, "v1", *current(t, cw, "app/db").SecretString, "nothing changed")
	require.Equal(t, stagesOf(t, ce, "app/db"), stagesOf(t, cw, "app/db"))

	// The primary cannot be deleted while it has replicas.
	_, err := ce.DeleteSecret(ctx, &secretsmanager.DeleteSecretInput{SecretId: id})
	requireSMError(t, err, "InvalidParameterException", "")
	require.Contains(t, err.Error(), "still has replica regions [us-west-2]")
}

func TestRegionalFault(t *testing.T) {
	t.Parallel()
	srv := awsemu.New(t)
	ce, cw := smIn(srv, east), smIn(srv, west)
	createReplicated(t, ce, west)
	srv.InjectFault(awsemu.Fault{Region: east, Code: "InternalServiceError"})
	_, err := ce.GetSecretValue(t.Context(), &secretsmanager.GetSecretValueInput{SecretId: aws.String("app/db")})
	var ise *types.InternalServiceError
	require.ErrorAs(t, err, &ise)
	require.Equal(t, "v1", *current(t, cw, "app/db").SecretString, "the other Region is up")

	srv.ClearFaults()
	srv.InjectFault(awsemu.Fault{Region: east, Hang: true})
	ctx, cancel := context.WithTimeout(t.Context(), 200*time.Millisecond)
	defer cancel()
	_, err = ce.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String("app/db")})
	require.ErrorIs(t, err, context.DeadlineExceeded)
	require.Equal(t, "v1", *current(t, cw, "app/db").SecretString)
}
