package secretcache

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/rekeyhq/rekey/internal/nilcheck"
)

// Client is the part of the Secrets Manager API the cache uses.
// *secretsmanager.Client satisfies it.
type Client interface {
	GetSecretValue(ctx context.Context, params *secretsmanager.GetSecretValueInput, optFns ...func(*secretsmanager.Options)) (*secretsmanager.GetSecretValueOutput, error)
	DescribeSecret(ctx context.Context, params *secretsmanager.DescribeSecretInput, optFns ...func(*secretsmanager.Options)) (*secretsmanager.DescribeSecretOutput, error)
	BatchGetSecretValue(ctx context.Context, params *secretsmanager.BatchGetSecretValueInput, optFns ...func(*secretsmanager.Options)) (*secretsmanager.BatchGetSecretValueOutput, error)
}

var _ Client = (*secretsmanager.Client)(nil)

// Cache is an in-memory cache of Secrets Manager secrets, keyed by the
// secret id as passed (a name and an ARN of the same secret are cached
// separately) and by stage or version id. It is safe for concurrent use.
// See the package documentation for the model and costs.
type Cache struct {
	client   Client
	opts     Options
	maxStale int64     // opts.MaxStale, typed for the hit path
	base     time.Time // origin of the cache's nanosecond clock
	ix       *index

	// ctx is cancelled by Close; shared fetches stop with it.
	ctx    context.Context
	cancel context.CancelFunc

	lifeMu    sync.Mutex // orders wg.Add against Close's wg.Wait
	closed    atomic.Bool
	closeOnce sync.Once
	wg        sync.WaitGroup // flights and the OnChange goroutine
	inflight  atomic.Int64   // flights running, for tests

	// deniedMu guards denied: the secret ids whose DescribeSecret was
	// denied. It is per secret, not per entry, so the fallback and its one
	// log line survive the eviction or Invalidate of any one entry.
	deniedMu sync.Mutex
	denied   map[string]struct{}

	// metaMu guards labels and recent, what the cache knows of a secret
	// beyond its entries. Both are bounded; forgetting costs at most an
	// API call.
	metaMu sync.Mutex
	// labels holds, per secret id, the custom staging labels read with
	// WithStage (not the AWS ones), so that a DescribeSecret answer can
	// repoint their entries even once the label is gone.
	labels map[string][]string
	// recent holds, per secret id, the last DescribeSecret answer while
	// it is younger than MinRefreshInterval, for first fetches of other
	// stages; expired answers are purged when recentCap is reached.
	recent    map[string]described
	recentCap int

	// changeMu guards changes and callbackErr, and orders the publishing
	// of a moved AWSCURRENT with its queueing, so OnChange sees changes in
	// the order they were published.
	changeMu    sync.Mutex
	changes     []change
	callbackErr error                 // the first OnChange panic, for Close
	eventPanic  atomic.Pointer[error] // the first OnEvent panic, for Close
	changeWake  chan struct{}         // capacity 1: wakes deliver
	notes       atomic.Int64          // changes queued or being delivered, for tests

	hits                         stripedCounter
	staleHits, misses, negHits   atomic.Uint64
	refreshes, errors, evictions atomic.Uint64
	callsGet, callsDescribe      atomic.Uint64
	callsBatch                   atomic.Uint64
	failovers                    atomic.Uint64

	fo failover // primary Region outages, with Options.Replicas
}

// state is what an entry knows at one moment. It is immutable once
// published; times are nanoseconds on the cache's clock.
type state struct {
	sec *Secret // last good value; nil if none
	// prev is the value sec replaced, kept so that a rollback of the stage
	// needs no GetSecretValue. It costs at most one more value per entry,
	// and only after a change.
	prev    *Secret
	err     error // last failure; with sec nil, a negative-cache entry
	fetched int64 // when the fetch that produced sec began
	fresh   int64 // serve sec without refresh until then
	retry   int64 // after a failure: no API call until then
	fails   int32 // consecutive failures
	pending bool  // a rotation was in progress at the last check
	// moved means a DescribeSecret answered for another entry showed this
	// entry's stage on a version not cached: sec is nil, so reads wait
	// for a fetch, and prev holds the value the stage pointed to, served
	// only if that fetch fails (stale-if-error).
	moved bool
}

