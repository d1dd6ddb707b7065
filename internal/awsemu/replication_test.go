package awsemu_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
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
	require.ErrorContains(t, err, "You can't delete secret "+*current(t, ce, "app/db").ARN+" that still has replica regions [us-west-2].")
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

func TestReplicationLag(t *testing.T) {
	t.Parallel()
	srv := awsemu.New(t, func(o *awsemu.Options) { o.ReplicationDelay = time.Minute })
	clock := newFakeClock(srv, t0)
	ce, cw := smIn(srv, east), smIn(srv, west)
	out := createReplicated(t, ce, west)
	require.Equal(t, types.StatusTypeInProgress, out.ReplicationStatus[0].Status)
	_, err := cw.GetSecretValue(t.Context(), &secretsmanager.GetSecretValueInput{SecretId: aws.String("app/db")})
	var nf *types.ResourceNotFoundException
	require.ErrorAs(t, err, &nf, "the replica does not exist before the delay")

	clock.Advance(time.Minute)
	require.Equal(t, "v1", *current(t, cw, "app/db").SecretString)
	require.Equal(t, types.StatusTypeInSync, describe(t, ce, "app/db").ReplicationStatus[0].Status)

	// A rotation-like sequence: each change arrives after the delay, in order.
	_, err = ce.PutSecretValue(t.Context(), &secretsmanager.PutSecretValueInput{
		SecretId: aws.String("app/db"), SecretString: aws.String("v2"), ClientRequestToken: aws.String(token(2)),
	})
	require.NoError(t, err)
	clock.Advance(30 * time.Second)
	_, err = ce.PutSecretValue(t.Context(), &secretsmanager.PutSecretValueInput{
		SecretId: aws.String("app/db"), SecretString: aws.String("v3"), ClientRequestToken: aws.String(token(3)),
	})
	require.NoError(t, err)
	require.Equal(t, types.StatusTypeInProgress, describe(t, ce, "app/db").ReplicationStatus[0].Status)
	require.Equal(t, "v1", *current(t, cw, "app/db").SecretString, "the replica lags")
	clock.Advance(30 * time.Second)
	require.Equal(t, "v2", *current(t, cw, "app/db").SecretString)
	require.Equal(t, types.StatusTypeInProgress, describe(t, ce, "app/db").ReplicationStatus[0].Status, "v3 is still on its way")
	clock.Advance(30 * time.Second)
	require.Equal(t, "v3", *current(t, cw, "app/db").SecretString)
	require.Equal(t, types.StatusTypeInSync, describe(t, ce, "app/db").ReplicationStatus[0].Status)

	// SetReplicationDelay(0) makes later changes synchronous.
	srv.SetReplicationDelay(0)
	_, err = ce.PutSecretValue(t.Context(), &secretsmanager.PutSecretValueInput{
		SecretId: aws.String("app/db"), SecretString: aws.String("v4"), ClientRequestToken: aws.String(token(4)),
	})
	require.NoError(t, err)
	require.Equal(t, "v4", *current(t, cw, "app/db").SecretString)
}

func TestReplicationLagRealClock(t *testing.T) {
	t.Parallel()
	srv := awsemu.New(t, func(o *awsemu.Options) { o.ReplicationDelay = 100 * time.Millisecond })
	ce, cw := smIn(srv, east), smIn(srv, west)
	start := time.Now() // before the write: the replica cannot appear sooner than 100ms after it
	createReplicated(t, ce, west)
	require.Eventually(t, func() bool {
		out, err := cw.GetSecretValue(t.Context(), &secretsmanager.GetSecretValueInput{SecretId: aws.String("app/db")})
		return err == nil && *out.SecretString == "v1"
	}, 5*time.Second, 10*time.Millisecond)
	require.GreaterOrEqual(t, time.Since(start), 100*time.Millisecond)
}

