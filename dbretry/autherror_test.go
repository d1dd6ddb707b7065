package dbretry_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"sync/atomic"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/rekeyhq/rekey/dbretry"
	"github.com/rekeyhq/rekey/secretcache"
)

// MySQLError is go-sql-driver/mysql's *MySQLError, as of v1.7.
type MySQLError struct {
	Number   uint16
	SQLState [5]byte
	Message  string
}

func (e *MySQLError) Error() string {
	return fmt.Sprintf("Error %d (%s): %s", e.Number, e.SQLState[:], e.Message)
}

// otherDriverError has MySQLError's fields under another name: some other
// driver's error, whose numbers mean something else.
type otherDriverError struct {
	Number   uint16
	SQLState [5]byte
}

func (e *otherDriverError) Error() string { return "other " + strconv.Itoa(int(e.Number)) }

// asSQLState offers a SQLState error only through an As method, as
// wrappers that convert errors do.
type asSQLState struct{ code string }

func (e asSQLState) Error() string { return "wrapped driver error" }

func (e asSQLState) As(target any) bool {
	if p, ok := target.(*interface{ SQLState() string }); ok {
		*p = sqlStateError(e.code)
		return true
	}
	return false
}

// sqlStateError is a driver error exposing only SQLState().
type sqlStateError string

func (e sqlStateError) Error() string    { return "sqlstate " + string(e) }
func (e sqlStateError) SQLState() string { return string(e) }

func TestIsAuthError(t *testing.T) {
	pg := database(t)
	app := newRole(t, pg, "right")
	locked := newRole(t, pg, "right")
	pg.Exec(t, "ALTER ROLE "+locked+" NOLOGIN")
	connect := func(user, password string) error {
		t.Helper()
		conn, err := pgx.ConnectConfig(t.Context(), pg.ConnConfig(user, password))
		if err == nil {
			conn.Close(t.Context())
			t.Fatalf("login as %s succeeded", user)
		}
		return err
	}
	wrongPassword := connect(app, "wrong")
	noLogin := connect(locked, "right")
	statement := func() error {
		conn, err := pgx.ConnectConfig(t.Context(), pg.ConnConfig(pg.SuperUser, pg.SuperPassword))
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close(t.Context())
		_, err = conn.Exec(t.Context(), "SELEC 1")
		return err
	}()
	refused := func() error {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		port := l.Addr().(*net.TCPAddr).Port
		l.Close()
		cfg := pg.ConnConfig(app, "right")
		cfg.Port = uint16(port)
		_, err = pgx.ConnectConfig(t.Context(), cfg)
		return err
	}()
	cancelled := func() error {
		ctx, cancel := context.WithCancel(t.Context())
		cancel()
		_, err := pgx.ConnectConfig(ctx, pg.ConnConfig(app, "wrong"))
		return err
	}()

	for _, tc := range []struct {
		name string
		err  error
		want bool
	}{
		{"postgres wrong password 28P01", wrongPassword, true},
		{"postgres role without LOGIN 28000", noLogin, true},
		{"postgres wrapped with %w", fmt.Errorf("connecting: %w", wrongPassword), true},
		{"postgres in errors.Join", errors.Join(errors.New("other"), noLogin), true},
		{"postgres syntax error 42601", statement, false},
		{"connection refused", refused, false},
		{"context cancelled", cancelled, false},
		{"pgconn.PgError 28P01 value", &pgconn.PgError{Code: "28P01"}, true},
		{"pgconn.PgError 28000 value", &pgconn.PgError{Code: "28000"}, true},
		{"pgconn.PgError 3D000 (no database)", &pgconn.PgError{Code: "3D000"}, false},
		{"SQLState() 28P01", sqlStateError("28P01"), true},
		{"SQLState() 08006", sqlStateError("08006"), false},
		{"mysql 1045 access denied", &MySQLError{Number: 1045, SQLState: [5]byte{'2', '8', '0', '0', '0'}, Message: "Access denied for user 'app'@'10.0.0.1' (using password: YES)"}, true},
		{"mysql 1698 SQLSTATE 28000", &MySQLError{Number: 1698, SQLState: [5]byte{'2', '8', '0', '0', '0'}}, true},
		{"mysql 1045 wrapped", fmt.Errorf("open: %w", &MySQLError{Number: 1045}), true},
		{"mysql 1062 duplicate entry", &MySQLError{Number: 1062, SQLState: [5]byte{'2', '3', '0', '0', '0'}}, false},
		{"mysql 1044 database access denied", &MySQLError{Number: 1044, SQLState: [5]byte{'4', '2', '0', '0', '0'}}, false},
		{"mysql 1045 in errors.Join", errors.Join(errors.New("other"), &MySQLError{Number: 1045}), true},
		{"typed nil mysql pointer", (*MySQLError)(nil), false},
		{"MySQLError fields, other type name, 1045", &otherDriverError{Number: 1045}, false},
		{"MySQLError fields, other type name, 28000", &otherDriverError{SQLState: [5]byte{'2', '8', '0', '0', '0'}}, false},
		{"As offers SQLState 28P01", asSQLState{"28P01"}, true},
		{"As offers SQLState 28P01, wrapped", fmt.Errorf("db: %w", asSQLState{"28P01"}), true},
		{"As offers SQLState 42601", asSQLState{"42601"}, false},
		{"second of two SQLState errors", errors.Join(sqlStateError("08006"), &pgconn.PgError{Code: "28P01"}), true},
		{"plain error", errors.New("password authentication failed"), false},
		{"nil", nil, false},
		{"retry error", &dbretry.RetryError{Err: wrongPassword}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := dbretry.IsAuthError(tc.err); got != tc.want {
				t.Errorf("IsAuthError(%v) = %v, want %v", tc.err, got, tc.want)
			}
		})
	}
}

