// Command pgx-service is a small HTTP service on dbretry.Pool that keeps
// answering while its database secret rotates.
//
// With real AWS it serves GET /time (the database's clock and login) and
// GET /healthz on -addr, logging in with the RDS secret -secret:
//
//	go run ./examples/pgx-service -secret prod/orders/db -addr :8080
//
// With -demo it needs no AWS account: it starts a throwaway PostgreSQL
// (when its binaries are installed) and the in-process Secrets Manager
// emulator, serves on a loopback port, drives load against itself,
// rotates the secret every -rotate-every with a real single-user rotation
// held -window between setSecret and finishSecret, and prints a live table
// of requests served, failed requests and API calls until -duration ends.
// It exits 1 if a request failed, or if no rotation completed or no
// credential switch happened (then it showed nothing):
//
//	go run ./examples/pgx-service -demo -duration 10s
//
// It stops on SIGINT or SIGTERM, letting a rotation in progress finish.
package main

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/rekeyhq/rekey/dbretry"
	"github.com/rekeyhq/rekey/internal/pgtest"
	"github.com/rekeyhq/rekey/rotation"
	"github.com/rekeyhq/rekey/rotation/postgres"
	"github.com/rekeyhq/rekey/secretcache"
	"github.com/rekeyhq/rekey/secretcache/secretcachetest"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	os.Exit(run(ctx, os.Args[1:], os.Stdout))
}

type options struct {
	addr, secret, dsn    string
	demo                 bool
	duration, every, win time.Duration
	clients              int
}

// run is the command: it parses args, runs until ctx ends (or -duration
// with -demo) and returns the exit status: 0 (also for -h), 1 for a
// failure (with -demo: a failed request or rotation, or no rotation or
// credential switch at all), 2 for bad usage.
func run(ctx context.Context, args []string, stdout io.Writer) int {
	fs := flag.NewFlagSet("pgx-service", flag.ContinueOnError)
	fs.SetOutput(stdout)
	var o options
	fs.StringVar(&o.addr, "addr", ":8080", "listen address")
	fs.StringVar(&o.secret, "secret", "", "id of the RDS secret with the database credentials")
	fs.StringVar(&o.dsn, "dsn", "", "pgxpool settings besides the credentials, e.g. \"sslmode=verify-full pool_max_conns=20\"")
	fs.BoolVar(&o.demo, "demo", false, "run against a throwaway PostgreSQL and the Secrets Manager emulator, rotating the secret under load")
	fs.DurationVar(&o.duration, "duration", 10*time.Second, "with -demo: how long to run")
	fs.DurationVar(&o.every, "rotate-every", 2*time.Second, "with -demo: time between rotations")
	fs.DurationVar(&o.win, "window", 500*time.Millisecond, "with -demo: how long each rotation holds between setSecret and finishSecret")
	fs.IntVar(&o.clients, "clients", 8, "with -demo: concurrent HTTP clients")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	var err error
	switch {
	case o.demo:
		err = demo(ctx, o, stdout)
	case o.secret == "":
		fmt.Fprintln(stdout, "pgx-service: -secret or -demo is required")
		fs.Usage()
		return 2
	default:
		err = serveAWS(ctx, o)
	}
	if err != nil {
		fmt.Fprintln(stdout, "pgx-service:", err)
		return 1
	}
	return 0
}

// healthTimeout bounds /healthz: a health check must answer quickly, even
// while a login is being retried.
const healthTimeout = 2 * time.Second

// service is the HTTP API on a pool. Errors go to log; clients get a
// plain 503, never an error's text, which may name hosts, users and
// versions.
type service struct {
	pool          *dbretry.Pool
	log           *slog.Logger
	healthTimeout time.Duration // 0: healthTimeout
}

// unavailable logs err and answers 503.
func (s *service) unavailable(w http.ResponseWriter, r *http.Request, err error) {
	s.log.LogAttrs(r.Context(), slog.LevelWarn, "pgx-service: request failed",
		slog.String("path", r.URL.Path), slog.Any("error", err))
	http.Error(w, http.StatusText(http.StatusServiceUnavailable), http.StatusServiceUnavailable)
}

func (s *service) routes() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /time", s.time)
	mux.HandleFunc("GET /healthz", s.health)
	return mux
}

