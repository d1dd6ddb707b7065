package mysql

import (
	"context"
	"database/sql"
	"fmt"
	"net"
	"strconv"
	"strings"

	mysqldriver "github.com/go-sql-driver/mysql"
)

// session is one logged-in connection and the account the server matched
// the login to.
type session struct {
	db   *sql.DB
	conn *sql.Conn

	user, host string // CURRENT_USER(): the account whose privileges apply
	mariadb    bool   // VERSION() names MariaDB
}

// tlsMode returns the driver's TLS mode for a login to the database d
// describes: the secret's "ssl" key when it has one, else Options.TLS.
func (o *Options) tlsMode(d dbSecret) string {
	switch d.ssl {
	case sslOn:
		if o.TLS == "true" {
			return "true"
		}
		return "skip-verify"
	case sslOff:
		return "false"
	}
	return o.TLS
}

// connect logs in to the database d describes as user with password and
// reads which account the server matched. The password never enters a
// DSN, so no parse error can echo it.
func (o *Options) connect(ctx context.Context, d dbSecret, user, password string) (*session, error) {
	addr := net.JoinHostPort(d.host, strconv.Itoa(d.port))
	cfg := mysqldriver.NewConfig()
	cfg.Net = "tcp"
	cfg.Addr = addr
	cfg.User = user
	cfg.Passwd = password
	cfg.DBName = d.dbname
	cfg.Timeout = o.ConnectTimeout
	mode := o.tlsMode(d)
	cfg.TLSConfig = mode
	cfg.AllowFallbackToPlaintext = mode == "preferred"
	if o.Config != nil {
		o.Config(cfg)
	}
	if mode == "false" {
		// Plaintext was asked for, by the secret or Options.TLS.
		cfg.TLS, cfg.TLSConfig = nil, "false"
	}
	// Every statement with a value passes it as an argument, which the
	// driver quotes for the session's sql_mode (NO_BACKSLASH_ESCAPES
	// included): ALTER USER and CREATE USER take no server-side
	// placeholders.
	cfg.InterpolateParams = true
	connector, err := mysqldriver.NewConnector(cfg)
	if err != nil {
		return nil, fmt.Errorf("mysql: connection config for %q at %s: %w", user, addr, err)
	}
	db := sql.OpenDB(connector)
	cctx, cancel := context.WithTimeout(ctx, o.ConnectTimeout)
	defer cancel()
	conn, err := db.Conn(cctx)
	if err == nil {
		err = conn.PingContext(cctx)
	}
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("mysql: log in as %q to %s (TLS %s): %w", user, addr, mode, err)
	}
	s := &session{db: db, conn: conn}
	var current, version string
	if err := conn.QueryRowContext(ctx, "SELECT CURRENT_USER(), VERSION()").Scan(&current, &version); err != nil {
		s.close()
		return nil, fmt.Errorf("mysql: reading CURRENT_USER() as %q at %s: %w", user, addr, err)
	}
	// CURRENT_USER() is user@host; a user name may hold '@', a host not.
	i := strings.LastIndexByte(current, '@')
	if i < 0 {
		s.close()
		return nil, fmt.Errorf("mysql: CURRENT_USER() of %q at %s is %q, not user@host", user, addr, current)
	}
	s.user, s.host = current[:i], current[i+1:]
	s.mariadb = strings.Contains(strings.ToLower(version), "mariadb")
	return s, nil
}

// close closes the session's connection and pool.
func (s *session) close() {
	s.conn.Close()
	s.db.Close()
}
