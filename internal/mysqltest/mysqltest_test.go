package mysqltest_test

import (
	"context"
	"database/sql"
	"errors"
	"net"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	mysqldriver "github.com/go-sql-driver/mysql"

	"github.com/rekeyhq/rekey/internal/mysqltest"
	"github.com/rekeyhq/rekey/internal/testserver"
)

// open returns a pool for cfg, closed at cleanup.
func open(t *testing.T, cfg *mysqldriver.Config) *sql.DB {
	t.Helper()
	connector, err := mysqldriver.NewConnector(cfg)
	if err != nil {
		t.Fatal(err)
	}
	db := sql.OpenDB(connector)
	t.Cleanup(func() { db.Close() })
	return db
}

func ping(t *testing.T, cfg *mysqldriver.Config) error {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	return open(t, cfg).PingContext(ctx)
}

// quote is a MySQL string literal for s under the default sql_mode, in
// which a backslash escapes.
func quote(s string) string {
	r := strings.NewReplacer(`\`, `\\`, `'`, `''`, "\x00", `\0`)
	return "'" + r.Replace(s) + "'"
}

func TestStartAcceptsRootLogin(t *testing.T) {
	t.Parallel()
	my := mysqltest.Start(t)

	if my.Host() != "127.0.0.1" || my.Port() <= 0 || my.Addr() != net.JoinHostPort("127.0.0.1", strconv.Itoa(my.Port())) {
		t.Fatalf("Host, Port, Addr = %q, %d, %q; want 127.0.0.1, a port, host:port", my.Host(), my.Port(), my.Addr())
	}
	if len(my.RootPassword()) < 16 {
		t.Fatalf("RootPassword has %d characters, want a random one of at least 16", len(my.RootPassword()))
	}

	db := open(t, my.Config(mysqltest.RootUser, my.RootPassword()))
	var one int
	if err := db.QueryRowContext(t.Context(), "SELECT 1").Scan(&one); err != nil || one != 1 {
		t.Fatalf("SELECT 1 = %d, %v; want 1, nil", one, err)
	}
	var version string
	if err := db.QueryRowContext(t.Context(), "SELECT VERSION()").Scan(&version); err != nil || !strings.Contains(version, "MariaDB") {
		t.Errorf("VERSION() = %q, %v; want MariaDB", version, err)
	}
	var maxConns int
	if err := db.QueryRowContext(t.Context(), "SELECT @@max_connections").Scan(&maxConns); err != nil || maxConns != 300 {
		t.Errorf("max_connections = %d, %v; want 300", maxConns, err)
	}

	// Every account logs in with a password: no unix_socket account, no
	// empty password, no anonymous user.
	rows, err := db.QueryContext(t.Context(), "SELECT User, Host, plugin, authentication_string FROM mysql.user WHERE User <> 'mariadb.sys'")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var accounts []string
	for rows.Next() {
		var user, host, plugin, auth string
		if err := rows.Scan(&user, &host, &plugin, &auth); err != nil {
			t.Fatal(err)
		}
		accounts = append(accounts, user+"@"+host)
		if plugin != "mysql_native_password" || auth == "" {
			t.Errorf("account %s@%s: plugin %q with %d characters of authentication string, want a mysql_native_password password", user, host, plugin, len(auth))
		}
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	if strings.Join(accounts, ",") != "root@127.0.0.1,root@localhost" && strings.Join(accounts, ",") != "root@localhost,root@127.0.0.1" {
		t.Errorf("accounts = %v, want root@localhost and root@127.0.0.1 only", accounts)
	}

	// The DSN and RootDSN forms reach the same server.
	for _, dsn := range []string{my.RootDSN(), my.DSN(mysqltest.RootUser, my.RootPassword())} {
		cfg, err := mysqldriver.ParseDSN(dsn)
		if err != nil {
			t.Fatalf("ParseDSN: %v", err)
		}
		if err := ping(t, cfg); err != nil {
			t.Errorf("login with DSN: %v", err)
		}
	}
}

func TestTLSLogin(t *testing.T) {
	t.Parallel()
	my := mysqltest.Start(t)
	cfg := my.Config(mysqltest.RootUser, my.RootPassword())
	cfg.TLS = my.TLSConfig()
	var name, cipher string
	if err := open(t, cfg).QueryRowContext(t.Context(), "SHOW SESSION STATUS LIKE 'Ssl_cipher'").Scan(&name, &cipher); err != nil || cipher == "" {
		t.Fatalf("Ssl_cipher = %q, %v; want a TLS session", cipher, err)
	}
	// A config that trusts nothing fails the handshake: TLS is verified.
	cfg.TLS.RootCAs = nil
	if err := ping(t, cfg); err == nil {
		t.Errorf("login over TLS without trusting the server's certificate succeeded")
	}
}

func TestStartRefusesWrongPassword(t *testing.T) {
	t.Parallel()
	my := mysqltest.Start(t)

	for name, cfg := range map[string]*mysqldriver.Config{
		"wrong password": my.Config(mysqltest.RootUser, my.RootPassword()+"x"),
		"empty password": my.Config(mysqltest.RootUser, ""),
		"unknown user":   my.Config("nobody", "x"),
	} {
		t.Run(name, func(t *testing.T) {
			cfg.Logger = &mysqldriver.NopLogger{}
			err := ping(t, cfg)
			var myErr *mysqldriver.MySQLError
			if !errors.As(err, &myErr) || myErr.Number != 1045 {
				t.Fatalf("login error = %v, want MySQLError 1045 (access denied)", err)
			}
		})
	}
}

func TestConfigAndDSNHoldAnyPassword(t *testing.T) {
	t.Parallel()
	my := mysqltest.Start(t)

	const user = "app@svc/x'`ü"
	const password = "p@ss:w/rd?#%&= ü'\"\\`)"
	my.Exec(t, "CREATE USER "+quote(user)+"@'%' IDENTIFIED BY "+quote(password))

	for name, cfg := range map[string]*mysqldriver.Config{
		"Config": my.Config(user, password),
		"DSN": func() *mysqldriver.Config {
			c, err := mysqldriver.ParseDSN(my.DSN(user, password))
			if err != nil {
				t.Fatalf("ParseDSN(DSN(%q, …)): %v", user, err)
			}
			return c
		}(),
	} {
		t.Run(name, func(t *testing.T) {
			var current string
			if err := open(t, cfg).QueryRowContext(t.Context(), "SELECT CURRENT_USER()").Scan(&current); err != nil || current != user+"@%" {
				t.Fatalf("CURRENT_USER() = %q, %v; want %q", current, err, user+"@%")
			}
		})
	}
}

// TestStartIsFast guards against a start-up regression by an order of
// magnitude. The 3 s target is measured by BenchmarkStart on a quiet
// machine (BENCHMARKS.md); under `go test ./...` other packages start
// servers on the same cores.
func TestStartIsFast(t *testing.T) {
	if testing.Short() {
		t.Skip("timing test")
	}
	start := time.Now()
	my := mysqltest.Start(t)
	elapsed := time.Since(start)
	t.Logf("Start took %v (port %d)", elapsed, my.Port())
	if elapsed > 15*time.Second {
		t.Fatalf("Start took %v, want well under 15s (3s on a quiet machine)", elapsed)
	}
}

// checks are the server checks mysqltest shares with pgtest.
var checks = testserver.Checks[*mysqltest.Server]{
	Start:   func() (*mysqltest.Server, error) { return mysqltest.StartServer() },
	Require: requireAvailable,
	Addr:    (*mysqltest.Server).Addr,
	DataDir: (*mysqltest.Server).DataDir,
	Login: func(t *testing.T, s, passwordOf *mysqltest.Server) error {
		cfg := s.Config(mysqltest.RootUser, passwordOf.RootPassword())
		cfg.Logger = &mysqldriver.NopLogger{}
		return ping(t, cfg)
	},
}

// BenchmarkStart measures what Start costs a test: the bootstrap,
// server start-up and the first successful root login. Stopping is not
// timed.
func BenchmarkStart(b *testing.B) { checks.BenchmarkStart(b) }

func TestStartConcurrentServersAreIndependent(t *testing.T) {
	checks.ConcurrentServersAreIndependent(t)
}

func TestStopRemovesEverything(t *testing.T) { checks.StopRemovesEverything(t) }

// requireAvailable skips (counting the skip) or fails the test like Start
// does, for tests that call StartServer.
func requireAvailable(t testing.TB) {
	t.Helper()
	if _, err := mysqltest.Available(); err != nil {
		testserver.SkipOrFail(t, err, mysqltest.ErrUnavailable, mysqltest.Skips)
	}
}

func TestAvailableFindsServerBinaries(t *testing.T) {
	requireAvailable(t)
	b, err := mysqltest.Available()
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{b.Server, b.Scripts + "/mysql_system_tables.sql"} {
		if _, err := os.Stat(p); err != nil {
			t.Errorf("Available() = %+v: %v", b, err)
		}
	}
	t.Setenv(mysqltest.BinDirEnv, t.TempDir())
	if _, err := mysqltest.Available(); !errors.Is(err, mysqltest.ErrUnavailable) {
		t.Errorf("Available with %s set to an empty dir = %v, want ErrUnavailable", mysqltest.BinDirEnv, err)
	}
}

func TestStartWithoutBinaries(t *testing.T) {
	testserver.CheckStartWithoutBinaries(t, mysqltest.BinDirEnv, mysqltest.RequireEnv, "mariadbd", func(tb testing.TB) bool {
		return mysqltest.Start(tb) != nil
	})
}

func TestStartServerWithoutOSUser(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("OSUser only matters when running as root")
	}
	requireAvailable(t)
	_, err := mysqltest.StartServer(func(o *mysqltest.Options) { o.OSUser = "mysqltest-no-such-user" })
	if !errors.Is(err, mysqltest.ErrUnavailable) || !strings.Contains(err.Error(), "mysqltest-no-such-user") {
		t.Fatalf("StartServer as root without the OS user = %v, want ErrUnavailable naming the user", err)
	}
}
