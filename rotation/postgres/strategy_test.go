package postgres_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/jackc/pgx/v5"

	"github.com/rekeyhq/rekey/rotation"
	"github.com/rekeyhq/rekey/rotation/postgres"
)

// strategies builds each strategy for an env.
var strategies = []struct {
	name string
	new  func(t testing.TB, e *env) rotation.Strategy
}{
	{"single", func(t testing.TB, e *env) rotation.Strategy {
		return singleUser(t, func(o *postgres.Options) { o.SSLMode = "disable" })
	}},
	{"alternating", func(t testing.TB, e *env) rotation.Strategy {
		return alternatingUsers(t, e.superARN, func(o *postgres.Options) { o.SSLMode = "disable" })
	}},
}

func TestFullRotation(t *testing.T) {
	for _, st := range strategies {
		for _, via := range []string{"RotateSecret", "Rotate"} {
			t.Run(st.name+"/"+via, func(t *testing.T) {
				e := newEnv(t)
				r := newRotator(t, e.sm, st.new(t, e))
				e.register(r)
				old := creds{e.role, e.initial}
				users := []string{e.role}
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
						if acting, _ := e.login(t, cur); acting != e.role {
							t.Fatalf("a session of %s acts as %q, want %q", cur.user, acting, e.role)
						}
					} else if prevWorks || cur.user != e.role {
						t.Fatalf("single-user rotation %d: old password works %v, user %s", i+1, prevWorks, cur.user)
					}
					users = append(users, cur.user)
					old = cur
				}
				if st.name == "alternating" {
					want := []string{e.role, e.role + "_clone", e.role, e.role + "_clone"}
					if fmt.Sprint(users) != fmt.Sprint(want) {
						t.Fatalf("users over rotations = %v, want %v", users, want)
					}
				}
			})
		}
	}
}

// TestAlternatingKeepsOneOwner: a table created through either login is
// owned by the original role and readable and writable through both.
func TestAlternatingKeepsOneOwner(t *testing.T) {
	e := newEnv(t)
	r := newRotator(t, e.sm, strategies[1].new(t, e))
	base := creds{e.role, e.initial}
	if err := r.Rotate(t.Context(), e.arn); err != nil {
		t.Fatalf("Rotate: %v", err)
	}
	clone := e.mustLogin(t, rotation.StageCurrent)
	if clone.user != e.role+"_clone" {
		t.Fatalf("AWSCURRENT user = %s, want the clone", clone.user)
	}
	schema := pgx.Identifier{e.role}.Sanitize()
	exec := func(c creds, sql string) error {
		conn, err := pgx.ConnectConfig(t.Context(), e.pg.ConnConfig(c.user, c.password))
		if err != nil {
			return err
		}
		defer conn.Close(context.Background())
		_, err = conn.Exec(t.Context(), sql)
		return err
	}
	for _, tc := range []struct {
		table         string
		creator, user creds
	}{
		{"made_by_clone", clone, base},
		{"made_by_base", base, clone},
	} {
		tbl := schema + "." + tc.table
		if err := exec(tc.creator, "CREATE TABLE "+tbl+" (v int)"); err != nil {
			t.Fatalf("%s creates %s: %v", tc.creator.user, tc.table, err)
		}
		for _, sql := range []string{"INSERT INTO " + tbl + " VALUES (1)", "UPDATE " + tbl + " SET v = 2", "SELECT * FROM " + tbl, "ALTER TABLE " + tbl + " ADD COLUMN w int"} {
			if err := exec(tc.user, sql); err != nil {
				t.Fatalf("%s on %s (made by %s): %q: %v", tc.user.user, tc.table, tc.creator.user, sql, err)
			}
		}
		var owner string
		conn, err := pgx.ConnectConfig(t.Context(), e.pg.ConnConfig(e.pg.SuperUser, e.pg.SuperPassword))
		if err != nil {
			t.Fatal(err)
		}
		err = conn.QueryRow(t.Context(), "SELECT tableowner FROM pg_tables WHERE schemaname = $1 AND tablename = $2", e.role, tc.table).Scan(&owner)
		conn.Close(context.Background())
		if err != nil || owner != e.role {
			t.Fatalf("%s is owned by %q (%v), want %q", tc.table, owner, err, e.role)
		}
	}
}