// driverRefusal is a refused login of a driver IsAuthError knows nothing
// about: no SQLSTATE, no MySQLError shape.
type driverRefusal struct{ code int }

func (e *driverRefusal) Error() string { return "driver: login refused, code " + strconv.Itoa(e.code) }

func TestMarkAuthError(t *testing.T) {
	raw := &driverRefusal{code: 7}
	if dbretry.IsAuthError(raw) {
		t.Fatal("IsAuthError(unmarked driver error) = true; the test proves nothing")
	}
	marked := dbretry.MarkAuthError(raw)
	for name, err := range map[string]error{
		"marked":         marked,
		"wrapped":        fmt.Errorf("connecting: %w", marked),
		"joined":         errors.Join(errors.New("other"), marked),
		"in RetryError":  &dbretry.RetryError{SecretID: "s", Err: marked},
		"marked twice":   dbretry.MarkAuthError(marked),
		"marked wrapper": dbretry.MarkAuthError(fmt.Errorf("dial: %w", raw)),
	} {
		t.Run(name, func(t *testing.T) {
			if !dbretry.IsAuthError(err) {
				t.Errorf("IsAuthError(%v) = false, want true", err)
			}
			var got *driverRefusal
			if !errors.As(err, &got) || got != raw {
				t.Errorf("errors.As(%v) does not find the driver's error", err)
			}
		})
	}
	if marked.Error() != raw.Error() {
		t.Errorf("marked message %q, want the driver's %q", marked.Error(), raw.Error())
	}
	if dbretry.MarkAuthError(nil) != nil {
		t.Error("MarkAuthError(nil) != nil")
	}
}

// Connect retries exactly what the connect function marks: a marked
// refusal finds the new password, an unmarked one is returned at once.
func TestConnectRetriesMarkedRefusals(t *testing.T) {
	e := newEnv(t, nil, "old", func(o *secretcache.Options) { o.MinRefreshInterval = -1 })
	src := newSource(t, e.cache, secretName)
	t.Cleanup(func() { src.Close() })
	var password atomic.Pointer[string]
	newPW := "new"
	password.Store(&newPW)
	var logins atomic.Int64
	connect := func(mark bool) func(context.Context, dbretry.Credentials) (string, error) {
		return func(_ context.Context, c dbretry.Credentials) (string, error) {
			logins.Add(1)
			if c.Password != *password.Load() {
				err := error(&driverRefusal{code: 1})
				if mark {
					err = dbretry.MarkAuthError(err)
				}
				return "", err
			}
			return c.VersionID, nil
		}
	}

	_, err := dbretry.Connect(t.Context(), src, connect(false))
	if !errors.As(err, new(*driverRefusal)) || errors.As(err, new(*dbretry.RetryError)) || logins.Load() != 1 {
		t.Fatalf("unmarked refusal: Connect = %v after %d logins, want the driver's error at once", err, logins.Load())
	}

	version := e.putCurrent(t, "new")
	logins.Store(0)
	got, err := dbretry.Connect(t.Context(), src, connect(true))
	if err != nil || got != version || logins.Load() != 2 {
		t.Fatalf("marked refusal: Connect = %q, %v after %d logins; want version %s after 2", got, err, logins.Load(), version)
	}
}
