package mysql_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	mysqldriver "github.com/go-sql-driver/mysql"

	"github.com/rekeyhq/rekey/dbretry"
	"github.com/rekeyhq/rekey/dbretry/mysql"
	"github.com/rekeyhq/rekey/internal/rotationload"
	"github.com/rekeyhq/rekey/secretcache"
)

// loadConfig is one rotation-under-load scenario.
type loadConfig struct {
	client      string // "OpenDB" (dbretry/mysql) or "plain" (go-sql-driver reading the cache per connect)
	alternating bool   // alternating-users rotation instead of single-user
	workers     int
	rotations   int
	paused      func(rotation int) bool // pause this rotation between setSecret and finishSecret
	pause       time.Duration
	gap         time.Duration // steady load before, between and after rotations
	lifetime    time.Duration // ConnMaxLifetime: new logins happen all the time
	maxConns    int
	failWait    time.Duration // a worker's pause after a failed query, as a client's backoff
}

func defaultLoad(client string, alternating bool) loadConfig {
	return loadConfig{
		client:      client,
		alternating: alternating,
		workers:     16,
		rotations:   10,
		paused:      func(i int) bool { return i%3 == 1 }, // rotations 1, 4 and 7
		pause:       2 * time.Second,
		gap:         200 * time.Millisecond,
		lifetime:    150 * time.Millisecond,
		maxConns:    8,
		failWait:    50 * time.Millisecond,
	}
}

type loadResult struct {
	rotationload.Result
	rotated  int64  // rotations that reached finishSecret
	apiCalls uint64 // API calls the cache made during the load, all caused by refused logins
	stats    dbretry.Stats
}

func (r loadResult) String() string {
	return fmt.Sprintf("%v; %d rotations; %d API calls by the cache (%.1f per rotation); source %+v",
		r.Result, r.rotated, r.apiCalls, float64(r.apiCalls)/float64(max(r.rotated, 1)), r.stats)
}

// loadRun is a load ready to run: its env, Source and client are set up
// and a first query succeeded.
type loadRun struct {
	cfg   loadConfig
	e     *env
	src   *dbretry.Source
	query func(context.Context) error
	done  *atomic.Int64 // rotations that reached finishSecret
}

// setupLoad prepares a load on a user of its own on the shared MariaDB,
// rotated by the test strategy through the emulator's RotateSecret.
//
// The cache keeps its default 5m TTL and does not poll during rotations
// (RotationPollInterval 1h), so it makes no API call of its own during
// the load: every call it makes is caused by a refused login, through
// dbretry's re-reads. Without dbretry nothing finds the new password.
func setupLoad(t testing.TB, cfg loadConfig) *loadRun {
	t.Helper()
	e, _ := newEnv(t, func(o *secretcache.Options) { o.RotationPollInterval = time.Hour })
	var setSecrets atomic.Int64
	done := e.enableRotation(t, cfg.alternating, func() time.Duration {
		if cfg.paused(int(setSecrets.Add(1) - 1)) {
			return cfg.pause
		}
		return 0
	})
	src, err := dbretry.NewSource(e.cache, secretName, func(o *dbretry.Options) {
		o.Logger = slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelWarn}))
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { src.Close() }) // after the client's, registered below
	db := newLoadClient(t, e, src, cfg)
	t.Cleanup(func() { db.Close() })
	query := func(ctx context.Context) error {
		var n int
		err := db.QueryRowContext(ctx, "SELECT 1").Scan(&n)
		if err == nil && n != 1 {
			err = fmt.Errorf("SELECT 1 returned %d", n)
		}
		return err
	}
	if err := query(t.Context()); err != nil {
		t.Fatalf("first query: %v", err)
	}
	return &loadRun{cfg: cfg, e: e, src: src, query: query, done: done}
}

// newLoadClient returns the *sql.DB the workers query through.
func newLoadClient(t testing.TB, e *env, src *dbretry.Source, cfg loadConfig) *sql.DB {
	t.Helper()
	var db *sql.DB
	switch cfg.client {
	case "OpenDB":
		db = mysql.OpenDB(src)
	case "plain":
		// What a service does without dbretry: read the cached secret
		// for every new connection.
		mc := mysqldriver.NewConfig()
		mc.Net, mc.Addr = "tcp", e.my.Addr()
		err := mc.Apply(mysqldriver.BeforeConnect(func(ctx context.Context, c *mysqldriver.Config) error {
			s, err := e.cache.Get(ctx, secretName)
			if err != nil {
				return err
			}
			creds, err := dbretry.ParseCredentials(s)
			if err != nil {
				return err
			}
			c.Addr = net.JoinHostPort(creds.Host, strconv.Itoa(creds.Port))
			c.User, c.Passwd = creds.Username, creds.Password
			return nil
		}))
		if err != nil {
			t.Fatal(err)
		}
		connector, err := mysqldriver.NewConnector(mc)
		if err != nil {
			t.Fatal(err)
		}
		db = sql.OpenDB(connector)
	default:
		t.Fatalf("unknown client %q", cfg.client)
	}
	db.SetMaxOpenConns(cfg.maxConns)
	db.SetMaxIdleConns(cfg.maxConns)
	db.SetConnMaxLifetime(cfg.lifetime)
	return db
}

