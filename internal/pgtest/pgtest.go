// Package pgtest runs a throwaway real PostgreSQL server for tests.
//
// Each [Start] call initializes its own cluster in a fresh temporary
// directory, starts the postmaster as a child process on a free loopback
// port with scram-sha-256 password authentication, and removes everything on
// test cleanup. Calls are independent, so tests and packages may run them
// concurrently. Durability is switched off (fsync, synchronous_commit,
// full_page_writes), which makes the server fast and its data disposable.
//
// When the test binary runs as root, the server runs as the "postgres" OS
// user, because PostgreSQL refuses to run as root.
package pgtest

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/rekeyhq/rekey/internal/skipreport"
	"github.com/rekeyhq/rekey/internal/testserver"
)

// Server is a running PostgreSQL cluster owned by the caller. Its exported
// fields are fixed once it is returned and must not be modified.
type Server struct {
	Host          string // always "127.0.0.1"; the server listens on no other address
	Port          int    // TCP port, free when the server was started
	SuperUser     string // superuser role, "postgres"
	SuperPassword string // random per server; scram-sha-256 is required for every TCP login
	Database      string // database the DSNs name, "postgres"
	DataDir       string // cluster directory; removed by Stop

	root    string              // temporary directory holding DataDir and the log
	logPath string              // postmaster stdout and stderr
	proc    *testserver.Process // the postmaster; nil until started

	stopOnce sync.Once
	stopErr  error // set inside stopOnce
}

// Options configure [StartServer].
type Options struct {
	// BinDir holds the initdb and postgres binaries. Default: the result of
	// [Available].
	BinDir string

	// OSUser is the operating-system user the server runs as when the
	// current process is root. It is ignored otherwise, and the server runs
	// as the current user. Default "postgres".
	OSUser string

	// StartTimeout bounds how long StartServer waits for the started server
	// to accept a login, after initdb. Default 10s.
	StartTimeout time.Duration
}

// Start starts a new server for the test and stops it, removing its data
// directory, in t.Cleanup. If PostgreSQL is unavailable on this machine
// (see [ErrUnavailable]) it calls t.Skip, or t.Fatal when the environment
// variable [RequireEnv] is "1". Any other start-up failure calls t.Fatal with
// the tail of the server log.
func Start(t testing.TB) *Server {
	t.Helper()
	s, err := StartServer()
	if err != nil {
		testserver.SkipOrFail(t, err, ErrUnavailable, Skips)
	}
	t.Cleanup(func() {
		if err := s.Stop(); err != nil {
			t.Errorf("pgtest: stopping server: %v", err)
		}
	})
	return s
}

// Skips counts the tests of this process skipped because PostgreSQL is
// unavailable. A package's TestMain prints its summary with PrintSkips (or
// skipreport.Print(pgtest.Skips, mysqltest.Skips) for both servers).
var Skips = skipreport.New("pgtest", RequireEnv)

// SkipUnavailable skips t, counting it in Skips, when err wraps
// [ErrUnavailable] and [RequireEnv] is not "1"; otherwise it returns and
// the caller fails the test. Helpers that start a shared server call it
// instead of t.Skip, so that their skips are counted too.
func SkipUnavailable(t testing.TB, err error) {
	t.Helper()
	testserver.SkipUnavailable(t, err, ErrUnavailable, Skips)
}

// PrintSkips prints, after a package's tests, one line saying how many
// tests were skipped because PostgreSQL is unavailable and why, where a
// plain `go test ./...` shows it without -v (see internal/skipreport).
// Call it in TestMain after m.Run; it prints nothing when nothing was
// skipped. To check it, hide the server: REKEY_POSTGRES_BIN=/nonexistent.
func PrintSkips() { skipreport.Print(Skips) }

