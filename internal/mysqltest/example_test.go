package mysqltest_test

// These examples have no Output comment: they need MariaDB's server
// binaries, which a machine running `go test` may lack, so they are
// compiled (and kept correct) but not run. The tests run the same calls.

import (
	"database/sql"
	"errors"
	"fmt"
	"log"
	"testing"

	mysqldriver "github.com/go-sql-driver/mysql"

	"github.com/rekeyhq/rekey/internal/mysqltest"
)

// In a test, Start gives each test its own server, stopped and removed at
// cleanup, and skips the test where MariaDB is not installed (fails it
// instead when REKEY_REQUIRE_MYSQL=1, as in CI). Exec sets the server up
// as root; Config and DSN log in as any account.
func ExampleStart() {
	testLogin := func(t *testing.T) {
		my := mysqltest.Start(t)
		my.Exec(t, `CREATE DATABASE shop`)
		my.Exec(t, `CREATE TABLE shop.orders (id int PRIMARY KEY)`)
		my.Exec(t, `CREATE USER 'app'@'%' IDENTIFIED BY 'app-password'`)
		my.Exec(t, `GRANT SELECT ON shop.orders TO 'app'@'%'`)

		db, err := sql.Open("mysql", my.DSN("app", "app-password"))
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		var n int
		if err := db.QueryRowContext(t.Context(), `SELECT count(*) FROM shop.orders`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		// A wrong password is refused with error 1045, as on RDS.
		bad, _ := sql.Open("mysql", my.DSN("app", "wrong"))
		defer bad.Close()
		err = bad.PingContext(t.Context())
		var myErr *mysqldriver.MySQLError
		if !errors.As(err, &myErr) || myErr.Number != 1045 {
			t.Fatalf("login with a wrong password: %v, want error 1045", err)
		}
	}
	_ = testLogin // func TestLogin(t *testing.T) { ... } in a _test.go file
}

// Outside a test (a demo, a benchmark harness), StartServer returns a
// server the caller must Stop. An error wrapping ErrUnavailable means this
// machine cannot run MariaDB at all, as opposed to a server that failed.
func ExampleStartServer() {
	srv, err := mysqltest.StartServer()
	if errors.Is(err, mysqltest.ErrUnavailable) {
		fmt.Println("no MariaDB here:", err)
		return
	}
	if err != nil {
		log.Fatal(err)
	}
	defer srv.Stop()

	cfg := srv.Config(mysqltest.RootUser, srv.RootPassword())
	cfg.TLS = srv.TLSConfig() // optional: the server speaks TLS and plain
	connector, err := mysqldriver.NewConnector(cfg)
	if err != nil {
		log.Fatal(err)
	}
	db := sql.OpenDB(connector)
	defer db.Close()
	var version string
	if err := db.QueryRow(`SELECT VERSION()`).Scan(&version); err != nil {
		log.Fatal(err)
	}
	fmt.Println(version, "at", srv.Addr())
}
