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
	"golang.org/x/sync/singleflight"
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
	group    singleflight.Group // keyed by entry key

	// ctx is cancelled by Close; shared fetches stop with it.
	ctx    context.Context
	cancel context.CancelFunc

	lifeMu    sync.Mutex // orders wg.Add against Close's wg.Wait
	closed    atomic.Bool
	closeOnce sync.Once
	wg        sync.WaitGroup // shared fetches and background refreshes
	inflight  atomic.Int64   // background refreshes running, for tests

	hits                         stripedCounter
	staleHits, misses, negHits   atomic.Uint64
	refreshes, errors, evictions atomic.Uint64
	callsGet, callsDescribe      atomic.Uint64
	callsBatch                   atomic.Uint64
}

// state is what an entry knows at one moment. It is immutable once
// published; times are nanoseconds on the cache's clock.
type state struct {
	sec     *Secret // last good value; nil if none
	prev    *Secret // the value sec replaced, kept so a rollback needs no GetSecretValue
	err     error   // last failure; with sec nil, a negative-cache entry
	fetched int64   // when sec was last confirmed current
	fresh   int64   // serve sec without refresh until then
	retry   int64   // after a failure: no API call until then
	fails   int32   // consecutive failures
	pending bool    // a rotation was in progress at the last check
}

// New returns a Cache reading through client. It returns an error if client
// is nil or the options are invalid. New makes no API call. The caller must
// Close the Cache to stop its background refreshes.
func New(client Client, optFns ...func(*Options)) (*Cache, error) {
	if client == nil {
		return nil, errors.New("secretcache: nil Client")
	}
	o := DefaultOptions()
	for _, fn := range optFns {
		fn(&o)
	}
	if err := o.resolve(); err != nil {
		return nil, err
	}
	c := &Cache{client: client, opts: o, maxStale: int64(o.MaxStale), ix: newIndex()}
	if o.Clock != nil {
		c.base = o.Clock()
	} else {
		c.base = time.Now()
	}
	c.ctx, c.cancel = context.WithCancel(context.Background())
	return c, nil
}

// now returns the cache clock in nanoseconds. Without Options.Clock it
// reads only the monotonic clock, which is about half the cost of
// time.Now.
func (c *Cache) now() int64 {
	if c.opts.Clock != nil {
		return int64(c.opts.Clock().Sub(c.base))
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
// A fresh hit takes no lock, makes no API call and allocates nothing. Past TTL (within MaxStale) Get returns the cached
// value at once and starts one background refresh. Otherwise it waits for
// a fetch shared with every concurrent reader of the same entry; if ctx
// ends first it returns ctx.Err() at once while the fetch goes on for the
// others. A failed fetch is returned as a *FetchError and is cached for
// the error backoff, during which Get returns it without an API call.
// After Close, Get returns ErrClosed.
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

// wait joins the shared fetch of e, starting it if none runs, and returns
// its result, or ctx.Err() as soon as ctx ends.
func (c *Cache) wait(ctx context.Context, e *entry, forced bool) (*Secret, error) {
	// The shared fetch keeps the values of the context that started it
	// (tracing, SDK middleware), not its cancellation.
	detached := context.WithoutCancel(ctx)
	ch := c.group.DoChan(e.key, func() (any, error) {
		return c.fetchShared(detached, e, forced)
	})
	select {
	case r := <-ch:
		if r.Err != nil {
			return nil, r.Err
		}
		return r.Val.(*Secret), nil
	case <-ctx.Done():
		return nil, ctx.Err()
	case <-c.ctx.Done():
		return nil, ErrClosed
	}
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
	if now < st.retry || e.has(flagRefreshing) {
		return
	}
	if e.flags.Or(flagRefreshing)&flagRefreshing != 0 {
		return // another reader won the race
	}
	if !c.enter() {
		e.flags.And(^flagRefreshing)
		return
	}
	c.inflight.Add(1)
	go func() {
		defer c.wg.Done()
		defer c.inflight.Add(-1)
		defer e.flags.And(^flagRefreshing)
		// Do, not DoChan: this goroutine is the one Close waits for.
		c.group.Do(e.key, func() (any, error) { //nolint:errcheck // published in the entry
			return c.fetchShared(context.Background(), e, false)
		})
	}()
}

// fetchShared is the body of a shared fetch. It runs detached from every
// caller's cancellation, bounded by FetchTimeout and by Close.
func (c *Cache) fetchShared(parent context.Context, e *entry, forced bool) (*Secret, error) {
	if !c.enter() {
		return nil, ErrClosed
	}
	defer c.wg.Done()
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
			return st.sec, st.err
		case forced && st.sec != nil && now-st.fetched < int64(c.opts.MinRefreshInterval):
			return st.sec, nil
		case !forced && st.sec != nil && now < st.fresh:
			return st.sec, nil
		}
	}
	sec, err := c.refresh(ctx, e, st)
	if err != nil && c.closed.Load() {
		return nil, ErrClosed
	}
	return sec, err
}

// Refresh fetches the secret's AWSCURRENT version now, ignoring TTL, and
// returns it. It is bounded: within MinRefreshInterval of the last
// successful fetch, or during an error backoff, it returns that result
// without an API call, and concurrent calls share one fetch. A refresh
// costs one DescribeSecret, plus one GetSecretValue if AWSCURRENT moved to
// a version not cached. It never sleeps; ctx bounds only the caller's
// wait, as in Get.
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
		return "", s.binaryErr()
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
	return s.Binary()
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
// versions), so the next read fetches. A fetch already running still
// completes for its waiters. It costs a walk over all entries, no API call.
func (c *Cache) Invalidate(secretID string) {
	c.ix.removeID(secretID)
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
		Calls: CallStats{
			GetSecretValue:      c.callsGet.Load(),
			DescribeSecret:      c.callsDescribe.Load(),
			BatchGetSecretValue: c.callsBatch.Load(),
		},
	}
}

// Close stops all background work, cancelling API calls in flight, and
// waits for it to end. Readers waiting on a fetch return ErrClosed, and so
// does every later call. Close is idempotent and returns nil.
func (c *Cache) Close() error {
	c.closeOnce.Do(func() {
		c.lifeMu.Lock()
		c.closed.Store(true)
		c.lifeMu.Unlock()
		c.cancel()
		c.wg.Wait()
	})
	return nil
}

// jitter spreads d by ±Options.Jitter.
func (c *Cache) jitter(d time.Duration) int64 {
	if c.opts.Jitter == 0 || d <= 0 {
		return int64(d)
	}
	r := rand.Float64
	if c.opts.Rand != nil {
		r = c.opts.Rand
	}
	return int64(float64(d) * (1 + c.opts.Jitter*(2*r()-1)))
}

// backoff returns the wait after the fails-th consecutive failure.
func (c *Cache) backoff(fails int32) int64 {
	d := c.opts.ErrorBackoff
	for i := int32(1); i < fails && d < c.opts.MaxErrorBackoff; i++ {
		d *= 2
	}
	return c.jitter(min(d, c.opts.MaxErrorBackoff))
}

// never is a deadline that does not pass.
const never = math.MaxInt64
