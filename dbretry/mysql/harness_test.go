package mysql_test

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	mysqldriver "github.com/go-sql-driver/mysql"
	"go.uber.org/goleak"

	"github.com/rekeyhq/rekey/internal/awsemu"
	"github.com/rekeyhq/rekey/internal/mysqltest"
	"github.com/rekeyhq/rekey/internal/rotationload"
	"github.com/rekeyhq/rekey/rotation"
	"github.com/rekeyhq/rekey/secretcache"
)

const (
	secretName = "test/app-mysql"
	rotatorARN = "arn:aws:lambda:us-east-1:123456789012:function:rotate-app-mysql"
)

// shared is one MariaDB server for the whole package, started on first
// use; each env has a user of its own.
var shared struct {
	once  sync.Once
	srv   *mysqltest.Server
	err   error
	users atomic.Int64
}

// TestMain stops the shared server, then fails the package if any test
// left a goroutine behind: every pool, Source, cache and emulator a test
// opens must be closed by its cleanup.
func TestMain(m *testing.M) {
	code := m.Run()
	if shared.srv != nil {
		shared.srv.Stop()
	}
	mysqltest.PrintSkips()
	if code == 0 {
		if err := goleak.Find(goleak.IgnoreAnyFunction("net/http.(*persistConn).readLoop"),
			goleak.IgnoreAnyFunction("net/http.(*persistConn).writeLoop")); err != nil {
			fmt.Fprintln(os.Stderr, "goleak:", err)
			code = 1
		}
	}
	os.Exit(code)
}

// database returns the shared server; like mysqltest.Start it skips the
// test when MariaDB is unavailable, unless mysqltest.RequireEnv is "1".
func database(t testing.TB) *mysqltest.Server {
	t.Helper()
	shared.once.Do(func() { shared.srv, shared.err = mysqltest.StartServer() })
	if shared.err != nil {
		mysqltest.SkipUnavailable(t, shared.err)
		t.Fatal(shared.err)
	}
	return shared.srv
}

