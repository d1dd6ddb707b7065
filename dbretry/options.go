package dbretry

import (
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"time"
)

// Defaults for Options fields left at their zero value.
const (
	DefaultRetryBudget = 30 * time.Second
	DefaultMinBackoff  = 50 * time.Millisecond
	DefaultMaxBackoff  = time.Second
	// DefaultRereadInterval matches secretcache's default
	// MinRefreshInterval: re-reading more often would only be answered
	// from the cache.
	DefaultRereadInterval = time.Second
)

// Options configure a Source. NewSource copies DefaultOptions, applies the
// caller's functions to the copy, fills zero fields with defaults and
// returns an error for invalid values, as each field says.
type Options struct {
	// RetryBudget bounds how long one connect keeps retrying after its
	// first authentication failure; after it the connect fails with a
	// *RetryError. The caller's context can end it sooner. Zero: the
	// default, 30s; negative: NewSource fails.
	RetryBudget time.Duration

	// MinBackoff is the first wait before a new connect attempt when no
	// other credentials were found; the wait doubles with each attempt up
	// to MaxBackoff, and each wait is drawn uniformly from its upper half.
	// No wait precedes an attempt with newly found credentials. Zero: the
	// default, 50ms; negative: NewSource fails.
	MinBackoff time.Duration

	// MaxBackoff caps the backoff. Zero: the default, 1s; negative:
	// NewSource fails; below MinBackoff it is raised to MinBackoff (so that
	// raising MinBackoff alone above 1s needs no MaxBackoff).
	MaxBackoff time.Duration

	// RereadInterval is the least time between two re-reads of the secret
	// after refusals of the same version, so that credentials which all
	// fail (a password changed outside rotation) cost at most a few API
	// calls per interval. Keep it at or above the cache's
	// MinRefreshInterval, within which Cache.Refresh makes no API call.
	// Zero: the default, 1s; negative: no bound.
	RereadInterval time.Duration

	// TryPending makes the Source, when AWSCURRENT was refused and has not
	// changed, use the AWSPENDING version if the secret has one: the
	// window of a single-user rotation, after setSecret changed the
	// password and before finishSecret moves AWSCURRENT. Default true.
	TryPending bool

	// Logger receives one record per credential switch, per search for new
	// credentials and per failure to read the secret. Records name the
	// secret and versions, never a password. nil: no logging.
	Logger *slog.Logger

	// OnSwitch, if not nil, is called each time the Source starts handing
	// out credentials of another version than before, with the secret id,
	// the old and new version ids and the stage the new version was read
	// as (AWSCURRENT or AWSPENDING). It is not called for the first
	// credentials. It runs synchronously on the goroutine of the connect
	// that observed the switch, so it should be quick; it may call the
	// Source.
	//
	// A panic in OnSwitch is recovered and logged with its stack at
	// LevelError; the connect goes on as if OnSwitch had returned.
	OnSwitch func(secretID, fromVersionID, toVersionID, stage string)

	// OnEvent, if not nil, is called with each Event: every refused
	// login (EventAuthFailure) and every credential switch
	// (EventCredentialSwitch, before OnSwitch). It runs synchronously on
	// the goroutine of the connect, after the fact, concurrently from
	// many connects: it must be safe for concurrent use and must not
	// block, since the connect waits for it. A panic in it is recovered
	// and logged with its stack at LevelError; the connect goes on as if
	// OnEvent had returned. nil: no events, at the cost of one nil check.
	// The Cache's own events are secretcache.Options.OnEvent.
	OnEvent func(Event)

	// clock is the source of the current time for the retry budget and
	// RereadInterval (the waits themselves are timers); rand returns a
	// uniform float64 in [0,1) to spread the backoff. Both must be safe
	// for concurrent use. They are unexported test seams, set only by the
	// package's tests (export_test.go). nil: time.Now and math/rand/v2.
	clock func() time.Time
	rand  func() float64
}

// DefaultOptions returns the Options NewSource starts from.
func DefaultOptions() Options {
	return Options{
		RetryBudget:    DefaultRetryBudget,
		MinBackoff:     DefaultMinBackoff,
		MaxBackoff:     DefaultMaxBackoff,
		RereadInterval: DefaultRereadInterval,
		TryPending:     true,
	}
}

// resolve fills zero fields with defaults and reports invalid values,
// every one of them, in errors whose messages start with "dbretry: ".
func (o *Options) resolve() error {
	var errs []error
	for _, f := range []struct {
		name string
		v    time.Duration
	}{{"RetryBudget", o.RetryBudget}, {"MinBackoff", o.MinBackoff}, {"MaxBackoff", o.MaxBackoff}} {
		if f.v < 0 {
			errs = append(errs, fmt.Errorf("dbretry: Options.%s %v is negative", f.name, f.v))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return err
	}
	if o.RetryBudget == 0 {
		o.RetryBudget = DefaultRetryBudget
	}
	if o.MinBackoff == 0 {
		o.MinBackoff = DefaultMinBackoff
	}
	if o.MaxBackoff == 0 {
		o.MaxBackoff = DefaultMaxBackoff
	}
	o.MaxBackoff = max(o.MaxBackoff, o.MinBackoff)
	if o.RereadInterval == 0 {
		o.RereadInterval = DefaultRereadInterval
	}
	if o.clock == nil {
		o.clock = time.Now
	}
	if o.rand == nil {
		o.rand = rand.Float64
	}
	return nil
}
