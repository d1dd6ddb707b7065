package soak_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"log/slog"
	"math/bits"
	mrand "math/rand/v2"
	"net/http"
	"os"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/jackc/pgx/v5/pgxpool"
	"go.uber.org/goleak"

	"github.com/rekeyhq/rekey/dbretry"
	"github.com/rekeyhq/rekey/internal/awsemu"
	"github.com/rekeyhq/rekey/internal/pgtest"
	"github.com/rekeyhq/rekey/rotation"
	"github.com/rekeyhq/rekey/rotation/postgres"
	"github.com/rekeyhq/rekey/secretcache"
)

// The load and the cache configuration the assertions are derived from.
const (
	numSecrets  = 200
	numReaders  = 200
	numRotating = 40 // cache secrets that rotate; the rest only refresh
	numDBWork   = 6  // goroutines querying PostgreSQL through dbretry pools

	ttl             = time.Second
	maxStale        = 15 * time.Second
	pollInterval    = 500 * time.Millisecond
	fetchTimeout    = 2 * time.Second
	errorBackoff    = time.Second
	maxErrorBackoff = 4 * time.Second
	jitter          = 0.1

	readPause     = 2 * time.Millisecond // between two reads of one reader
	cacheRotEvery = time.Second          // a few cache secrets rotate every tick
	cacheRotBatch = 3
	dbRotEvery    = 3 * time.Second
	dbWindow      = 300 * time.Millisecond // setSecret→finishSecret pause: only AWSPENDING logs in
	burstLength   = 3 * time.Second        // 100 % throttling in the middle of the soak

	// slowCall is how long a cache API call may take before it counts as
	// a fault (an injected delay or an SDK retry backoff) that excuses a
	// late view of a rotation.
	slowCall = 250 * time.Millisecond
	// visibilitySlack covers the refresh round trip and scheduling on two
	// shared cores under -race, on top of RotationPollInterval + TTL.
	visibilitySlack = 500 * time.Millisecond
	// starved is a scheduling stall (this process got no CPU) long enough
	// to excuse a late view of a rotation: the machine, not the cache,
	// missed the deadline. The soak reports how often it used this excuse.
	starved = 300 * time.Millisecond

	dbRole     = "soak"
	dbSecretID = "soak/db"
	dbLambda   = "arn:aws:lambda:us-east-1:123456789012:function:soak-rotate-db"
	// valueMarker is in every cache secret value and the first database
	// password; the cache's and dbretry's debug logs must never show it.
	valueMarker = "SOAKVALUE-"
)

// soakDuration is the chaos phase's length: REKEY_SOAK_DURATION, default 30s.
func soakDuration(t *testing.T) time.Duration {
	t.Helper()
	s := os.Getenv("REKEY_SOAK_DURATION")
	if s == "" {
		return 30 * time.Second
	}
	d, err := time.ParseDuration(s)
	if err != nil || d < 5*time.Second {
		t.Fatalf("REKEY_SOAK_DURATION=%q: want a Go duration of at least 5s", s)
	}
	return d
}

// clock measures everything in nanoseconds since the soak's start, plus
// one, so that zero means "never".
type clock struct{ start time.Time }

func (c clock) now() int64 { return int64(time.Since(c.start)) + 1 }

func storeMax(a *atomic.Int64, v int64) {
	for {
		old := a.Load()
		if v <= old || a.CompareAndSwap(old, v) {
			return
		}
	}
}

// tracked is what the soak knows about one secret: the generation of each
// version (registered before the version is written, so no read can
// return an unknown one), the generation of AWSCURRENT with the time its
// rotation finished, and the times of the cache's last good and last
// failed or slow API call for it.
type tracked struct {
	id    string
	index int

	gens atomic.Pointer[map[string]int] // version id -> generation; copy-on-write
	cur  atomic.Pointer[generation]

	lastGood, lastFault atomic.Int64 // clock.now() of the cache's API calls for it
	lateGen             atomic.Int64 // the last generation a read saw late; -1: none
	lastCallBegan       atomic.Int64 // clock.now() when the cache's last API call for it started
	lastCallEnded       atomic.Int64 // clock.now() when the cache's last API call for it returned

	nextGen int // owned by the goroutine that rotates this secret
}

type generation struct {
	gen      int
	version  string
	finished int64 // clock.now() when the rotation that made it current returned
}

func (tr *tracked) expect(version string, gen int) {
	old := tr.gens.Load()
	m := make(map[string]int, len(*old)+1)
	for k, v := range *old {
		m[k] = v
	}
	m[version] = gen
	tr.gens.Store(&m)
}

func (tr *tracked) finish(version string, gen int, at int64) {
	tr.cur.Store(&generation{gen: gen, version: version, finished: at})
}

func token(index, gen int) string { return fmt.Sprintf("%08x-50a4-4000-8000-%012x", index, gen) }

// soakValue is the JSON value of a cache secret.
type soakValue struct {
	ID  string `json:"id"`
	Gen int    `json:"gen"`
	Pad string `json:"pad"`
}

func valueOf(id string, gen int) string {
	b, _ := json.Marshal(soakValue{ID: id, Gen: gen, Pad: valueMarker + strings.Repeat("x", 400)})
	return string(b)
}