// StartServer starts a new server and returns once it accepts a
// superuser login. The caller must call [Server.Stop]. On error nothing is
// left running or on disk. The error wraps [ErrUnavailable] when PostgreSQL
// cannot run on this machine at all.
func StartServer(optFns ...func(*Options)) (*Server, error) {
	opts := Options{OSUser: "postgres", StartTimeout: 10 * time.Second}
	for _, fn := range optFns {
		fn(&opts)
	}
	if opts.BinDir == "" {
		dir, err := Available()
		if err != nil {
			return nil, err
		}
		opts.BinDir = dir
	} else if !hasServerBinaries(opts.BinDir) {
		return nil, fmt.Errorf("%w: %s does not contain initdb and postgres", ErrUnavailable, opts.BinDir)
	}
	if opts.StartTimeout <= 0 {
		return nil, fmt.Errorf("pgtest: StartTimeout %v is not positive", opts.StartTimeout)
	}

	var cred *testserver.OSUser
	if os.Geteuid() == 0 {
		c, err := lookupOSUser(opts.OSUser)
		if err != nil {
			return nil, err
		}
		cred = c
	}

	// The server user owns the cluster's parent, in which initdb creates
	// DataDir.
	root, err := testserver.MkdirTemp("pgtest-", cred)
	if err != nil {
		return nil, fmt.Errorf("pgtest: %w", err)
	}
	s := &Server{
		Host:          "127.0.0.1",
		SuperUser:     "postgres",
		SuperPassword: rand.Text(),
		Database:      "postgres",
		DataDir:       filepath.Join(root, "data"),
		root:          root,
		logPath:       filepath.Join(root, "postgres.log"),
	}
	if err := s.start(opts, cred); err != nil {
		s.kill()
		return nil, errors.Join(err, os.RemoveAll(root))
	}
	return s, nil
}

func lookupOSUser(name string) (*testserver.OSUser, error) {
	u, err := testserver.LookupOSUser(name)
	if err != nil {
		return nil, fmt.Errorf("%w: running as root, and PostgreSQL refuses to run as root, but cannot run it as OS user %q: %v", ErrUnavailable, name, err)
	}
	return u, nil
}

func (s *Server) start(opts Options, cred *testserver.OSUser) error {
	if err := s.initdb(opts.BinDir, cred); err != nil {
		return err
	}

	// The free port is found by binding and closing, so another process may
	// take it before the postmaster binds; a bind failure then means a retry
	// on a new port, not an error.
	const attempts = 5
	for attempt := 1; ; attempt++ {
		port, err := testserver.FreePort()
		if err != nil {
			return fmt.Errorf("pgtest: %w", err)
		}
		s.Port = port
		err = s.run(opts, cred)
		if err == nil || !errors.Is(err, errAddrInUse) || attempt == attempts {
			return err
		}
	}
}

var errAddrInUse = errors.New("address in use")

func (s *Server) initdb(binDir string, cred *testserver.OSUser) error {
	pwfile := filepath.Join(s.root, "pwfile")
	if err := os.WriteFile(pwfile, []byte(s.SuperPassword+"\n"), 0o600); err != nil {
		return fmt.Errorf("pgtest: %w", err)
	}
	defer os.Remove(pwfile)
	if err := cred.Chown(pwfile); err != nil {
		return fmt.Errorf("pgtest: %w", err)
	}
	err := testserver.Run(time.Minute, cred, nil, filepath.Join(binDir, "initdb"),
		"--pgdata="+s.DataDir,
		"--username="+s.SuperUser,
		"--pwfile="+pwfile,
		"--auth=scram-sha-256",
		"--encoding=UTF8",
		"--locale=C",
		"--no-sync",
	)
	if err != nil {
		return fmt.Errorf("pgtest: %w", err)
	}
	return nil
}

// run starts the postmaster on s.Port and waits until it accepts a login.
func (s *Server) run(opts Options, cred *testserver.OSUser) error {
	logFile, err := os.Create(s.logPath)
	if err != nil {
		return fmt.Errorf("pgtest: %w", err)
	}
	defer logFile.Close() // the child has its own descriptor

	cmd := testserver.Command(filepath.Join(opts.BinDir, "postgres"),
		"-D", s.DataDir,
		"-p", strconv.Itoa(s.Port),
		"-c", "listen_addresses="+s.Host,
		// No Unix socket: nothing here uses it, and its path could exceed
		// the kernel's 107-byte limit under a long TMPDIR.
		"-c", "unix_socket_directories=",
		"-c", "fsync=off",
		"-c", "synchronous_commit=off",
		"-c", "full_page_writes=off",
		"-c", "max_connections=200",
		"-c", "shared_buffers=32MB",
	)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	proc, err := testserver.StartProcess(cmd, cred)
	if err != nil {
		return fmt.Errorf("pgtest: %w", err)
	}
	s.proc = proc

	if err := s.waitReady(opts.StartTimeout); err != nil {
		s.kill()
		log := testserver.LogTail(s.logPath)
		if bytes.Contains(log, []byte("could not bind")) || bytes.Contains(log, []byte("already in use")) {
			err = errors.Join(err, errAddrInUse)
		}
		return fmt.Errorf("%w\n%s", err, log)
	}
	return nil
}

