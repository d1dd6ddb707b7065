package dbretry

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"
)

// OpenDB returns a *sql.DB on pgx's database/sql driver whose connections
// log in with src's credentials. Its driver.Connector opens each
// connection through Connect: a refused login is retried inside the
// connector, so database/sql never sees it, and no statement is retried.
//
// The connection config starts from pgx.ParseConfig("host=localhost")
// (PG* environment variables apply; sslmode defaults to prefer); optFns
// then modify it once, e.g. to set TLSConfig or RuntimeParams; host,
// port, database, user and password are set from the secret for every
// connection (database and port only when the secret has them).
//
// OpenDB cannot fail, as sql.OpenDB cannot: a nil src, or a config that
// cannot be built, makes every connect fail with an error starting with
// "dbretry: ", so errors surface at the first connect (db.PingContext).
// OpenDB makes no API call and opens no connection; close the *sql.DB
// when done, then src.
func OpenDB(src *Source, optFns ...func(*pgx.ConnConfig)) *sql.DB {
	return sql.OpenDB(newConnector(src, optFns))
}

type connector struct {
	src   *Source
	inner driver.Connector
	err   error // from building the config; returned by every Connect
}

func newConnector(src *Source, optFns []func(*pgx.ConnConfig)) *connector {
	if src == nil {
		return &connector{err: errors.New("dbretry: OpenDB with a nil *Source")}
	}
	cfg, err := pgx.ParseConfig("host=localhost")
	if err != nil {
		return &connector{src: src, err: fmt.Errorf("dbretry: building the connection config: %w", err)}
	}
	for _, fn := range optFns {
		fn(cfg)
	}
	before := stdlib.OptionBeforeConnect(func(ctx context.Context, cc *pgx.ConnConfig) error {
		c, err := src.Credentials(ctx)
		if err != nil {
			return err
		}
		applyCredentials(cc, c)
		return nil
	})
	return &connector{src: src, inner: stdlib.GetConnector(*cfg, before)}
}

// Connect opens a connection, retrying a refused login as Connect does.
func (c *connector) Connect(ctx context.Context) (driver.Conn, error) {
	if c.err != nil {
		return nil, c.err
	}
	if err := c.src.check(); err != nil {
		return nil, err
	}
	return retry(ctx, c.src, func() (driver.Conn, error) { return c.inner.Connect(ctx) }, pgxRefused)
}

// Driver returns pgx's database/sql driver.
func (c *connector) Driver() driver.Driver { return stdlib.GetDefaultDriver() }
