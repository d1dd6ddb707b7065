package dbretry

import (
	"crypto/tls"
	"errors"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// applyCredentials points cc at the database c names. It never modifies
// what cc shares with other copies (Fallbacks, TLSConfig), because
// database/sql's pgx connector hands out shallow copies.
func applyCredentials(cc *pgx.ConnConfig, c Credentials) {
	oldHost, oldPort := cc.Host, cc.Port
	cc.Host = c.Host
	if c.Port != 0 {
		cc.Port = uint16(c.Port)
	}
	cc.User, cc.Password = c.Username, c.Password
	if c.DBName != "" {
		cc.Database = c.DBName
	}
	cc.TLSConfig = retarget(cc.TLSConfig, oldHost, cc.Host)
	// Fallbacks list the hosts of the parsed connection string, each with
	// its TLS variants (sslmode=prefer: TLS, then plain). Keep the
	// variants of the first host, aimed at the secret's host.
	var fbs []*pgconn.FallbackConfig
	for _, f := range cc.Fallbacks {
		if f.Host == oldHost && f.Port == oldPort {
			fbs = append(fbs, &pgconn.FallbackConfig{Host: cc.Host, Port: cc.Port, TLSConfig: retarget(f.TLSConfig, oldHost, cc.Host)})
		}
	}
	cc.Fallbacks = fbs
}

// retarget returns t with ServerName set to newHost if it named oldHost.
func retarget(t *tls.Config, oldHost, newHost string) *tls.Config {
	if t == nil || t.ServerName != oldHost || oldHost == newHost {
		return t
	}
	t = t.Clone()
	t.ServerName = newHost
	return t
}

// pgxRefused reports whether err is a pgx connect refused for its
// credentials, and with which login. A *pgconn.ConnectError marks an
// error from opening a connection, before any statement ran; only those
// are retried.
func pgxRefused(err error) (login, bool) {
	if !IsAuthError(err) {
		return login{}, false
	}
	var ce *pgconn.ConnectError
	if !errors.As(err, &ce) || ce.Config == nil {
		return login{}, false
	}
	return login{user: ce.Config.User, password: ce.Config.Password, known: true}, true
}
