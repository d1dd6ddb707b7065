package mysql_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/rekeyhq/rekey/rotation"
)

// TestSuperuserWithoutPrivileges: a superuser secret whose user may not
// create users, then may create them but not grant, fails setSecret with an
// error saying what is missing; once the privileges are granted, the same
// rotation resumes and finishes, leaving a clone with every grant.
func TestSuperuserWithoutPrivileges(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	admin := fmt.Sprintf("admin%d", userSeq.Add(1))
	e.root(t, "CREATE USER ?@'%' IDENTIFIED BY 'admin-pw'", admin)
	e.root(t, "GRANT SELECT ON mysql.* TO ?@'%'", admin) // SHOW GRANTS FOR others
	t.Cleanup(func() { e.root(t, "DROP USER IF EXISTS ?@'%'", admin) })
	e.superARN = e.createSecret(t, "db/"+admin, admin, "admin-pw", e.my.Port())
	r := newRotator(t, e.sm, alternatingUsers(t, e.superARN))

	steps := []struct {
		grant string // what the admin gets after the failure
		want  string // what the error must say
	}{
		{"GRANT CREATE USER ON *.* TO ?@'%'", "needs the CREATE USER privilege"},
		{"GRANT SELECT, INSERT ON " + ident(e.db) + ".* TO ?@'%' WITH GRANT OPTION", "needs GRANT OPTION"},
	}
	for _, s := range steps {
		err := r.Rotate(t.Context(), e.arn)
		var se *rotation.StepError
		if !errors.As(err, &se) || se.Step != rotation.SetSecret || !strings.Contains(err.Error(), s.want) {
			t.Fatalf("Rotate = %v, want setSecret to fail saying %q", err, s.want)
		}
		if strings.Contains(err.Error(), "admin-pw") || strings.Contains(err.Error(), e.initial) {
			t.Fatal("the error holds a password")
		}
		// AWSCURRENT keeps working throughout.
		e.mustLogin(t, rotation.StageCurrent)
		e.root(t, s.grant, admin)
	}
	if err := r.Rotate(t.Context(), e.arn); err != nil {
		t.Fatalf("Rotate once the admin has the privileges: %v", err)
	}
	e.requireRotated(t, creds{e.user, e.initial})
	if n := e.srv.Calls("PutSecretValue"); n != 1 {
		t.Fatalf("PutSecretValue calls = %d, want 1: the failed attempts and the last are one rotation", n)
	}
}

// TestAlternatingResumesAfterPartialClone: a clone left by a crash after
// CREATE USER (no grants, a password nobody knows) or after some grants
// is completed by the next rotation.
func TestAlternatingResumesAfterPartialClone(t *testing.T) {
	for _, partial := range []string{"no grants", "some grants"} {
		t.Run(partial, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t)
			e.root(t, "CREATE USER ?@? IDENTIFIED BY 'left-by-a-crash'", e.user+"_clone", e.host)
			if partial == "some grants" {
				e.root(t, "GRANT SELECT ON "+ident(e.db)+".* TO ?@?", e.user+"_clone", e.host)
			}
			r := newRotator(t, e.sm, alternatingUsers(t, e.superARN))
			if err := r.Rotate(t.Context(), e.arn); err != nil {
				t.Fatal(err)
			}
			cur := e.requireRotated(t, creds{e.user, e.initial}) // uses SELECT and INSERT
			if cur.user != e.user+"_clone" {
				t.Fatalf("AWSCURRENT user %s, want the clone", cur.user)
			}
		})
	}
}

// TestAlternatingHostFromMySQLUser: when neither the current nor the
// previous password logs in (changed behind the secret's back), the
// superuser finds the account's host part in mysql.user, and the
// rotation to the clone still works, on that host part.
func TestAlternatingHostFromMySQLUser(t *testing.T) {
	t.Parallel()
	e := newEnvWith(t, fmt.Sprintf("lost%d", userSeq.Add(1)), "127.0.0.1", "initial-lost")
	e.root(t, "ALTER USER ?@? IDENTIFIED BY 'changed-behind-our-back'", e.user, e.host)
	r := newRotator(t, e.sm, alternatingUsers(t, e.superARN))
	if err := r.Rotate(t.Context(), e.arn); err != nil {
		t.Fatalf("Rotate: %v", err)
	}
	cur := e.mustLogin(t, rotation.StageCurrent)
	if acct, _ := e.login(t, cur); acct != e.user+"_clone@127.0.0.1" {
		t.Fatalf("AWSCURRENT logs in as %q, want the clone on 127.0.0.1", acct)
	}
	if err := e.useGrant(t.Context(), cur); err != nil {
		t.Fatal(err)
	}
}
