package dbretry_test

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/rekeyhq/rekey/dbretry"
	"github.com/rekeyhq/rekey/internal/awsemu"
	"github.com/rekeyhq/rekey/secretcache"
)

// fakeDB accepts one password; logins with any other fail with SQLSTATE
// 28P01, as PostgreSQL's do. It stands in for a database in tests of
// Connect's retry logic; the real one is used in pool_test.go.
type fakeDB struct {
	password atomic.Pointer[string]
	logins   atomic.Int64
	refused  atomic.Int64
}

func newFakeDB(password string) *fakeDB {
	db := &fakeDB{}
	db.password.Store(&password)
	return db
}

func (db *fakeDB) set(password string) { db.password.Store(&password) }

type fakeConn struct{ version string }

func (db *fakeDB) connect(_ context.Context, c dbretry.Credentials) (*fakeConn, error) {
	db.logins.Add(1)
	if c.Password != *db.password.Load() {
		db.refused.Add(1)
		return nil, sqlStateError("28P01")
	}
	return &fakeConn{version: c.VersionID}, nil
}

// stampede runs n concurrent Connects and returns their errors.
func stampede(ctx context.Context, n int, src *dbretry.Source, db *fakeDB) []error {
	var wg sync.WaitGroup
	errs := make([]error, n)
	start := make(chan struct{})
	for i := range n {
		wg.Go(func() {
			<-start
			_, errs[i] = dbretry.Connect(ctx, src, db.connect)
		})
	}
	close(start)
	wg.Wait()
	return errs
}

func TestConnectStampede(t *testing.T) {
	const n = 1000
	for _, tc := range []struct {
		name      string
		rotate    func(t *testing.T, e *env) string // returns the new password
		wantCalls uint64
		wantStage string
	}{
		{
			// The single-user window: the database has the password that
			// only AWSPENDING holds.
			name: "AWSPENDING in the window",
			rotate: func(t *testing.T, e *env) string {
				pw := newPassword()
				e.putPending(t, pw)
				return pw
			},
			wantCalls: 2, // DescribeSecret (AWSCURRENT unchanged), GetSecretValue AWSPENDING
			wantStage: "AWSPENDING",
		},
		{
			// After finishSecret, with a cache that has not seen it yet.
			name: "AWSCURRENT moved",
			rotate: func(t *testing.T, e *env) string {
				pw := newPassword()
				e.putCurrent(t, pw)
				return pw
			},
			wantCalls: 2, // DescribeSecret, GetSecretValue of the new AWSCURRENT
			wantStage: "AWSCURRENT",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			old := newPassword()
			// No MinRefreshInterval: the cache read the secret just
			// before, and Refresh must still ask the service.
			e := newEnv(t, nil, old, func(o *secretcache.Options) { o.MinRefreshInterval = -1 })
			db := newFakeDB(old)
			var mu sync.Mutex
			var switches []string
			src := newSource(t, e.cache, secretName, func(o *dbretry.Options) {
				o.OnSwitch = func(id, from, to, stage string) {
					mu.Lock()
					defer mu.Unlock()
					switches = append(switches, stage)
					if id != secretName || from == to || from == "" || to == "" {
						t.Errorf("OnSwitch(%q, %q, %q, %q)", id, from, to, stage)
					}
				}
			})
			if errs := stampede(t.Context(), 10, src, db); errors.Join(errs...) != nil {
				t.Fatalf("before rotation: %v", errors.Join(errs...))
			}
			db.set(tc.rotate(t, e))
			before, loginsBefore := e.cacheCalls(), db.logins.Load()

			errs := stampede(t.Context(), n, src, db)
			if err := errors.Join(errs...); err != nil {
				t.Fatalf("%d of %d connects failed: %v", countErrs(errs), n, errs[0])
			}
			if got := e.cacheCalls() - before; got != tc.wantCalls {
				t.Errorf("%d connects refused at once cost %d API calls, want %d", n, got, tc.wantCalls)
			}
			st := src.Stats()
			if st.Rereads != 1 {
				t.Errorf("Rereads = %d, want 1", st.Rereads)
			}
			if refused := db.refused.Load(); refused == 0 || int64(st.AuthFailures) != refused {
				t.Errorf("AuthFailures = %d, database refused %d", st.AuthFailures, refused)
			}
			if logins := db.logins.Load() - loginsBefore; logins > 2*n {
				t.Errorf("%d logins for %d connects; each should fail at most once", logins, n)
			}
			mu.Lock()
			defer mu.Unlock()
			if len(switches) != 1 || switches[0] != tc.wantStage {
				t.Errorf("OnSwitch stages %v, want [%s]", switches, tc.wantStage)
			}
			c, err := src.Credentials(t.Context())
			if err != nil || c.Password != *db.password.Load() {
				t.Errorf("Credentials after recovery: version %s, err %v; want the new password", c.VersionID, err)
			}
		})
	}
}

