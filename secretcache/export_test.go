package secretcache

import "time"

// WaitIdle blocks until no fetch of c is running and every queued OnChange
// call has returned.
func WaitIdle(c *Cache) {
	for c.inflight.Load() > 0 || c.notes.Load() > 0 {
		time.Sleep(50 * time.Microsecond)
	}
}

// SetClock makes now the cache clock of a Cache built from o: the source
// of the current time for TTLs, MaxStale, backoff, rotation polling and
// NextRotationDate. It must be safe for concurrent use. Users cannot set
// it: a Cache always runs on the monotonic clock.
func SetClock(o *Options, now func() time.Time) { o.clock = now }

// SetRand makes r the source of Jitter's spread for a Cache built from o:
// a uniform float64 in [0,1). It must be safe for concurrent use.
func SetRand(o *Options, r func() float64) { o.rand = r }
