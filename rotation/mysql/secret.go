package mysql

import (
	"fmt"
	"strings"

	"github.com/rekeyhq/rekey/internal/rdssecret"
	"github.com/rekeyhq/rekey/rotation"
)

// defaultPort applies when the secret leaves port out, as in AWS's own
// rotation functions.
const defaultPort = 3306

// engines are the "engine" values a MySQL-family secret may carry; RDS
// writes "mysql", "mariadb", "aurora-mysql" and, for Aurora MySQL 1,
// "aurora".
var engines = []string{"mysql", "mariadb", "aurora-mysql", "aurora"}

// tlsSetting is what a secret's "ssl" key asks for.
type tlsSetting int

const (
	sslUnset tlsSetting = iota // no "ssl" key: Options.TLS applies
	sslOn                      // TLS required
	sslOff                     // plaintext
)

// dbSecret is a secret value in the RDS format, with MySQL's defaults
// applied. Keys other than these are kept as they are when the pending
// value is built.
type dbSecret struct {
	host     string
	port     int
	username string
	password string
	dbname   string // "" when the secret has none: no default database
	ssl      tlsSetting

	parsed rdssecret.Secret // every key, as stored
}

// parseSecret decodes s's value with the parser dbretry and
// rotation/postgres use too. Its errors name the secret's version and the
// offending key, never a value.
func parseSecret(s rotation.Secret) (dbSecret, error) {
	where := fmt.Sprintf("secret %q version %s", s.ARN, s.VersionID)
	r, err := rdssecret.Parse(s.Value())
	if err != nil {
		return dbSecret{}, fmt.Errorf("mysql: %s: %w", where, err)
	}
	if r.Engine != "" && !isEngine(r.Engine) {
		return dbSecret{}, fmt.Errorf("mysql: %s: engine %q is not one of %s", where, r.Engine, strings.Join(engines, ", "))
	}
	on, set, err := r.SSL()
	if err != nil {
		return dbSecret{}, fmt.Errorf("mysql: %s: %w", where, err)
	}
	d := dbSecret{host: r.Host, port: r.Port, username: r.Username, password: r.Password, dbname: r.DBName, parsed: r}
	if d.port == 0 {
		d.port = defaultPort
	}
	switch {
	case set && on:
		d.ssl = sslOn
	case set:
		d.ssl = sslOff
	}
	return d, nil
}

// parseVersions parses the pending and the current version of v.
func parseVersions(v rotation.Versions) (pending, current dbSecret, err error) {
	if pending, err = parseSecret(v.Pending); err != nil {
		return dbSecret{}, dbSecret{}, err
	}
	if current, err = parseSecret(v.Current); err != nil {
		return dbSecret{}, dbSecret{}, err
	}
	return pending, current, nil
}

// isEngine ignores case, as dbretry/mysql does, so that a secret one
// accepts the other accepts too.
func isEngine(e string) bool {
	for _, ok := range engines {
		if strings.EqualFold(e, ok) {
			return true
		}
	}
	return false
}

// with returns the JSON of d with username and password replaced and every
// other key kept.
func (d dbSecret) with(username, password string) ([]byte, error) {
	return d.parsed.With(username, password)
}
