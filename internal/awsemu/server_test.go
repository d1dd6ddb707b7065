package awsemu_test

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager/types"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/rekeyhq/rekey/internal/awsemu"
)

// TestServerCloseStopsRotations is not parallel: goleak compares the
// goroutines alive before and after it.
func TestServerCloseStopsRotations(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	srv, err := awsemu.Start()
	require.NoError(t, err)
	defer srv.Close()
	c := secretsmanager.NewFromConfig(srv.AWSConfig(), func(o *secretsmanager.Options) { o.RetryMaxAttempts = 1 })
	createSecret(t, c, "s", "v1", 1)

	entered := make(chan struct{})
	var sawErr atomic.Value
	var returned atomic.Bool
	srv.RegisterRotationFunc(lambdaARN, func(ctx context.Context, _, _, _ string) error {
		close(entered) // only createSecret runs: it fails
		select {
		case <-ctx.Done():
			sawErr.Store(ctx.Err())
		case <-time.After(3 * time.Second):
		}
		time.Sleep(50 * time.Millisecond) // Close must wait for this too
		returned.Store(true)
		return ctx.Err()
	})
	rotated := make(chan error, 1)
	go func() {
		_, err := c.RotateSecret(context.Background(), &secretsmanager.RotateSecretInput{SecretId: aws.String("s"), RotationLambdaARN: aws.String(lambdaARN)})
		rotated <- err
	}()
	<-entered

	start := time.Now()
	srv.Close()
	require.True(t, returned.Load(), "Close returned while a rotation function was running")
	require.Equal(t, context.Canceled, sawErr.Load(), "Close cancels the rotation's context")
	require.Less(t, time.Since(start), 2*time.Second)
	require.Error(t, <-rotated)
	srv.Close() // idempotent

	require.ErrorContains(t, srv.RunDueRotations(t.Context()), "closed", "a closed server runs no rotations")
}

// TestServerCloseWithRegions is not parallel (goleak): a server with
// several Regions, replication still pending and a request held by a
// Regional Hang fault closes without leaving a goroutine behind.
func TestServerCloseWithRegions(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	srv, err := awsemu.Start(func(o *awsemu.Options) { o.ReplicationDelay = time.Hour })
	require.NoError(t, err)
	defer srv.Close()
	east := secretsmanager.NewFromConfig(srv.AWSConfigFor("us-east-1"), func(o *secretsmanager.Options) { o.RetryMaxAttempts = 1 })
	west := secretsmanager.NewFromConfig(srv.AWSConfigFor("us-west-2"), func(o *secretsmanager.Options) { o.RetryMaxAttempts = 1 })
	_, err = east.CreateSecret(t.Context(), &secretsmanager.CreateSecretInput{
		Name: aws.String("s"), SecretString: aws.String("v"), AddReplicaRegions: []types.ReplicaRegionType{{Region: aws.String("us-west-2")}},
	})
	require.NoError(t, err)
	srv.InjectFault(awsemu.Fault{Region: "us-west-2", Hang: true})
	held := make(chan error, 1)
	go func() {
		_, err := west.GetSecretValue(context.Background(), &secretsmanager.GetSecretValueInput{SecretId: aws.String("s")})
		held <- err
	}()
	require.Eventually(t, func() bool { return srv.CallsIn("us-west-2", "GetSecretValue") == 1 }, 5*time.Second, time.Millisecond)
	srv.Close()
	require.Error(t, <-held, "Close ends the held request")
	_, err = east.GetSecretValue(t.Context(), &secretsmanager.GetSecretValueInput{SecretId: aws.String("s")})
	require.Error(t, err, "a closed server serves no Region")
}
