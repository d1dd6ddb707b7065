package leakaudit_test

import (
	"encoding/json"
	"errors"
	"os"
	"strings"
	"testing"
	"time"

	mysqldriver "github.com/go-sql-driver/mysql"

	"github.com/rekeyhq/rekey/dbretry"
	dbmysql "github.com/rekeyhq/rekey/dbretry/mysql"
	"github.com/rekeyhq/rekey/internal/mysqltest"
	"github.com/rekeyhq/rekey/rotation"
	"github.com/rekeyhq/rekey/rotation/mysql"
)

// mysqlValue is an RDS secret JSON for a MySQL-family engine.
func mysqlValue(engine, host string, port int, user, password string) string {
	b, _ := json.Marshal(map[string]any{"engine": engine, "host": host, "port": port, "username": user, "password": password})
	return string(b)
}

// auditMySQL drives rotation/mysql and dbretry/mysql as auditRotation and
// auditDBRetry drive their PostgreSQL twins: bad secrets, a refused login
// and a full rotation against a real MariaDB when there is one.
func auditMySQL(t *testing.T, e *env) {
	a, ctx := e.a, t.Context()
	var my *mysqltest.Server
	if _, err := mysqltest.Available(); err == nil || os.Getenv(mysqltest.RequireEnv) == "1" {
		my = mysqltest.Start(t)
	} else {
		t.Logf("MariaDB unavailable (%v): MySQL logins are not audited", err)
	}
	withLog := func(o *rotation.Options) { o.Logger = a.logger }
	myLog := func(o *mysql.Options) { o.Logger = a.logger; o.TLS = "false"; o.ConnectTimeout = 2 * time.Second }

	// Values only the MySQL strategies look at: an "ssl" key holding the
	// marker, and an engine of another family.
	e.create(t, "audit/my-badssl", `{"engine":"mysql","host":"db","username":"app","password":"`+a.marker+`","ssl":"`+a.marker+`"}`)
	e.create(t, "audit/my-postgres", mysqlValue("postgres", "db", 5432, "app", a.marker))

	single, err := mysql.SingleUser(myLog)
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{"audit/malformed", "audit/text", "audit/binary", "audit/rds-missing", "audit/rds-badport", "audit/wrongtype", "audit/rds-wrongtype", "audit/my-badssl", "audit/my-postgres"} {
		err := newRotator(t, e.sm, single, withLog).Rotate(ctx, id)
		a.seeErr("mysql.SingleUser "+id, err)
		if se := wantAs[*rotation.StepError](t, "mysql.SingleUser "+id, err); se != nil && se.Step != rotation.CreateSecret {
			t.Errorf("mysql.SingleUser %s: failed in %s, want createSecret", id, se.Step)
		}
		if err != nil && !strings.Contains(err.Error(), "mysql: ") {
			t.Errorf("mysql.SingleUser %s: error %q does not name the package", id, err)
		}
	}
	_, err = mysql.AlternatingUsers("")
	a.seeErr("mysql.AlternatingUsers empty superuser id", err)
	wantPrefix(t, "mysql.AlternatingUsers empty superuser id", err, "mysql: ")
	a.seeValue("mysql.Options", mysql.Options{ConnectTimeout: time.Second, TLS: "preferred"})

	// dbretry/mysql: credentials it cannot use get an error before any login.
	c := newCache(t, e, e.sm)
	for _, tc := range []struct {
		id     string
		engine bool // want a *dbmysql.EngineError
	}{
		{"audit/malformed", false},
		{"audit/rds-badport", false},
		{"audit/rds-wrongtype", false},
		{"audit/my-postgres", true},
	} {
		src, err := dbretry.NewSource(c, tc.id, func(o *dbretry.Options) { o.Logger = a.logger })
		if err != nil {
			t.Fatal(err)
		}
		db := dbmysql.OpenDB(src)
		err = db.PingContext(ctx)
		db.Close()
		a.seeErr("dbretry/mysql Ping "+tc.id, err)
		if err == nil {
			t.Errorf("dbretry/mysql Ping %s: no error", tc.id)
		}
		if ee := (*dbmysql.EngineError)(nil); errors.As(err, &ee) != tc.engine {
			t.Errorf("dbretry/mysql Ping %s: error %v; EngineError in its chain: %v, want %v", tc.id, err, !tc.engine, tc.engine)
		} else if ee != nil {
			a.seeValue("*mysql.EngineError", ee)
		}
	}
	if my == nil {
		return
	}

	// A refused login: the secret's password (the marker) is not the
	// account's.
	my.Exec(t, "CREATE USER 'audit_my'@'%' IDENTIFIED BY 'the-real-password'")
	my.Exec(t, "GRANT SELECT ON mysql.user TO 'audit_my'@'%'")
	e.create(t, "audit/my-rds", mysqlValue("mariadb", my.Host(), my.Port(), "audit_my", a.marker))
	src, err := dbretry.NewSource(c, "audit/my-rds", func(o *dbretry.Options) {
		o.Logger = a.logger
		o.RetryBudget = 300 * time.Millisecond
		o.MinBackoff = 10 * time.Millisecond
		o.MaxBackoff = 50 * time.Millisecond
	})
	if err != nil {
		t.Fatal(err)
	}
	db := dbmysql.OpenDB(src)
	defer db.Close()
	err = db.PingContext(ctx)
	a.seeErr("dbretry/mysql Ping refused", err)
	wantAs[*dbretry.RetryError](t, "dbretry/mysql Ping refused", err)
	if me := wantAs[*mysqldriver.MySQLError](t, "dbretry/mysql Ping refused", err); me != nil && me.Number != 1045 {
		t.Errorf("dbretry/mysql Ping refused: error %d, want 1045", me.Number)
	}
	if !dbretry.IsAuthError(err) {
		t.Errorf("dbretry/mysql Ping refused: IsAuthError false for %v", err)
	}
	err = newRotator(t, e.sm, single, withLog).Rotate(ctx, "audit/my-rds")
	a.seeErr("mysql.SingleUser refused login", err)
	wantAs[*rotation.StepError](t, "mysql.SingleUser refused login", err)

	// A full single-user rotation whose current password is the marker, so
	// every debug line of a successful run is audited; then the pool logs
	// in with the rotated password.
	my.Exec(t, "ALTER USER 'audit_my'@'%' IDENTIFIED BY '"+a.marker+"'")
	if err := newRotator(t, e.sm, single, withLog).Rotate(ctx, "audit/my-rds"); err != nil {
		t.Fatalf("mysql.SingleUser Rotate: %v", err)
	}
	c.Invalidate("audit/my-rds")
	if err := db.PingContext(ctx); err != nil {
		t.Errorf("dbretry/mysql Ping after rotation: %v", err)
	}

	// Alternating users whose superuser secret is malformed.
	e.create(t, "audit/my-rds-alt", mysqlValue("mysql", my.Host(), my.Port(), "audit_my", a.marker))
	alt, err := mysql.AlternatingUsers("audit/malformed", myLog)
	if err != nil {
		t.Fatal(err)
	}
	err = newRotator(t, e.sm, alt, withLog).Rotate(ctx, "audit/my-rds-alt")
	a.seeErr("mysql.AlternatingUsers malformed superuser", err)
	wantAs[*rotation.StepError](t, "mysql.AlternatingUsers malformed superuser", err)
}
