package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager/types"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/rekeyhq/rekey/secretcache"
	"github.com/rekeyhq/rekey/secretcache/secretcachetest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

const (
	apiKeyID = "svc/api-key"
	dbID     = "svc/db"
	apiKey1  = "key-one-7f3a"
	apiKey2  = "key-two-91bc"
	dbPass   = "db-pass-4d2e"
	dbSecret = `{"engine":"postgres","host":"db.internal","port":"5432","username":"app","password":"` + dbPass + `","dbname":"app"}`
)

// fixture is one emulated account and one execution environment's handler.
type fixture struct {
	srv      *secretcachetest.Server
	sm       *secretsmanager.Client
	versions map[string]string // secret id -> VersionId at creation
	logs     *syncBuffer
}

// newFixture creates the secrets (id -> value) on a fresh emulator and
// resets its counters. The client makes exactly one attempt per call, so
// the emulator's counts are the cache's calls.
func newFixture(t *testing.T, secrets map[string]string) *fixture {
	t.Helper()
	srv := secretcachetest.NewServer(t)
	sm := secretsmanager.NewFromConfig(srv.AWSConfig(), func(o *secretsmanager.Options) { o.RetryMaxAttempts = 1 })
	f := &fixture{srv: srv, sm: sm, versions: map[string]string{}, logs: &syncBuffer{}}
	for id, value := range secrets {
		out, err := sm.CreateSecret(t.Context(), &secretsmanager.CreateSecretInput{Name: aws.String(id), SecretString: aws.String(value)})
		require.NoError(t, err)
		f.versions[id] = aws.ToString(out.VersionId)
	}
	srv.ResetCalls()
	return f
}

func standardSecrets() map[string]string {
	return map[string]string{apiKeyID: apiKey1, dbID: dbSecret}
}

// handler builds the function's handler as main does, with env as its
// environment and optFns applied to the cache's options after it (the
// tests run on real time and shorten intervals with them), and closes it
// at cleanup.
func (f *fixture) handler(t *testing.T, env map[string]string, optFns ...func(*secretcache.Options)) *handler {
	t.Helper()
	log := slog.New(slog.NewTextHandler(f.logs, nil))
	h, err := newHandler(t.Context(), f.sm, func(k string) string { return env[k] }, log, optFns...)
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, h.Close()) })
	return h
}

// past returns a wait certain to outlast d spread by the cache's default
// Jitter (±10 %), counted from any moment after the deadline was set.
func past(d time.Duration) time.Duration { return d + d/10 + 20*time.Millisecond }

// calls returns the emulator's counts for the operations the cache uses.
func (f *fixture) calls() calls { return snapshot(f.srv) }

func baseEnv() map[string]string {
	return map[string]string{"API_KEY_SECRET_ID": apiKeyID, "DB_SECRET_ID": dbID}
}

// invokeRaw runs one invocation through aws-lambda-go's JSON handler and
// returns a copy of the response payload.
func invokeRaw(t *testing.T, h *handler, token string) ([]byte, error) {
	t.Helper()
	payload, err := json.Marshal(request{Token: token})
	require.NoError(t, err)
	out, err := lambda.NewHandler(h.Handle).Invoke(t.Context(), payload)
	return bytes.Clone(out), err
}

func invokeOK(t *testing.T, h *handler, token string) response {
	t.Helper()
	out, err := invokeRaw(t, h, token)
	require.NoError(t, err)
	requireNoValue(t, string(out))
	var r response
	require.NoError(t, json.Unmarshal(out, &r))
	return r
}

// requireNoValue fails if s contains any secret value or token used here.
func requireNoValue(t *testing.T, s string) {
	t.Helper()
	for _, v := range []string{apiKey1, apiKey2, dbPass} {
		require.NotContains(t, s, v)
	}
}

func TestDemo(t *testing.T) {
	var out bytes.Buffer
	began := time.Now()
	require.NoError(t, runDemo(t.Context(), &out, 200), out.String())
	require.Less(t, time.Since(began), 5*time.Second)
	got := out.String()
	t.Log("\n" + got)
	for _, want := range []string{
		`init \(cold start\)\s+Prefetch of 2 secrets\s+BatchGetSecretValue 1\n`,
		`200 invocations\s+200 cache hits, 200 authorized\s+0 API calls\n`,
		`150ms later: API key rotated\s+new key authorized=true \(Refresh on mismatch\)\s+GetSecretValue 1, DescribeSecret 1\n`,
		`570ms later, past TTL\s+2 reads served stale at once, refreshed behind\s+DescribeSecret 2\n`,
		`frozen 1.57s, thawed\s+waited for refreshes \(cache_hit=false\)\s+DescribeSecret 2\n`,
		`203 invocations: 7 API calls with the cache \(BatchGetSecretValue 1, GetSecretValue 1, DescribeSecret 5\);\n`,
		`without a cache: 406 GetSecretValue calls`,
	} {
		require.Regexp(t, regexp.MustCompile(want), got)
	}
	for _, v := range []string{"demo-key-1", "demo-key-2", "demo-password"} {
		require.NotContains(t, got, v)
	}
	require.Error(t, runDemo(t.Context(), io.Discard, 0))
}