// quote is a MySQL string literal for s under the server's default
// sql_mode, in which a backslash escapes: passwords from rotation.New hold
// any punctuation.
func quote(s string) string {
	r := strings.NewReplacer(`\`, `\\`, `'`, `''`, "\x00", `\0`)
	return "'" + r.Replace(s) + "'"
}

// newUser creates the account 'app<n>'@'%' with password and returns its
// name.
func newUser(t testing.TB, my *mysqltest.Server, password string) string {
	t.Helper()
	user := fmt.Sprintf("app%d", shared.users.Add(1))
	my.Exec(t, "CREATE USER "+quote(user)+"@'%' IDENTIFIED BY "+quote(password))
	return user
}

func newPassword() string { return "pw" + rand.Text() }

// env is an emulated Secrets Manager holding one RDS MySQL secret whose
// credentials log in to the shared MariaDB as their own user, and a cache
// reading it through an SDK client that does not retry, so API call
// counts are exact.
type env struct {
	srv   *awsemu.Server
	sm    *secretsmanager.Client
	calls *countingClient // the cache's client: every API call it makes
	cache *secretcache.Cache
	arn   string
	my    *mysqltest.Server
	user  string
	extra map[string]any // keys to add to or override in the secret JSON
}

func newEnv(t testing.TB, cacheOpts ...func(*secretcache.Options)) (*env, string) {
	t.Helper()
	my := database(t)
	pw := newPassword()
	srv := awsemu.New(t)
	e := &env{
		srv:  srv,
		sm:   secretsmanager.NewFromConfig(srv.AWSConfig(), func(o *secretsmanager.Options) { o.RetryMaxAttempts = 1 }),
		my:   my,
		user: newUser(t, my, pw),
	}
	out, err := e.sm.CreateSecret(t.Context(), &secretsmanager.CreateSecretInput{
		Name:         aws.String(secretName),
		SecretString: aws.String(e.value(e.user, pw)),
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
	return e, pw
}

// value is the RDS secret JSON for user and password, with e.extra.
func (e *env) value(user, password string) string {
	m := map[string]any{
		"engine": "mysql", "host": e.my.Host(), "port": e.my.Port(),
		"username": user, "password": password,
	}
	for k, v := range e.extra {
		if v == nil {
			delete(m, k)
		} else {
			m[k] = v
		}
	}
	b, err := json.Marshal(m)
	if err != nil {
		panic(err)
	}
	return string(b)
}

// putCurrent stores the secret JSON v as a new AWSCURRENT version.
func (e *env) putCurrent(t testing.TB, v string) string {
	t.Helper()
	out, err := e.sm.PutSecretValue(t.Context(), &secretsmanager.PutSecretValueInput{
		SecretId: aws.String(e.arn), SecretString: aws.String(v),
	})
	if err != nil {
		t.Fatalf("PutSecretValue: %v", err)
	}
	return aws.ToString(out.VersionId)
}

// openWindow reproduces the single-user window by hand: the database has
// a new password that only the AWSPENDING version holds. It returns that
// version's id.
func (e *env) openWindow(t testing.TB) string {
	t.Helper()
	pw := newPassword()
	out, err := e.sm.PutSecretValue(t.Context(), &secretsmanager.PutSecretValueInput{
		SecretId: aws.String(e.arn), SecretString: aws.String(e.value(e.user, pw)),
		VersionStages: []string{secretcache.StagePending},
	})
	if err != nil {
		t.Fatalf("PutSecretValue AWSPENDING: %v", err)
	}
	e.my.Exec(t, "ALTER USER "+quote(e.user)+"@'%' IDENTIFIED BY "+quote(pw))
	return aws.ToString(out.VersionId)
}

// cacheCalls is the number of API calls the cache made.
func (e *env) cacheCalls() uint64 { return e.calls.total.Load() }

// countingClient counts the API calls of a cache.
type countingClient struct {
	secretcache.Client
	total atomic.Uint64
}

func (c *countingClient) GetSecretValue(ctx context.Context, in *secretsmanager.GetSecretValueInput, optFns ...func(*secretsmanager.Options)) (*secretsmanager.GetSecretValueOutput, error) {
	c.total.Add(1)
	return c.Client.GetSecretValue(ctx, in, optFns...)
}

func (c *countingClient) DescribeSecret(ctx context.Context, in *secretsmanager.DescribeSecretInput, optFns ...func(*secretsmanager.Options)) (*secretsmanager.DescribeSecretOutput, error) {
	c.total.Add(1)
	return c.Client.DescribeSecret(ctx, in, optFns...)
}

func (c *countingClient) BatchGetSecretValue(ctx context.Context, in *secretsmanager.BatchGetSecretValueInput, optFns ...func(*secretsmanager.Options)) (*secretsmanager.BatchGetSecretValueOutput, error) {
	c.total.Add(1)
	return c.Client.BatchGetSecretValue(ctx, in, optFns...)
}

// testStrategy is a minimal MySQL rotation for these tests only (the real
// one is rotation/mysql): single-user changes the user's own password
// with SET PASSWORD, logged in with the current credentials;
// alternating flips between <user> and <user>_clone, setting the other
// one's password as root.
type testStrategy struct {
	my          *mysqltest.Server
	alternating bool
}

// rdsSecret is the part of the secret JSON the strategy reads; the rest
// is carried over untouched.
type rdsSecret map[string]any

func parse(s rotation.Secret) (rdsSecret, error) {
	var m rdsSecret
	if err := json.Unmarshal(s.Value(), &m); err != nil {
		return nil, fmt.Errorf("secret %s: %w", s.VersionID, err)
	}
	return m, nil
}

func (m rdsSecret) user() string     { u, _ := m["username"].(string); return u }
func (m rdsSecret) password() string { p, _ := m["password"].(string); return p }

func (s *testStrategy) NewPending(_ context.Context, current rotation.Secret, password string) ([]byte, error) {
	m, err := parse(current)
	if err != nil {
		return nil, err
	}
	m["password"] = password
	if s.alternating {
		if u, ok := strings.CutSuffix(m.user(), "_clone"); ok {
			m["username"] = u
		} else {
			m["username"] = m.user() + "_clone"
		}
	}
	return json.Marshal(m)
}

func (s *testStrategy) login(ctx context.Context, user, password string) (*sql.DB, error) {
	cfg := s.my.Config(user, password)
	connector, err := mysqldriver.NewConnector(cfg)
	if err != nil {
		return nil, err
	}
	db := sql.OpenDB(connector)
	if err := db.PingContext(ctx); err != nil {
		db.Close()
		return nil, err
	}
	return db, nil
}

func (s *testStrategy) Apply(ctx context.Context, v rotation.Versions) error {
	pending, err := parse(v.Pending)
	if err != nil {
		return err
	}
	if db, err := s.login(ctx, pending.user(), pending.password()); err == nil {
		return db.Close() // already applied
	}
	var db *sql.DB
	var stmt string
	if s.alternating {
		if db, err = s.login(ctx, mysqltest.RootUser, s.my.RootPassword()); err != nil {
			return err
		}
		account := quote(pending.user()) + "@'%'"
		if _, err := db.ExecContext(ctx, "CREATE USER IF NOT EXISTS "+account+" IDENTIFIED BY "+quote(pending.password())); err != nil {
			db.Close()
			return err
		}
		stmt = "ALTER USER " + account + " IDENTIFIED BY " + quote(pending.password())
	} else {
		current, err := parse(v.Current)
		if err != nil {
			return err
		}
		if db, err = s.login(ctx, current.user(), current.password()); err != nil {
			return err
		}
		// MariaDB 10.11 wants the CREATE USER privilege for ALTER USER
		// even on one's own account; SET PASSWORD needs none.
		stmt = "SET PASSWORD = PASSWORD(" + quote(pending.password()) + ")"
	}
	defer db.Close()
	_, err = db.ExecContext(ctx, stmt)
	return err
}

func (s *testStrategy) Verify(ctx context.Context, pending rotation.Secret) error {
	m, err := parse(pending)
	if err != nil {
		return err
	}
	db, err := s.login(ctx, m.user(), m.password())
	if err != nil {
		return err
	}
	return db.Close()
}

// enableRotation registers the test strategy as the secret's rotation
// function. When pause returns a duration for a rotation, that rotation
// sleeps that long after setSecret: the window in which the database has
// the new password and AWSCURRENT the old one. It returns the count of
// rotations that reached finishSecret.
func (e *env) enableRotation(t testing.TB, alternating bool, pause func() time.Duration) *atomic.Int64 {
	t.Helper()
	r, err := rotation.New(secretsmanager.NewFromConfig(e.srv.AWSConfig()), &testStrategy{my: e.my, alternating: alternating})
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