// After finishSecret AWSCURRENT moves to the pending version: the Source
// keeps using it without a switch, and a later rotation is found too.
func TestConnectAcrossRotations(t *testing.T) {
	old := newPassword()
	e := newEnv(t, nil, old, func(o *secretcache.Options) { o.MinRefreshInterval = -1 })
	db := newFakeDB(old)
	var switches atomic.Int64
	src := newSource(t, e.cache, secretName, func(o *dbretry.Options) {
		o.OnSwitch = func(string, string, string, string) { switches.Add(1) }
	})
	if _, err := dbretry.Connect(t.Context(), src, db.connect); err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		pw := newPassword()
		pending := e.putPending(t, pw)
		db.set(pw)
		conn, err := dbretry.Connect(t.Context(), src, db.connect)
		if err != nil {
			t.Fatalf("rotation %d, window: %v", i, err)
		}
		if conn.version != pending {
			t.Fatalf("rotation %d: connected with version %s, want AWSPENDING %s", i, conn.version, pending)
		}
		e.finish(t, pending)
		if _, err := e.cache.Refresh(t.Context(), secretName); err != nil {
			t.Fatal(err)
		}
		conn, err = dbretry.Connect(t.Context(), src, db.connect)
		if err != nil || conn.version != pending {
			t.Fatalf("rotation %d, finished: version %v, err %v", i, conn, err)
		}
	}
	if got := switches.Load(); got != 3 {
		t.Errorf("OnSwitch called %d times, want 3 (one per rotation)", got)
	}
}

func TestConnectNonAuthErrorAtOnce(t *testing.T) {
	e := newEnv(t, nil, "pw")
	src := newSource(t, e.cache, secretName)
	boom := errors.New("connection refused")
	calls := 0
	_, err := dbretry.Connect(t.Context(), src, func(context.Context, dbretry.Credentials) (int, error) {
		calls++
		return 0, boom
	})
	if err != boom || calls != 1 {
		t.Fatalf("Connect = %v after %d calls; want the connect error unchanged after 1", err, calls)
	}
	if st := src.Stats(); st != (dbretry.Stats{}) {
		t.Errorf("Stats = %+v, want zero", st)
	}

	// A secret that cannot be read is not retried either.
	missing := newSource(t, e.cache, "no/such/secret")
	calls = 0
	_, err = dbretry.Connect(t.Context(), missing, func(context.Context, dbretry.Credentials) (int, error) {
		calls++
		return 0, nil
	})
	if err == nil || calls != 0 || !strings.HasPrefix(err.Error(), `dbretry: reading secret "no/such/secret"`) {
		t.Fatalf("Connect with a missing secret = %v after %d connects", err, calls)
	}
}

func TestConnectBudget(t *testing.T) {
	pw := newPassword()
	e := newEnv(t, nil, pw, func(o *secretcache.Options) { o.MinRefreshInterval = -1 })
	db := newFakeDB("changed-outside-rotation")
	const budget = 300 * time.Millisecond
	src := newSource(t, e.cache, secretName, func(o *dbretry.Options) {
		o.RetryBudget = budget
		o.MinBackoff = 10 * time.Millisecond
		o.MaxBackoff = 40 * time.Millisecond
	})
	if _, err := src.Credentials(t.Context()); err != nil {
		t.Fatal(err)
	}
	before := e.cacheCalls()
	began := time.Now()
	_, err := dbretry.Connect(t.Context(), src, db.connect)
	took := time.Since(began)

	var re *dbretry.RetryError
	if !errors.As(err, &re) {
		t.Fatalf("Connect = %v, want a *RetryError", err)
	}
	if !dbretry.IsAuthError(err) || errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("IsAuthError = %v, DeadlineExceeded = %v; want true, false", dbretry.IsAuthError(err), errors.Is(err, context.DeadlineExceeded))
	}
	if took < budget || took > budget+500*time.Millisecond {
		t.Errorf("gave up after %v, want about %v", took, budget)
	}
	if re.Attempts < 4 || int64(re.Attempts) != db.logins.Load() {
		t.Errorf("Attempts = %d, logins %d; want several, equal", re.Attempts, db.logins.Load())
	}
	c, _ := src.Credentials(t.Context())
	if re.SecretID != secretName || re.VersionID != c.VersionID {
		t.Errorf("RetryError names %q version %q, want %q version %q", re.SecretID, re.VersionID, secretName, c.VersionID)
	}
	// One re-read (the per-version bound is 1s): DescribeSecret, and
	// GetSecretValue of the absent AWSPENDING.
	if got := e.cacheCalls() - before; got != 2 {
		t.Errorf("API calls = %d, want 2", got)
	}
	if msg := err.Error(); strings.Contains(msg, pw) || !strings.HasPrefix(msg, "dbretry: ") || !strings.Contains(msg, "retry budget") {
		t.Errorf("message %q: want dbretry: prefix, the reason, no password", msg)
	}
	if st := src.Stats(); st.Exhausted != 1 || st.Rereads != 1 {
		t.Errorf("Stats = %+v, want Exhausted 1, Rereads 1", st)
	}
}

