package dbretry_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/rekeyhq/rekey/dbretry"
	"github.com/rekeyhq/rekey/secretcache"
)

func newPool(t testing.TB, src *dbretry.Source, fns ...func(*pgxpool.Config)) *dbretry.Pool {
	t.Helper()
	cfg, err := pgxpool.ParseConfig("sslmode=disable pool_max_conns=4")
	if err != nil {
		t.Fatal(err)
	}
	for _, fn := range fns {
		fn(cfg)
	}
	p, err := dbretry.NewPool(t.Context(), src, cfg)
	if err != nil {
		t.Fatalf("NewPool: %v", err)
	}
	t.Cleanup(p.Close)
	return p
}

// Every Pool method that needs a new connection gets one through the
// single-user window, where AWSCURRENT is refused.
func TestPoolMethodsInWindow(t *testing.T) {
	// The rotations here are milliseconds apart; the cache's default
	// MinRefreshInterval (1s) would answer a re-read with the previous
	// one's view and cost a round of retries.
	e, _ := newDBEnv(t, func(o *secretcache.Options) { o.MinRefreshInterval = -1 })
	src := newSource(t, e.cache, secretName, func(o *dbretry.Options) { o.Logger = testLogger(t) })
	p := newPool(t, src)
	e.pg.Exec(t, "CREATE TABLE "+e.role+"_items (n int)")
	e.pg.Exec(t, "ALTER TABLE "+e.role+"_items OWNER TO "+e.role)
	ctx := t.Context()

	methods := []struct {
		name    string
		run     func() error
		inserts int
	}{
		{"Exec", func() error { _, err := p.Exec(ctx, "INSERT INTO "+e.role+"_items VALUES (1)"); return err }, 1},
		{"Query", func() error {
			rows, err := p.Query(ctx, "SELECT n FROM "+e.role+"_items")
			if err != nil {
				return err
			}
			_, err = pgx.CollectRows(rows, pgx.RowTo[int32])
			return err
		}, 0},
		{"QueryRow", func() error {
			var user string
			if err := p.QueryRow(ctx, "SELECT current_user").Scan(&user); err != nil {
				return err
			}
			if user != e.role {
				return errors.New("connected as " + user)
			}
			return nil
		}, 0},
		{"Begin", func() error {
			tx, err := p.Begin(ctx)
			if err != nil {
				return err
			}
			if _, err := tx.Exec(ctx, "INSERT INTO "+e.role+"_items VALUES (2)"); err != nil {
				return err
			}
			return tx.Commit(ctx)
		}, 1},
		{"BeginTx", func() error {
			tx, err := p.BeginTx(ctx, pgx.TxOptions{AccessMode: pgx.ReadOnly})
			if err != nil {
				return err
			}
			defer tx.Rollback(ctx)
			_, err = tx.Exec(ctx, "SELECT 1")
			return err
		}, 0},
		{"SendBatch", func() error {
			b := &pgx.Batch{}
			b.Queue("INSERT INTO " + e.role + "_items VALUES (3)")
			b.Queue("SELECT 1")
			return p.SendBatch(ctx, b).Close()
		}, 1},
		{"SendBatch with BeginTx", func() error {
			b := &pgx.Batch{}
			b.BeginTx(pgx.TxOptions{})
			b.Queue("INSERT INTO " + e.role + "_items VALUES (4)")
			br := p.SendBatch(ctx, b)
			tx := br.Tx()
			if tx == nil {
				return errors.New("no transaction")
			}
			if err := br.Close(); err != nil {
				return err
			}
			return tx.Commit(ctx)
		}, 1},
		{"CopyFrom", func() error {
			_, err := p.CopyFrom(ctx, pgx.Identifier{e.role + "_items"}, []string{"n"}, pgx.CopyFromRows([][]any{{5}, {6}}))
			return err
		}, 2},
		{"Acquire", func() error {
			c, err := p.Acquire(ctx)
			if err != nil {
				return err
			}
			defer c.Release()
			return c.Ping(ctx)
		}, 0},
		{"Ping", func() error { return p.Ping(ctx) }, 0},
	}
	want := 0
	for _, m := range methods {
		t.Run(m.name, func(t *testing.T) {
			want += m.inserts
			before := src.Stats()
			pending := e.openWindow(t)
			p.Raw().Reset() // the next operation needs a new login
			if err := m.run(); err != nil {
				t.Fatalf("%s in the window: %v", m.name, err)
			}
			st := src.Stats()
			if st.AuthFailures == before.AuthFailures || st.Switches != before.Switches+1 {
				t.Errorf("Stats %+v -> %+v: want a refused login and one switch", before, st)
			}
			if s := p.Stat(); s.AcquiredConns() != 0 {
				t.Errorf("%d connections still acquired", s.AcquiredConns())
			}
			// The window closes: the old and new passwords are finished
			// with; the pending version keeps working.
			e.finish(t, pending)
		})
	}
	var n int
	if err := p.QueryRow(ctx, "SELECT count(*) FROM "+e.role+"_items").Scan(&n); err != nil || n != want {
		t.Errorf("items holds %d rows (err %v), want %d: each statement ran once", n, err, want)
	}
}

