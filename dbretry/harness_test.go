package dbretry_test

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/rekeyhq/rekey/dbretry"
	"github.com/rekeyhq/rekey/internal/awsemu"
	"github.com/rekeyhq/rekey/internal/pgtest"
	"github.com/rekeyhq/rekey/internal/rotationload"
	"github.com/rekeyhq/rekey/rotation"
	"github.com/rekeyhq/rekey/rotation/postgres"
	"github.com/rekeyhq/rekey/secretcache"
)

const (
	secretName = "test/app-db"
	rotatorARN = "arn:aws:lambda:us-east-1:123456789012:function:rotate-app-db"
)

// shared is one PostgreSQL server for the whole package, started on first
// use: initdb costs seconds, and each env has a role of its own.
var shared struct {
	once  sync.Once
	srv   *pgtest.Server
	err   error
	roles atomic.Int64
}

func TestMain(m *testing.M) {
	code := m.Run()
	pgtest.PrintSkips()
	if shared.srv != nil {
		shared.srv.Stop()
	}
	os.Exit(code)
}

// database returns the shared server; like pgtest.Start it skips the test
// when PostgreSQL is unavailable, unless pgtest.RequireEnv is "1".
func database(t testing.TB) *pgtest.Server {
	t.Helper()
	shared.once.Do(func() { shared.srv, shared.err = pgtest.StartServer() })
	if shared.err != nil {
		pgtest.SkipUnavailable(t, shared.err)
		t.Fatalf("PostgreSQL: %v", shared.err)
	}
	return shared.srv
}

// newRole creates a login role with password on pg and returns its name.
func newRole(t testing.TB, pg *pgtest.Server, password string) string {
	t.Helper()
	role := fmt.Sprintf("app%d", shared.roles.Add(1))
	pg.Exec(t, "CREATE ROLE "+role+" LOGIN PASSWORD '"+password+"'")
	return role
}

// env is an emulated Secrets Manager holding one RDS secret, and a cache
// reading it through an SDK client that does not retry, so API call
// counts are exact. With a database, the secret's credentials log in to
// it as role app.
type env struct {
	srv   *awsemu.Server
	sm    *secretsmanager.Client
	calls *countingClient // the cache's client: every API call it makes
	cache *secretcache.Cache
	arn   string
	pg    *pgtest.Server // nil without a database
	role  string
	host  string
	port  int
}

// newEnv starts the emulator and a cache. Without pg the secret names an
// unused address.
func newEnv(t testing.TB, pg *pgtest.Server, password string, cacheOpts ...func(*secretcache.Options)) *env {
	t.Helper()
	srv := awsemu.New(t)
	e := &env{
		srv:  srv,
		sm:   secretsmanager.NewFromConfig(srv.AWSConfig(), func(o *secretsmanager.Options) { o.RetryMaxAttempts = 1 }),
		pg:   pg,
		role: "app",
		host: "127.0.0.1",
		port: 9,
	}
	if pg != nil {
		e.host, e.port = pg.Host, pg.Port
		e.role = newRole(t, pg, password)
	}
	out, err := e.sm.CreateSecret(t.Context(), &secretsmanager.CreateSecretInput{
		Name:         aws.String(secretName),
		SecretString: aws.String(e.value(password)),
	})
	if err != nil {
		t.Fatalf("CreateSecret: %v", err)
	}
	e.arn = aws.ToString(out.ARN)
	e.calls = &countingClient{Client: e.sm}
	cache, err := secretcache.New(e.calls, cacheOpts...)
	if err != nil {
		t.Fatalf("secretcache.New: %v", err)
	}
	t.Cleanup(func() { cache.Close() })
	e.cache = cache
	return e
}

// newDBEnv is newEnv with a role of its own on the shared PostgreSQL; it
// skips without one.
func newDBEnv(t testing.TB, cacheOpts ...func(*secretcache.Options)) (*env, string) {
	t.Helper()
	pg := database(t)
	pw := newPassword()
	return newEnv(t, pg, pw, cacheOpts...), pw
}

// value is the RDS secret JSON for password.
func (e *env) value(password string) string {
	b, err := json.Marshal(map[string]any{
		"engine": "postgres", "host": e.host, "port": e.port,
		"username": e.role, "password": password, "dbname": "postgres",
	})
	if err != nil {
		panic(err)
	}
	return string(b)
}

func newPassword() string { return "pw" + rand.Text() }

