// Package rdssecret decodes the JSON secret format of Amazon RDS database
// credentials, for every engine, without ever quoting the value in an error.
//
// The format, as AWS's rotation functions read it:
//
//	{"engine":"postgres","host":"db.example.com","port":5432,
//	 "username":"app","password":"…","dbname":"app","masterarn":"arn:…"}
//
// host, username and password are required non-empty strings; engine,
// port, dbname, masterarn and others are optional. port is a JSON integer
// or a string holding one. dbretry and the rotation strategies share this
// parser so that a secret one accepts the other accepts too; each applies
// its own engine's defaults (default port, database) and engine check.
package rdssecret

import (
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// Secret is one decoded secret value. It holds the password: callers keep
// it out of logs and errors.
type Secret struct {
	Engine    string // "engine"; "" if absent
	Host      string // "host"; required
	Port      int    // "port" in 1..65535; 0 if absent or null
	Username  string // "username"; required
	Password  string // "password"; required
	DBName    string // "dbname"; "" if absent
	MasterARN string // "masterarn" (alternating users); "" if absent

	// Fields are every key as stored, so that a new version can keep the
	// keys this package does not know (see With).
	Fields map[string]json.RawMessage
}

// ErrNotObject is wrapped by Parse's error when the value is not a JSON
// object at all.
var ErrNotObject = errors.New("not a JSON object")

// ErrNotString is wrapped by the error for a string key (host, username,
// ...) holding another JSON type.
var ErrNotString = errors.New("is not a string")

// Parse decodes value. Its errors name the offending key and never quote a
// value: a JSON syntax error reports only its byte offset, because
// encoding/json's message can quote the input.
func Parse(value []byte) (Secret, error) {
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(value, &fields); err != nil {
		if se := (*json.SyntaxError)(nil); errors.As(err, &se) {
			return Secret{}, fmt.Errorf("%w: not valid JSON (syntax error at byte %d)", ErrNotObject, se.Offset)
		}
		return Secret{}, ErrNotObject
	}
	return FromFields(fields)
}

// FromFields is Parse for a value already decoded into its keys (by a
// caller with its own JSON checks); nil fields (JSON null) is not an
// object.
func FromFields(fields map[string]json.RawMessage) (Secret, error) {
	if fields == nil {
		return Secret{}, ErrNotObject
	}
	s := Secret{Fields: fields}
	keys := []struct {
		key      string
		required bool
		dst      *string
	}{
		{"engine", false, &s.Engine},
		{"host", true, &s.Host},
		{"username", true, &s.Username},
		{"password", true, &s.Password},
		{"dbname", false, &s.DBName},
		{"masterarn", false, &s.MasterARN},
	}
	// Types first, then presence: a value of the wrong shape is reported
	// as such even when a required key is missing too.
	present := make([]bool, len(keys))
	for i, f := range keys {
		raw, ok := fields[f.key]
		if !ok || string(raw) == "null" {
			continue
		}
		if err := json.Unmarshal(raw, f.dst); err != nil {
			return Secret{}, fmt.Errorf("key %q %w", f.key, ErrNotString)
		}
		present[i] = true
	}
	for i, f := range keys {
		switch {
		case !f.required:
		case !present[i]:
			return Secret{}, fmt.Errorf("missing key %q", f.key)
		case *f.dst == "":
			return Secret{}, fmt.Errorf("key %q is empty", f.key)
		}
	}
	port, err := parsePort(fields["port"])
	if err != nil {
		return Secret{}, fmt.Errorf("key \"port\": %w", err)
	}
	s.Port = port
	return s, nil
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

// ErrNotBool is wrapped by SSL's error when "ssl" holds neither a JSON
// boolean nor the string "true" or "false".
var ErrNotBool = errors.New(`is neither a boolean nor "true" or "false"`)

// SSL reads the optional "ssl" key, which AWS's rotation functions accept
// as a JSON boolean or as the string "true" or "false" in any case. set is
// false when the key is absent or null. Parse does not check the key, so
// that engines which ignore it keep accepting any value there; its error
// does not quote the value.
func (s Secret) SSL() (on, set bool, err error) {
	raw, ok := s.Fields["ssl"]
	if !ok || string(raw) == "null" {
		return false, false, nil
	}
	if json.Unmarshal(raw, &on) == nil {
		return on, true, nil
	}
	var str string
	if json.Unmarshal(raw, &str) == nil {
		switch {
		case strings.EqualFold(str, "true"):
			return true, true, nil
		case strings.EqualFold(str, "false"):
			return false, true, nil
		}
	}
	return false, false, fmt.Errorf("key \"ssl\" %w", ErrNotBool)
}

// With returns the JSON of s's stored fields with username and password
// replaced and every other key kept as stored.
func (s Secret) With(username, password string) ([]byte, error) {
	fields := make(map[string]json.RawMessage, len(s.Fields)+2)
	for k, v := range s.Fields {
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
