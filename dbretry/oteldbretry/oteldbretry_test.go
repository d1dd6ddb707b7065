package oteldbretry_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"

	"github.com/rekeyhq/rekey/dbretry"
	"github.com/rekeyhq/rekey/dbretry/oteldbretry"
	"github.com/rekeyhq/rekey/internal/awsemu"
	"github.com/rekeyhq/rekey/internal/pgtest"
	"github.com/rekeyhq/rekey/secretcache"
)

// sum returns the total of the int64 sum named name over the data points
// carrying want.
func sum(t testing.TB, r *sdkmetric.ManualReader, name string, want ...attribute.KeyValue) int64 {
	t.Helper()
	var rm metricdata.ResourceMetrics
	if err := r.Collect(context.Background(), &rm); err != nil {
		t.Fatal(err)
	}
	var n int64
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			if m.Name != name {
				continue
			}
		points:
			for _, dp := range m.Data.(metricdata.Sum[int64]).DataPoints {
				for _, kv := range want {
					if v, ok := dp.Attributes.Value(kv.Key); !ok || v != kv.Value {
						continue points
					}
				}
				n += dp.Value
			}
		}
	}
	return n
}

// In the single-user rotation window the old password is refused (28P01)
// and the Source switches to AWSPENDING: one failure, one switch.
func TestSignals(t *testing.T) {
	pg := pgtest.Start(t)
	pg.Exec(t, "CREATE ROLE otelapp LOGIN PASSWORD 'old-pw'")
	srv := awsemu.New(t)
	sm := secretsmanager.NewFromConfig(srv.AWSConfig(), func(o *secretsmanager.Options) { o.RetryMaxAttempts = 1 })
	ctx := context.Background()
	value := func(pw string) *string {
		b, _ := json.Marshal(map[string]any{"engine": "postgres", "host": pg.Host, "port": pg.Port,
			"username": "otelapp", "password": pw, "dbname": "postgres"})
		return aws.String(string(b))
	}
	if _, err := sm.CreateSecret(ctx, &secretsmanager.CreateSecretInput{Name: aws.String("db"), SecretString: value("old-pw")}); err != nil {
		t.Fatal(err)
	}
	cache, err := secretcache.New(sm, func(o *secretcache.Options) { o.MinRefreshInterval = -1 })
	if err != nil {
		t.Fatal(err)
	}
	defer cache.Close()

	reader := sdkmetric.NewManualReader()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	defer mp.Shutdown(ctx)
	dbName := attribute.String("db", "app")
	m, err := oteldbretry.New(mp, func(o *oteldbretry.Options) { o.Attributes = []attribute.KeyValue{dbName} })
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	src, err := dbretry.NewSource(cache, "db", m.Instrument)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	db := dbretry.OpenDB(src)
	defer db.Close()
	db.SetMaxIdleConns(0) // every Ping logs in anew
	if err := db.PingContext(ctx); err != nil {
		t.Fatal(err)
	}

	if _, err := sm.PutSecretValue(ctx, &secretsmanager.PutSecretValueInput{SecretId: aws.String("db"),
		SecretString: value("new-pw"), VersionStages: []string{secretcache.StagePending}}); err != nil {
		t.Fatal(err)
	}
	pg.Exec(t, "ALTER ROLE otelapp PASSWORD 'new-pw'")
	if err := db.PingContext(ctx); err != nil {
		t.Fatalf("Ping in the window: %v", err)
	}

	if got := sum(t, reader, "rekey.dbretry.auth_failures", dbName, oteldbretry.AttrStatusCode.String("28P01")); got != 1 {
		t.Errorf("auth_failures{28P01} = %d, want 1", got)
	}
	if got := sum(t, reader, "rekey.dbretry.credential_switches", dbName, oteldbretry.AttrStage.String(secretcache.StagePending)); got != 1 {
		t.Errorf("credential_switches{AWSPENDING} = %d, want 1", got)
	}
	if st := src.Stats(); st.AuthFailures != 1 || st.Switches != 1 {
		t.Errorf("Source stats %+v, want 1 failure and 1 switch as exported", st)
	}

	// After Close nothing is recorded.
	m.Close()
	m.OnEvent(dbretry.Event{Kind: dbretry.EventAuthFailure, Code: "28P01"})
	if got := sum(t, reader, "rekey.dbretry.auth_failures"); got != 1 {
		t.Errorf("auth_failures = %d after Close, want still 1", got)
	}
}

func TestNewRejectsNil(t *testing.T) {
	// A nil *MeterProvider would panic in Meter; New refuses it.
	for name, mp := range map[string]metric.MeterProvider{"nil": nil, "nil *sdkmetric.MeterProvider": (*sdkmetric.MeterProvider)(nil)} {
		if _, err := oteldbretry.New(mp); err == nil || !strings.HasPrefix(err.Error(), "oteldbretry: ") {
			t.Errorf("New(%s) = %v, want an oteldbretry error", name, err)
		}
	}
}
