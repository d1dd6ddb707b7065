package postgres

import (
	"context"
	"fmt"
	"net"
	"net/url"
	"strconv"

	"github.com/jackc/pgx/v5"
)

// connect logs in to the database d describes as user with password.
// The password never enters a connection string, so no parse error can
// echo it.
func (o *Options) connect(ctx context.Context, d dbSecret, user, password string) (*pgx.Conn, error) {
	u := url.URL{
		Scheme:   "postgres",
		User:     url.User(user),
		Host:     net.JoinHostPort(d.host, strconv.Itoa(d.port)),
		Path:     "/" + d.dbname,
		RawQuery: url.Values{"sslmode": {o.SSLMode}}.Encode(),
	}
	cfg, err := pgx.ParseConfig(u.String())
	if err != nil {
		return nil, fmt.Errorf("postgres: connection config for %s@%s: %w", user, u.Host, err)
	}
	cfg.Password = password
	cfg.ConnectTimeout = o.ConnectTimeout
	if o.ConnConfig != nil {
		o.ConnConfig(cfg)
	}
	ctx, cancel := context.WithTimeout(ctx, o.ConnectTimeout)
	defer cancel()
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("postgres: log in as %q to %s: %w", user, u.Host, err)
	}
	return conn, nil
}

// closeConn closes conn within a short time even when ctx has ended.
func closeConn(ctx context.Context, conn *pgx.Conn) {
	conn.Close(context.WithoutCancel(ctx)) //nolint:errcheck // nothing to do about a failed Terminate
}
