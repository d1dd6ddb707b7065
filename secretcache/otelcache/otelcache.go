// Package otelcache exports a secretcache.Cache's activity as
// OpenTelemetry metrics. It is a package of its own so that users of
// secretcache alone do not link OpenTelemetry.
//
// The hook must be set when the Cache is made, and the Stats callbacks
// need the Cache, so a Metrics is made first:
//
//	m, err := otelcache.New(meterProvider)
//	...
//	cache, err := secretcache.New(client, m.Instrument)
//	...
//	err = m.Observe(cache)
//	...
//	defer m.Close()
//
// Metrics (names in the OpenTelemetry semantic conventions' style):
//
//	name                                kind           unit        what
//	rekey.secretcache.hits              counter        {hit}       fresh hits (Stats.Hits)
//	rekey.secretcache.misses            counter        {miss}      reads that waited for a fetch (Stats.Misses)
//	rekey.secretcache.stale_hits        counter        {hit}       stale serves (Stats.StaleHits)
//	rekey.secretcache.entries           updowncounter  {entry}     cached entries (Stats.Entries)
//	rekey.secretcache.api.calls         counter        {call}      API calls, by rpc.method (+ error.type if failed)
//	rekey.secretcache.errors            counter        {error}     failed fetches (Stats.Errors), by rpc.method and error.type
//	rekey.secretcache.refresh.duration  histogram      s           fetch latency (+ error.type if failed)
//	rekey.secretcache.failovers         counter        {failover}  reads served by a replica Region, by from/to Region
//
// The first four are observed from Stats at each collection; the others
// are recorded from the Cache's events, after API calls only, so an
// instrumented Cache's hits cost what an uninstrumented one's do.
// error.type is the AWS error code (e.g. ThrottlingException), or _OTHER
// for a failure that did not come from the service. Options.Attributes
// are added to every measurement.
package otelcache

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"

	"github.com/rekeyhq/rekey"
	"github.com/rekeyhq/rekey/internal/nilcheck"
	"github.com/rekeyhq/rekey/secretcache"
)

// ScopeName is the instrumentation scope of the meter Metrics uses.
const ScopeName = "github.com/rekeyhq/rekey/secretcache/otelcache"

// Attribute keys beyond the semantic conventions' rpc.method and
// error.type.
const (
	AttrFromRegion = attribute.Key("rekey.failover.from_region")
	AttrToRegion   = attribute.Key("rekey.failover.to_region")
)

const (
	attrMethod    = attribute.Key("rpc.method")
	attrErrorType = attribute.Key("error.type")
	otherError    = "_OTHER"
)

// Options configure a Metrics.
type Options struct {
	// Attributes are added to every measurement, e.g. a cache name, so
	// that the metrics of several caches in one process can be told apart.
	// nil: none.
	Attributes []attribute.KeyValue
}

// Metrics records one Cache's activity with OpenTelemetry instruments. Its
// methods are safe for concurrent use. One Metrics serves one Cache.
type Metrics struct {
	attrs []attribute.KeyValue
	set   metric.MeasurementOption // attrs, for the Stats callback
	meter metric.Meter

	hits, misses, stale metric.Int64ObservableCounter
	entries             metric.Int64ObservableUpDownCounter
	calls, errs, fails  metric.Int64Counter
	refresh             metric.Float64Histogram

	closed atomic.Bool
	mu     sync.Mutex
	reg    metric.Registration // guarded by mu; nil until Observe
}

// New returns a Metrics whose instruments come from mp's meter named
// ScopeName. It returns an error if mp is nil or holds a nil pointer (e.g.
// a nil *sdkmetric.MeterProvider), or if an instrument cannot be made. It records nothing until set as a Cache's hook (Instrument) and
// observing a Cache (Observe).
func New(mp metric.MeterProvider, optFns ...func(*Options)) (*Metrics, error) {
	if nilcheck.IsNil(mp) {
		return nil, errors.New("otelcache: nil MeterProvider")
	}
	var o Options
	for _, fn := range optFns {
		fn(&o)
	}
	m := &Metrics{attrs: append([]attribute.KeyValue(nil), o.Attributes...)}
	m.set = metric.WithAttributeSet(attribute.NewSet(m.attrs...))
	m.meter = mp.Meter(ScopeName, metric.WithInstrumentationVersion(rekey.Version))
	var err, e error
	m.hits, e = m.meter.Int64ObservableCounter("rekey.secretcache.hits", metric.WithUnit("{hit}"),
		metric.WithDescription("Reads served from a fresh cached value."))
	err = errors.Join(err, e)
	m.misses, e = m.meter.Int64ObservableCounter("rekey.secretcache.misses", metric.WithUnit("{miss}"),
		metric.WithDescription("Reads that waited for a fetch."))
	err = errors.Join(err, e)
	m.stale, e = m.meter.Int64ObservableCounter("rekey.secretcache.stale_hits", metric.WithUnit("{hit}"),
		metric.WithDescription("Reads served a value past its freshness deadline while it was refreshed."))
	err = errors.Join(err, e)
	m.entries, e = m.meter.Int64ObservableUpDownCounter("rekey.secretcache.entries", metric.WithUnit("{entry}"),
		metric.WithDescription("Cached entries."))
	err = errors.Join(err, e)
	m.calls, e = m.meter.Int64Counter("rekey.secretcache.api.calls", metric.WithUnit("{call}"),
		metric.WithDescription("Secrets Manager API calls made by the cache."))
	err = errors.Join(err, e)
	m.errs, e = m.meter.Int64Counter("rekey.secretcache.errors", metric.WithUnit("{error}"),
		metric.WithDescription("Failed fetches."))
	err = errors.Join(err, e)
	m.fails, e = m.meter.Int64Counter("rekey.secretcache.failovers", metric.WithUnit("{failover}"),
		metric.WithDescription("Reads served by a replica Region because the primary failed."))
	err = errors.Join(err, e)
	m.refresh, e = m.meter.Float64Histogram("rekey.secretcache.refresh.duration", metric.WithUnit("s"),
		metric.WithDescription("Duration of cache fetches: first fetches and refreshes."))
	err = errors.Join(err, e)
	if err != nil {
		return nil, err
	}
	return m, nil
}

