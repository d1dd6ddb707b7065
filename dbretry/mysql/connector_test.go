package mysql_test

import (
	"context"
	"crypto/tls"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	mysqldriver "github.com/go-sql-driver/mysql"

	"github.com/rekeyhq/rekey/dbretry"
	"github.com/rekeyhq/rekey/dbretry/mysql"
	"github.com/rekeyhq/rekey/secretcache"
)

// newSource returns a Source for e's secret, closed at cleanup after
// every *sql.DB the test opens later.
func newSource(t *testing.T, e *env, optFns ...func(*dbretry.Options)) *dbretry.Source {
	t.Helper()
	src, err := dbretry.NewSource(e.cache, secretName, optFns...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { src.Close() })
	return src
}

func openDB(t *testing.T, src *dbretry.Source, optFns ...func(*mysqldriver.Config)) *sql.DB {
	t.Helper()
	db := mysql.OpenDB(src, optFns...)
	t.Cleanup(func() { db.Close() })
	return db
}

func currentUser(ctx context.Context, db *sql.DB) (string, error) {
	var u string
	err := db.QueryRowContext(ctx, "SELECT CURRENT_USER()").Scan(&u)
	return u, err
}

func TestOpenDBLogsInWithTheSecret(t *testing.T) {
	e, _ := newEnv(t)
	src := newSource(t, e)
	db := openDB(t, src)
	if u, err := currentUser(t.Context(), db); err != nil || u != e.user+"@%" {
		t.Fatalf("CURRENT_USER() = %q, %v; want %s@%%", u, err, e.user)
	}
	if d, ok := db.Driver().(*mysqldriver.MySQLDriver); !ok || d == nil {
		t.Errorf("Driver() = %T, want *mysqldriver.MySQLDriver", db.Driver())
	}
	if s := src.Stats(); s.AuthFailures != 0 {
		t.Errorf("Stats = %+v, want no auth failure", s)
	}
}

// A new connection in the single-user window (the database has the
// AWSPENDING password, AWSCURRENT the old one) logs in with AWSPENDING
// after one refusal and one re-read of two API calls.
func TestOpenDBLogsInDuringTheSingleUserWindow(t *testing.T) {
	// No MinRefreshInterval: the re-read is not answered from the cache.
	e, _ := newEnv(t, func(o *secretcache.Options) { o.MinRefreshInterval = -1 })
	src := newSource(t, e)
	db := openDB(t, src)
	db.SetMaxIdleConns(0) // every query logs in anew
	if _, err := currentUser(t.Context(), db); err != nil {
		t.Fatal(err)
	}
	pending := e.openWindow(t)
	before := e.cacheCalls()

	if u, err := currentUser(t.Context(), db); err != nil || u != e.user+"@%" {
		t.Fatalf("query in the window: %q, %v; want %s@%%", u, err, e.user)
	}
	s := src.Stats()
	if s.AuthFailures != 1 || s.Rereads != 1 || s.Switches != 1 || s.Exhausted != 0 {
		t.Errorf("Stats = %+v, want 1 refusal, 1 re-read, 1 switch", s)
	}
	if calls := e.cacheCalls() - before; calls != 2 {
		t.Errorf("%d API calls for the window, want 2 (DescribeSecret, GetSecretValue AWSPENDING)", calls)
	}
	c, err := src.Credentials(t.Context())
	if err != nil || c.VersionID != pending {
		t.Errorf("Credentials = version %s, %v; want AWSPENDING %s", c.VersionID, err, pending)
	}
	// Later logins use AWSPENDING without refusals or API calls.
	before = e.cacheCalls()
	for range 5 {
		if _, err := currentUser(t.Context(), db); err != nil {
			t.Fatal(err)
		}
	}
	if s2 := src.Stats(); s2.AuthFailures != s.AuthFailures || e.cacheCalls() != before {
		t.Errorf("after the switch: Stats %+v and %d API calls, want no new refusal or call", s2, e.cacheCalls()-before)
	}
}

