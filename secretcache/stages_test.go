package secretcache_test

import (
	"context"
	"errors"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager/types"

	"github.com/rekeyhq/rekey/internal/awsemu"
	"github.com/rekeyhq/rekey/secretcache"
)

// A DescribeSecret answer holds every stage of a secret, so whichever entry
// asked for it, every cached stage entry of that secret is repointed.

var pendingStage = secretcache.WithStage(secretcache.StagePending)

// moveStage moves stage of secret id from version from to version to;
// an empty from or to leaves that side out (attach or remove only).
func moveStage(t testing.TB, e *env, id, stage, from, to string) {
	t.Helper()
	in := &secretsmanager.UpdateSecretVersionStageInput{SecretId: aws.String(id), VersionStage: aws.String(stage)}
	if from != "" {
		in.RemoveFromVersionId = aws.String(from)
	}
	if to != "" {
		in.MoveToVersionId = aws.String(to)
	}
	if _, err := e.sm.UpdateSecretVersionStage(context.Background(), in); err != nil {
		t.Fatalf("UpdateSecretVersionStage %s: %v", stage, err)
	}
}

// getVersion reads id with opts and checks the version and value.
func (e *env) getVersion(t testing.TB, id string, opt secretcache.GetOption, wantVersion, wantValue string) {
	t.Helper()
	s, err := e.cache.Get(context.Background(), id, opt)
	if err != nil {
		t.Fatalf("Get(%q, %v): %v", id, opt, err)
	}
	if v, _ := s.Text(); s.VersionID() != wantVersion || v != wantValue {
		t.Fatalf("Get(%q) = version %s value %q, want %s %q", id, s.VersionID(), v, wantVersion, wantValue)
	}
}

// wantNotFound checks that reading id with opt returns the typed not-found
// error and no value.
func (e *env) wantNotFound(t testing.TB, id string, opt secretcache.GetOption) {
	t.Helper()
	s, err := e.cache.Get(context.Background(), id, opt)
	var nf *types.ResourceNotFoundException
	if s != nil || !errors.As(err, &nf) {
		t.Fatalf("Get(%q, %v) = %v, %v; want *types.ResourceNotFoundException and no value", id, opt, s, err)
	}
}

func (e *env) refresh(t testing.TB, id, want string) {
	t.Helper()
	s, err := e.cache.Refresh(context.Background(), id)
	if err != nil {
		t.Fatalf("Refresh(%q): %v", id, err)
	}
	if v, _ := s.Text(); v != want {
		t.Fatalf("Refresh(%q) = %q, want %q", id, v, want)
	}
}

func TestRefreshRepointsPendingToANewVersion(t *testing.T) {
	e := newEnv(t)
	e.create(t, "db", "pw-1")
	v2 := e.put(t, "db", "pw-2", secretcache.StagePending)
	e.mustString(t, "db", "pw-1")
	e.getVersion(t, "db", pendingStage, v2, "pw-2")
	v3 := e.put(t, "db", "pw-3", secretcache.StagePending) // a new rotation takes AWSPENDING
	e.clock.Advance(secretcache.DefaultMinRefreshInterval)
	e.srv.ResetCalls()

	e.refresh(t, "db", "pw-1")
	e.wantCalls(t, 0, 1)
	// Every reader sees v3 at once, sharing one GetSecretValue by VersionId.
	var wg sync.WaitGroup
	for range 50 {
		wg.Go(func() {
			s, err := e.cache.Get(context.Background(), "db", pendingStage)
			if err != nil || s.VersionID() != v3 {
				t.Errorf("Get AWSPENDING = %v, %v; want %s", s, err, v3)
			}
		})
	}
	wg.Wait()
	e.wantCalls(t, 1, 1)
	if got := e.srv.Calls("GetSecretValue"); got != 1 {
		t.Fatalf("GetSecretValue calls = %d", got)
	}
	e.mustString(t, "db", "pw-1")
	e.getVersion(t, "db", pendingStage, v3, "pw-3")
	e.wantCalls(t, 1, 1)
}

