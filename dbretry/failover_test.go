package dbretry_test

import (
	"context"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager/types"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/rekeyhq/rekey/dbretry"
	"github.com/rekeyhq/rekey/internal/awsemu"
	"github.com/rekeyhq/rekey/secretcache"
)

// TestRegionalOutageColdStart is a process starting while the primary
// Region of its database secret hangs: a new cache, so nothing cached,
// opens a pool and runs queries against real PostgreSQL. With the
// replica Region in Options.Replicas no query fails; the control, a
// cache without replicas, cannot even open the pool.
func TestRegionalOutageColdStart(t *testing.T) {
	pg := database(t)
	pw := newPassword()
	role := newRole(t, pg, pw)
	const primary, replica = "us-east-1", "eu-west-1"
	srv := awsemu.New(t, func(o *awsemu.Options) { o.Region = primary })
	// Real SDK clients with their default retries, as in production.
	primarySM := secretsmanager.NewFromConfig(srv.AWSConfigFor(primary))
	replicaSM := secretsmanager.NewFromConfig(srv.AWSConfigFor(replica))
	e := &env{host: pg.Host, port: pg.Port, role: role}
	out, err := primarySM.CreateSecret(t.Context(), &secretsmanager.CreateSecretInput{
		Name:              aws.String(secretName),
		SecretString:      aws.String(e.value(pw)),
		AddReplicaRegions: []types.ReplicaRegionType{{Region: aws.String(replica)}},
	})
	if err != nil {
		t.Fatalf("CreateSecret: %v", err)
	}
	arn := aws.ToString(out.ARN)
	srv.InjectFault(awsemu.Fault{Region: primary, Hang: true})

	run := func(t *testing.T, optFns ...func(*secretcache.Options)) (failed int, cache *secretcache.Cache) {
		cache, err := secretcache.New(primarySM, append([]func(*secretcache.Options){func(o *secretcache.Options) {
			o.FetchTimeout = 3 * time.Second
			o.Logger = testLogger(t)
		}}, optFns...)...)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { cache.Close() })
		// The ARN, not the name: the replica is asked for its own ARN.
		src := newSource(t, cache, arn)
		t.Cleanup(func() { src.Close() })
		cfg, err := pgxpool.ParseConfig("sslmode=disable pool_max_conns=4")
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
		defer cancel()
		start := time.Now()
		p, err := dbretry.NewPool(ctx, src, cfg)
		if err != nil {
			t.Logf("NewPool after %v: %v", time.Since(start), err)
			return queries, cache
		}
		defer p.Close()
		for i := range queries {
			var n int
			if err := p.QueryRow(ctx, "SELECT $1::int", i).Scan(&n); err != nil || n != i {
				t.Logf("query %d: %v", i, err)
				failed++
			}
		}
		t.Logf("pool opened and %d queries run in %v", queries, time.Since(start))
		return failed, cache
	}

	t.Run("replicas", func(t *testing.T) {
		failed, cache := run(t, func(o *secretcache.Options) {
			o.Replicas = []secretcache.Replica{{Region: replica, Client: replicaSM}}
		})
		if failed != 0 {
			t.Fatalf("%d of %d queries failed during the primary outage, want 0", failed, queries)
		}
		s, err := cache.Get(t.Context(), arn)
		if err != nil || s.Region() != replica {
			t.Fatalf("cached secret %v, %v; want the %s replica's", s, err, replica)
		}
		if st := cache.Stats(); st.Failovers == 0 {
			t.Fatalf("Stats.Failovers = 0, want the cold read served by the replica")
		}
	})
	t.Run("control-without-replicas", func(t *testing.T) {
		if failed, _ := run(t); failed == 0 {
			t.Fatal("a cache without replicas opened the pool during the primary outage; the test proves nothing")
		}
	})
}

const queries = 50