// A password changed outside rotation is refused until the budget ends;
// the error is a *dbretry.RetryError wrapping the driver's 1045, and no
// password appears in it.
func TestOpenDBGivesUpWithARetryError(t *testing.T) {
	e, pw := newEnv(t)
	src := newSource(t, e, func(o *dbretry.Options) {
		o.RetryBudget = 300 * time.Millisecond
		o.MinBackoff, o.MaxBackoff = 20*time.Millisecond, 50*time.Millisecond
	})
	outside := newPassword()
	e.my.Exec(t, "ALTER USER "+quote(e.user)+"@'%' IDENTIFIED BY "+quote(outside))

	_, err := currentUser(t.Context(), openDB(t, src))
	var re *dbretry.RetryError
	var me *mysqldriver.MySQLError
	if !errors.As(err, &re) || !errors.As(err, &me) || me.Number != 1045 || !dbretry.IsAuthError(err) {
		t.Fatalf("error = %v, want a *dbretry.RetryError wrapping MySQL error 1045", err)
	}
	if re.Attempts < 2 || re.SecretID != secretName {
		t.Errorf("RetryError = %+v, want several attempts on %s", re, secretName)
	}
	for _, secret := range []string{pw, outside} {
		if msg := fmt.Sprintf("%v %+v %#v", err, err, err); strings.Contains(msg, secret) {
			t.Fatalf("error output contains a password: %s", msg)
		}
	}
}

// Error 1044 (the password was right, the database is off limits) is
// returned at once: a new password would not help.
func TestOpenDBDoesNotRetryDatabaseAccessDenied(t *testing.T) {
	e, pw := newEnv(t)
	e.my.Exec(t, "CREATE DATABASE IF NOT EXISTS offlimits")
	e.extra = map[string]any{"dbname": "offlimits"}
	e.putCurrent(t, e.value(e.user, pw))
	src := newSource(t, e)

	began := time.Now()
	_, err := currentUser(t.Context(), openDB(t, src))
	var me *mysqldriver.MySQLError
	if !errors.As(err, &me) || me.Number != 1044 || errors.As(err, new(*dbretry.RetryError)) {
		t.Fatalf("error = %v, want MySQL error 1044 returned as is", err)
	}
	if s := src.Stats(); s.AuthFailures != 0 || time.Since(began) > 5*time.Second {
		t.Errorf("Stats = %+v after %v, want no retry", s, time.Since(began))
	}
}