// recordingClient is the real SDK client with bookkeeping around each call:
// per-secret last good / last faulty call, calls per operation and per
// second of the soak. It is a decorator, not a fake: every call goes over
// HTTP to the emulator.
type recordingClient struct {
	sm    *secretsmanager.Client
	clock clock
	byID  map[string]*tracked // read-only once the soak starts

	get, describe, batch atomic.Int64
	perSecond            []atomic.Int64 // calls started in each second of the soak
	failedPerSecond      []atomic.Int64 // calls that failed, by the second they ended in
	readsPerSecond       []atomic.Int64 // reads by the soak's readers, counted 16 at a time
	stallPerSecond       []atomic.Int64 // longest lateness of a 20ms ticker in each second
}

// stalled returns the longest scheduling stall between two clock.now() times.
func (r *recordingClient) stalled(from, to int64) time.Duration {
	var worst int64
	for s := max(int(from/int64(time.Second)), 0); s <= int(to/int64(time.Second)) && s < len(r.stallPerSecond); s++ {
		worst = max(worst, r.stallPerSecond[s].Load())
	}
	return time.Duration(worst)
}

func (r *recordingClient) second() int {
	return min(int(time.Since(r.clock.start)/time.Second), len(r.perSecond)-1)
}

var _ secretcache.Client = (*recordingClient)(nil)

func (r *recordingClient) begin(id string) time.Time {
	r.perSecond[r.second()].Add(1)
	if tr := r.byID[id]; tr != nil {
		tr.lastCallBegan.Store(r.clock.now())
	}
	return time.Now()
}

func (r *recordingClient) end(id string, began time.Time, err error) {
	tr := r.byID[id]
	if tr == nil {
		return
	}
	tr.lastCallEnded.Store(r.clock.now())
	if err != nil {
		r.failedPerSecond[r.second()].Add(1)
	}
	if err != nil || time.Since(began) > slowCall {
		storeMax(&tr.lastFault, r.clock.now())
	}
	if err == nil {
		storeMax(&tr.lastGood, r.clock.now())
	}
}

func (r *recordingClient) GetSecretValue(ctx context.Context, in *secretsmanager.GetSecretValueInput, optFns ...func(*secretsmanager.Options)) (*secretsmanager.GetSecretValueOutput, error) {
	r.get.Add(1)
	began := r.begin(aws.ToString(in.SecretId))
	out, err := r.sm.GetSecretValue(ctx, in, optFns...)
	r.end(aws.ToString(in.SecretId), began, err)
	return out, err
}

func (r *recordingClient) DescribeSecret(ctx context.Context, in *secretsmanager.DescribeSecretInput, optFns ...func(*secretsmanager.Options)) (*secretsmanager.DescribeSecretOutput, error) {
	r.describe.Add(1)
	began := r.begin(aws.ToString(in.SecretId))
	out, err := r.sm.DescribeSecret(ctx, in, optFns...)
	r.end(aws.ToString(in.SecretId), began, err)
	return out, err
}

func (r *recordingClient) BatchGetSecretValue(ctx context.Context, in *secretsmanager.BatchGetSecretValueInput, optFns ...func(*secretsmanager.Options)) (*secretsmanager.BatchGetSecretValueOutput, error) {
	r.batch.Add(1)
	began := r.begin("")
	out, err := r.sm.BatchGetSecretValue(ctx, in, optFns...)
	if err == nil {
		for _, v := range out.SecretValues {
			r.end(aws.ToString(v.Name), began, nil)
		}
	}
	return out, err
}

func (r *recordingClient) total() int64 { return r.get.Load() + r.describe.Load() + r.batch.Load() }

// countingTransport counts HTTP attempts, SDK retries included.
type countingTransport struct {
	next *http.Transport
	n    atomic.Int64
}

func (c *countingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	c.n.Add(1)
	return c.next.RoundTrip(r)
}

func newTransport() *http.Transport {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConnsPerHost = 256
	return tr
}

// logSink counts log lines and whether any carried a secret value.
type logSink struct {
	lines, leaks atomic.Int64
	mu           sync.Mutex
	firstLeak    string // guarded by mu
}

func (l *logSink) Write(p []byte) (int, error) {
	l.lines.Add(1)
	if bytes.Contains(p, []byte(valueMarker)) {
		if l.leaks.Add(1) == 1 {
			l.mu.Lock()
			l.firstLeak = string(p)
			l.mu.Unlock()
		}
	}
	return len(p), nil
}

// histogram records durations in buckets of 1/8 octave (≤ 12.5 % error).
type histogram [64 * 8]uint64

func (h *histogram) add(d time.Duration) {
	v := uint64(max(d, 1))
	b := bits.Len64(v)
	sub := 0
	if b > 3 {
		sub = int(v>>(b-4)) & 7
	}
	h[b*8+sub]++
}

func (h *histogram) merge(o *histogram) {
	for i := range h {
		h[i] += o[i]
	}
}

// quantile returns the upper bound of the bucket holding quantile q.
func (h *histogram) quantile(q float64) time.Duration {
	var total uint64
	for _, n := range h {
		total += n
	}
	if total == 0 {
		return 0
	}
	rank := min(uint64(q*float64(total)), total-1)
	var seen uint64
	for i, n := range h {
		seen += n
		if seen > rank {
			b, sub := i/8, i%8
			if b <= 3 {
				return time.Duration(1) << b
			}
			return time.Duration(uint64(8+sub+1) << (b - 4))
		}
	}
	return 0
}

