package testserver_test

import (
	"context"
	"errors"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/rekeyhq/rekey/internal/testserver"
)

func TestLookupOSUser(t *testing.T) {
	if _, err := testserver.LookupOSUser("root"); !errors.Is(err, testserver.ErrRootUser) {
		t.Errorf("LookupOSUser(root) = %v, want ErrRootUser", err)
	}
	_, err := testserver.LookupOSUser("testserver-no-such-user")
	if err == nil || !strings.Contains(err.Error(), "testserver-no-such-user") {
		t.Errorf("LookupOSUser(unknown) = %v, want an error naming the user", err)
	}
	if u, err := testserver.LookupOSUser("nobody"); err == nil && (u.Name != "nobody" || u.UID == 0) {
		t.Errorf("LookupOSUser(nobody) = %+v", u)
	}
}

func TestFreePortIsBindable(t *testing.T) {
	port, err := testserver.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
	if err != nil {
		t.Fatalf("FreePort() = %d, which cannot be bound: %v", port, err)
	}
	l.Close()
}

func TestWaitReady(t *testing.T) {
	never := make(chan struct{})
	t.Run("ready after failures", func(t *testing.T) {
		calls := 0
		err := testserver.WaitReady(5*time.Second, never, "server", func(context.Context) error {
			calls++
			if calls < 3 {
				return errors.New("not yet")
			}
			return nil
		})
		if err != nil || calls != 3 {
			t.Fatalf("WaitReady = %v after %d logins, want nil after 3", err, calls)
		}
	})
	t.Run("timeout wraps the last error", func(t *testing.T) {
		last := errors.New("refused")
		err := testserver.WaitReady(50*time.Millisecond, never, "server on port 1", func(context.Context) error { return last })
		if !errors.Is(err, last) || !strings.Contains(err.Error(), "server on port 1") {
			t.Fatalf("WaitReady = %v, want a timeout naming the server and wrapping %v", err, last)
		}
	})
	t.Run("server exited", func(t *testing.T) {
		exited := make(chan struct{})
		close(exited)
		began := time.Now()
		err := testserver.WaitReady(time.Minute, exited, "server", func(context.Context) error { return errors.New("refused") })
		if err == nil || !strings.Contains(err.Error(), "exited") || time.Since(began) > time.Second {
			t.Fatalf("WaitReady = %v after %v, want at once an error saying the server exited", err, time.Since(began))
		}
	})
}

// Stop ends a process that ignores the polite signal by killing its
// group, and every call returns after it exited.
func TestProcessStopEscalates(t *testing.T) {
	if _, err := exec.LookPath("sh"); err != nil {
		t.Skip("no sh")
	}
	p, err := testserver.StartProcess(exec.Command("sh", "-c", "trap '' TERM; sleep 60 & wait"), nil)
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(100 * time.Millisecond) // let the trap be set
	began := time.Now()
	p.Stop(syscall.SIGTERM, 200*time.Millisecond)
	p.Stop(syscall.SIGTERM, 200*time.Millisecond)
	select {
	case <-p.Exited():
	default:
		t.Fatal("Stop returned before the process exited")
	}
	if took := time.Since(began); took > 5*time.Second {
		t.Errorf("Stop took %v", took)
	}
	// The group's other member (sleep) was killed too; it may take its
	// new parent a moment to reap it.
	deadline := time.Now().Add(2 * time.Second)
	for syscall.Kill(-p.Pid(), 0) == nil {
		if time.Now().After(deadline) {
			t.Fatalf("process group %d still has members 2s after Stop", p.Pid())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestMkdirTempForCurrentUser(t *testing.T) {
	dir, err := testserver.MkdirTemp("ts-", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(dir)
	fi, err := os.Stat(dir)
	if err != nil || fi.Mode().Perm() != 0o700 {
		t.Fatalf("MkdirTemp made %s with mode %v (%v), want 0700", dir, fi.Mode().Perm(), err)
	}
}