// TestRotationRepointsEveryStage runs two rotations through RotateSecret
// and checks, at each pause, what Refresh makes every stage read return.
func TestRotationRepointsEveryStage(t *testing.T) {
	e := newEnv(t)
	v1 := e.create(t, "db", "pw-1")
	e.mustString(t, "db", "pw-1")
	const lambda = "arn:aws:lambda:us-east-1:123456789012:function:rot"
	current := v1
	var step func(step, token string)
	e.srv.RegisterRotationFunc(lambda, func(ctx context.Context, stepName, id, token string) error {
		switch stepName {
		case "createSecret":
			_, err := e.sm.PutSecretValue(ctx, &secretsmanager.PutSecretValueInput{SecretId: &id, ClientRequestToken: &token,
				SecretString: aws.String("pw-" + token[:4]), VersionStages: []string{secretcache.StagePending}})
			return err
		case "finishSecret":
			moveStage(t, e, id, secretcache.StageCurrent, current, token)
			moveStage(t, e, id, secretcache.StagePending, token, "")
			current = token
			return nil
		}
		step(stepName, token)
		return nil
	})
	rotate := func(token string) {
		t.Helper()
		if _, err := e.sm.RotateSecret(t.Context(), &secretsmanager.RotateSecretInput{SecretId: aws.String("db"),
			RotationLambdaARN: aws.String(lambda), ClientRequestToken: aws.String(token)}); err != nil {
			t.Fatalf("RotateSecret: %v", err)
		}
	}

	// First rotation: AWSPENDING not cached yet. Refresh's answer serves
	// its first read: one GetSecretValue by VersionId.
	t1 := "11111111-1111-4111-8111-111111111111"
	step = func(name, token string) {
		if name != "setSecret" {
			return
		}
		e.clock.Advance(secretcache.DefaultMinRefreshInterval)
		e.srv.ResetCalls()
		e.refresh(t, "db", "pw-1")
		e.getVersion(t, "db", pendingStage, token, "pw-1111")
		e.wantCalls(t, 1, 1)
	}
	rotate(t1)

	// finishSecret moved AWSCURRENT to t1, whose value the AWSPENDING
	// entry holds (no GetSecretValue), and removed AWSPENDING: its read
	// is the typed not-found error, not the old value.
	e.clock.Advance(secretcache.DefaultMinRefreshInterval)
	e.srv.ResetCalls()
	e.refresh(t, "db", "pw-1111")
	e.wantNotFound(t, "db", pendingStage)
	e.getVersion(t, "db", secretcache.WithStage(secretcache.StageCurrent), t1, "pw-1111")
	e.wantCalls(t, 0, 1)

	// Second rotation: the AWSPENDING entry, holding the not-found
	// answer, is repointed to the new version.
	t2 := "22222222-2222-4222-8222-222222222222"
	step = func(name, token string) {
		if name != "setSecret" {
			return
		}
		e.clock.Advance(secretcache.DefaultErrorBackoff)
		e.srv.ResetCalls()
		e.refresh(t, "db", "pw-1111")
		e.getVersion(t, "db", pendingStage, token, "pw-2222")
		e.wantCalls(t, 1, 1)
	}
	rotate(t2)
	e.clock.Advance(secretcache.DefaultMinRefreshInterval)
	e.srv.ResetCalls()
	e.refresh(t, "db", "pw-2222") // t2's value was cached under AWSPENDING
	e.wantNotFound(t, "db", pendingStage)
	e.getVersion(t, "db", secretcache.WithStage(secretcache.StagePrevious), t1, "pw-1111")
	e.wantCalls(t, 0, 1)
}

