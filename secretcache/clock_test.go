package secretcache_test

import (
	"testing"
	"testing/synctest"
	"time"

	"github.com/rekeyhq/rekey/secretcache"
)

// TestMonotonicClockDrivesExpiry runs TTL, the stale window and the
// background refresh on the clock every user gets (no test seam set):
// inside a synctest bubble time.Now and time.Since read the bubble's fake
// clock, which moves only when every goroutine of the bubble is blocked, so
// the production path is tested at minute scale without sleeping.
func TestMonotonicClockDrivesExpiry(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		mc := newMemClient()
		mc.set("app/db", "v1")
		c, err := secretcache.New(mc, func(o *secretcache.Options) {
			o.TTL, o.MaxStale, o.Jitter = time.Minute, time.Minute, -1
		})
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		get := func(want string) {
			t.Helper()
			if got, err := c.GetSecretString(t.Context(), "app/db"); err != nil || got != want {
				t.Fatalf("GetSecretString = %q, %v; want %q", got, err, want)
			}
		}
		calls := func(want int64) {
			t.Helper()
			if n := mc.calls.Load(); n != want {
				t.Fatalf("%d API calls, want %d", n, want)
			}
		}

		get("v1") // miss: one GetSecretValue
		calls(1)
		mc.set("app/db", "v22") // a new version the cache does not know of yet
		time.Sleep(59 * time.Second)
		get("v1") // within TTL: a hit
		calls(1)

		time.Sleep(2 * time.Second) // 61s: past TTL, within MaxStale
		get("v1")                   // served at once; a refresh starts behind
		synctest.Wait()             // the refresh has ended
		calls(3)                    // DescribeSecret, then GetSecretValue of the new version
		get("v22")

		mc.set("app/db", "v333")
		time.Sleep(3 * time.Minute) // past TTL+MaxStale of the refresh at 61s
		get("v333")                 // waits for the refresh
		calls(5)

		st := c.Stats()
		if st.Hits != 2 || st.StaleHits != 1 || st.Refreshes != 3 {
			t.Errorf("Stats %+v: want 2 hits, 1 stale hit, 3 refreshes", st)
		}
	})
}
