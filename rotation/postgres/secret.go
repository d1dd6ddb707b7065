package postgres

import (
	"fmt"

	"github.com/rekeyhq/rekey/internal/rdssecret"
	"github.com/rekeyhq/rekey/rotation"
)

// defaultPort and defaultDatabase apply when the secret leaves port or
// dbname out, as in AWS's own rotation functions.
const (
	defaultPort     = 5432
	defaultDatabase = "postgres"
)

// dbSecret is a secret value in the RDS format, with PostgreSQL's defaults
// applied. Keys other than these are kept as they are when the pending
// value is built.
type dbSecret struct {
	host     string
	port     int
	username string
	password string
	dbname   string

	parsed rdssecret.Secret // every key, as stored
}

// parseSecret decodes s's value with the parser dbretry uses too. Its
// errors name the secret's version and the offending key, never a value.
func parseSecret(s rotation.Secret) (dbSecret, error) {
	where := fmt.Sprintf("secret %q version %s", s.ARN, s.VersionID)
	r, err := rdssecret.Parse(s.Value())
	if err != nil {
		return dbSecret{}, fmt.Errorf("postgres: %s: %w", where, err)
	}
	if r.Engine != "" && r.Engine != "postgres" && r.Engine != "aurora-postgresql" {
		return dbSecret{}, fmt.Errorf("postgres: %s: engine %q is not postgres", where, r.Engine)
	}
	d := dbSecret{host: r.Host, port: r.Port, username: r.Username, password: r.Password, dbname: r.DBName, parsed: r}
	if d.port == 0 {
		d.port = defaultPort
	}
	if d.dbname == "" {
		d.dbname = defaultDatabase
	}
	return d, nil
}

// with returns the JSON of d with username and password replaced and every
// other key kept.
func (d dbSecret) with(username, password string) ([]byte, error) {
	return d.parsed.With(username, password)
}
