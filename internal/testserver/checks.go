package testserver

import (
	"errors"
	"net"
	"os"
	"sync"
	"testing"
	"time"
)

// Checks are the behaviours every engine's test-server package (pgtest,
// mysqltest) asserts of its Server, against real servers, so that both
// are held to one definition.
type Checks[S Stopper] struct {
	// Start starts a server: the package's StartServer.
	Start func() (S, error)
	// Require skips the test, counting the skip, or fails it, as the
	// package's Start does when the engine is unavailable.
	Require func(testing.TB)
	// Addr and DataDir read a server's host:port and data directory.
	Addr    func(S) string
	DataDir func(S) string
	// Login logs in to s as the superuser whose password is
	// passwordOf's, returning nil only when s accepted the login.
	Login func(t *testing.T, s, passwordOf S) error
}

// StopRemovesEverything starts a server, stops it from two goroutines at
// once and then again, and checks that each Stop returns nil, the data
// directory is gone and nothing listens on the port any more.
func (c Checks[S]) StopRemovesEverything(t *testing.T) {
	t.Parallel()
	c.Require(t)
	s, err := c.Start()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(c.DataDir(s)); err != nil {
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

	if _, err := os.Stat(c.DataDir(s)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("data dir after Stop: Stat error = %v, want ErrNotExist", err)
	}
	// Nothing listens on the port once Stop has returned.
	conn, err := net.DialTimeout("tcp", c.Addr(s), time.Second)
	if err == nil {
		conn.Close()
		t.Errorf("%s still accepts connections after Stop", c.Addr(s))
	}
}

// ConcurrentServersAreIndependent starts three servers at once and checks
// that each has its own port and accepts only its own superuser password.
func (c Checks[S]) ConcurrentServersAreIndependent(t *testing.T) {
	t.Parallel()
	c.Require(t)
	const n = 3
	servers := make([]S, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			s, err := c.Start()
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

	addrs := map[string]bool{}
	for i, s := range servers {
		if addrs[c.Addr(s)] {
			t.Fatalf("two servers share %s", c.Addr(s))
		}
		addrs[c.Addr(s)] = true
		// A server only knows its own password.
		if err := c.Login(t, s, servers[(i+1)%n]); err == nil {
			t.Errorf("server %d accepted server %d's password", i, (i+1)%n)
		}
		if err := c.Login(t, s, s); err != nil {
			t.Errorf("server %d: %v", i, err)
		}
	}
}

// BenchmarkStart measures what starting a server costs a test: the
// bootstrap, start-up and the first successful login. Stopping is not
// timed.
func (c Checks[S]) BenchmarkStart(b *testing.B) {
	c.Require(b)
	for b.Loop() {
		s, err := c.Start()
		if err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		if err := s.Stop(); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
	}
}
