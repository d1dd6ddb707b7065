package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"time"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/rekeyhq/rekey/secretcache"
	"github.com/rekeyhq/rekey/secretcache/secretcachetest"
)

// The demo runs on real time, so it shortens the cache's intervals from
// minutes to fractions of a second through the function's own settings
// (CACHE_TTL, CACHE_MAX_STALE) and one option; the pauses below are
// chosen against them.
const (
	demoAPIKeyID = "demo/api-key"
	demoDBID     = "demo/db"
	demoTTL      = 500 * time.Millisecond // default 5m
	demoMaxStale = time.Second            // default 1h
	// demoMinRefresh is the cache's MinRefreshInterval (default 1s): a
	// Refresh sooner after the last fetch makes no API call.
	demoMinRefresh = 100 * time.Millisecond
	// demoRotate is the pause before the key rotates: past demoMinRefresh,
	// within TTL.
	demoRotate = 150 * time.Millisecond
	// demoStale is past TTL (±10 % jitter), within MaxStale.
	demoStale = demoTTL + demoTTL/10 + 20*time.Millisecond
	// demoFreeze is past TTL+MaxStale.
	demoFreeze = demoStale + demoMaxStale
)

// runDemo plays one execution environment's life on the emulator: the init
// phase, invocations invocations within TTL, a rotation of the API key, and
// a freeze longer than TTL+MaxStale. The handler is built by newHandler,
// exactly as in Lambda, over a client of the emulator, with the cache's
// intervals shortened so that the whole life takes about two seconds. It
// prints API calls against invocations, never a secret value.
func runDemo(ctx context.Context, out io.Writer, invocations int) error {
	if invocations < 1 {
		return fmt.Errorf("-n %d: need at least one invocation", invocations)
	}
	srv, err := secretcachetest.Start()
	if err != nil {
		return err
	}
	defer srv.Close()
	sm := srv.Client()
	for id, value := range map[string]string{
		demoAPIKeyID: "demo-key-1",
		demoDBID:     `{"engine":"postgres","host":"db.internal","port":5432,"username":"app","password":"demo-password","dbname":"app"}`,
	} {
		if _, err := sm.CreateSecret(ctx, &secretsmanager.CreateSecretInput{Name: aws.String(id), SecretString: aws.String(value)}); err != nil {
			return err
		}
	}
	srv.ResetCalls()

	env := map[string]string{"API_KEY_SECRET_ID": demoAPIKeyID, "DB_SECRET_ID": demoDBID,
		"CACHE_TTL": demoTTL.String(), "CACHE_MAX_STALE": demoMaxStale.String()}
	log := slog.New(slog.NewTextHandler(out, &slog.HandlerOptions{Level: slog.LevelWarn}))
	h, err := newHandler(ctx, sm, func(k string) string { return env[k] }, log,
		func(o *secretcache.Options) { o.MinRefreshInterval = demoMinRefresh })
	if err != nil {
		return err
	}
	defer h.Close()
	fn := lambda.NewHandler(h.Handle)
	mark := snapshot(srv)

	fmt.Fprintf(out, "One execution environment of the function, on the Secrets Manager emulator.\n\n")
	fmt.Fprintf(out, "%-30s %-48s %s\n", "init (cold start)", "Prefetch of 2 secrets", mark)

	hits, authorized := 0, 0
	for range invocations {
		r, err := invoke(ctx, fn, "demo-key-1")
		if err != nil {
			return err
		}
		hits += b2i(r.CacheHit)
		authorized += b2i(r.Authorized)
	}
	now := snapshot(srv)
	fmt.Fprintf(out, "%-30s %-48s %s\n", fmt.Sprintf("%d invocations", invocations),
		fmt.Sprintf("%d cache hits, %d authorized", hits, authorized), now.minus(mark))
	mark = now

	// The key rotates and callers switch to the new one at once, well
	// before the cached value's TTL ends.
	time.Sleep(demoRotate)
	if _, err := sm.PutSecretValue(ctx, &secretsmanager.PutSecretValueInput{
		SecretId: aws.String(demoAPIKeyID), SecretString: aws.String("demo-key-2"),
	}); err != nil {
		return err
	}
	mark = snapshot(srv)
	r, err := invoke(ctx, fn, "demo-key-2")
	if err != nil {
		return err
	}
	now = snapshot(srv)
	fmt.Fprintf(out, "%-30s %-48s %s\n", fmt.Sprintf("%v later: API key rotated", demoRotate),
		fmt.Sprintf("new key authorized=%t (Refresh on mismatch)", r.Authorized), now.minus(mark))
	mark = now

	// Past TTL but within MaxStale, a read answers at once with the cached
	// value and refreshes it in the background; in Lambda that refresh
	// usually ends within the invocation, else it resumes at the next thaw.
	time.Sleep(demoStale)
	before := h.cache.Stats()
	if _, err := invoke(ctx, fn, "demo-key-2"); err != nil {
		return err
	}
	served := h.cache.Stats().StaleHits - before.StaleHits
	if err := waitForRefreshes(ctx, h.cache, before.Refreshes+served); err != nil {
		return err
	}
	now = snapshot(srv)
	fmt.Fprintf(out, "%-30s %-48s %s\n", fmt.Sprintf("%v later, past TTL", demoStale),
		fmt.Sprintf("%d reads served stale at once, refreshed behind", served), now.minus(mark))
	mark = now

	time.Sleep(demoFreeze)
	r, err = invoke(ctx, fn, "demo-key-2")
	if err != nil {
		return err
	}
	now = snapshot(srv)
	fmt.Fprintf(out, "%-30s %-48s %s\n", fmt.Sprintf("frozen %v, thawed", demoFreeze),
		fmt.Sprintf("waited for refreshes (cache_hit=%t)", r.CacheHit), now.minus(mark))

	total := invocations + 3
	fmt.Fprintf(out, "\n%d invocations: %d API calls with the cache (%s);\n", total, now.total(), now)
	fmt.Fprintf(out, "without a cache: %d GetSecretValue calls (2 secrets per invocation).\n", 2*total)
	return nil
}