func TestBackgroundRefreshRepointsOtherStages(t *testing.T) {
	e := newEnv(t)
	e.create(t, "db", "pw-1")
	v2 := e.put(t, "db", "pw-2", secretcache.StagePending)
	e.mustString(t, "db", "pw-1")
	e.getVersion(t, "db", pendingStage, v2, "pw-2")
	v3 := e.put(t, "db", "pw-3", secretcache.StagePending)
	e.clock.Advance(testTTL)
	e.srv.ResetCalls()
	e.mustString(t, "db", "pw-1") // stale: AWSCURRENT's refresh describes
	secretcache.WaitIdle(e.cache)
	e.wantCalls(t, 0, 1)
	// Without the repointing this read would serve pw-2, stale.
	e.getVersion(t, "db", pendingStage, v3, "pw-3")
	e.wantCalls(t, 1, 1)
	if st := e.cache.Stats(); st.StaleHits != 1 {
		t.Fatalf("StaleHits = %d, want 1: the AWSPENDING read must not be served stale", st.StaleHits)
	}
}

func TestRefreshRepointsCustomLabels(t *testing.T) {
	e := newEnv(t)
	v1 := e.create(t, "db", "pw-1")
	blue := secretcache.WithStage("blue")
	moveStage(t, e, "db", "blue", "", v1)
	e.mustString(t, "db", "pw-1")
	e.getVersion(t, "db", blue, v1, "pw-1")
	e.wantCalls(t, 2, 0)

	v2 := e.put(t, "db", "pw-2", secretcache.StagePending)
	moveStage(t, e, "db", "blue", v1, v2)
	e.clock.Advance(secretcache.DefaultMinRefreshInterval)
	e.refresh(t, "db", "pw-1")
	e.getVersion(t, "db", blue, v2, "pw-2")
	e.wantCalls(t, 3, 1)

	// A label gone from every version is in no DescribeSecret answer; the
	// cache remembers it was read.
	moveStage(t, e, "db", "blue", v2, "")
	e.clock.Advance(secretcache.DefaultMinRefreshInterval)
	e.refresh(t, "db", "pw-1")
	e.wantNotFound(t, "db", blue)
	e.wantCalls(t, 3, 2)
}

// A stage read right after a DescribeSecret uses its answer: no call at
// all when the version is cached or the stage does not exist.
func TestFirstStageReadUsesARecentDescribe(t *testing.T) {
	e := newEnv(t)
	v1 := e.create(t, "db", "pw-1")
	e.put(t, "db", "pw-2") // v1 becomes AWSPREVIOUS
	e.mustString(t, "db", "pw-2")
	e.getVersion(t, "db", secretcache.WithVersionID(v1), v1, "pw-1")
	e.clock.Advance(secretcache.DefaultMinRefreshInterval)
	e.refresh(t, "db", "pw-2")
	e.wantCalls(t, 2, 1)
	e.getVersion(t, "db", secretcache.WithStage(secretcache.StagePrevious), v1, "pw-1") // cached by version id
	e.wantNotFound(t, "db", pendingStage)
	e.wantNotFound(t, "db", secretcache.WithStage("green"))
	e.wantCalls(t, 2, 1)

	// Once the answer is older than MinRefreshInterval, a first read asks
	// the service.
	e.clock.Advance(secretcache.DefaultMinRefreshInterval)
	e.wantNotFound(t, "db", secretcache.WithStage("red"))
	e.wantCalls(t, 3, 1)
}

func TestMovedStageServesStaleIfError(t *testing.T) {
	e := newEnv(t)
	e.create(t, "db", "pw-1")
	v2 := e.put(t, "db", "pw-2", secretcache.StagePending)
	e.mustString(t, "db", "pw-1")
	e.getVersion(t, "db", pendingStage, v2, "pw-2")
	e.put(t, "db", "pw-3", secretcache.StagePending)
	e.clock.Advance(secretcache.DefaultMinRefreshInterval)
	e.refresh(t, "db", "pw-1")
	e.srv.InjectFault(awsemu.Fault{Op: "GetSecretValue", Code: "ThrottlingException", Times: 1})
	// The fetch of the new version fails: the value AWSPENDING pointed
	// to is served, as for any failed refresh.
	e.getVersion(t, "db", pendingStage, v2, "pw-2")
	if st := e.cache.Stats(); st.Errors != 1 {
		t.Fatalf("Errors = %d, want 1", st.Errors)
	}
	e.clock.Advance(secretcache.DefaultErrorBackoff)
	e.cache.Get(t.Context(), "db", pendingStage) // stale: retries behind
	secretcache.WaitIdle(e.cache)
	s, err := e.cache.Get(t.Context(), "db", pendingStage)
	if v, _ := s.Text(); err != nil || v != "pw-3" {
		t.Fatalf("after the backoff AWSPENDING = %q, %v; want pw-3", v, err)
	}
}