// readerStats belong to one reader goroutine until the soak ends.
type readerStats struct {
	reads, errs, excusedErrs, late, lateExcused, valueChecks int64
	hist                                                     histogram
	violations                                               []string
}

func (s *readerStats) violate(format string, args ...any) {
	if len(s.violations) < 5 {
		s.violations = append(s.violations, fmt.Sprintf(format, args...))
	}
}

// trivialStrategy rotates a cache secret to a value fixed in advance; it
// has no target system.
type trivialStrategy struct{ value string }

func (s trivialStrategy) NewPending(context.Context, rotation.Secret, string) ([]byte, error) {
	return []byte(s.value), nil
}
func (trivialStrategy) Apply(context.Context, rotation.Versions) error { return nil }
func (trivialStrategy) Verify(context.Context, rotation.Secret) error  { return nil }

// tokenRecorder is a rotation.Client that registers the token of each
// version Rotate writes with expect before writing it, and keeps the last
// one: the version that AWSCURRENT ends on. Rotate calls it from its own
// goroutine only.
type tokenRecorder struct {
	rotation.Client
	expect func(version string)
	last   string
}

func (w *tokenRecorder) PutSecretValue(ctx context.Context, in *secretsmanager.PutSecretValueInput, optFns ...func(*secretsmanager.Options)) (*secretsmanager.PutSecretValueOutput, error) {
	w.last = aws.ToString(in.ClientRequestToken)
	w.expect(w.last)
	return w.Client.PutSecretValue(ctx, in, optFns...)
}

// chaos injects the random faults on the cache's read path. Faults are
// tried in order, each with its own draw, so about 8.8 % of requests fail.
func chaos(srv *awsemu.Server) {
	for _, op := range []string{"GetSecretValue", "DescribeSecret"} {
		srv.InjectFault(awsemu.Fault{Op: op, Code: "ThrottlingException", Probability: 0.04})
		srv.InjectFault(awsemu.Fault{Op: op, Code: "InternalServiceError", Probability: 0.03})
		srv.InjectFault(awsemu.Fault{Op: op, Delay: 2 * time.Second, Probability: 0.005})
		srv.InjectFault(awsemu.Fault{Op: op, Hang: true, Probability: 0.003})
		srv.InjectFault(awsemu.Fault{Op: op, Reset: true, Probability: 0.01})
	}
}

