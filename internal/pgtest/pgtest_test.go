package pgtest_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/rekeyhq/rekey/internal/pgtest"
	"github.com/rekeyhq/rekey/internal/testserver"
)

func connect(t *testing.T, config *pgx.ConnConfig) (*pgx.Conn, error) {
	t.Helper()
	if config == nil {
		t.Fatal("ConnConfig returned nil")
	}
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	conn, err := pgx.ConnectConfig(ctx, config)
	if err == nil {
		t.Cleanup(func() { conn.Close(context.Background()) })
	}
	return conn, err
}

func TestStartAcceptsSuperuserLogin(t *testing.T) {
	t.Parallel()
	pg := pgtest.Start(t)

	if pg.Host != "127.0.0.1" || pg.Port <= 0 || pg.SuperUser != "postgres" || pg.Database != "postgres" {
		t.Fatalf("Server = %+v, want host 127.0.0.1, a port, user postgres, database postgres", pg)
	}
	if len(pg.SuperPassword) < 16 {
		t.Fatalf("SuperPassword has %d characters, want a random one of at least 16", len(pg.SuperPassword))
	}

	conn, err := connect(t, pg.ConnConfig(pg.SuperUser, pg.SuperPassword))
	if err != nil {
		t.Fatalf("connect with the right password: %v", err)
	}
	var one int
	if err := conn.QueryRow(t.Context(), "select 1").Scan(&one); err != nil || one != 1 {
		t.Fatalf("select 1 = %d, %v; want 1, nil", one, err)
	}

	var maxConns, method string
	if err := conn.QueryRow(t.Context(), "show max_connections").Scan(&maxConns); err != nil || maxConns != "200" {
		t.Errorf("max_connections = %q, %v; want 200", maxConns, err)
	}
	if err := conn.QueryRow(t.Context(),
		"select auth_method from pg_hba_file_rules where type = 'host' and address = '127.0.0.1' limit 1",
	).Scan(&method); err != nil || method != "scram-sha-256" {
		t.Errorf("pg_hba auth for 127.0.0.1 = %q, %v; want scram-sha-256", method, err)
	}

	// The DSN and SuperDSN forms reach the same server.
	for _, dsn := range []string{pg.SuperDSN(), pg.DSN(pg.SuperUser, pg.SuperPassword)} {
		c, err := pgx.ParseConfig(dsn)
		if err != nil {
			t.Fatalf("ParseConfig(DSN): %v", err)
		}
		if _, err := connect(t, c); err != nil {
			t.Errorf("connect with DSN: %v", err)
		}
	}
}

func TestStartRefusesWrongPassword(t *testing.T) {
	t.Parallel()
	pg := pgtest.Start(t)

	for name, config := range map[string]*pgx.ConnConfig{
		"wrong password":     pg.ConnConfig(pg.SuperUser, pg.SuperPassword+"x"),
		"empty password":     pg.ConnConfig(pg.SuperUser, ""),
		"DSN wrong password": func() *pgx.ConnConfig { c, _ := pgx.ParseConfig(pg.DSN(pg.SuperUser, "nope")); return c }(),
	} {
		t.Run(name, func(t *testing.T) {
			_, err := connect(t, config)
			var pgErr *pgconn.PgError
			if !errors.As(err, &pgErr) || pgErr.Code != "28P01" {
				t.Fatalf("connect error = %v, want PgError with SQLSTATE 28P01 (invalid_password)", err)
			}
		})
	}
}

func TestDSNEscapesUserAndPassword(t *testing.T) {
	t.Parallel()
	pg := pgtest.Start(t)

	const user = "app@svc:1/x"
	const password = "p@ss:w/rd?#%&= ü'\""
	pg.Exec(t, fmt.Sprintf("create role %s login password '%s'",
		pgx.Identifier{user}.Sanitize(), strings.ReplaceAll(password, "'", "''")))

	conn, err := connect(t, pg.ConnConfig(user, password))
	if err != nil {
		t.Fatalf("connect as %q: %v", user, err)
	}
	var current string
	if err := conn.QueryRow(t.Context(), "select current_user").Scan(&current); err != nil || current != user {
		t.Fatalf("current_user = %q, %v; want %q", current, err, user)
	}
}

// TestStartIsFast guards against a start-up regression by an order of
// magnitude. The 3 s target is measured by BenchmarkStart on a quiet
// machine (BENCHMARKS.md): under `go test ./...` other packages start their
// own servers on the same two cores, so a tight wall-clock bound here would
// only measure the neighbours.
func TestStartIsFast(t *testing.T) {
	if testing.Short() {
		t.Skip("timing test")
	}
	start := time.Now()
	pg := pgtest.Start(t)
	elapsed := time.Since(start)
	t.Logf("Start took %v (port %d)", elapsed, pg.Port)
	if elapsed > 15*time.Second {
		t.Fatalf("Start took %v, want well under 15s (3s on a quiet machine)", elapsed)
	}
}