// value returns the value st's stage pointed to: sec, or for a moved
// entry the value it pointed to before it moved.
func (st *state) value() *Secret {
	if st.moved {
		return st.prev
	}
	return st.sec
}

// described is a DescribeSecret answer and when the call began.
type described struct {
	out *secretsmanager.DescribeSecretOutput
	at  int64
}

// New returns a Cache reading through client. It returns an error if client
// is nil or holds a nil pointer (e.g. a nil *secretsmanager.Client), or if
// the options are invalid. New makes no API call. The caller must
// Close the Cache to stop its background refreshes and, if OnChange is set,
// the goroutine that calls it.
func New(client Client, optFns ...func(*Options)) (*Cache, error) {
	if nilcheck.IsNil(client) {
		return nil, errors.New("secretcache: nil Client")
	}
	o := DefaultOptions()
	for _, fn := range optFns {
		fn(&o)
	}
	if err := o.resolve(); err != nil {
		return nil, err
	}
	c := &Cache{client: client, opts: o, maxStale: int64(o.MaxStale), ix: newIndex(), denied: map[string]struct{}{},
		labels: map[string][]string{}, recent: map[string]described{}, recentCap: minRecentCap}
	if o.clock != nil {
		c.base = o.clock()
	} else {
		c.base = time.Now()
	}
	c.ctx, c.cancel = context.WithCancel(context.Background())
	if o.OnChange != nil {
		c.changeWake = make(chan struct{}, 1)
		c.wg.Add(1)
		go c.deliver()
	}
	return c, nil
}

// now returns the cache clock in nanoseconds. Without a test clock it
// reads only the monotonic clock, which is about half the cost of
// time.Now.
func (c *Cache) now() int64 {
	if c.opts.clock != nil {
		return int64(c.opts.clock().Sub(c.base))
	}
	return int64(time.Since(c.base))
}

// at converts a wall time to the cache clock.
func (c *Cache) at(t time.Time) int64 { return int64(t.Sub(c.base)) }

// GetOption selects which version of a secret Get returns. The zero value
// selects AWSCURRENT.
type GetOption struct {
	stage     string
	versionID string
}

// WithStage selects the version that the staging label stage is attached
// to. The default is AWSCURRENT.
func WithStage(stage string) GetOption { return GetOption{stage: stage} }

// WithVersionID selects the version with this id. Versions are immutable,
// so such an entry is fetched once and never refreshed. It takes
// precedence over WithStage.
func WithVersionID(id string) GetOption { return GetOption{versionID: id} }

// appendKey appends the entry key for a read to dst and returns it with
// the flags a new entry gets.
func appendKey(dst []byte, secretID string, opts []GetOption) ([]byte, uint32) {
	stage, version := StageCurrent, ""
	for _, o := range opts {
		if o.versionID != "" {
			version = o.versionID
		} else if o.stage != "" {
			stage = o.stage
		}
	}
	dst = append(dst, secretID...)
	switch {
	case version != "":
		return append(append(dst, sepVersion...), version...), flagByVersion
	case stage == StageCurrent:
		return dst, 0
	default:
		return append(append(dst, sepStage...), stage...), 0
	}
}

// Get returns the secret's AWSCURRENT version, or the one opts select.
//
// A fresh hit takes no lock, makes no API call and allocates nothing.
// Past its freshness deadline (TTL, or sooner during a rotation) and
// within MaxStale, Get returns the cached value at once and starts one
// background refresh. Otherwise it waits for a fetch shared with every
// concurrent reader of the same entry; if ctx ends first it returns
// ctx.Err() at once while the fetch goes on for the others. A first fetch
// costs one GetSecretValue (plus, concurrently, one DescribeSecret with
// Options.DescribeOnFirstFetch). A first fetch of a stage shortly after a
// DescribeSecret of the same secret (within MinRefreshInterval, e.g. just
// after Refresh) uses that answer instead: no API call if the version the
// stage points to is cached, else one GetSecretValue by VersionId, and
// the not-found error without an API call if the stage does not exist. A
// failed fetch is returned as a *FetchError and is cached for the error
// backoff, during which Get returns it without an API call. After Close,
// Get returns ErrClosed.
func (c *Cache) Get(ctx context.Context, secretID string, opts ...GetOption) (*Secret, error) {
	if len(opts) > 0 {
		return c.getWith(ctx, secretID, opts)
	}
	if c.closed.Load() {
		return nil, ErrClosed
	}
	if s, err, ok := c.hit(c.ix.load(secretID), secretID); ok {
		return s, err
	}
	return c.getSlow(ctx, secretID, secretID, 0)
}

