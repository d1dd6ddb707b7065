// Package mysqltest runs a throwaway real MariaDB server for tests.
//
// Each [Start] call initializes its own data directory in a fresh
// temporary directory (mariadbd --bootstrap with the system-table scripts
// mariadb-install-db uses), starts mariadbd as a child
// process on a free loopback port, and removes everything on test cleanup.
// Calls are independent, so tests and packages may run them concurrently.
// Durability is switched off (no binary log, no doublewrite buffer, no
// flush to disk at all), which makes the server fast and its data
// disposable.
//
// Every account logs in with a password over TCP: the root accounts
// ('root'@'localhost' and 'root'@'127.0.0.1') get a random password with
// mysql_native_password, the passwordless and unix_socket root accounts
// mariadb-install-db creates are dropped, and there is no anonymous user.
// The server also accepts TLS, with a certificate [Server.TLSConfig]
// trusts, and plain connections.
//
// When the test binary runs as root, the server runs as the "mysql" OS
// user, as Debian's package does.
package mysqltest

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/tls"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	mysqldriver "github.com/go-sql-driver/mysql"

	"github.com/rekeyhq/rekey/internal/skipreport"
	"github.com/rekeyhq/rekey/internal/testserver"
)

// Server is a running MariaDB server owned by the caller. It is safe for
// concurrent use.
type Server struct {
	port         int
	rootPassword string
	dataDir      string
	tls          *tls.Config // trusts the server's certificate; cloned for callers

	root    string              // temporary directory holding dataDir, the log and the TLS files
	logPath string              // mariadbd's error log
	proc    *testserver.Process // the server; nil until started

	stopOnce sync.Once
	stopErr  error // set inside stopOnce
}

// RootUser is the name of the server's superuser accounts,
// 'root'@'localhost' and 'root'@'127.0.0.1'; both have every privilege
// WITH GRANT OPTION and [Server.RootPassword].
const RootUser = "root"

// Options configure [StartServer].
type Options struct {
	// Binaries are the programs to run. Default: the result of
	// [Available].
	Binaries Binaries

	// OSUser is the operating-system user the server runs as when the
	// current process is root. It is ignored otherwise, and the server runs
	// as the current user. Default "mysql".
	OSUser string

	// StartTimeout bounds how long StartServer waits for the started server
	// to accept a login, after creating the system tables. Default 10s.
	StartTimeout time.Duration
}

// Start starts a new server for the test and stops it, removing its data
// directory, in t.Cleanup. If MariaDB is unavailable on this machine (see
// [ErrUnavailable]) it calls t.Skip, or t.Fatal when the environment
// variable [RequireEnv] is "1". Any other start-up failure calls t.Fatal
// with the tail of the server log.
func Start(t testing.TB) *Server {
	t.Helper()
	s, err := StartServer()
	if err != nil {
		testserver.SkipOrFail(t, err, ErrUnavailable, Skips)
	}
	t.Cleanup(func() {
		if err := s.Stop(); err != nil {
			t.Errorf("mysqltest: stopping server: %v", err)
		}
	})
	return s
}

// Skips counts the tests of this process skipped because MariaDB is
// unavailable. A package's TestMain prints its summary with PrintSkips (or
// skipreport.Print(pgtest.Skips, mysqltest.Skips) for both servers).
var Skips = skipreport.New("mysqltest", RequireEnv)

// SkipUnavailable skips t, counting it in Skips, when err wraps
// [ErrUnavailable] and [RequireEnv] is not "1"; otherwise it returns and
// the caller fails the test. Helpers that start a shared server call it
// instead of t.Skip, so that their skips are counted too.
func SkipUnavailable(t testing.TB, err error) {
	t.Helper()
	testserver.SkipUnavailable(t, err, ErrUnavailable, Skips)
}

// PrintSkips prints, after a package's tests, one line saying how many
// tests were skipped because MariaDB is unavailable and why, where a plain
// `go test ./...` shows it without -v (see internal/skipreport). Call it in
// TestMain after m.Run; it prints nothing when nothing was skipped.
func PrintSkips() { skipreport.Print(Skips) }

