package testserver

import (
	"os"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/rekeyhq/rekey/internal/skipreport"
)

// Stopper is a test server: Stop stops it and removes what it left on disk.
type Stopper interface{ Stop() error }

// Shared is one server for a whole test package, started by the first
// test that asks for it and stopped by Main after the last, so that a
// package whose tests need no server starts none.
type Shared[S Stopper] struct {
	get     func() (S, error)
	started atomic.Bool
}

// NewShared returns a Shared whose server start starts.
func NewShared[S Stopper](start func() (S, error)) *Shared[S] {
	sh := &Shared[S]{}
	sh.get = sync.OnceValues(func() (S, error) {
		sh.started.Store(true)
		return start()
	})
	return sh
}

// Get starts the server on its first call and returns it, or that start's
// error, to every call.
func (sh *Shared[S]) Get() (S, error) { return sh.get() }

// Main is a whole TestMain: it runs the tests, prints the counters'
// summaries (skipreport.Print), stops the server if a test started it and
// exits with the tests' code.
func (sh *Shared[S]) Main(m *testing.M, skips ...*skipreport.Counter) {
	code := m.Run()
	skipreport.Print(skips...)
	if sh.started.Load() {
		if s, err := sh.get(); err == nil {
			s.Stop() //nolint:errcheck // nothing to report to after m.Run
		}
	}
	os.Exit(code)
}
