package secretcache

import (
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"time"
)

// Defaults for Options fields left at their zero value.
const (
	DefaultTTL                  = 5 * time.Minute
	DefaultMaxEntries           = 1024
	DefaultMaxStale             = time.Hour
	DefaultRotationPollInterval = 5 * time.Second
	DefaultMinRefreshInterval   = time.Second
	DefaultJitter               = 0.1
	DefaultErrorBackoff         = time.Second
	DefaultMaxErrorBackoff      = 5 * time.Minute
	DefaultFetchTimeout         = 30 * time.Second
	DefaultPrimaryTimeout       = 800 * time.Millisecond
)

// Options configure a Cache. New copies DefaultOptions, applies the caller's
// functions to the copy and validates the result; the caller's values are
// never retained by reference except the Clients (primary and Replicas),
// Logger and hooks.
type Options struct {
	// TTL is how long a fetched stage mapping is served without any API
	// call. After TTL a read still returns the cached value at once and
	// starts one background refresh. math.MaxInt64 means never refresh.
	// Default 5m.
	TTL time.Duration

	// MaxEntries bounds the number of cached (secret, stage or version)
	// entries. Beyond it the least recently used entries, approximately,
	// are evicted. An entry holds at most two values: its current one and,
	// after a change, the one it replaced (so that a rollback costs no
	// GetSecretValue); at MaxValueSize that is 128 KiB per entry at worst.
	// Default 1024.
	MaxEntries int

	// MaxStale is how long past TTL a value may still be served while a
	// refresh is pending or failing. A read after TTL+MaxStale blocks on a
	// refresh. Zero means the default (1h); use a negative value to never
	// serve past TTL.
	MaxStale time.Duration

	// RotationPollInterval replaces TTL while DescribeSecret shows a
	// rotation in progress (AWSPENDING on a version other than
	// AWSCURRENT), so the end of a rotation is seen within this interval
	// of the next read. Default 5s.
	RotationPollInterval time.Duration

	// MinRefreshInterval bounds forced refreshes: Refresh within this
	// interval of the last successful fetch returns that fetch's result
	// without an API call. Default 1s; negative disables the bound.
	MinRefreshInterval time.Duration

	// Jitter spreads refresh deadlines and error backoffs uniformly by
	// ±Jitter of their length, so secrets cached together do not refresh
	// together. Default 0.1 (±10 %); negative means no jitter; at most 1.
	Jitter float64

	// ErrorBackoff is the wait before retrying a failed fetch; it doubles
	// with every consecutive failure up to MaxErrorBackoff. During the
	// wait reads are served from the last good value (or the cached error)
	// without an API call. Default 1s.
	ErrorBackoff time.Duration

	// MaxErrorBackoff caps ErrorBackoff's doubling. Default 5m.
	MaxErrorBackoff time.Duration

	// DescribeOnFirstFetch, when true, makes a first fetch of a stage
	// read (a cold (secret, stage) entry) also call DescribeSecret,
	// concurrently with its GetSecretValue, so that a rotation already in
	// progress is polled every RotationPollInterval from the first read
	// instead of only after the first refresh, and a NextRotationDate
	// before TTL is honoured from the start. It costs one DescribeSecret
	// per cold (secret, stage), none when a DescribeSecret of the secret
	// younger than MinRefreshInterval is known or DescribeSecret is
	// denied. Default false: a cold entry costs one GetSecretValue.
	DescribeOnFirstFetch bool

	// FetchTimeout bounds one shared fetch: all the API calls of one
	// refresh. The fetch runs detached from the context of the caller that
	// started it, so that caller's cancellation never fails the other
	// waiters. Default 30s.
	FetchTimeout time.Duration

	// Replicas are clients for Regions the secrets are replicated to,
	// tried in order when the primary Client fails with an outage error
	// (see IsOutage) or is in its outage backoff for the secret; never on
	// an answer such as AccessDeniedException or
	// ResourceNotFoundException. They serve first fetches, TTL and
	// rotation-poll refreshes and Refresh (GetSecretValue and
	// DescribeSecret alike); Prefetch reads the primary only. A secret id
	// that is a name is sent to a replica as is; an ARN is sent with its
	// Region field replaced by the replica's Region. A replica's answer is
	// cached like the primary's; Secret.Region says which Region served
	// it, and Stats.Failovers counts such answers. After an outage error
	// the primary is skipped for that secret for a backoff (ErrorBackoff
	// doubling to MaxErrorBackoff, at most the shortest jittered TTL),
	// then tried by one fetch per backoff period; as soon as it answers it
	// is preferred again. No replica's error is taken as an answer about
	// the secret (it may not be replicated there): if every replica fails,
	// the fetch fails with the primary's error, unwrappable with
	// errors.As, and a cached value is kept as after any failed refresh.
	// Hits never call a replica. nil: no failover.
	Replicas []Replica

	// PrimaryTimeout bounds each call to the primary Client when Replicas
	// is set, so that a hanging primary Region costs a read at most this
	// plus one replica round trip: with the defaults a cold read during a
	// primary outage completes within about 1s. FetchTimeout still bounds
	// the whole fetch and must be longer. Without Replicas it is unused.
	// Default 800ms; negative: no per-call bound.
	PrimaryTimeout time.Duration

	// Logger receives one line per notable event (a failed refresh, a
	// DescribeSecret permission fallback, a recovered OnChange panic, an
	// answer served by a replica Region).
	// Secret values are never logged. nil: no logging.
	Logger *slog.Logger

	// OnChange, if not nil, is called once for each move of a secret's
	// AWSCURRENT stage to a different version that the cache publishes (by
	// a refresh of any stage of the secret, Refresh or Prefetch), with the
	// secret id as passed and the old and new version ids. It is not
	// called when a value is first cached. Calls are made one at a time,
	// in the order the changes were published, on a goroutine the Cache
	// owns, after the new value is published and outside every fetch: no
	// reader waits for OnChange, and OnChange may call the Cache's
	// methods, Refresh and Get included, but not Close. It must not block
	// long: changes queue behind it, and Close waits for a call in
	// progress. A panic in it is recovered and logged with its stack;
	// delivery goes on, and Close returns the first such panic as an
	// error wrapping ErrCallbackPanic. nil: no goroutine is started.
	OnChange func(secretID, oldVersionID, newVersionID string)

	// OnEvent, if not nil, is called with each Event (API call, refresh
	// start and end, stale read, failure, failover), synchronously on the
	// goroutine that did the work, after the fact, and concurrently from
	// many goroutines: it must be safe for concurrent use and must not
	// block or call the Cache, because reads and fetches wait for it. A
	// fresh hit emits no event; a stale hit emits EventStale without
	// allocating. A panic in it is recovered and logged with its stack;
	// the work goes on as if OnEvent had returned, and Close returns the
	// first such panic (after any OnChange panic) wrapping
	// ErrCallbackPanic. It is a func of a value, not an interface with a
	// method per kind (pgx's tracers), so that a new kind is not a
	// breaking change and adapters (e.g. otelcache) compose by wrapping.
	// nil: no events, at the cost of one nil check.
	OnEvent func(Event)

	// clock, if not nil, is the source of the current time for TTLs,
	// MaxStale, backoff, rotation polling and NextRotationDate; rand, if
	// not nil, returns a uniform float64 in [0,1) for Jitter. Both are
	// called from many goroutines at once. They are unexported test seams,
	// set only by the package's tests (export_test.go). nil: the monotonic
	// clock and math/rand/v2.
	clock func() time.Time
	rand  func() float64
}

