package secretcache

import (
	"errors"
	"fmt"
	"log/slog"
	"runtime/debug"
	"time"

	"github.com/aws/smithy-go"
)

// EventKind says what an Event reports.
type EventKind uint8

// The kinds of Event. More may be added; a hook should ignore kinds it
// does not know.
const (
	// EventFetch: one API call ended. Op, SecretID (empty for
	// BatchGetSecretValue, which names many), Duration of the call, and
	// Err and ErrorCode if it failed. SDK retries within the call are not
	// reported apart.
	EventFetch EventKind = iota + 1
	// EventRefreshStart: a fetch of an entry (first fetch, background or
	// forced refresh) begins. SecretID, Stage.
	EventRefreshStart
	// EventRefreshEnd: that fetch ended. SecretID, Stage, Duration (of
	// all its API calls), VersionID served (if it succeeded), Changed (the
	// entry held a value of another version before), Err and ErrorCode.
	EventRefreshEnd
	// EventStale: a read was served a value past its freshness deadline
	// (Stats.StaleHits). SecretID, Stage, Duration past the deadline.
	EventStale
	// EventError: a fetch or a Prefetch of one secret failed
	// (Stats.Errors). SecretID, Stage, Op, Err, ErrorCode.
	EventError
	// EventFailover: a read was served from a replica Region because the
	// primary failed. SecretID, FromRegion, ToRegion, Err (the primary's
	// failure), ErrorCode.
	EventFailover
)

var eventKindNames = [...]string{
	EventFetch:        "fetch",
	EventRefreshStart: "refresh_start",
	EventRefreshEnd:   "refresh_end",
	EventStale:        "stale",
	EventError:        "error",
	EventFailover:     "failover",
}

// String returns the kind's lower-case name, e.g. "refresh_end".
func (k EventKind) String() string {
	if int(k) < len(eventKindNames) && eventKindNames[k] != "" {
		return eventKindNames[k]
	}
	return fmt.Sprintf("EventKind(%d)", uint8(k))
}

// Event is one thing a Cache did, passed to Options.OnEvent by value.
// Fields that do not apply to Kind are zero (see each EventKind). An Event
// never holds a secret value: only ids, stage names, version ids, times
// and errors, which name secrets but never quote values.
type Event struct {
	Kind EventKind
	// SecretID is the secret id as passed to the Cache.
	SecretID string
	// Stage is the staging label the entry reads, or the version id for a
	// WithVersionID entry.
	Stage string
	// Op is the API operation: "GetSecretValue", "DescribeSecret" or
	// "BatchGetSecretValue".
	Op string
	// Duration: see the kind. Measured on the cache's clock.
	Duration time.Duration
	// VersionID is the version a refresh published.
	VersionID string
	// Changed reports that a refresh published another version than the
	// entry held.
	Changed bool
	// Err is the failure; for EventRefreshEnd and EventError the
	// *FetchError readers get.
	Err error
	// ErrorCode is the AWS error code of Err (smithy.APIError's
	// ErrorCode, e.g. "ThrottlingException"), or "" if Err is nil or
	// did not come from the service.
	ErrorCode string
	// FromRegion and ToRegion are the Regions of a failover.
	FromRegion, ToRegion string
}

// errorCode returns the AWS error code in err's chain, or "".
func errorCode(err error) string {
	if err == nil {
		return "" // before api is declared: &api escapes, so it is a heap allocation
	}
	var api smithy.APIError
	if errors.As(err, &api) {
		return api.ErrorCode()
	}
	return ""
}

// emit passes ev to Options.OnEvent, if set. It is small enough to be
// inlined, so an unset hook costs one nil check.
func (c *Cache) emit(ev Event) {
	if c.opts.OnEvent != nil {
		c.callOnEvent(ev)
	}
}

// callOnEvent fills in ev's ErrorCode and calls OnEvent, recovering a
// panic: the panic is logged with its stack and the first one is kept for
// Close to return. The event's operation goes on as if the hook had
// returned.
func (c *Cache) callOnEvent(ev Event) {
	if ev.Err != nil && ev.ErrorCode == "" {
		ev.ErrorCode = errorCode(ev.Err)
	}
	defer func() {
		r := recover()
		if r == nil {
			return
		}
		err := fmt.Errorf("secretcache: OnEvent for %s event of secret %q: %w: %v", ev.Kind, ev.SecretID, ErrCallbackPanic, r)
		c.log(slog.LevelError, "secretcache: OnEvent panicked", slog.String("secret_id", ev.SecretID),
			slog.Any("error", err), slog.String("stack", string(debug.Stack())))
		c.eventPanic.CompareAndSwap(nil, &err)
	}()
	c.opts.OnEvent(ev)
}

// eventClock returns the cache clock if OnEvent is set, for an event's
// Duration, else 0 without reading the clock.
func (c *Cache) eventClock() int64 {
	if c.opts.OnEvent == nil {
		return 0
	}
	return c.now()
}

// emitFetch reports an API call on secret id (empty for a batch) that
// began at began.
func (c *Cache) emitFetch(op, id string, began int64, err error) {
	if c.opts.OnEvent != nil {
		c.callOnEvent(Event{Kind: EventFetch, SecretID: id, Op: op, Duration: time.Duration(c.now() - began), Err: err})
	}
}

// emitRefreshEnd reports the end of a fetch of e that started from state
// st and returned sec, err.
func (c *Cache) emitRefreshEnd(e *entry, st *state, sec *Secret, err error, began int64) {
	if c.opts.OnEvent == nil {
		return
	}
	ev := Event{Kind: EventRefreshEnd, SecretID: e.id(), Stage: e.sel(), Duration: time.Duration(c.now() - began), Err: err}
	if sec != nil {
		ev.VersionID = sec.versionID
		if st != nil {
			if old := st.value(); old != nil && old.versionID != sec.versionID {
				ev.Changed = true
			}
		}
	}
	c.callOnEvent(ev)
}

// emitRefreshStart reports the start of a fetch of e and returns when it
// began, for emitRefreshEnd; without a hook it reads no clock.
func (c *Cache) emitRefreshStart(e *entry) int64 {
	if c.opts.OnEvent == nil {
		return 0
	}
	began := c.now()
	c.callOnEvent(Event{Kind: EventRefreshStart, SecretID: e.id(), Stage: e.sel()})
	return began
}
