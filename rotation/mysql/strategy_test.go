package mysql_test

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	mysqldriver "github.com/go-sql-driver/mysql"

	"github.com/rekeyhq/rekey/rotation"
	"github.com/rekeyhq/rekey/rotation/mysql"
)

// strategies builds each strategy for an env.
var strategies = []struct {
	name string
	new  func(t testing.TB, e *env, optFns ...func(*mysql.Options)) rotation.Strategy
}{
	{"single", func(t testing.TB, e *env, optFns ...func(*mysql.Options)) rotation.Strategy {
		return singleUser(t, optFns...)
	}},
	{"alternating", func(t testing.TB, e *env, optFns ...func(*mysql.Options)) rotation.Strategy {
		return alternatingUsers(t, e.superARN, optFns...)
	}},
}

func TestFullRotation(t *testing.T) {
	for _, st := range strategies {
		for _, via := range []string{"RotateSecret", "Rotate"} {
			t.Run(st.name+"/"+via, func(t *testing.T) {
				t.Parallel()
				e := newEnv(t)
				r := newRotator(t, e.sm, st.new(t, e))
				e.register(r)
				old := creds{e.user, e.initial}
				users := []string{e.user}
				for i := range 3 {
					var err error
					if via == "RotateSecret" {
						err = e.rotateSecret(t)
					} else {
						err = r.Rotate(t.Context(), e.arn)
					}
					if err != nil {
						t.Fatalf("rotation %d: %v", i+1, err)
					}
					cur := e.requireRotated(t, old)
					_, prevWorks := e.login(t, old)
					if st.name == "alternating" {
						if !prevWorks {
							t.Fatalf("rotation %d: AWSPREVIOUS (user %s) no longer logs in", i+1, old.user)
						}
						if err := e.useGrant(t.Context(), old); err != nil {
							t.Fatalf("rotation %d: AWSPREVIOUS: %v", i+1, err)
						}
					} else if prevWorks || cur.user != e.user {
						t.Fatalf("single-user rotation %d: old password works %v, user %s", i+1, prevWorks, cur.user)
					}
					users = append(users, cur.user)
					old = cur
				}
				if st.name == "alternating" {
					want := []string{e.user, e.user + "_clone", e.user, e.user + "_clone"}
					if fmt.Sprint(users) != fmt.Sprint(want) {
						t.Fatalf("users over rotations = %v, want %v", users, want)
					}
				}
			})
		}
	}
}

func TestEveryStepTwice(t *testing.T) {
	for _, st := range strategies {
		t.Run(st.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t)
			r := newRotator(t, e.sm, st.new(t, e))
			e.srv.RegisterRotationFunc(lambdaARN, func(ctx context.Context, step, secretID, token string) error {
				ev := rotation.Event{Step: rotation.Step(step), SecretID: secretID, ClientRequestToken: token}
				if err := r.Handle(ctx, ev); err != nil {
					return err
				}
				return r.Handle(ctx, ev)
			})
			old := creds{e.user, e.initial}
			for i := range 2 {
				if err := e.rotateSecret(t); err != nil {
					t.Fatalf("rotation %d: %v", i+1, err)
				}
				old = e.requireRotated(t, old)
			}
			if n := e.srv.Calls("PutSecretValue"); n != 2 {
				t.Fatalf("PutSecretValue calls = %d, want one per rotation", n)
			}
		})
	}
}

// TestHostNotPercent: an account whose host part is not '%' is rotated
// in place, and the clone gets the same host part.
func TestHostNotPercent(t *testing.T) {
	for _, st := range strategies {
		t.Run(st.name, func(t *testing.T) {
			t.Parallel()
			e := newEnvWith(t, fmt.Sprintf("local%d", userSeq.Add(1)), "127.0.0.1", "initial-local")
			r := newRotator(t, e.sm, st.new(t, e))
			old := creds{e.user, e.initial}
			for range 2 {
				if err := r.Rotate(t.Context(), e.arn); err != nil {
					t.Fatalf("Rotate: %v", err)
				}
				old = e.requireRotated(t, old)
				if acct, _ := e.login(t, old); acct != old.user+"@127.0.0.1" {
					t.Fatalf("AWSCURRENT logs in as %q, want %s@127.0.0.1", acct, old.user)
				}
			}
			var n int
			db := rootDB(t, e.my)
			defer db.Close()
			if err := db.QueryRowContext(t.Context(), "SELECT COUNT(*) FROM mysql.user WHERE User IN (?, ?) AND Host <> '127.0.0.1'", e.user, e.user+"_clone").Scan(&n); err != nil || n != 0 {
				t.Fatalf("accounts with another host part: %d (%v)", n, err)
			}
		})
	}
}

