package awsemu_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager/types"
	"github.com/aws/smithy-go"
	"github.com/stretchr/testify/require"

	"github.com/rekeyhq/rekey/internal/awsemu"
)

func TestSMFaults(t *testing.T) {
	t.Parallel()
	get := &secretsmanager.GetSecretValueInput{SecretId: aws.String("s")}

	t.Run("throttling is counted and typed", func(t *testing.T) {
		t.Parallel()
		srv, c := newSM(t)
		createSecret(t, c, "s", "v", 1)
		srv.ResetCalls()
		srv.InjectFault(awsemu.Fault{Op: "GetSecretValue", Code: "ThrottlingException", Times: 2})
		for range 2 {
			_, err := c.GetSecretValue(t.Context(), get)
			requireSMError(t, err, "ThrottlingException", "Rate exceeded")
		}
		require.Equal(t, "v", getString(t, c, get), "the fault is used up")
		require.Equal(t, int64(3), srv.Calls("GetSecretValue"))
		require.Equal(t, int64(3), srv.TotalCalls())
	})
	t.Run("the default retryer retries a server fault", func(t *testing.T) {
		t.Parallel()
		srv, c := newSM(t)
		createSecret(t, c, "s", "v", 1)
		retrying := secretsmanager.NewFromConfig(srv.AWSConfig())
		srv.InjectFault(awsemu.Fault{Op: "GetSecretValue", Code: "InternalServiceError", Times: 2})
		out, err := retrying.GetSecretValue(t.Context(), get)
		require.NoError(t, err)
		require.Equal(t, "v", *out.SecretString)
		require.Equal(t, int64(3), srv.Calls("GetSecretValue"))

		srv.InjectFault(awsemu.Fault{Op: "GetSecretValue", Code: "InternalServiceError", Times: 1})
		_, err = c.GetSecretValue(t.Context(), get)
		var ise *types.InternalServiceError
		require.ErrorAs(t, err, &ise)
	})
	t.Run("a delayed request holds no lock", func(t *testing.T) {
		t.Parallel()
		srv, c := newSM(t)
		createSecret(t, c, "s", "v", 1)
		srv.InjectFault(awsemu.Fault{Op: "GetSecretValue", Delay: 10 * time.Second, Times: 1})
		slowDone := make(chan time.Duration, 1)
		ctx, cancel := context.WithCancel(t.Context())
		defer cancel()
		go func() {
			start := time.Now()
			c.GetSecretValue(ctx, get) //nolint:errcheck // cancelled below
			slowDone <- time.Since(start)
		}()
		require.Eventually(t, func() bool { return srv.Calls("GetSecretValue") == 1 }, 5*time.Second, time.Millisecond)
		start := time.Now()
		require.Equal(t, "v", getString(t, c, get))
		_, err := c.PutSecretValue(t.Context(), &secretsmanager.PutSecretValueInput{SecretId: aws.String("s"), SecretString: aws.String("v2")})
		require.NoError(t, err)
		require.Less(t, time.Since(start), 5*time.Second, "other requests are served while one is delayed")
		cancel()
		require.Less(t, <-slowDone, 5*time.Second, "the delay ends when the client gives up")
	})
	t.Run("delay then serve", func(t *testing.T) {
		t.Parallel()
		srv, c := newSM(t)
		createSecret(t, c, "s", "v", 1)
		srv.InjectFault(awsemu.Fault{Op: "GetSecretValue", Delay: 50 * time.Millisecond, Times: 1})
		start := time.Now()
		require.Equal(t, "v", getString(t, c, get))
		require.GreaterOrEqual(t, time.Since(start), 50*time.Millisecond)
	})
	t.Run("hang honours the client context", func(t *testing.T) {
		t.Parallel()
		srv, c := newSM(t)
		createSecret(t, c, "s", "v", 1)
		srv.InjectFault(awsemu.Fault{Op: "GetSecretValue", Hang: true})
		ctx, cancel := context.WithTimeout(t.Context(), 100*time.Millisecond)
		defer cancel()
		_, err := c.GetSecretValue(ctx, get)
		require.ErrorIs(t, err, context.DeadlineExceeded)
		// Other operations are unaffected by a hanging one.
		_, err = c.DescribeSecret(t.Context(), &secretsmanager.DescribeSecretInput{SecretId: aws.String("s")})
		require.NoError(t, err)
		srv.ClearFaults()
		require.Equal(t, "v", getString(t, c, get))
	})
	t.Run("reset", func(t *testing.T) {
		t.Parallel()
		srv, c := newSM(t)
		createSecret(t, c, "s", "v", 1)
		srv.InjectFault(awsemu.Fault{Op: "GetSecretValue", Reset: true, Times: 1})
		_, err := c.GetSecretValue(t.Context(), get)
		require.Error(t, err)
		require.Equal(t, "v", getString(t, c, get))
	})
	t.Run("throttle under concurrency counts every request", func(t *testing.T) {
		t.Parallel()
		srv, c := newSM(t)
		createSecret(t, c, "s", "v", 1)
		srv.ResetCalls()
		srv.InjectFault(awsemu.Fault{Op: "GetSecretValue", Code: "ThrottlingException", Times: 50})
		var wg sync.WaitGroup
		var mu sync.Mutex
		throttled, served := 0, 0
		for range 10 {
			wg.Go(func() {
				for range 10 {
					_, err := c.GetSecretValue(context.Background(), get)
					mu.Lock()
					if err != nil {
						throttled++
					} else {
						served++
					}
					mu.Unlock()
				}
			})
		}
		wg.Wait()
		require.Equal(t, 50, throttled)
		require.Equal(t, 50, served)
		require.Equal(t, int64(100), srv.Calls("GetSecretValue"))
	})
}

