package rotation

import (
	"fmt"
	"log/slog"
	"slices"
)

// Version stages the rotation state machine reads and moves.
const (
	StageCurrent  = "AWSCURRENT"
	StagePending  = "AWSPENDING"
	StagePrevious = "AWSPREVIOUS"
)

// Secret is one version of a secret as a Strategy sees it. Its value is
// reachable only through Value: fmt verbs (%v, %+v, %#v, %s), slog and
// String print the version id and stages, never the value.
type Secret struct {
	// ARN is the secret's ARN.
	ARN string
	// VersionID is the version's id (the ClientRequestToken that created it).
	VersionID string
	// Stages are the version's staging labels when it was read.
	Stages []string

	value  []byte
	binary bool
}

// NewSecret returns a Secret holding a copy of value, stored as
// SecretString. It is meant for testing a Strategy without Secrets Manager.
// It cannot fail: it checks nothing, so a Strategy sees any value, as it
// may from the service.
func NewSecret(arn, versionID string, stages []string, value []byte) Secret {
	return Secret{ARN: arn, VersionID: versionID, Stages: slices.Clone(stages), value: slices.Clone(value)}
}

// Value returns a copy of the version's value: the SecretString's bytes, or
// the SecretBinary when Binary reports true.
func (s Secret) Value() []byte { return slices.Clone(s.value) }

// Binary reports whether the value is stored as SecretBinary rather than
// SecretString. A pending value is stored the same way as the current one.
func (s Secret) Binary() bool { return s.binary }

// HasStage reports whether the version carried the staging label stage.
func (s Secret) HasStage(stage string) bool { return slices.Contains(s.Stages, stage) }

// String describes the version without its value.
func (s Secret) String() string {
	return fmt.Sprintf("rotation.Secret{ARN:%q VersionID:%q Stages:%q Value:[REDACTED]}", s.ARN, s.VersionID, s.Stages)
}

// GoString is String, so %#v cannot print the value either.
func (s Secret) GoString() string { return s.String() }

// Format writes String for every verb, so no fmt verb prints the value.
func (s Secret) Format(f fmt.State, _ rune) { f.Write([]byte(s.String())) } //nolint:errcheck // fmt.State writes cannot usefully fail

// LogValue logs the version's id and stages, never its value.
func (s Secret) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("arn", s.ARN),
		slog.String("versionId", s.VersionID),
		slog.Any("stages", s.Stages),
	)
}

// Versions are the versions of a secret a Strategy's Apply works with.
// Printing a Versions prints no value (each Secret redacts its own).
type Versions struct {
	// Current is the AWSCURRENT version.
	Current Secret
	// Pending is the AWSPENDING version being rotated in; it has a value.
	Pending Secret
	// Previous is the AWSPREVIOUS version, or nil when the secret has none
	// (before its first rotation).
	Previous *Secret
	// Secrets reads other secrets, such as the superuser secret of an
	// alternating-users strategy, through the Rotator's client. It offers
	// GetSecretValue only: a Strategy cannot write to any secret. It is nil
	// in a Versions the caller builds (a Strategy tested on its own).
	Secrets SecretReader
}