func TestReplicateSecretToRegions(t *testing.T) {
	t.Parallel()
	srv := awsemu.New(t)
	ce, cw, cu := smIn(srv, east), smIn(srv, west), smIn(srv, eu)
	createSecret(t, ce, "app/db", "v1", 1)
	require.Nil(t, describe(t, ce, "app/db").PrimaryRegion)

	// A customer managed key of the replica Region.
	kw := kms.NewFromConfig(srv.AWSConfigFor(west))
	key, err := kw.CreateKey(t.Context(), &kms.CreateKeyInput{})
	require.NoError(t, err)
	out, err := ce.ReplicateSecretToRegions(t.Context(), &secretsmanager.ReplicateSecretToRegionsInput{
		SecretId: aws.String("app/db"), AddReplicaRegions: []types.ReplicaRegionType{{Region: aws.String(west), KmsKeyId: key.KeyMetadata.KeyId}},
	})
	require.NoError(t, err)
	require.Len(t, out.ReplicationStatus, 1)
	require.Equal(t, *key.KeyMetadata.KeyId, *out.ReplicationStatus[0].KmsKeyId)
	require.Equal(t, types.StatusTypeInSync, out.ReplicationStatus[0].Status)
	require.Equal(t, "v1", *current(t, cw, "app/db").SecretString)
	require.Equal(t, *key.KeyMetadata.Arn, *describe(t, cw, "app/db").KmsKeyId, "the replica is encrypted under its Region's key")

	// A second Region is added next to the first.
	out, err = ce.ReplicateSecretToRegions(t.Context(), &secretsmanager.ReplicateSecretToRegionsInput{
		SecretId: aws.String("app/db"), AddReplicaRegions: []types.ReplicaRegionType{{Region: aws.String(eu)}},
	})
	require.NoError(t, err)
	require.Len(t, out.ReplicationStatus, 2)
	require.Equal(t, "v1", *current(t, cu, "app/db").SecretString)

	// Invalid Regions.
	_, err = ce.ReplicateSecretToRegions(t.Context(), &secretsmanager.ReplicateSecretToRegionsInput{
		SecretId: aws.String("app/db"), AddReplicaRegions: []types.ReplicaRegionType{{Region: aws.String(east)}},
	})
	requireSMError(t, err, "InvalidParameterException", "Invalid replica region.")
	_, err = ce.ReplicateSecretToRegions(t.Context(), &secretsmanager.ReplicateSecretToRegionsInput{
		SecretId: aws.String("app/db"), AddReplicaRegions: []types.ReplicaRegionType{{Region: aws.String("Not_A_Region")}},
	})
	requireSMError(t, err, "ValidationException", "")
	require.Len(t, describe(t, ce, "app/db").ReplicationStatus, 2, "a refused request adds nothing")
}

