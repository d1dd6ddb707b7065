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

// invalidConstructions build strategies with invalid arguments; want is
// what their error must name.
var invalidConstructions = []struct {
	name  string
	build func() (rotation.Strategy, error)
	want  string
}{
	{"single TLS", func() (rotation.Strategy, error) {
		return mysql.SingleUser(func(o *mysql.Options) { o.TLS = "sometimes" })
	}, `SingleUser: Options.TLS "sometimes"`},
	{"single zero ConnectTimeout", func() (rotation.Strategy, error) {
		return mysql.SingleUser(func(o *mysql.Options) { o.ConnectTimeout = 0 })
	}, "SingleUser: Options.ConnectTimeout 0s is not positive"},
	{"single negative ConnectTimeout", func() (rotation.Strategy, error) {
		return mysql.SingleUser(func(o *mysql.Options) { o.ConnectTimeout = -time.Second })
	}, "SingleUser: Options.ConnectTimeout -1s is not positive"},
	{"alternating TLS", func() (rotation.Strategy, error) {
		return mysql.AlternatingUsers("arn:super", func(o *mysql.Options) { o.TLS = "" })
	}, `AlternatingUsers: Options.TLS ""`},
	{"alternating ConnectTimeout", func() (rotation.Strategy, error) {
		return mysql.AlternatingUsers("arn:super", func(o *mysql.Options) { o.ConnectTimeout = -1 })
	}, "AlternatingUsers: Options.ConnectTimeout"},
	{"alternating empty superuser id", func() (rotation.Strategy, error) {
		return mysql.AlternatingUsers("")
	}, "AlternatingUsers: the superuser secret id is empty"},
	{"alternating empty superuser id and invalid options", func() (rotation.Strategy, error) {
		return mysql.AlternatingUsers("", func(o *mysql.Options) { o.ConnectTimeout = -1 })
	}, "AlternatingUsers: the superuser secret id is empty"},
}

// TestInvalidArgumentsFailTheConstructor: invalid arguments are an error of
// the constructor, naming them, so a misconfigured rotation function fails
// when it starts rather than at its first step; never a panic, never a
// strategy.
func TestInvalidArgumentsFailTheConstructor(t *testing.T) {
	for _, tc := range invalidConstructions {
		t.Run(tc.name, func(t *testing.T) {
			var (
				s   rotation.Strategy
				err error
			)
			func() {
				defer func() {
					if v := recover(); v != nil {
						t.Fatalf("the constructor panicked: %v", v)
					}
				}()
				s, err = tc.build()
			}()
			if err == nil || !strings.HasPrefix(err.Error(), "mysql: ") || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error = %v, want one starting with %q naming %q", err, "mysql: ", tc.want)
			}
			if s != nil {
				t.Errorf("the constructor returned a strategy with its error %v", err)
			}
		})
	}
}

// TestValidOptionsBuild: every documented TLS value, and the defaults,
// build a strategy with each constructor.
func TestValidOptionsBuild(t *testing.T) {
	for _, mode := range []string{"false", "preferred", "skip-verify", "true"} {
		opt := func(o *mysql.Options) { o.TLS = mode }
		if s, err := mysql.SingleUser(opt); err != nil || s == nil {
			t.Errorf("SingleUser with TLS %q = %v, %v", mode, s, err)
		}
		if s, err := mysql.AlternatingUsers("arn:super", opt); err != nil || s == nil {
			t.Errorf("AlternatingUsers with TLS %q = %v, %v", mode, s, err)
		}
	}
	if _, err := mysql.SingleUser(); err != nil {
		t.Errorf("SingleUser with the defaults: %v", err)
	}
	if _, err := mysql.AlternatingUsers("arn:super"); err != nil {
		t.Errorf("AlternatingUsers with the defaults: %v", err)
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
		for j, st := range []rotation.Strategy{singleUser(t), alternatingUsers(t, "arn:super")} {
			t.Run(fmt.Sprintf("%s/%T", tc.name, st), func(t *testing.T) {
				out, err := sm.CreateSecret(t.Context(), &secretsmanager.CreateSecretInput{
					Name: aws.String(fmt.Sprintf("db/bad-%d-%d", i, j)), SecretString: aws.String(tc.value),
				})
				if err != nil {
					t.Fatal(err)
				}
				srv.ResetCalls()
				err = newRotator(t, sm, st).Rotate(t.Context(), *out.ARN)
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
