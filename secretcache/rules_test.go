package secretcache_test

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager/types"
	"github.com/aws/smithy-go"

	"github.com/rekeyhq/rekey/internal/awsemu"
	"github.com/rekeyhq/rekey/secretcache"
)

// Rule 1: versions are immutable; a refresh asks DescribeSecret which
// version the stage points to and fetches only a version not cached.

func TestRefreshIsDescribeOnlyWhileVersionUnchanged(t *testing.T) {
	e := newEnv(t)
	e.create(t, "app/db", "v1")
	e.mustString(t, "app/db", "v1")
	for i := range 5 {
		e.clock.Advance(testTTL)
		e.mustString(t, "app/db", "v1") // stale, starts a refresh
		secretcache.WaitIdle(e.cache)
		e.wantCalls(t, 1, int64(i+1))
	}
	e.put(t, "app/db", "v2")
	e.clock.Advance(testTTL)
	e.mustString(t, "app/db", "v1")
	secretcache.WaitIdle(e.cache)
	e.mustString(t, "app/db", "v2")
	e.wantCalls(t, 2, 6)
}

func TestRefreshReusesCachedVersions(t *testing.T) {
	t.Run("finished rotation whose AWSPENDING was read", func(t *testing.T) {
		e := newEnv(t)
		v1 := e.create(t, "s", "old")
		e.mustString(t, "s", "old")
		v2 := e.put(t, "s", "new", secretcache.StagePending)
		pending, err := e.cache.Get(t.Context(), "s", secretcache.WithStage(secretcache.StagePending))
		if err != nil || pending.VersionID() != v2 {
			t.Fatalf("Get AWSPENDING = %v, %v", pending, err)
		}
		e.wantCalls(t, 2, 0)
		moveCurrent(t, e, "s", v1, v2)
		e.clock.Advance(testTTL)
		e.cache.Get(t.Context(), "s")
		secretcache.WaitIdle(e.cache)
		e.mustString(t, "s", "new")
		e.wantCalls(t, 2, 1) // DescribeSecret only: v2's value was cached
	})
	t.Run("rollback to the previous version", func(t *testing.T) {
		e := newEnv(t)
		v1 := e.create(t, "s", "old")
		e.mustString(t, "s", "old")
		v2 := e.put(t, "s", "new")
		e.clock.Advance(testTTL)
		if _, err := e.cache.Refresh(t.Context(), "s"); err != nil {
			t.Fatal(err)
		}
		e.mustString(t, "s", "new")
		e.wantCalls(t, 2, 1)
		moveCurrent(t, e, "s", v2, v1)
		e.clock.Advance(testTTL)
		if _, err := e.cache.Refresh(t.Context(), "s"); err != nil {
			t.Fatal(err)
		}
		e.mustString(t, "s", "old")
		e.wantCalls(t, 2, 2)
	})
}

func moveCurrent(t testing.TB, e *env, id, from, to string) {
	t.Helper()
	_, err := e.sm.UpdateSecretVersionStage(context.Background(), &secretsmanager.UpdateSecretVersionStageInput{
		SecretId: aws.String(id), VersionStage: aws.String(secretcache.StageCurrent),
		MoveToVersionId: aws.String(to), RemoveFromVersionId: aws.String(from),
	})
	if err != nil {
		t.Fatalf("UpdateSecretVersionStage: %v", err)
	}
}

func TestDescribeDeniedFallsBackToGetSecretValue(t *testing.T) {
	e := newEnv(t)
	e.srv.InjectFault(awsemu.Fault{Op: "DescribeSecret", Code: "AccessDeniedException"})
	e.create(t, "s", "v1")
	e.mustString(t, "s", "v1")
	e.wantCalls(t, 1, 0)
	e.clock.Advance(testTTL)
	e.mustString(t, "s", "v1") // the first refresh's DescribeSecret is denied
	secretcache.WaitIdle(e.cache)
	e.wantCalls(t, 2, 1)
	if st := e.cache.Stats(); st.Errors != 0 {
		t.Fatalf("a denied DescribeSecret counted as a failed fetch: %+v", st)
	}
	e.put(t, "s", "v2")
	for i := range 3 {
		e.clock.Advance(testTTL)
		e.cache.Get(t.Context(), "s")
		secretcache.WaitIdle(e.cache)
		e.wantCalls(t, int64(3+i), 1) // never asks DescribeSecret again
	}
	e.mustString(t, "s", "v2")
	if n := strings.Count(e.logs.String(), "DescribeSecret denied"); n != 1 {
		t.Fatalf("%d log lines about the denied DescribeSecret, want 1:\n%s", n, e.logs)
	}
}

