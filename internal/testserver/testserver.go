// Package testserver holds what internal/pgtest and internal/mysqltest
// share to run a throwaway database server as a child process: a free
// loopback port, the unprivileged OS user a root process runs it as, a
// temporary directory that user can reach, the process's lifetime (its own
// process group, killed with the test binary), readiness polling, log
// tails, and the skip-or-fail decision of a test whose server cannot run.
//
// It knows no database engine; each engine package builds its command line
// and its login check on top of it.
package testserver

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"github.com/rekeyhq/rekey/internal/skipreport"
	"net"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"testing"
	"time"
)

// OSUser is the unprivileged operating-system user a root process runs a
// server as.
type OSUser struct {
	Name     string
	UID, GID uint32
}

// ErrRootUser is returned by LookupOSUser for a user whose uid is 0.
var ErrRootUser = errors.New("testserver: the OS user is root")

// LookupOSUser returns the OS user called name. The error wraps
// ErrRootUser if that user is root, and names the user in every case.
func LookupOSUser(name string) (*OSUser, error) {
	u, err := user.Lookup(name)
	if err != nil {
		return nil, fmt.Errorf("testserver: OS user %q was not found: %w", name, err)
	}
	uid, err := strconv.ParseUint(u.Uid, 10, 32)
	if err != nil {
		return nil, fmt.Errorf("testserver: OS user %q has non-numeric uid %q", name, u.Uid)
	}
	gid, err := strconv.ParseUint(u.Gid, 10, 32)
	if err != nil {
		return nil, fmt.Errorf("testserver: OS user %q has non-numeric gid %q", name, u.Gid)
	}
	if uid == 0 {
		return nil, fmt.Errorf("%w: %q", ErrRootUser, name)
	}
	return &OSUser{Name: name, UID: uint32(uid), GID: uint32(gid)}, nil
}

// Chown gives path to u; a nil u (the server runs as the current user)
// changes nothing.
func (u *OSUser) Chown(path string) error {
	if u == nil {
		return nil
	}
	if err := os.Chown(path, int(u.UID), int(u.GID)); err != nil {
		return fmt.Errorf("testserver: %w", err)
	}
	return nil
}

// MkdirTemp creates a temporary directory named pattern (as os.MkdirTemp)
// under os.TempDir for a server that runs as u, and gives it to u. When u
// is not nil, every directory from / down to os.TempDir must let other
// users through, because u must reach its data below it; otherwise the
// error says to set TMPDIR. The directory is 0700, so nobody but u and
// root can look in. The caller removes it.
func MkdirTemp(pattern string, u *OSUser) (string, error) {
	base := os.TempDir()
	if u != nil {
		if err := checkTraversable(base); err != nil {
			return "", err
		}
	}
	dir, err := os.MkdirTemp(base, pattern)
	if err != nil {
		return "", fmt.Errorf("testserver: %w", err)
	}
	if err := u.Chown(dir); err != nil {
		return "", errors.Join(err, os.RemoveAll(dir))
	}
	return dir, nil
}

// checkTraversable reports an error unless every directory from / down to
// dir lets other users through.
func checkTraversable(dir string) error {
	dir, err := filepath.Abs(dir)
	if err != nil {
		return fmt.Errorf("testserver: %w", err)
	}
	for d := dir; ; d = filepath.Dir(d) {
		fi, err := os.Stat(d)
		if err != nil {
			return fmt.Errorf("testserver: %w", err)
		}
		if fi.Mode().Perm()&0o001 == 0 {
			return fmt.Errorf("testserver: the server user cannot traverse %s (mode %v) to reach its data directory under %s; set TMPDIR to a directory such as /tmp", d, fi.Mode().Perm(), dir)
		}
		if d == filepath.Dir(d) {
			return nil
		}
	}
}

// FreePort returns a TCP port on 127.0.0.1 that was free a moment ago. It
// binds and closes, so another process may take it before the server
// binds: callers retry on a new port when the server reports it in use.
func FreePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("testserver: finding a free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// Tail returns the last 4 KiB of b, starting at a line boundary.
func Tail(b []byte) []byte {
	const max = 4 << 10
	if len(b) > max {
		b = b[len(b)-max:]
		if i := bytes.IndexByte(b, '\n'); i >= 0 {
			b = b[i+1:]
		}
	}
	return b
}

// LogTail returns the Tail of the file at path, or a note saying why it
// could not be read.
func LogTail(path string) []byte {
	b, err := os.ReadFile(path)
	if err != nil {
		return []byte("(no server log: " + err.Error() + ")")
	}
	return Tail(b)
}

// WaitReady calls login until it returns nil, every 10ms, each call with a
// context ending at the deadline timeout from now. It returns nil once
// login succeeds; an error naming what if exited is closed first (the
// server died); and, after the deadline, an error naming what and timeout
// that wraps login's last error. Polling with real logins rather than
// checking the port matters: servers listen before they accept sessions.
func WaitReady(timeout time.Duration, exited <-chan struct{}, what string, login func(context.Context) error) error {
	deadline := time.Now().Add(timeout)
	for {
		ctx, cancel := context.WithDeadline(context.Background(), deadline)
		err := login(ctx)
		cancel()
		if err == nil {
			return nil
		}
		select {
		case <-exited:
			return fmt.Errorf("%s exited during start-up", what)
		case <-time.After(10 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s did not accept a login within %v: %w", what, timeout, err)
		}
	}
}

// SkipOrFail ends t after err, a failure to start a server: when err wraps
// unavailable (the engine cannot run on this machine) and skips is not
// Required, it skips t through skips, so that the package's summary line
// counts it; otherwise it calls t.Fatal(err).
func SkipOrFail(t testing.TB, err, unavailable error, skips *skipreport.Counter) {
	t.Helper()
	SkipUnavailable(t, err, unavailable, skips)
	t.Fatal(err)
}

// SkipUnavailable skips t through skips when err wraps unavailable and
// skips is not Required; otherwise it returns and the caller fails t.
func SkipUnavailable(t testing.TB, err, unavailable error, skips *skipreport.Counter) {
	t.Helper()
	if errors.Is(err, unavailable) && !skips.Required() {
		skips.Skip(t, err.Error())
	}
}
