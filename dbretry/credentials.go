package dbretry

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"

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
// engine, port and dbname are optional; other keys are ignored. Errors name
// the secret, the version and the offending key, never a value.
func ParseCredentials(s *secretcache.Secret) (Credentials, error) {
	if s == nil {
		return Credentials{}, errors.New("dbretry: ParseCredentials of a nil secret")
	}
	var raw struct {
		Engine   *string         `json:"engine"`
		Host     *string         `json:"host"`
		Port     json.RawMessage `json:"port"`
		Username *string         `json:"username"`
		Password *string         `json:"password"`
		DBName   *string         `json:"dbname"`
	}
	if err := s.Unmarshal(&raw); err != nil {
		// secretcache's message names the secret and never quotes the value.
		return Credentials{}, fmt.Errorf("dbretry: secret %q version %s is not an RDS secret: %w", secretName(s), s.VersionID(), err)
	}
	c := Credentials{VersionID: s.VersionID()}
	for _, f := range []struct {
		key      string
		src      *string
		dst      *string
		required bool
	}{
		{"engine", raw.Engine, &c.Engine, false},
		{"host", raw.Host, &c.Host, true},
		{"username", raw.Username, &c.Username, true},
		{"password", raw.Password, &c.Password, true},
		{"dbname", raw.DBName, &c.DBName, false},
	} {
		switch {
		case f.src != nil && *f.src != "":
			*f.dst = *f.src
		case !f.required:
		case f.src == nil:
			return Credentials{}, fmt.Errorf("dbretry: secret %q version %s: missing key %q", secretName(s), s.VersionID(), f.key)
		default:
			return Credentials{}, fmt.Errorf("dbretry: secret %q version %s: key %q is empty", secretName(s), s.VersionID(), f.key)
		}
	}
	port, err := parsePort(raw.Port)
	if err != nil {
		return Credentials{}, fmt.Errorf("dbretry: secret %q version %s: key \"port\": %w", secretName(s), s.VersionID(), err)
	}
	c.Port = port
	return c, nil
}

// parsePort accepts a JSON integer or a string holding one, in 1..65535;
// absent or null is 0. Its errors do not quote the value.
func parsePort(raw json.RawMessage) (int, error) {
	text := strings.TrimSpace(string(raw))
	if text == "" || text == "null" {
		return 0, nil
	}
	if strings.HasPrefix(text, `"`) {
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return 0, errors.New("not a valid JSON string")
		}
		text = strings.TrimSpace(s)
	}
	n, err := strconv.Atoi(text)
	if err != nil {
		return 0, errors.New("want an integer or a numeric string")
	}
	if n < 1 || n > 65535 {
		return 0, errors.New("out of range 1..65535")
	}
	return n, nil
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