// Rule 2: singleflight; waiters honour their own context.

func TestStampedeOnColdSecretMakesOneCall(t *testing.T) {
	for _, tc := range []struct {
		name         string
		describe     bool
		wantDescribe int64
	}{
		{"default", false, 0},
		{"DescribeOnFirstFetch", true, 1}, // the rotation check the issue allows
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, func(o *secretcache.Options) { o.DescribeOnFirstFetch = tc.describe })
			e.create(t, "hot", "value")
			// Hold the one call long enough for every reader to pile up behind it.
			e.srv.InjectFault(awsemu.Fault{Op: "GetSecretValue", Delay: 200 * time.Millisecond, Times: 1})
			const readers = 10_000
			var wg sync.WaitGroup
			var bad atomic.Int64
			start := make(chan struct{})
			for range readers {
				wg.Go(func() {
					<-start
					if v, err := e.cache.GetSecretString(context.Background(), "hot"); err != nil || v != "value" {
						bad.Add(1)
					}
				})
			}
			close(start)
			wg.Wait()
			if bad.Load() != 0 {
				t.Fatalf("%d readers failed", bad.Load())
			}
			e.wantCalls(t, 1, tc.wantDescribe)
		})
	}
}

func TestWaiterContextEndsAtOnceWhileSharedCallGoesOn(t *testing.T) {
	e := newEnv(t)
	e.create(t, "slow", "value")
	e.srv.InjectFault(awsemu.Fault{Op: "GetSecretValue", Delay: 300 * time.Millisecond, Times: 1})

	patient := make(chan error, 1)
	go func() {
		v, err := e.cache.GetSecretString(context.Background(), "slow")
		if err == nil && v != "value" {
			err = fmt.Errorf("got %q", v)
		}
		patient <- err
	}()
	waitFor(t, func() bool { return e.srv.Calls("GetSecretValue") == 1 })

	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	began := time.Now()
	_, err := e.cache.Get(ctx, "slow")
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("impatient Get = %v, want context.DeadlineExceeded", err)
	}
	if d := time.Since(began); d > 200*time.Millisecond {
		t.Fatalf("impatient Get returned after %v, want at its 20ms deadline", d)
	}
	if err := <-patient; err != nil {
		t.Fatalf("patient Get: %v", err)
	}
	e.wantCalls(t, 1, 0)
}

func TestLeaderCancellationDoesNotFailWaiters(t *testing.T) {
	e := newEnv(t)
	e.create(t, "slow", "value")
	e.srv.InjectFault(awsemu.Fault{Op: "GetSecretValue", Delay: 200 * time.Millisecond, Times: 1})
	ctx, cancel := context.WithCancel(context.Background())
	leader := make(chan error, 1)
	go func() { _, err := e.cache.Get(ctx, "slow"); leader <- err }()
	waitFor(t, func() bool { return e.srv.Calls("GetSecretValue") == 1 })
	follower := make(chan error, 1)
	go func() { _, err := e.cache.Get(context.Background(), "slow"); follower <- err }()
	cancel()
	if err := <-leader; !errors.Is(err, context.Canceled) {
		t.Fatalf("leader = %v, want context.Canceled", err)
	}
	if err := <-follower; err != nil {
		t.Fatalf("follower failed with the leader's cancellation: %v", err)
	}
	e.wantCalls(t, 1, 0)
}

func TestHungCallEndsAtFetchTimeout(t *testing.T) {
	e := newEnv(t, func(o *secretcache.Options) { o.FetchTimeout = 200 * time.Millisecond })
	e.create(t, "s", "value")
	e.srv.InjectFault(awsemu.Fault{Op: "GetSecretValue", Hang: true, Times: 1})
	began := time.Now()
	_, err := e.cache.Get(context.Background(), "s")
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Get = %v, want the fetch's own deadline", err)
	}
	var fe *secretcache.FetchError
	if !errors.As(err, &fe) || fe.SecretID != "s" {
		t.Fatalf("Get = %v, want a *FetchError naming the secret", err)
	}
	if d := time.Since(began); d > 2*time.Second {
		t.Fatalf("hung call lasted %v", d)
	}
	e.clock.Advance(secretcache.DefaultErrorBackoff)
	e.mustString(t, "s", "value")
}