func TestConnectHonoursContext(t *testing.T) {
	e := newEnv(t, nil, "pw")
	db := newFakeDB("other")
	src := newSource(t, e.cache, secretName) // 30s budget
	ctx, cancel := context.WithTimeout(t.Context(), 150*time.Millisecond)
	defer cancel()
	began := time.Now()
	_, err := dbretry.Connect(ctx, src, db.connect)
	if took := time.Since(began); took > time.Second {
		t.Errorf("Connect returned %v after the context ended", took-150*time.Millisecond)
	}
	var re *dbretry.RetryError
	if !errors.As(err, &re) || !errors.Is(err, context.DeadlineExceeded) || !dbretry.IsAuthError(err) {
		t.Fatalf("Connect = %v; want a *RetryError wrapping DeadlineExceeded and the auth error", err)
	}
}

func TestConnectWithoutPending(t *testing.T) {
	e := newEnv(t, nil, "old", func(o *secretcache.Options) { o.MinRefreshInterval = -1 })
	db := newFakeDB("old")
	src := newSource(t, e.cache, secretName, func(o *dbretry.Options) {
		o.TryPending = false
		o.RetryBudget = 200 * time.Millisecond
	})
	if _, err := dbretry.Connect(t.Context(), src, db.connect); err != nil {
		t.Fatal(err)
	}
	pw := newPassword()
	e.putPending(t, pw)
	db.set(pw)
	before := e.cacheCalls()
	if _, err := dbretry.Connect(t.Context(), src, db.connect); !errors.As(err, new(*dbretry.RetryError)) {
		t.Fatalf("Connect = %v, want a *RetryError: AWSPENDING must not be tried", err)
	}
	if got := e.cacheCalls() - before; got != 1 {
		t.Errorf("API calls = %d, want 1 (DescribeSecret only)", got)
	}
}

// A panicking OnSwitch is a bug in the hook, not a reason to fail the
// connect: it is logged with its stack, and the switch happens.
func TestOnSwitchPanic(t *testing.T) {
	e := newEnv(t, nil, "old")
	db := newFakeDB("old")
	var logged syncBuffer
	src := newSource(t, e.cache, secretName, func(o *dbretry.Options) {
		o.OnSwitch = func(string, string, string, string) { panic("hook bug") }
		o.Logger = slog.New(slog.NewJSONHandler(&logged, nil))
	})
	if _, err := dbretry.Connect(t.Context(), src, db.connect); err != nil {
		t.Fatal(err)
	}
	pw := newPassword()
	e.putCurrent(t, pw)
	db.set(pw)
	conn, err := dbretry.Connect(t.Context(), src, db.connect)
	if err != nil {
		t.Fatalf("Connect with a panicking OnSwitch = %v, want success", err)
	}
	c, _ := src.Credentials(t.Context())
	if conn.version != c.VersionID || src.Stats().Switches != 1 {
		t.Errorf("connected with %s, Credentials %s, Stats %+v: want the new version, one switch", conn.version, c.VersionID, src.Stats())
	}
	out := logged.String()
	if !strings.Contains(out, "OnSwitch panicked") || !strings.Contains(out, "hook bug") || !strings.Contains(out, "TestOnSwitchPanic") {
		t.Errorf("log lacks the panic and its stack:\n%s", out)
	}
	if strings.Contains(out, pw) {
		t.Errorf("log shows the password")
	}
}

// syncBuffer is a bytes.Buffer safe for concurrent writes.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

func countErrs(errs []error) int {
	n := 0
	for _, err := range errs {
		if err != nil {
			n++
		}
	}
	return n
}

