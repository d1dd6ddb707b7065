// Package rotationload runs query workers against a database while a
// secret rotates, and reports failed queries and latencies inside and
// outside the rotations. It is the harness of the rotation-under-load
// tests and benchmarks of dbretry and dbretry/mysql; each supplies its
// query and its rotation.
package rotationload

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// Config is the shape of a load.
type Config struct {
	Workers   int           // goroutines querying in a loop
	Rotations int           // rotations, one after another
	Gap       time.Duration // steady load before, between and after rotations
	FailWait  time.Duration // a worker's pause after a failed query, as a client's backoff
}

// Result is what a load measured.
type Result struct {
	Queries, Failed  int64
	FirstErr         error           // the first failed query's error, nil if none failed
	Steady, Rotating []time.Duration // latencies of queries outside and during a rotation
	Elapsed          time.Duration   // from the first query to the last
	WindowTime       time.Duration   // time spent inside rotate
}

// Run starts cfg.Workers goroutines calling query until it returns, and
// meanwhile calls rotate cfg.Rotations times, cfg.Gap apart. A query is
// counted as during a rotation when a rotate call was running when it
// started or ended. A failing rotate is reported with t.Errorf only, so
// several Runs may share one test from goroutines of their own. Run
// returns after every worker has stopped.
func Run(t testing.TB, ctx context.Context, cfg Config, query, rotate func(context.Context) error) Result {
	var rotating, stop atomic.Bool
	var wg sync.WaitGroup
	results := make([]Result, cfg.Workers)
	began := time.Now()
	for w := range cfg.Workers {
		wg.Go(func() {
			r := &results[w]
			for !stop.Load() {
				during := rotating.Load()
				t0 := time.Now()
				err := query(ctx)
				d := time.Since(t0)
				r.Queries++
				if err != nil {
					r.Failed++
					if r.FirstErr == nil {
						r.FirstErr = err
					}
					time.Sleep(cfg.FailWait)
				}
				if during || rotating.Load() {
					r.Rotating = append(r.Rotating, d)
				} else {
					r.Steady = append(r.Steady, d)
				}
			}
		})
	}

	var res Result
	time.Sleep(cfg.Gap)
	for i := range cfg.Rotations {
		rotating.Store(true)
		t0 := time.Now()
		err := rotate(ctx)
		res.WindowTime += time.Since(t0)
		rotating.Store(false)
		if err != nil {
			t.Errorf("rotation %d: %v", i, err)
		}
		time.Sleep(cfg.Gap)
	}
	stop.Store(true)
	wg.Wait()
	res.Elapsed = time.Since(began)

	for _, r := range results {
		res.Queries += r.Queries
		res.Failed += r.Failed
		if res.FirstErr == nil {
			res.FirstErr = r.FirstErr
		}
		res.Steady = append(res.Steady, r.Steady...)
		res.Rotating = append(res.Rotating, r.Rotating...)
	}
	return res
}

// P99 returns the 99th percentile of d, 0 for none. It does not modify d.
func P99(d []time.Duration) time.Duration {
	if len(d) == 0 {
		return 0
	}
	d = slices.Clone(d)
	slices.Sort(d)
	return d[(len(d)*99)/100]
}

// String summarises the queries, failures and latencies.
func (r Result) String() string {
	return fmt.Sprintf("%d queries in %v, %d failed; p99 steady %v (%d queries, max %v), p99 during rotation %v (%d queries, max %v); %v inside rotations",
		r.Queries, r.Elapsed.Round(time.Millisecond), r.Failed,
		P99(r.Steady).Round(10*time.Microsecond), len(r.Steady), slices.Max(append(r.Steady, 0)).Round(time.Millisecond),
		P99(r.Rotating).Round(10*time.Microsecond), len(r.Rotating), slices.Max(append(r.Rotating, 0)).Round(time.Millisecond),
		r.WindowTime.Round(time.Millisecond))
}