// Rule 3: stale-while-revalidate.

func TestStaleWhileRevalidate(t *testing.T) {
	e := newEnv(t, func(o *secretcache.Options) { o.MaxStale = 10 * time.Minute })
	e.create(t, "s", "v1")
	e.mustString(t, "s", "v1")
	e.put(t, "s", "v2")

	// Past TTL a read answers at once from the cache, even while the
	// service hangs, and starts exactly one refresh.
	e.srv.InjectFault(awsemu.Fault{Op: "DescribeSecret", Delay: 300 * time.Millisecond, Times: 1})
	e.clock.Advance(testTTL)
	began := time.Now()
	for range 100 {
		e.mustString(t, "s", "v1")
	}
	if d := time.Since(began); d > 100*time.Millisecond {
		t.Fatalf("stale reads took %v; they must not wait for the refresh", d)
	}
	secretcache.WaitIdle(e.cache)
	e.wantCalls(t, 2, 1)
	e.mustString(t, "s", "v2")
	if st := e.cache.Stats(); st.StaleHits != 100 {
		t.Fatalf("StaleHits = %d, want 100", st.StaleHits)
	}

	// Past TTL+MaxStale a read blocks on the refresh.
	e.put(t, "s", "v3")
	e.clock.Advance(testTTL + 10*time.Minute)
	e.mustString(t, "s", "v3")
	e.wantCalls(t, 3, 2)
}

// Rule 4: stale-if-error with backoff.

func TestStaleIfErrorWithBackoff(t *testing.T) {
	e := newEnv(t, func(o *secretcache.Options) { o.MaxStale = 10 * time.Minute })
	e.create(t, "s", "v1")
	e.mustString(t, "s", "v1")
	e.srv.InjectFault(awsemu.Fault{Op: "DescribeSecret", Code: "ThrottlingException"})
	e.clock.Advance(testTTL)

	describes := func() int64 { _, d := e.calls(); return d }
	read := func() {
		t.Helper()
		for range 50 {
			e.mustString(t, "s", "v1")
		}
		secretcache.WaitIdle(e.cache)
	}
	read()
	if describes() != 1 {
		t.Fatalf("DescribeSecret calls = %d, want 1", describes())
	}
	// Backoff 1s, 2s, 4s: reads inside a backoff make no call.
	for _, step := range []struct {
		advance time.Duration
		want    int64
	}{{999 * time.Millisecond, 1}, {time.Millisecond, 2}, {time.Second, 2}, {time.Second, 3}, {3 * time.Second, 3}, {time.Second, 4}} {
		e.clock.Advance(step.advance)
		read()
		if got := describes(); got != step.want {
			t.Fatalf("after advancing %v: DescribeSecret calls = %d, want %d", step.advance, got, step.want)
		}
	}

	// 500s too; past TTL+MaxStale the error surfaces, typed.
	e.srv.ClearFaults()
	e.srv.InjectFault(awsemu.Fault{Op: "DescribeSecret", Code: "InternalServiceError", Status: 500})
	e.clock.Advance(10 * time.Minute)
	_, err := e.cache.Get(t.Context(), "s")
	var api smithy.APIError
	if !errors.As(err, &api) || api.ErrorCode() != "InternalServiceError" {
		t.Fatalf("Get past MaxStale = %v, want the InternalServiceError", err)
	}
	if strings.Contains(err.Error(), "v1") {
		t.Fatalf("error %q contains the value", err)
	}
	e.srv.ClearFaults()
	e.clock.Advance(secretcache.DefaultMaxErrorBackoff)
	e.mustString(t, "s", "v1")
	if st := e.cache.Stats(); st.Errors != 5 {
		t.Fatalf("Errors = %d, want 5", st.Errors)
	}
}

func TestThrottledFirstFetchRecovers(t *testing.T) {
	e := newEnv(t)
	e.create(t, "s", "v1")
	e.srv.InjectFault(awsemu.Fault{Op: "GetSecretValue", Code: "ThrottlingException", Times: 1})
	_, err := e.cache.Get(t.Context(), "s")
	var api smithy.APIError
	if !errors.As(err, &api) || api.ErrorCode() != "ThrottlingException" {
		t.Fatalf("Get = %v, want ThrottlingException", err)
	}
	e.clock.Advance(secretcache.DefaultErrorBackoff)
	e.mustString(t, "s", "v1")
	e.wantCalls(t, 2, 0)
}

