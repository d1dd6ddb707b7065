package secretcache

import (
	"context"
	"fmt"
	"log/slog"
	"runtime/debug"
)

// flight is one fetch of an entry, shared by every reader that wants it.
// It belongs to the entry instance, not to its key: a read after
// Invalidate or an eviction finds a new entry and so never joins a fetch
// that began before.
type flight struct {
	done chan struct{} // closed once sec and err are set
	sec  *Secret
	err  error
}

// startFlight returns e's running flight, starting one if none runs. The
// fetch runs on a goroutine that Close waits for, detached from the
// cancellation of parent (whose values, such as tracing, it keeps) and
// bounded by FetchTimeout and Close. After Close it returns a finished
// flight carrying ErrClosed.
func (c *Cache) startFlight(parent context.Context, e *entry, forced bool) *flight {
	for {
		if f := e.fl.Load(); f != nil {
			return f
		}
		f := &flight{done: make(chan struct{})}
		if !e.fl.CompareAndSwap(nil, f) {
			continue // another reader started one first
		}
		if !c.enter() {
			f.err = ErrClosed
			e.fl.CompareAndSwap(f, nil)
			close(f.done)
			return f
		}
		c.inflight.Add(1)
		go c.runFlight(context.WithoutCancel(parent), e, f, forced)
		return f
	}
}

func (c *Cache) runFlight(ctx context.Context, e *entry, f *flight, forced bool) {
	defer c.wg.Done()
	defer c.inflight.Add(-1)
	defer func() {
		// A panicking Client must not take the process down from a
		// goroutine the caller cannot guard; its waiters get an error.
		if r := recover(); r != nil {
			f.sec = nil
			f.err = fmt.Errorf("secretcache: fetching secret %q: Client %w: %v", e.id(), ErrCallbackPanic, r)
			c.log(slog.LevelError, "secretcache: Client panicked", slog.String("secret_id", e.id()),
				slog.Any("error", f.err), slog.String("stack", string(debug.Stack())))
		}
		e.fl.CompareAndSwap(f, nil)
		close(f.done)
	}()
	f.sec, f.err = c.fetchShared(ctx, e, forced)
}

// wait joins the flight of e, starting it if none runs, and returns its
// result, or ctx.Err() as soon as ctx ends, or ErrClosed once Close begins.
func (c *Cache) wait(ctx context.Context, e *entry, forced bool) (*Secret, error) {
	f := c.startFlight(ctx, e, forced)
	select {
	case <-f.done:
		return f.sec, f.err
	case <-ctx.Done():
		return nil, ctx.Err()
	case <-c.ctx.Done():
		return nil, ErrClosed
	}
}
