package secretcache_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager/types"

	"github.com/rekeyhq/rekey/internal/awsemu"
	"github.com/rekeyhq/rekey/secretcache"
)

func TestOnChangeMayCallTheCache(t *testing.T) {
	var c *secretcache.Cache
	inner := make(chan error, 1)
	e := newEnv(t, func(o *secretcache.Options) {
		o.OnChange = func(id, _, _ string) {
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			defer cancel()
			s, err := c.Refresh(ctx, id)
			if err == nil {
				if v, _ := s.Text(); v != "two" {
					err = fmt.Errorf("Refresh inside OnChange = %q", v)
				}
			}
			inner <- err
		}
	})
	c = e.cache
	e.create(t, "s", "one")
	e.mustString(t, "s", "one")
	e.put(t, "s", "two")
	e.clock.Advance(time.Hour)
	began := time.Now()
	if _, err := c.Refresh(t.Context(), "s"); err != nil {
		t.Fatal(err)
	}
	if err := <-inner; err != nil {
		t.Fatalf("Refresh inside OnChange: %v", err)
	}
	if d := time.Since(began); d > time.Second {
		t.Fatalf("took %v: OnChange calling Refresh deadlocked", d)
	}
}

func TestBlockingOnChangeDelaysNoReader(t *testing.T) {
	release := make(chan struct{})
	var mu sync.Mutex
	var got []string
	e := newEnv(t, func(o *secretcache.Options) {
		o.OnChange = func(id, oldV, newV string) {
			mu.Lock()
			got = append(got, id)
			mu.Unlock()
			<-release
		}
	})
	for _, id := range []string{"a", "b", "c"} {
		e.create(t, id, id+"1")
		e.mustString(t, id, id+"1")
		e.put(t, id, id+"2")
	}
	e.clock.Advance(time.Hour)
	began := time.Now()
	for _, id := range []string{"a", "b", "c"} {
		s, err := e.cache.Refresh(t.Context(), id)
		if err != nil {
			t.Fatal(err)
		}
		if v, _ := s.Text(); v != id+"2" {
			t.Fatalf("Refresh(%s) = %q", id, v)
		}
	}
	if d := time.Since(began); d > time.Second {
		t.Fatalf("refreshes waited %v for a blocked OnChange", d)
	}
	waitFor(t, func() bool { mu.Lock(); defer mu.Unlock(); return len(got) == 1 })

	closed := make(chan error, 1)
	go func() { closed <- e.cache.Close() }()
	select {
	case <-closed:
		t.Fatal("Close returned while an OnChange call was in progress")
	case <-time.After(50 * time.Millisecond):
	}
	close(release)
	if err := <-closed; err != nil {
		t.Fatalf("Close = %v", err)
	}
	mu.Lock()
	defer mu.Unlock()
	if fmt.Sprint(got) != "[a]" {
		t.Fatalf("OnChange calls = %v; Close must drop the changes still queued", got)
	}
}

func TestOnChangeOrder(t *testing.T) {
	var mu sync.Mutex
	var got []string
	e := newEnv(t, func(o *secretcache.Options) {
		o.OnChange = func(id, oldV, newV string) {
			mu.Lock()
			defer mu.Unlock()
			got = append(got, id+":"+oldV+">"+newV)
		}
	})
	var want []string
	ids := []string{"a", "b", "c", "d"}
	vers := map[string]string{}
	for _, id := range ids {
		vers[id] = e.create(t, id, "1")
		e.mustString(t, id, "1")
	}
	for round := range 3 {
		e.clock.Advance(time.Hour)
		for _, id := range ids {
			v := e.put(t, id, fmt.Sprint(round+2))
			if _, err := e.cache.Refresh(t.Context(), id); err != nil {
				t.Fatal(err)
			}
			want = append(want, id+":"+vers[id]+">"+v)
			vers[id] = v
		}
	}
	secretcache.WaitIdle(e.cache)
	mu.Lock()
	defer mu.Unlock()
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("OnChange calls\n got %v\nwant %v", got, want)
	}
}

func TestPrefetchPublishesLikeARefresh(t *testing.T) {
	var mu sync.Mutex
	var changes []string
	e := newEnv(t, func(o *secretcache.Options) {
		o.OnChange = func(id, oldV, newV string) {
			mu.Lock()
			defer mu.Unlock()
			changes = append(changes, id+":"+oldV+">"+newV)
		}
	})
	v1 := e.create(t, "s", "v1")
	e.mustString(t, "s", "v1")
	v2 := e.put(t, "s", "v2")
	e.clock.Advance(testTTL)

	// A background refresh begins, and fails slowly; meanwhile Prefetch
	// loads v2. The failure must not put v1 back.
	e.srv.InjectFault(awsemu.Fault{Op: "DescribeSecret", Code: "ThrottlingException", Delay: 200 * time.Millisecond, Times: 1})
	e.mustString(t, "s", "v1")
	waitFor(t, func() bool { _, d := e.calls(); return d == 1 })
	e.clock.Advance(time.Millisecond) // the Prefetch begins after the refresh
	if err := e.cache.Prefetch(t.Context(), "s"); err != nil {
		t.Fatal(err)
	}
	e.mustString(t, "s", "v2")
	secretcache.WaitIdle(e.cache) // the refresh has failed by now
	e.mustString(t, "s", "v2")
	if st := e.cache.Stats(); st.Errors != 1 || st.Refreshes != 2 {
		t.Fatalf("Stats = %+v, want 1 error and 2 refreshes", st)
	}
	// The refresh after that sees v2 again: no second change.
	e.clock.Advance(testTTL)
	e.mustString(t, "s", "v2")
	secretcache.WaitIdle(e.cache)
	mu.Lock()
	defer mu.Unlock()
	if want := []string{"s:" + v1 + ">" + v2}; fmt.Sprint(changes) != fmt.Sprint(want) {
		t.Fatalf("OnChange calls = %v, want %v", changes, want)
	}
	e.wantCalls(t, 1, 2)
	if got := e.srv.Calls("BatchGetSecretValue"); got != 1 {
		t.Fatalf("BatchGetSecretValue calls = %d", got)
	}
}

