package dbretry

import (
	"fmt"
	"log/slog"
	"runtime/debug"
)

// EventKind says what an Event reports.
type EventKind uint8

// The kinds of Event. More may be added; a hook should ignore kinds it
// does not know.
const (
	// EventAuthFailure: a connect was refused with an authentication
	// error (IsAuthError). SecretID, VersionID of the refused credentials
	// ("" if unknown), Attempt (1 for a connect's first refusal), Code
	// (the SQLSTATE: 28P01, or 28000, which MySQL's 1045 also is), Err.
	EventAuthFailure EventKind = iota + 1
	// EventCredentialSwitch: the Source started handing out credentials
	// of another version (what OnSwitch reports). SecretID,
	// FromVersionID, VersionID (the new one), Stage it was read as
	// (AWSCURRENT or AWSPENDING).
	EventCredentialSwitch
)

var eventKindNames = [...]string{
	EventAuthFailure:      "auth_failure",
	EventCredentialSwitch: "credential_switch",
}

// String returns the kind's lower-case name, e.g. "auth_failure".
func (k EventKind) String() string {
	if int(k) < len(eventKindNames) && eventKindNames[k] != "" {
		return eventKindNames[k]
	}
	return fmt.Sprintf("EventKind(%d)", uint8(k))
}

// Event is one thing a Source observed, passed to Options.OnEvent by
// value. Fields that do not apply to Kind are zero (see each EventKind).
// An Event never holds a password: only ids, version ids, stage names,
// codes and the driver's error, whose messages name users, not passwords.
type Event struct {
	Kind EventKind
	// SecretID is the Source's secret id.
	SecretID string
	// VersionID is the version refused (EventAuthFailure) or switched to
	// (EventCredentialSwitch).
	VersionID string
	// FromVersionID is the version switched from.
	FromVersionID string
	// Stage is the stage the new version was read as.
	Stage string
	// Attempt numbers the refusals of one connect, from 1.
	Attempt int
	// Code is the refusal's SQLSTATE.
	Code string
	// Err is the connect error.
	Err error
}

// emit passes ev to Options.OnEvent, if set, recovering a panic: it is
// logged with its stack and the connect goes on as if OnEvent had
// returned, as for OnSwitch.
func (s *Source) emit(ev Event) {
	if s.opts.OnEvent == nil {
		return
	}
	defer func() {
		if r := recover(); r != nil {
			s.log(slog.LevelError, "dbretry: OnEvent panicked", slog.String("kind", ev.Kind.String()),
				slog.Any("panic", r), slog.String("stack", string(debug.Stack())))
		}
	}()
	s.opts.OnEvent(ev)
}