// time answers with the database's clock and the login that read it; every
// request runs a query, so it needs a pooled connection.
func (s *service) time(w http.ResponseWriter, r *http.Request) {
	var out struct {
		Now  time.Time `json:"now"`
		User string    `json:"user"`
	}
	if err := s.pool.QueryRow(r.Context(), "SELECT now(), current_user").Scan(&out.Now, &out.User); err != nil {
		s.unavailable(w, r, err)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(out) //nolint:errcheck // the client went away
}

func (s *service) health(w http.ResponseWriter, r *http.Request) {
	timeout := healthTimeout
	if s.healthTimeout > 0 {
		timeout = s.healthTimeout
	}
	ctx, cancel := context.WithTimeout(r.Context(), timeout)
	defer cancel()
	if err := s.pool.Ping(ctx); err != nil {
		s.unavailable(w, r, err)
		return
	}
	io.WriteString(w, "ok\n") //nolint:errcheck // the client went away
}

// serve runs the service on l until ctx ends.
func serve(ctx context.Context, l net.Listener, s *service) error {
	srv := &http.Server{Handler: s.routes(), ReadHeaderTimeout: 5 * time.Second}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(l) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	shutdown, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	err := srv.Shutdown(shutdown)
	<-errc
	return err
}

// serveAWS is the production shape: AWS credentials from the environment,
// a cache, a Source and a Pool.
func serveAWS(ctx context.Context, o options) error {
	awsCfg, err := config.LoadDefaultConfig(ctx)
	if err != nil {
		return err
	}
	log := slog.New(slog.NewJSONHandler(os.Stderr, nil))
	cache, err := secretcache.New(secretsmanager.NewFromConfig(awsCfg), func(co *secretcache.Options) { co.Logger = log })
	if err != nil {
		return err
	}
	defer cache.Close()
	src, err := dbretry.NewSource(cache, o.secret, func(do *dbretry.Options) { do.Logger = log })
	if err != nil {
		return err
	}
	defer src.Close() // after the pool, before the cache
	pool, err := newPool(ctx, src, o.dsn, 0)
	if err != nil {
		return err
	}
	defer pool.Close()
	l, err := net.Listen("tcp", o.addr)
	if err != nil {
		return err
	}
	log.Info("pgx-service listening", "addr", l.Addr().String(), "secret", o.secret)
	return serve(ctx, l, &service{pool: pool, log: log})
}

func newPool(ctx context.Context, src *dbretry.Source, dsn string, lifetime time.Duration) (*dbretry.Pool, error) {
	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		return nil, err
	}
	if lifetime > 0 {
		cfg.MaxConnLifetime = lifetime
		cfg.MaxConnLifetimeJitter = lifetime / 2
	}
	return dbretry.NewPool(ctx, src, cfg)
}

const (
	demoSecret = "demo/orders/db"
	demoRole   = "orders"
	rotatorARN = "arn:aws:lambda:us-east-1:123456789012:function:demo-rotator"
)

// rotationTimeout bounds one rotation, which the demo lets finish after
// -duration or a signal.
const rotationTimeout = 30 * time.Second

