package secretcache_test

import (
	"context"
	"fmt"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/rekeyhq/rekey/internal/awsemu"
	"github.com/rekeyhq/rekey/secretcache"
)

// naiveCache is the baseline every hand-rolled cache starts as: a map
// behind a sync.RWMutex with time.Now expiry.
type naiveCache struct {
	mu sync.RWMutex
	m  map[string]naiveEntry
}

type naiveEntry struct {
	value   string
	expires time.Time
}

func (n *naiveCache) get(id string) (string, bool) {
	n.mu.RLock()
	e, ok := n.m[id]
	n.mu.RUnlock()
	if !ok || time.Now().After(e.expires) {
		return "", false
	}
	return e.value, true
}

func BenchmarkGetSecretString(b *testing.B) {
	mc := newMemClient()
	mc.set("app/db", "hunter2")
	c, err := secretcache.New(mc)
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	ctx := context.Background()
	if _, err := c.GetSecretString(ctx, "app/db"); err != nil {
		b.Fatal(err)
	}
	naive := &naiveCache{m: map[string]naiveEntry{"app/db": {"hunter2", time.Now().Add(time.Hour)}}}

	b.Run("hit/serial", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := c.GetSecretString(ctx, "app/db"); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("hit/parallel", func(b *testing.B) {
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if _, err := c.GetSecretString(ctx, "app/db"); err != nil {
					b.Error(err)
					return
				}
			}
		})
	})
	// The scaling target (≥ 1.6× from 1 to 2 cores) as one number:
	// the ns/op of parallel hits with GOMAXPROCS 1 divided by that with
	// GOMAXPROCS 2, timed back to back in this process whatever -cpu says.
	// (testing.Benchmark cannot be nested: it takes the benchmark lock.)
	b.Run("hit/parallel-speedup-1to2cpu", func(b *testing.B) {
		if runtime.NumCPU() < 2 {
			b.Skip("needs 2 CPUs")
		}
		const ops = 20_000_000
		nsPerOp := func(procs int) float64 {
			prev := runtime.GOMAXPROCS(procs)
			defer runtime.GOMAXPROCS(prev)
			var wg sync.WaitGroup
			began := time.Now()
			for range 4 * procs { // as RunParallel: several goroutines per P
				wg.Go(func() {
					for range ops / (4 * procs) {
						c.GetSecretString(ctx, "app/db") //nolint:errcheck // checked by hit/parallel
					}
				})
			}
			wg.Wait()
			return float64(time.Since(began).Nanoseconds()) / ops
		}
		var one, two float64
		for b.Loop() {
			one, two = nsPerOp(1), nsPerOp(2)
		}
		b.ReportMetric(one, "ns/op@1cpu")
		b.ReportMetric(two, "ns/op@2cpu")
		b.ReportMetric(one/two, "speedup")
	})
	// The monotonic clock read every hit must make (rule 7: no timer may
	// stand in for it); on VMs it is most of the hit path.
	b.Run("clock-only/serial", func(b *testing.B) {
		base := time.Now()
		var sink time.Duration
		for b.Loop() {
			sink += time.Since(base)
		}
		_ = sink
	})
	b.Run("baseline-rwmutex/serial", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, ok := naive.get("app/db"); !ok {
				b.Fatal("miss")
			}
		}
	})
	b.Run("baseline-rwmutex/parallel", func(b *testing.B) {
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if _, ok := naive.get("app/db"); !ok {
					b.Error("miss")
					return
				}
			}
		})
	})
}

// BenchmarkMiss measures 10,000 goroutines reading one cold secret through
// the real SDK against awsemu; calls/op must be 1.
func BenchmarkMiss(b *testing.B) {
	srv := awsemu.New(b)
	sm := secretsmanager.NewFromConfig(srv.AWSConfig(), func(o *secretsmanager.Options) { o.RetryMaxAttempts = 1 })
	ctx := context.Background()
	if _, err := sm.CreateSecret(ctx, &secretsmanager.CreateSecretInput{Name: aws.String("cold"), SecretString: aws.String("v")}); err != nil {
		b.Fatal(err)
	}
	b.Run("stampede", func(b *testing.B) {
		b.ReportAllocs()
		const readers = 10_000
		var iters int64
		srv.ResetCalls()
		for b.Loop() {
			c, err := secretcache.New(sm)
			if err != nil {
				b.Fatal(err)
			}
			var wg sync.WaitGroup
			start := make(chan struct{})
			for range readers {
				wg.Go(func() {
					<-start
					if _, err := c.GetSecretString(ctx, "cold"); err != nil {
						b.Error(err)
					}
				})
			}
			close(start)
			wg.Wait()
			c.Close()
			iters++
		}
		b.ReportMetric(float64(srv.Calls("GetSecretValue"))/float64(iters), "GetSecretValue/op")
		b.ReportMetric(float64(srv.Calls("DescribeSecret"))/float64(iters), "DescribeSecret/op")
	})
}

// BenchmarkMemory fills a cache with 100,000 secrets and reports the heap
// bytes per entry beyond the value's own bytes.
func BenchmarkMemory(b *testing.B) {
	const n = 100_000
	const valueLen = 32
	mc := newMemClient()
	names := make([]string, n)
	for i := range n {
		names[i] = fmt.Sprintf("app/service-%06d", i)
		mc.set(names[i], fmt.Sprintf("%0*d", valueLen, i))
	}
	ctx := context.Background()
	b.Run("entries=100000", func(b *testing.B) {
		var perEntry float64
		for b.Loop() {
			var before, after runtime.MemStats
			runtime.GC()
			runtime.ReadMemStats(&before)
			c, err := secretcache.New(mc, func(o *secretcache.Options) { o.MaxEntries = n })
			if err != nil {
				b.Fatal(err)
			}
			for _, name := range names {
				if _, err := c.GetSecretString(ctx, name); err != nil {
					b.Fatal(err)
				}
			}
			runtime.GC()
			runtime.ReadMemStats(&after)
			perEntry = float64(after.HeapAlloc-before.HeapAlloc)/n - valueLen
			if st := c.Stats(); st.Entries != n {
				b.Fatalf("Entries = %d", st.Entries)
			}
			runtime.KeepAlive(c)
			c.Close()
		}
		b.ReportMetric(perEntry, "overhead-B/entry")
	})
}
