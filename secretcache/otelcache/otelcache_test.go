package otelcache_test

import (
	"context"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager/types"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"

	"github.com/rekeyhq/rekey/internal/awsemu"
	"github.com/rekeyhq/rekey/secretcache"
	"github.com/rekeyhq/rekey/secretcache/otelcache"
)

// collected is one collection from a ManualReader.
type collected struct {
	t  testing.TB
	rm metricdata.ResourceMetrics
}

func collect(t testing.TB, r *sdkmetric.ManualReader) collected {
	t.Helper()
	c := collected{t: t}
	if err := r.Collect(context.Background(), &c.rm); err != nil {
		t.Fatal(err)
	}
	return c
}

func (c collected) find(name string) (metricdata.Metrics, bool) {
	for _, sm := range c.rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			if m.Name == name {
				return m, true
			}
		}
	}
	return metricdata.Metrics{}, false
}

// matches reports whether set holds every attribute of want.
func matches(set attribute.Set, want []attribute.KeyValue) bool {
	for _, kv := range want {
		if v, ok := set.Value(kv.Key); !ok || v != kv.Value {
			return false
		}
	}
	return true
}

// sum returns the total of the int64 sum named name over the data points
// carrying want, and the metric's unit.
func (c collected) sum(name string, want ...attribute.KeyValue) int64 {
	c.t.Helper()
	m, ok := c.find(name)
	if !ok {
		return 0
	}
	s, ok := m.Data.(metricdata.Sum[int64])
	if !ok {
		c.t.Fatalf("%s is a %T, want a Sum[int64]", name, m.Data)
	}
	var n int64
	for _, dp := range s.DataPoints {
		if matches(dp.Attributes, want) {
			n += dp.Value
		}
	}
	return n
}

func (c collected) unit(name string) string {
	m, _ := c.find(name)
	return m.Unit
}

// histogram returns the count and sum of the float64 histogram named name
// over the data points carrying want.
func (c collected) histogram(name string, want ...attribute.KeyValue) (uint64, float64) {
	c.t.Helper()
	m, ok := c.find(name)
	if !ok {
		return 0, 0
	}
	h, ok := m.Data.(metricdata.Histogram[float64])
	if !ok {
		c.t.Fatalf("%s is a %T, want a Histogram[float64]", name, m.Data)
	}
	var n uint64
	var sum float64
	for _, dp := range h.DataPoints {
		if matches(dp.Attributes, want) {
			n += dp.Count
			sum += dp.Sum
		}
	}
	return n, sum
}

// eventually polls cond, for the background refresh a stale read starts.
func eventually(t testing.TB, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); !cond(); time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}

const ttl = 50 * time.Millisecond

// cacheName is the attribute newMetrics puts on every signal.
var cacheName = attribute.String("cache", "app")

// newMetrics returns an adapter recording, with attrs, into a meter
// provider whose manual reader it returns; both are shut down in
// t.Cleanup.
func newMetrics(t testing.TB, attrs ...attribute.KeyValue) (*otelcache.Metrics, *sdkmetric.ManualReader) {
	t.Helper()
	reader := sdkmetric.NewManualReader()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	t.Cleanup(func() { mp.Shutdown(context.Background()) })
	m, err := otelcache.New(mp, func(o *otelcache.Options) { o.Attributes = attrs })
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	return m, reader
}

