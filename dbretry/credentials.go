package dbretry

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"

	"github.com/rekeyhq/rekey/internal/rdssecret"
	"github.com/rekeyhq/rekey/secretcache"
)

// Credentials are the connection settings of one version of an RDS-format
// database secret.
//
// String, GoString, Format, LogValue and MarshalJSON never show
// Password, whatever the verb or handler, also when the Credentials are
// an exported field of another struct, or in a slice or map. One case
// remains that no method can cover: fmt and slog's TextHandler print an
// UNEXPORTED struct field by reflection without calling its methods, so
// fmt.Sprintf("%v", struct{ c Credentials }{c}) shows the password. Keep
// Credentials out of unexported fields of values that get printed, or
// print them through their String method.
type Credentials struct {
	// Engine is the "engine" key, e.g. "postgres" or "mysql"; "" if absent.
	Engine string
	// Host is the "host" key. Required.
	Host string
	// Port is the "port" key, a JSON number or numeric string in
	// 1..65535; 0 if absent, meaning the driver's default.
	Port int
	// Username is the "username" key. Required.
	Username string
	// Password is the "password" key. Required.
	Password string
	// DBName is the "dbname" key; "" if absent, meaning the connection
	// config's database.
	DBName string
	// VersionID is the id of the secret version the credentials were read
	// from.
	VersionID string
}

// ParseCredentials decodes the SecretString of s as an RDS secret:
//
//	{"engine":"postgres","host":"db.example.com","port":5432,
//	 "username":"app","password":"…","dbname":"app"}
//
// host, username and password are required and must be non-empty strings;
// engine, port (a JSON integer or numeric string in 1..65535) and dbname
// are optional; other keys are ignored. Keys are case-sensitive, as in
// AWS's rotation functions. The rotation strategies read secrets with the
// same parser. Errors name the secret, the version and the offending key,
// never a value; a value that is not JSON wraps secretcache.ErrInvalidJSON.
func ParseCredentials(s *secretcache.Secret) (Credentials, error) {
	if s == nil {
		return Credentials{}, errors.New("dbretry: ParseCredentials of a nil secret")
	}
	var fields map[string]json.RawMessage
	if err := s.Unmarshal(&fields); err != nil {
		// secretcache's message names the secret and never quotes the value.
		return Credentials{}, fmt.Errorf("dbretry: secret %q version %s is not an RDS secret: %w", secretName(s), s.VersionID(), err)
	}
	r, err := rdssecret.FromFields(fields)
	if err != nil {
		switch {
		case errors.Is(err, rdssecret.ErrNotObject):
			return Credentials{}, fmt.Errorf("dbretry: secret %q version %s is not an RDS secret: %w", secretName(s), s.VersionID(), err)
		case errors.Is(err, rdssecret.ErrNotString):
			// A JSON type mismatch, as secretcache reports one.
			return Credentials{}, fmt.Errorf("dbretry: secret %q version %s is not an RDS secret: %w: %w", secretName(s), s.VersionID(), secretcache.ErrInvalidJSON, err)
		}
		return Credentials{}, fmt.Errorf("dbretry: secret %q version %s: %w", secretName(s), s.VersionID(), err)
	}
	return Credentials{Engine: r.Engine, Host: r.Host, Port: r.Port, Username: r.Username, Password: r.Password, DBName: r.DBName, VersionID: s.VersionID()}, nil
}

func secretName(s *secretcache.Secret) string {
	if n := s.Name(); n != "" {
		return n
	}
	return s.ARN()
}

// String describes c without its password, e.g.
// "postgres app@db.example.com:5432/app version 3f2a… (password redacted)".
func (c Credentials) String() string {
	engine := c.Engine
	if engine == "" {
		engine = "database"
	}
	return fmt.Sprintf("%s %s@%s:%d/%s version %s (password redacted)", engine, c.Username, c.Host, c.Port, c.DBName, c.VersionID)
}

// GoString is like String in Go syntax, for %#v; the password is redacted.
func (c Credentials) GoString() string {
	return fmt.Sprintf("dbretry.Credentials{Engine:%q, Host:%q, Port:%d, Username:%q, Password:<redacted>, DBName:%q, VersionID:%q}",
		c.Engine, c.Host, c.Port, c.Username, c.DBName, c.VersionID)
}

// Format implements fmt.Formatter so that no verb, including %x, %q and
// %+v, prints the password.
func (c Credentials) Format(f fmt.State, verb rune) {
	switch {
	case verb == 'v' && f.Flag('#'):
		fmt.Fprint(f, c.GoString())
	case verb == 'q':
		fmt.Fprintf(f, "%q", c.String())
	default:
		fmt.Fprint(f, c.String())
	}
}

// MarshalJSON encodes every field but the password, under the Go field
// names: {"Engine":…,"Host":…,"Port":…,"Username":…,"DBName":…,
// "VersionID":…}. It keeps slog's JSONHandler and encoding/json from
// showing the password; a Credentials cannot be recovered from it.
func (c Credentials) MarshalJSON() ([]byte, error) {
	return json.Marshal(struct {
		Engine, Host string
		Port         int
		Username     string
		DBName       string
		VersionID    string
	}{c.Engine, c.Host, c.Port, c.Username, c.DBName, c.VersionID})
}

// LogValue implements slog.LogValuer: every field but the password.
func (c Credentials) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("engine", c.Engine), slog.String("host", c.Host), slog.Int("port", c.Port),
		slog.String("username", c.Username), slog.String("dbname", c.DBName), slog.String("version_id", c.VersionID))
}