// waitForRefreshes waits until cache has completed at least n refreshes:
// the background ones the stale reads started.
func waitForRefreshes(ctx context.Context, cache *secretcache.Cache, n uint64) error {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	for cache.Stats().Refreshes < n {
		select {
		case <-ctx.Done():
			return fmt.Errorf("waiting for background refreshes: %w", context.Cause(ctx))
		case <-time.After(time.Millisecond):
		}
	}
	return nil
}

// invoke runs one invocation through aws-lambda-go's JSON handler, as the
// Lambda runtime does.
func invoke(ctx context.Context, fn lambda.Handler, token string) (response, error) {
	payload, err := json.Marshal(request{Token: token})
	if err != nil {
		return response{}, err
	}
	out, err := fn.Invoke(ctx, payload)
	if err != nil {
		return response{}, err
	}
	var r response
	// out is only valid until the next Invoke: decode it now.
	if err := json.Unmarshal(out, &r); err != nil {
		return response{}, fmt.Errorf("decoding the response: %w", err)
	}
	return r, nil
}

// calls is a snapshot of the emulator's counters for the operations the
// cache uses.
type calls struct{ batch, get, describe int64 }

func snapshot(srv *secretcachetest.Server) calls {
	return calls{srv.Calls("BatchGetSecretValue"), srv.Calls("GetSecretValue"), srv.Calls("DescribeSecret")}
}

// minus returns the calls made since prev.
func (c calls) minus(prev calls) calls {
	return calls{c.batch - prev.batch, c.get - prev.get, c.describe - prev.describe}
}

func (c calls) total() int { return int(c.batch + c.get + c.describe) }

// String lists the operations called, e.g. "BatchGetSecretValue 1".
func (c calls) String() string {
	var parts []string
	for _, op := range []struct {
		name string
		n    int64
	}{{"BatchGetSecretValue", c.batch}, {"GetSecretValue", c.get}, {"DescribeSecret", c.describe}} {
		if op.n != 0 {
			parts = append(parts, fmt.Sprintf("%s %d", op.name, op.n))
		}
	}
	if len(parts) == 0 {
		return "0 API calls"
	}
	return strings.Join(parts, ", ")
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}