// BenchmarkStart measures what Start costs a test: initdb, server start-up
// and the first successful login. Stopping is not timed.
func BenchmarkStart(b *testing.B) {
	requireAvailable(b)
	for b.Loop() {
		pg, err := pgtest.StartServer()
		if err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		if err := pg.Stop(); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
	}
}

func TestStartConcurrentServersAreIndependent(t *testing.T) {
	t.Parallel()
	requireAvailable(t)
	const n = 3
	servers := make([]*pgtest.Server, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			s, err := pgtest.StartServer()
			if err != nil {
				t.Error(err)
				return
			}
			t.Cleanup(func() { s.Stop() })
			servers[i] = s
		})
	}
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}

	ports := map[int]bool{}
	for i, s := range servers {
		if ports[s.Port] {
			t.Fatalf("two servers share port %d", s.Port)
		}
		ports[s.Port] = true
		// A server only knows its own password.
		other := servers[(i+1)%n]
		if _, err := connect(t, s.ConnConfig(other.SuperUser, other.SuperPassword)); err == nil {
			t.Errorf("server %d accepted server %d's password", i, (i+1)%n)
		}
		if _, err := connect(t, s.ConnConfig(s.SuperUser, s.SuperPassword)); err != nil {
			t.Errorf("server %d: %v", i, err)
		}
	}
}

// requireAvailable skips or fails the test like Start does, for tests that
// call StartServer.
func requireAvailable(t testing.TB) {
	t.Helper()
	_, err := pgtest.Available()
	if errors.Is(err, pgtest.ErrUnavailable) && os.Getenv(pgtest.RequireEnv) != "1" {
		t.Skip(err)
	}
	if err != nil {
		t.Fatal(err)
	}
}

func TestStopRemovesEverything(t *testing.T) {
	t.Parallel()
	requireAvailable(t)
	s, err := pgtest.StartServer()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(s.DataDir); err != nil {
		t.Fatalf("data dir of a running server: %v", err)
	}

	var errs [2]error
	var wg sync.WaitGroup
	for i := range errs {
		wg.Go(func() { errs[i] = s.Stop() })
	}
	wg.Wait()
	if errs[0] != nil || errs[1] != nil {
		t.Fatalf("concurrent Stop = %v, %v; want nil, nil", errs[0], errs[1])
	}
	if err := s.Stop(); err != nil {
		t.Fatalf("third Stop = %v, want nil", err)
	}

	if _, err := os.Stat(s.DataDir); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("data dir after Stop: Stat error = %v, want ErrNotExist", err)
	}
	// Nothing listens on the port once Stop has returned.
	c, err := net.DialTimeout("tcp", net.JoinHostPort(s.Host, strconv.Itoa(s.Port)), time.Second)
	if err == nil {
		c.Close()
		t.Errorf("port %d still accepts connections after Stop", s.Port)
	}
}

func TestAvailableFindsServerBinaries(t *testing.T) {
	requireAvailable(t)
	dir, err := pgtest.Available()
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"initdb", "postgres"} {
		if _, err := os.Stat(dir + "/" + name); err != nil {
			t.Errorf("Available() = %q, which lacks %s: %v", dir, name, err)
		}
	}

	t.Setenv(pgtest.BinDirEnv, t.TempDir())
	if _, err := pgtest.Available(); !errors.Is(err, pgtest.ErrUnavailable) {
		t.Errorf("Available with %s set to an empty dir = %v, want ErrUnavailable", pgtest.BinDirEnv, err)
	}
}

func TestStartWithoutBinaries(t *testing.T) {
	testserver.CheckStartWithoutBinaries(t, pgtest.BinDirEnv, pgtest.RequireEnv, "initdb", func(tb testing.TB) bool {
		return pgtest.Start(tb) != nil
	})
}

func TestStartServerWithoutOSUser(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("OSUser only matters when running as root")
	}
	requireAvailable(t)
	_, err := pgtest.StartServer(func(o *pgtest.Options) { o.OSUser = "pgtest-no-such-user" })
	if !errors.Is(err, pgtest.ErrUnavailable) || !strings.Contains(err.Error(), "pgtest-no-such-user") {
		t.Fatalf("StartServer as root without the OS user = %v, want ErrUnavailable naming the user", err)
	}
}