// StartServer starts a new server and returns once it accepts a root
// login over TCP. The caller must call [Server.Stop]. On error nothing is
// left running or on disk. The error wraps [ErrUnavailable] when MariaDB
// cannot run on this machine at all.
func StartServer(optFns ...func(*Options)) (*Server, error) {
	opts := Options{OSUser: "mysql", StartTimeout: 10 * time.Second}
	for _, fn := range optFns {
		fn(&opts)
	}
	if opts.Binaries == (Binaries{}) {
		b, err := Available()
		if err != nil {
			return nil, err
		}
		opts.Binaries = b
	}
	if opts.StartTimeout <= 0 {
		return nil, fmt.Errorf("mysqltest: StartTimeout %v is not positive", opts.StartTimeout)
	}

	var cred *testserver.OSUser
	if os.Geteuid() == 0 {
		u, err := testserver.LookupOSUser(opts.OSUser)
		if err != nil {
			return nil, fmt.Errorf("%w: running as root, and mariadbd should not run as root, but cannot run it as OS user %q: %v", ErrUnavailable, opts.OSUser, err)
		}
		cred = u
	}

	// A short pattern: the server's Unix socket lives in this directory,
	// and its path must stay under the kernel's 107-byte limit.
	root, err := testserver.MkdirTemp("my-", cred)
	if err != nil {
		return nil, fmt.Errorf("mysqltest: %w", err)
	}
	s := &Server{
		rootPassword: rand.Text(),
		dataDir:      filepath.Join(root, "data"),
		root:         root,
		logPath:      filepath.Join(root, "mariadbd.log"),
	}
	if err := s.start(opts, cred); err != nil {
		s.kill()
		return nil, errors.Join(err, os.RemoveAll(root))
	}
	return s, nil
}

func (s *Server) start(opts Options, cred *testserver.OSUser) error {
	if err := os.Mkdir(s.tmpDir(), 0o700); err != nil {
		return fmt.Errorf("mysqltest: %w", err)
	}
	if err := cred.Chown(s.tmpDir()); err != nil {
		return fmt.Errorf("mysqltest: %w", err)
	}
	if err := s.bootstrap(opts.Binaries, cred); err != nil {
		return err
	}
	tlsFiles, err := s.writeTLS(cred)
	if err != nil {
		return err
	}
	initFile := filepath.Join(s.root, "init.sql")
	if err := s.writeInitFile(initFile, cred); err != nil {
		return err
	}
	// The init file holds the root password; mariadbd runs it at every
	// start, so it goes once the server is up.
	defer os.Remove(initFile)

	// The free port is found by binding and closing, so another process may
	// take it before mariadbd binds; a bind failure then means a retry on
	// a new port, not an error.
	const attempts = 5
	for attempt := 1; ; attempt++ {
		port, err := testserver.FreePort()
		if err != nil {
			return fmt.Errorf("mysqltest: %w", err)
		}
		s.port = port
		err = s.run(opts, cred, initFile, tlsFiles)
		if err == nil || !errors.Is(err, errAddrInUse) || attempt == attempts {
			return err
		}
	}
}

var errAddrInUse = errors.New("address in use")

// bootstrap creates the system tables in a new data directory, as
// mariadb-install-db does but without the help tables, the GIS procedures
// and the sys schema, which take most of its time and no test needs. The
// root accounts it creates get their passwords from the init file.
func (s *Server) bootstrap(b Binaries, cred *testserver.OSUser) error {
	if err := os.Mkdir(s.dataDir, 0o700); err != nil {
		return fmt.Errorf("mysqltest: %w", err)
	}
	if err := cred.Chown(s.dataDir); err != nil {
		return fmt.Errorf("mysqltest: %w", err)
	}
	// The preamble mariadb-install-db sends with
	// --auth-root-authentication-method=normal: root accounts without
	// unix_socket authentication.
	parts := []io.Reader{strings.NewReader("CREATE DATABASE IF NOT EXISTS mysql;\nUSE mysql;\nSET @auth_root_socket=NULL;\n")}
	for _, name := range bootstrapScripts {
		f, err := os.Open(filepath.Join(b.Scripts, name))
		if err != nil {
			return fmt.Errorf("mysqltest: %w", err)
		}
		defer f.Close()
		parts = append(parts, f, strings.NewReader("\n"))
	}
	args := []string{
		"--no-defaults",
		"--bootstrap",
		"--datadir=" + s.dataDir,
		"--log-warnings=0",
		"--enforce-storage-engine=",
		"--max-allowed-packet=8M",
		"--net-buffer-length=16K",
		"--skip-name-resolve",
	}
	args = append(args, s.storageArgs()...)
	if err := testserver.Run(time.Minute, cred, io.MultiReader(parts...), b.Server, args...); err != nil {
		return fmt.Errorf("mysqltest: bootstrap: %w", err)
	}
	return nil
}

