package secretcache_test

import (
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager/types"
	"github.com/aws/smithy-go"

	"github.com/rekeyhq/rekey/secretcache"
)

func TestPrefetch(t *testing.T) {
	e := newEnv(t)
	var ids []string
	for i := range 45 {
		ids = append(ids, fmt.Sprintf("p/%02d", i))
		e.create(t, ids[i], "value-"+ids[i])
	}
	e.mustString(t, "p/00", "value-p/00") // already cached: not asked for again
	e.srv.ResetCalls()
	if err := e.cache.Prefetch(t.Context(), ids...); err != nil {
		t.Fatal(err)
	}
	if got := e.srv.Calls("BatchGetSecretValue"); got != 3 {
		t.Fatalf("BatchGetSecretValue calls = %d, want 3 for 44 uncached ids", got)
	}
	for _, id := range ids {
		e.mustString(t, id, "value-"+id)
	}
	e.wantCalls(t, 0, 0)
	if err := e.cache.Prefetch(t.Context(), ids...); err != nil || e.srv.Calls("BatchGetSecretValue") != 3 {
		t.Fatalf("second Prefetch: %v, %d calls", err, e.srv.Calls("BatchGetSecretValue"))
	}

	d, err := e.sm.DescribeSecret(t.Context(), &secretsmanager.DescribeSecretInput{SecretId: aws.String("p/01")})
	if err != nil {
		t.Fatal(err)
	}
	e.create(t, "q", "qv")
	e.srv.ResetCalls()
	err = e.cache.Prefetch(t.Context(), "q", "nope/1", "nope/2", aws.ToString(d.ARN))
	var fe *secretcache.FetchError
	if !errors.As(err, &fe) || !strings.Contains(err.Error(), "nope/1") || !strings.Contains(err.Error(), "nope/2") {
		t.Fatalf("Prefetch with missing ids = %v, want errors naming them", err)
	}
	var api smithy.APIError
	if !errors.As(err, &api) {
		t.Fatalf("Prefetch error %v does not carry the API error", err)
	}
	if got := e.srv.Calls("BatchGetSecretValue"); got != 1 {
		t.Fatalf("BatchGetSecretValue calls = %d, want 1", got)
	}
	e.mustString(t, "q", "qv")
	e.mustString(t, aws.ToString(d.ARN), "value-p/01")
	e.wantCalls(t, 0, 0)
}

func TestWithVersionIDIsNeverRefreshed(t *testing.T) {
	e := newEnv(t)
	v1 := e.create(t, "s", "one")
	e.put(t, "s", "two")
	s, err := e.cache.Get(t.Context(), "s", secretcache.WithVersionID(v1))
	if err != nil || s.VersionID() != v1 {
		t.Fatalf("Get version = %v, %v", s, err)
	}
	if v, _ := s.Text(); v != "one" {
		t.Fatalf("value = %q", v)
	}
	prev, err := e.cache.Get(t.Context(), "s", secretcache.WithStage(secretcache.StagePrevious))
	if err != nil || prev.VersionID() != v1 {
		t.Fatalf("Get AWSPREVIOUS = %v, %v", prev, err)
	}
	e.clock.Advance(100 * testTTL)
	if s2, err := e.cache.Get(t.Context(), "s", secretcache.WithVersionID(v1)); err != nil || s2 != s {
		t.Fatalf("second Get = %v, %v; want the same cached version", s2, err)
	}
	e.wantCalls(t, 2, 0) // a first fetch is one GetSecretValue
	if st := e.cache.Stats(); st.Refreshes != 2 || st.Misses != 2 {
		t.Errorf("Stats = %+v, want 2 refreshes (the version fetch counts) and 2 misses", st)
	}
	if n := testing.AllocsPerRun(100, func() { e.cache.Get(t.Context(), "s", secretcache.WithVersionID(v1)) }); n != 0 {
		t.Errorf("Get WithVersionID hit: %v allocs/op", n)
	}
}