// run runs the load: workers query continuously while the secret
// rotates. It reports problems with t.Errorf only, so several may run at
// once on goroutines of one test.
func (lr *loadRun) run(t testing.TB) loadResult {
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	before := lr.e.cacheCalls()
	cfg := rotationload.Config{Workers: lr.cfg.workers, Rotations: lr.cfg.rotations, Gap: lr.cfg.gap, FailWait: lr.cfg.failWait}
	return loadResult{
		Result:   rotationload.Run(t, ctx, cfg, lr.query, lr.e.rotate),
		rotated:  lr.done.Load(),
		apiCalls: lr.e.cacheCalls() - before,
		stats:    lr.src.Stats(),
	}
}

// TestRotationUnderLoad is the acceptance test of issue 11 point 4: 16
// workers query through mysql.OpenDB while the secret rotates 10 times
// with a real single-user rotation (ALTER USER on MariaDB, driven by the
// emulator's RotateSecret), three of them held 2s between setSecret and
// finishSecret, and connections are recycled every ~150ms so that new
// logins land in every window. No query may fail, and the refusals may
// cost at most 3 API calls per rotation. The same load on a plain
// go-sql-driver pool reading the cache per connect must fail with a
// refused login, or the test proves nothing. An alternating-users
// rotation under the same load fails no query either. The loads run at
// once to keep the package fast; the figures in BENCHMARKS.md come from
// BenchmarkRotationUnderLoad, one load at a time.
func TestRotationUnderLoad(t *testing.T) {
	if testing.Short() {
		t.Skip("rotation under load takes about 20s")
	}
	cfgs := []loadConfig{defaultLoad("OpenDB", false), defaultLoad("OpenDB", true), defaultLoad("plain", false)}
	names := []string{"OpenDB/single-user", "OpenDB/alternating", "plain go-sql-driver fails"}
	runs := make([]*loadRun, len(cfgs))
	for i, cfg := range cfgs {
		runs[i] = setupLoad(t, cfg)
	}
	results := make([]loadResult, len(cfgs))
	var wg sync.WaitGroup
	for i, lr := range runs {
		wg.Go(func() { results[i] = lr.run(t) })
	}
	wg.Wait()

	for i, name := range names[:2] {
		t.Run(name, func(t *testing.T) {
			cfg, r := cfgs[i], results[i]
			t.Logf("%s: %v", name, r)
			if r.Failed != 0 {
				t.Errorf("%d of %d queries failed; first: %v", r.Failed, r.Queries, r.FirstErr)
			}
			if r.rotated != int64(cfg.rotations) {
				t.Fatalf("%d rotations finished, want %d", r.rotated, cfg.rotations)
			}
			// The cache makes no call of its own during the load (see
			// setupLoad), so each is part of a re-read after a refused
			// login, and a re-read costs at most 3.
			if r.apiCalls > 3*uint64(cfg.rotations) || r.apiCalls > 3*r.stats.Rereads {
				t.Errorf("%d API calls for %d rotations and %d re-reads, want at most 3 per rotation and per re-read", r.apiCalls, cfg.rotations, r.stats.Rereads)
			}
			if r.stats.Exhausted != 0 {
				t.Errorf("Source stats %+v: a connect gave up", r.stats)
			}
			// The single-user run must have hit the windows it is about.
			if !cfg.alternating && (r.stats.AuthFailures == 0 || r.stats.Rereads < 3) {
				t.Errorf("Source stats %+v: want refused logins and at least one re-read per paused rotation", r.stats)
			}
			if len(r.Rotating) < 100 || len(r.Steady) < 100 {
				t.Errorf("only %d queries during rotations and %d outside", len(r.Rotating), len(r.Steady))
			}
		})
	}
	t.Run(names[2], func(t *testing.T) {
		cfg, r := cfgs[2], results[2]
		t.Logf("plain: %v", r)
		if r.rotated != int64(cfg.rotations) {
			t.Errorf("%d rotations finished, want %d", r.rotated, cfg.rotations)
		}
		if r.Failed == 0 {
			t.Fatalf("no query failed without dbretry: the load test cannot tell dbretry/mysql works")
		}
		var me *mysqldriver.MySQLError
		if !errors.As(r.FirstErr, &me) || me.Number != 1045 {
			t.Errorf("first failure %v, want a refused login (MySQL error 1045)", r.FirstErr)
		}
	})
}
