package otelcache_test

import (
	"context"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"

	"github.com/rekeyhq/rekey/internal/awsemu"
	"github.com/rekeyhq/rekey/secretcache"
	"github.com/rekeyhq/rekey/secretcache/otelcache"
)

// BenchmarkGet measures reads through a Cache instrumented by otelcache
// with the SDK's MeterProvider: fresh hits, and stale hits during a
// failing refresh's backoff (each emits EventStale, which otelcache
// leaves to the Stats callback).
func BenchmarkGet(b *testing.B) {
	srv := awsemu.New(b)
	sm := secretsmanager.NewFromConfig(srv.AWSConfig(), func(o *secretsmanager.Options) { o.RetryMaxAttempts = 1 })
	ctx := context.Background()
	if _, err := sm.CreateSecret(ctx, &secretsmanager.CreateSecretInput{Name: aws.String("s"), SecretString: aws.String("v")}); err != nil {
		b.Fatal(err)
	}
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(sdkmetric.NewManualReader()))
	defer mp.Shutdown(ctx)
	for _, stale := range []bool{false, true} {
		m, err := otelcache.New(mp)
		if err != nil {
			b.Fatal(err)
		}
		cache, err := secretcache.New(sm, m.Instrument, func(o *secretcache.Options) {
			if stale {
				o.TTL = time.Nanosecond
				o.Jitter = -1
				o.ErrorBackoff = time.Hour
				o.MaxErrorBackoff = time.Hour
			}
		})
		if err != nil {
			b.Fatal(err)
		}
		if err := m.Observe(cache); err != nil {
			b.Fatal(err)
		}
		if _, err := cache.Get(ctx, "s"); err != nil {
			b.Fatal(err)
		}
		name := "hit/otel"
		if stale {
			name = "stale/otel"
			srv.InjectFault(awsemu.Fault{Op: "DescribeSecret", Code: "ThrottlingException"})
			time.Sleep(time.Millisecond)
			cache.Get(ctx, "s")
			for cache.Stats().Errors == 0 {
				time.Sleep(time.Millisecond)
			}
		}
		b.Run(name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := cache.Get(ctx, "s"); err != nil {
					b.Fatal(err)
				}
			}
		})
		cache.Close()
		m.Close()
	}
}
