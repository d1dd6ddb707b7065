package secretcache

import "time"

// WaitIdle blocks until no background refresh of c is running.
func WaitIdle(c *Cache) {
	for c.inflight.Load() > 0 {
		time.Sleep(50 * time.Microsecond)
	}
}