// getWith is Get with options, kept apart so that the default read does not
// pay for the key buffer.
func (c *Cache) getWith(ctx context.Context, secretID string, opts []GetOption) (*Secret, error) {
	if c.closed.Load() {
		return nil, ErrClosed
	}
	var buf [128]byte // keeps the key off the heap on a hit
	kb, flags := appendKey(buf[:0], secretID, opts)
	if s, err, ok := c.hit(c.ix.loadBytes(kb), secretID); ok {
		return s, err
	}
	return c.getSlow(ctx, secretID, string(kb), flags)
}

// hit answers a read from e's published state if it can: fresh, stale
// (starting a background refresh) or a cached error in its backoff.
func (c *Cache) hit(e *entry, secretID string) (*Secret, error, bool) {
	// The idLen check keeps an id containing a key separator from reading
	// another entry; getSlow rejects such ids.
	if e == nil || int(e.idLen) != len(secretID) {
		return nil, nil, false
	}
	f := e.flags.Load()
	st := e.st.Load()
	if st == nil || f&flagDead != 0 {
		return nil, nil, false
	}
	if f&flagRef == 0 {
		e.flags.Or(flagRef)
	}
	now := c.now()
	if st.sec != nil {
		if now < st.fresh {
			c.hits.add()
			return st.sec, nil, true
		}
		if now-st.fresh < c.maxStale {
			c.staleHits.Add(1)
			c.emit(Event{Kind: EventStale, SecretID: secretID, Stage: e.sel(), Duration: time.Duration(now - st.fresh)})
			c.refreshAsync(e, st, now)
			return st.sec, nil, true
		}
	}
	if st.err != nil && now < st.retry {
		c.negHits.Add(1)
		return nil, st.err, true
	}
	return nil, nil, false
}

func (c *Cache) getSlow(ctx context.Context, secretID, key string, flags uint32) (*Secret, error) {
	if err := validID(secretID); err != nil {
		return nil, err
	}
	e, err := c.entry(key, len(secretID), flags)
	if err != nil {
		return nil, err
	}
	if flags&flagByVersion == 0 && len(key) > len(secretID) {
		c.noteLabel(secretID, key[len(secretID)+1:])
	}
	// The entry may have been filled since the lock-free look.
	if s, err, ok := c.hit(e, secretID); ok {
		return s, err
	}
	c.misses.Add(1)
	return c.wait(ctx, e, false)
}

func validID(secretID string) error {
	if secretID == "" {
		return errors.New("secretcache: empty secret id")
	}
	if strings.ContainsAny(secretID, sepStage+sepVersion) {
		return fmt.Errorf("secretcache: invalid secret id %q", secretID)
	}
	return nil
}

// entry returns the live entry for key, creating it if needed.
func (c *Cache) entry(key string, idLen int, flags uint32) (*entry, error) {
	if c.closed.Load() {
		return nil, ErrClosed
	}
	e, evicted := c.ix.getOrCreate(key, idLen, flags, c.opts.MaxEntries)
	if evicted > 0 {
		c.evictions.Add(uint64(evicted))
	}
	return e, nil
}

// enter registers a goroutine with Close; it reports false once Close has
// begun.
func (c *Cache) enter() bool {
	c.lifeMu.Lock()
	defer c.lifeMu.Unlock()
	if c.closed.Load() {
		return false
	}
	c.wg.Add(1)
	return true
}

// refreshAsync starts one background refresh of e unless one runs or the
// error backoff forbids it.
func (c *Cache) refreshAsync(e *entry, st *state, now int64) {
	if now < st.retry || e.fl.Load() != nil {
		return
	}
	c.startFlight(context.Background(), e, false)
}