func TestHandleWithinTTLMakesNoCall(t *testing.T) {
	const minRefresh = 100 * time.Millisecond
	f := newFixture(t, standardSecrets())
	h := f.handler(t, baseEnv(), func(o *secretcache.Options) { o.MinRefreshInterval = minRefresh })
	require.Equal(t, calls{batch: 1}, f.calls(), "init: one BatchGetSecretValue for both secrets")

	fn := lambda.NewHandler(h.Handle)
	payload := []byte(`{"token":"` + apiKey1 + `"}`)
	for i := range 500 {
		out, err := fn.Invoke(t.Context(), payload)
		require.NoError(t, err)
		requireNoValue(t, string(out))
		var r response
		require.NoError(t, json.Unmarshal(out, &r))
		require.Equal(t, response{Authorized: true, Versions: f.versions, APICalls: 0, CacheHit: true}, r, "invocation %d", i)
	}
	require.Equal(t, calls{batch: 1}, f.calls())
	require.EqualValues(t, 1, f.srv.TotalCalls())

	time.Sleep(minRefresh + 50*time.Millisecond) // past the bound since the prefetch; TTL is 5m
	r := invokeOK(t, h, "wrong")
	require.False(t, r.Authorized)
	require.Equal(t, calls{batch: 1, describe: 1}, f.calls(), "a wrong token costs one bounded Refresh")
	r = invokeOK(t, h, "")
	require.False(t, r.Authorized)
	require.Equal(t, calls{batch: 1, describe: 1}, f.calls(), "an empty token costs nothing")
}

func TestPrefetchBatchesOf20(t *testing.T) {
	secrets := standardSecrets()
	var ids []string
	for i := range 23 {
		id := fmt.Sprintf("svc/extra-%02d", i)
		secrets[id] = "extra"
		ids = append(ids, id)
	}
	ids = append(ids, apiKeyID, dbID) // 25 ids
	f := newFixture(t, secrets)
	env := baseEnv()
	env["SECRET_IDS"] = " " + strings.Join(ids, " , ") + ",,"
	h := f.handler(t, env)
	require.Equal(t, calls{batch: 2}, f.calls(), "25 ids: 20 + 5")
	require.True(t, invokeOK(t, h, apiKey1).CacheHit)
	require.Equal(t, calls{batch: 2}, f.calls())
}

func TestPrefetchModes(t *testing.T) {
	for _, tc := range []struct {
		mode        string
		atInit      calls
		firstCalls  uint64
		afterFirst  calls
		description string
	}{
		{"", calls{batch: 1}, 0, calls{batch: 1}, "default is batch"},
		{"batch", calls{batch: 1}, 0, calls{batch: 1}, "one call for both"},
		{"each", calls{get: 2}, 0, calls{get: 2}, "one GetSecretValue per secret"},
		{"off", calls{}, 2, calls{get: 2}, "first invocation fetches"},
	} {
		t.Run("mode="+tc.mode, func(t *testing.T) {
			f := newFixture(t, standardSecrets())
			env := baseEnv()
			env["PREFETCH_MODE"] = tc.mode
			h := f.handler(t, env)
			require.Equal(t, tc.atInit, f.calls(), tc.description)
			r := invokeOK(t, h, apiKey1)
			require.True(t, r.Authorized)
			require.Equal(t, tc.firstCalls, r.APICalls)
			require.Equal(t, tc.firstCalls == 0, r.CacheHit)
			require.Equal(t, tc.afterFirst, f.calls())
			r = invokeOK(t, h, apiKey1)
			require.True(t, r.CacheHit)
			require.Equal(t, tc.afterFirst, f.calls())
		})
	}
}

