package testserver_test

import (
	"errors"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/rekeyhq/rekey/internal/testserver"
)

type fakeServer struct{ stops atomic.Int32 }

func (f *fakeServer) Stop() error { f.stops.Add(1); return nil }

// Get starts the server once, however many tests ask at once, and hands
// the same server (or the same error) to all.
func TestSharedStartsOnce(t *testing.T) {
	var starts atomic.Int32
	srv := &fakeServer{}
	sh := testserver.NewShared(func() (*fakeServer, error) { starts.Add(1); return srv, nil })
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			if s, err := sh.Get(); s != srv || err != nil {
				t.Errorf("Get = %p, %v; want %p, nil", s, err, srv)
			}
		})
	}
	wg.Wait()
	if n := starts.Load(); n != 1 {
		t.Fatalf("start ran %d times, want 1", n)
	}

	errStart := errors.New("no server here")
	starts.Store(0)
	failing := testserver.NewShared(func() (*fakeServer, error) { starts.Add(1); return nil, errStart })
	for range 2 {
		if _, err := failing.Get(); !errors.Is(err, errStart) {
			t.Fatalf("Get = %v, want the start error", err)
		}
	}
	if n := starts.Load(); n != 1 {
		t.Fatalf("a failed start ran %d times, want 1 (no retry per test)", n)
	}
}
