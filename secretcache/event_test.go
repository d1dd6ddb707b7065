package secretcache_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager/types"

	"github.com/rekeyhq/rekey/internal/awsemu"
	"github.com/rekeyhq/rekey/secretcache"
)

// eventLog records the events a Cache emits.
type eventLog struct {
	mu  sync.Mutex
	evs []secretcache.Event
}

func (l *eventLog) add(ev secretcache.Event) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.evs = append(l.evs, ev)
}

// take returns the events recorded since the last take.
func (l *eventLog) take() []secretcache.Event {
	l.mu.Lock()
	defer l.mu.Unlock()
	evs := l.evs
	l.evs = nil
	return evs
}

func kinds(evs []secretcache.Event) string {
	var s []string
	for _, ev := range evs {
		k := ev.Kind.String()
		if ev.Op != "" {
			k += ":" + ev.Op
		}
		s = append(s, k)
	}
	return strings.Join(s, " ")
}

func find(evs []secretcache.Event, k secretcache.EventKind) (secretcache.Event, bool) {
	for _, ev := range evs {
		if ev.Kind == k {
			return ev, true
		}
	}
	return secretcache.Event{}, false
}

func TestEventsThroughTheSDK(t *testing.T) {
	const v1value, v2value = "first-s3cr3t", "second-s3cr3t"
	log := &eventLog{}
	e := newEnv(t, func(o *secretcache.Options) { o.OnEvent = log.add })
	var all []secretcache.Event
	v1 := e.create(t, "s", v1value)

	// A first read: refresh start, one GetSecretValue, refresh end.
	e.mustString(t, "s", v1value)
	secretcache.WaitIdle(e.cache)
	evs := log.take()
	all = append(all, evs...)
	if got, want := kinds(evs), "refresh_start fetch:GetSecretValue refresh_end"; got != want {
		t.Fatalf("first read: events %q, want %q", got, want)
	}
	if end, _ := find(evs, secretcache.EventRefreshEnd); end.SecretID != "s" || end.Stage != secretcache.StageCurrent ||
		end.VersionID != v1 || end.Changed || end.Err != nil {
		t.Errorf("first read: refresh_end = %+v", end)
	}

	// Fresh hits emit nothing.
	e.mustString(t, "s", v1value)
	if evs := log.take(); len(evs) != 0 {
		t.Errorf("fresh hit: events %q, want none", kinds(evs))
	}

	// A stale read after a change: stale, then a refresh that moves.
	v2 := e.put(t, "s", v2value)
	e.clock.Advance(testTTL + 1)
	e.mustString(t, "s", v1value)
	secretcache.WaitIdle(e.cache)
	evs = log.take()
	all = append(all, evs...)
	if got, want := kinds(evs), "stale refresh_start fetch:DescribeSecret fetch:GetSecretValue refresh_end"; got != want {
		t.Fatalf("stale read: events %q, want %q", got, want)
	}
	if st, _ := find(evs, secretcache.EventStale); st.SecretID != "s" || st.Duration != 1 {
		t.Errorf("stale = %+v, want 1ns past the deadline", st)
	}
	if end, _ := find(evs, secretcache.EventRefreshEnd); end.VersionID != v2 || !end.Changed {
		t.Errorf("refresh_end = %+v, want changed to %s", end, v2)
	}

	// A throttled refresh: the fetch and the error carry the code.
	e.srv.InjectFault(awsemu.Fault{Op: "DescribeSecret", Code: "ThrottlingException", Times: 1})
	e.clock.Advance(testTTL + 1)
	if _, err := e.cache.Refresh(context.Background(), "s"); err == nil {
		t.Fatal("Refresh succeeded through a throttling fault")
	}
	evs = log.take()
	all = append(all, evs...)
	if got, want := kinds(evs), "refresh_start fetch:DescribeSecret error:DescribeSecret refresh_end"; got != want {
		t.Fatalf("throttled refresh: events %q, want %q", got, want)
	}
	for _, ev := range evs[1:] {
		var fe *secretcache.FetchError
		if ev.ErrorCode != "ThrottlingException" || ev.Err == nil {
			t.Errorf("%s: ErrorCode %q, Err %v; want ThrottlingException", ev.Kind, ev.ErrorCode, ev.Err)
		} else if ev.Kind != secretcache.EventFetch && !errors.As(ev.Err, &fe) {
			t.Errorf("%s: Err %T, want a *FetchError", ev.Kind, ev.Err)
		}
	}

	// Prefetch: one batch call; a missing secret is an error event.
	e.create(t, "p", v1value)
	if err := e.cache.Prefetch(context.Background(), "p", "missing"); err == nil {
		t.Fatal("Prefetch of a missing secret succeeded")
	}
	evs = log.take()
	all = append(all, evs...)
	if got, want := kinds(evs), "fetch:BatchGetSecretValue error:BatchGetSecretValue"; got != want {
		t.Fatalf("Prefetch: events %q, want %q", got, want)
	}
	if ev := evs[1]; ev.SecretID != "missing" || ev.ErrorCode != "ResourceNotFoundException" {
		t.Errorf("Prefetch error event = %+v, want ResourceNotFoundException for missing", ev)
	}

	// No event, however printed, holds a value.
	for _, ev := range all {
		for _, verb := range []string{"%v", "%+v", "%#v"} {
			if out := fmt.Sprintf(verb, ev); strings.Contains(out, "s3cr3t") {
				t.Errorf("Sprintf(%q, event) = %q leaks a value", verb, out)
			}
		}
	}
}