func TestOpenDBSecrets(t *testing.T) {
	for _, tc := range []struct {
		name    string
		extra   map[string]any
		wantErr string // "" for a working login
		engine  bool   // want an *EngineError
	}{
		{name: "engine mysql", extra: map[string]any{"engine": "mysql"}},
		{name: "engine mariadb", extra: map[string]any{"engine": "mariadb"}},
		{name: "engine aurora-mysql", extra: map[string]any{"engine": "aurora-mysql"}},
		{name: "engine in capitals", extra: map[string]any{"engine": "MariaDB"}},
		{name: "no engine", extra: map[string]any{"engine": nil}},
		{name: "port as string", extra: map[string]any{"port": "PORT"}},
		{name: "engine postgres", extra: map[string]any{"engine": "postgres"}, wantErr: `is for engine "postgres"`, engine: true},
		{name: "engine sqlserver", extra: map[string]any{"engine": "sqlserver"}, wantErr: `is for engine "sqlserver"`, engine: true},
		{name: "missing host", extra: map[string]any{"host": nil}, wantErr: `missing key "host"`},
		{name: "missing username", extra: map[string]any{"username": nil}, wantErr: `missing key "username"`},
		{name: "port not a number", extra: map[string]any{"port": "mysql"}, wantErr: `key "port"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e, pw := newEnv(t)
			e.extra = tc.extra
			if tc.extra["port"] == "PORT" {
				e.extra = map[string]any{"port": fmt.Sprint(e.my.Port())}
			}
			version := e.putCurrent(t, e.value(e.user, pw))
			src := newSource(t, e)
			u, err := currentUser(t.Context(), openDB(t, src))
			if tc.wantErr == "" {
				if err != nil || u != e.user+"@%" {
					t.Fatalf("CURRENT_USER() = %q, %v; want %s@%%", u, err, e.user)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) || !strings.Contains(err.Error(), secretName) {
				t.Fatalf("error = %v, want one naming the secret and containing %q", err, tc.wantErr)
			}
			if strings.Contains(err.Error(), pw) {
				t.Fatalf("error contains the password: %v", err)
			}
			var ee *mysql.EngineError
			if got := errors.As(err, &ee); got != tc.engine {
				t.Fatalf("errors.As(*EngineError) = %v, want %v", got, tc.engine)
			}
			if tc.engine && (ee.Engine != tc.extra["engine"] || ee.VersionID != version || ee.SecretID != secretName) {
				t.Errorf("EngineError = %+v, want engine %v, version %s", ee, tc.extra["engine"], version)
			}
			if s := src.Stats(); s.AuthFailures != 0 {
				t.Errorf("Stats = %+v: a bad secret must not be retried as a refused login", s)
			}
		})
	}
}

// The TLS settings of the caller's config are kept; a ServerName naming
// the config's own host follows the secret's host.
func TestOpenDBKeepsTLS(t *testing.T) {
	e, _ := newEnv(t)
	src := newSource(t, e)
	cipher := func(db *sql.DB) (string, error) {
		var name, c string
		err := db.QueryRowContext(t.Context(), "SHOW SESSION STATUS LIKE 'Ssl_cipher'").Scan(&name, &c)
		return c, err
	}

	t.Run("verified", func(t *testing.T) {
		db := openDB(t, src, func(c *mysqldriver.Config) { c.TLS = e.my.TLSConfig() })
		if c, err := cipher(db); err != nil || c == "" {
			t.Fatalf("Ssl_cipher = %q, %v; want a TLS session", c, err)
		}
	})
	t.Run("ServerName follows the secret's host", func(t *testing.T) {
		db := openDB(t, src, func(c *mysqldriver.Config) {
			c.Addr = "db.invalid:3306"
			c.TLS = e.my.TLSConfig()
			c.TLS.ServerName = "db.invalid"
		})
		if c, err := cipher(db); err != nil || c == "" {
			t.Fatalf("Ssl_cipher = %q, %v; want a TLS session verified for 127.0.0.1", c, err)
		}
	})
	t.Run("other ServerName kept", func(t *testing.T) {
		db := openDB(t, src, func(c *mysqldriver.Config) {
			c.TLS = e.my.TLSConfig()
			c.TLS.ServerName = "proxy.example"
		})
		_, err := cipher(db)
		var certErr *tls.CertificateVerificationError
		if !errors.As(err, &certErr) || dbretry.IsAuthError(err) {
			t.Fatalf("error = %v, want a certificate error for proxy.example, not retried", err)
		}
	})
	t.Run("untrusted certificate", func(t *testing.T) {
		db := openDB(t, src, func(c *mysqldriver.Config) { c.TLS = &tls.Config{ServerName: "127.0.0.1"} })
		if _, err := cipher(db); err == nil {
			t.Fatal("TLS login without trusting the server's certificate succeeded")
		}
	})
	if s := src.Stats(); s.AuthFailures != 0 {
		t.Errorf("Stats = %+v, want no refused login", s)
	}
}

func TestNewConnectorBadConfig(t *testing.T) {
	e, _ := newEnv(t)
	src := newSource(t, e)
	before := e.cacheCalls()
	db := openDB(t, src, func(c *mysqldriver.Config) { c.TLSConfig = "no-such-tls-config" })
	for range 2 {
		if err := db.PingContext(t.Context()); err == nil || !strings.Contains(err.Error(), "no-such-tls-config") || !strings.HasPrefix(err.Error(), "mysql: ") {
			t.Fatalf("Ping = %v, want the driver's config error", err)
		}
	}
	if e.cacheCalls() != before {
		t.Errorf("%d API calls with a config that cannot work, want none", e.cacheCalls()-before)
	}

	db = sql.OpenDB(mysql.NewConnector(nil))
	defer db.Close()
	if err := db.PingContext(t.Context()); err == nil || !strings.Contains(err.Error(), "nil *dbretry.Source") {
		t.Errorf("Ping with a nil Source = %v", err)
	}
}

// MariaDB refuses a login to an account switched to unix_socket
// authentication with error 1698, not 1045; it is a refused login too,
// retried until the budget ends.
func TestOpenDBRetriesMariaDBNoPasswordRefusal(t *testing.T) {
	e, _ := newEnv(t)
	src := newSource(t, e, func(o *dbretry.Options) {
		o.RetryBudget = 300 * time.Millisecond
		o.MinBackoff, o.MaxBackoff = 20*time.Millisecond, 50*time.Millisecond
	})
	e.my.Exec(t, "ALTER USER "+quote(e.user)+"@'%' IDENTIFIED VIA unix_socket")

	_, err := currentUser(t.Context(), openDB(t, src))
	var me *mysqldriver.MySQLError
	if !errors.As(err, &me) || me.Number != 1698 || !errors.As(err, new(*dbretry.RetryError)) {
		t.Fatalf("error = %v, want a *dbretry.RetryError wrapping MySQL error 1698", err)
	}
	if s := src.Stats(); s.AuthFailures < 2 || s.Exhausted != 1 {
		t.Errorf("Stats = %+v, want several refusals and one connect that gave up", s)
	}
}