// Every signal, through the real SDK client against the emulator.
func TestSignals(t *testing.T) {
	srv := awsemu.New(t)
	sm := secretsmanager.NewFromConfig(srv.AWSConfig(), func(o *secretsmanager.Options) { o.RetryMaxAttempts = 1 })
	ctx := context.Background()
	for _, id := range []string{"s", "t"} {
		if _, err := sm.CreateSecret(ctx, &secretsmanager.CreateSecretInput{Name: aws.String(id), SecretString: aws.String("v")}); err != nil {
			t.Fatal(err)
		}
	}
	srv.ResetCalls()

	m, reader := newMetrics(t, cacheName)
	cache, err := secretcache.New(sm, m.Instrument, func(o *secretcache.Options) {
		o.TTL = ttl
		o.Jitter = -1
		o.MinRefreshInterval = -1
	})
	if err != nil {
		t.Fatal(err)
	}
	defer cache.Close()
	if err := m.Observe(cache); err != nil {
		t.Fatal(err)
	}
	if err := m.Observe(cache); err == nil {
		t.Error("a second Observe succeeded")
	}

	// One miss, three hits, then a stale hit whose refresh calls
	// DescribeSecret.
	for range 4 {
		if _, err := cache.Get(ctx, "s"); err != nil {
			t.Fatal(err)
		}
	}
	time.Sleep(ttl + 10*time.Millisecond)
	if _, err := cache.Get(ctx, "s"); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the stale read's refresh", func() bool { return cache.Stats().Refreshes == 2 })
	// A throttled first fetch.
	srv.InjectFault(awsemu.Fault{Op: "GetSecretValue", Code: "ThrottlingException", Times: 1})
	if _, err := cache.Get(ctx, "t"); err == nil {
		t.Fatal("Get succeeded through a throttling fault")
	}
	// Failover has a test of its own: TestFailoverSignal.

	c := collect(t, reader)
	st := cache.Stats()
	for _, tc := range []struct {
		name, unit string
		attrs      []attribute.KeyValue
		want       int64
	}{
		{"rekey.secretcache.hits", "{hit}", nil, 3},
		{"rekey.secretcache.misses", "{miss}", nil, 2},
		{"rekey.secretcache.stale_hits", "{hit}", nil, 1},
		{"rekey.secretcache.entries", "{entry}", nil, int64(st.Entries)},
		{"rekey.secretcache.api.calls", "{call}", []attribute.KeyValue{attribute.String("rpc.method", "GetSecretValue")}, srv.Calls("GetSecretValue")},
		{"rekey.secretcache.api.calls", "{call}", []attribute.KeyValue{attribute.String("rpc.method", "DescribeSecret")}, srv.Calls("DescribeSecret")},
		{"rekey.secretcache.api.calls", "{call}", []attribute.KeyValue{attribute.String("error.type", "ThrottlingException")}, 1},
		{"rekey.secretcache.errors", "{error}", []attribute.KeyValue{attribute.String("error.type", "ThrottlingException"), attribute.String("rpc.method", "GetSecretValue")}, 1},
		{"rekey.secretcache.errors", "{error}", nil, int64(st.Errors)},
	} {
		attrs := append([]attribute.KeyValue{cacheName}, tc.attrs...)
		if got := c.sum(tc.name, attrs...); got != tc.want {
			t.Errorf("%s%v = %d, want %d", tc.name, tc.attrs, got, tc.want)
		}
		if got := c.unit(tc.name); got != tc.unit {
			t.Errorf("%s unit %q, want %q", tc.name, got, tc.unit)
		}
	}
	if got := srv.Calls("GetSecretValue") + srv.Calls("DescribeSecret"); got != 3 {
		t.Errorf("emulator saw %d calls, want 3 (2 GetSecretValue, 1 DescribeSecret)", got)
	}
	// Three fetches: the first of s, its refresh, the failed one of t.
	if n, sum := c.histogram("rekey.secretcache.refresh.duration", cacheName); n != 3 || sum <= 0 {
		t.Errorf("refresh.duration: %d samples summing %vs, want 3 and > 0", n, sum)
	}
	if n, _ := c.histogram("rekey.secretcache.refresh.duration", attribute.String("error.type", "ThrottlingException")); n != 1 {
		t.Errorf("refresh.duration with error.type: %d samples, want 1", n)
	}
	if u := c.unit("rekey.secretcache.refresh.duration"); u != "s" {
		t.Errorf("refresh.duration unit %q, want s", u)
	}

	// After Close nothing is observed or recorded.
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	if err := m.Close(); err != nil {
		t.Errorf("second Close = %v", err)
	}
	m.OnEvent(secretcache.Event{Kind: secretcache.EventFailover})
	if _, err := cache.Get(ctx, "s"); err != nil {
		t.Fatal(err)
	}
	c = collect(t, reader)
	if got, ok := c.find("rekey.secretcache.hits"); ok && len(got.Data.(metricdata.Sum[int64]).DataPoints) != 0 {
		t.Errorf("hits still observed after Close: %+v", got.Data)
	}
	if got := c.sum("rekey.secretcache.failovers"); got != 0 {
		t.Errorf("failovers = %d from an event after Close, want 0", got)
	}
}