// demo runs the service against a throwaway database and the emulator,
// rotating the secret under load, and prints a table once a second.
func demo(ctx context.Context, o options, out io.Writer) error {
	// The live table and the service's log lines come from different
	// goroutines; out need not be safe for concurrent writes.
	out = &serialWriter{w: out}
	pg, err := pgtest.StartServer()
	if err != nil {
		if errors.Is(err, pgtest.ErrUnavailable) {
			return fmt.Errorf("-demo needs PostgreSQL's initdb and postgres binaries (set %s to their directory): %w", pgtest.BinDirEnv, err)
		}
		return err
	}
	defer pg.Stop()
	srv, err := secretcachetest.Start()
	if err != nil {
		return err
	}
	defer srv.Close()
	sm := srv.Client()

	password := rand.Text()
	if err := createRole(ctx, pg, password); err != nil {
		return err
	}
	value, err := json.Marshal(map[string]any{
		"engine": "postgres", "host": pg.Host, "port": pg.Port, "username": demoRole, "password": password, "dbname": pg.Database,
	})
	if err != nil {
		return err
	}
	if _, err := sm.CreateSecret(ctx, &secretsmanager.CreateSecretInput{Name: aws.String(demoSecret), SecretString: aws.String(string(value))}); err != nil {
		return err
	}
	strategy, err := postgres.SingleUser(func(po *postgres.Options) { po.SSLMode = "disable" })
	if err != nil {
		return err
	}
	rotator, err := rotation.New(sm, strategy)
	if err != nil {
		return err
	}
	srv.RegisterRotationFunc(rotatorARN, func(ctx context.Context, step, id, token string) error {
		if err := rotator.Handle(ctx, rotation.Event{Step: rotation.Step(step), SecretID: id, ClientRequestToken: token}); err != nil {
			return err
		}
		if rotation.Step(step) == rotation.SetSecret {
			// The single-user window, held open so that it shows: the
			// database has the new password, AWSCURRENT the old one.
			time.Sleep(o.win)
		}
		return nil
	})

	// The service, as in production but with the emulator's client and
	// short-lived connections, so that new logins happen in every window.
	cache, err := secretcache.New(sm)
	if err != nil {
		return err
	}
	defer cache.Close()
	src, err := dbretry.NewSource(cache, demoSecret)
	if err != nil {
		return err
	}
	defer src.Close() // after the pool, before the cache
	pool, err := newPool(ctx, src, "sslmode=disable pool_max_conns=8", 200*time.Millisecond)
	if err != nil {
		return err
	}
	defer pool.Close()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	var wg sync.WaitGroup
	defer wg.Wait() // after cancel, which ends every goroutine below
	ctx, cancel := context.WithTimeout(ctx, o.duration)
	defer cancel()
	log := slog.New(slog.NewTextHandler(out, &slog.HandlerOptions{Level: slog.LevelWarn}))
	wg.Go(func() {
		if err := serve(ctx, l, &service{pool: pool, log: log}); err != nil && !errors.Is(err, http.ErrServerClosed) {
			fmt.Fprintln(out, "pgx-service: serve:", err)
		}
	})

	var st demoStats
	url := "http://" + l.Addr().String() + "/time"
	client := &http.Client{Timeout: 30 * time.Second}
	for range o.clients {
		wg.Go(func() { load(ctx, client, url, &st) })
	}
	wg.Go(func() {
		t := time.NewTicker(o.every)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
			// The emulator runs the four steps before it answers. A
			// rotation that started runs to its end, even past -duration
			// or a signal: cut short, it would leave an AWSPENDING version
			// behind.
			rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), rotationTimeout)
			_, err := sm.RotateSecret(rctx, &secretsmanager.RotateSecretInput{
				SecretId: aws.String(demoSecret), RotationLambdaARN: aws.String(rotatorARN),
			})
			cancel()
			if err != nil {
				st.rotationErrs.Add(1)
				fmt.Fprintln(out, "pgx-service: rotation:", err)
				continue
			}
			st.rotations.Add(1)
		}
	})

	fmt.Fprintf(out, "pgx-service demo: GET %s under load from %d clients for %v; rotating %s every %v (window %v)\n\n",
		url, o.clients, o.duration, demoSecret, o.every, o.win)
	fmt.Fprintf(out, "%7s %10s %8s %10s %9s %14s %10s\n", "time", "requests", "failed", "rotations", "switches", "refused-logins", "api-calls")
	began := time.Now()
	row := func() {
		s := src.Stats()
		fmt.Fprintf(out, "%6.1fs %10d %8d %10d %9d %14d %10d\n", time.Since(began).Seconds(), st.served.Load(), st.failed.Load(),
			st.rotations.Load(), s.Switches, s.AuthFailures, cache.Stats().Calls.Total())
	}
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
loop:
	for {
		select {
		case <-ctx.Done():
			break loop
		case <-tick.C:
			row()
		}
	}
	wg.Wait()
	row()
	fmt.Fprintf(out, "\n%d requests served, %d failed, %d rotations, %d API calls by the service's cache\n",
		st.served.Load(), st.failed.Load(), st.rotations.Load(), cache.Stats().Calls.Total())
	if n := st.failed.Load(); n > 0 {
		return fmt.Errorf("%d requests failed; first: %v", n, st.firstErr.Load())
	}
	if n := st.rotationErrs.Load(); n > 0 {
		return fmt.Errorf("%d rotations failed", n)
	}
	// Without a rotation, or without a login that needed the new
	// password, the demo showed nothing.
	if st.rotations.Load() == 0 {
		return errors.New("no rotation completed; make -duration longer than -rotate-every plus -window")
	}
	if src.Stats().Switches == 0 {
		return errors.New("no credential switch happened: no new login fell in a rotation's window")
	}
	return nil
}

type demoStats struct {
	served, failed, rotations, rotationErrs atomic.Int64
	firstErr                                atomic.Value // string
}

// load requests url until ctx ends, counting answers.
func load(ctx context.Context, client *http.Client, url string, st *demoStats) {
	for ctx.Err() == nil {
		err := get(ctx, client, url)
		switch {
		case err == nil:
			st.served.Add(1)
		case ctx.Err() != nil: // the demo ended mid-request
		default:
			st.failed.Add(1)
			st.firstErr.CompareAndSwap(nil, err.Error())
		}
	}
}

func get(ctx context.Context, client *http.Client, url string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s: %s", resp.Status, body)
	}
	return nil
}

// createRole creates the demo's login role as the superuser.
func createRole(ctx context.Context, pg *pgtest.Server, password string) error {
	cfg, err := pgxpool.ParseConfig(pg.SuperDSN())
	if err != nil {
		return err
	}
	p, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return err
	}
	defer p.Close()
	// The password is random base32; a literal is safe here.
	_, err = p.Exec(ctx, "CREATE ROLE "+demoRole+" LOGIN PASSWORD '"+password+"'")
	return err
}

// serialWriter makes one Write at a time to w.
type serialWriter struct {
	mu sync.Mutex // guards w
	w  io.Writer
}

func (s *serialWriter) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.w.Write(p)
}