// Rule 5: rotation awareness.

func TestRotationInProgressIsPolled(t *testing.T) {
	var changes []string
	var mu sync.Mutex
	e := newEnv(t, func(o *secretcache.Options) {
		o.TTL = time.Hour
		o.OnChange = func(id, oldV, newV string) {
			mu.Lock()
			defer mu.Unlock()
			changes = append(changes, id+":"+oldV+"->"+newV)
		}
	})
	v1 := e.create(t, "s", "old")
	e.mustString(t, "s", "old")
	v2 := e.put(t, "s", "new", secretcache.StagePending) // rotation begins
	e.clock.Advance(time.Hour)
	e.mustString(t, "s", "old")
	secretcache.WaitIdle(e.cache)
	e.wantCalls(t, 1, 1)

	// While AWSPENDING is on another version the secret is re-checked
	// every RotationPollInterval, not every TTL.
	e.clock.Advance(secretcache.DefaultRotationPollInterval)
	e.mustString(t, "s", "old")
	secretcache.WaitIdle(e.cache)
	e.wantCalls(t, 1, 2)

	moveCurrent(t, e, "s", v1, v2) // rotation finishes
	e.clock.Advance(secretcache.DefaultRotationPollInterval)
	e.cache.Get(t.Context(), "s")
	secretcache.WaitIdle(e.cache)
	e.mustString(t, "s", "new")
	e.wantCalls(t, 2, 3)
	mu.Lock()
	if want := []string{"s:" + v1 + "->" + v2}; fmt.Sprint(changes) != fmt.Sprint(want) {
		t.Errorf("OnChange calls = %v, want %v", changes, want)
	}
	mu.Unlock()

	// AWSPENDING is now on the AWSCURRENT version: polling stops.
	e.clock.Advance(time.Hour - time.Second)
	e.mustString(t, "s", "new")
	e.wantCalls(t, 2, 3)
}

func TestFirstFetchDuringRotationIsPolled(t *testing.T) {
	e := newEnv(t, func(o *secretcache.Options) { o.TTL = time.Hour; o.DescribeOnFirstFetch = true })
	v1 := e.create(t, "s", "old")
	v2 := e.put(t, "s", "new", secretcache.StagePending) // rotation in progress
	e.mustString(t, "s", "old")                          // first fetch
	e.wantCalls(t, 1, 1)
	moveCurrent(t, e, "s", v1, v2) // rotation finishes
	e.clock.Advance(secretcache.DefaultRotationPollInterval)
	e.mustString(t, "s", "old") // stale: starts the poll
	secretcache.WaitIdle(e.cache)
	e.mustString(t, "s", "new") // within one poll interval, not one TTL
	e.wantCalls(t, 2, 2)
}

// Without DescribeOnFirstFetch a first fetch does not know of a rotation
// in progress: it is one GetSecretValue, and the value is served for TTL.
func TestFirstFetchWithoutDescribeWaitsForTTL(t *testing.T) {
	e := newEnv(t, func(o *secretcache.Options) { o.TTL = time.Hour })
	v1 := e.create(t, "s", "old")
	v2 := e.put(t, "s", "new", secretcache.StagePending)
	e.mustString(t, "s", "old")
	e.wantCalls(t, 1, 0)
	moveCurrent(t, e, "s", v1, v2)
	e.clock.Advance(secretcache.DefaultRotationPollInterval)
	e.mustString(t, "s", "old") // still fresh: no poll
	secretcache.WaitIdle(e.cache)
	e.wantCalls(t, 1, 0)
	e.clock.Advance(time.Hour)
	e.mustString(t, "s", "old") // stale after TTL: one DescribeSecret
	secretcache.WaitIdle(e.cache)
	e.mustString(t, "s", "new")
	e.wantCalls(t, 2, 1)
}

