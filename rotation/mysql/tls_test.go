package mysql_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	mysqldriver "github.com/go-sql-driver/mysql"

	"github.com/rekeyhq/rekey/rotation"
	"github.com/rekeyhq/rekey/rotation/mysql"
)

// TestSecretSSLKey: users that must log in over TLS (REQUIRE SSL) rotate
// when the secret asks for TLS or says nothing (TLS is tried first), with
// the certificate verified when Options.TLS is "true"; "ssl": false means
// plaintext, which such a user cannot use, and a wrong CA fails rather than
// falling back.
func TestSecretSSLKey(t *testing.T) {
	trust := func(o *mysql.Options) {
		o.TLS = "true"
		o.Config = func(c *mysqldriver.Config) { c.TLS = server(t).TLSConfig() }
	}
	wrongCA := func(o *mysql.Options) {
		o.TLS = "true" // system roots, which do not hold the test server's CA
	}
	for _, tc := range []struct {
		name    string
		ssl     any // the secret's "ssl" value; nil: no key
		opt     func(*mysql.Options)
		wantErr string
	}{
		{"no key", nil, func(*mysql.Options) {}, ""},
		{"true", true, func(*mysql.Options) {}, ""},
		{"string true, verified", "true", trust, ""},
		{"true, unknown CA", true, wrongCA, "certificate"},
		{"no key, unknown CA", nil, wrongCA, "certificate"},
		{"false", false, func(*mysql.Options) {}, "Error 1045"},
		{"string false", "false", func(*mysql.Options) {}, "Error 1045"},
	} {
		for _, st := range strategies {
			t.Run(tc.name+"/"+st.name, func(t *testing.T) {
				t.Parallel()
				e := newEnvWith(t, fmt.Sprintf("tls%d", userSeq.Add(1)), "%", "initial-tls")
				e.root(t, "ALTER USER ?@? REQUIRE SSL", e.user, e.host)
				v := map[string]any{"engine": "mysql", "host": e.my.Host(), "port": e.my.Port(), "username": e.user, "password": e.initial, "dbname": e.db, "note": "kept"}
				if tc.ssl != nil {
					v["ssl"] = tc.ssl
				}
				e.arn = e.createSecretValue(t, fmt.Sprintf("db/tls%d", userSeq.Add(1)), v)
				r := newRotator(t, e.sm, st.new(t, e, tc.opt))
				err := r.Rotate(t.Context(), e.arn)
				if tc.wantErr == "" {
					if err != nil {
						t.Fatalf("Rotate: %v", err)
					}
					if cur, _ := e.version(t, rotation.StageCurrent); cur.user == e.user && cur.password == e.initial {
						t.Fatal("AWSCURRENT did not change")
					}
					return
				}
				// Alternating users with plaintext: the superuser, who may
				// log in so, makes the clone, which may not; testSecret
				// finds out.
				wantStep := rotation.SetSecret
				if st.name == "alternating" && tc.wantErr == "Error 1045" {
					wantStep = rotation.TestSecret
				}
				var se *rotation.StepError
				if err == nil || !errors.As(err, &se) || se.Step != wantStep || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("Rotate = %v, want %s to fail with %q", err, wantStep, tc.wantErr)
				}
				if cur, _ := e.version(t, rotation.StageCurrent); cur != (creds{e.user, e.initial}) {
					t.Fatal("a failed rotation moved AWSCURRENT")
				}
			})
		}
	}
}
