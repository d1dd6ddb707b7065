package pgtest_test

// These examples have no Output comment: they need PostgreSQL's server
// binaries, which a machine running `go test` may lack, so they are
// compiled (and kept correct) but not run. TestStartAcceptsSuperuserLogin
// and the other tests run the same calls.

import (
	"context"
	"errors"
	"fmt"
	"log"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/rekeyhq/rekey/internal/pgtest"
)

// In a test, Start gives each test its own server, stopped and removed at
// cleanup, and skips the test where PostgreSQL is not installed (fails it
// instead when REKEY_REQUIRE_POSTGRES=1, as in CI). Exec sets the database
// up as the superuser; DSN and ConnConfig log in as any role.
func ExampleStart() {
	testLogin := func(t *testing.T) {
		pg := pgtest.Start(t)
		pg.Exec(t, `CREATE ROLE app LOGIN PASSWORD 'app-password'`)
		pg.Exec(t, `CREATE TABLE orders (id int PRIMARY KEY)`)
		pg.Exec(t, `GRANT SELECT ON orders TO app`)

		conn, err := pgx.ConnectConfig(t.Context(), pg.ConnConfig("app", "app-password"))
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close(t.Context())
		var n int
		if err := conn.QueryRow(t.Context(), `SELECT count(*) FROM orders`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		// A wrong password is refused with SQLSTATE 28P01, as on RDS.
		_, err = pgx.Connect(t.Context(), pg.DSN("app", "wrong"))
		var pgErr *pgconn.PgError
		if !errors.As(err, &pgErr) || pgErr.Code != "28P01" {
			t.Fatalf("login with a wrong password: %v, want SQLSTATE 28P01", err)
		}
	}
	_ = testLogin // func TestLogin(t *testing.T) { ... } in a _test.go file
}

// Outside a test (a demo, a benchmark harness), StartServer returns a
// server the caller must Stop. An error wrapping ErrUnavailable means this
// machine cannot run PostgreSQL at all, as opposed to a server that failed.
func ExampleStartServer() {
	srv, err := pgtest.StartServer()
	if errors.Is(err, pgtest.ErrUnavailable) {
		fmt.Println("no PostgreSQL here:", err)
		return
	}
	if err != nil {
		log.Fatal(err)
	}
	defer srv.Stop()

	ctx := context.Background()
	conn, err := pgx.Connect(ctx, srv.SuperDSN())
	if err != nil {
		log.Fatal(err)
	}
	defer conn.Close(ctx)
	var version string
	if err := conn.QueryRow(ctx, `SHOW server_version`).Scan(&version); err != nil {
		log.Fatal(err)
	}
	fmt.Println("PostgreSQL", version, "at", srv.Host, srv.Port)
	fmt.Println(srv.DSN("app", "p@ss/word")) // user and password are escaped
}
