package secretcache_test

import (
	"context"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager/types"

	"github.com/rekeyhq/rekey/internal/awsemu"
	"github.com/rekeyhq/rekey/secretcache"
)

// BenchmarkFailover measures a cold read (a new cache, nothing cached)
// with the default Options and real SDK clients (default retries) against
// one emulator serving a primary and a replica Region: with the primary
// healthy (the baseline), and with every request to the primary hanging,
// where the read costs Options.PrimaryTimeout (800ms) plus one replica
// round trip. The budget is 1s per read; the benchmark fails beyond it.
func BenchmarkFailover(b *testing.B) {
	srv := awsemu.New(b, func(o *awsemu.Options) { o.Region = primaryRegion })
	primarySM := secretsmanager.NewFromConfig(srv.AWSConfigFor(primaryRegion))
	replicaSM := secretsmanager.NewFromConfig(srv.AWSConfigFor(replicaRegion))
	out, err := primarySM.CreateSecret(b.Context(), &secretsmanager.CreateSecretInput{
		Name: aws.String("app/db"), SecretString: aws.String("v1"),
		AddReplicaRegions: []types.ReplicaRegionType{{Region: aws.String(replicaRegion)}},
	})
	if err != nil {
		b.Fatal(err)
	}
	arn := aws.ToString(out.ARN)
	ctx := context.Background()
	coldRead := func(b *testing.B, wantRegion string) {
		b.ReportAllocs()
		var worst time.Duration
		for b.Loop() {
			c, err := secretcache.New(primarySM, func(o *secretcache.Options) {
				o.Replicas = []secretcache.Replica{{Region: replicaRegion, Client: replicaSM}}
			})
			if err != nil {
				b.Fatal(err)
			}
			start := time.Now()
			s, err := c.Get(ctx, arn)
			worst = max(worst, time.Since(start))
			if err != nil || s.Region() != wantRegion {
				b.Fatalf("Get = %v, %v; want an answer from %s", s, err, wantRegion)
			}
			c.Close()
		}
		b.ReportMetric(float64(worst)/float64(time.Millisecond), "worst-ms")
		if worst > time.Second {
			b.Fatalf("worst cold read %v, over the 1s budget", worst)
		}
	}
	b.Run("cold/primary-up", func(b *testing.B) { coldRead(b, primaryRegion) })
	srv.InjectFault(awsemu.Fault{Region: primaryRegion, Hang: true})
	b.Run("cold/primary-hangs", func(b *testing.B) { coldRead(b, replicaRegion) })
}
