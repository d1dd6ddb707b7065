package secretcache

import (
	"fmt"
	"log/slog"
	"runtime/debug"
)

// change is one observed move of a secret's AWSCURRENT stage.
type change struct{ id, oldVersion, newVersion string }

// enqueueLocked queues ch for Options.OnChange. c.changeMu must be held:
// the caller publishes the new state under the same lock, so changes are
// queued in the order they were published.
func (c *Cache) enqueueLocked(ch change) {
	c.changes = append(c.changes, ch)
	c.notes.Add(1)
	select {
	case c.changeWake <- struct{}{}:
	default: // a wake-up is already pending
	}
}

// deliver calls OnChange for each queued change, in order, one at a time,
// on the goroutine New started. It stops when Close begins, dropping what
// is still queued. OnChange runs outside every fetch, so it may call the
// Cache (except Close) without deadlocking.
func (c *Cache) deliver() {
	defer c.wg.Done()
	for {
		select {
		case <-c.changeWake:
		case <-c.ctx.Done():
			return
		}
		for c.ctx.Err() == nil {
			c.changeMu.Lock()
			if len(c.changes) == 0 {
				c.changes = nil // let a burst's backing array go
				c.changeMu.Unlock()
				break
			}
			ch := c.changes[0]
			c.changes = c.changes[1:]
			c.changeMu.Unlock()
			c.callOnChange(ch)
			c.notes.Add(-1)
		}
	}
}

// callOnChange calls OnChange, recovering a panic: the panic is logged
// with its stack, and the first one is kept for Close to return.
func (c *Cache) callOnChange(ch change) {
	defer func() {
		r := recover()
		if r == nil {
			return
		}
		err := fmt.Errorf("secretcache: OnChange for secret %q (version %s to %s): %w: %v",
			ch.id, ch.oldVersion, ch.newVersion, ErrCallbackPanic, r)
		c.log(slog.LevelError, "secretcache: OnChange panicked", slog.String("secret_id", ch.id),
			slog.Any("error", err), slog.String("stack", string(debug.Stack())))
		c.changeMu.Lock()
		if c.callbackErr == nil {
			c.callbackErr = err
		}
		c.changeMu.Unlock()
	}()
	c.opts.OnChange(ch.id, ch.oldVersion, ch.newVersion)
}