// Credentials on a cache hit is on every new connection's path; it must
// not allocate, with or without an AWSPENDING override.
func TestCredentialsHitDoesNotAllocate(t *testing.T) {
	e := newEnv(t, nil, "old")
	db := newFakeDB("old")
	src := newSource(t, e.cache, secretName)
	ctx := context.Background()
	check := func(when string) {
		t.Helper()
		if _, err := src.Credentials(ctx); err != nil {
			t.Fatal(err)
		}
		if n := testing.AllocsPerRun(1000, func() { src.Credentials(ctx) }); n != 0 {
			t.Errorf("Credentials %s: %v allocations per call, want 0", when, n)
		}
	}
	check("from AWSCURRENT")
	pw := newPassword()
	e.putPending(t, pw)
	db.set(pw)
	if _, err := dbretry.Connect(t.Context(), src, db.connect); err != nil {
		t.Fatal(err)
	}
	check("from AWSPENDING")
}

// interceptClient is the SDK client with a hook run before a read of a
// given stage, to place a change of the secret between two reads.
type interceptClient struct {
	*secretsmanager.Client
	stage  string
	before func()
}

func (c *interceptClient) GetSecretValue(ctx context.Context, in *secretsmanager.GetSecretValueInput, optFns ...func(*secretsmanager.Options)) (*secretsmanager.GetSecretValueOutput, error) {
	if aws.ToString(in.VersionStage) == c.stage && c.before != nil {
		c.before()
		c.before = nil
	}
	return c.Client.GetSecretValue(ctx, in, optFns...)
}

// finishSecret can land between the re-read's DescribeSecret (AWSCURRENT
// unchanged, AWSPENDING present) and its read of AWSPENDING (gone now):
// that re-read finds nothing, and the next one, after RereadInterval,
// finds the new AWSCURRENT.
func TestConnectRotationFinishesDuringReread(t *testing.T) {
	e := newEnv(t, nil, "old")
	db := newFakeDB("old")
	ic := &interceptClient{Client: e.sm}
	cache, err := secretcache.New(ic, func(o *secretcache.Options) { o.MinRefreshInterval = -1 })
	if err != nil {
		t.Fatal(err)
	}
	defer cache.Close()
	src := newSource(t, cache, secretName, func(o *dbretry.Options) { o.RereadInterval = 20 * time.Millisecond })
	defer src.Close()
	if _, err := dbretry.Connect(t.Context(), src, db.connect); err != nil {
		t.Fatal(err)
	}
	pw := newPassword()
	pending := e.putPending(t, pw)
	db.set(pw)
	ic.stage, ic.before = secretcache.StagePending, func() { e.finish(t, pending) }

	before := cache.Stats().Calls.Total()
	began := time.Now()
	conn, err := dbretry.Connect(t.Context(), src, db.connect)
	if err != nil || conn.version != pending {
		t.Fatalf("Connect = %v, %v; want version %s", conn, err, pending)
	}
	if took := time.Since(began); took > time.Second {
		t.Errorf("Connect took %v, want about RereadInterval", took)
	}
	// DescribeSecret, AWSPENDING (gone), DescribeSecret, the new
	// AWSCURRENT.
	if got := cache.Stats().Calls.Total() - before; got != 4 {
		t.Errorf("API calls = %d, want 4", got)
	}
	if st := src.Stats(); st.Rereads != 2 {
		t.Errorf("Stats %+v, want 2 re-reads", st)
	}
}

// A re-read that fails (here: throttled) leaves the Source's cached
// secret alone, so it costs the refused connect a retry, never the other
// connections their credentials.
func TestRereadFailureKeepsCache(t *testing.T) {
	e := newEnv(t, nil, "old", func(o *secretcache.Options) {
		o.MinRefreshInterval = -1
		o.ErrorBackoff, o.MaxErrorBackoff = time.Millisecond, time.Millisecond
	})
	db := newFakeDB("old")
	src := newSource(t, e.cache, secretName, func(o *dbretry.Options) {
		o.RetryBudget = 300 * time.Millisecond
		o.RereadInterval = 10 * time.Millisecond
	})
	defer src.Close()
	if _, err := dbretry.Connect(t.Context(), src, db.connect); err != nil {
		t.Fatal(err)
	}
	pw := newPassword()
	e.putPending(t, pw)
	db.set(pw)
	for _, op := range []string{"DescribeSecret", "GetSecretValue"} {
		e.srv.InjectFault(awsemu.Fault{Op: op, Code: "ThrottlingException"})
	}
	_, err := dbretry.Connect(t.Context(), src, db.connect)
	if !errors.As(err, new(*dbretry.RetryError)) {
		t.Fatalf("Connect while throttled = %v, want a *RetryError", err)
	}
	if st := src.Stats(); st.Rereads < 2 {
		t.Errorf("Stats %+v: want several re-reads within the budget", st)
	}
	if c, err := src.Credentials(t.Context()); err != nil || c.Password != "old" {
		t.Fatalf("Credentials while throttled: %v, %v; want the cached AWSCURRENT", c, err)
	}
	e.srv.ClearFaults()
	if conn, err := dbretry.Connect(t.Context(), src, db.connect); err != nil || conn.version == "" {
		t.Fatalf("Connect after the throttling: %v, %v", conn, err)
	}
}