func TestRotateSecretIsPickedUpWithoutRefresh(t *testing.T) {
	var changes atomic.Int64
	e := newEnv(t, func(o *secretcache.Options) {
		o.TTL = time.Hour
		o.OnChange = func(string, string, string) { changes.Add(1) }
	})
	v1 := e.create(t, "db", "pw-1")
	const lambda = "arn:aws:lambda:us-east-1:123456789012:function:rot"
	var steps []string
	e.srv.RegisterRotationFunc(lambda, func(ctx context.Context, step, id, token string) error {
		steps = append(steps, step)
		switch step {
		case "createSecret":
			_, err := e.sm.PutSecretValue(ctx, &secretsmanager.PutSecretValueInput{SecretId: &id, ClientRequestToken: &token,
				SecretString: aws.String("pw-2"), VersionStages: []string{secretcache.StagePending}})
			return err
		case "setSecret":
			// The application's TTL ends mid-rotation: its refresh sees
			// AWSPENDING on the new version and keeps serving pw-1.
			e.clock.Advance(time.Hour)
			e.mustString(t, "db", "pw-1")
			secretcache.WaitIdle(e.cache)
		case "finishSecret":
			if _, err := e.sm.UpdateSecretVersionStage(ctx, &secretsmanager.UpdateSecretVersionStageInput{SecretId: &id,
				VersionStage: aws.String(secretcache.StageCurrent), MoveToVersionId: &token, RemoveFromVersionId: &v1}); err != nil {
				return err
			}
			_, err := e.sm.UpdateSecretVersionStage(ctx, &secretsmanager.UpdateSecretVersionStageInput{SecretId: &id,
				VersionStage: aws.String(secretcache.StagePending), RemoveFromVersionId: &token})
			return err
		}
		return nil
	})
	e.mustString(t, "db", "pw-1")
	e.wantCalls(t, 1, 0)
	if _, err := e.sm.RotateSecret(t.Context(), &secretsmanager.RotateSecretInput{SecretId: aws.String("db"), RotationLambdaARN: aws.String(lambda)}); err != nil {
		t.Fatalf("RotateSecret: %v (steps %v)", err, steps)
	}
	e.srv.ResetCalls()
	e.mustString(t, "db", "pw-1") // the poll is not due yet
	e.clock.Advance(secretcache.DefaultRotationPollInterval)
	e.mustString(t, "db", "pw-1") // due: starts one refresh
	secretcache.WaitIdle(e.cache)
	e.mustString(t, "db", "pw-2")
	e.wantCalls(t, 1, 1) // one DescribeSecret, one GetSecretValue of the new version
	if n := changes.Load(); n != 1 {
		t.Fatalf("OnChange calls = %d, want 1", n)
	}
	// Rotation over (AWSPENDING removed): back to TTL.
	e.clock.Advance(time.Hour - time.Second)
	e.mustString(t, "db", "pw-2")
	e.wantCalls(t, 1, 1)
}

func TestNextRotationDateMovesRefresh(t *testing.T) {
	e := newEnv(t, func(o *secretcache.Options) {
		o.TTL = 30 * 24 * time.Hour
		o.MinRefreshInterval = -1
		o.DescribeOnFirstFetch = true // else NextRotationDate is learned at the first refresh
	})
	e.create(t, "s", "v1")
	e.srv.RegisterRotationFunc("arn:aws:lambda:us-east-1:123456789012:function:r", func(context.Context, string, string, string) error { return nil })
	_, err := e.sm.RotateSecret(t.Context(), &secretsmanager.RotateSecretInput{SecretId: aws.String("s"),
		RotationLambdaARN: aws.String("arn:aws:lambda:us-east-1:123456789012:function:r"),
		RotationRules:     &types.RotationRulesType{AutomaticallyAfterDays: aws.Int64(1)}, RotateImmediately: aws.Bool(false)})
	if err != nil {
		t.Fatalf("RotateSecret: %v", err)
	}
	d, err := e.sm.DescribeSecret(t.Context(), &secretsmanager.DescribeSecretInput{SecretId: aws.String("s")})
	if err != nil || d.NextRotationDate == nil {
		t.Fatalf("DescribeSecret: %v, NextRotationDate %v", err, d.NextRotationDate)
	}
	e.srv.ResetCalls()
	e.mustString(t, "s", "v1") // the first fetch learns NextRotationDate
	e.wantCalls(t, 1, 1)
	e.clock.ns.Store(d.NextRotationDate.Add(-time.Second).UnixNano())
	e.mustString(t, "s", "v1")
	e.wantCalls(t, 1, 1)
	e.clock.Advance(2 * time.Second)
	e.mustString(t, "s", "v1")
	secretcache.WaitIdle(e.cache)
	e.wantCalls(t, 1, 2) // refreshed at NextRotationDate, 29 days before TTL
}

// Rule 6: Refresh is forced but bounded.

