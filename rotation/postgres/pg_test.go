package postgres_test

import (
	"context"
	"fmt"
	"strconv"
	"sync/atomic"
	"testing"

	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/jackc/pgx/v5"

	"github.com/rekeyhq/rekey/internal/awsemu"
	"github.com/rekeyhq/rekey/internal/pgtest"
	"github.com/rekeyhq/rekey/internal/rotationtest"
	"github.com/rekeyhq/rekey/internal/testserver"
	"github.com/rekeyhq/rekey/rotation"
	"github.com/rekeyhq/rekey/rotation/postgres"
)

// One PostgreSQL server serves the whole package; each test makes its own
// roles and schema in it.
var (
	sharedPG = testserver.NewShared(func() (*pgtest.Server, error) { return pgtest.StartServer() })
	roleSeq  atomic.Int64
)

func TestMain(m *testing.M) { sharedPG.Main(m, pgtest.Skips) }

func server(t testing.TB) *pgtest.Server {
	t.Helper()
	s, err := sharedPG.Get()
	if err != nil {
		pgtest.SkipUnavailable(t, err)
		t.Fatal(err)
	}
	return s
}

const lambdaARN = "arn:aws:lambda:us-east-1:123456789012:function:rotate-postgres"

// env is a database role with a schema it owns, the secret holding its
// credentials and a superuser secret, in an emulator.
type env struct {
	pg       *pgtest.Server
	srv      *awsemu.Server
	sm       *secretsmanager.Client
	role     string
	arn      string // the rotated secret
	superARN string
	initial  string // the role's first password
}

func newEnv(t testing.TB) *env { return newEnvNamed(t, fmt.Sprintf("app%d", roleSeq.Add(1))) }

func newEnvNamed(t testing.TB, role string) *env {
	t.Helper()
	pg := server(t)
	e := &env{pg: pg, role: role, initial: "initial-" + strconv.FormatInt(roleSeq.Add(1), 10)}
	id := pgx.Identifier{role}.Sanitize()
	pg.Exec(t, fmt.Sprintf("CREATE ROLE %s LOGIN PASSWORD '%s'", id, e.initial)) // initial is [a-z0-9-]
	pg.Exec(t, fmt.Sprintf("CREATE SCHEMA %s AUTHORIZATION %s", id, id))
	t.Cleanup(func() { dropRoles(t, pg, role+"_clone", role) })

	e.srv = awsemu.New(t)
	e.sm = secretsmanager.NewFromConfig(e.srv.AWSConfig(), func(o *secretsmanager.Options) { o.RetryMaxAttempts = 1 })
	e.arn = e.createSecret(t, fmt.Sprintf("db/role%d", roleSeq.Add(1)), role, e.initial, pg.Port)
	e.superARN = e.createSecret(t, "db/master", pg.SuperUser, pg.SuperPassword, strconv.Itoa(pg.Port))
	return e
}

// dropRoles drops roles and what they own, so roles do not pile up in the
// shared server.
func dropRoles(t testing.TB, pg *pgtest.Server, roles ...string) {
	t.Helper()
	ctx := context.Background()
	conn, err := pgx.ConnectConfig(ctx, pg.ConnConfig(pg.SuperUser, pg.SuperPassword))
	if err != nil {
		t.Errorf("cleanup: %v", err)
		return
	}
	defer conn.Close(ctx)
	for _, r := range roles {
		var exists bool
		if err := conn.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = $1)", r).Scan(&exists); err != nil || !exists {
			continue
		}
		id := pgx.Identifier{r}.Sanitize()
		if _, err := conn.Exec(ctx, "DROP OWNED BY "+id+" CASCADE; DROP ROLE "+id); err != nil {
			t.Errorf("cleanup: dropping %s: %v", r, err)
		}
	}
}

// createSecret stores RDS JSON; port is an int or a string, as both occur.
func (e *env) createSecret(t testing.TB, name, user, password string, port any) string {
	t.Helper()
	value := fmt.Sprintf(`{"engine":"postgres","host":%q,"port":%s,"username":%q,"password":%q,"dbname":%q,"note":"kept"}`,
		e.pg.Host, portJSON(port), user, password, e.pg.Database)
	out, err := e.sm.CreateSecret(t.Context(), &secretsmanager.CreateSecretInput{Name: &name, SecretString: &value})
	if err != nil {
		t.Fatalf("CreateSecret: %v", err)
	}
	return *out.ARN
}

func portJSON(p any) string {
	if s, ok := p.(string); ok {
		return strconv.Quote(s)
	}
	return fmt.Sprint(p)
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

// login reports whether c logs in, and as which current_user.
func (e *env) login(t testing.TB, c creds) (string, bool) {
	t.Helper()
	current, ok, err := e.tryLogin(t.Context(), c)
	if err != nil {
		t.Fatal(err)
	}
	return current, ok
}

// tryLogin is login for code off the test goroutine.
func (e *env) tryLogin(ctx context.Context, c creds) (string, bool, error) {
	conn, err := pgx.ConnectConfig(ctx, e.pg.ConnConfig(c.user, c.password))
	if err != nil {
		return "", false, nil
	}
	defer conn.Close(context.Background())
	var current string
	if err := conn.QueryRow(ctx, "SELECT current_user").Scan(&current); err != nil {
		return "", false, fmt.Errorf("query as %s: %w", c.user, err)
	}
	return current, true, nil
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
// logs in, AWSPREVIOUS holds old, no AWSPENDING.
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

// singleUser is postgres.SingleUser for options that must be valid.
func singleUser(t testing.TB, optFns ...func(*postgres.Options)) rotation.Strategy {
	t.Helper()
	s, err := postgres.SingleUser(optFns...)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// alternatingUsers is postgres.AlternatingUsers for arguments that must be
// valid.
func alternatingUsers(t testing.TB, superuserSecretID string, optFns ...func(*postgres.Options)) rotation.Strategy {
	t.Helper()
	s, err := postgres.AlternatingUsers(superuserSecretID, optFns...)
	if err != nil {
		t.Fatal(err)
	}
	return s
}
