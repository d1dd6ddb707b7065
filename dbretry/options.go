package dbretry

import (
	"log/slog"
	"time"
)

// Defaults for Options fields left at their zero value.
const (
	DefaultRetryBudget = 30 * time.Second
	DefaultMinBackoff  = 50 * time.Millisecond
	DefaultMaxBackoff  = time.Second
)

// minResolveInterval bounds how often the same failed version sends the
// Source back to Secrets Manager, so that credentials which all fail (a
// password changed outside rotation) cost at most a few API calls a second.
const minResolveInterval = time.Second

// Options configure a Source. NewSource copies DefaultOptions, applies the
// caller's functions to the copy and fixes out-of-range values as each
// field says.
type Options struct {
	// RetryBudget bounds how long one connect keeps retrying after its
	// first authentication failure; after it the connect fails with a
	// *RetryError. The caller's context can end it sooner. Zero or
	// negative: the default, 30s.
	RetryBudget time.Duration

	// MinBackoff is the first wait before a new connect attempt when no
	// other credentials were found; the wait doubles with each attempt up
	// to MaxBackoff, and each wait is drawn uniformly from its upper half.
	// No wait precedes an attempt with newly found credentials. Zero or
	// negative: the default, 50ms.
	MinBackoff time.Duration

	// MaxBackoff caps the backoff. Zero or negative: the default, 1s;
	// below MinBackoff it is raised to MinBackoff.
	MaxBackoff time.Duration

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
	OnSwitch func(secretID, fromVersionID, toVersionID, stage string)
}

// DefaultOptions returns the Options NewSource starts from.
func DefaultOptions() Options {
	return Options{
		RetryBudget: DefaultRetryBudget,
		MinBackoff:  DefaultMinBackoff,
		MaxBackoff:  DefaultMaxBackoff,
		TryPending:  true,
	}
}

func (o *Options) resolve() {
	if o.RetryBudget <= 0 {
		o.RetryBudget = DefaultRetryBudget
	}
	if o.MinBackoff <= 0 {
		o.MinBackoff = DefaultMinBackoff
	}
	if o.MaxBackoff <= 0 {
		o.MaxBackoff = DefaultMaxBackoff
	}
	o.MaxBackoff = max(o.MaxBackoff, o.MinBackoff)
}
