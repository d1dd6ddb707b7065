package postgres_test

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/jackc/pgx/v5"

	"github.com/rekeyhq/rekey/rotation"
)

// TestSingleUserLogsInWithPrevious: when only AWSPREVIOUS's password is
// valid in the database (e.g. restored from a backup), setSecret logs in
// with it, as AWS's function does.
func TestSingleUserLogsInWithPrevious(t *testing.T) {
	e := newEnv(t)
	r := newRotator(t, e.sm, strategies[0].new(t, e))
	if err := r.Rotate(t.Context(), e.arn); err != nil {
		t.Fatal(err)
	}
	cur := e.requireRotated(t, creds{e.role, e.initial})
	e.pg.Exec(t, fmt.Sprintf("ALTER ROLE %s PASSWORD '%s'", pgx.Identifier{e.role}.Sanitize(), e.initial))
	if _, ok := e.login(t, cur); ok {
		t.Fatal("test premise: AWSCURRENT should not log in")
	}
	if err := r.Rotate(t.Context(), e.arn); err != nil {
		t.Fatalf("Rotate with only AWSPREVIOUS valid: %v", err)
	}
	e.requireRotated(t, cur)
}

func TestSingleUserNoLoginWorks(t *testing.T) {
	e := newEnv(t)
	r := newRotator(t, e.sm, strategies[0].new(t, e))
	e.pg.Exec(t, fmt.Sprintf("ALTER ROLE %s PASSWORD 'nobody-knows'", pgx.Identifier{e.role}.Sanitize()))
	err := r.Rotate(t.Context(), e.arn)
	if err == nil {
		t.Fatal("Rotate succeeded although no credentials log in")
	}
	pending, _ := e.version(t, rotation.StagePending)
	for _, want := range []string{"setSecret", "pending:", "current:", e.arn} {
		if !strings.Contains(err.Error(), want) {
			t.Fatalf("error %q does not contain %q", err, want)
		}
	}
	for _, pw := range []string{e.initial, pending.password, "nobody-knows"} {
		if strings.Contains(err.Error(), pw) {
			t.Fatal("error contains a password")
		}
	}
}

// TestPasswordNeverInServerLog logs every statement of the rotated role and
// of the superuser that alternating-users uses, and checks the log.
func TestPasswordNeverInServerLog(t *testing.T) {
	logPath := filepath.Join(filepath.Dir(server(t).DataDir), "postgres.log")
	if _, err := os.Stat(logPath); err != nil {
		t.Skipf("pgtest's server log is not at %s: %v", logPath, err)
	}
	for _, st := range strategies {
		t.Run(st.name, func(t *testing.T) {
			e := newEnv(t)
			su := fmt.Sprintf("su%d", roleSeq.Add(1))
			suPassword := "su-" + su
			e.pg.Exec(t, fmt.Sprintf("CREATE ROLE %s SUPERUSER LOGIN PASSWORD '%s'", su, suPassword))
			t.Cleanup(func() { dropRoles(t, e.pg, su) })
			e.pg.Exec(t, fmt.Sprintf("ALTER ROLE %s SET log_statement = 'all'", su))
			e.pg.Exec(t, fmt.Sprintf("ALTER ROLE %s SET log_statement = 'all'", e.role))
			e.superARN = e.createSecret(t, "db/"+su, su, suPassword, e.pg.Port)

			r := newRotator(t, e.sm, st.new(t, e))
			if err := r.Rotate(t.Context(), e.arn); err != nil {
				t.Fatal(err)
			}
			cur := e.requireRotated(t, creds{e.role, e.initial})
			log, err := os.ReadFile(logPath)
			if err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(string(log), "ALTER ROLE "+pgx.Identifier{cur.user}.Sanitize()+" PASSWORD 'SCRAM-SHA-256$4096:") {
				t.Fatal("the ALTER ROLE statement is not in the server log; the test would prove nothing")
			}
			if strings.Contains(string(log), cur.password) {
				t.Fatal("the new password is in the server log")
			}
		})
	}
}

// TestAlternatingVerifyDetectsSessionRole: a clone whose sessions no longer
// act as the original role fails testSecret, and setSecret repairs it.
func TestAlternatingVerifyDetectsSessionRole(t *testing.T) {
	e := newEnv(t)
	alt := strategies[1].new(t, e)
	r := newRotator(t, e.sm, alt)
	if err := r.Rotate(t.Context(), e.arn); err != nil {
		t.Fatal(err)
	}
	cur := e.requireRotated(t, creds{e.role, e.initial})
	e.pg.Exec(t, fmt.Sprintf("ALTER ROLE %s RESET role", pgx.Identifier{cur.user}.Sanitize()))
	out, err := e.sm.GetSecretValue(t.Context(), &secretsmanager.GetSecretValueInput{SecretId: &e.arn})
	if err != nil {
		t.Fatal(err)
	}
	s := rotation.NewSecret(e.arn, aws.ToString(out.VersionId), out.VersionStages, []byte(aws.ToString(out.SecretString)))
	err = alt.Verify(t.Context(), s)
	if err == nil || !strings.Contains(err.Error(), "acts as") {
		t.Fatalf("Verify = %v, want a complaint that the session does not act as %s", err, e.role)
	}
	// Two rotations later the clone is pending again and is repaired.
	for range 2 {
		if err := r.Rotate(t.Context(), e.arn); err != nil {
			t.Fatal(err)
		}
	}
	if acting, ok := e.login(t, e.mustLogin(t, rotation.StageCurrent)); !ok || acting != e.role {
		t.Fatalf("after repair the clone acts as %q", acting)
	}
}
