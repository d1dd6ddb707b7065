// Command regional-failover shows secretcache reading through a Regional
// outage: the primary Region of a replicated secret goes down mid-run, and
// reads (and, with PostgreSQL installed, database queries through
// dbretry) go on, served by the replica Region, then back on the primary
// once it recovers. It needs no AWS account: it runs the in-process
// emulator serving both Regions with real replication, and a throwaway
// PostgreSQL when its binaries are installed (else it does reads only and
// says so):
//
//	go run ./examples/regional-failover
//
// Every 500ms it prints reads and queries done and failed, and how many
// refresh API calls each Region answered. At a third of -duration the
// primary hangs every request (as a Region does in an outage) and a new
// cache is started cold, as a process starting during the outage would
// be; at two thirds the primary recovers. It exits 1 if a read or query
// failed, if the replica answered nothing during the outage, or if the
// primary answered nothing after it recovered.
package main

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager/types"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/rekeyhq/rekey/dbretry"
	"github.com/rekeyhq/rekey/internal/pgtest"
	"github.com/rekeyhq/rekey/secretcache"
	"github.com/rekeyhq/rekey/secretcache/secretcachetest"
)

const (
	primary    = "us-east-1"
	replica    = "eu-west-1"
	secretName = "demo/orders/db"
	role       = "orders"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "regional-failover:", err)
		os.Exit(1)
	}
}

// regionCounter is a secretcache.Client counting the answers of one
// Region: each successful GetSecretValue or DescribeSecret is a refresh
// (or first read) that Region served.
type regionCounter struct {
	secretcache.Client
	answers atomic.Int64
}

func (r *regionCounter) GetSecretValue(ctx context.Context, in *secretsmanager.GetSecretValueInput, optFns ...func(*secretsmanager.Options)) (*secretsmanager.GetSecretValueOutput, error) {
	out, err := r.Client.GetSecretValue(ctx, in, optFns...)
	if err == nil {
		r.answers.Add(1)
	}
	return out, err
}

func (r *regionCounter) DescribeSecret(ctx context.Context, in *secretsmanager.DescribeSecretInput, optFns ...func(*secretsmanager.Options)) (*secretsmanager.DescribeSecretOutput, error) {
	out, err := r.Client.DescribeSecret(ctx, in, optFns...)
	if err == nil {
		r.answers.Add(1)
	}
	return out, err
}

