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

// TestAPICallsOverTenTTLs reads 1,000 secrets continuously for 10×TTL of
// fake time with the default ±10 % jitter: the cache must make at most
// 1,000×10×1.05 API calls, and only DescribeSecret after the first fetch
// since no version changes. Under the race detector it uses 100 secrets
// to stay fast; the budget per secret is the same.
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
	const steps = 100 // read every secret every TTL/10
	for range steps {
		for _, name := range names {
			e.mustString(t, name, name)
		}
		secretcache.WaitIdle(e.cache)
		e.clock.Advance(ttl / (steps / 10))
	}
	get, describe := e.calls()
	t.Logf("over 10×TTL: GetSecretValue=%d DescribeSecret=%d total=%d (limit %d)", get, describe, get+describe, n*10*105/100)
	if get != int64(n) {
		t.Errorf("GetSecretValue = %d, want %d (first fetches only)", get, n)
	}
	if total := get + describe; total > int64(n*10*105/100) {
		t.Errorf("API calls = %d, want <= %d", total, n*10*105/100)
	}
	st := e.cache.Stats()
	if st.Errors != 0 {
		t.Errorf("%d fetches failed; logs:\n%.3000s", st.Errors, e.logs.String())
	}
	if st.Calls.Total() != uint64(get+describe) {
		t.Errorf("Stats.Calls = %+v, emulator saw %d", st.Calls, get+describe)
	}
}
