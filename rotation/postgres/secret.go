package postgres

import (
	"encoding/json"
	"errors"
	"fmt"
	"strconv"

	"github.com/rekeyhq/rekey/rotation"
)

// defaultPort and defaultDatabase apply when the secret leaves port or
// dbname out, as in AWS's own rotation functions.
const (
	defaultPort     = 5432
	defaultDatabase = "postgres"
)

// dbSecret is a secret value in the RDS format. Fields other than these are
// kept as they are when the pending value is built.
type dbSecret struct {
	host     string
	port     int
	username string
	password string
	dbname   string

	fields map[string]json.RawMessage // every field, as stored
}

// parseSecret decodes s's value. Its errors name the secret's version and
// the offending key, never a value: a JSON syntax error reports only its
// offset, because its message can quote the input.
func parseSecret(s rotation.Secret) (dbSecret, error) {
	where := fmt.Sprintf("secret %q version %s", s.ARN, s.VersionID)
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(s.Value(), &fields); err != nil {
		if se := (*json.SyntaxError)(nil); errors.As(err, &se) {
			return dbSecret{}, fmt.Errorf("postgres: %s is not valid JSON (syntax error at byte %d)", where, se.Offset)
		}
		return dbSecret{}, fmt.Errorf("postgres: %s is not a JSON object", where)
	}
	if fields == nil {
		return dbSecret{}, fmt.Errorf("postgres: %s is not a JSON object", where)
	}
	d := dbSecret{port: defaultPort, dbname: defaultDatabase, fields: fields}
	str := func(key string, required bool, dst *string) error {
		raw, ok := fields[key]
		if !ok || string(raw) == "null" {
			if required {
				return fmt.Errorf("postgres: %s has no %q key", where, key)
			}
			return nil
		}
		var v string
		if err := json.Unmarshal(raw, &v); err != nil {
			return fmt.Errorf("postgres: %s: %q is not a string", where, key)
		}
		if v == "" && required {
			return fmt.Errorf("postgres: %s: %q is empty", where, key)
		}
		if v != "" {
			*dst = v
		}
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
	if engine != "" && engine != "postgres" && engine != "aurora-postgresql" {
		return dbSecret{}, fmt.Errorf("postgres: %s: engine %q is not postgres", where, engine)
	}
	if raw, ok := fields["port"]; ok && string(raw) != "null" {
		var n json.Number
		var quoted string
		if err := json.Unmarshal(raw, &quoted); err == nil {
			n = json.Number(quoted)
		} else if err := json.Unmarshal(raw, &n); err != nil {
			return dbSecret{}, fmt.Errorf("postgres: %s: \"port\" is neither a number nor a string", where)
		}
		p, err := strconv.Atoi(string(n))
		if err != nil || p < 1 || p > 65535 {
			// The value is not echoed: a malformed secret may hold anything.
			return dbSecret{}, fmt.Errorf("postgres: %s: \"port\" is not a port number (1 to 65535)", where)
		}
		d.port = p
	}
	return d, nil
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
