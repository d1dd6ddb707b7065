package mysql

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"net"
	"strconv"

	mysqldriver "github.com/go-sql-driver/mysql"

	"github.com/rekeyhq/rekey/dbretry"
)

// MySQL server error numbers that mean "these credentials were refused".
const (
	// erAccessDenied is ER_ACCESS_DENIED_ERROR, MySQL's and MariaDB's
	// answer to a wrong password or an unknown user (SQLSTATE 28000).
	erAccessDenied = 1045
	// erAccessDeniedNoPassword is MariaDB's ER_ACCESS_DENIED_NO_PASSWORD_ERROR,
	// sent instead of 1045 when the client offered no password or the
	// account's plugin (e.g. unix_socket) refused it (SQLSTATE 28000).
	erAccessDeniedNoPassword = 1698
)

// DefaultPort is the port used when the secret has none.
const DefaultPort = 3306

// OpenDB returns a *sql.DB on go-sql-driver/mysql whose connections log in
// with src's credentials, through NewConnector: a refused login is retried
// inside the connector, as dbretry.Connect does, so database/sql never sees
// it, and no statement is retried.
//
// OpenDB cannot fail, as sql.OpenDB cannot: whatever NewConnector would
// report (a nil src, a config the driver rejects) surfaces at the first
// connect (db.PingContext). OpenDB makes no API call and opens no
// connection; close the *sql.DB when done, then src.
func OpenDB(src *dbretry.Source, optFns ...func(*mysqldriver.Config)) *sql.DB {
	return sql.OpenDB(NewConnector(src, optFns...))
}

// NewConnector returns a driver.Connector whose Connect opens a
// go-sql-driver/mysql connection with src's credentials through
// dbretry.Connect: a login refused with MySQL error 1045 or 1698 re-reads
// the secret (once for all connections refused with the same
// credentials), tries a new AWSCURRENT or the AWSPENDING version, and
// otherwise backs off within the Source's retry budget. Any other error,
// including 1044 (the login worked but the database is off limits), is
// returned at once.
//
// The config starts from mysqldriver.NewConfig() over TCP; optFns then
// modify it once, e.g. to set TLS, TLSConfig ("true", "preferred",
// "skip-verify" or a registered name), timeouts or Params. For every
// connection, Addr is set to the secret's host and port (DefaultPort when
// it has none), User and Passwd to its username and password, and DBName
// to its dbname when it has one. A TLS config's ServerName that is empty,
// or equal to the host of the Addr optFns set, follows the secret's host;
// any other ServerName is kept. A secret whose "engine" key is set to
// something other than mysql, mariadb, aurora or aurora-mysql fails the
// connect with an *EngineError.
//
// NewConnector cannot fail: a nil src, or a config the driver rejects,
// makes every Connect fail with an error starting with "mysql: ", so
// errors surface at the first connect. NewConnector makes no API call.
func NewConnector(src *dbretry.Source, optFns ...func(*mysqldriver.Config)) driver.Connector {
	if src == nil {
		return &connector{err: errors.New("mysql: NewConnector with a nil *dbretry.Source")}
	}
	cfg := mysqldriver.NewConfig()
	cfg.Net = "tcp"
	for _, fn := range optFns {
		fn(cfg)
	}
	c := &connector{src: src, base: cfg}
	if cfg.Addr != "" {
		c.oldHost, _, _ = net.SplitHostPort(cfg.Addr)
	}
	// Check the config once, on an address of the secret's shape, so that
	// a bad one fails every connect the same way.
	if _, err := mysqldriver.NewConnector(c.config(dbretry.Credentials{Host: "localhost", Username: "u"})); err != nil {
		c.err = fmt.Errorf("mysql: invalid driver config: %w", err)
	}
	return c
}

type connector struct {
	src     *dbretry.Source
	base    *mysqldriver.Config // never modified after NewConnector; cloned per connect
	oldHost string              // host of base.Addr, "" if none
	err     error               // returned by every Connect when not nil
}

// Connect opens a connection, retrying a refused login as dbretry.Connect
// does.
func (c *connector) Connect(ctx context.Context) (driver.Conn, error) {
	if c.err != nil {
		return nil, c.err
	}
	return dbretry.Connect(ctx, c.src, c.connect)
}

// connect makes one login attempt with creds.
func (c *connector) connect(ctx context.Context, creds dbretry.Credentials) (driver.Conn, error) {
	if err := checkEngine(c.src.SecretID(), creds); err != nil {
		return nil, err
	}
	inner, err := mysqldriver.NewConnector(c.config(creds))
	if err != nil {
		return nil, fmt.Errorf("mysql: invalid driver config: %w", err)
	}
	conn, err := inner.Connect(ctx)
	if err != nil && refused(err) {
		return nil, dbretry.MarkAuthError(err)
	}
	return conn, err
}

// config returns a copy of the base config pointed at the database creds
// name. The base, and its TLS config, are never modified.
func (c *connector) config(creds dbretry.Credentials) *mysqldriver.Config {
	cfg := c.base.Clone()
	port := creds.Port
	if port == 0 {
		port = DefaultPort
	}
	cfg.Addr = net.JoinHostPort(creds.Host, strconv.Itoa(port))
	cfg.User, cfg.Passwd = creds.Username, creds.Password
	if creds.DBName != "" {
		cfg.DBName = creds.DBName
	}
	if cfg.TLS != nil && c.oldHost != "" && cfg.TLS.ServerName == c.oldHost {
		// Clone gave cfg a TLS config of its own; the driver fills an
		// empty ServerName from Addr.
		cfg.TLS.ServerName = ""
	}
	return cfg
}

// Driver returns go-sql-driver/mysql's driver.
func (c *connector) Driver() driver.Driver { return &mysqldriver.MySQLDriver{} }

// refused reports whether err is the server refusing the login's
// credentials: MySQL error 1045, or MariaDB's 1698.
func refused(err error) bool {
	var me *mysqldriver.MySQLError
	if !errors.As(err, &me) {
		return false
	}
	return me.Number == erAccessDenied || me.Number == erAccessDeniedNoPassword
}
