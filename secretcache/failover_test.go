package secretcache_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager/types"
	"github.com/aws/smithy-go"
	smithyhttp "github.com/aws/smithy-go/transport/http"

	"github.com/rekeyhq/rekey/internal/awsemu"
	"github.com/rekeyhq/rekey/secretcache"
)

const (
	primaryRegion = "us-east-1"
	replicaRegion = "us-west-2"
	// testPrimaryTimeout keeps the outage tests short; the defaults are
	// measured by BenchmarkFailover.
	testPrimaryTimeout = 100 * time.Millisecond
)

// regions is a secret replicated from a primary Region to a replica one:
// two emulators, each written with the same values and version ids, and
// SDK clients without retries, so API call counts are exact.
type regions struct {
	primary, replica     *awsemu.Server
	primarySM, replicaSM *secretsmanager.Client
	clock                *fakeClock
	logs                 *syncBuffer
}

func newRegions(t testing.TB) *regions {
	t.Helper()
	r := &regions{
		primary: awsemu.New(t, func(o *awsemu.Options) { o.Region = primaryRegion }),
		replica: awsemu.New(t, func(o *awsemu.Options) { o.Region = replicaRegion }),
		clock:   newFakeClock(),
		logs:    &syncBuffer{},
	}
	noRetry := func(o *secretsmanager.Options) { o.RetryMaxAttempts = 1 }
	r.primarySM = secretsmanager.NewFromConfig(r.primary.AWSConfig(), noRetry)
	r.replicaSM = secretsmanager.NewFromConfig(r.replica.AWSConfig(), noRetry)
	r.primary.SetClock(r.clock.Now)
	r.replica.SetClock(r.clock.Now)
	return r
}