func TestEventsHitPathDoesNotAllocate(t *testing.T) {
	var stale, other atomic.Int64
	hook := func(ev secretcache.Event) {
		if ev.Kind == secretcache.EventStale {
			stale.Add(1)
		} else {
			other.Add(1)
		}
	}
	e := newEnv(t, func(o *secretcache.Options) { o.OnEvent = hook })
	e.create(t, "s", "v")
	ctx := context.Background()
	e.mustString(t, "s", "v")
	if n := testing.AllocsPerRun(1000, func() { e.cache.Get(ctx, "s") }); n != 0 {
		t.Errorf("fresh Get hit with OnEvent: %v allocs/op, want 0", n)
	}
	if n := stale.Load(); n != 0 {
		t.Fatalf("fresh hits emitted %d stale events", n)
	}
	// Stale, with its refresh failing: reads are served stale during the
	// backoff without starting a refresh.
	e.srv.InjectFault(awsemu.Fault{Op: "DescribeSecret", Code: "ThrottlingException"})
	e.clock.Advance(testTTL + 1)
	e.mustString(t, "s", "v")
	secretcache.WaitIdle(e.cache)
	stale.Store(0)
	before := other.Load()
	if n := testing.AllocsPerRun(1000, func() { e.cache.Get(ctx, "s") }); n != 0 {
		t.Errorf("stale Get hit with OnEvent: %v allocs/op, want 0", n)
	}
	if n := stale.Load(); n != 1001 { // AllocsPerRun warms up with one call
		t.Errorf("stale hits emitted %d stale events, want 1001", n)
	}
	if n := other.Load() - before; n != 0 {
		t.Errorf("stale hits in backoff emitted %d other events, want 0", n)
	}
}

func TestOnEventPanicIsRecovered(t *testing.T) {
	e := newEnv(t, func(o *secretcache.Options) {
		o.OnEvent = func(ev secretcache.Event) {
			if ev.Kind == secretcache.EventRefreshEnd {
				panic("hook bug")
			}
		}
	})
	e.create(t, "s", "v")
	e.mustString(t, "s", "v")
	e.mustString(t, "s", "v")
	if !strings.Contains(e.logs.String(), "OnEvent panicked") {
		t.Errorf("panic not logged: %s", e.logs)
	}
	if err := e.cache.Close(); !errors.Is(err, secretcache.ErrCallbackPanic) {
		t.Errorf("Close = %v, want ErrCallbackPanic", err)
	}
}

func TestEventKindString(t *testing.T) {
	for k, want := range map[secretcache.EventKind]string{
		secretcache.EventFetch: "fetch", secretcache.EventFailover: "failover", 0: "EventKind(0)", 200: "EventKind(200)",
	} {
		if got := k.String(); got != want {
			t.Errorf("%d.String() = %q, want %q", k, got, want)
		}
	}
}

// TestEventFailoverFromARealFailover: a read during a primary Regional
// outage, through the real SDK, emits one EventFailover naming the
// primary client's Region (from its Options) and the replica's, with the
// primary's error.
func TestEventFailoverFromARealFailover(t *testing.T) {
	srv := awsemu.New(t)
	from, to := srv.Region(), "eu-west-1"
	noRetry := func(o *secretsmanager.Options) { o.RetryMaxAttempts = 1 }
	primary := secretsmanager.NewFromConfig(srv.AWSConfigFor(from), noRetry)
	replica := secretsmanager.NewFromConfig(srv.AWSConfigFor(to), noRetry)
	if _, err := primary.CreateSecret(t.Context(), &secretsmanager.CreateSecretInput{
		Name: aws.String("f"), SecretString: aws.String("v"),
		AddReplicaRegions: []types.ReplicaRegionType{{Region: aws.String(to)}},
	}); err != nil {
		t.Fatal(err)
	}
	log := &eventLog{}
	c, err := secretcache.New(primary, func(o *secretcache.Options) {
		o.OnEvent = log.add
		o.Replicas = []secretcache.Replica{{Region: to, Client: replica}}
		o.PrimaryTimeout = 100 * time.Millisecond
		o.FetchTimeout = 5 * time.Second
	})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()

	// Healthy primary: no failover event.
	if _, err := c.Get(t.Context(), "f"); err != nil {
		t.Fatal(err)
	}
	if _, ok := find(log.take(), secretcache.EventFailover); ok {
		t.Fatal("a failover event while the primary answered")
	}
	c.Invalidate("f")

	srv.InjectFault(awsemu.Fault{Region: from, Hang: true})
	defer srv.ClearFaults()
	s, err := c.Get(t.Context(), "f")
	if err != nil {
		t.Fatal(err)
	}
	secretcache.WaitIdle(c)
	evs := log.take()
	var failovers []secretcache.Event
	for _, ev := range evs {
		if ev.Kind == secretcache.EventFailover {
			failovers = append(failovers, ev)
		}
	}
	if len(failovers) != 1 {
		t.Fatalf("events %q: %d failovers, want 1", kinds(evs), len(failovers))
	}
	ev := failovers[0]
	if ev.SecretID != "f" || ev.FromRegion != from || ev.ToRegion != to || s.Region() != to {
		t.Errorf("failover event %+v (value from %q), want secret f from %s to %s", ev, s.Region(), from, to)
	}
	if !errors.Is(ev.Err, context.DeadlineExceeded) {
		t.Errorf("failover event Err = %v, want the primary's timeout (context.DeadlineExceeded)", ev.Err)
	}
	if st := c.Stats(); st.Failovers != 1 {
		t.Errorf("Stats().Failovers = %d, want 1", st.Failovers)
	}
}
