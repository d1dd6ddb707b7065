package mysql_test

import (
	"fmt"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/rekeyhq/rekey/rotation"
)

// showGrants returns SHOW GRANTS FOR user@host with the grantee replaced
// by a placeholder and MariaDB's password hash removed, sorted.
func (e *env) showGrants(t testing.TB, user string) []string {
	t.Helper()
	db := rootDB(t, e.my)
	defer db.Close()
	rows, err := db.QueryContext(t.Context(), "SHOW GRANTS FOR ?@?", user, e.host)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	grantee := "`" + strings.ReplaceAll(user, "`", "``") + "`@`" + e.host + "`"
	hash := regexp.MustCompile(` IDENTIFIED BY PASSWORD '[^']*'`)
	var out []string
	for rows.Next() {
		var l string
		if err := rows.Scan(&l); err != nil {
			t.Fatal(err)
		}
		out = append(out, hash.ReplaceAllString(strings.ReplaceAll(l, grantee, "GRANTEE"), ""))
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	slices.Sort(out)
	return out
}

// TestAlternatingCopiesEveryGrant gives the original account one grant of
// every kind SHOW GRANTS prints, and checks that the clone has each, by
// SHOW GRANTS and by statements that need them.
func TestAlternatingCopiesEveryGrant(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	n := userSeq.Add(1)
	role, other := fmt.Sprintf("reader%d", n), fmt.Sprintf("other%d", n)
	e.root(t, "CREATE DATABASE "+ident(other))
	e.root(t, "CREATE TABLE "+ident(other)+".t2 (v int, secret int)")
	e.root(t, "CREATE ROLE "+ident(role))
	e.root(t, "CREATE ROLE "+ident(role+"x"))
	e.root(t, "CREATE PROCEDURE "+ident(e.db)+".p() SELECT 42")
	t.Cleanup(func() {
		e.root(t, "DROP ROLE IF EXISTS "+ident(role))
		e.root(t, "DROP ROLE IF EXISTS "+ident(role+"x"))
		e.root(t, "DROP DATABASE IF EXISTS "+ident(other))
	})
	e.root(t, "GRANT SELECT ON "+ident(other)+".* TO "+ident(role))
	for _, g := range []string{
		"GRANT UPDATE ON " + ident(e.db) + ".* TO ?@? WITH GRANT OPTION",
		"GRANT INSERT (v) ON " + ident(other) + ".t2 TO ?@?",
		"GRANT EXECUTE ON PROCEDURE " + ident(e.db) + ".p TO ?@?",
		"GRANT " + ident(role) + " TO ?@? WITH ADMIN OPTION",
		"SET DEFAULT ROLE " + ident(role) + " FOR ?@?",
		"ALTER USER ?@? WITH MAX_QUERIES_PER_HOUR 5000",
	} {
		e.root(t, g, e.user, e.host)
	}
	want := e.showGrants(t, e.user)
	if len(want) != 6 {
		t.Fatalf("test premise: SHOW GRANTS has %d lines: %q", len(want), want)
	}

	r := newRotator(t, e.sm, alternatingUsers(t, e.superARN))
	if err := r.Rotate(t.Context(), e.arn); err != nil {
		t.Fatal(err)
	}
	clone := e.requireRotated(t, creds{e.user, e.initial})
	if got := e.showGrants(t, clone.user); !slices.Equal(got, want) {
		t.Fatalf("clone's grants:\n%q\nwant the original's:\n%q", got, want)
	}
	db := e.open(clone)
	defer db.Close()
	for _, stmt := range []string{
		"SELECT COUNT(*) FROM " + ident(other) + ".t2", // through the default role
		"INSERT INTO " + ident(other) + ".t2 (v) VALUES (1)",
		"UPDATE t SET v = 3",
		"CALL p()",
		"GRANT UPDATE ON " + ident(e.db) + ".* TO " + ident(role), // WITH GRANT OPTION
		"GRANT " + ident(role) + " TO " + ident(role+"x"),         // WITH ADMIN OPTION
	} {
		if _, err := db.ExecContext(t.Context(), stmt); err != nil {
			t.Errorf("as the clone: %s: %v", stmt, err)
		}
	}
	for _, stmt := range []string{
		"INSERT INTO " + ident(other) + ".t2 (secret) VALUES (1)", // the column grant is only on v
		"DELETE FROM t",
	} {
		if _, err := db.ExecContext(t.Context(), stmt); err == nil {
			t.Errorf("as the clone: %s succeeded; a grant the original lacks was given", stmt)
		}
	}

	// A grant the original gains later reaches the clone at the next
	// rotation that sets the clone's password.
	e.root(t, "GRANT DELETE ON "+ident(e.db)+".* TO ?@?", e.user, e.host)
	for range 2 {
		if err := r.Rotate(t.Context(), e.arn); err != nil {
			t.Fatal(err)
		}
	}
	if got, want := e.showGrants(t, clone.user), e.showGrants(t, e.user); !slices.Equal(got, want) {
		t.Fatalf("after the original gained DELETE, the clone's grants:\n%q\nwant:\n%q", got, want)
	}
}

// TestAlternatingVerifyNeedsTheGrants: the secret's dbname makes Verify's
// login need a privilege on it, so a clone that lost its grants fails
// testSecret, and the next rotation that sets its password copies them
// again.
func TestAlternatingVerifyNeedsTheGrants(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	alt := alternatingUsers(t, e.superARN)
	r := newRotator(t, e.sm, alt)
	if err := r.Rotate(t.Context(), e.arn); err != nil {
		t.Fatal(err)
	}
	clone := e.requireRotated(t, creds{e.user, e.initial})
	e.root(t, "REVOKE ALL PRIVILEGES ON "+ident(e.db)+".* FROM ?@?", clone.user, e.host)
	out, err := e.sm.GetSecretValue(t.Context(), &secretsmanager.GetSecretValueInput{SecretId: &e.arn})
	if err != nil {
		t.Fatal(err)
	}
	s := rotation.NewSecret(e.arn, aws.ToString(out.VersionId), out.VersionStages, []byte(aws.ToString(out.SecretString)))
	if err := alt.Verify(t.Context(), s); err == nil || !strings.Contains(err.Error(), "Error 1044") {
		t.Fatalf("Verify of a clone without grants = %v, want the server's 1044 (no access to the database)", err)
	}
	for range 2 { // back to the original, then to the clone, whose grants are copied again
		if err := r.Rotate(t.Context(), e.arn); err != nil {
			t.Fatal(err)
		}
	}
	if err := e.useGrant(t.Context(), e.mustLogin(t, rotation.StageCurrent)); err != nil {
		t.Fatalf("the clone's grants were not copied again: %v", err)
	}
}