// An AWSPENDING left by a rotation that failed before setSecret, and an
// outage in which the database refuses AWSCURRENT too (role NOLOGIN:
// 28000): the Source tries AWSPENDING, and once that is refused as well
// and nothing newer exists, goes back to AWSCURRENT. When the outage ends
// the next login works; the Source is never stuck on a refused
// AWSPENDING.
func TestPoolLeavesRefusedPending(t *testing.T) {
	e, pw := newDBEnv(t, func(o *secretcache.Options) { o.MinRefreshInterval = -1 })
	src := newSource(t, e.cache, secretName, func(o *dbretry.Options) {
		o.RetryBudget = 500 * time.Millisecond
		o.RereadInterval = 20 * time.Millisecond
		o.MinBackoff, o.MaxBackoff = 5*time.Millisecond, 20*time.Millisecond
		o.Logger = testLogger(t)
	})
	defer src.Close()
	p := newPool(t, src)
	ctx := t.Context()
	if err := p.Ping(ctx); err != nil {
		t.Fatal(err)
	}
	current, _ := src.Credentials(ctx)
	stale := e.putPending(t, newPassword()) // never reached the database

	e.pg.Exec(t, "ALTER ROLE "+e.role+" NOLOGIN")
	p.Raw().Reset()
	err := p.Ping(ctx)
	if !errors.As(err, new(*dbretry.RetryError)) || !dbretry.IsAuthError(err) {
		t.Fatalf("Ping during the outage = %v, want a *RetryError", err)
	}
	if st := src.Stats(); st.Switches < 2 {
		t.Errorf("Stats %+v: want AWSPENDING tried and left during the outage", st)
	}

	e.pg.Exec(t, "ALTER ROLE "+e.role+" LOGIN")
	for i := range 3 {
		p.Raw().Reset()
		if err := p.Ping(ctx); err != nil {
			t.Fatalf("Ping %d after the outage: %v; the Source is stuck on AWSPENDING %s", i, err, stale)
		}
	}
	if c, err := src.Credentials(ctx); err != nil || c.VersionID != current.VersionID || c.Password != pw {
		t.Errorf("Credentials after the outage: version %s, err %v; want AWSCURRENT %s", c.VersionID, err, current.VersionID)
	}
}

// A statement that fails with an authentication SQLSTATE is not a
// connect: it is returned at once and runs once.
func TestPoolNeverRetriesStatements(t *testing.T) {
	e, _ := newDBEnv(t)
	src := newSource(t, e.cache, secretName)
	p := newPool(t, src)
	runs, fn := e.role+"_runs", e.role+"_insert_then_fail" // the server is shared
	e.pg.Exec(t, "CREATE TABLE "+runs+" (n int)")
	e.pg.Exec(t, "GRANT ALL ON "+runs+" TO "+e.role)
	e.pg.Exec(t, "CREATE FUNCTION "+fn+`() RETURNS void LANGUAGE plpgsql AS $$
		BEGIN INSERT INTO `+runs+` VALUES (1); RAISE EXCEPTION 'fake auth failure' USING ERRCODE = '28P01'; END $$`)

	_, err := p.Exec(t.Context(), "SELECT "+fn+"()")
	var pgErr *pgconn.PgError
	if !errors.As(err, &pgErr) || pgErr.Code != "28P01" || errors.As(err, new(*dbretry.RetryError)) {
		t.Fatalf("Exec = %v, want the statement's PgError 28P01 unchanged", err)
	}
	if st := src.Stats(); st.AuthFailures != 0 || st.Rereads != 0 {
		t.Errorf("Stats = %+v: a statement error was treated as a refused login", st)
	}
	// The failed statement's transaction rolled back; it ran once.
	if _, err := p.Exec(t.Context(), "INSERT INTO "+runs+" VALUES (2)"); err != nil {
		t.Fatal(err)
	}
	var n int
	if err := p.QueryRow(t.Context(), "SELECT count(*) FROM "+runs).Scan(&n); err != nil || n != 1 {
		t.Errorf("runs holds %d rows (err %v), want 1", n, err)
	}
}