func TestRefreshIsBoundedAndShared(t *testing.T) {
	e := newEnv(t)
	e.create(t, "s", "v1")
	e.mustString(t, "s", "v1")
	for range 10 {
		if _, err := e.cache.Refresh(t.Context(), "s"); err != nil {
			t.Fatal(err)
		}
	}
	e.wantCalls(t, 1, 0) // within MinRefreshInterval of the fetch

	e.put(t, "s", "v2")
	e.clock.Advance(secretcache.DefaultMinRefreshInterval)
	e.srv.InjectFault(awsemu.Fault{Op: "DescribeSecret", Delay: 100 * time.Millisecond, Times: 1})
	var wg sync.WaitGroup
	for range 100 {
		wg.Go(func() {
			s, err := e.cache.Refresh(context.Background(), "s")
			if err != nil {
				t.Error(err)
				return
			}
			if v, _ := s.Text(); v != "v2" {
				t.Errorf("Refresh = %q, want v2", v)
			}
		})
	}
	wg.Wait()
	e.wantCalls(t, 2, 1)

	// A failing refresh reports its error once; during its backoff
	// Refresh returns the last good value without an API call.
	e.srv.InjectFault(awsemu.Fault{Op: "DescribeSecret", Code: "ThrottlingException"})
	e.clock.Advance(secretcache.DefaultMinRefreshInterval)
	began := time.Now()
	var api smithy.APIError
	if _, err := e.cache.Refresh(t.Context(), "s"); !errors.As(err, &api) || api.ErrorCode() != "ThrottlingException" {
		t.Fatalf("Refresh while the service throttles = %v", err)
	}
	for range 10 {
		s, err := e.cache.Refresh(t.Context(), "s")
		if err != nil {
			t.Fatalf("Refresh during the backoff = %v, want the last good value", err)
		}
		if v, _ := s.Text(); v != "v2" {
			t.Fatalf("Refresh during the backoff = %q, want v2", v)
		}
	}
	if d := time.Since(began); d > time.Second {
		t.Fatalf("11 refreshes took %v; Refresh must not sleep", d)
	}
	e.wantCalls(t, 2, 2)
	e.mustString(t, "s", "v2") // still served from cache
}

// Rule 7: correct without background goroutines; Close stops everything.

func TestFrozenEnvironmentWakesCorrect(t *testing.T) {
	e := newEnv(t)
	e.create(t, "s", "v1")
	e.mustString(t, "s", "v1")
	e.put(t, "s", "v2")
	// A Lambda environment frozen for a day: no timer or goroutine ran.
	e.clock.Advance(24 * time.Hour)
	e.mustString(t, "s", "v2") // blocking refresh on access, no WaitIdle
}

func TestCloseStopsBackgroundWork(t *testing.T) {
	e := newEnv(t)
	e.create(t, "s", "v1")
	e.create(t, "cold", "c")
	e.mustString(t, "s", "v1")
	e.srv.InjectFault(awsemu.Fault{Op: "DescribeSecret", Hang: true})
	e.srv.InjectFault(awsemu.Fault{Op: "GetSecretValue", Hang: true})
	e.clock.Advance(testTTL)
	e.mustString(t, "s", "v1") // starts a refresh that hangs
	waiter := make(chan error, 1)
	go func() { _, err := e.cache.Get(context.Background(), "cold"); waiter <- err }()
	waitFor(t, func() bool { g, d := e.calls(); return g == 2 && d == 1 })

	began := time.Now()
	if err := e.cache.Close(); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(began); d > time.Second {
		t.Fatalf("Close took %v", d)
	}
	if err := <-waiter; !errors.Is(err, secretcache.ErrClosed) {
		t.Fatalf("waiter got %v, want ErrClosed", err)
	}
	if err := e.cache.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if _, err := e.cache.Get(t.Context(), "s"); !errors.Is(err, secretcache.ErrClosed) {
		t.Fatalf("Get after Close = %v, want ErrClosed", err)
	}
	if _, err := e.cache.Refresh(t.Context(), "s"); !errors.Is(err, secretcache.ErrClosed) {
		t.Fatalf("Refresh after Close = %v", err)
	}
	if err := e.cache.Prefetch(t.Context(), "s"); !errors.Is(err, secretcache.ErrClosed) {
		t.Fatalf("Prefetch after Close = %v", err)
	}
}

// Rule 8: value sizes and kinds.

