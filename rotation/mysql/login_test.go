package mysql_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/rekeyhq/rekey/rotation"
	"github.com/rekeyhq/rekey/rotation/mysql"
)

// TestSingleUserLogsInWithPrevious: when only AWSPREVIOUS's password is
// valid in the database (e.g. restored from a backup), setSecret logs in
// with it, as AWS's function does.
func TestSingleUserLogsInWithPrevious(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	r := newRotator(t, e.sm, strategies[0].new(t, e))
	if err := r.Rotate(t.Context(), e.arn); err != nil {
		t.Fatal(err)
	}
	cur := e.requireRotated(t, creds{e.user, e.initial})
	e.root(t, "ALTER USER ?@? IDENTIFIED BY ?", e.user, e.host, e.initial)
	if _, ok := e.login(t, cur); ok {
		t.Fatal("test premise: AWSCURRENT should not log in")
	}
	if err := r.Rotate(t.Context(), e.arn); err != nil {
		t.Fatalf("Rotate with only AWSPREVIOUS valid: %v", err)
	}
	e.requireRotated(t, cur)
}

func TestSingleUserNoLoginWorks(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	r := newRotator(t, e.sm, strategies[0].new(t, e))
	e.root(t, "ALTER USER ?@? IDENTIFIED BY 'nobody-knows'", e.user, e.host)
	err := r.Rotate(t.Context(), e.arn)
	if err == nil {
		t.Fatal("Rotate succeeded although no credentials log in")
	}
	pending, _ := e.version(t, rotation.StagePending)
	for _, want := range []string{"setSecret", "pending:", "current:", e.arn, "Error 1045"} {
		if !strings.Contains(err.Error(), want) {
			t.Fatalf("error %q does not contain %q", err, want)
		}
	}
	for _, pw := range []string{e.initial, pending.password, "nobody-knows"} {
		if strings.Contains(err.Error(), pw) {
			t.Fatal("error contains a password")
		}
	}
	// Once the current password works again, the same rotation resumes.
	e.root(t, "ALTER USER ?@? IDENTIFIED BY ?", e.user, e.host, e.initial)
	if err := r.Rotate(t.Context(), e.arn); err != nil {
		t.Fatalf("Rotate after repair: %v", err)
	}
	if cur := e.requireRotated(t, creds{e.user, e.initial}); cur != pending {
		t.Fatal("the resumed rotation did not finish the pending value")
	}
}

// TestAlternatingNeverCopiesThePassword: the clone does not log in with
// the original's password (MariaDB prints its hash in SHOW GRANTS), nor
// the original with the clone's.
func TestAlternatingNeverCopiesThePassword(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	r := newRotator(t, e.sm, strategies[1].new(t, e))
	if err := r.Rotate(t.Context(), e.arn); err != nil {
		t.Fatal(err)
	}
	clone := e.requireRotated(t, creds{e.user, e.initial})
	if _, ok := e.login(t, creds{clone.user, e.initial}); ok {
		t.Fatal("the clone logs in with the original's password")
	}
	if _, ok := e.login(t, creds{e.user, clone.password}); ok {
		t.Fatal("the original logs in with the clone's password")
	}
}

// TestNoPasswordInLogs: the records of both strategies, and of the
// Rotator, over rotations that succeed and one that fails, hold no
// password of any version or of the superuser.
func TestNoPasswordInLogs(t *testing.T) {
	for _, st := range strategies {
		t.Run(st.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t)
			var logs strings.Builder
			log := slogTo(&logs)
			r := newRotator(t, e.sm, st.new(t, e, func(o *mysql.Options) { o.Logger = log }), func(o *rotation.Options) { o.Logger = log })
			passwords := []string{e.initial, e.my.RootPassword()}
			for range 2 {
				if err := r.Rotate(t.Context(), e.arn); err != nil {
					t.Fatal(err)
				}
				cur, _ := e.version(t, rotation.StageCurrent)
				passwords = append(passwords, cur.password)
			}
			// A failing rotation: no login works.
			e.root(t, "ALTER USER ?@? IDENTIFIED BY 'nobody-knows'", e.user, e.host)
			if st.name == "alternating" {
				e.root(t, "ALTER USER ?@? IDENTIFIED BY 'nobody-knows'", e.user+"_clone", e.host)
				e.root(t, "DROP USER ?@?", e.user, e.host) // and the account to set is gone
			}
			err := r.Rotate(t.Context(), e.arn)
			if err == nil {
				t.Fatal("Rotate succeeded with no working login")
			}
			pending, _ := e.version(t, rotation.StagePending)
			passwords = append(passwords, pending.password, "nobody-knows")
			if !strings.Contains(logs.String(), `"msg":"mysql: `) {
				t.Fatalf("the strategy logged nothing: %s", logs.String())
			}
			for _, pw := range passwords {
				if strings.Contains(logs.String(), pw) || strings.Contains(fmt.Sprintf("%+v %#v", err, err), pw) {
					t.Fatal("a password is in the log or the error")
				}
			}
		})
	}
}