func TestReplicaFailures(t *testing.T) {
	t.Parallel()
	t.Run("name taken in the replica Region", func(t *testing.T) {
		t.Parallel()
		srv := awsemu.New(t)
		ce, cw := smIn(srv, east), smIn(srv, west)
		createSecret(t, cw, "app/db", "west's own", 9)
		out := createReplicated(t, ce, west)
		require.Equal(t, types.StatusTypeFailed, out.ReplicationStatus[0].Status)
		require.Equal(t, "Secret with this name already exists in this region", *out.ReplicationStatus[0].StatusMessage)
		require.Equal(t, "west's own", *current(t, cw, "app/db").SecretString, "the existing secret is left alone")
		require.Nil(t, describe(t, cw, "app/db").PrimaryRegion)

		// ForceOverwriteReplicaSecret replaces it.
		_, err := ce.RemoveRegionsFromReplication(t.Context(), &secretsmanager.RemoveRegionsFromReplicationInput{SecretId: aws.String("app/db"), RemoveReplicaRegions: []string{west}})
		require.NoError(t, err)
		require.Equal(t, "west's own", *current(t, cw, "app/db").SecretString, "removing a failed replica deletes nothing")
		rep, err := ce.ReplicateSecretToRegions(t.Context(), &secretsmanager.ReplicateSecretToRegionsInput{
			SecretId: aws.String("app/db"), AddReplicaRegions: []types.ReplicaRegionType{{Region: aws.String(west)}}, ForceOverwriteReplicaSecret: true,
		})
		require.NoError(t, err)
		require.Equal(t, types.StatusTypeInSync, rep.ReplicationStatus[0].Status)
		require.Equal(t, "v1", *current(t, cw, "app/db").SecretString)
		require.Equal(t, east, *describe(t, cw, "app/db").PrimaryRegion)
	})
	t.Run("replica key missing or disabled", func(t *testing.T) {
		t.Parallel()
		srv := awsemu.New(t)
		ce, cw := smIn(srv, east), smIn(srv, west)
		createSecret(t, ce, "app/db", "v1", 1)
		out, err := ce.ReplicateSecretToRegions(t.Context(), &secretsmanager.ReplicateSecretToRegionsInput{
			SecretId: aws.String("app/db"), AddReplicaRegions: []types.ReplicaRegionType{{Region: aws.String(west), KmsKeyId: aws.String("alias/missing")}},
		})
		require.NoError(t, err)
		require.Equal(t, types.StatusTypeFailed, out.ReplicationStatus[0].Status)
		require.Contains(t, *out.ReplicationStatus[0].StatusMessage, "alias/missing is not found")
		_, err = cw.GetSecretValue(t.Context(), &secretsmanager.GetSecretValueInput{SecretId: aws.String("app/db")})
		var nf *types.ResourceNotFoundException
		require.ErrorAs(t, err, &nf, "a failed replica is not created")

		// A replica whose key is later disabled: the next change fails.
		kw := kms.NewFromConfig(srv.AWSConfigFor(west))
		key, err := kw.CreateKey(t.Context(), &kms.CreateKeyInput{})
		require.NoError(t, err)
		_, err = ce.RemoveRegionsFromReplication(t.Context(), &secretsmanager.RemoveRegionsFromReplicationInput{SecretId: aws.String("app/db"), RemoveReplicaRegions: []string{west}})
		require.NoError(t, err)
		_, err = ce.ReplicateSecretToRegions(t.Context(), &secretsmanager.ReplicateSecretToRegionsInput{
			SecretId: aws.String("app/db"), AddReplicaRegions: []types.ReplicaRegionType{{Region: aws.String(west), KmsKeyId: key.KeyMetadata.Arn}},
		})
		require.NoError(t, err)
		require.Equal(t, "v1", *current(t, cw, "app/db").SecretString)
		_, err = kw.DisableKey(t.Context(), &kms.DisableKeyInput{KeyId: key.KeyMetadata.KeyId})
		require.NoError(t, err)
		_, err = ce.PutSecretValue(t.Context(), &secretsmanager.PutSecretValueInput{SecretId: aws.String("app/db"), SecretString: aws.String("v2")})
		require.NoError(t, err, "the primary's write succeeds")
		rs := describe(t, ce, "app/db").ReplicationStatus[0]
		require.Equal(t, types.StatusTypeFailed, rs.Status)
		require.Contains(t, *rs.StatusMessage, "is disabled")
		_, err = cw.GetSecretValue(t.Context(), &secretsmanager.GetSecretValueInput{SecretId: aws.String("app/db")})
		var df *types.DecryptionFailure
		require.ErrorAs(t, err, &df, "a replica read needs the replica Region's key")

		// Once the key is back, the primary's next change brings the replica up to date.
		_, err = kw.EnableKey(t.Context(), &kms.EnableKeyInput{KeyId: key.KeyMetadata.KeyId})
		require.NoError(t, err)
		_, err = ce.PutSecretValue(t.Context(), &secretsmanager.PutSecretValueInput{SecretId: aws.String("app/db"), SecretString: aws.String("v3")})
		require.NoError(t, err)
		require.Equal(t, types.StatusTypeInSync, describe(t, ce, "app/db").ReplicationStatus[0].Status)
		require.Equal(t, "v3", *current(t, cw, "app/db").SecretString)
	})
}