func TestPoolNonAuthErrors(t *testing.T) {
	const pw = "distinctive-password-4711"
	e := newEnv(t, nil, pw) // the secret names a port nobody listens on
	src := newSource(t, e.cache, secretName)
	p := newPool(t, src)
	began := time.Now()
	_, err := p.Exec(t.Context(), "SELECT 1")
	if err == nil || dbretry.IsAuthError(err) || errors.As(err, new(*dbretry.RetryError)) {
		t.Fatalf("Exec = %v, want the connect error", err)
	}
	if took := time.Since(began); took > 2*time.Second {
		t.Errorf("a refused TCP connect took %v", took)
	}
	if strings.Contains(err.Error(), pw) {
		t.Errorf("error shows the password: %v", err)
	}
	if st := src.Stats(); st != (dbretry.Stats{}) {
		t.Errorf("Stats = %+v, want zero", st)
	}

	missing := newSource(t, e.cache, "no/such/secret")
	if _, err := dbretry.NewPool(t.Context(), missing, nil); err == nil || !strings.Contains(err.Error(), "no/such/secret") {
		t.Errorf("NewPool with a missing secret = %v", err)
	}
	if _, err := dbretry.NewPool(t.Context(), nil, nil); err == nil {
		t.Error("NewPool(nil Source) succeeded")
	}
}

// NewPool with a nil config and the default sslmode=prefer reaches the
// secret's host, not localhost:5432.
func TestPoolNilConfig(t *testing.T) {
	e, _ := newDBEnv(t)
	src := newSource(t, e.cache, secretName)
	p, err := dbretry.NewPool(t.Context(), src, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	var port int
	if err := p.QueryRow(t.Context(), "SELECT current_setting('port')::int").Scan(&port); err != nil || port != e.pg.Port {
		t.Fatalf("port %d, err %v; want %d", port, err, e.pg.Port)
	}
}

func TestOpenDBInWindow(t *testing.T) {
	e, _ := newDBEnv(t, func(o *secretcache.Options) { o.MinRefreshInterval = -1 }) // see TestPoolMethodsInWindow
	src := newSource(t, e.cache, secretName)
	db := dbretry.OpenDB(src, func(c *pgx.ConnConfig) { c.RuntimeParams["application_name"] = "dbretry-test" })
	defer db.Close()
	db.SetMaxIdleConns(0) // every query logs in anew
	ctx := t.Context()
	var app string
	if err := db.QueryRowContext(ctx, "SELECT current_setting('application_name')").Scan(&app); err != nil || app != "dbretry-test" {
		t.Fatalf("application_name %q, err %v", app, err)
	}
	for i := range 3 {
		pending := e.openWindow(t)
		var user string
		if err := db.QueryRowContext(ctx, "SELECT current_user").Scan(&user); err != nil || user != e.role {
			t.Fatalf("rotation %d: user %q, err %v", i, user, err)
		}
		e.finish(t, pending)
	}
	if st := src.Stats(); st.Switches != 3 || st.Exhausted != 0 {
		t.Errorf("Stats = %+v, want 3 switches", st)
	}

	// Without a way in, the connector gives up with a *RetryError after
	// the budget, and database/sql returns it.
	short := newSource(t, e.cache, secretName, func(o *dbretry.Options) { o.RetryBudget = 200 * time.Millisecond })
	db2 := dbretry.OpenDB(short)
	defer db2.Close()
	e.setDBPassword(t, newPassword())
	err := db2.PingContext(ctx)
	var re *dbretry.RetryError
	if !errors.As(err, &re) || !dbretry.IsAuthError(err) {
		t.Fatalf("Ping = %v, want a *RetryError", err)
	}
	c, _ := short.Credentials(ctx)
	if msg := err.Error(); c.Password == "" || strings.Contains(msg, c.Password) || !strings.Contains(msg, re.VersionID) || re.VersionID == "" {
		t.Errorf("message %q: want the version tried, never the password", msg)
	}
}