func TestPrefetchFailureIsNotFatal(t *testing.T) {
	f := newFixture(t, standardSecrets())
	f.srv.InjectFault(secretcachetest.Fault{Op: "BatchGetSecretValue", Code: "ThrottlingException"})
	h := f.handler(t, baseEnv())
	require.Equal(t, calls{batch: 1}, f.calls())
	logs := f.logs.String()
	require.Contains(t, logs, "warming the secret cache failed")
	require.Contains(t, logs, "ThrottlingException")
	requireNoValue(t, logs)

	r := invokeOK(t, h, apiKey1)
	require.True(t, r.Authorized)
	require.EqualValues(t, 2, r.APICalls, "the first invocation fetches both secrets")
	require.Equal(t, calls{batch: 1, get: 2}, f.calls())
	require.True(t, invokeOK(t, h, apiKey1).CacheHit)
}

func TestRotatedAPIKey(t *testing.T) {
	f := newFixture(t, standardSecrets())
	const minRefresh = 300 * time.Millisecond
	h := f.handler(t, baseEnv(), func(o *secretcache.Options) { o.MinRefreshInterval = minRefresh })
	time.Sleep(minRefresh + 50*time.Millisecond) // past the bound since the prefetch
	out, err := f.sm.PutSecretValue(t.Context(), &secretsmanager.PutSecretValueInput{
		SecretId: aws.String(apiKeyID), SecretString: aws.String(apiKey2),
	})
	require.NoError(t, err)
	f.srv.ResetCalls()

	r := invokeOK(t, h, apiKey2)
	require.True(t, r.Authorized, "a mismatch refreshes the key")
	require.Equal(t, aws.ToString(out.VersionId), r.Versions[apiKeyID])
	require.EqualValues(t, 2, r.APICalls)
	require.Equal(t, calls{get: 1, describe: 1}, f.calls())

	// The old key is refused; within MinRefreshInterval of the last
	// fetch the refresh it triggers makes no call.
	r = invokeOK(t, h, apiKey1)
	require.False(t, r.Authorized)
	require.True(t, r.CacheHit)
	time.Sleep(minRefresh + 50*time.Millisecond)
	r = invokeOK(t, h, apiKey1)
	require.False(t, r.Authorized)
	require.Equal(t, calls{get: 1, describe: 2}, f.calls(), "one DescribeSecret per interval, version unchanged")
	require.True(t, invokeOK(t, h, apiKey2).CacheHit)
}

func TestThawedEnvironment(t *testing.T) {
	t.Run("past TTL serves at once and refreshes behind", func(t *testing.T) {
		f := newFixture(t, standardSecrets())
		const ttl = 200 * time.Millisecond
		h := f.handler(t, baseEnv(), func(o *secretcache.Options) { o.TTL = ttl })
		time.Sleep(past(ttl)) // MaxStale is 1h
		before := h.cache.Stats()
		r := invokeOK(t, h, apiKey1)
		require.True(t, r.Authorized)
		require.Equal(t, f.versions, r.Versions)
		require.EqualValues(t, 2, h.cache.Stats().StaleHits-before.StaleHits)
		require.NoError(t, waitForRefreshes(t.Context(), h.cache, before.Refreshes+2))
		require.Equal(t, calls{batch: 1, describe: 2}, f.calls())
	})
	t.Run("past TTL+MaxStale waits for the refresh", func(t *testing.T) {
		f := newFixture(t, standardSecrets())
		const ttl, maxStale = 200 * time.Millisecond, 200 * time.Millisecond
		h := f.handler(t, baseEnv(), func(o *secretcache.Options) { o.TTL, o.MaxStale = ttl, maxStale })
		_, err := f.sm.PutSecretValue(t.Context(), &secretsmanager.PutSecretValueInput{
			SecretId: aws.String(dbID), SecretString: aws.String(strings.Replace(dbSecret, dbPass, "rotated-9c1d", 1)),
		})
		require.NoError(t, err)
		f.srv.ResetCalls()
		time.Sleep(past(ttl) + maxStale)
		r := invokeOK(t, h, apiKey1)
		require.False(t, r.CacheHit)
		require.EqualValues(t, 3, r.APICalls)
		require.NotEqual(t, f.versions[dbID], r.Versions[dbID], "the thawed environment serves the new version")
		require.Equal(t, calls{get: 1, describe: 2}, f.calls())
	})
	t.Run("CACHE_TTL and CACHE_MAX_STALE apply", func(t *testing.T) {
		f := newFixture(t, standardSecrets())
		env := baseEnv()
		env["CACHE_TTL"] = "500ms"
		env["CACHE_MAX_STALE"] = "-1s"
		h := f.handler(t, env)
		time.Sleep(250 * time.Millisecond) // within 500ms -10 %
		require.True(t, invokeOK(t, h, apiKey1).CacheHit)
		time.Sleep(past(500*time.Millisecond) - 250*time.Millisecond)
		r := invokeOK(t, h, apiKey1)
		require.EqualValues(t, 2, r.APICalls, "never served past TTL: both reads waited")
		require.Equal(t, calls{batch: 1, describe: 2}, f.calls())
	})
}

