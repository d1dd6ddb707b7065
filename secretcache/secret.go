package secretcache

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"time"
)

// Well-known staging labels.
const (
	StageCurrent  = "AWSCURRENT"
	StagePrevious = "AWSPREVIOUS"
	StagePending  = "AWSPENDING"
)

// MaxValueSize is the largest secret value Secrets Manager stores and the
// cache accepts, in bytes.
const MaxValueSize = 65536

// Secret is one version of a secret: its metadata and its value. A Secret is
// immutable and shared by every caller that reads the same cached version;
// its methods are safe for concurrent use.
//
// String, GoString and Format print the metadata only, never the value,
// whatever the verb, for a *Secret and for a Secret value alike (fmt
// prints <nil> for a nil *Secret). LogValue makes log/slog show the same
// metadata and never the value.
type Secret struct {
	arn       string
	name      string
	versionID string
	created   time.Time
	stages    []string // never exposed; VersionStages returns a copy
	value     string   // the SecretString, or the SecretBinary bytes
	binary    bool
}

// ARN returns the secret's ARN in the Region that served it (see Region).
func (s *Secret) ARN() string { return s.arn }

// Region returns the AWS Region whose answer this Secret reflects: the
// Region field of its ARN, which is the primary's or, after a failover,
// the replica Region that served the value or last confirmed its stages
// (see Options.Replicas). It is "" if the service returned no ARN.
func (s *Secret) Region() string { return arnRegion(s.arn) }

// Name returns the secret's friendly name.
func (s *Secret) Name() string { return s.name }

// VersionID returns the id of this version. Versions are immutable: the same
// id always carries the same value.
func (s *Secret) VersionID() string { return s.versionID }

// VersionStages returns a copy of the staging labels attached to this
// version when it was last checked.
func (s *Secret) VersionStages() []string { return slices.Clone(s.stages) }

// CreatedDate returns when this version was created; zero if the service
// did not say.
func (s *Secret) CreatedDate() time.Time { return s.created }

// IsBinary reports whether the secret holds a SecretBinary value rather
// than a SecretString.
func (s *Secret) IsBinary() bool { return s.binary }

// Text returns the SecretString value. It returns an error wrapping
// ErrBinary if the secret holds a binary value.
func (s *Secret) Text() (string, error) {
	if s.binary {
		return "", s.binaryErr(s.name)
	}
	return s.value, nil
}

// Binary returns a copy of the SecretBinary value. It returns an error
// wrapping ErrNotBinary if the secret holds a string value.
func (s *Secret) Binary() ([]byte, error) {
	if !s.binary {
		return nil, s.notBinaryErr(s.name)
	}
	return []byte(s.value), nil
}

// Unmarshal decodes the SecretString value as JSON into v. Its errors name
// the secret and wrap ErrInvalidJSON, but never quote any part of the value.
func (s *Secret) Unmarshal(v any) error {
	return s.unmarshal(s.name, v)
}

func (s *Secret) unmarshal(secretID string, v any) error {
	if s.binary {
		return fmt.Errorf("secretcache: secret %q: %w; cannot decode JSON", secretID, ErrBinary)
	}
	return decodeJSON(secretID, s.value, v)
}

// binaryErr and notBinaryErr name secretID: the id the caller passed, or
// the secret's name when the caller passed none.
func (s *Secret) binaryErr(secretID string) error {
	return fmt.Errorf("secretcache: secret %q: %w; use Binary or GetSecretBinary", secretID, ErrBinary)
}

func (s *Secret) notBinaryErr(secretID string) error {
	return fmt.Errorf("secretcache: secret %q: %w; use Text or GetSecretString", secretID, ErrNotBinary)
}

// decodeJSON unmarshals value into v. encoding/json's own messages can quote
// value bytes ("invalid character 'x'", "cannot unmarshal number 1234"), so
// they are replaced by messages built only from positions, field names and
// types, and the json error is not wrapped.
func decodeJSON(secretID, value string, v any) error {
	err := json.Unmarshal([]byte(value), v)
	if err == nil {
		return nil
	}
	var syn *json.SyntaxError
	var typ *json.UnmarshalTypeError
	var inv *json.InvalidUnmarshalError
	switch {
	case errors.As(err, &syn):
		return fmt.Errorf("secretcache: secret %q: %w: syntax error at byte offset %d", secretID, ErrInvalidJSON, syn.Offset)
	case errors.As(err, &typ):
		field := typ.Field
		if field == "" {
			field = "(top level)"
		}
		return fmt.Errorf("secretcache: secret %q: %w: field %s cannot be decoded into Go type %v", secretID, ErrInvalidJSON, field, typ.Type)
	case errors.As(err, &inv):
		return fmt.Errorf("secretcache: secret %q: cannot decode JSON into %v (need a non-nil pointer)", secretID, inv.Type)
	default:
		// A custom UnmarshalJSON may put anything in its error, so only its
		// type is reported.
		return fmt.Errorf("secretcache: secret %q: %w: decoding into %T failed with a %T error", secretID, ErrInvalidJSON, v, err)
	}
}

// The printing methods have value receivers so that a Secret value (say
// *s passed to fmt) cannot fall back to fmt's field-by-field printing,
// which would show the value.

// String returns the secret's name, version and stages, never its value.
func (s Secret) String() string {
	return fmt.Sprintf("secret %q version %s %v (value redacted)", s.name, s.versionID, s.stages)
}

// GoString is like String, for %#v.
func (s Secret) GoString() string {
	return fmt.Sprintf("secretcache.Secret{ARN:%q, Name:%q, VersionID:%q, VersionStages:%#v, CreatedDate:%q, Value:<redacted %d bytes>}",
		s.arn, s.name, s.versionID, s.stages, s.created.Format(time.RFC3339), len(s.value))
}

// Format implements fmt.Formatter so that every verb, including %x, %q and
// %+v, prints the metadata and never the value.
func (s Secret) Format(f fmt.State, verb rune) {
	switch {
	case verb == 'v' && f.Flag('#'):
		fmt.Fprint(f, s.GoString())
	case verb == 'q':
		fmt.Fprintf(f, "%q", s.String())
	default:
		fmt.Fprint(f, s.String())
	}
}

// LogValue implements slog.LogValuer: a Secret logs as a group of its
// name, ARN, version id, stages and value size, never its value.
func (s Secret) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("name", s.name),
		slog.String("arn", s.arn),
		slog.String("version_id", s.versionID),
		slog.Any("stages", s.stages),
		slog.Int("value_bytes", len(s.value)),
	)
}
