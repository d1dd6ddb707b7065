package oteldbretry_test

import (
	"context"
	"fmt"
	"log"

	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"

	"github.com/rekeyhq/rekey/dbretry"
	"github.com/rekeyhq/rekey/dbretry/oteldbretry"
	"github.com/rekeyhq/rekey/secretcache"
	"github.com/rekeyhq/rekey/secretcache/secretcachetest"
)

// The Metrics' hook is set when the Source is made. The refusal below is
// reported by hand, as the Source reports a login refused in a rotation
// window (TestSignals provokes one against PostgreSQL).
func Example() {
	ctx := context.Background()
	srv, err := secretcachetest.Start() // in production: secretsmanager.NewFromConfig(cfg)
	if err != nil {
		log.Fatal(err)
	}
	defer srv.Close()
	cache, err := secretcache.New(secretsmanager.NewFromConfig(srv.AWSConfig()))
	if err != nil {
		log.Fatal(err)
	}
	defer cache.Close()

	reader := sdkmetric.NewManualReader() // in production: a periodic reader and an exporter
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	defer mp.Shutdown(ctx)
	m, err := oteldbretry.New(mp)
	if err != nil {
		log.Fatal(err)
	}
	defer m.Close()
	src, err := dbretry.NewSource(cache, "prod/db", m.Instrument)
	if err != nil {
		log.Fatal(err)
	}
	defer src.Close()

	m.OnEvent(dbretry.Event{Kind: dbretry.EventAuthFailure, SecretID: src.SecretID(), Code: "28P01", Attempt: 1})

	var rm metricdata.ResourceMetrics
	reader.Collect(ctx, &rm)
	for _, sm := range rm.ScopeMetrics {
		for _, mt := range sm.Metrics {
			for _, dp := range mt.Data.(metricdata.Sum[int64]).DataPoints {
				code, _ := dp.Attributes.Value(oteldbretry.AttrStatusCode)
				fmt.Println(mt.Name, code.AsString(), dp.Value)
			}
		}
	}
	// Output:
	// rekey.dbretry.auth_failures 28P01 1
}
