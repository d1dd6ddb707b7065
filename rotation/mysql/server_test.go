package mysql_test

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"sync/atomic"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	mysqldriver "github.com/go-sql-driver/mysql"

	"github.com/rekeyhq/rekey/internal/awsemu"
	"github.com/rekeyhq/rekey/internal/mysqltest"
	"github.com/rekeyhq/rekey/internal/rotationtest"
	"github.com/rekeyhq/rekey/internal/testserver"
	"github.com/rekeyhq/rekey/rotation"
	"github.com/rekeyhq/rekey/rotation/mysql"
)

// One MariaDB server serves the whole package; each test makes its own
// users and database in it.
var (
	sharedMy = testserver.NewShared(func() (*mysqltest.Server, error) { return mysqltest.StartServer() })
	userSeq  atomic.Int64
)

func TestMain(m *testing.M) { sharedMy.Main(m, mysqltest.Skips) }

func server(t testing.TB) *mysqltest.Server {
	t.Helper()
	s, err := sharedMy.Get()
	if err != nil {
		mysqltest.SkipUnavailable(t, err)
		t.Fatal(err)
	}
	return s
}

const lambdaARN = "arn:aws:lambda:us-east-1:123456789012:function:rotate-mysql"

// env is a MariaDB account with a database it may read and write, the
// secret holding its credentials and a superuser secret, in an emulator.
type env struct {
	my       *mysqltest.Server
	srv      *awsemu.Server
	sm       *secretsmanager.Client
	user     string
	host     string // the account's host part
	db       string // a database with table t, on which user has SELECT and INSERT
	arn      string // the rotated secret
	superARN string
	initial  string // the user's first password
}

func newEnv(t testing.TB) *env {
	return newEnvWith(t, fmt.Sprintf("app%d", userSeq.Add(1)), "%", "initial-"+strconv.FormatInt(userSeq.Add(1), 10))
}

// newEnvWith creates user@host with password and grants on a database of
// its own, and the secrets.
func newEnvWith(t testing.TB, user, host, password string) *env {
	t.Helper()
	my := server(t)
	e := &env{my: my, user: user, host: host, initial: password, db: fmt.Sprintf("db%d", userSeq.Add(1))}
	e.root(t, "CREATE DATABASE "+ident(e.db))
	e.root(t, "CREATE TABLE "+ident(e.db)+".t (v int)")
	e.root(t, "INSERT INTO "+ident(e.db)+".t VALUES (1)")
	e.root(t, "CREATE USER ?@? IDENTIFIED BY ?", user, host, password)
	e.root(t, "GRANT SELECT, INSERT ON "+ident(e.db)+".* TO ?@?", user, host)
	t.Cleanup(func() {
		ctx := context.Background()
		db := rootDB(t, my)
		defer db.Close()
		for _, u := range []string{user, user + "_clone"} {
			if _, err := db.ExecContext(ctx, "DROP USER IF EXISTS ?@?", u, host); err != nil {
				t.Errorf("cleanup: dropping %s: %v", u, err)
			}
		}
		if _, err := db.ExecContext(ctx, "DROP DATABASE IF EXISTS "+ident(e.db)); err != nil {
			t.Errorf("cleanup: %v", err)
		}
	})

	e.srv = awsemu.New(t)
	e.sm = secretsmanager.NewFromConfig(e.srv.AWSConfig(), func(o *secretsmanager.Options) { o.RetryMaxAttempts = 1 })
	e.arn = e.createSecret(t, fmt.Sprintf("db/user%d", userSeq.Add(1)), user, password, my.Port())
	e.superARN = e.createSecret(t, "db/master", mysqltest.RootUser, my.RootPassword(), strconv.Itoa(my.Port()))
	return e
}

func ident(name string) string {
	return "`" + name + "`" // test names hold no backtick unless a test quotes them itself
}

