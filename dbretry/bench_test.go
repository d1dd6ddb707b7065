package dbretry_test

import (
	"context"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/rekeyhq/rekey/dbretry"
	"github.com/rekeyhq/rekey/internal/rotationload"
)

// BenchmarkRotationUnderLoad runs the scenario of TestRotationUnderLoad
// (16 workers, 10 single-user rotations of which 3 pause 2s in the
// window, connections recycled every ~150ms) once per client and reports
// failed queries, p99 query latency outside and during RotateSecret, and
// the cache's API calls per rotation. "plain" is a pgxpool that reads the
// cache in BeforeConnect without dbretry. Run it with -benchtime=1x.
func BenchmarkRotationUnderLoad(b *testing.B) {
	for _, client := range []string{"Pool", "OpenDB", "plain"} {
		b.Run(client, func(b *testing.B) {
			b.ReportAllocs()
			var r loadResult
			for b.Loop() {
				r = runLoad(b, defaultLoad(client))
			}
			b.Logf("%s: %v", client, r)
			b.ReportMetric(float64(r.Failed), "failed")
			b.ReportMetric(float64(r.Queries), "queries")
			b.ReportMetric(float64(rotationload.P99(r.Steady).Microseconds())/1000, "p99-steady-ms")
			b.ReportMetric(float64(rotationload.P99(r.Rotating).Microseconds())/1000, "p99-rotation-ms")
			b.ReportMetric(float64(r.apiCalls)/float64(max(r.rotated, 1)), "api-calls/rotation")
		})
	}
}

// BenchmarkCredentials is the cost dbretry adds to every new connection
// when nothing is rotating: a cache hit and a few atomic loads.
func BenchmarkCredentials(b *testing.B) {
	e := newEnv(b, nil, "pw")
	src := newSource(b, e.cache, secretName)
	ctx := context.Background()
	if _, err := src.Credentials(ctx); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := src.Credentials(ctx); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

// BenchmarkQueryRow compares a query through dbretry.Pool with the same
// query through the pgxpool.Pool underneath it, on warm connections.
func BenchmarkQueryRow(b *testing.B) {
	e, _ := newDBEnv(b)
	src := newSource(b, e.cache, secretName)
	cfg, err := pgxpool.ParseConfig("sslmode=disable pool_max_conns=4")
	if err != nil {
		b.Fatal(err)
	}
	cfg.MaxConnLifetime = time.Hour
	p, err := dbretry.NewPool(b.Context(), src, cfg)
	if err != nil {
		b.Fatal(err)
	}
	defer p.Close()
	ctx := context.Background()
	for _, bc := range []struct {
		name string
		exec func() error
		row  func() error
	}{
		{"dbretry", func() error { _, err := p.Exec(ctx, "SELECT 1"); return err }, func() error { var n int; return p.QueryRow(ctx, "SELECT 1").Scan(&n) }},
		{"pgxpool", func() error { _, err := p.Raw().Exec(ctx, "SELECT 1"); return err }, func() error { var n int; return p.Raw().QueryRow(ctx, "SELECT 1").Scan(&n) }},
	} {
		b.Run("Exec/"+bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if err := bc.exec(); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run("QueryRow/"+bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if err := bc.row(); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