// A real failover, through the real SDK: the primary Region hangs, the
// replica Region answers, and the failovers counter records it with both
// Regions; after Close a second failover records nothing.
func TestFailoverSignal(t *testing.T) {
	srv := awsemu.New(t)
	from, to := srv.Region(), "eu-west-1"
	noRetry := func(o *secretsmanager.Options) { o.RetryMaxAttempts = 1 }
	primary := secretsmanager.NewFromConfig(srv.AWSConfigFor(from), noRetry)
	replica := secretsmanager.NewFromConfig(srv.AWSConfigFor(to), noRetry)
	ctx := context.Background()
	for _, id := range []string{"f", "g"} {
		if _, err := primary.CreateSecret(ctx, &secretsmanager.CreateSecretInput{
			Name: aws.String(id), SecretString: aws.String("v"),
			AddReplicaRegions: []types.ReplicaRegionType{{Region: aws.String(to)}},
		}); err != nil {
			t.Fatal(err)
		}
	}

	m, reader := newMetrics(t, cacheName)
	cache, err := secretcache.New(primary, m.Instrument, func(o *secretcache.Options) {
		o.Replicas = []secretcache.Replica{{Region: to, Client: replica}}
		o.PrimaryTimeout = 100 * time.Millisecond
		o.FetchTimeout = 5 * time.Second
	})
	if err != nil {
		t.Fatal(err)
	}
	defer cache.Close()

	srv.InjectFault(awsemu.Fault{Region: from, Hang: true}) // a Regional outage
	defer srv.ClearFaults()
	srv.ResetCalls()
	s, err := cache.Get(ctx, "f")
	if err != nil {
		t.Fatal(err)
	}
	if s.Region() != to {
		t.Fatalf("read from Region %q, want the replica %q", s.Region(), to)
	}
	if n := srv.CallsIn(to, "GetSecretValue"); n != 1 {
		t.Fatalf("replica GetSecretValue calls = %d, want 1", n)
	}
	c := collect(t, reader)
	if got := c.sum("rekey.secretcache.failovers", cacheName, otelcache.AttrFromRegion.String(from), otelcache.AttrToRegion.String(to)); got != 1 {
		t.Errorf("failovers{from=%s,to=%s} = %d, want 1", from, to, got)
	}
	if got, st := c.sum("rekey.secretcache.failovers"), cache.Stats(); got != 1 || st.Failovers != 1 {
		t.Errorf("failovers = %d, Stats().Failovers = %d; want 1 and 1", got, st.Failovers)
	}
	if u := c.unit("rekey.secretcache.failovers"); u != "{failover}" {
		t.Errorf("failovers unit %q, want {failover}", u)
	}

	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := cache.Get(ctx, "g"); err != nil {
		t.Fatal(err)
	}
	if st := cache.Stats(); st.Failovers != 2 {
		t.Fatalf("Stats().Failovers = %d, want 2: the second read did not fail over", st.Failovers)
	}
	if got := collect(t, reader).sum("rekey.secretcache.failovers"); got != 1 {
		t.Errorf("failovers = %d after Close, want still 1", got)
	}
}

// The hook set by Instrument keeps the one already set, and a stale hit
// through it allocates nothing.
func TestInstrumentChainsAndDoesNotAllocate(t *testing.T) {
	srv := awsemu.New(t)
	sm := secretsmanager.NewFromConfig(srv.AWSConfig(), func(o *secretsmanager.Options) { o.RetryMaxAttempts = 1 })
	ctx := context.Background()
	if _, err := sm.CreateSecret(ctx, &secretsmanager.CreateSecretInput{Name: aws.String("s"), SecretString: aws.String("v")}); err != nil {
		t.Fatal(err)
	}
	m, err := otelcache.New(sdkmetric.NewMeterProvider(sdkmetric.WithReader(sdkmetric.NewManualReader())))
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	var mine atomic.Int64
	cache, err := secretcache.New(sm, func(o *secretcache.Options) {
		o.TTL = ttl
		o.Jitter = -1
		o.OnEvent = func(secretcache.Event) { mine.Add(1) }
	}, m.Instrument)
	if err != nil {
		t.Fatal(err)
	}
	defer cache.Close()
	if _, err := cache.Get(ctx, "s"); err != nil {
		t.Fatal(err)
	}
	if mine.Load() == 0 {
		t.Error("the hook set before Instrument was dropped")
	}
	if n := testing.AllocsPerRun(1000, func() { cache.Get(ctx, "s") }); n != 0 {
		t.Errorf("fresh hit with otelcache: %v allocs/op", n)
	}
	// Stale hits during a failing refresh's backoff start no fetch.
	srv.InjectFault(awsemu.Fault{Op: "DescribeSecret", Code: "ThrottlingException"})
	time.Sleep(ttl + 10*time.Millisecond)
	cache.Get(ctx, "s")
	eventually(t, "the failed refresh", func() bool { return cache.Stats().Errors == 1 })
	if n := testing.AllocsPerRun(1000, func() { cache.Get(ctx, "s") }); n != 0 {
		t.Errorf("stale hit with otelcache: %v allocs/op", n)
	}
	if st := cache.Stats(); st.StaleHits < 1000 {
		t.Errorf("StaleHits = %d, want the AllocsPerRun reads to be stale", st.StaleHits)
	}
}

func TestNewRejectsNil(t *testing.T) {
	// A nil *MeterProvider would panic in Meter; New refuses it.
	for name, mp := range map[string]metric.MeterProvider{"nil": nil, "nil *sdkmetric.MeterProvider": (*sdkmetric.MeterProvider)(nil)} {
		if _, err := otelcache.New(mp); err == nil || !strings.HasPrefix(err.Error(), "otelcache: ") {
			t.Errorf("New(%s) = %v, want an otelcache error", name, err)
		}
	}
	m, err := otelcache.New(sdkmetric.NewMeterProvider())
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Observe(nil); err == nil {
		t.Error("Observe(nil) succeeded")
	}
	m.Close()
	if err := m.Observe(&secretcache.Cache{}); err == nil {
		t.Error("Observe after Close succeeded")
	}
}