// Instrument sets o.OnEvent so that the Cache's events reach m, after the
// hook already set, if any. Pass it to secretcache.New.
func (m *Metrics) Instrument(o *secretcache.Options) {
	prev := o.OnEvent
	if prev == nil {
		o.OnEvent = m.OnEvent
		return
	}
	o.OnEvent = func(ev secretcache.Event) {
		prev(ev)
		m.OnEvent(ev)
	}
}

// OnEvent records ev: API calls, errors, refresh durations and failovers.
// Stale-hit events are not recorded here (Observe reads Stats instead),
// so the hook costs nothing on the read path. After Close it records
// nothing.
func (m *Metrics) OnEvent(ev secretcache.Event) {
	if m.closed.Load() {
		return
	}
	ctx := context.Background()
	switch ev.Kind {
	case secretcache.EventFetch:
		m.calls.Add(ctx, 1, m.with(ev.Err, ev.ErrorCode, attrMethod.String(ev.Op)))
	case secretcache.EventError:
		m.errs.Add(ctx, 1, m.with(ev.Err, ev.ErrorCode, attrMethod.String(ev.Op)))
	case secretcache.EventRefreshEnd:
		m.refresh.Record(ctx, ev.Duration.Seconds(), m.with(ev.Err, ev.ErrorCode))
	case secretcache.EventFailover:
		m.fails.Add(ctx, 1, m.with(nil, "", AttrFromRegion.String(ev.FromRegion), AttrToRegion.String(ev.ToRegion)))
	}
}

// with returns the measurement attributes: m's, kvs, and error.type if
// err is set. It allocates; it runs only after API calls.
func (m *Metrics) with(err error, code string, kvs ...attribute.KeyValue) metric.MeasurementOption {
	attrs := make([]attribute.KeyValue, 0, len(m.attrs)+len(kvs)+1)
	attrs = append(attrs, m.attrs...)
	attrs = append(attrs, kvs...)
	if err != nil {
		if code == "" {
			code = otherError
		}
		attrs = append(attrs, attrErrorType.String(code))
	}
	return metric.WithAttributes(attrs...)
}

// Observe registers callbacks that report c's Stats (hits, misses, stale
// hits, entries) at each collection. It returns an error if m already
// observes a Cache or is closed. It makes no API call.
func (m *Metrics) Observe(c *secretcache.Cache) error {
	if c == nil {
		return errors.New("otelcache: nil Cache")
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	switch {
	case m.closed.Load():
		return errors.New("otelcache: Observe after Close")
	case m.reg != nil:
		return errors.New("otelcache: already observing a Cache")
	}
	reg, err := m.meter.RegisterCallback(func(_ context.Context, o metric.Observer) error {
		st := c.Stats()
		o.ObserveInt64(m.hits, int64(st.Hits), m.set)
		o.ObserveInt64(m.misses, int64(st.Misses), m.set)
		o.ObserveInt64(m.stale, int64(st.StaleHits), m.set)
		o.ObserveInt64(m.entries, int64(st.Entries), m.set)
		return nil
	}, m.hits, m.misses, m.stale, m.entries)
	if err != nil {
		return err
	}
	m.reg = reg
	return nil
}

// Close unregisters the Stats callbacks and stops OnEvent from recording.
// It does not close the Cache or the MeterProvider. It is idempotent and
// returns the error of unregistering, if any.
func (m *Metrics) Close() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed.Swap(true) || m.reg == nil {
		return nil
	}
	return m.reg.Unregister()
}