func TestValueKindsAndSizes(t *testing.T) {
	e := newEnv(t)
	big := strings.Repeat("x", secretcache.MaxValueSize)
	e.create(t, "big", big)
	got, err := e.cache.GetSecretString(t.Context(), "big")
	if err != nil || got != big {
		t.Fatalf("65,536-byte secret: len %d, %v", len(got), err)
	}
	bin := []byte{0, 1, 2, 0xff}
	if _, err := e.sm.CreateSecret(t.Context(), &secretsmanager.CreateSecretInput{Name: aws.String("bin"), SecretBinary: bin}); err != nil {
		t.Fatal(err)
	}
	b, err := e.cache.GetSecretBinary(t.Context(), "bin")
	if err != nil || string(b) != string(bin) {
		t.Fatalf("GetSecretBinary = %v, %v", b, err)
	}
	b[0] = 42 // the copy is the caller's
	if b2, _ := e.cache.GetSecretBinary(t.Context(), "bin"); b2[0] != 0 {
		t.Fatal("GetSecretBinary returned the cached bytes, not a copy")
	}
	_, err = e.cache.GetSecretString(t.Context(), "bin")
	if !errors.Is(err, secretcache.ErrBinary) || !strings.Contains(err.Error(), `"bin"`) {
		t.Fatalf("GetSecretString(binary) = %v, want ErrBinary naming the secret", err)
	}
	// Read by ARN, the error names the id passed, not the secret's name.
	d, err := e.sm.DescribeSecret(t.Context(), &secretsmanager.DescribeSecretInput{SecretId: aws.String("bin")})
	if err != nil {
		t.Fatal(err)
	}
	_, err = e.cache.GetSecretString(t.Context(), aws.ToString(d.ARN))
	if !errors.Is(err, secretcache.ErrBinary) || !strings.Contains(err.Error(), aws.ToString(d.ARN)) {
		t.Fatalf("GetSecretString(binary ARN) = %v, want ErrBinary naming the ARN passed", err)
	}
	_, err = e.cache.GetSecretBinary(t.Context(), "big")
	if !errors.Is(err, secretcache.ErrNotBinary) || !strings.Contains(err.Error(), `"big"`) {
		t.Fatalf("GetSecretBinary(string) = %v, want ErrNotBinary naming the secret", err)
	}
	e.wantCalls(t, 3, 1) // the DescribeSecret is the test's own
}

func TestDeletedSecretIsDropped(t *testing.T) {
	for _, tc := range []struct {
		name   string
		denied bool // DescribeSecret denied: refreshes use GetSecretValue
		op     string
	}{{"DescribeSecret", false, "DescribeSecret"}, {"GetSecretValue only", true, "GetSecretValue"}} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			if tc.denied {
				e.srv.InjectFault(faultOn("DescribeSecret", "AccessDeniedException"))
			}
			e.create(t, "s", "v1")
			e.mustString(t, "s", "v1")
			if _, err := e.sm.DeleteSecret(t.Context(), &secretsmanager.DeleteSecretInput{SecretId: aws.String("s"), ForceDeleteWithoutRecovery: aws.Bool(true)}); err != nil {
				t.Fatal(err)
			}
			e.clock.Advance(testTTL)
			e.mustString(t, "s", "v1") // stale: its refresh learns of the deletion
			secretcache.WaitIdle(e.cache)
			for range 3 {
				s, err := e.cache.Get(t.Context(), "s")
				var nf *types.ResourceNotFoundException
				var fe *secretcache.FetchError
				if !errors.As(err, &nf) || !errors.As(err, &fe) || fe.Op != tc.op || s != nil {
					t.Fatalf("Get after deletion = %v, %v; want a *FetchError of %s wrapping ResourceNotFoundException", s, err, tc.op)
				}
			}
			calls := e.cache.Stats().Calls.Total()
			_, err := e.cache.Refresh(t.Context(), "s")
			var nf *types.ResourceNotFoundException
			if !errors.As(err, &nf) {
				t.Fatalf("Refresh after deletion = %v", err)
			}
			if got := e.cache.Stats().Calls.Total(); got != calls {
				t.Fatalf("Refresh during the backoff made %d API calls", got-calls)
			}
		})
	}
}