func TestRemoveRegionsFromReplication(t *testing.T) {
	t.Parallel()
	srv := awsemu.New(t)
	ce, cw, cu := smIn(srv, east), smIn(srv, west), smIn(srv, eu)
	createReplicated(t, ce, west, eu)
	out, err := ce.RemoveRegionsFromReplication(t.Context(), &secretsmanager.RemoveRegionsFromReplicationInput{SecretId: aws.String("app/db"), RemoveReplicaRegions: []string{west}})
	require.NoError(t, err)
	require.Len(t, out.ReplicationStatus, 1)
	require.Equal(t, eu, *out.ReplicationStatus[0].Region)
	_, err = cw.GetSecretValue(t.Context(), &secretsmanager.GetSecretValueInput{SecretId: aws.String("app/db")})
	var nf *types.ResourceNotFoundException
	require.ErrorAs(t, err, &nf, "the replica is deleted")
	require.Equal(t, "v1", *current(t, cu, "app/db").SecretString)

	_, err = ce.RemoveRegionsFromReplication(t.Context(), &secretsmanager.RemoveRegionsFromReplicationInput{SecretId: aws.String("app/db"), RemoveReplicaRegions: []string{west}})
	var ipe *types.InvalidParameterException
	require.ErrorAs(t, err, &ipe, "not a replica Region")

	_, err = ce.RemoveRegionsFromReplication(t.Context(), &secretsmanager.RemoveRegionsFromReplicationInput{SecretId: aws.String("app/db"), RemoveReplicaRegions: []string{eu}})
	require.NoError(t, err)
	d := describe(t, ce, "app/db")
	require.Nil(t, d.PrimaryRegion)
	require.Empty(t, d.ReplicationStatus)
	_, err = ce.DeleteSecret(t.Context(), &secretsmanager.DeleteSecretInput{SecretId: aws.String("app/db"), ForceDeleteWithoutRecovery: aws.Bool(true)})
	require.NoError(t, err, "without replicas the secret can be deleted")
}

func TestStopReplicationToReplica(t *testing.T) {
	t.Parallel()
	srv := awsemu.New(t)
	ce, cw, cu := smIn(srv, east), smIn(srv, west), smIn(srv, eu)
	createReplicated(t, ce, west, eu)
	_, err := ce.StopReplicationToReplica(t.Context(), &secretsmanager.StopReplicationToReplicaInput{SecretId: aws.String("app/db")})
	var ire *types.InvalidRequestException
	require.ErrorAs(t, err, &ire, "the primary is not a replica")

	out, err := cw.StopReplicationToReplica(t.Context(), &secretsmanager.StopReplicationToReplicaInput{SecretId: aws.String("app/db")})
	require.NoError(t, err)
	require.True(t, strings.HasPrefix(*out.ARN, "arn:aws:secretsmanager:us-west-2:"), *out.ARN)

	// West is now a standalone secret: writable, no longer updated.
	d := describe(t, cw, "app/db")
	require.Nil(t, d.PrimaryRegion)
	_, err = cw.PutSecretValue(t.Context(), &secretsmanager.PutSecretValueInput{SecretId: aws.String("app/db"), SecretString: aws.String("west")})
	require.NoError(t, err)
	_, err = ce.PutSecretValue(t.Context(), &secretsmanager.PutSecretValueInput{SecretId: aws.String("app/db"), SecretString: aws.String("v2")})
	require.NoError(t, err)
	require.Equal(t, "west", *current(t, cw, "app/db").SecretString)
	require.Equal(t, "v2", *current(t, cu, "app/db").SecretString, "the other replica still follows")
	rs := describe(t, ce, "app/db").ReplicationStatus
	require.Len(t, rs, 1)
	require.Equal(t, eu, *rs[0].Region)
}

func TestRotationRunsOnThePrimary(t *testing.T) {
	t.Parallel()
	srv := awsemu.New(t)
	clock := newFakeClock(srv, t0)
	ce, cw := smIn(srv, east), smIn(srv, west)
	r := &rotator{c: ce, newValue: "rotated"}
	srv.RegisterRotationFunc(lambdaARN, r.fn)
	createReplicated(t, ce, west)

	_, err := ce.RotateSecret(t.Context(), &secretsmanager.RotateSecretInput{
		SecretId: aws.String("app/db"), RotationLambdaARN: aws.String(lambdaARN), ClientRequestToken: aws.String(token(2)),
		RotationRules: &types.RotationRulesType{AutomaticallyAfterDays: aws.Int64(1)},
	})
	require.NoError(t, err)
	got := current(t, cw, "app/db")
	require.Equal(t, "rotated", *got.SecretString)
	require.Equal(t, token(2), *got.VersionId)
	require.Equal(t, stagesOf(t, ce, "app/db"), stagesOf(t, cw, "app/db"))
	rd := describe(t, cw, "app/db")
	require.True(t, *rd.RotationEnabled, "the replica shows its primary's rotation configuration")
	require.Equal(t, lambdaARN, *rd.RotationLambdaARN)
	require.Equal(t, *describe(t, ce, "app/db").LastRotatedDate, *rd.LastRotatedDate)

	// The scheduler rotates the primary once, never the replica.
	n := len(r.steps())
	clock.Advance(25 * time.Hour)
	r.newValue = "scheduled"
	require.NoError(t, srv.RunDueRotations(t.Context()))
	require.Len(t, r.steps(), n+4, "one rotation: four steps")
	for _, c := range r.steps()[n:] {
		require.True(t, strings.HasPrefix(c.secretID, "arn:aws:secretsmanager:us-east-1:"), c.secretID)
	}
	require.Equal(t, "scheduled", *current(t, cw, "app/db").SecretString)
	require.Equal(t, stagesOf(t, ce, "app/db"), stagesOf(t, cw, "app/db"))
}

