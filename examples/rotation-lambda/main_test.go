package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/jackc/pgx/v5"

	"github.com/rekeyhq/rekey/internal/awsemu"
	"github.com/rekeyhq/rekey/internal/pgtest"
	"github.com/rekeyhq/rekey/rotation"
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

// TestBadSSLModeFailsTheFirstStep: the strategies report invalid options
// when called, so a bad DB_SSLMODE fails createSecret, naming it, before
// anything is written.
func TestBadSSLModeFailsTheFirstStep(t *testing.T) {
	srv := awsemu.New(t)
	sm := secretsmanager.NewFromConfig(srv.AWSConfig())
	out, err := sm.CreateSecret(t.Context(), &secretsmanager.CreateSecretInput{
		Name: aws.String("app/db"), SecretString: aws.String(`{"host":"127.0.0.1","username":"app","password":"p"}`),
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, strategy := range []string{"single", "alternating"} {
		t.Run(strategy, func(t *testing.T) {
			r, err := newRotator(sm, env(map[string]string{
				"ROTATION_STRATEGY": strategy, "SUPERUSER_SECRET_ARN": "arn:super", "DB_SSLMODE": "sometimes",
			}), slog.New(slog.DiscardHandler))
			if err != nil {
				t.Fatal(err)
			}
			err = r.Rotate(t.Context(), *out.ARN)
			if se := (*rotation.StepError)(nil); !errors.As(err, &se) || se.Step != rotation.CreateSecret || !strings.Contains(err.Error(), `SSLMode "sometimes"`) {
				t.Fatalf("Rotate = %v, want createSecret to fail naming the SSLMode", err)
			}
			if n := srv.Calls("PutSecretValue"); n != 0 {
				t.Fatalf("PutSecretValue called %d times", n)
			}
		})
	}
}

// TestFunctionRotatesThroughLambdaPayload runs the function as Lambda
// would, decoding the JSON payload through aws-lambda-go's handler, with
// RotateSecret on the emulator and a real PostgreSQL.
func TestFunctionRotatesThroughLambdaPayload(t *testing.T) {
	pg := pgtest.Start(t)
	srv := awsemu.New(t)
	sm := secretsmanager.NewFromConfig(srv.AWSConfig())
	secret := func(name, user, password string) string {
		v := fmt.Sprintf(`{"engine":"postgres","host":%q,"port":%d,"username":%q,"password":%q,"dbname":%q}`, pg.Host, pg.Port, user, password, pg.Database)
		out, err := sm.CreateSecret(t.Context(), &secretsmanager.CreateSecretInput{Name: &name, SecretString: &v})
		if err != nil {
			t.Fatal(err)
		}
		return *out.ARN
	}
	superARN := secret("rds/master", pg.SuperUser, pg.SuperPassword)

	for _, strategy := range []string{"single", "alternating"} {
		t.Run(strategy, func(t *testing.T) {
			role := "app_" + strategy
			pg.Exec(t, fmt.Sprintf("CREATE ROLE %s LOGIN PASSWORD 'initial'", role))
			arn := secret("app/"+strategy, role, "initial")
			var logs strings.Builder
			r, err := newRotator(sm, env(map[string]string{
				"ROTATION_STRATEGY": strategy, "SUPERUSER_SECRET_ARN": superARN, "DB_SSLMODE": "disable",
			}), slog.New(slog.NewJSONHandler(&logs, nil)))
			if err != nil {
				t.Fatal(err)
			}
			handler := lambda.NewHandler(r.Handle) // what lambda.Start(r.Handle) serves
			fn := "arn:aws:lambda:us-east-1:123456789012:function:rotate-" + strategy
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
				conn, err := pgx.ConnectConfig(t.Context(), pg.ConnConfig(v.Username, v.Password))
				works := err == nil
				if works {
					conn.Close(context.Background())
				}
				// Single-user: only AWSCURRENT logs in. Alternating: both do.
				if want := stage == rotation.StageCurrent || strategy == "alternating"; works != want {
					t.Fatalf("%s (user %s) logs in: %v, want %v", stage, v.Username, works, want)
				}
				if strings.Contains(logs.String(), v.Password) {
					t.Fatal("a password is in the function's log")
				}
			}
			if !strings.Contains(logs.String(), `"step":"finishSecret"`) {
				t.Fatalf("the function logged no steps: %s", logs.String())
			}
		})
	}
}