func TestRefreshDuringBackoffReturnsLastGoodValue(t *testing.T) {
	e := newEnv(t)
	e.create(t, "s", "v1")
	e.mustString(t, "s", "v1")
	e.srv.InjectFault(awsemu.Fault{Op: "DescribeSecret", Code: "ThrottlingException", Times: 1})
	e.clock.Advance(2 * time.Second)
	if _, err := e.cache.Refresh(t.Context(), "s"); err == nil {
		t.Fatal("Refresh succeeded while throttled")
	}
	e.wantCalls(t, 1, 1)
	e.clock.Advance(500 * time.Millisecond) // inside the 1s backoff
	s, err := e.cache.Refresh(t.Context(), "s")
	if err != nil {
		t.Fatalf("Refresh during the backoff = %v, want the last good value", err)
	}
	if v, _ := s.Text(); v != "v1" {
		t.Fatalf("Refresh during the backoff = %q, want v1", v)
	}
	e.wantCalls(t, 1, 1)

	// With nothing good cached, the backoff answers with the error.
	e.srv.InjectFault(awsemu.Fault{Op: "GetSecretValue", Code: "ThrottlingException", Times: 1})
	e.create(t, "cold", "c")
	if _, err := e.cache.Refresh(t.Context(), "cold"); err == nil {
		t.Fatal("first Refresh succeeded while throttled")
	}
	var api smithy.APIError
	if _, err := e.cache.Refresh(t.Context(), "cold"); !errors.As(err, &api) || api.ErrorCode() != "ThrottlingException" {
		t.Fatalf("Refresh in the backoff with nothing cached = %v, want the cached error", err)
	}
	e.wantCalls(t, 2, 1)
}

func TestHugeTTLNeverExpires(t *testing.T) {
	for _, r := range []float64{0, 0.5, 0.999} {
		t.Run(fmt.Sprint("rand=", r), func(t *testing.T) {
			e := newEnv(t, func(o *secretcache.Options) {
				o.TTL = math.MaxInt64
				o.Jitter = 0.1
				secretcache.SetRand(o, func() float64 { return r })
			})
			e.create(t, "s", "v1")
			e.mustString(t, "s", "v1")
			e.clock.Advance(100 * 365 * 24 * time.Hour)
			e.mustString(t, "s", "v1")
			secretcache.WaitIdle(e.cache)
			e.wantCalls(t, 1, 0)
			if st := e.cache.Stats(); st.Hits != 1 || st.StaleHits != 0 || st.Errors != 0 {
				t.Fatalf("Stats = %+v, want one fresh hit", st)
			}
		})
	}
}

func TestDescribeDeniedIsRememberedPerSecret(t *testing.T) {
	// DescribeOnFirstFetch makes every first fetch ask, so a forgotten
	// denial would show.
	e := newEnv(t, func(o *secretcache.Options) { o.MaxEntries = 2; o.DescribeOnFirstFetch = true })
	e.srv.InjectFault(faultOn("DescribeSecret", "AccessDeniedException"))
	e.create(t, "a", "a1")
	e.create(t, "b", "b1")
	e.mustString(t, "a", "a1")
	e.wantCalls(t, 1, 1)
	// A re-read after Invalidate or after eviction does not ask
	// DescribeSecret again.
	e.cache.Invalidate("a")
	e.mustString(t, "a", "a1")
	e.wantCalls(t, 2, 1)
	e.mustString(t, "b", "b1") // denied too: its own log line
	e.wantCalls(t, 3, 2)
	e.create(t, "c", "c1")
	for range 3 { // three secrets in two entries: evictions
		e.mustString(t, "c", "c1")
		e.mustString(t, "a", "a1")
		e.mustString(t, "b", "b1")
	}
	if st := e.cache.Stats(); st.Evictions < 3 {
		t.Fatalf("Evictions = %d, want some", st.Evictions)
	}
	e.clock.Advance(testTTL)
	e.mustString(t, "a", "a1")
	secretcache.WaitIdle(e.cache)
	if _, d := e.calls(); d != 3 {
		t.Fatalf("DescribeSecret calls = %d, want 3 (one per secret)", d)
	}
	logs := e.logs.String()
	if n := strings.Count(logs, "DescribeSecret denied"); n != 3 || strings.Count(logs, "secret_id=a ") != 1 || strings.Count(logs, "secret_id=b ") != 1 {
		t.Fatalf("want one log line per secret:\n%s", logs)
	}
}

// waitFor polls cond in real time; for conditions on other goroutines that
// the fake clock cannot drive (an HTTP request reaching the emulator).
func waitFor(t testing.TB, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met within 5s")
		}
		time.Sleep(time.Millisecond)
	}
}
