package mysql

import (
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"

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

// dbSecret is a secret value in the RDS format. Fields other than these are
// kept as they are when the pending value is built.
type dbSecret struct {
	host     string
	port     int
	username string
	password string
	dbname   string // "" when the secret has none: no default database
	ssl      tlsSetting

	fields map[string]json.RawMessage // every field, as stored
}

// parseSecret decodes s's value. Its errors name the secret's version and
// the offending key, never a value: a JSON syntax error reports only its
// offset, because its message can quote the input.
func parseSecret(s rotation.Secret) (dbSecret, error) {
	where := fmt.Sprintf("secret %q version %s", s.ARN, s.VersionID)
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(s.Value(), &fields); err != nil {
		var se *json.SyntaxError
		if errors.As(err, &se) {
			return dbSecret{}, fmt.Errorf("mysql: %s is not valid JSON (syntax error at byte %d)", where, se.Offset)
		}
		return dbSecret{}, fmt.Errorf("mysql: %s is not a JSON object", where)
	}
	if fields == nil {
		return dbSecret{}, fmt.Errorf("mysql: %s is not a JSON object", where)
	}
	d := dbSecret{port: defaultPort, fields: fields}
	str := func(key string, required bool, dst *string) error {
		raw, ok := fields[key]
		if !ok || string(raw) == "null" {
			if required {
				return fmt.Errorf("mysql: %s has no %q key", where, key)
			}
			return nil
		}
		var v string
		if err := json.Unmarshal(raw, &v); err != nil {
			return fmt.Errorf("mysql: %s: %q is not a string", where, key)
		}
		if v == "" && required {
			return fmt.Errorf("mysql: %s: %q is empty", where, key)
		}
		*dst = v
		return nil
	}
	var engine string
	for _, f := range []struct {
		key      string
		required bool
		dst      *string
	}{
		{"engine", false, &engine},
		{"host", true, &d.host},
		{"username", true, &d.username},
		{"password", true, &d.password},
		{"dbname", false, &d.dbname},
	} {
		if err := str(f.key, f.required, f.dst); err != nil {
			return dbSecret{}, err
		}
	}
	if engine != "" && !isEngine(engine) {
		return dbSecret{}, fmt.Errorf("mysql: %s: engine %q is not one of %s", where, engine, strings.Join(engines, ", "))
	}
	if raw, ok := fields["port"]; ok && string(raw) != "null" {
		var n json.Number
		var quoted string
		if err := json.Unmarshal(raw, &quoted); err == nil {
			n = json.Number(quoted)
		} else if err := json.Unmarshal(raw, &n); err != nil {
			return dbSecret{}, fmt.Errorf("mysql: %s: \"port\" is neither a number nor a string", where)
		}
		p, err := strconv.Atoi(string(n))
		if err != nil || p < 1 || p > 65535 {
			// The value is not echoed: a malformed secret may hold anything.
			return dbSecret{}, fmt.Errorf("mysql: %s: \"port\" is not a port number (1 to 65535)", where)
		}
		d.port = p
	}
	if raw, ok := fields["ssl"]; ok && string(raw) != "null" {
		// AWS's functions accept a boolean or the strings "true"/"false".
		var b bool
		var str string
		switch {
		case json.Unmarshal(raw, &b) == nil:
		case json.Unmarshal(raw, &str) == nil && strings.EqualFold(str, "true"):
			b = true
		case json.Unmarshal(raw, &str) == nil && strings.EqualFold(str, "false"):
			b = false
		default:
			return dbSecret{}, fmt.Errorf("mysql: %s: \"ssl\" is neither a boolean nor \"true\" or \"false\"", where)
		}
		d.ssl = sslOff
		if b {
			d.ssl = sslOn
		}
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

func isEngine(e string) bool {
	for _, ok := range engines {
		if e == ok {
			return true
		}
	}
	return false
}

// with returns the JSON of d with username and password replaced and every
// other field kept.
func (d dbSecret) with(username, password string) ([]byte, error) {
	fields := make(map[string]json.RawMessage, len(d.fields)+2)
	for k, v := range d.fields {
		fields[k] = v
	}
	var err error
	if fields["username"], err = json.Marshal(username); err != nil {
		return nil, err
	}
	if fields["password"], err = json.Marshal(password); err != nil {
		return nil, err
	}
	return json.Marshal(fields)
}