func run(ctx context.Context, args []string, out io.Writer) error {
	fs := flag.NewFlagSet("regional-failover", flag.ContinueOnError)
	duration := fs.Duration("duration", 6*time.Second, "how long to run; the outage covers the middle third")
	noDB := fs.Bool("no-db", false, "do reads only, even if PostgreSQL is installed")
	if err := fs.Parse(args); err != nil {
		return err
	}
	out = &lockedWriter{w: out} // the workers report failures as they happen

	srv, err := secretcachetest.Start(func(o *secretcachetest.Options) { o.Region = primary })
	if err != nil {
		return err
	}
	defer srv.Close()
	primarySM := &regionCounter{Client: secretsmanager.NewFromConfig(srv.AWSConfigFor(primary))}
	replicaSM := &regionCounter{Client: secretsmanager.NewFromConfig(srv.AWSConfigFor(replica))}
	admin := secretsmanager.NewFromConfig(srv.AWSConfigFor(primary))

	var pg *pgtest.Server
	if !*noDB {
		pg, err = pgtest.StartServer()
		switch {
		case errors.Is(err, pgtest.ErrUnavailable):
			fmt.Fprintf(out, "PostgreSQL is not installed (%v): reads only, no queries\n", err)
			pg = nil
		case err != nil:
			return err
		default:
			defer pg.Stop()
		}
	}
	password := rand.Text()
	host, port, dbname := "db.invalid", 5432, "postgres"
	if pg != nil {
		if err := createRole(ctx, pg, password); err != nil {
			return err
		}
		host, port, dbname = pg.Host, pg.Port, pg.Database
	}
	value, err := json.Marshal(map[string]any{"engine": "postgres", "host": host, "port": port, "username": role, "password": password, "dbname": dbname})
	if err != nil {
		return err
	}
	created, err := admin.CreateSecret(ctx, &secretsmanager.CreateSecretInput{
		Name: aws.String(secretName), SecretString: aws.String(string(value)),
		AddReplicaRegions: []types.ReplicaRegionType{{Region: aws.String(replica)}},
	})
	if err != nil {
		return err
	}
	arn := aws.ToString(created.ARN)
	fmt.Fprintf(out, "secret %s in %s, replicated to %s\n", secretName, primary, replica)

	// The option this example is about: the replica Region's client. The
	// short TTL makes refreshes frequent enough to watch.
	newCache := func() (*secretcache.Cache, error) {
		return secretcache.New(primarySM, func(o *secretcache.Options) {
			o.TTL = 300 * time.Millisecond
			o.Replicas = []secretcache.Replica{{Region: replica, Client: replicaSM}}
		})
	}
	cache, err := newCache()
	if err != nil {
		return err
	}
	defer cache.Close()

	var reads, readFails, queries, queryFails atomic.Int64
	runCtx, cancel := context.WithTimeout(ctx, *duration)
	defer cancel()
	var wg sync.WaitGroup
	wg.Go(func() {
		for runCtx.Err() == nil {
			if _, err := cache.GetSecretString(runCtx, arn); err != nil && runCtx.Err() == nil {
				readFails.Add(1)
				fmt.Fprintf(out, "read failed: %v\n", err)
			}
			reads.Add(1)
			time.Sleep(time.Millisecond)
		}
	})
	if pg != nil {
		src, err := dbretry.NewSource(cache, arn)
		if err != nil {
			return err
		}
		defer src.Close()
		cfg, err := pgxpool.ParseConfig("sslmode=disable pool_max_conns=2")
		if err != nil {
			return err
		}
		// Short-lived connections, so new logins keep reading the secret.
		cfg.MaxConnLifetime = 200 * time.Millisecond
		pool, err := dbretry.NewPool(ctx, src, cfg)
		if err != nil {
			return err
		}
		defer pool.Close()
		wg.Go(func() {
			for runCtx.Err() == nil {
				var one int
				if err := pool.QueryRow(runCtx, "SELECT 1").Scan(&one); err != nil && runCtx.Err() == nil {
					queryFails.Add(1)
					fmt.Fprintf(out, "query failed: %v\n", err)
				}
				queries.Add(1)
				time.Sleep(5 * time.Millisecond)
			}
		})
	}

	start := time.Now()
	down, up := *duration/3, 2**duration/3
	var duringOutage, afterRecovery int64
	var phase int
	tick := time.NewTicker(500 * time.Millisecond)
	defer tick.Stop()
	report := func() {
		fmt.Fprintf(out, "%5.1fs  reads %6d (failed %d)  queries %5d (failed %d)  answered by %s: %3d, by %s: %3d  failovers %d\n",
			time.Since(start).Seconds(), reads.Load(), readFails.Load(), queries.Load(), queryFails.Load(),
			primary, primarySM.answers.Load(), replica, replicaSM.answers.Load(), cache.Stats().Failovers)
	}
loop:
	for {
		select {
		case <-runCtx.Done():
			break loop
		case <-tick.C:
		}
		el := time.Since(start)
		if phase == 0 && el >= down {
			phase = 1
			duringOutage = replicaSM.answers.Load()
			srv.InjectFault(secretcachetest.Fault{Region: primary, Hang: true})
			fmt.Fprintf(out, "--- %s is down: every request to it hangs\n", primary)
			if err := coldStart(runCtx, out, newCache, arn); err != nil {
				return err
			}
			select { // the tick that passed during the cold read
			case <-tick.C:
			default:
			}
		}
		if phase == 1 && el >= up {
			phase = 2
			duringOutage = replicaSM.answers.Load() - duringOutage
			afterRecovery = primarySM.answers.Load()
			srv.ClearFaults()
			fmt.Fprintf(out, "--- %s is back\n", primary)
		}
		report()
	}
	wg.Wait()
	report()
	afterRecovery = primarySM.answers.Load() - afterRecovery
	fmt.Fprintf(out, "refreshes answered by %s during the outage: %d; by %s after it recovered: %d\n", replica, duringOutage, primary, afterRecovery)
	if pg == nil {
		fmt.Fprintln(out, "queries: none (no PostgreSQL)")
	}
	switch {
	case ctx.Err() != nil:
		return nil // interrupted: no verdict
	case readFails.Load() > 0 || queryFails.Load() > 0:
		return fmt.Errorf("%d reads and %d queries failed", readFails.Load(), queryFails.Load())
	case phase < 2:
		return errors.New("the run ended before the outage was over; raise -duration")
	case duringOutage == 0:
		return fmt.Errorf("%s answered nothing during the outage", replica)
	case afterRecovery == 0:
		return fmt.Errorf("%s answered nothing after it recovered", primary)
	}
	fmt.Fprintf(out, "0 failed reads, 0 failed queries\n")
	return nil
}

// coldStart is a process starting during the outage: a new cache, nothing
// cached, reads the secret once.
func coldStart(ctx context.Context, out io.Writer, newCache func() (*secretcache.Cache, error), arn string) error {
	c, err := newCache()
	if err != nil {
		return err
	}
	defer c.Close()
	began := time.Now()
	s, err := c.Get(ctx, arn)
	if err != nil {
		return fmt.Errorf("cold read during the outage: %w", err)
	}
	fmt.Fprintf(out, "--- a new cache started now: cold read served by %s in %v\n", s.Region(), time.Since(began).Round(time.Millisecond))
	return nil
}

// lockedWriter serializes writes to w.
type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
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
	_, err = p.Exec(ctx, "CREATE ROLE "+role+" LOGIN PASSWORD '"+password+"'")
	return err
}