func TestRegionalOutageFaults(t *testing.T) {
	t.Parallel()
	srv := awsemu.New(t)
	ce, cw := smIn(srv, east), smIn(srv, west)
	createReplicated(t, ce, west)
	get := &secretsmanager.GetSecretValueInput{SecretId: aws.String("app/db")}
	for _, f := range []awsemu.Fault{
		{Region: east, Reset: true},
		{Region: east, Code: "ThrottlingException"},
		{Region: east, Op: "GetSecretValue", Code: "ServiceUnavailable", Status: 503},
	} {
		srv.ClearFaults()
		srv.ResetCalls()
		srv.InjectFault(f)
		_, err := ce.GetSecretValue(t.Context(), get)
		require.Error(t, err, "%+v", f)
		require.Equal(t, "v1", *current(t, cw, "app/db").SecretString, "%+v: the replica Region answers", f)
		require.Equal(t, int64(2), srv.Calls("GetSecretValue"), "calls are counted in every Region")
	}
	// A fault for an unknown Region matches nothing.
	srv.ClearFaults()
	srv.InjectFault(awsemu.Fault{Region: "ap-south-1", Code: "InternalServiceError"})
	require.Equal(t, "v1", *current(t, ce, "app/db").SecretString)
	require.Equal(t, "v1", *current(t, cw, "app/db").SecretString)
}