// waitReady polls with real superuser logins until one succeeds.
func (s *Server) waitReady(timeout time.Duration) error {
	config, err := pgconn.ParseConfig(s.SuperDSN())
	if err != nil {
		return fmt.Errorf("pgtest: %w", err)
	}
	config.ConnectTimeout = time.Second
	err = testserver.WaitReady(timeout, s.proc.Exited(), fmt.Sprintf("postgres on port %d", s.Port), func(ctx context.Context) error {
		conn, err := pgconn.ConnectConfig(ctx, config)
		if err != nil {
			return err
		}
		return conn.Close(ctx)
	})
	if err != nil {
		return fmt.Errorf("pgtest: %w", err)
	}
	return nil
}

// Stop shuts the server down immediately and removes its temporary
// directory, including DataDir. It returns after the postmaster has exited.
// It is idempotent and safe for concurrent use; later calls return the
// first call's result.
func (s *Server) Stop() error {
	s.stopOnce.Do(func() {
		s.kill()
		s.stopErr = os.RemoveAll(s.root)
		if s.stopErr != nil {
			s.stopErr = fmt.Errorf("pgtest: %w", s.stopErr)
		}
	})
	return s.stopErr
}

// kill stops the postmaster, if one was started, and waits for it. The
// data is thrown away, so it asks for an immediate shutdown (SIGQUIT)
// instead of a checkpoint, and escalates to SIGKILL on the whole process
// group after 5s.
func (s *Server) kill() {
	if s.proc != nil {
		s.proc.Stop(syscall.SIGQUIT, 5*time.Second)
	}
}

// DSN returns a URL connection string for user and password on the
// server's database, e.g.
// postgres://user:password@127.0.0.1:5432/postgres?sslmode=disable.
// User and password are escaped, so any characters are allowed.
func (s *Server) DSN(user, password string) string {
	u := url.URL{
		Scheme:   "postgres",
		User:     url.UserPassword(user, password),
		Host:     net.JoinHostPort(s.Host, strconv.Itoa(s.Port)),
		Path:     "/" + s.Database,
		RawQuery: "sslmode=disable",
	}
	return u.String()
}

// SuperDSN returns DSN(s.SuperUser, s.SuperPassword).
func (s *Server) SuperDSN() string {
	return s.DSN(s.SuperUser, s.SuperPassword)
}

// ConnConfig returns a fresh pgx config parsed from DSN(user, password),
// which the caller may modify. It returns nil only if pgx rejects the
// environment it merges in (e.g. a malformed PGSERVICEFILE), never because
// of user or password.
func (s *Server) ConnConfig(user, password string) *pgx.ConnConfig {
	config, err := pgx.ParseConfig(s.DSN(user, password))
	if err != nil {
		return nil
	}
	return config
}

// Exec runs sql with args as the superuser on a connection of its own, and
// calls t.Fatal if that fails. Use it to create roles and tables in setup.
func (s *Server) Exec(t testing.TB, sql string, args ...any) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	config := s.ConnConfig(s.SuperUser, s.SuperPassword)
	if config == nil {
		t.Fatalf("pgtest: cannot build a connection config for %s", s.DSN(s.SuperUser, "xxxxx"))
	}
	conn, err := pgx.ConnectConfig(ctx, config)
	if err != nil {
		t.Fatalf("pgtest: connecting as superuser: %v", err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, sql, args...); err != nil {
		t.Fatalf("pgtest: exec %q: %v", sql, err)
	}
}