func (s *Server) tmpDir() string { return filepath.Join(s.root, "tmp") }

// storageArgs make InnoDB fast and its data disposable: nothing is
// flushed to disk (a crash loses the data, which a test server throws
// away anyway), and the redo log is 16 MiB instead of 96, which the
// bootstrap would otherwise write out in full. Each server has a tmpdir of
// its own: in the shared /tmp, concurrent bootstraps remove each other's
// temporary tables.
func (s *Server) storageArgs() []string {
	return []string{
		"--tmpdir=" + s.tmpDir(),
		"--innodb-flush-method=nosync",
		"--innodb-flush-log-at-trx-commit=0",
		"--innodb-doublewrite=0",
		"--innodb-log-file-size=16M",
		"--innodb-buffer-pool-size=32M",
	}
}

// writeInitFile writes the statements mariadbd runs at start-up, before it
// accepts connections: the root accounts get the password, every other
// account the bootstrap made is dropped (root@<hostname> and
// root@::1 without a password, anonymous users if any). mariadbd stops
// running the file at the first failing statement without a word in its
// log, so each one here was tried by hand on 10.11; CREATE OR REPLACE
// keeps them repeatable for a restart on another port.
func (s *Server) writeInitFile(path string, cred *testserver.OSUser) error {
	// rand.Text is base32: nothing in it needs quoting.
	sql := fmt.Sprintf(`DELETE FROM mysql.global_priv WHERE NOT (User = 'root' AND Host IN ('localhost', '127.0.0.1')) AND User <> 'mariadb.sys';
DELETE FROM mysql.proxies_priv WHERE Host NOT IN ('localhost', '127.0.0.1');
FLUSH PRIVILEGES;
ALTER USER 'root'@'localhost' IDENTIFIED VIA mysql_native_password USING PASSWORD('%[1]s');
CREATE OR REPLACE USER 'root'@'127.0.0.1' IDENTIFIED VIA mysql_native_password USING PASSWORD('%[1]s');
GRANT ALL PRIVILEGES ON *.* TO 'root'@'127.0.0.1' WITH GRANT OPTION;
`, s.rootPassword)
	if err := os.WriteFile(path, []byte(sql), 0o600); err != nil {
		return fmt.Errorf("mysqltest: %w", err)
	}
	if err := cred.Chown(path); err != nil {
		return fmt.Errorf("mysqltest: %w", err)
	}
	return nil
}

// run starts mariadbd on s.port and waits until it accepts a login.
func (s *Server) run(opts Options, cred *testserver.OSUser, initFile string, tlsFiles []string) error {
	// mariadbd opens its log itself, as the server user; a previous
	// attempt's log would only confuse the tail shown on failure.
	_ = os.Remove(s.logPath)
	args := []string{
		"--no-defaults",
		"--datadir=" + s.dataDir,
		"--port=" + strconv.Itoa(s.port),
		"--bind-address=127.0.0.1",
		"--socket=" + filepath.Join(s.root, "sock"),
		"--pid-file=" + filepath.Join(s.root, "mariadbd.pid"),
		"--log-error=" + s.logPath,
		"--init-file=" + initFile,
		"--skip-name-resolve",
		"--skip-log-bin",
		"--performance-schema=OFF",
		"--max-connections=300",
		"--character-set-server=utf8mb4",
		"--collation-server=utf8mb4_unicode_ci",
	}
	args = append(args, s.storageArgs()...)
	args = append(args, tlsFiles...)
	cmd := testserver.Command(opts.Binaries.Server, args...)
	var out bytes.Buffer // the log goes to --log-error; this catches what comes before
	cmd.Stdout, cmd.Stderr = &out, &out
	proc, err := testserver.StartProcess(cmd, cred)
	if err != nil {
		return fmt.Errorf("mysqltest: %w", err)
	}
	s.proc = proc

	if err := s.waitReady(opts.StartTimeout); err != nil {
		s.kill()
		log := append(testserver.LogTail(s.logPath), testserver.Tail(out.Bytes())...)
		if bytes.Contains(log, []byte("Bind on TCP/IP port")) || bytes.Contains(log, []byte("already in use")) {
			err = errors.Join(err, errAddrInUse)
		}
		return fmt.Errorf("%w\n%s", err, log)
	}
	return nil
}