// fetchShared is the body of a flight. It runs detached from every
// caller's cancellation, bounded by FetchTimeout and by Close.
func (c *Cache) fetchShared(parent context.Context, e *entry, forced bool) (*Secret, error) {
	ctx, cancel := context.WithTimeout(parent, c.opts.FetchTimeout)
	defer cancel()
	stop := context.AfterFunc(c.ctx, cancel)
	defer stop()

	// Another fetch may have finished between the caller's look and this
	// one; reuse its result instead of calling the service again.
	st := e.st.Load()
	if st != nil {
		now := c.now()
		switch {
		case st.err != nil && now < st.retry:
			// In the error backoff: the last good value while it may be
			// served, else the error; never an API call.
			if st.sec != nil && now-st.fresh < c.maxStale {
				return st.sec, nil
			}
			return nil, st.err
		case forced && st.sec != nil && st.err == nil && now-st.fetched < int64(c.opts.MinRefreshInterval):
			return st.sec, nil
		case !forced && st.sec != nil && now < st.fresh:
			return st.sec, nil
		}
	}
	began := c.emitRefreshStart(e)
	sec, err := c.refresh(ctx, e, st, forced)
	c.emitRefreshEnd(e, st, sec, err, began)
	if err != nil && c.closed.Load() {
		return nil, ErrClosed
	}
	if err != nil && !forced {
		// Stale-if-error for the readers waiting on this fetch too (those
		// of an entry whose stage moved to a version not cached; others
		// wait only when nothing is servable). Refresh reports the error.
		if cur := e.st.Load(); cur != nil && cur.sec != nil && c.now()-cur.fresh < c.maxStale {
			return cur.sec, nil
		}
	}
	return sec, err
}

// Refresh fetches the secret's AWSCURRENT version now, ignoring TTL, and
// returns it. It is bounded: within MinRefreshInterval of the last
// successful fetch it returns that result without an API call; during the
// error backoff after a failed fetch it returns the last good value (while
// within TTL+MaxStale), or else the error, without an API call; and
// concurrent calls share one fetch. A refresh costs one DescribeSecret,
// plus one GetSecretValue by VersionId if AWSCURRENT moved to a version
// not cached (with DescribeSecret denied: one GetSecretValue). With no
// AWSCURRENT value cached it is a first fetch, as in Get, except that it
// starts with the DescribeSecret if other stages of the secret are cached.
//
// The DescribeSecret answer repoints every cached stage entry of
// secretID (WithStage(AWSPENDING), AWSPREVIOUS, custom labels; not
// WithVersionID entries) before Refresh returns: afterwards
// Get(ctx, secretID, WithStage(s)) returns the version that answer showed
// for s, without an API call if that version's value is cached, else
// after one GetSecretValue by VersionId shared by its concurrent readers
// (if that call fails, the previous value is served as stale-if-error);
// or, if s no longer exists, a *FetchError wrapping
// *types.ResourceNotFoundException, never the old value. If the service
// answers that the secret does not exist, every cached stage of it is
// dropped and Refresh returns that error. It never sleeps; ctx bounds
// only the caller's wait, as in Get.
func (c *Cache) Refresh(ctx context.Context, secretID string) (*Secret, error) {
	if c.closed.Load() {
		return nil, ErrClosed
	}
	if err := validID(secretID); err != nil {
		return nil, err
	}
	e, err := c.entry(secretID, len(secretID), 0)
	if err != nil {
		return nil, err
	}
	return c.wait(ctx, e, true)
}

// GetSecretString returns the SecretString of the secret's AWSCURRENT
// version, with Get's caching. A fresh hit takes no lock, allocates
// nothing and makes no API call. For a binary secret it returns an error
// wrapping ErrBinary.
func (c *Cache) GetSecretString(ctx context.Context, secretID string) (string, error) {
	s, err := c.Get(ctx, secretID)
	if err != nil {
		return "", err
	}
	if s.binary {
		return "", s.binaryErr(secretID)
	}
	return s.value, nil
}

