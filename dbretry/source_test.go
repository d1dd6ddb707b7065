package dbretry_test

import (
	"context"
	"errors"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"go.uber.org/goleak"

	"github.com/rekeyhq/rekey/dbretry"
	"github.com/rekeyhq/rekey/internal/awsemu"
	"github.com/rekeyhq/rekey/secretcache"
)

// dbretryGoroutines counts the running goroutines that are in a Source
// method.
func dbretryGoroutines() int {
	buf := make([]byte, 1<<20)
	n := runtime.Stack(buf, true)
	return strings.Count(string(buf[:n]), "dbretry.(*Source)")
}

// A re-read outlives the connect whose context ended (the others refused
// with it may still wait for it), but not the Source: Close cancels it
// and waits for its goroutine.
func TestSourceCloseWaitsForReread(t *testing.T) {
	e := newEnv(t, nil, "old", func(o *secretcache.Options) { o.MinRefreshInterval = -1 })
	db := newFakeDB("old")
	src := newSource(t, e.cache, secretName)
	if _, err := dbretry.Connect(t.Context(), src, db.connect); err != nil {
		t.Fatal(err)
	}
	db.set("new")
	e.srv.InjectFault(awsemu.Fault{Op: "DescribeSecret", Hang: true})
	defer e.srv.ClearFaults()
	ignore := goleak.IgnoreCurrent()

	ctx, cancel := context.WithTimeout(t.Context(), 100*time.Millisecond)
	defer cancel()
	_, err := dbretry.Connect(ctx, src, db.connect)
	if !errors.Is(err, context.DeadlineExceeded) || !errors.As(err, new(*dbretry.RetryError)) {
		t.Fatalf("Connect = %v, want a *RetryError wrapping DeadlineExceeded", err)
	}
	if n := dbretryGoroutines(); n == 0 {
		t.Fatal("no re-read in flight after the connect gave up; the test proves nothing")
	}

	began := time.Now()
	if err := src.Close(); err != nil {
		t.Fatalf("Close = %v", err)
	}
	if took := time.Since(began); took > time.Second {
		t.Errorf("Close took %v with a hung re-read", took)
	}
	if n := dbretryGoroutines(); n != 0 {
		t.Errorf("%d goroutines in Source methods after Close", n)
	}
	if err := src.Close(); err != nil {
		t.Errorf("second Close = %v", err)
	}

	// After Close a refused connect is not retried.
	e.srv.ClearFaults()
	began = time.Now()
	_, err = dbretry.Connect(t.Context(), src, db.connect)
	if !errors.Is(err, dbretry.ErrClosed) || !dbretry.IsAuthError(err) || time.Since(began) > time.Second {
		t.Errorf("Connect after Close = %v after %v; want at once a *RetryError wrapping ErrClosed", err, time.Since(began))
	}

	// Once the cache is closed too, nothing started since ignore is left
	// but the HTTP client's and the emulator's idle connections.
	e.cache.Close()
	goleak.VerifyNone(t, ignore,
		goleak.IgnoreTopFunction("net/http.(*persistConn).readLoop"),
		goleak.IgnoreTopFunction("net/http.(*persistConn).writeLoop"),
		goleak.IgnoreAnyFunction("net/http.(*conn).serve"),
	)
}

// The retry budget and RereadInterval run on the Source's clock, and the
// backoff's spread comes from its random source (test seams set through
// export_test.go).
func TestSourceClockAndRand(t *testing.T) {
	e := newEnv(t, nil, "pw", func(o *secretcache.Options) { o.MinRefreshInterval = -1 })
	db := newFakeDB("changed-outside-rotation")
	var now atomic.Int64
	var rands atomic.Int64
	src := newSource(t, e.cache, secretName, func(o *dbretry.Options) {
		o.RetryBudget = time.Hour
		o.MinBackoff, o.MaxBackoff = time.Millisecond, time.Millisecond
		// Every reading of the clock is 10 minutes after the last.
		dbretry.SetClock(o, func() time.Time { return time.Unix(0, now.Add(int64(10*time.Minute))) })
		dbretry.SetRand(o, func() float64 { rands.Add(1); return 0.5 })
	})
	defer src.Close()
	if _, err := src.Credentials(t.Context()); err != nil {
		t.Fatal(err)
	}
	began := time.Now()
	_, err := dbretry.Connect(t.Context(), src, db.connect)
	var re *dbretry.RetryError
	if !errors.As(err, &re) {
		t.Fatalf("Connect = %v, want a *RetryError", err)
	}
	if took := time.Since(began); took > 5*time.Second || re.Elapsed < time.Hour {
		t.Errorf("gave up after %v (Elapsed %v), want at once with Elapsed past the 1h budget", took, re.Elapsed)
	}
	// With 10 minutes between readings, RereadInterval (1s) never holds
	// a re-read back: every refusal re-reads.
	if st := src.Stats(); st.Rereads < 2 || st.Rereads != st.AuthFailures-1 {
		t.Errorf("Stats %+v: want a re-read for every refusal but the last", st)
	}
	if rands.Load() == 0 {
		t.Error("the random source was never called")
	}
}

// AWSPENDING on the AWSCURRENT version is no other credential: it is not
// handed out as a switch to AWSPENDING.
func TestConnectPendingOnCurrentVersion(t *testing.T) {
	e := newEnv(t, nil, "old", func(o *secretcache.Options) { o.MinRefreshInterval = -1 })
	db := newFakeDB("old")
	var stages []string
	src := newSource(t, e.cache, secretName, func(o *dbretry.Options) {
		o.RetryBudget = 200 * time.Millisecond
		o.OnSwitch = func(_, _, _, stage string) { stages = append(stages, stage) }
	})
	defer src.Close()
	if _, err := dbretry.Connect(t.Context(), src, db.connect); err != nil {
		t.Fatal(err)
	}
	if _, err := e.sm.PutSecretValue(t.Context(), &secretsmanager.PutSecretValueInput{
		SecretId: aws.String(e.arn), SecretString: aws.String(e.value(newPassword())),
		VersionStages: []string{secretcache.StageCurrent, secretcache.StagePending},
	}); err != nil {
		t.Fatal(err)
	}
	db.set("neither")
	if _, err := dbretry.Connect(t.Context(), src, db.connect); !errors.As(err, new(*dbretry.RetryError)) {
		t.Fatalf("Connect = %v, want a *RetryError", err)
	}
	if len(stages) != 1 || stages[0] != secretcache.StageCurrent {
		t.Errorf("switches to %v, want one, to the new AWSCURRENT", stages)
	}
}