func TestEveryStepTwice(t *testing.T) {
	for _, st := range strategies {
		t.Run(st.name, func(t *testing.T) {
			e := newEnv(t)
			r := newRotator(t, e.sm, st.new(t, e))
			e.srv.RegisterRotationFunc(lambdaARN, func(ctx context.Context, step, secretID, token string) error {
				ev := rotation.Event{Step: rotation.Step(step), SecretID: secretID, ClientRequestToken: token}
				if err := r.Handle(ctx, ev); err != nil {
					return err
				}
				return r.Handle(ctx, ev)
			})
			old := creds{e.role, e.initial}
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

// TestQuotedRoleName rotates a role whose name needs quoting everywhere.
func TestQuotedRoleName(t *testing.T) {
	for _, st := range strategies {
		t.Run(st.name, func(t *testing.T) {
			e := newEnvNamed(t, fmt.Sprintf(`we"ird 'ro\le%d`, roleSeq.Add(1)))
			r := newRotator(t, e.sm, st.new(t, e))
			old := creds{e.role, e.initial}
			for range 2 {
				if err := r.Rotate(t.Context(), e.arn); err != nil {
					t.Fatalf("Rotate: %v", err)
				}
				old = e.requireRotated(t, old)
			}
		})
	}
}

func TestAlternatingNameLimit(t *testing.T) {
	name := func(n int) string {
		prefix := fmt.Sprintf("long%d_", roleSeq.Add(1))
		return prefix + strings.Repeat("x", n-len(prefix))
	}
	t.Run("clone of 63 bytes", func(t *testing.T) {
		e := newEnvNamed(t, name(63-len("_clone")))
		r := newRotator(t, e.sm, strategies[1].new(t, e))
		if err := r.Rotate(t.Context(), e.arn); err != nil {
			t.Fatalf("Rotate of a %d-byte role: %v", len(e.role), err)
		}
		if cur := e.requireRotated(t, creds{e.role, e.initial}); cur.user != e.role+"_clone" {
			t.Fatalf("AWSCURRENT user %s", cur.user)
		}
	})
	t.Run("clone of 64 bytes", func(t *testing.T) {
		e := newEnvNamed(t, name(64-len("_clone")))
		r := newRotator(t, e.sm, strategies[1].new(t, e))
		err := r.Rotate(t.Context(), e.arn)
		if se := (*rotation.StepError)(nil); !errors.As(err, &se) || se.Step != rotation.CreateSecret || !strings.Contains(err.Error(), "63-byte") {
			t.Fatalf("Rotate of a %d-byte role = %v, want createSecret to name the 63-byte limit", len(e.role), err)
		}
		if _, ok := e.version(t, rotation.StagePending); ok {
			t.Fatal("a refused createSecret left an AWSPENDING version")
		}
		e.mustLogin(t, rotation.StageCurrent)
	})
}

// TestConfigurationTest: RotateSecret with RotateImmediately false runs only
// testSecret, which then checks AWSCURRENT against the database.
func TestConfigurationTest(t *testing.T) {
	for _, st := range strategies {
		t.Run(st.name, func(t *testing.T) {
			e := newEnv(t)
			e.register(newRotator(t, e.sm, st.new(t, e)))
			in := &secretsmanager.RotateSecretInput{SecretId: &e.arn, RotationLambdaARN: aws.String(lambdaARN), RotateImmediately: aws.Bool(false)}
			if _, err := e.sm.RotateSecret(t.Context(), in); err != nil {
				t.Fatalf("RotateSecret(RotateImmediately=false): %v", err)
			}
			if cur := e.mustLogin(t, rotation.StageCurrent); cur != (creds{e.role, e.initial}) {
				t.Fatal("AWSCURRENT changed")
			}
			e.pg.Exec(t, fmt.Sprintf("ALTER ROLE %s PASSWORD 'changed-behind-our-back'", pgx.Identifier{e.role}.Sanitize()))
			if _, err := e.sm.RotateSecret(t.Context(), in); err == nil {
				t.Fatal("the configuration test passed although AWSCURRENT does not log in")
			}
		})
	}
}
