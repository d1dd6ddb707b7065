package secretcache_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/rekeyhq/rekey/secretcache"
)

// TestAPICallsOverTenTTLs reads 1,000 secrets from a cold cache every
// TTL/20 through 10×TTL of fake time (reads at TTL/20, 2·TTL/20, ...,
// 10×TTL, after the first reads at 0), with the default ±10 % jitter, and
// counts every API call from the cold start: the first fetches (one
// GetSecretValue each) and all refreshes. The budget is
// 1,000×10×1.05 calls, with no GetSecretValue beyond the first fetches
// since no version changes (refreshes are DescribeSecret only). Under the
// race detector it uses 100 secrets to stay fast; the budget per secret
// is the same.
func TestAPICallsOverTenTTLs(t *testing.T) {
	if testing.Short() {
		t.Skip("makes ~10,000 HTTP calls")
	}
	n := 1000
	if raceEnabled {
		n = 100
	}
	const ttl = 10 * time.Minute
	e := newEnv(t, func(o *secretcache.Options) {
		o.TTL = ttl
		o.Jitter = 0 // 0 means the default ±10 %
		o.MaxEntries = n
		o.FetchTimeout = time.Minute
	})
	ctx := context.Background()
	names := make([]string, n)
	for i := range n {
		names[i] = fmt.Sprintf("svc/%04d", i)
		if _, err := e.sm.CreateSecret(ctx, &secretsmanager.CreateSecretInput{Name: aws.String(names[i]), SecretString: aws.String(names[i])}); err != nil {
			t.Fatal(err)
		}
	}
	e.srv.ResetCalls()
	readAll := func() {
		t.Helper()
		for _, name := range names {
			e.mustString(t, name, name)
		}
		secretcache.WaitIdle(e.cache)
	}
	readAll() // cold: the first fetches
	e.wantCalls(t, int64(n), 0)
	const steps = 200 // a read of every secret every TTL/20, through 10×TTL
	for range steps {
		e.clock.Advance(ttl / (steps / 10))
		readAll()
	}
	get, describe := e.calls()
	limit := int64(n * 10 * 105 / 100)
	t.Logf("over [0, 10×TTL] from cold: GetSecretValue=%d DescribeSecret=%d total=%d (limit %d)", get, describe, get+describe, limit)
	if get != int64(n) {
		t.Errorf("GetSecretValue = %d, want %d: one per first fetch, none after since no version changed", get, n)
	}
	if total := get + describe; total > limit {
		t.Errorf("API calls = %d, want <= %d", total, limit)
	}
	if describe < int64(n*9) {
		t.Errorf("DescribeSecret = %d, want >= %d: each secret must be checked about once per TTL", describe, n*9)
	}
	st := e.cache.Stats()
	if st.Errors != 0 {
		t.Errorf("%d fetches failed; logs:\n%.3000s", st.Errors, e.logs.String())
	}
	if st.Calls.Total() != uint64(get+describe) {
		t.Errorf("Stats.Calls = %+v, emulator saw %d", st.Calls, get+describe)
	}
}
