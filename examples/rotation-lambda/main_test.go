package main

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	mysqldriver "github.com/go-sql-driver/mysql"
	"github.com/jackc/pgx/v5"

	"github.com/rekeyhq/rekey/internal/mysqltest"
	"github.com/rekeyhq/rekey/internal/pgtest"
	"github.com/rekeyhq/rekey/rotation"
	"github.com/rekeyhq/rekey/secretcache/secretcachetest"
)

func env(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

func TestNewRotatorConfiguration(t *testing.T) {
	sm := secretsmanager.NewFromConfig(aws.Config{Region: "us-east-1"})
	for _, tc := range []struct {
		name    string
		env     map[string]string
		wantErr string
	}{
		{"default is single", nil, ""},
		{"single", map[string]string{"ROTATION_STRATEGY": "single"}, ""},
		{"alternating", map[string]string{"ROTATION_STRATEGY": "alternating", "SUPERUSER_SECRET_ARN": "arn:super"}, ""},
		{"alternating without superuser", map[string]string{"ROTATION_STRATEGY": "alternating"}, "SUPERUSER_SECRET_ARN"},
		{"unknown strategy", map[string]string{"ROTATION_STRATEGY": "multi"}, `"multi"`},
		{"single with a bad DB_SSLMODE", map[string]string{"DB_SSLMODE": "sometimes"}, `DB_SSLMODE: postgres: SingleUser: Options.SSLMode "sometimes"`},
		{"alternating with a bad DB_SSLMODE", map[string]string{"ROTATION_STRATEGY": "alternating", "SUPERUSER_SECRET_ARN": "arn:super", "DB_SSLMODE": "sometimes"},
			`DB_SSLMODE: postgres: AlternatingUsers: Options.SSLMode "sometimes"`},
		{"single with a bad MYSQL_TLS", map[string]string{"MYSQL_TLS": "sometimes"}, `MYSQL_TLS: mysql: SingleUser: Options.TLS "sometimes"`},
		{"alternating with a bad MYSQL_TLS", map[string]string{"ROTATION_STRATEGY": "alternating", "SUPERUSER_SECRET_ARN": "arn:super", "MYSQL_TLS": "sometimes"},
			`MYSQL_TLS: mysql: AlternatingUsers: Options.TLS "sometimes"`},
		{"both bad, both named", map[string]string{"DB_SSLMODE": "sometimes", "MYSQL_TLS": "never"}, "DB_SSLMODE: postgres: SingleUser: Options.SSLMode \"sometimes\" is not a libpq sslmode\nrotation-lambda: MYSQL_TLS: mysql: SingleUser: Options.TLS \"never\""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r, err := newRotator(sm, env(tc.env), slog.New(slog.DiscardHandler))
			if tc.wantErr == "" {
				if err != nil || r == nil {
					t.Fatalf("newRotator = %v, %v", r, err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) || !strings.HasPrefix(err.Error(), "rotation-lambda: ") {
				t.Fatalf("newRotator error = %v, want one naming %s", err, tc.wantErr)
			}
		})
	}
}

// TestFunctionRotatesThroughLambdaPayload runs the function as Lambda
// would, decoding the JSON payload through aws-lambda-go's handler, with
// RotateSecret on the emulator and a real PostgreSQL.
func TestFunctionRotatesThroughLambdaPayload(t *testing.T) {
	pg := pgtest.Start(t)
	srv := secretcachetest.NewServer(t)
	sm := secretsmanager.NewFromConfig(srv.AWSConfig())
	secret := func(name, user, password string) string {
		v := fmt.Sprintf(`{"engine":"postgres","host":%q,"port":%d,"username":%q,"password":%q,"dbname":%q}`, pg.Host, pg.Port, user, password, pg.Database)
		return createSecret(t, sm, name, v)
	}
	superARN := secret("rds/master", pg.SuperUser, pg.SuperPassword)
	login := func(user, password string) bool {
		conn, err := pgx.ConnectConfig(t.Context(), pg.ConnConfig(user, password))
		if err == nil {
			conn.Close(context.Background())
		}
		return err == nil
	}
	for _, strategy := range []string{"single", "alternating"} {
		t.Run(strategy, func(t *testing.T) {
			role := "app_" + strategy
			pg.Exec(t, fmt.Sprintf("CREATE ROLE %s LOGIN PASSWORD 'initial'", role))
			arn := secret("app/"+strategy, role, "initial")
			rotateThroughLambda(t, srv, sm, arn, strategy, superARN, login)
		})
	}
}

// TestFunctionRotatesMySQL: the same function, unchanged configuration,
// rotates secrets whose engine is one of MySQL's, on a real MariaDB.
func TestFunctionRotatesMySQL(t *testing.T) {
	my := mysqltest.Start(t)
	srv := secretcachetest.NewServer(t)
	sm := secretsmanager.NewFromConfig(srv.AWSConfig())
	secret := func(name, engine, user, password string) string {
		v := fmt.Sprintf(`{"engine":%q,"host":%q,"port":"%d","username":%q,"password":%q}`, engine, my.Host(), my.Port(), user, password)
		return createSecret(t, sm, name, v)
	}
	superARN := secret("rds/mysql-master", "mysql", mysqltest.RootUser, my.RootPassword())
	cfg := my.Config(mysqltest.RootUser, my.RootPassword())
	cfg.InterpolateParams = true
	connector, err := mysqldriver.NewConnector(cfg)
	if err != nil {
		t.Fatal(err)
	}
	root := sql.OpenDB(connector)
	defer root.Close()
	login := func(user, password string) bool {
		connector, err := mysqldriver.NewConnector(my.Config(user, password))
		if err != nil {
			t.Fatal(err)
		}
		db := sql.OpenDB(connector)
		defer db.Close()
		return db.PingContext(t.Context()) == nil
	}
	for _, engine := range []string{"mysql", "mariadb", "aurora-mysql"} {
		for _, strategy := range []string{"single", "alternating"} {
			t.Run(engine+"/"+strategy, func(t *testing.T) {
				user := strings.ReplaceAll("app_"+engine+"_"+strategy, "-", "_")
				if _, err := root.ExecContext(t.Context(), "CREATE USER ?@'%' IDENTIFIED BY 'initial'", user); err != nil {
					t.Fatal(err)
				}
				arn := secret("app/"+engine+"/"+strategy, engine, user, "initial")
				rotateThroughLambda(t, srv, sm, arn, strategy, superARN, login)
			})
		}
	}
}

// TestUnknownEngineFailsTheFirstStep: a secret of an engine neither
// package rotates fails createSecret, naming the engine, and nothing is
// written.
func TestUnknownEngineFailsTheFirstStep(t *testing.T) {
	srv := secretcachetest.NewServer(t)
	sm := secretsmanager.NewFromConfig(srv.AWSConfig())
	arn := createSecret(t, sm, "app/oracle", `{"engine":"oracle","host":"127.0.0.1","username":"app","password":"p"}`)
	r, err := newRotator(sm, env(nil), slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	err = r.Rotate(t.Context(), arn)
	var se *rotation.StepError
	if !errors.As(err, &se) || se.Step != rotation.CreateSecret || !strings.Contains(err.Error(), `engine "oracle"`) {
		t.Fatalf("Rotate = %v, want createSecret to fail naming the engine", err)
	}
	if n := srv.Calls("PutSecretValue"); n != 0 {
		t.Fatalf("PutSecretValue called %d times", n)
	}
}

func createSecret(t testing.TB, sm *secretsmanager.Client, name, value string) string {
	t.Helper()
	out, err := sm.CreateSecret(t.Context(), &secretsmanager.CreateSecretInput{Name: &name, SecretString: &value})
	if err != nil {
		t.Fatal(err)
	}
	return *out.ARN
}

// rotateThroughLambda registers the function configured for strategy,
// rotates arn twice through RotateSecret, and checks which versions log in
// (login reports whether a user and password do) and that no password is
// in the function's log.
func rotateThroughLambda(t *testing.T, srv *secretcachetest.Server, sm *secretsmanager.Client, arn, strategy, superARN string, login func(user, password string) bool) {
	t.Helper()
	var logs strings.Builder
	r, err := newRotator(sm, env(map[string]string{
		"ROTATION_STRATEGY": strategy, "SUPERUSER_SECRET_ARN": superARN, "DB_SSLMODE": "disable",
	}), slog.New(slog.NewJSONHandler(&logs, nil)))
	if err != nil {
		t.Fatal(err)
	}
	handler := lambda.NewHandler(r.Handle) // what lambda.Start(r.Handle) serves
	fn := "arn:aws:lambda:us-east-1:123456789012:function:rotate-" + strings.ReplaceAll(t.Name(), "/", "-")
	srv.RegisterRotationFunc(fn, func(ctx context.Context, step, secretID, token string) error {
		payload, err := json.Marshal(map[string]string{"Step": step, "SecretId": secretID, "ClientRequestToken": token})
		if err != nil {
			return err
		}
		_, err = handler.Invoke(ctx, payload)
		return err
	})
	for i := range 2 {
		if _, err := sm.RotateSecret(t.Context(), &secretsmanager.RotateSecretInput{SecretId: &arn, RotationLambdaARN: &fn}); err != nil {
			t.Fatalf("rotation %d: %v", i+1, err)
		}
	}
	for _, stage := range []string{rotation.StageCurrent, rotation.StagePrevious} {
		out, err := sm.GetSecretValue(t.Context(), &secretsmanager.GetSecretValueInput{SecretId: &arn, VersionStage: aws.String(stage)})
		if err != nil {
			t.Fatal(err)
		}
		var v struct{ Username, Password string }
		if err := json.Unmarshal([]byte(*out.SecretString), &v); err != nil {
			t.Fatal(err)
		}
		works := login(v.Username, v.Password)
		// Single-user: only AWSCURRENT logs in. Alternating: both do.
		if want := stage == rotation.StageCurrent || strategy == "alternating"; works != want {
			t.Fatalf("%s (user %s) logs in: %v, want %v", stage, v.Username, works, want)
		}
		if v.Password == "initial" {
			t.Fatalf("%s still holds the initial password after two rotations", stage)
		}
		if strings.Contains(logs.String(), v.Password) {
			t.Fatal("a password is in the function's log")
		}
	}
	if !strings.Contains(logs.String(), `"step":"finishSecret"`) {
		t.Fatalf("the function logged no steps: %s", logs.String())
	}
}
