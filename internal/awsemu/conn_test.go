package awsemu_test

import (
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/rekeyhq/rekey/internal/awsemu"
)

// TestLargeResponsesOnReusedConnections guards against a client-side race:
// the SDK closes its request body as soon as the response headers arrive,
// and net/http's write loop, probing that body for EOF after sending it,
// then sees io.EOF as an error and closes the connection under the response
// body still being read ("use of closed network connection"). Only bodies
// larger than the transport's 4 KiB read buffer read from the socket after
// the headers, so the replies here are 6-8 KiB.
func TestLargeResponsesOnReusedConnections(t *testing.T) {
	srv := awsemu.New(t)
	sm := secretsmanager.NewFromConfig(srv.AWSConfig(), func(o *secretsmanager.Options) { o.RetryMaxAttempts = 1 })
	var ids []string
	for i := range 20 {
		id := fmt.Sprintf("big/%02d", i)
		ids = append(ids, id)
		_, err := sm.CreateSecret(t.Context(), &secretsmanager.CreateSecretInput{
			Name: aws.String(id), SecretString: aws.String(strings.Repeat("v", 200)),
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	const workers, calls = 8, 40
	var wg sync.WaitGroup
	errs := make(chan error, workers*calls)
	for range workers {
		wg.Go(func() {
			for range calls {
				out, err := sm.BatchGetSecretValue(t.Context(), &secretsmanager.BatchGetSecretValueInput{SecretIdList: ids})
				if err != nil {
					errs <- err
					continue
				}
				if len(out.SecretValues) != len(ids) {
					errs <- fmt.Errorf("got %d values, want %d", len(out.SecretValues), len(ids))
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	n := 0
	for err := range errs {
		if n++; n <= 3 {
			t.Error(err)
		}
	}
	if n > 0 {
		t.Errorf("%d of %d BatchGetSecretValue calls failed", n, workers*calls)
	}
}