// putCurrent stores password as a new AWSCURRENT version.
func (e *env) putCurrent(t testing.TB, password string) string {
	t.Helper()
	out, err := e.sm.PutSecretValue(t.Context(), &secretsmanager.PutSecretValueInput{
		SecretId: aws.String(e.arn), SecretString: aws.String(e.value(password)),
	})
	if err != nil {
		t.Fatalf("PutSecretValue: %v", err)
	}
	return aws.ToString(out.VersionId)
}

// putPending stores password as the AWSPENDING version.
func (e *env) putPending(t testing.TB, password string) string {
	t.Helper()
	out, err := e.sm.PutSecretValue(t.Context(), &secretsmanager.PutSecretValueInput{
		SecretId: aws.String(e.arn), SecretString: aws.String(e.value(password)),
		VersionStages: []string{secretcache.StagePending},
	})
	if err != nil {
		t.Fatalf("PutSecretValue AWSPENDING: %v", err)
	}
	return aws.ToString(out.VersionId)
}

// finish does what finishSecret does: AWSCURRENT moves to version and
// AWSPENDING is removed from it.
func (e *env) finish(t testing.TB, version string) {
	t.Helper()
	d, err := e.sm.DescribeSecret(t.Context(), &secretsmanager.DescribeSecretInput{SecretId: aws.String(e.arn)})
	if err != nil {
		t.Fatalf("DescribeSecret: %v", err)
	}
	current := ""
	for id, stages := range d.VersionIdsToStages {
		if slices.Contains(stages, secretcache.StageCurrent) {
			current = id
		}
	}
	for _, in := range []*secretsmanager.UpdateSecretVersionStageInput{
		{SecretId: aws.String(e.arn), VersionStage: aws.String(secretcache.StageCurrent), MoveToVersionId: aws.String(version), RemoveFromVersionId: aws.String(current)},
		{SecretId: aws.String(e.arn), VersionStage: aws.String(secretcache.StagePending), RemoveFromVersionId: aws.String(version)},
	} {
		if _, err := e.sm.UpdateSecretVersionStage(t.Context(), in); err != nil {
			t.Fatalf("UpdateSecretVersionStage: %v", err)
		}
	}
}

// setDBPassword changes role app's password as the superuser.
func (e *env) setDBPassword(t testing.TB, password string) {
	t.Helper()
	e.pg.Exec(t, "ALTER ROLE "+e.role+" PASSWORD '"+password+"'")
}

// openWindow reproduces the single-user window by hand: the database has
// a new password that only the AWSPENDING version holds. It returns that
// version's id.
func (e *env) openWindow(t testing.TB) string {
	t.Helper()
	pw := newPassword()
	version := e.putPending(t, pw)
	e.setDBPassword(t, pw)
	return version
}

// testLogger logs to the test's output, shown when it fails or with -v.
func testLogger(t testing.TB) *slog.Logger {
	return slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// cacheCalls is the number of API calls the cache made, counted by its
// client.
func (e *env) cacheCalls() uint64 { return uint64(e.calls.total()) }

// enableRotation registers rotation/postgres SingleUser as the secret's
// rotation function. When pause returns a duration for a rotation, that
// rotation sleeps that long after setSecret: the window in which the
// database has the new password and AWSCURRENT the old one.
func (e *env) enableRotation(t testing.TB, pause func() time.Duration) *atomic.Int64 {
	t.Helper()
	strategy, err := postgres.SingleUser(func(o *postgres.Options) { o.SSLMode = "disable" })
	if err != nil {
		t.Fatal(err)
	}
	r, err := rotation.New(secretsmanager.NewFromConfig(e.srv.AWSConfig()), strategy)
	if err != nil {
		t.Fatal(err)
	}
	var done atomic.Int64
	e.srv.RegisterRotationFunc(rotatorARN, rotationload.RotationFunc(r, pause, &done))
	return &done
}

// rotate rotates the secret through RotateSecret; the emulator runs the
// four steps before it answers.
func (e *env) rotate(ctx context.Context) error {
	_, err := e.sm.RotateSecret(ctx, &secretsmanager.RotateSecretInput{
		SecretId: aws.String(e.arn), RotationLambdaARN: aws.String(rotatorARN),
	})
	return err
}

// newSource is dbretry.NewSource for arguments that must be valid.
func newSource(t testing.TB, c *secretcache.Cache, secretID string, optFns ...func(*dbretry.Options)) *dbretry.Source {
	t.Helper()
	src, err := dbretry.NewSource(c, secretID, optFns...)
	if err != nil {
		t.Fatal(err)
	}
	return src
}
