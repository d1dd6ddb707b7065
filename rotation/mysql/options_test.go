package mysql_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/rekeyhq/rekey/internal/awsemu"
	"github.com/rekeyhq/rekey/rotation"
	"github.com/rekeyhq/rekey/rotation/mysql"
)

// invalidStrategies are strategies built with invalid arguments, and what
// their error must name.
var invalidStrategies = []struct {
	name     string
	strategy rotation.Strategy
	want     string
}{
	{"single TLS", mysql.SingleUser(func(o *mysql.Options) { o.TLS = "sometimes" }), `SingleUser: Options.TLS "sometimes"`},
	{"single zero ConnectTimeout", mysql.SingleUser(func(o *mysql.Options) { o.ConnectTimeout = 0 }), "SingleUser: Options.ConnectTimeout 0s is not positive"},
	{"single negative ConnectTimeout", mysql.SingleUser(func(o *mysql.Options) { o.ConnectTimeout = -time.Second }), "SingleUser: Options.ConnectTimeout -1s is not positive"},
	{"alternating TLS", mysql.AlternatingUsers("arn:super", func(o *mysql.Options) { o.TLS = "" }), `AlternatingUsers: Options.TLS ""`},
	{"alternating ConnectTimeout", mysql.AlternatingUsers("arn:super", func(o *mysql.Options) { o.ConnectTimeout = -1 }), "AlternatingUsers: Options.ConnectTimeout"},
	{"alternating empty superuser id", mysql.AlternatingUsers(""), "AlternatingUsers: the superuser secret id is empty"},
}

// TestInvalidOptionsFailEveryCall: the constructors cannot fail, so each
// method of a strategy built with invalid arguments reports them, before
// touching the secret or the database.
func TestInvalidOptionsFailEveryCall(t *testing.T) {
	// Port 1 on loopback refuses at once: a strategy that ignored its
	// invalid options would fail Apply and Verify with a login error
	// instead of the option's.
	value := []byte(`{"engine":"mysql","host":"127.0.0.1","port":1,"username":"u","password":"` + secretPassword + `"}`)
	cur := rotation.NewSecret("arn:aws:secretsmanager:us-east-1:123456789012:secret:db-x", "v-1", []string{"AWSCURRENT"}, value)
	pending := rotation.NewSecret(cur.ARN, "v-2", []string{"AWSPENDING"}, value)
	for _, tc := range invalidStrategies {
		t.Run(tc.name, func(t *testing.T) {
			_, errNew := tc.strategy.NewPending(t.Context(), cur, "new-password")
			errApply := tc.strategy.Apply(t.Context(), rotation.Versions{Current: cur, Pending: pending})
			errVerify := tc.strategy.Verify(t.Context(), pending)
			for method, err := range map[string]error{"NewPending": errNew, "Apply": errApply, "Verify": errVerify} {
				if err == nil || !strings.HasPrefix(err.Error(), "mysql: ") || !strings.Contains(err.Error(), tc.want) {
					t.Errorf("%s = %v, want an error naming %q", method, err, tc.want)
				}
			}
		})
	}
}

// TestInvalidOptionsFailTheFirstStep: under a Rotator, invalid options fail
// createSecret, and nothing is written to the secret.
func TestInvalidOptionsFailTheFirstStep(t *testing.T) {
	srv := awsemu.New(t)
	sm := secretsmanager.NewFromConfig(srv.AWSConfig(), func(o *secretsmanager.Options) { o.RetryMaxAttempts = 1 })
	for i, tc := range invalidStrategies {
		t.Run(tc.name, func(t *testing.T) {
			out, err := sm.CreateSecret(t.Context(), &secretsmanager.CreateSecretInput{
				Name:         aws.String("db/invalid-" + string(rune('a'+i))),
				SecretString: aws.String(`{"host":"127.0.0.1","username":"u","password":"p"}`),
			})
			if err != nil {
				t.Fatal(err)
			}
			srv.ResetCalls()
			err = rotation.New(sm, tc.strategy).Rotate(t.Context(), *out.ARN)
			var se *rotation.StepError
			ok := errors.As(err, &se)
			if !ok || se.Step != rotation.CreateSecret || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Rotate = %v, want createSecret to fail naming %q", err, tc.want)
			}
			if n := srv.Calls("PutSecretValue"); n != 0 {
				t.Fatalf("PutSecretValue called %d times", n)
			}
		})
	}
}

// TestBadSecretFailsTheFirstStep: a secret of another engine, or without
// host or username, fails createSecret under a Rotator, naming the key,
// and nothing is written, so fixing the secret and rotating again starts
// clean.
func TestBadSecretFailsTheFirstStep(t *testing.T) {
	srv := awsemu.New(t)
	sm := secretsmanager.NewFromConfig(srv.AWSConfig(), func(o *secretsmanager.Options) { o.RetryMaxAttempts = 1 })
	for i, tc := range []struct{ name, value, want string }{
		{"postgres engine", `{"engine":"postgres","host":"127.0.0.1","username":"u","password":"p"}`, `engine "postgres"`},
		{"no host", `{"engine":"mysql","port":"3306","username":"u","password":"p"}`, `missing key "host"`},
		{"no username", `{"engine":"mysql","host":"127.0.0.1","password":"p"}`, `missing key "username"`},
	} {
		for j, st := range []rotation.Strategy{mysql.SingleUser(), mysql.AlternatingUsers("arn:super")} {
			t.Run(fmt.Sprintf("%s/%T", tc.name, st), func(t *testing.T) {
				out, err := sm.CreateSecret(t.Context(), &secretsmanager.CreateSecretInput{
					Name: aws.String(fmt.Sprintf("db/bad-%d-%d", i, j)), SecretString: aws.String(tc.value),
				})
				if err != nil {
					t.Fatal(err)
				}
				srv.ResetCalls()
				err = rotation.New(sm, st).Rotate(t.Context(), *out.ARN)
				var se *rotation.StepError
				if !errors.As(err, &se) || se.Step != rotation.CreateSecret || !strings.Contains(err.Error(), tc.want) {
					t.Fatalf("Rotate = %v, want createSecret to fail naming %q", err, tc.want)
				}
				if n := srv.Calls("PutSecretValue"); n != 0 {
					t.Fatalf("PutSecretValue called %d times", n)
				}
			})
		}
	}
}