func TestChaosSoak(t *testing.T) {
	if testing.Short() {
		t.Skip("chaos soak: skipped with -short")
	}
	d := soakDuration(t)

	srv := awsemu.New(t, func(o *awsemu.Options) { o.Seed = 20250601 })
	var pg *pgtest.Server
	if _, err := pgtest.Available(); err == nil || os.Getenv(pgtest.RequireEnv) == "1" {
		pg = pgtest.Start(t)
	} else {
		t.Logf("PostgreSQL unavailable (%v): the soak runs without its database part", err)
	}
	// Everything running now (emulator, PostgreSQL) outlives the check;
	// the emulator's handlers end with its Close.
	leakOpts := []goleak.Option{goleak.IgnoreCurrent()}

	ctx := context.Background()
	clk := clock{start: time.Now()}

	adminTransport := newTransport()
	adminCfg := srv.AWSConfig()
	adminCfg.HTTPClient = &http.Client{Transport: adminTransport}
	admin := secretsmanager.NewFromConfig(adminCfg)

	cacheTransport := &countingTransport{next: newTransport()}
	cacheCfg := srv.AWSConfig()
	cacheCfg.HTTPClient = &http.Client{Transport: cacheTransport}
	rec := &recordingClient{
		sm:              secretsmanager.NewFromConfig(cacheCfg),
		clock:           clk,
		byID:            make(map[string]*tracked),
		perSecond:       make([]atomic.Int64, int(d/time.Second)+120),
		failedPerSecond: make([]atomic.Int64, int(d/time.Second)+120),
		readsPerSecond:  make([]atomic.Int64, int(d/time.Second)+120),
		stallPerSecond:  make([]atomic.Int64, int(d/time.Second)+120),
	}

	// The secrets, each with a known first version.
	var all []*tracked
	for i := range numSecrets {
		tr := &tracked{id: fmt.Sprintf("soak/%03d", i), index: i, nextGen: 1}
		tr.lateGen.Store(-1)
		v := token(i, 0)
		tr.gens.Store(&map[string]int{v: 0})
		tr.finish(v, 0, 0)
		if _, err := admin.CreateSecret(ctx, &secretsmanager.CreateSecretInput{
			Name: aws.String(tr.id), ClientRequestToken: aws.String(v), SecretString: aws.String(valueOf(tr.id, 0)),
		}); err != nil {
			t.Fatalf("CreateSecret %s: %v", tr.id, err)
		}
		all = append(all, tr)
	}
	var db *tracked
	if pg != nil {
		db = &tracked{id: dbSecretID, index: 0xdb, nextGen: 1}
		db.lateGen.Store(-1)
		pw := valueMarker + rand.Text()
		pg.Exec(t, "CREATE ROLE "+dbRole+" LOGIN PASSWORD '"+pw+"'")
		v := token(db.index, 0)
		db.gens.Store(&map[string]int{v: 0})
		db.finish(v, 0, 0)
		val, _ := json.Marshal(map[string]any{"engine": "postgres", "host": pg.Host, "port": pg.Port,
			"username": dbRole, "password": pw, "dbname": pg.Database})
		if _, err := admin.CreateSecret(ctx, &secretsmanager.CreateSecretInput{
			Name: aws.String(dbSecretID), ClientRequestToken: aws.String(v), SecretString: aws.String(string(val)),
		}); err != nil {
			t.Fatalf("CreateSecret %s: %v", dbSecretID, err)
		}
		all = append(all, db)
	}
	for _, tr := range all {
		rec.byID[tr.id] = tr
	}

	logs := &logSink{}
	logger := slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	cache, err := secretcache.New(rec, func(o *secretcache.Options) {
		o.TTL = ttl
		o.MaxStale = maxStale
		o.RotationPollInterval = pollInterval
		o.FetchTimeout = fetchTimeout
		o.ErrorBackoff = errorBackoff
		o.MaxErrorBackoff = maxErrorBackoff
		o.Jitter = jitter
		o.Logger = logger
	})
	if err != nil {
		t.Fatal(err)
	}
	ids := make([]string, len(all))
	for i, tr := range all {
		ids[i] = tr.id
	}
	if err := cache.Prefetch(ctx, ids...); err != nil {
		t.Fatalf("Prefetch: %v", err)
	}

	// The database: a SingleUser rotation through RotateSecret, and pools.
	var rotationFuncs atomic.Int64 // steps the emulator is running now
	var (
		src       *dbretry.Source
		pools     []*dbretry.Pool
		dbRotator *rotation.Rotator
		dbARN     string
	)
	if pg != nil {
		strategy, err := postgres.SingleUser(func(o *postgres.Options) { o.SSLMode = "disable"; o.Logger = logger })
		if err != nil {
			t.Fatal(err)
		}
		if dbRotator, err = rotation.New(admin, strategy, func(o *rotation.Options) { o.Logger = logger }); err != nil {
			t.Fatal(err)
		}
		srv.RegisterRotationFunc(dbLambda, func(ctx context.Context, step, secretID, token string) error {
			// The emulator gives a rotation minutes, as Lambda does; a hung
			// call inside a step must not stall the soak's rotations.
			rotationFuncs.Add(1)
			defer rotationFuncs.Add(-1)
			ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
			defer cancel()
			if err := dbRotator.Handle(ctx, rotation.Event{Step: rotation.Step(step), SecretID: secretID, ClientRequestToken: token}); err != nil {
				return err
			}
			if rotation.Step(step) == rotation.SetSecret {
				select { // the window in which only AWSPENDING logs in
				case <-time.After(dbWindow):
				case <-ctx.Done():
				}
			}
			return nil
		})
		out, err := admin.DescribeSecret(ctx, &secretsmanager.DescribeSecretInput{SecretId: aws.String(dbSecretID)})
		if err != nil {
			t.Fatal(err)
		}
		dbARN = aws.ToString(out.ARN)
		if src, err = dbretry.NewSource(cache, dbSecretID, func(o *dbretry.Options) { o.Logger = logger }); err != nil {
			t.Fatal(err)
		}
		cfg, err := pgxpool.ParseConfig("sslmode=disable pool_max_conns=3 pool_max_conn_lifetime=1s " +
			"pool_max_conn_lifetime_jitter=500ms pool_health_check_period=250ms")
		if err != nil {
			t.Fatal(err)
		}
		for range 2 {
			p, err := dbretry.NewPool(ctx, src, cfg)
			if err != nil {
				t.Fatalf("NewPool: %v", err)
			}
			pools = append(pools, p)
		}
	}

	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	heapBefore := ms.HeapInuse
	goroutinesBefore := runtime.NumGoroutine()

	// The chaos phase.
	chaos(srv)
	soakCtx, stop := context.WithCancel(ctx)
	var wg sync.WaitGroup
	chaosStart := time.Now()
	firstSecond := int(chaosStart.Sub(clk.start)/time.Second) + 1 // the first whole second of chaos

	// Rotations some reader saw late, and the latest such read.
	var lateRotations, lateRotationsExcused, lateStarved, maxLateness atomic.Int64
	// A stall detector: on a machine shared with other work, wall-clock
	// deadlines mean nothing while this process gets no CPU.
	wg.Go(func() {
		const every = 20 * time.Millisecond
		tick := time.NewTicker(every)
		defer tick.Stop()
		last := time.Now()
		for {
			select {
			case <-soakCtx.Done():
				return
			case <-tick.C:
			}
			now := time.Now()
			if late := now.Sub(last) - every; late > 0 {
				storeMax(&rec.stallPerSecond[rec.second()], int64(late))
			}
			last = now
		}
	})
	readers := make([]readerStats, numReaders)
	for r := range numReaders {
		wg.Go(func() {
			st := &readers[r]
			rng := mrand.New(mrand.NewPCG(uint64(r), 0x50a4))
			for n := 0; soakCtx.Err() == nil; n++ {
				tr := all[rng.IntN(len(all))]
				ts := clk.now()
				s, err := cache.Get(soakCtx, tr.id)
				st.hist.add(time.Duration(clk.now() - ts))
				if soakCtx.Err() != nil {
					break
				}
				st.reads++
				if err != nil {
					good := tr.lastGood.Load()
					// The cache serves a value until TTL (shortened by up
					// to Jitter) plus MaxStale after the fetch that ended
					// after good.
					if good == 0 || ts-good > int64(float64(ttl)*(1-jitter))+int64(maxStale)-int64(100*time.Millisecond) {
						st.excusedErrs++
					} else {
						st.errs++
						st.violate("%s: error %.3fs after its last good fetch: %v", tr.id, float64(ts-good)/1e9, err)
					}
					time.Sleep(readPause)
					continue
				}
				gen, ok := (*tr.gens.Load())[s.VersionID()]
				if !ok {
					st.errs++
					st.violate("%s: version %s was never written", tr.id, s.VersionID())
				}
				if cur := tr.cur.Load(); gen < cur.gen && cur.finished > 0 &&
					ts > cur.finished+int64(pollInterval+time.Duration(float64(ttl)*(1+jitter))+visibilitySlack) {
					storeMax(&maxLateness, ts-cur.finished)
					// A fault excuses lateness: one that ended after the last
					// good refresh before the rotation (so a backoff may still
					// run), or a call still in flight and already slow.
					began := tr.lastCallBegan.Load()
					excused := tr.lastFault.Load() >= cur.finished-int64(time.Duration(float64(maxErrorBackoff)*(1+jitter))+fetchTimeout) ||
						(began > tr.lastCallEnded.Load() && ts-began > int64(slowCall))
					if stall := rec.stalled(cur.finished, ts); !excused && stall >= starved {
						excused = true
						if tr.lateGen.Load() != int64(cur.gen) {
							lateStarved.Add(1)
						}
					}
					if tr.lateGen.Swap(int64(cur.gen)) != int64(cur.gen) {
						if excused {
							lateRotationsExcused.Add(1)
						} else {
							lateRotations.Add(1)
						}
					}
					if excused {
						st.lateExcused++
					} else {
						st.late++
						st.violate("%s: read %.3fs after rotation to gen %d finished returned gen %d; the cache's last call for it began %.3fs after the rotation; longest stall since %s",
							tr.id, float64(ts-cur.finished)/1e9, cur.gen, gen, float64(tr.lastCallBegan.Load()-cur.finished)/1e9, rec.stalled(cur.finished, ts))
					}
				}
				if n%16 == 0 {
					rec.readsPerSecond[rec.second()].Add(16)
					st.valueChecks++
					if tr == db {
						if c, err := dbretry.ParseCredentials(s); err != nil || c.Username != dbRole {
							st.errs++
							st.violate("%s: ParseCredentials: %v", tr.id, err)
						}
					} else {
						var v soakValue
						if err := s.Unmarshal(&v); err != nil || v.ID != tr.id || v.Gen != gen {
							st.errs++
							st.violate("%s: value of version %s (gen %d) is id %q gen %d, err %v", tr.id, s.VersionID(), gen, v.ID, v.Gen, err)
						}
					}
				}
				time.Sleep(readPause)
			}
		})
	}

	// Database workers: every query must succeed across rotations.
	type dbStats struct {
		queries, errs int64
		hist          histogram
		violations    []string
	}
	dbw := make([]dbStats, numDBWork)
	if pg != nil {
		for w := range numDBWork {
			wg.Go(func() {
				st := &dbw[w]
				pool := pools[w%len(pools)]
				for soakCtx.Err() == nil {
					began := time.Now()
					var user string
					err := pool.QueryRow(soakCtx, "SELECT current_user").Scan(&user)
					st.hist.add(time.Since(began))
					if soakCtx.Err() != nil {
						break
					}
					st.queries++
					if err != nil || user != dbRole {
						st.errs++
						if len(st.violations) < 5 {
							st.violations = append(st.violations, fmt.Sprintf("query as %q: %v", user, err))
						}
					}
					time.Sleep(2 * time.Millisecond)
				}
			})
		}
	}

	// Rotations of cache secrets: PutSecretValue (what any writer does)
	// alternating with rotation.Rotator (AWSPENDING, then finishSecret).
	var (
		cacheRotations, rotatorRetries, dbRotations, dbResumes atomic.Int64
		pendingTime                                            atomic.Int64 // summed duration of rotations with an AWSPENDING phase
		rotErrs                                                []string
		rotErrsMu                                              sync.Mutex
	)
	rotErr := func(format string, args ...any) {
		rotErrsMu.Lock()
		defer rotErrsMu.Unlock()
		if len(rotErrs) < 5 {
			rotErrs = append(rotErrs, fmt.Sprintf(format, args...))
		}
	}
	wg.Go(func() {
		rng := mrand.New(mrand.NewPCG(7, 11))
		tick := time.NewTicker(cacheRotEvery)
		defer tick.Stop()
		for k := 0; ; k++ {
			select {
			case <-soakCtx.Done():
				return
			case <-tick.C:
			}
			for _, i := range rng.Perm(numRotating)[:cacheRotBatch] {
				tr := all[i]
				gen := tr.nextGen
				tr.nextGen++
				version := token(tr.index, gen)
				tr.expect(version, gen)
				began := time.Now()
				if k%2 == 0 {
					if _, err := admin.PutSecretValue(soakCtx, &secretsmanager.PutSecretValueInput{
						SecretId: aws.String(tr.id), ClientRequestToken: aws.String(version), SecretString: aws.String(valueOf(tr.id, gen)),
					}); err != nil {
						if soakCtx.Err() == nil {
							rotErr("PutSecretValue %s: %v", tr.id, err)
						}
						return
					}
				} else {
					// Rotate makes its own token: w registers it before
					// the version is written.
					w := &tokenRecorder{Client: admin, expect: func(v string) { tr.expect(v, gen) }}
					r, err := rotation.New(w, trivialStrategy{value: valueOf(tr.id, gen)})
					if err != nil {
						rotErr("rotation.New %s: %v", tr.id, err)
						return
					}
					for {
						actx, cancel := context.WithTimeout(soakCtx, 3*time.Second)
						err := r.Rotate(actx, tr.id)
						cancel()
						if err == nil {
							break
						}
						if soakCtx.Err() != nil {
							return
						}
						rotatorRetries.Add(1)
						time.Sleep(200 * time.Millisecond)
					}
					pendingTime.Add(int64(time.Since(began)))
					version = w.last
				}
				tr.finish(version, gen, clk.now())
				cacheRotations.Add(1)
			}
		}
	})
	if pg != nil {
		wg.Go(func() {
			tick := time.NewTicker(dbRotEvery)
			defer tick.Stop()
			for {
				select {
				case <-soakCtx.Done():
					return
				case <-tick.C:
				}
				gen := db.nextGen
				db.nextGen++
				version := token(db.index, gen)
				db.expect(version, gen)
				began := time.Now()
				actx, cancel := context.WithTimeout(soakCtx, 30*time.Second) // beyond the steps' own 4 x 5s
				_, err := admin.RotateSecret(actx, &secretsmanager.RotateSecretInput{
					SecretId: aws.String(dbARN), ClientRequestToken: aws.String(version), RotationLambdaARN: aws.String(dbLambda),
				})
				cancel()
				// A step that met an injected fault leaves the rotation
				// pending; Rotate resumes it with the same token.
				for err != nil {
					if soakCtx.Err() != nil {
						return
					}
					dbResumes.Add(1)
					time.Sleep(200 * time.Millisecond)
					actx, cancel := context.WithTimeout(soakCtx, 5*time.Second)
					err = dbRotator.Rotate(actx, dbARN)
					cancel()
				}
				pendingTime.Add(int64(time.Since(began)))
				db.finish(version, gen, clk.now())
				dbRotations.Add(1)
			}
		})
	}

	// A burst of 100 % throttling in the middle: the cache must serve stale
	// values through it and must not storm the service afterwards.
	var burstFrom, burstTo int
	var maxHeap uint64
	var maxGoroutines int
	var maxStall time.Duration // how late the monitor's ticks came: CPU starvation
	const monitorEvery = 500 * time.Millisecond
	monitor := time.NewTicker(monitorEvery)
	lastTick := time.Now()
	deadline := time.After(d)
	burstAt := time.After(d/2 - burstLength/2)
	var burstEnd <-chan time.Time
soak:
	for {
		select {
		case now := <-monitor.C:
			maxStall = max(maxStall, time.Since(lastTick)-monitorEvery, now.Sub(lastTick)-monitorEvery)
			lastTick = time.Now()
			runtime.ReadMemStats(&ms)
			maxHeap = max(maxHeap, ms.HeapInuse)
			maxGoroutines = max(maxGoroutines, runtime.NumGoroutine())
		case <-burstAt:
			burstFrom = int(time.Since(clk.start) / time.Second)
			srv.InjectFault(awsemu.Fault{Op: "GetSecretValue", Code: "ThrottlingException"})
			srv.InjectFault(awsemu.Fault{Op: "DescribeSecret", Code: "ThrottlingException"})
			burstEnd = time.After(burstLength)
		case <-burstEnd:
			srv.ClearFaults()
			chaos(srv)
			burstTo = int(time.Since(clk.start) / time.Second)
		case <-deadline:
			break soak
		}
	}
	monitor.Stop()
	lastSecond := int(time.Since(clk.start) / time.Second) // not whole
	stop()
	wg.Wait()
	elapsed := time.Since(chaosStart)
	srv.ClearFaults()
	// A rotation step runs detached from the RotateSecret call that
	// started it; let it end before counting goroutines.
	for i := 0; rotationFuncs.Load() > 0 && i < 300; i++ {
		time.Sleep(100 * time.Millisecond)
	}
	for _, p := range pools {
		p.Close()
	}

	// A rotation cut short by the end of the soak may still have finished:
	// take AWSCURRENT from the service.
	for _, tr := range all {
		out, err := admin.DescribeSecret(ctx, &secretsmanager.DescribeSecretInput{SecretId: aws.String(tr.id)})
		if err != nil {
			t.Fatalf("DescribeSecret %s: %v", tr.id, err)
		}
		for v, stages := range out.VersionIdsToStages {
			if !slices.Contains(stages, "AWSCURRENT") || v == tr.cur.Load().version {
				continue
			}
			gen, ok := (*tr.gens.Load())[v]
			if !ok {
				t.Fatalf("%s: AWSCURRENT is version %s, which the soak never wrote", tr.id, v)
			}
			tr.finish(v, gen, clk.now())
		}
	}

	// Without faults every secret converges to its AWSCURRENT within the
	// longest error backoff plus one TTL.
	converge := time.Now().Add(time.Duration(float64(maxErrorBackoff)*(1+jitter)) + ttl + fetchTimeout + visibilitySlack)
	var behind []string
	for {
		behind = behind[:0]
		for _, tr := range all {
			s, err := cache.Get(ctx, tr.id)
			if err != nil || s.VersionID() != tr.cur.Load().version {
				behind = append(behind, tr.id)
			}
		}
		if len(behind) == 0 || time.Now().After(converge) {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}

	// Figures.
	var tot readerStats
	var violations []string
	for i := range readers {
		r := &readers[i]
		tot.reads += r.reads
		tot.errs += r.errs
		tot.excusedErrs += r.excusedErrs
		tot.late += r.late
		tot.lateExcused += r.lateExcused
		tot.valueChecks += r.valueChecks
		tot.hist.merge(&r.hist)
		violations = append(violations, r.violations...)
	}
	var dbTot dbStats
	for i := range dbw {
		dbTot.queries += dbw[i].queries
		dbTot.errs += dbw[i].errs
		dbTot.hist.merge(&dbw[i].hist)
		violations = append(violations, dbw[i].violations...)
	}
	// A read above may have started a background refresh: wait for the
	// cache to be idle so its counters and the client's agree.
	var stats secretcache.Stats
	var recTotal int64
	for range 50 {
		recTotal = rec.total()
		if stats = cache.Stats(); stats.Calls.Total() == uint64(recTotal) && rec.total() == recTotal {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	secs := elapsed.Seconds()
	t.Logf("soak: %s of chaos (seed 20250601), %d secrets, %d readers, TTL %s, RotationPollInterval %s, MaxStale %s, FetchTimeout %s",
		elapsed.Round(time.Millisecond), len(all), numReaders, ttl, pollInterval, maxStale, fetchTimeout)
	t.Logf("reads: %d (%.0f/s), p50 %s, p99 %s, p99.9 %s, max bucket %s; errors to callers: %d counted, %d excused (no good value within TTL+MaxStale); value checks %d",
		tot.reads, float64(tot.reads)/secs, tot.hist.quantile(0.5), tot.hist.quantile(0.99), tot.hist.quantile(0.999), tot.hist.quantile(1), tot.errs, tot.excusedErrs, tot.valueChecks)
	t.Logf("rotations: %d cache (%d Rotator retries), %d database (%d resumed after a faulted step); "+
		"seen late (after RotationPollInterval+TTL+%s): %d rotations in %d reads, plus %d rotations in %d reads excused by a fault on that secret (%d of them by a stall of %s or more); latest late read %.3fs after its rotation",
		cacheRotations.Load(), rotatorRetries.Load(), dbRotations.Load(), dbResumes.Load(), visibilitySlack,
		lateRotations.Load(), tot.late, lateRotationsExcused.Load(), tot.lateExcused, lateStarved.Load(), starved, float64(maxLateness.Load())/1e9)
	if pg != nil {
		ss := src.Stats()
		t.Logf("database: %d queries (%.0f/s), %d errors, p50 %s, p99 %s; dbretry auth failures %d, rereads %d, switches %d, exhausted %d",
			dbTot.queries, float64(dbTot.queries)/secs, dbTot.errs, dbTot.hist.quantile(0.5), dbTot.hist.quantile(0.99),
			ss.AuthFailures, ss.Rereads, ss.Switches, ss.Exhausted)
	}
	t.Logf("cache API calls: %d DescribeSecret, %d GetSecretValue, %d BatchGetSecretValue (Stats: %+v); HTTP attempts incl. SDK retries: %d; cache refreshes %d, failed fetches %d",
		rec.describe.Load(), rec.get.Load(), rec.batch.Load(), stats.Calls, cacheTransport.n.Load(), stats.Refreshes, stats.Errors)
	t.Logf("emulator calls (all clients): DescribeSecret %d, GetSecretValue %d, PutSecretValue %d, UpdateSecretVersionStage %d, RotateSecret %d",
		srv.Calls("DescribeSecret"), srv.Calls("GetSecretValue"), srv.Calls("PutSecretValue"), srv.Calls("UpdateSecretVersionStage"), srv.Calls("RotateSecret"))

	var perSec, failedPerSec, readsPerSec []int64 // whole seconds of chaos only
	for i := firstSecond; i < lastSecond && i < len(rec.perSecond); i++ {
		perSec = append(perSec, rec.perSecond[i].Load())
		failedPerSec = append(failedPerSec, rec.failedPerSecond[i].Load())
		readsPerSec = append(readsPerSec, rec.readsPerSecond[i].Load()/1000)
	}
	var stallPerSec []time.Duration
	for i := firstSecond; i < lastSecond && i < len(rec.perSecond); i++ {
		stallPerSec = append(stallPerSec, time.Duration(rec.stallPerSecond[i].Load()).Round(time.Millisecond))
	}
	t.Logf("per second from second %d (100%% throttling from second %d to %d):\n\tcache API calls %v\n\tfailed calls    %v\n\tk reads         %v\n\tlongest stall   %v",
		firstSecond, burstFrom, burstTo, perSec, failedPerSec, readsPerSec, stallPerSec)
	t.Logf("cache stats: %+v", stats)
	runtime.GC()
	runtime.ReadMemStats(&ms)
	heapAfter := ms.HeapInuse
	t.Logf("memory: HeapInuse %.1f MiB before, %.1f MiB max, %.1f MiB after; goroutines %d before, %d max; log lines %d; "+
		"longest scheduling stall %s (a stall of seconds means the machine, not rekey, was starved)",
		mib(heapBefore), mib(maxHeap), mib(heapAfter), goroutinesBefore, maxGoroutines, logs.lines.Load(), maxStall.Round(time.Millisecond))

	// Assertions.
	for i, v := range violations {
		if i == 20 {
			t.Errorf("... and %d more", len(violations)-i)
			break
		}
		t.Error(v)
	}
	if tot.errs > 0 || dbTot.errs > 0 {
		t.Errorf("callers saw %d read errors and %d query errors for secrets with a good value within MaxStale; want 0", tot.errs, dbTot.errs)
	}
	if tot.late > 0 {
		t.Errorf("%d reads returned an old AWSCURRENT later than RotationPollInterval+TTL after its rotation finished, without a fault to excuse it", tot.late)
	}
	if len(behind) > 0 {
		t.Errorf("after the faults stopped, %d secrets still were not at their AWSCURRENT: %v", len(behind), behind[:min(len(behind), 5)])
	}
	for _, e := range rotErrs {
		t.Errorf("rotation: %s", e)
	}
	if cacheRotations.Load() < int64(d/cacheRotEvery)/2 || (pg != nil && dbRotations.Load() < int64(d/dbRotEvery)/2) {
		t.Errorf("only %d cache and %d database rotations ran; the soak did not rotate enough to mean anything", cacheRotations.Load(), dbRotations.Load())
	}
	if tot.reads < int64(numReaders)*int64(d/time.Second)*10 {
		t.Errorf("only %d reads: the readers were starved", tot.reads)
	}

	// The API budget: one DescribeSecret per secret per TTL (shortened by
	// jitter), one per RotationPollInterval while a rotation is pending, one
	// GetSecretValue per new version, and one more call per failed fetch
	// (backed off, so failures add no rate). dbretry's rereads cost up to
	// two GetSecretValue each, after dropping the secret (one more for the
	// next read of AWSCURRENT).
	n := float64(len(all))
	minTTL := float64(ttl) * (1 - jitter)
	rotations := float64(cacheRotations.Load() + dbRotations.Load() + rotatorRetries.Load() + dbResumes.Load())
	var rereads float64
	if src != nil {
		rereads = float64(src.Stats().Rereads)
	}
	describeBudget := n*(float64(elapsed)/minTTL+2) + float64(pendingTime.Load())/(float64(pollInterval)*(1-jitter)) + 2*rotations + float64(stats.Errors)
	getBudget := rotations + 3*rereads + float64(stats.Errors) + n
	t.Logf("budget: DescribeSecret %d <= %.0f, GetSecretValue %d <= %.0f, HTTP attempts %d <= 3 x %d cache calls",
		rec.describe.Load(), describeBudget, rec.get.Load(), getBudget, cacheTransport.n.Load(), rec.total())
	if float64(rec.describe.Load()) > describeBudget {
		t.Errorf("DescribeSecret calls %d over the budget %.0f", rec.describe.Load(), describeBudget)
	}
	if float64(rec.get.Load()) > getBudget {
		t.Errorf("GetSecretValue calls %d over the budget %.0f", rec.get.Load(), getBudget)
	}
	if cacheTransport.n.Load() > 3*rec.total() {
		t.Errorf("HTTP attempts %d exceed 3 per cache call (%d): retries are not bounded", cacheTransport.n.Load(), rec.total())
	}
	// No storm: in no second, including those right after the burst, does
	// the cache call more than twice its steady refresh rate.
	stormLimit := int64(2*n*float64(time.Second)/minTTL) + 20
	if peak := slices.Max(perSec); peak > stormLimit {
		t.Errorf("a second with %d cache API calls, over %d (twice the steady refresh rate): a storm; per second %v", peak, stormLimit, perSec)
	}
	if stats.Calls.Total() != uint64(recTotal) {
		t.Errorf("Stats().Calls.Total() = %d, but the cache made %d calls", stats.Calls.Total(), recTotal)
	}

	// Memory stays bounded: what the soak adds is the cache's versions and
	// the emulator's history, not a per-read cost.
	const heapGrowthLimit = 64 << 20
	if heapAfter > heapBefore+heapGrowthLimit {
		t.Errorf("HeapInuse grew from %.1f to %.1f MiB (limit +%.0f MiB)", mib(heapBefore), mib(heapAfter), mib(heapGrowthLimit))
	}
	if logs.leaks.Load() > 0 {
		t.Errorf("%d log lines carry a secret value, e.g. %s", logs.leaks.Load(), logs.firstLeak)
	}

	// No goroutine outlives Close.
	if err := cache.Close(); err != nil {
		t.Errorf("Close: %v", err)
	}
	cacheTransport.next.CloseIdleConnections()
	adminTransport.CloseIdleConnections()
	srv.Close()
	goleak.VerifyNone(t, leakOpts...)
}

func mib(b uint64) float64 { return float64(b) / (1 << 20) }