func TestInvalidateDuringFetchStartsAFreshFetch(t *testing.T) {
	e := newEnv(t, func(o *secretcache.Options) { o.DescribeOnFirstFetch = true })
	e.create(t, "s", "one")
	// The first fetch reads "one" at once, then waits on its slow
	// DescribeSecret.
	e.srv.InjectFault(awsemu.Fault{Op: "DescribeSecret", Delay: 300 * time.Millisecond, Times: 1})
	first := make(chan string, 1)
	go func() { v, _ := e.cache.GetSecretString(context.Background(), "s"); first <- v }()
	waitFor(t, func() bool { g, d := e.calls(); return g == 1 && d == 1 })
	e.put(t, "s", "two")
	e.cache.Invalidate("s")
	began := time.Now()
	e.mustString(t, "s", "two") // a fetch of its own, not the one begun before
	if d := time.Since(began); d > 200*time.Millisecond {
		t.Fatalf("the read after Invalidate waited %v for the earlier fetch", d)
	}
	if v := <-first; v != "one" {
		t.Fatalf("the earlier read = %q, want one", v)
	}
	e.mustString(t, "s", "two")
	e.wantCalls(t, 2, 2)
}

func TestPrefetchErrorsAreTypedPerSecret(t *testing.T) {
	e := newEnv(t)
	e.create(t, "ok", "v")
	e.create(t, "gone", "v")
	e.mustString(t, "gone", "v")
	if _, err := e.sm.DeleteSecret(t.Context(), &secretsmanager.DeleteSecretInput{SecretId: aws.String("gone"), ForceDeleteWithoutRecovery: aws.Bool(true)}); err != nil {
		t.Fatal(err)
	}
	e.clock.Advance(testTTL)
	errsBefore := e.cache.Stats().Errors
	err := e.cache.Prefetch(t.Context(), "ok", "nope/1", "gone", "nope/2")
	ids := fetchErrorIDs(t, err)
	slices.Sort(ids) // the service's order of errors is its own
	if fmt.Sprint(ids) != "[gone nope/1 nope/2]" {
		t.Fatalf("Prefetch = %v; want one *FetchError per missing id, got ids %v", err, ids)
	}
	for _, fe := range fetchErrors(err) {
		var nf *types.ResourceNotFoundException
		if !errors.As(fe, &nf) || fe.Op != "BatchGetSecretValue" {
			t.Fatalf("%v: want *types.ResourceNotFoundException from BatchGetSecretValue", fe)
		}
	}
	if got := e.cache.Stats().Errors - errsBefore; got != 3 {
		t.Fatalf("Stats.Errors grew by %d, want 3", got)
	}
	e.mustString(t, "ok", "v")
	var nf *types.ResourceNotFoundException
	if _, err := e.cache.Get(t.Context(), "gone"); !errors.As(err, &nf) {
		t.Fatalf("Get of a secret Prefetch found deleted = %v, want not found", err)
	}

	// A failed call: one error per id it asked for.
	e.srv.InjectFault(awsemu.Fault{Op: "BatchGetSecretValue", Code: "InternalServiceError", Status: 500, Times: 1})
	e.create(t, "x", "v")
	e.create(t, "y", "v")
	errsBefore = e.cache.Stats().Errors
	err = e.cache.Prefetch(t.Context(), "x", "y")
	ids = fetchErrorIDs(t, err)
	if fmt.Sprint(ids) != "[x y]" {
		t.Fatalf("Prefetch with a failing call = %v; ids %v, want [x y]", err, ids)
	}
	for _, fe := range fetchErrors(err) {
		var ise *types.InternalServiceError
		if !errors.As(fe, &ise) {
			t.Fatalf("%v: want *types.InternalServiceError", fe)
		}
	}
	if got := e.cache.Stats().Errors - errsBefore; got != 2 {
		t.Fatalf("Stats.Errors grew by %d, want 2", got)
	}
}

// fetchErrors returns the *FetchError values joined in err.
func fetchErrors(err error) []*secretcache.FetchError {
	var out []*secretcache.FetchError
	var walk func(error)
	walk = func(err error) {
		var fe *secretcache.FetchError
		if j, ok := err.(interface{ Unwrap() []error }); ok {
			for _, e := range j.Unwrap() {
				walk(e)
			}
		} else if errors.As(err, &fe) {
			out = append(out, fe)
		}
	}
	if err != nil {
		walk(err)
	}
	return out
}

func fetchErrorIDs(t testing.TB, err error) []string {
	t.Helper()
	var ids []string
	for _, fe := range fetchErrors(err) {
		ids = append(ids, fe.SecretID)
	}
	return ids
}