func TestHandleErrors(t *testing.T) {
	t.Run("unknown secret", func(t *testing.T) {
		f := newFixture(t, map[string]string{apiKeyID: apiKey1})
		h := f.handler(t, baseEnv())
		_, err := invokeRaw(t, h, apiKey1)
		var nf *types.ResourceNotFoundException
		require.ErrorAs(t, err, &nf)
		var fe *secretcache.FetchError
		require.ErrorAs(t, err, &fe)
		require.Equal(t, dbID, fe.SecretID)
		require.Contains(t, f.logs.String(), dbID, "the failed warm-up names the secret")
		requireNoValue(t, err.Error()+f.logs.String())
	})
	for name, tc := range map[string]struct {
		value string
		is    error
		msg   string
	}{
		"not JSON":       {value: "password=" + dbPass, is: secretcache.ErrInvalidJSON},
		"lacks password": {value: `{"host":"db.internal","username":"app","secret":"` + dbPass + `"}`, msg: `lambda: secret "svc/db" lacks host, username or password`},
	} {
		t.Run(name, func(t *testing.T) {
			f := newFixture(t, map[string]string{apiKeyID: apiKey1, dbID: tc.value})
			h := f.handler(t, baseEnv())
			_, err := invokeRaw(t, h, apiKey1)
			require.Error(t, err)
			if tc.is != nil {
				require.ErrorIs(t, err, tc.is)
			}
			if tc.msg != "" {
				require.EqualError(t, err, tc.msg)
			}
			require.Contains(t, err.Error(), dbID)
			requireNoValue(t, fmt.Sprintf("%v %+v", err, err))
		})
	}
}

func TestLoadSettings(t *testing.T) {
	for _, tc := range []struct {
		name    string
		env     map[string]string
		want    settings
		wantErr string
	}{
		{
			name: "defaults",
			env:  baseEnv(),
			want: settings{apiKeyID: apiKeyID, dbID: dbID, prefetch: []string{apiKeyID, dbID}, mode: "batch"},
		},
		{
			name: "everything",
			env: map[string]string{"API_KEY_SECRET_ID": " a ", "DB_SECRET_ID": "b", "SECRET_IDS": "a, b ,c",
				"PREFETCH_MODE": "each", "CACHE_TTL": "30s", "CACHE_MAX_STALE": "-1s"},
			want: settings{apiKeyID: "a", dbID: "b", prefetch: []string{"a", "b", "c"}, mode: "each", ttl: 30 * time.Second, maxStale: -time.Second},
		},
		{name: "no API key id", env: map[string]string{"DB_SECRET_ID": "b"}, wantErr: "API_KEY_SECRET_ID and DB_SECRET_ID must be set"},
		{name: "no DB id", env: map[string]string{"API_KEY_SECRET_ID": "a"}, wantErr: "API_KEY_SECRET_ID and DB_SECRET_ID must be set"},
		{name: "bad mode", env: with(baseEnv(), "PREFETCH_MODE", "lazy"), wantErr: `PREFETCH_MODE "lazy"`},
		{name: "bad TTL", env: with(baseEnv(), "CACHE_TTL", "5"), wantErr: "CACHE_TTL"},
		{name: "negative TTL", env: with(baseEnv(), "CACHE_TTL", "-5m"), wantErr: "CACHE_TTL -5m0s is negative"},
		{name: "bad max stale", env: with(baseEnv(), "CACHE_MAX_STALE", "1 hour"), wantErr: "CACHE_MAX_STALE"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := loadSettings(func(k string) string { return tc.env[k] })
			if tc.wantErr != "" {
				require.ErrorContains(t, err, tc.wantErr)
				require.True(t, strings.HasPrefix(err.Error(), "lambda: "), err.Error())
				return
			}
			require.NoError(t, err)
			require.Equal(t, tc.want, got)
		})
	}
	// A bad setting fails newHandler before any API call.
	f := newFixture(t, standardSecrets())
	_, err := newHandler(t.Context(), f.sm, func(string) string { return "" }, slog.New(slog.DiscardHandler))
	require.Error(t, err)
	require.Zero(t, f.srv.TotalCalls())
}

func with(env map[string]string, k, v string) map[string]string {
	env[k] = v
	return env
}

// syncBuffer is a bytes.Buffer safe for the cache's background goroutines
// to log into while a test reads it.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer // guarded by mu
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