// GetSecretBinary returns a copy of the SecretBinary of the secret's
// AWSCURRENT version, with Get's caching. For a string secret it returns an
// error wrapping ErrNotBinary.
func (c *Cache) GetSecretBinary(ctx context.Context, secretID string) ([]byte, error) {
	s, err := c.Get(ctx, secretID)
	if err != nil {
		return nil, err
	}
	if !s.binary {
		return nil, s.notBinaryErr(secretID)
	}
	return []byte(s.value), nil
}

// GetJSON reads the secret like Get and decodes its SecretString as JSON
// into a new T. Decoding errors name secretID and wrap ErrInvalidJSON but
// never quote the value.
func GetJSON[T any](ctx context.Context, c *Cache, secretID string, opts ...GetOption) (T, error) {
	var v T
	s, err := c.Get(ctx, secretID, opts...)
	if err != nil {
		return v, err
	}
	return v, s.unmarshal(secretID, &v)
}

// Invalidate drops every cached entry of secretID (all stages and
// versions), so the next read fetches anew: it never joins a fetch that
// began before Invalidate, which still completes for its own waiters. It
// costs a walk over all entries and no API call. Whether the secret's
// DescribeSecret is denied is remembered across Invalidate.
func (c *Cache) Invalidate(secretID string) {
	c.ix.removeID(secretID)
	c.metaMu.Lock()
	delete(c.recent, secretID)
	c.metaMu.Unlock()
}

// Stats returns a snapshot of the cache's counters.
func (c *Cache) Stats() Stats {
	return Stats{
		Hits:         c.hits.load(),
		StaleHits:    c.staleHits.Load(),
		Misses:       c.misses.Load(),
		NegativeHits: c.negHits.Load(),
		Refreshes:    c.refreshes.Load(),
		Errors:       c.errors.Load(),
		Evictions:    c.evictions.Load(),
		Entries:      c.ix.len(),
		Failovers:    c.failovers.Load(),
		Calls: CallStats{
			GetSecretValue:      c.callsGet.Load(),
			DescribeSecret:      c.callsDescribe.Load(),
			BatchGetSecretValue: c.callsBatch.Load(),
		},
	}
}

// Close stops all background work, cancelling API calls in flight, and
// waits for it to end: every fetch and the goroutine calling OnChange,
// including an OnChange call in progress (so OnChange must not block
// long, and must not call Close). Changes not yet delivered are dropped.
// Readers waiting on a fetch return ErrClosed, and so does every later
// call. Close is idempotent. It returns an error wrapping ErrCallbackPanic
// if an OnChange call panicked (the first such panic), else if an OnEvent
// call panicked (the first such panic), else nil.
func (c *Cache) Close() error {
	c.closeOnce.Do(func() {
		c.lifeMu.Lock()
		c.closed.Store(true)
		c.lifeMu.Unlock()
		c.cancel()
		c.wg.Wait()
	})
	c.changeMu.Lock()
	defer c.changeMu.Unlock()
	if c.callbackErr == nil {
		if p := c.eventPanic.Load(); p != nil {
			return *p
		}
	}
	return c.callbackErr
}

// jitter spreads d by ±Options.Jitter, saturating at never.
func (c *Cache) jitter(d time.Duration) int64 {
	if c.opts.Jitter == 0 || d <= 0 {
		return int64(d)
	}
	r := rand.Float64
	if c.opts.rand != nil {
		r = c.opts.rand
	}
	f := float64(d) * (1 + c.opts.Jitter*(2*r()-1))
	if f >= math.MaxInt64 { // float64(MaxInt64) is 2^63, which int64 cannot hold
		return never
	}
	return max(int64(f), 0)
}

// backoff returns the wait after the fails-th consecutive failure.
func (c *Cache) backoff(fails int32) int64 {
	d, limit := c.opts.ErrorBackoff, c.opts.MaxErrorBackoff
	for i := int32(1); i < fails && d < limit; i++ {
		d = min(d, limit/2) * 2 // no overflow near MaxInt64
	}
	return c.jitter(min(d, limit))
}

// never is a deadline that does not pass.
const never = math.MaxInt64

// after returns now+d, saturating at never, so that a TTL of "forever"
// (math.MaxInt64) does not wrap around into the past.
func after(now, d int64) int64 {
	if d > 0 && now > never-d {
		return never
	}
	return now + d
}