// TestReplicationConcurrentUse writes primaries in two Regions that
// replicate to each other while replicas are read, under -race: no
// deadlock, no race, and every replica ends on its primary's last value.
func TestReplicationConcurrentUse(t *testing.T) {
	t.Parallel()
	srv := awsemu.New(t, func(o *awsemu.Options) { o.ReplicationDelay = time.Millisecond })
	ce, cw := smIn(srv, east), smIn(srv, west)
	for _, p := range []struct {
		c            *secretsmanager.Client
		name, target string
	}{{ce, "a", west}, {cw, "b", east}} {
		_, err := p.c.CreateSecret(t.Context(), &secretsmanager.CreateSecretInput{
			Name: aws.String(p.name), SecretString: aws.String("0"), AddReplicaRegions: []types.ReplicaRegionType{{Region: aws.String(p.target)}},
		})
		require.NoError(t, err)
	}
	require.Eventually(t, func() bool { // the replicas exist after the delay
		_, errA := cw.GetSecretValue(t.Context(), &secretsmanager.GetSecretValueInput{SecretId: aws.String("a")})
		_, errB := ce.GetSecretValue(t.Context(), &secretsmanager.GetSecretValueInput{SecretId: aws.String("b")})
		return errA == nil && errB == nil
	}, 5*time.Second, time.Millisecond)
	var wg sync.WaitGroup
	errs := make(chan error, 4)
	for _, p := range []struct {
		primary, replica *secretsmanager.Client
		name             string
	}{{ce, cw, "a"}, {cw, ce, "b"}} {
		wg.Add(2)
		go func() {
			defer wg.Done()
			for i := 1; i <= 20; i++ {
				if _, err := p.primary.PutSecretValue(t.Context(), &secretsmanager.PutSecretValueInput{SecretId: aws.String(p.name), SecretString: aws.String(fmt.Sprint(i))}); err != nil {
					errs <- err
					return
				}
			}
		}()
		go func() {
			defer wg.Done()
			for range 20 {
				if _, err := p.replica.GetSecretValue(t.Context(), &secretsmanager.GetSecretValueInput{SecretId: aws.String(p.name)}); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}
	require.Eventually(t, func() bool {
		a, errA := cw.GetSecretValue(t.Context(), &secretsmanager.GetSecretValueInput{SecretId: aws.String("a")})
		b, errB := ce.GetSecretValue(t.Context(), &secretsmanager.GetSecretValueInput{SecretId: aws.String("b")})
		return errA == nil && errB == nil && *a.SecretString == "20" && *b.SecretString == "20"
	}, 5*time.Second, 5*time.Millisecond)
}

func TestListSecretsPrimaryRegion(t *testing.T) {
	t.Parallel()
	srv := awsemu.New(t)
	ce, cw := smIn(srv, east), smIn(srv, west)
	createReplicated(t, ce, west)
	createSecret(t, ce, "plain", "p", 2)
	names := func(c *secretsmanager.Client, region string) []string {
		out, err := c.ListSecrets(t.Context(), &secretsmanager.ListSecretsInput{Filters: []types.Filter{{Key: types.FilterNameStringTypePrimaryRegion, Values: []string{region}}}})
		require.NoError(t, err)
		var got []string
		for _, s := range out.SecretList {
			require.Equal(t, region, *s.PrimaryRegion)
			got = append(got, *s.Name)
		}
		return got
	}
	require.Equal(t, []string{"app/db"}, names(ce, east), "only replicated secrets have a primary Region")
	require.Equal(t, []string{"app/db"}, names(cw, east), "the replica's primary Region")
	require.Empty(t, names(cw, west))
}

// TestReplicaOfAnotherPrimary: two primaries of the same name in two
// Regions both replicate to a third; only the first gets it, and removing
// the second's failed replica leaves the first's in place.
func TestReplicaOfAnotherPrimary(t *testing.T) {
	t.Parallel()
	srv := awsemu.New(t)
	ce, cw, cu := smIn(srv, east), smIn(srv, west), smIn(srv, eu)
	createReplicated(t, ce, eu)
	out, err := cw.CreateSecret(t.Context(), &secretsmanager.CreateSecretInput{
		Name: aws.String("app/db"), SecretString: aws.String("west"), AddReplicaRegions: []types.ReplicaRegionType{{Region: aws.String(eu)}},
	})
	require.NoError(t, err)
	require.Equal(t, types.StatusTypeFailed, out.ReplicationStatus[0].Status)
	_, err = cw.RemoveRegionsFromReplication(t.Context(), &secretsmanager.RemoveRegionsFromReplicationInput{SecretId: aws.String("app/db"), RemoveReplicaRegions: []string{eu}})
	require.NoError(t, err)
	require.Equal(t, "v1", *current(t, cu, "app/db").SecretString, "east's replica is not west's to delete")
	require.Equal(t, east, *describe(t, cu, "app/db").PrimaryRegion)
}

func TestCallsIn(t *testing.T) {
	t.Parallel()
	srv := awsemu.New(t)
	ce, cw := smIn(srv, east), smIn(srv, west)
	createReplicated(t, ce, west)
	srv.ResetCalls()
	current(t, ce, "app/db")
	for range 2 {
		current(t, cw, "app/db")
	}
	srv.InjectFault(awsemu.Fault{Region: west, Code: "ThrottlingException", Times: 1})
	_, err := cw.GetSecretValue(t.Context(), &secretsmanager.GetSecretValueInput{SecretId: aws.String("app/db")})
	require.Error(t, err)
	require.Equal(t, int64(1), srv.CallsIn(east, "GetSecretValue"))
	require.Equal(t, int64(3), srv.CallsIn(west, "GetSecretValue"), "faulted requests count")
	require.Equal(t, int64(0), srv.CallsIn(eu, "GetSecretValue"))
	require.Equal(t, int64(4), srv.Calls("GetSecretValue"))
	require.Equal(t, int64(4), srv.TotalCalls())
	srv.ResetCalls()
	require.Equal(t, int64(0), srv.CallsIn(west, "GetSecretValue"))
}