func TestPendingStageDisappearsAfterRotation(t *testing.T) {
	e := newEnv(t)
	v1 := e.create(t, "s", "one")
	v2 := e.put(t, "s", "two", secretcache.StagePending)
	e.mustString(t, "s", "one")
	pending := secretcache.WithStage(secretcache.StagePending)
	if s, err := e.cache.Get(t.Context(), "s", pending); err != nil || s.VersionID() != v2 {
		t.Fatalf("Get AWSPENDING = %v, %v", s, err)
	}
	e.wantCalls(t, 2, 0)
	moveCurrent(t, e, "s", v1, v2)
	if _, err := e.sm.UpdateSecretVersionStage(t.Context(), &secretsmanager.UpdateSecretVersionStageInput{SecretId: aws.String("s"),
		VersionStage: aws.String(secretcache.StagePending), RemoveFromVersionId: aws.String(v2)}); err != nil {
		t.Fatal(err)
	}
	e.clock.Advance(testTTL)
	// Stale: served once more while one DescribeSecret finds the stage gone.
	if s, err := e.cache.Get(t.Context(), "s", pending); err != nil || s.VersionID() != v2 {
		t.Fatalf("stale Get AWSPENDING = %v, %v", s, err)
	}
	secretcache.WaitIdle(e.cache)
	e.wantCalls(t, 2, 1)
	for range 5 {
		s, err := e.cache.Get(t.Context(), "s", pending)
		var nf *types.ResourceNotFoundException
		if !errors.As(err, &nf) {
			t.Fatalf("AWSPENDING after the rotation = %v, %v; want *types.ResourceNotFoundException", s, err)
		}
	}
	e.wantCalls(t, 2, 1) // the answer is cached for the backoff
	// A stage that no longer exists is an answer, not a failure.
	if st := e.cache.Stats(); st.NegativeHits != 5 || st.Errors != 0 {
		t.Fatalf("Stats = %+v, want 5 negative hits and no error", st)
	}
	// The same answer repointed AWSCURRENT to v2, whose value the
	// AWSPENDING entry held: no GetSecretValue.
	e.mustString(t, "s", "two")
	e.wantCalls(t, 2, 1)
}

func TestInvalidate(t *testing.T) {
	e := newEnv(t)
	e.create(t, "s", "one")
	e.mustString(t, "s", "one")
	e.cache.Get(t.Context(), "s", secretcache.WithStage(secretcache.StageCurrent))
	e.put(t, "s", "two")
	e.cache.Invalidate("s")
	e.mustString(t, "s", "two")
	e.wantCalls(t, 2, 0)
	if st := e.cache.Stats(); st.Entries != 1 {
		t.Fatalf("Entries = %d, want 1", st.Entries)
	}
}

func TestOnChangePanicIsRecoveredAndReported(t *testing.T) {
	var calls atomic.Int64
	e := newEnv(t, func(o *secretcache.Options) {
		o.OnChange = func(string, string, string) {
			if calls.Add(1) == 1 {
				panic("callback bug")
			}
		}
	})
	e.create(t, "s", "one")
	e.mustString(t, "s", "one")
	e.put(t, "s", "two")
	e.clock.Advance(time.Hour)
	s, err := e.cache.Refresh(t.Context(), "s")
	if err != nil || s == nil {
		t.Fatalf("Refresh = %v, %v; OnChange runs outside the fetch, so its panic must not fail it", s, err)
	}
	secretcache.WaitIdle(e.cache)
	e.mustString(t, "s", "two")
	if n := calls.Load(); n != 1 {
		t.Fatalf("OnChange called %d times for one change, want exactly 1", n)
	}
	logs := e.logs.String()
	if n := strings.Count(logs, "OnChange panicked"); n != 1 || !strings.Contains(logs, "callback bug") || !strings.Contains(logs, "goroutine") {
		t.Fatalf("want one log line with the panic value and its stack:\n%s", logs)
	}

	// Delivery goes on after a panic.
	e.put(t, "s", "three")
	e.clock.Advance(time.Hour)
	if _, err := e.cache.Refresh(t.Context(), "s"); err != nil {
		t.Fatal(err)
	}
	secretcache.WaitIdle(e.cache)
	if n := calls.Load(); n != 2 {
		t.Fatalf("OnChange calls = %d after a second change, want 2", n)
	}

	err = e.cache.Close()
	if !errors.Is(err, secretcache.ErrCallbackPanic) || !strings.Contains(err.Error(), "callback bug") || !strings.Contains(err.Error(), `"s"`) {
		t.Fatalf("Close = %v, want the panic wrapping ErrCallbackPanic", err)
	}
	if strings.Contains(err.Error(), "goroutine") || strings.Contains(err.Error(), ".go:") {
		t.Fatalf("the stack belongs in the log, not in Error(): %q", err)
	}
	if err2 := e.cache.Close(); !errors.Is(err2, secretcache.ErrCallbackPanic) {
		t.Fatalf("second Close = %v", err2)
	}
}

func TestLogsNeverContainValues(t *testing.T) {
	e := newEnv(t)
	e.create(t, "s", "Sup3rS3cret")
	e.mustString(t, "s", "Sup3rS3cret")
	e.srv.InjectFault(faultOn("DescribeSecret", "ThrottlingException"))
	e.clock.Advance(testTTL)
	e.mustString(t, "s", "Sup3rS3cret")
	secretcache.WaitIdle(e.cache)
	logs := e.logs.String()
	if !strings.Contains(logs, "fetch failed") || strings.Contains(logs, "Sup3rS3cret") {
		t.Fatalf("logs:\n%s", logs)
	}
}