// DefaultOptions returns the Options New starts from.
func DefaultOptions() Options {
	return Options{
		TTL:                  DefaultTTL,
		MaxEntries:           DefaultMaxEntries,
		MaxStale:             DefaultMaxStale,
		RotationPollInterval: DefaultRotationPollInterval,
		MinRefreshInterval:   DefaultMinRefreshInterval,
		Jitter:               DefaultJitter,
		ErrorBackoff:         DefaultErrorBackoff,
		MaxErrorBackoff:      DefaultMaxErrorBackoff,
		FetchTimeout:         DefaultFetchTimeout,
		PrimaryTimeout:       DefaultPrimaryTimeout,
	}
}

// resolve fills zero fields with defaults, maps "negative means off" to
// zero and reports invalid combinations.
func (o *Options) resolve() error {
	d := DefaultOptions()
	if o.TTL == 0 {
		o.TTL = d.TTL
	}
	if o.MaxEntries == 0 {
		o.MaxEntries = d.MaxEntries
	}
	switch {
	case o.MaxStale == 0:
		o.MaxStale = d.MaxStale
	case o.MaxStale < 0:
		o.MaxStale = 0
	}
	if o.RotationPollInterval == 0 {
		o.RotationPollInterval = d.RotationPollInterval
	}
	switch {
	case o.MinRefreshInterval == 0:
		o.MinRefreshInterval = d.MinRefreshInterval
	case o.MinRefreshInterval < 0:
		o.MinRefreshInterval = 0
	}
	switch {
	case o.Jitter == 0:
		o.Jitter = d.Jitter
	case o.Jitter < 0:
		o.Jitter = 0
	}
	if o.ErrorBackoff == 0 {
		o.ErrorBackoff = d.ErrorBackoff
	}
	if o.MaxErrorBackoff == 0 {
		o.MaxErrorBackoff = max(d.MaxErrorBackoff, o.ErrorBackoff)
	}
	if o.FetchTimeout == 0 {
		o.FetchTimeout = d.FetchTimeout
	}
	switch {
	case o.PrimaryTimeout == 0:
		o.PrimaryTimeout = d.PrimaryTimeout
	case o.PrimaryTimeout < 0:
		o.PrimaryTimeout = 0
	}
	o.Replicas = slices.Clone(o.Replicas)
	var errs []error
	for i, r := range o.Replicas {
		if r.Client == nil || r.Region == "" {
			errs = append(errs, fmt.Errorf("secretcache: Replicas[%d] needs a Client and a Region", i))
		}
	}
	if len(o.Replicas) > 0 && o.PrimaryTimeout >= o.FetchTimeout {
		errs = append(errs, errors.New("secretcache: PrimaryTimeout must be shorter than FetchTimeout, or no time is left for a replica"))
	}
	if o.TTL < 0 {
		errs = append(errs, errors.New("secretcache: TTL must not be negative"))
	}
	if o.MaxEntries < 0 {
		errs = append(errs, errors.New("secretcache: MaxEntries must not be negative"))
	}
	if o.RotationPollInterval < 0 {
		errs = append(errs, errors.New("secretcache: RotationPollInterval must not be negative"))
	}
	if o.Jitter > 1 {
		errs = append(errs, errors.New("secretcache: Jitter must be at most 1"))
	}
	if o.ErrorBackoff < 0 || o.MaxErrorBackoff < o.ErrorBackoff {
		errs = append(errs, errors.New("secretcache: need 0 < ErrorBackoff <= MaxErrorBackoff"))
	}
	if o.FetchTimeout < 0 {
		errs = append(errs, errors.New("secretcache: FetchTimeout must not be negative"))
	}
	return errors.Join(errs...)
}