func TestDeletedSecretDropsEveryStage(t *testing.T) {
	e := newEnv(t)
	e.create(t, "db", "pw-1")
	e.put(t, "db", "pw-2", secretcache.StagePending)
	e.mustString(t, "db", "pw-1")
	e.cache.Get(t.Context(), "db", pendingStage)
	if _, err := e.sm.DeleteSecret(t.Context(), &secretsmanager.DeleteSecretInput{SecretId: aws.String("db"), ForceDeleteWithoutRecovery: aws.Bool(true)}); err != nil {
		t.Fatal(err)
	}
	e.clock.Advance(secretcache.DefaultMinRefreshInterval)
	e.srv.ResetCalls()
	var nf *types.ResourceNotFoundException
	if _, err := e.cache.Refresh(t.Context(), "db"); !errors.As(err, &nf) {
		t.Fatalf("Refresh of a deleted secret = %v", err)
	}
	e.wantNotFound(t, "db", pendingStage)
	e.wantCalls(t, 0, 1)
}

// TestRefreshOfColdCurrentDescribes: with only another stage cached,
// Refresh describes first, so that it can repoint that stage.
func TestRefreshOfColdCurrentDescribes(t *testing.T) {
	e := newEnv(t)
	e.create(t, "db", "pw-1")
	v2 := e.put(t, "db", "pw-2", secretcache.StagePending)
	e.getVersion(t, "db", pendingStage, v2, "pw-2")
	v3 := e.put(t, "db", "pw-3", secretcache.StagePending)
	e.srv.ResetCalls()
	e.refresh(t, "db", "pw-1")
	e.wantCalls(t, 1, 1) // DescribeSecret, then AWSCURRENT's value by VersionId
	e.getVersion(t, "db", pendingStage, v3, "pw-3")
	e.wantCalls(t, 2, 1)
}

// TestMovedCurrentReportsOnChange: AWSPENDING's refresh finds AWSCURRENT on
// a version not cached; the AWSCURRENT read that fetches it reports the
// move from the version it replaced.
func TestMovedCurrentReportsOnChange(t *testing.T) {
	var mu sync.Mutex
	var changes []string
	e := newEnv(t, func(o *secretcache.Options) {
		o.OnChange = func(id, oldV, newV string) {
			mu.Lock()
			defer mu.Unlock()
			changes = append(changes, id+":"+oldV+">"+newV)
		}
	})
	v1 := e.create(t, "db", "pw-1")
	v2 := e.put(t, "db", "pw-2", secretcache.StagePending)
	e.getVersion(t, "db", pendingStage, v2, "pw-2")
	e.clock.Advance(testTTL / 2)
	e.mustString(t, "db", "pw-1") // fresh until 1.5×TTL
	v3 := e.put(t, "db", "pw-3")  // AWSCURRENT to a new version
	e.clock.Advance(testTTL / 2)
	e.srv.ResetCalls()
	e.getVersion(t, "db", pendingStage, v2, "pw-2") // stale: its refresh describes
	secretcache.WaitIdle(e.cache)
	e.wantCalls(t, 0, 1)
	e.mustString(t, "db", "pw-3") // not pw-1, though within its TTL
	e.wantCalls(t, 1, 1)
	secretcache.WaitIdle(e.cache)
	mu.Lock()
	defer mu.Unlock()
	if want := []string{"db:" + v1 + ">" + v3}; len(changes) != 1 || changes[0] != want[0] {
		t.Fatalf("OnChange calls = %v, want %v", changes, want)
	}
}