// The re-read goes through the Source's own secret id and leaves every
// other cache entry alone: a part of the program that reads the same
// secret by ARN keeps its value, even when the re-read fails.
func TestRereadLeavesOtherIDsAlone(t *testing.T) {
	e := newEnv(t, nil, "old")
	cc := &countingClient{Client: e.sm}
	cache, err := secretcache.New(cc, func(o *secretcache.Options) { o.MinRefreshInterval = -1 })
	if err != nil {
		t.Fatal(err)
	}
	defer cache.Close()
	db := newFakeDB("old")
	src := newSource(t, cache, secretName, func(o *dbretry.Options) { o.RetryBudget = 200 * time.Millisecond })
	defer src.Close()
	if _, err := dbretry.Connect(t.Context(), src, db.connect); err != nil {
		t.Fatal(err)
	}
	byARN, err := cache.Get(t.Context(), e.arn) // another part of the program
	if err != nil {
		t.Fatal(err)
	}
	cc.reset()
	pw := newPassword()
	e.putPending(t, pw)
	db.set(pw)
	e.srv.InjectFault(awsemu.Fault{Op: "GetSecretValue", Code: "ThrottlingException", Times: 1})
	if _, err := dbretry.Connect(t.Context(), src, db.connect); !errors.As(err, new(*dbretry.RetryError)) {
		t.Fatalf("Connect = %v; want a *RetryError: the only AWSPENDING read was throttled", err)
	}
	if ids := cc.ids(); len(ids) == 0 || slices.ContainsFunc(ids, func(id string) bool { return id != secretName }) {
		t.Errorf("the re-read called the service for %q, want only %q", ids, secretName)
	}
	calls := cc.total()
	got, err := cache.Get(t.Context(), e.arn)
	if err != nil || got.VersionID() != byARN.VersionID() || cc.total() != calls {
		t.Errorf("Get by ARN after the re-read: %v, %v (%d more calls); want the cached value", got, err, cc.total()-calls)
	}
}

// countingClient records the API calls a cache makes, with the secret id
// of each.
type countingClient struct {
	secretcache.Client
	mu    sync.Mutex
	calls []string // "Op id"
}

func (c *countingClient) note(op, id string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.calls = append(c.calls, op+" "+id)
}

func (c *countingClient) reset() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.calls = nil
}

func (c *countingClient) total() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.calls)
}

func (c *countingClient) ids() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	var ids []string
	for _, call := range c.calls {
		_, id, _ := strings.Cut(call, " ")
		ids = append(ids, id)
	}
	return ids
}

func (c *countingClient) GetSecretValue(ctx context.Context, in *secretsmanager.GetSecretValueInput, optFns ...func(*secretsmanager.Options)) (*secretsmanager.GetSecretValueOutput, error) {
	c.note("GetSecretValue", aws.ToString(in.SecretId))
	return c.Client.GetSecretValue(ctx, in, optFns...)
}

func (c *countingClient) DescribeSecret(ctx context.Context, in *secretsmanager.DescribeSecretInput, optFns ...func(*secretsmanager.Options)) (*secretsmanager.DescribeSecretOutput, error) {
	c.note("DescribeSecret", aws.ToString(in.SecretId))
	return c.Client.DescribeSecret(ctx, in, optFns...)
}

func (c *countingClient) BatchGetSecretValue(ctx context.Context, in *secretsmanager.BatchGetSecretValueInput, optFns ...func(*secretsmanager.Options)) (*secretsmanager.BatchGetSecretValueOutput, error) {
	c.note("BatchGetSecretValue", strings.Join(in.SecretIdList, ","))
	return c.Client.BatchGetSecretValue(ctx, in, optFns...)
}