// TestAwkwardNames rotates users whose names and passwords need quoting
// everywhere, with a password policy that lets the service put quotes and
// backslashes in new passwords, with and without NO_BACKSLASH_ESCAPES.
func TestAwkwardNames(t *testing.T) {
	names := []struct{ name, user, password string }{
		{"quotes", `o'brien"x`, `pw'with"quotes`},
		{"backslashes", `back\slash\`, `pw\'\\`},
		{"backticks", "tick`user``", "pw`tick"},
		{"percent and underscore", `pct%_user`, `100%_pw`},
		{"unicode", "usér_名前", "pässwörd_密码"},
		{"keywords", "SELECT FROM WHERE ", "DROP TABLE t; --"},
		{"question mark", "who?", "pw?"},
	}
	modes := []struct {
		name string
		opt  func(*mysql.Options)
	}{
		{"default sql_mode", func(*mysql.Options) {}},
		{"NO_BACKSLASH_ESCAPES", func(o *mysql.Options) {
			o.Config = func(c *mysqldriver.Config) {
				c.Params = map[string]string{"sql_mode": "'NO_BACKSLASH_ESCAPES,ANSI_QUOTES'"}
			}
		}},
	}
	for _, st := range strategies {
		for _, m := range modes {
			for _, n := range names {
				t.Run(st.name+"/"+m.name+"/"+n.name, func(t *testing.T) {
					t.Parallel()
					e := newEnvWith(t, n.user+fmt.Sprint(userSeq.Add(1)), "%", n.password)
					r := newRotator(t, e.sm, st.new(t, e, m.opt), func(o *rotation.Options) {
						o.Password.ExcludeCharacters = "" // quotes and backslashes allowed
						o.Password.Length = 64
					})
					old := creds{e.user, e.initial}
					for range 3 {
						if err := r.Rotate(t.Context(), e.arn); err != nil {
							t.Fatalf("Rotate: %v", err)
						}
						old = e.requireRotated(t, old)
					}
				})
			}
		}
	}
}

// TestConfigurationTest: RotateSecret with RotateImmediately false runs only
// testSecret, which then checks AWSCURRENT against the database.
func TestConfigurationTest(t *testing.T) {
	for _, st := range strategies {
		t.Run(st.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t)
			e.register(newRotator(t, e.sm, st.new(t, e)))
			in := &secretsmanager.RotateSecretInput{SecretId: &e.arn, RotationLambdaARN: aws.String(lambdaARN), RotateImmediately: aws.Bool(false)}
			if _, err := e.sm.RotateSecret(t.Context(), in); err != nil {
				t.Fatalf("RotateSecret(RotateImmediately=false): %v", err)
			}
			if cur := e.mustLogin(t, rotation.StageCurrent); cur != (creds{e.user, e.initial}) {
				t.Fatal("AWSCURRENT changed")
			}
			e.root(t, "ALTER USER ?@? IDENTIFIED BY 'changed-behind-our-back'", e.user, e.host)
			if _, err := e.sm.RotateSecret(t.Context(), in); err == nil {
				t.Fatal("the configuration test passed although AWSCURRENT does not log in")
			}
		})
	}
}

// TestSingleUserWithCreateUser: a user that may ALTER USER (CREATE USER
// privilege) is rotated with ALTER USER; one that may not, with SET
// PASSWORD. Both end with only the new password working.
func TestSingleUserWithCreateUser(t *testing.T) {
	e := newEnv(t)
	e.root(t, "GRANT CREATE USER ON *.* TO ?@?", e.user, e.host)
	var logs strings.Builder
	r := newRotator(t, e.sm, singleUser(t, func(o *mysql.Options) { o.Logger = slogTo(&logs) }))
	if err := r.Rotate(t.Context(), e.arn); err != nil {
		t.Fatal(err)
	}
	e.requireRotated(t, creds{e.user, e.initial})
	if !strings.Contains(logs.String(), `"with":"ALTER USER"`) {
		t.Fatalf("the password was not set with ALTER USER: %s", logs.String())
	}
}
