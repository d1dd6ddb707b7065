package secretcache_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
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
	e.wantCalls(t, 2, 0)
	if n := testing.AllocsPerRun(100, func() { e.cache.Get(t.Context(), "s", secretcache.WithVersionID(v1)) }); n != 0 {
		t.Errorf("Get WithVersionID hit: %v allocs/op", n)
	}
}

func TestPendingStageDisappearsAfterRotation(t *testing.T) {
	e := newEnv(t)
	v1 := e.create(t, "s", "one")
	v2 := e.put(t, "s", "two", secretcache.StagePending)
	e.mustString(t, "s", "one")
	if _, err := e.cache.Get(t.Context(), "s", secretcache.WithStage(secretcache.StagePending)); err != nil {
		t.Fatal(err)
	}
	moveCurrent(t, e, "s", v1, v2)
	if _, err := e.sm.UpdateSecretVersionStage(t.Context(), &secretsmanager.UpdateSecretVersionStageInput{SecretId: aws.String("s"),
		VersionStage: aws.String(secretcache.StagePending), RemoveFromVersionId: aws.String(v2)}); err != nil {
		t.Fatal(err)
	}
	e.clock.Advance(testTTL)
	e.cache.Get(t.Context(), "s", secretcache.WithStage(secretcache.StagePending))
	secretcache.WaitIdle(e.cache)
	if s, err := e.cache.Get(t.Context(), "s", secretcache.WithStage(secretcache.StagePending)); err == nil {
		t.Fatalf("AWSPENDING after the rotation = %v, want not found", s)
	}
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

func TestOnChangePanicReachesWaiters(t *testing.T) {
	e := newEnv(t, func(o *secretcache.Options) {
		o.OnChange = func(string, string, string) { panic("callback bug") }
	})
	e.create(t, "s", "one")
	e.mustString(t, "s", "one")
	e.put(t, "s", "two")
	e.clock.Advance(time.Hour)
	_, err := e.cache.Refresh(t.Context(), "s")
	if err == nil || !strings.Contains(err.Error(), "callback bug") {
		t.Fatalf("Refresh = %v, want the OnChange panic", err)
	}
	e.mustString(t, "s", "two") // the new value was published all the same
}

func TestLogsNeverContainValues(t *testing.T) {
	e := newEnv(t)
	e.create(t, "s", "Sup3rS3cret")
	e.mustString(t, "s", "Sup3rS3cret")
	e.srv.InjectFault(awsemu_fault("DescribeSecret", "ThrottlingException"))
	e.clock.Advance(testTTL)
	e.mustString(t, "s", "Sup3rS3cret")
	secretcache.WaitIdle(e.cache)
	logs := e.logs.String()
	if !strings.Contains(logs, "fetch failed") || strings.Contains(logs, "Sup3rS3cret") {
		t.Fatalf("logs:\n%s", logs)
	}
}
