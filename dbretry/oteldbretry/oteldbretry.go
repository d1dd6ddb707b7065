// Package oteldbretry exports a dbretry.Source's events as OpenTelemetry
// metrics. It is a package of its own so that users of dbretry alone do
// not link OpenTelemetry; the Cache under the Source has its own adapter,
// secretcache/otelcache.
//
//	m, err := oteldbretry.New(meterProvider)
//	...
//	src, err := dbretry.NewSource(cache, secretID, m.Instrument)
//	...
//	defer m.Close()
//
// Metrics (names in the OpenTelemetry semantic conventions' style):
//
//	rekey.dbretry.auth_failures        counter {failure} refused logins, by db.response.status_code (SQLSTATE)
//	rekey.dbretry.credential_switches  counter {switch}  switches to another version, by rekey.stage
package oteldbretry

import (
	"context"
	"errors"
	"sync/atomic"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"

	"github.com/rekeyhq/rekey"
	"github.com/rekeyhq/rekey/dbretry"
	"github.com/rekeyhq/rekey/internal/nilcheck"
)

// ScopeName is the instrumentation scope of the meter Metrics uses.
const ScopeName = "github.com/rekeyhq/rekey/dbretry/oteldbretry"

// Attribute keys: the semantic conventions' SQLSTATE key, and the stage a
// switched-to version was read as.
const (
	AttrStatusCode = attribute.Key("db.response.status_code")
	AttrStage      = attribute.Key("rekey.stage")
)

// Options configure a Metrics.
type Options struct {
	// Attributes are added to every measurement, e.g. a database name, so
	// that several Sources in one process can be told apart. nil: none.
	Attributes []attribute.KeyValue
}

// Metrics records Source events with OpenTelemetry instruments. Its
// methods are safe for concurrent use; one Metrics may serve several
// Sources.
type Metrics struct {
	attrs              []attribute.KeyValue
	failures, switches metric.Int64Counter
	closed             atomic.Bool
}

// New returns a Metrics whose instruments come from mp's meter named
// ScopeName. It returns an error if mp is nil or holds a nil pointer (e.g.
// a nil *sdkmetric.MeterProvider), or if an instrument cannot be made.
func New(mp metric.MeterProvider, optFns ...func(*Options)) (*Metrics, error) {
	if nilcheck.IsNil(mp) {
		return nil, errors.New("oteldbretry: nil MeterProvider")
	}
	var o Options
	for _, fn := range optFns {
		fn(&o)
	}
	m := &Metrics{attrs: append([]attribute.KeyValue(nil), o.Attributes...)}
	meter := mp.Meter(ScopeName, metric.WithInstrumentationVersion(rekey.Version))
	var err, e error
	m.failures, err = meter.Int64Counter("rekey.dbretry.auth_failures", metric.WithUnit("{failure}"),
		metric.WithDescription("Connects refused with an authentication error."))
	m.switches, e = meter.Int64Counter("rekey.dbretry.credential_switches", metric.WithUnit("{switch}"),
		metric.WithDescription("Switches of the credentials handed out to another secret version."))
	if err = errors.Join(err, e); err != nil {
		return nil, err
	}
	return m, nil
}

// Instrument sets o.OnEvent so that the Source's events reach m, after the
// hook already set, if any. Pass it to dbretry.NewSource.
func (m *Metrics) Instrument(o *dbretry.Options) {
	prev := o.OnEvent
	if prev == nil {
		o.OnEvent = m.OnEvent
		return
	}
	o.OnEvent = func(ev dbretry.Event) {
		prev(ev)
		m.OnEvent(ev)
	}
}

// OnEvent records ev. After Close it records nothing.
func (m *Metrics) OnEvent(ev dbretry.Event) {
	if m.closed.Load() {
		return
	}
	switch ev.Kind {
	case dbretry.EventAuthFailure:
		m.failures.Add(context.Background(), 1, m.with(AttrStatusCode.String(ev.Code)))
	case dbretry.EventCredentialSwitch:
		m.switches.Add(context.Background(), 1, m.with(AttrStage.String(ev.Stage)))
	}
}

func (m *Metrics) with(kv attribute.KeyValue) metric.MeasurementOption {
	return metric.WithAttributes(append(append(make([]attribute.KeyValue, 0, len(m.attrs)+1), m.attrs...), kv)...)
}

// Close stops OnEvent from recording. It does not close the Sources or the
// MeterProvider. It is idempotent and returns nil.
func (m *Metrics) Close() error {
	m.closed.Store(true)
	return nil
}
