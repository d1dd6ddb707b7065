package secretcache

import "time"

// WaitIdle blocks until no fetch of c is running and every queued OnChange
// call has returned.
func WaitIdle(c *Cache) {
	for c.inflight.Load() > 0 || c.notes.Load() > 0 {
		time.Sleep(50 * time.Microsecond)
	}
}