// TestSMFaultAfterLosesTheReply: a fault with After commits the request and
// then loses its reply, the case ClientRequestToken exists for.
func TestSMFaultAfterLosesTheReply(t *testing.T) {
	t.Parallel()
	put := &secretsmanager.PutSecretValueInput{SecretId: aws.String("s"), SecretString: aws.String("v2"), ClientRequestToken: aws.String(token(2))}

	t.Run("reset after commit", func(t *testing.T) {
		t.Parallel()
		srv, c := newSM(t)
		createSecret(t, c, "s", "v1", 1)
		srv.InjectFault(awsemu.Fault{Op: "PutSecretValue", After: true, Reset: true, Times: 1})
		_, err := c.PutSecretValue(t.Context(), put)
		require.Error(t, err)
		var ae smithy.APIError
		require.False(t, errors.As(err, &ae), "the client got no answer, not an AWS error: %v", err)
		want := map[string][]string{token(1): {"AWSPREVIOUS"}, token(2): {"AWSCURRENT"}}
		require.Equal(t, want, stagesOf(t, c, "s"), "the write was committed")

		out, err := c.PutSecretValue(t.Context(), put)
		require.NoError(t, err, "a retry with the same token and value is a no-op")
		require.Equal(t, token(2), *out.VersionId)
		require.Equal(t, want, stagesOf(t, c, "s"))
		require.Equal(t, int64(2), srv.Calls("PutSecretValue"))
	})
	t.Run("error after commit", func(t *testing.T) {
		t.Parallel()
		srv, c := newSM(t)
		createSecret(t, c, "s", "v1", 1)
		srv.InjectFault(awsemu.Fault{Op: "PutSecretValue", After: true, Code: "InternalServiceError", Times: 1})
		_, err := c.PutSecretValue(t.Context(), put)
		var ise *types.InternalServiceError
		require.ErrorAs(t, err, &ise)
		require.Equal(t, "v2", getString(t, c, &secretsmanager.GetSecretValueInput{SecretId: aws.String("s")}))
	})
	t.Run("the SDK's retry reuses its generated token", func(t *testing.T) {
		t.Parallel()
		srv, c := newSM(t)
		createSecret(t, c, "s", "v1", 1)
		retrying := secretsmanager.NewFromConfig(srv.AWSConfig())
		srv.InjectFault(awsemu.Fault{Op: "PutSecretValue", After: true, Code: "InternalServiceError", Times: 1})
		out, err := retrying.PutSecretValue(t.Context(), &secretsmanager.PutSecretValueInput{SecretId: aws.String("s"), SecretString: aws.String("v2")})
		require.NoError(t, err)
		require.Equal(t, int64(2), srv.Calls("PutSecretValue"))
		require.Equal(t, map[string][]string{token(1): {"AWSPREVIOUS"}, *out.VersionId: {"AWSCURRENT"}}, stagesOf(t, c, "s"), "one version, not two")
	})
}