// waitReady polls with real root logins over TCP until one succeeds.
func (s *Server) waitReady(timeout time.Duration) error {
	cfg := s.Config(RootUser, s.rootPassword)
	cfg.Timeout = time.Second
	cfg.Logger = &mysqldriver.NopLogger{} // refused dials while starting are expected
	connector, err := mysqldriver.NewConnector(cfg)
	if err != nil {
		return fmt.Errorf("mysqltest: %w", err)
	}
	err = testserver.WaitReady(timeout, s.proc.Exited(), fmt.Sprintf("mariadbd on port %d", s.port), func(ctx context.Context) error {
		conn, err := connector.Connect(ctx)
		if err != nil {
			return err
		}
		return conn.Close()
	})
	if err != nil {
		return fmt.Errorf("mysqltest: %w", err)
	}
	return nil
}

// Stop shuts the server down immediately and removes its temporary
// directory, including its data. It returns after mariadbd has exited.
// It is idempotent and safe for concurrent use; later calls return the
// first call's result.
func (s *Server) Stop() error {
	s.stopOnce.Do(func() {
		s.kill()
		s.stopErr = os.RemoveAll(s.root)
		if s.stopErr != nil {
			s.stopErr = fmt.Errorf("mysqltest: %w", s.stopErr)
		}
	})
	return s.stopErr
}

// kill stops mariadbd, if it was started, and waits for it. The data is
// thrown away, so there is no clean shutdown: SIGKILL at once, then to
// the whole process group if it has not gone within 5s.
func (s *Server) kill() {
	if s.proc != nil {
		s.proc.Stop(syscall.SIGKILL, 5*time.Second)
	}
}

// Host returns "127.0.0.1"; the server listens on no other address.
func (s *Server) Host() string { return "127.0.0.1" }

// Port returns the server's TCP port.
func (s *Server) Port() int { return s.port }

// Addr returns "127.0.0.1:port".
func (s *Server) Addr() string { return net.JoinHostPort(s.Host(), strconv.Itoa(s.port)) }

// RootPassword returns the password of the [RootUser] accounts, random
// per server.
func (s *Server) RootPassword() string { return s.rootPassword }

// DataDir returns the server's data directory; Stop removes it.
func (s *Server) DataDir() string { return s.dataDir }

// Config returns a fresh go-sql-driver config for user and password over
// TCP to the server, with no default database and no TLS; the caller may
// modify it. It works for any user name and password, also those that a
// DSN string cannot hold (a ':' in the user name).
func (s *Server) Config(user, password string) *mysqldriver.Config {
	cfg := mysqldriver.NewConfig()
	cfg.User, cfg.Passwd = user, password
	cfg.Net, cfg.Addr = "tcp", s.Addr()
	return cfg
}

// DSN returns Config(user, password) as a go-sql-driver DSN, e.g.
// "app:secret@tcp(127.0.0.1:33061)/". The driver's DSN syntax cannot
// escape a ':' in the user name; use Config for such names. Any password
// works.
func (s *Server) DSN(user, password string) string {
	return s.Config(user, password).FormatDSN()
}

// RootDSN returns DSN(RootUser, s.RootPassword()).
func (s *Server) RootDSN() string { return s.DSN(RootUser, s.rootPassword) }

// TLSConfig returns a new TLS client config that trusts the server's
// self-signed certificate, issued for 127.0.0.1. Put it in
// Config(...).TLS to log in over TLS; plain connections work too.
func (s *Server) TLSConfig() *tls.Config { return s.tls.Clone() }

// Exec runs sql with args as root on a connection of its own, and calls
// t.Fatal if that fails. Use it to create users, databases and tables in
// setup. args are sent as parameters of a prepared statement, which
// MariaDB does not allow in account statements (CREATE USER ... IDENTIFIED
// BY ?): quote such values into sql with a helper of the test instead.
func (s *Server) Exec(t testing.TB, sql string, args ...any) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	db, err := s.open(RootUser, s.rootPassword)
	if err != nil {
		t.Fatalf("mysqltest: %v", err)
	}
	defer db.Close()
	if _, err := db.ExecContext(ctx, sql, args...); err != nil {
		t.Fatalf("mysqltest: exec %q: %v", sql, err)
	}
}

func (s *Server) open(user, password string) (*sql.DB, error) {
	connector, err := mysqldriver.NewConnector(s.Config(user, password))
	if err != nil {
		return nil, err
	}
	db := sql.OpenDB(connector)
	db.SetMaxOpenConns(1)
	return db, nil
}
