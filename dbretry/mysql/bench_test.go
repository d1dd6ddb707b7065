package mysql_test

import (
	"testing"

	"github.com/rekeyhq/rekey/internal/rotationload"
)

// BenchmarkRotationUnderLoad runs the scenario of TestRotationUnderLoad
// (16 workers, 10 rotations of which 3 pause 2s in the window,
// connections recycled every ~150ms) once per client and rotation kind,
// and reports failed queries, p99 query latency outside and during
// RotateSecret, and the cache's API calls per rotation. "plain" is a
// go-sql-driver pool that reads the cache in BeforeConnect without
// dbretry. Run it with -benchtime=1x.
func BenchmarkRotationUnderLoad(b *testing.B) {
	for _, bc := range []struct {
		name        string
		client      string
		alternating bool
	}{
		{"OpenDB/single-user", "OpenDB", false},
		{"OpenDB/alternating", "OpenDB", true},
		{"plain/single-user", "plain", false},
	} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			var r loadResult
			for b.Loop() {
				r = setupLoad(b, defaultLoad(bc.client, bc.alternating)).run(b)
			}
			b.Logf("%s: %v", bc.name, r)
			b.ReportMetric(float64(r.Failed), "failed")
			b.ReportMetric(float64(r.Queries), "queries")
			b.ReportMetric(float64(rotationload.P99(r.Steady).Microseconds())/1000, "p99-steady-ms")
			b.ReportMetric(float64(rotationload.P99(r.Rotating).Microseconds())/1000, "p99-rotation-ms")
			b.ReportMetric(float64(r.apiCalls)/float64(max(r.rotated, 1)), "api-calls/rotation")
		})
	}
}
