package mysql

import (
	"fmt"
	"strings"

	"github.com/rekeyhq/rekey/dbretry"
)

// engines are the values of a secret's "engine" key that this package
// accepts, as RDS and Aurora write them.
var engines = []string{"mysql", "mariadb", "aurora", "aurora-mysql"}

// EngineError reports a secret whose "engine" key names a database engine
// outside the MySQL family (e.g. "postgres"): its credentials are not for
// a MySQL server, so no login is tried. Accepted are an absent or empty
// key and, ignoring case, mysql, mariadb, aurora and aurora-mysql.
type EngineError struct {
	// SecretID is the secret the credentials came from.
	SecretID string
	// VersionID is the version read.
	VersionID string
	// Engine is the secret's "engine" value.
	Engine string
}

// Error names the secret, the version and the engine; never a password.
func (e *EngineError) Error() string {
	return fmt.Sprintf("mysql: secret %q version %s is for engine %q, not one of %s",
		e.SecretID, e.VersionID, e.Engine, strings.Join(engines, ", "))
}

func checkEngine(secretID string, c dbretry.Credentials) error {
	if c.Engine == "" {
		return nil
	}
	for _, e := range engines {
		if strings.EqualFold(c.Engine, e) {
			return nil
		}
	}
	return &EngineError{SecretID: secretID, VersionID: c.VersionID, Engine: c.Engine}
}