// rootDB opens a root pool that interpolates arguments, so account
// statements can take them (MariaDB prepares no CREATE USER ... BY ?).
func rootDB(t testing.TB, my *mysqltest.Server) *sql.DB {
	t.Helper()
	cfg := my.Config(mysqltest.RootUser, my.RootPassword())
	cfg.InterpolateParams = true
	c, err := mysqldriver.NewConnector(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return sql.OpenDB(c)
}

// root runs a statement as root, its args quoted by the driver.
func (e *env) root(t testing.TB, query string, args ...any) {
	t.Helper()
	db := rootDB(t, e.my)
	defer db.Close()
	// Not t.Context(): root also runs in t.Cleanup, after it is canceled.
	if _, err := db.ExecContext(context.Background(), query, args...); err != nil {
		t.Fatalf("root: %s: %v", query, err)
	}
}

// createSecret stores RDS JSON; port is an int or a string, as both occur.
func (e *env) createSecret(t testing.TB, name, user, password string, port any) string {
	t.Helper()
	return e.createSecretValue(t, name, map[string]any{
		"engine": "mariadb", "host": e.my.Host(), "port": port, "username": user, "password": password, "dbname": e.db, "note": "kept",
	})
}

func (e *env) createSecretValue(t testing.TB, name string, v map[string]any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	out, err := e.sm.CreateSecret(t.Context(), &secretsmanager.CreateSecretInput{Name: &name, SecretString: aws.String(string(b))})
	if err != nil {
		t.Fatalf("CreateSecret: %v", err)
	}
	return *out.ARN
}

// secret is the rotated secret, for the helpers both engines share.
func (e *env) secret() rotationtest.Secret {
	return rotationtest.Secret{Server: e.srv, Client: e.sm, ARN: e.arn, LambdaARN: lambdaARN}
}

func (e *env) register(r *rotation.Rotator) { e.secret().Register(r) }

func (e *env) rotateSecret(t testing.TB) error {
	t.Helper()
	return e.secret().RotateSecret(t)
}

// creds are the username and password in one version of the secret.
type creds struct{ user, password string }

func toCreds(c creds) rotationtest.Creds {
	return rotationtest.Creds{User: c.user, Password: c.password}
}

func fromCreds(c rotationtest.Creds) creds { return creds{c.User, c.Password} }

// version reads the version labelled stage; ok is false when there is none.
func (e *env) version(t testing.TB, stage string) (creds, bool) {
	t.Helper()
	c, ok := e.secret().Version(t, stage)
	return fromCreds(c), ok
}

// readVersion is version for code off the test goroutine, which must not
// call t.Fatal.
func (e *env) readVersion(ctx context.Context, stage string) (creds, bool, error) {
	c, ok, err := e.secret().ReadVersion(ctx, stage)
	return fromCreds(c), ok, err
}

// login reports whether c logs in, and as which account (CURRENT_USER()).
func (e *env) login(t testing.TB, c creds) (string, bool) {
	t.Helper()
	current, ok, err := e.tryLogin(t.Context(), c)
	if err != nil {
		t.Fatal(err)
	}
	return current, ok
}

// open opens a one-connection pool for c on the test database.
func (e *env) open(c creds) *sql.DB {
	cfg := e.my.Config(c.user, c.password)
	cfg.DBName = e.db
	connector, err := mysqldriver.NewConnector(cfg)
	if err != nil {
		panic(err) // a Config from mysqltest is valid
	}
	db := sql.OpenDB(connector)
	db.SetMaxOpenConns(1)
	return db
}

// tryLogin is login for code off the test goroutine. A refused login is
// (_, false, nil); any other failure an error.
func (e *env) tryLogin(ctx context.Context, c creds) (string, bool, error) {
	db := e.open(c)
	defer db.Close()
	var current string
	err := db.QueryRowContext(ctx, "SELECT CURRENT_USER()").Scan(&current)
	var me *mysqldriver.MySQLError
	if errors.As(err, &me) && me.Number == 1045 {
		return "", false, nil
	}
	if err != nil {
		return "", false, fmt.Errorf("query as %s: %w", c.user, err)
	}
	return current, true, nil
}

// useGrant runs, as c, statements that need the grants newEnv gave the
// original user: it proves a clone got them.
func (e *env) useGrant(ctx context.Context, c creds) error {
	db := e.open(c)
	defer db.Close()
	var n int
	if err := db.QueryRowContext(ctx, "SELECT COUNT(*) FROM t").Scan(&n); err != nil {
		return fmt.Errorf("SELECT as %s: %w", c.user, err)
	}
	if _, err := db.ExecContext(ctx, "INSERT INTO t VALUES (2)"); err != nil {
		return fmt.Errorf("INSERT as %s: %w", c.user, err)
	}
	return nil
}

func (e *env) mustLogin(t testing.TB, stage string) creds {
	t.Helper()
	c, ok := e.version(t, stage)
	if !ok {
		t.Fatalf("no %s version", stage)
	}
	if _, ok := e.login(t, c); !ok {
		t.Fatalf("%s credentials (user %s) do not log in", stage, c.user)
	}
	return c
}

// requireRotated checks the state after a finished rotation: AWSCURRENT
// logs in and can use the original's grants, AWSPREVIOUS holds old, no
// AWSPENDING.
func (e *env) requireRotated(t testing.TB, old creds) creds {
	t.Helper()
	if _, ok := e.version(t, rotation.StagePending); ok {
		t.Fatal("AWSPENDING left behind")
	}
	cur := e.mustLogin(t, rotation.StageCurrent)
	if cur == old {
		t.Fatal("AWSCURRENT still holds the old credentials")
	}
	if prev, _ := e.version(t, rotation.StagePrevious); prev != old {
		t.Fatalf("AWSPREVIOUS holds user %s, want the old credentials of %s", prev.user, old.user)
	}
	if err := e.useGrant(t.Context(), cur); err != nil {
		t.Fatalf("AWSCURRENT cannot use the original's grants: %v", err)
	}
	return cur
}

// newRotator is rotation.New for arguments that must be valid.
func newRotator(t testing.TB, c rotation.Client, s rotation.Strategy, optFns ...func(*rotation.Options)) *rotation.Rotator {
	t.Helper()
	r, err := rotation.New(c, s, optFns...)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// singleUser is mysql.SingleUser for options that must be valid.
func singleUser(t testing.TB, optFns ...func(*mysql.Options)) rotation.Strategy {
	t.Helper()
	s, err := mysql.SingleUser(optFns...)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// alternatingUsers is mysql.AlternatingUsers for arguments that must be
// valid.
func alternatingUsers(t testing.TB, superuserSecretID string, optFns ...func(*mysql.Options)) rotation.Strategy {
	t.Helper()
	s, err := mysql.AlternatingUsers(superuserSecretID, optFns...)
	if err != nil {
		t.Fatal(err)
	}
	return s
}
