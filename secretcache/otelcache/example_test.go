package otelcache_test

import (
	"context"
	"fmt"
	"log"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"

	"github.com/rekeyhq/rekey/secretcache"
	"github.com/rekeyhq/rekey/secretcache/otelcache"
	"github.com/rekeyhq/rekey/secretcache/secretcachetest"
)

// The Metrics is made first, its hook set when the Cache is made, and its
// Stats callbacks registered once the Cache exists.
func Example() {
	ctx := context.Background()
	srv, err := secretcachetest.Start() // in production: secretsmanager.NewFromConfig(cfg)
	if err != nil {
		log.Fatal(err)
	}
	defer srv.Close()
	client := secretsmanager.NewFromConfig(srv.AWSConfig())
	client.CreateSecret(ctx, &secretsmanager.CreateSecretInput{Name: aws.String("app/db"), SecretString: aws.String("x")})

	reader := sdkmetric.NewManualReader() // in production: a periodic reader and an exporter
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	defer mp.Shutdown(ctx)

	m, err := otelcache.New(mp)
	if err != nil {
		log.Fatal(err)
	}
	defer m.Close()
	cache, err := secretcache.New(client, m.Instrument)
	if err != nil {
		log.Fatal(err)
	}
	defer cache.Close()
	if err := m.Observe(cache); err != nil {
		log.Fatal(err)
	}

	for range 3 {
		cache.GetSecretString(ctx, "app/db")
	}

	var rm metricdata.ResourceMetrics
	reader.Collect(ctx, &rm)
	for _, sm := range rm.ScopeMetrics {
		for _, mt := range sm.Metrics {
			switch d := mt.Data.(type) {
			case metricdata.Sum[int64]:
				for _, dp := range d.DataPoints {
					if v, ok := dp.Attributes.Value("rpc.method"); ok {
						fmt.Printf("%s{%s} %d\n", mt.Name, v.AsString(), dp.Value)
					} else {
						fmt.Printf("%s %d\n", mt.Name, dp.Value)
					}
				}
			case metricdata.Histogram[float64]:
				fmt.Printf("%s count %d\n", mt.Name, d.DataPoints[0].Count)
			}
		}
	}
	// Unordered output:
	// rekey.secretcache.hits 2
	// rekey.secretcache.misses 1
	// rekey.secretcache.stale_hits 0
	// rekey.secretcache.entries 1
	// rekey.secretcache.api.calls{GetSecretValue} 1
	// rekey.secretcache.refresh.duration count 1
}