// cache returns a cache reading the primary with the replica as failover.
func (r *regions) cache(t testing.TB, optFns ...func(*secretcache.Options)) *secretcache.Cache {
	t.Helper()
	fns := append([]func(*secretcache.Options){func(o *secretcache.Options) {
		o.TTL = testTTL
		o.Jitter = -1
		secretcache.SetClock(o, r.clock.Now)
		o.Logger = slog.New(slog.NewTextHandler(r.logs, nil))
		o.FetchTimeout = 5 * time.Second
		o.PrimaryTimeout = testPrimaryTimeout
		o.Replicas = []secretcache.Replica{{Region: replicaRegion, Client: r.replicaSM}}
	}}, optFns...)
	c, err := secretcache.New(r.primarySM, fns...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// token returns a ClientRequestToken (hence version id) for n.
func token(n string) string { return "00000000-0000-4000-8000-" + strings.Repeat("0", 12-len(n)) + n }

// create makes the secret in both Regions with version id token(version).
func (r *regions) create(t testing.TB, name, value, version string) {
	t.Helper()
	for _, sm := range []*secretsmanager.Client{r.primarySM, r.replicaSM} {
		if _, err := sm.CreateSecret(t.Context(), &secretsmanager.CreateSecretInput{
			Name: aws.String(name), SecretString: aws.String(value), ClientRequestToken: aws.String(token(version)),
		}); err != nil {
			t.Fatalf("CreateSecret %s: %v", name, err)
		}
	}
}

// replicate stores a version in the replica Region only, as replication
// of a write made before the primary went down does.
func (r *regions) replicate(t testing.TB, name, value, version string, stages ...string) {
	t.Helper()
	for _, sm := range []*secretsmanager.Client{r.replicaSM} {
		in := &secretsmanager.PutSecretValueInput{SecretId: aws.String(name), SecretString: aws.String(value), ClientRequestToken: aws.String(token(version))}
		if len(stages) > 0 {
			in.VersionStages = stages
		}
		if _, err := sm.PutSecretValue(t.Context(), in); err != nil {
			t.Fatalf("PutSecretValue %s: %v", name, err)
		}
	}
}

// down makes every request to the primary hang: a Regional outage.
func (r *regions) down() { r.primary.InjectFault(awsemu.Fault{Hang: true}) }

func (r *regions) primaryCalls() int64 {
	return r.primary.Calls("GetSecretValue") + r.primary.Calls("DescribeSecret")
}

func (r *regions) replicaCalls() int64 {
	return r.replica.Calls("GetSecretValue") + r.replica.Calls("DescribeSecret")
}

func mustGet(t testing.TB, c *secretcache.Cache, id string) *secretcache.Secret {
	t.Helper()
	s, err := c.Get(t.Context(), id)
	if err != nil {
		t.Fatalf("Get(%q): %v", id, err)
	}
	return s
}

func TestFailoverColdReadDuringOutage(t *testing.T) {
	for _, describe := range []bool{false, true} {
		t.Run(map[bool]string{false: "get", true: "describe-on-first-fetch"}[describe], func(t *testing.T) {
			r := newRegions(t)
			r.create(t, "app/db", "v1", "1")
			r.down()
			c := r.cache(t, func(o *secretcache.Options) { o.DescribeOnFirstFetch = describe })
			start := time.Now()
			s := mustGet(t, c, "app/db")
			elapsed := time.Since(start)
			if v, _ := s.Text(); v != "v1" || s.Region() != replicaRegion || !strings.Contains(s.ARN(), ":"+replicaRegion+":") {
				t.Fatalf("Get = %v in %q, want v1 from %s", s, s.Region(), replicaRegion)
			}
			if elapsed < testPrimaryTimeout || elapsed > testPrimaryTimeout+time.Second {
				t.Errorf("cold read took %v, want the primary timeout %v plus one replica round trip", elapsed, testPrimaryTimeout)
			}
			want := int64(1)
			if describe {
				want = 2 // GetSecretValue and DescribeSecret, concurrently
			}
			if p, rc := r.primaryCalls(), r.replicaCalls(); p != want || rc != want {
				t.Fatalf("calls: primary %d, replica %d; want %d each", p, rc, want)
			}
			if st := c.Stats(); st.Failovers != uint64(want) || st.Errors != 0 {
				t.Fatalf("Stats = %+v, want %d failovers and no error", st, want)
			}
			// The replica's answer is cached like any other: hits call nobody.
			mustGet(t, c, "app/db")
			if p, rc := r.primaryCalls(), r.replicaCalls(); p != want || rc != want {
				t.Fatalf("a hit called the service: primary %d, replica %d", p, rc)
			}
		})
	}
}

func TestFailoverOnlyOnOutageErrors(t *testing.T) {
	outage := []struct {
		name  string
		fault awsemu.Fault
	}{
		{"hang", awsemu.Fault{Hang: true}},
		{"reset", awsemu.Fault{Reset: true}},
		{"throttling", awsemu.Fault{Code: "ThrottlingException"}},
		{"internal-error", awsemu.Fault{Code: "InternalServiceError"}},
		{"503", awsemu.Fault{Code: "ServiceUnavailable", Status: 503}},
	}
	for _, tc := range outage {
		t.Run("fails-over/"+tc.name, func(t *testing.T) {
			r := newRegions(t)
			r.create(t, "s", "v1", "1")
			r.primary.InjectFault(tc.fault)
			s := mustGet(t, r.cache(t), "s")
			if s.Region() != replicaRegion || r.replica.Calls("GetSecretValue") != 1 {
				t.Fatalf("served by %q with %d replica calls, want the replica once", s.Region(), r.replica.Calls("GetSecretValue"))
			}
		})
	}
	answers := []struct {
		code  string
		check func(error) bool
	}{
		{"AccessDeniedException", nil},
		{"ResourceNotFoundException", func(err error) bool { var e *types.ResourceNotFoundException; return errors.As(err, &e) }},
		{"DecryptionFailure", func(err error) bool { var e *types.DecryptionFailure; return errors.As(err, &e) }},
		{"InvalidParameterException", func(err error) bool { var e *types.InvalidParameterException; return errors.As(err, &e) }},
		{"InvalidRequestException", func(err error) bool { var e *types.InvalidRequestException; return errors.As(err, &e) }},
		{"ValidationException", nil},
	}
	for _, tc := range answers {
		t.Run("no-failover/"+tc.code, func(t *testing.T) {
			r := newRegions(t)
			r.create(t, "s", "v1", "1")
			r.primary.InjectFault(awsemu.Fault{Op: "GetSecretValue", Code: tc.code})
			c := r.cache(t)
			_, err := c.Get(t.Context(), "s")
			var api smithy.APIError
			if !errors.As(err, &api) || api.ErrorCode() != tc.code || (tc.check != nil && !tc.check(err)) {
				t.Fatalf("Get = %v, want the primary's %s", err, tc.code)
			}
			if n := r.replicaCalls(); n != 0 || c.Stats().Failovers != 0 {
				t.Fatalf("replica called %d times on %s, want never", n, tc.code)
			}
		})
	}
}

func TestFailoverPrimaryBackoffPerSecret(t *testing.T) {
	r := newRegions(t)
	r.create(t, "a", "va", "1")
	r.create(t, "b", "vb", "1")
	r.down()
	const backoff = 10 * time.Second
	c := r.cache(t, func(o *secretcache.Options) {
		o.ErrorBackoff = backoff
		o.MaxErrorBackoff = 4 * backoff
		o.TTL = time.Hour
	})
	mustGet(t, c, "a")
	mustGet(t, c, "b")
	if n := r.primaryCalls(); n != 2 {
		t.Fatalf("primary calls after two cold reads = %d, want 2 (one per secret)", n)
	}
	// Forced refreshes every 1.5s within the backoff: replica only.
	refresh := func() {
		t.Helper()
		for _, id := range []string{"a", "b"} {
			if s, err := c.Refresh(t.Context(), id); err != nil || s.Region() != replicaRegion {
				t.Fatalf("Refresh(%s) = %v, %v; want the replica's answer", id, s, err)
			}
		}
	}
	for range 6 {
		r.clock.Advance(1500 * time.Millisecond)
		refresh()
	}
	if n := r.primaryCalls(); n != 2 {
		t.Fatalf("primary calls within the backoff = %d, want still 2", n)
	}
	// Past the backoff: one probe per secret, then backoff doubles.
	r.clock.Advance(backoff)
	refresh()
	refresh() // within MinRefreshInterval: no call at all
	r.clock.Advance(1500 * time.Millisecond)
	refresh()
	if n := r.primaryCalls(); n != 4 {
		t.Fatalf("primary calls after one backoff period = %d, want 4 (one probe per secret)", n)
	}
	r.clock.Advance(backoff + time.Second) // less than the doubled backoff
	refresh()
	if n := r.primaryCalls(); n != 4 {
		t.Fatalf("primary calls within the doubled backoff = %d, want 4", n)
	}
	r.clock.Advance(backoff)
	refresh()
	if n := r.primaryCalls(); n != 6 {
		t.Fatalf("primary calls after the doubled backoff = %d, want 6", n)
	}
}

func TestFailoverPrimaryPreferredAfterRecovery(t *testing.T) {
	r := newRegions(t)
	r.create(t, "s", "v1", "1")
	r.down()
	c := r.cache(t)
	if s := mustGet(t, c, "s"); s.Region() != replicaRegion {
		t.Fatalf("cold read served by %q, want the replica", s.Region())
	}
	r.primary.ClearFaults()
	before := r.primaryCalls()
	// The TTL refresh after recovery goes to the primary.
	r.clock.Advance(testTTL + time.Second)
	mustGet(t, c, "s") // stale: starts the refresh
	secretcache.WaitIdle(c)
	if s := mustGet(t, c, "s"); s.Region() != primaryRegion {
		t.Fatalf("after recovery the refresh was served by %q, want %s", s.Region(), primaryRegion)
	}
	if n := r.primaryCalls() - before; n != 1 {
		t.Fatalf("primary calls for the refresh = %d, want 1", n)
	}
	if st := c.Stats(); st.Failovers != 1 {
		t.Fatalf("Failovers = %d, want 1 (the cold read only)", st.Failovers)
	}
}

func TestFailoverRotationAwareOnReplica(t *testing.T) {
	r := newRegions(t)
	r.create(t, "s", "v1", "1")
	r.down()
	c := r.cache(t)
	mustGet(t, c, "s")
	// A rotation replicated to the replica: AWSPENDING, then AWSCURRENT.
	r.replicate(t, "s", "v2", "2", secretcache.StagePending)
	r.clock.Advance(testTTL + time.Second)
	mustGet(t, c, "s") // the refresh sees AWSPENDING on the replica
	secretcache.WaitIdle(c)
	if p, err := c.Get(t.Context(), "s", secretcache.WithStage(secretcache.StagePending)); err != nil || p.VersionID() != token("2") {
		t.Fatalf("AWSPENDING = %v, %v; want version 2", p, err)
	}
	for _, sm := range []*secretsmanager.Client{r.replicaSM} {
		if _, err := sm.UpdateSecretVersionStage(t.Context(), &secretsmanager.UpdateSecretVersionStageInput{
			SecretId: aws.String("s"), VersionStage: aws.String(secretcache.StageCurrent),
			MoveToVersionId: aws.String(token("2")), RemoveFromVersionId: aws.String(token("1")),
		}); err != nil {
			t.Fatal(err)
		}
	}
	// Polled every RotationPollInterval, not TTL.
	r.clock.Advance(secretcache.DefaultRotationPollInterval + time.Second)
	mustGet(t, c, "s")
	secretcache.WaitIdle(c)
	if s := mustGet(t, c, "s"); s.VersionID() != token("2") || s.Region() != replicaRegion {
		t.Fatalf("after the rotation finished on the replica: %v from %q, want version 2 from the replica", s, s.Region())
	}
}

func TestFailoverNeverServesPastMaxStale(t *testing.T) {
	r := newRegions(t)
	r.create(t, "s", "v1", "1")
	const maxStale = 10 * time.Minute
	c := r.cache(t, func(o *secretcache.Options) { o.MaxStale = maxStale })
	mustGet(t, c, "s")
	r.down()
	r.replica.InjectFault(awsemu.Fault{Code: "InternalServiceError"})
	r.clock.Advance(testTTL + maxStale - time.Second)
	mustGet(t, c, "s") // within MaxStale: served, refresh fails in both Regions
	secretcache.WaitIdle(c)
	r.clock.Advance(2 * time.Second)
	_, err := c.Get(t.Context(), "s")
	var fe *secretcache.FetchError
	if !errors.As(err, &fe) || !secretcache.IsOutage(err) {
		t.Fatalf("Get past TTL+MaxStale with every Region down = %v, want a *FetchError for an outage", err)
	}
}

func TestFailoverOptionsValidated(t *testing.T) {
	for name, fn := range map[string]func(*secretcache.Options){
		"nil client": func(o *secretcache.Options) { o.Replicas = []secretcache.Replica{{Region: replicaRegion}} },
		"no region":  func(o *secretcache.Options) { o.Replicas = []secretcache.Replica{{Client: newMemClient()}} },
		"primary timeout beyond fetch timeout": func(o *secretcache.Options) {
			o.Replicas = []secretcache.Replica{{Region: replicaRegion, Client: newMemClient()}}
			o.PrimaryTimeout, o.FetchTimeout = time.Second, time.Second
		},
	} {
		t.Run(name, func(t *testing.T) {
			if _, err := secretcache.New(newMemClient(), fn); err == nil || !strings.HasPrefix(err.Error(), "secretcache: ") {
				t.Fatalf("New = %v, want a secretcache error", err)
			}
		})
	}
}

func TestFailoverHitAllocatesNothing(t *testing.T) {
	r := newRegions(t)
	r.create(t, "s", "v1", "1")
	r.down()
	c := r.cache(t)
	ctx := context.Background()
	mustGet(t, c, "s")
	if n := testing.AllocsPerRun(1000, func() { c.GetSecretString(ctx, "s") }); n != 0 {
		t.Fatalf("a hit on a replica answer allocates %v times", n)
	}
}

// TestFailoverReplicatedRotation runs on one emulator serving both
// Regions with real replication: the caller passes the primary's ARN, the
// replica is asked for its own, and a rotation made on the primary (whose
// reads hang, writes still work) is followed through the replica's
// DescribeSecret, which shows the replicated stages.
func TestFailoverReplicatedRotation(t *testing.T) {
	srv := awsemu.New(t, func(o *awsemu.Options) { o.Region = primaryRegion })
	clock := newFakeClock()
	srv.SetClock(clock.Now)
	noRetry := func(o *secretsmanager.Options) { o.RetryMaxAttempts = 1 }
	primarySM := secretsmanager.NewFromConfig(srv.AWSConfigFor(primaryRegion), noRetry)
	replicaSM := secretsmanager.NewFromConfig(srv.AWSConfigFor(replicaRegion), noRetry)
	out, err := primarySM.CreateSecret(t.Context(), &secretsmanager.CreateSecretInput{
		Name: aws.String("app/db"), SecretString: aws.String("v1"),
		AddReplicaRegions: []types.ReplicaRegionType{{Region: aws.String(replicaRegion)}},
	})
	if err != nil {
		t.Fatal(err)
	}
	arn, v1 := aws.ToString(out.ARN), aws.ToString(out.VersionId)
	for _, op := range []string{"GetSecretValue", "DescribeSecret"} {
		srv.InjectFault(awsemu.Fault{Region: primaryRegion, Op: op, Hang: true})
	}
	c, err := secretcache.New(primarySM, func(o *secretcache.Options) {
		o.TTL, o.Jitter = testTTL, -1
		secretcache.SetClock(o, clock.Now)
		o.PrimaryTimeout = testPrimaryTimeout
		o.Replicas = []secretcache.Replica{{Region: replicaRegion, Client: replicaSM}}
	})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	s := mustGet(t, c, arn)
	if s.Region() != replicaRegion || s.VersionID() != v1 || s.ARN() == arn {
		t.Fatalf("cold read = %v from %q (ARN %s); want %s's own ARN and version %s", s, s.Region(), s.ARN(), replicaRegion, v1)
	}
	put, err := primarySM.PutSecretValue(t.Context(), &secretsmanager.PutSecretValueInput{
		SecretId: aws.String(arn), SecretString: aws.String("v2"), VersionStages: []string{secretcache.StagePending},
	})
	if err != nil {
		t.Fatal(err)
	}
	v2 := aws.ToString(put.VersionId)
	clock.Advance(testTTL + time.Second)
	mustGet(t, c, arn)
	secretcache.WaitIdle(c)
	if _, err := primarySM.UpdateSecretVersionStage(t.Context(), &secretsmanager.UpdateSecretVersionStageInput{
		SecretId: aws.String(arn), VersionStage: aws.String(secretcache.StageCurrent),
		MoveToVersionId: aws.String(v2), RemoveFromVersionId: aws.String(v1),
	}); err != nil {
		t.Fatal(err)
	}
	// The pending rotation seen on the replica means a poll after
	// RotationPollInterval, not TTL.
	clock.Advance(secretcache.DefaultRotationPollInterval + time.Second)
	mustGet(t, c, arn)
	secretcache.WaitIdle(c)
	if s := mustGet(t, c, arn); s.VersionID() != v2 || s.Region() != replicaRegion {
		t.Fatalf("after the rotation: %v from %q, want version %s from %s", s, s.Region(), v2, replicaRegion)
	}
}

// TestIsOutage pins the classification for errors the emulator cannot
// produce (DNS, refused connections) beside typical SDK ones.
func TestIsOutage(t *testing.T) {
	refused := &net.OpError{Op: "dial", Net: "tcp", Err: os.NewSyscallError("connect", syscall.ECONNREFUSED)}
	for _, tc := range []struct {
		name string
		err  error
		want bool
	}{
		{"nil", nil, false},
		{"deadline", fmt.Errorf("op: %w", context.DeadlineExceeded), true},
		{"canceled", fmt.Errorf("op: %w", context.Canceled), false},
		{"refused", &smithyhttp.RequestSendError{Err: refused}, true},
		{"refused bare", refused, true},
		{"dns", &net.DNSError{Err: "no such host", Name: "secretsmanager.invalid"}, true},
		{"eof", fmt.Errorf("read: %w", io.ErrUnexpectedEOF), true},
		{"reset", syscall.ECONNRESET, true},
		{"throttling", &smithy.GenericAPIError{Code: "ThrottlingException"}, true},
		{"internal", &types.InternalServiceError{}, true},
		{"access denied", &smithy.GenericAPIError{Code: "AccessDeniedException", Fault: smithy.FaultClient}, false},
		{"not found", &types.ResourceNotFoundException{}, false},
		{"decryption", &types.DecryptionFailure{}, false},
		{"invalid parameter", &types.InvalidParameterException{}, false},
		{"invalid request", &types.InvalidRequestException{}, false},
		{"client validation", &smithy.InvalidParamsError{Context: "GetSecretValueInput"}, false},
		{"other", errors.New("boom"), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := secretcache.IsOutage(tc.err); got != tc.want {
				t.Fatalf("IsOutage(%v) = %v, want %v", tc.err, got, tc.want)
			}
		})
	}
}

// TestFailoverReplicaErrorIsNotAuthoritative: a replica answering
// not-found (say the secret is not replicated there) while the primary is
// down must not drop the cached value; it is served until TTL+MaxStale as
// after any failed refresh, and the error is the primary's outage.
func TestFailoverReplicaErrorIsNotAuthoritative(t *testing.T) {
	r := newRegions(t)
	r.create(t, "s", "v1", "1")
	c := r.cache(t)
	mustGet(t, c, "s")
	r.down()
	r.replica.InjectFault(awsemu.Fault{Code: "ResourceNotFoundException"})
	r.clock.Advance(testTTL + time.Second)
	_, err := c.Refresh(t.Context(), "s")
	var nf *types.ResourceNotFoundException
	if err == nil || errors.As(err, &nf) || !secretcache.IsOutage(err) || !strings.Contains(err.Error(), "ResourceNotFoundException") {
		t.Fatalf("Refresh = %v, want the primary's outage error naming the replica's answer", err)
	}
	if s := mustGet(t, c, "s"); s.Region() != primaryRegion {
		t.Fatalf("cached value after a replica's not-found = %v from %q, want the old one kept", s, s.Region())
	}
}

// TestFailoverNoStormOnOneEmulator is the storm bound on the multi-Region
// emulator, counting each Region's requests with CallsIn: while the
// primary hangs, one primary request per backoff period per secret, and
// the first refresh after it recovers goes to it.
func TestFailoverNoStormOnOneEmulator(t *testing.T) {
	srv := awsemu.New(t, func(o *awsemu.Options) { o.Region = primaryRegion })
	clock := newFakeClock()
	srv.SetClock(clock.Now)
	noRetry := func(o *secretsmanager.Options) { o.RetryMaxAttempts = 1 }
	primarySM := secretsmanager.NewFromConfig(srv.AWSConfigFor(primaryRegion), noRetry)
	replicaSM := secretsmanager.NewFromConfig(srv.AWSConfigFor(replicaRegion), noRetry)
	if _, err := primarySM.CreateSecret(t.Context(), &secretsmanager.CreateSecretInput{
		Name: aws.String("s"), SecretString: aws.String("v1"),
		AddReplicaRegions: []types.ReplicaRegionType{{Region: aws.String(replicaRegion)}},
	}); err != nil {
		t.Fatal(err)
	}
	srv.InjectFault(awsemu.Fault{Region: primaryRegion, Hang: true})
	const backoff = 10 * time.Second
	c, err := secretcache.New(primarySM, func(o *secretcache.Options) {
		o.TTL, o.Jitter = time.Hour, -1
		secretcache.SetClock(o, clock.Now)
		o.ErrorBackoff, o.MaxErrorBackoff = backoff, backoff
		o.PrimaryTimeout = testPrimaryTimeout
		o.Replicas = []secretcache.Replica{{Region: replicaRegion, Client: replicaSM}}
	})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	calls := func(region string) int64 {
		return srv.CallsIn(region, "GetSecretValue") + srv.CallsIn(region, "DescribeSecret")
	}
	mustGet(t, c, "s")
	for range 3 { // 3 backoff periods, 5 forced refreshes in each
		for range 5 {
			clock.Advance(backoff / 5)
			if _, err := c.Refresh(t.Context(), "s"); err != nil {
				t.Fatal(err)
			}
		}
	}
	if p, r := calls(primaryRegion), calls(replicaRegion); p != 4 || r != 16 {
		t.Fatalf("requests: %s %d, %s %d; want 4 (the cold read, then 1 per period) and 16 (every read)", primaryRegion, p, replicaRegion, r)
	}
	srv.ClearFaults()
	clock.Advance(backoff)
	if s, err := c.Refresh(t.Context(), "s"); err != nil || s.Region() != primaryRegion {
		t.Fatalf("first refresh after recovery = %v, %v; want the primary's answer", s, err)
	}
}
