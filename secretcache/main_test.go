package secretcache_test

import (
	"bytes"
	"context"
	"log/slog"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"go.uber.org/goleak"

	"github.com/rekeyhq/rekey/internal/awsemu"
	"github.com/rekeyhq/rekey/secretcache"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// fakeClock is a settable clock shared by the cache and the emulator.
type fakeClock struct{ ns atomic.Int64 }

func newFakeClock() *fakeClock {
	c := &fakeClock{}
	c.ns.Store(time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC).UnixNano())
	return c
}

func (c *fakeClock) Now() time.Time          { return time.Unix(0, c.ns.Load()).UTC() }
func (c *fakeClock) Advance(d time.Duration) { c.ns.Add(int64(d)) }

// env is an emulator, an SDK client without retries (so API call counts
// are exact), a fake clock and a cache over them.
type env struct {
	srv   *awsemu.Server
	sm    *secretsmanager.Client
	clock *fakeClock
	cache *secretcache.Cache
	logs  *syncBuffer
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

const testTTL = time.Minute

func newEnv(t testing.TB, optFns ...func(*secretcache.Options)) *env {
	t.Helper()
	e := &env{srv: awsemu.New(t), clock: newFakeClock(), logs: &syncBuffer{}}
	e.srv.SetClock(e.clock.Now)
	e.sm = secretsmanager.NewFromConfig(e.srv.AWSConfig(), func(o *secretsmanager.Options) { o.RetryMaxAttempts = 1 })
	fns := append([]func(*secretcache.Options){func(o *secretcache.Options) {
		o.TTL = testTTL
		o.Jitter = -1
		secretcache.SetClock(o, e.clock.Now)
		o.Logger = slog.New(slog.NewTextHandler(e.logs, nil))
		o.FetchTimeout = 5 * time.Second
	}}, optFns...)
	c, err := secretcache.New(e.sm, fns...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	e.cache = c
	return e
}

// create makes a secret with a string value and returns its first version id.
func (e *env) create(t testing.TB, name, value string) string {
	t.Helper()
	out, err := e.sm.CreateSecret(context.Background(), &secretsmanager.CreateSecretInput{Name: aws.String(name), SecretString: aws.String(value)})
	if err != nil {
		t.Fatalf("CreateSecret %s: %v", name, err)
	}
	return aws.ToString(out.VersionId)
}

// put stores a new value; with no stages it becomes AWSCURRENT.
func (e *env) put(t testing.TB, name, value string, stages ...string) string {
	t.Helper()
	in := &secretsmanager.PutSecretValueInput{SecretId: aws.String(name), SecretString: aws.String(value)}
	if len(stages) > 0 {
		in.VersionStages = stages
	}
	out, err := e.sm.PutSecretValue(context.Background(), in)
	if err != nil {
		t.Fatalf("PutSecretValue %s: %v", name, err)
	}
	return aws.ToString(out.VersionId)
}

// calls returns the emulator's counts of the cache's two read operations.
func (e *env) calls() (get, describe int64) {
	return e.srv.Calls("GetSecretValue"), e.srv.Calls("DescribeSecret")
}

func (e *env) wantCalls(t testing.TB, get, describe int64) {
	t.Helper()
	if g, d := e.calls(); g != get || d != describe {
		t.Fatalf("API calls: GetSecretValue=%d DescribeSecret=%d, want %d and %d", g, d, get, describe)
	}
}

// mustString reads id through the cache and checks its value.
func (e *env) mustString(t testing.TB, id, want string) {
	t.Helper()
	got, err := e.cache.GetSecretString(context.Background(), id)
	if err != nil {
		t.Fatalf("GetSecretString(%q): %v", id, err)
	}
	if got != want {
		t.Fatalf("GetSecretString(%q) = %q, want %q", id, got, want)
	}
}

// faultOn returns a fault answering op with code until cleared.
func faultOn(op, code string) awsemu.Fault { return awsemu.Fault{Op: op, Code: code} }
