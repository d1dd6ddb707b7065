package rotation

import (
	"context"
	"fmt"
	"log/slog"
)

// Rotate runs a whole rotation of secretID without Lambda: the four steps
// in order, each with the checks Handle makes, except that rotation need
// not be enabled on the secret (Rotate is how a secret without a rotation
// function, or a test, is rotated).
//
// When a version other than AWSCURRENT is labelled AWSPENDING, a rotation
// is under way or was interrupted; Rotate finishes that rotation with its
// token instead of failing, and returns nil once it is done (it does not
// start a second one). When AWSPENDING is on the AWSCURRENT version, a
// finishSecret was interrupted after moving AWSCURRENT; Rotate removes the
// label and returns nil. Otherwise it starts a rotation as the service does:
// a new random token (a UUID version 4), whose version createSecret creates
// with PutSecretValue and stage AWSPENDING.
//
// Rotate must not race another rotation of the same secret (the service's
// RotateSecret or another Rotate): both would write AWSPENDING. After an
// error, calling Rotate again resumes the same rotation; only when the
// error was a lost reply to finishSecret's last call, removing AWSPENDING,
// had that rotation in fact finished, and the next Rotate starts another.
// Step failures are *StepError.
func (r *Rotator) Rotate(ctx context.Context, secretID string) error {
	if err := r.check(); err != nil {
		return err
	}
	if secretID == "" {
		return fmt.Errorf("rotation: Rotate called with an empty secret id")
	}
	desc, err := r.describe(ctx, secretID)
	if err != nil {
		return fmt.Errorf("rotation: rotate secret %q: %w", secretID, err)
	}
	current := versionWith(desc.VersionIdsToStages, StageCurrent)
	pending := versionWith(desc.VersionIdsToStages, StagePending)
	if pending != "" && pending == current {
		ev := Event{Step: FinishSecret, SecretID: secretID, ClientRequestToken: pending}
		if err := r.removePending(ctx, ev); err != nil {
			return &StepError{SecretID: secretID, Token: pending, Step: FinishSecret, Err: err}
		}
		r.log.LogAttrs(ctx, slog.LevelInfo, "rotation: finished the interrupted rotation by removing AWSPENDING from the AWSCURRENT version", r.attrs(ev)...)
		return nil
	}
	ev := Event{SecretID: secretID, ClientRequestToken: pending}
	todo := []Step{CreateSecret, SetSecret, TestSecret, FinishSecret}
	if pending != "" {
		r.log.LogAttrs(ctx, slog.LevelInfo, "rotation: resuming the rotation under way", r.attrs(ev)...)
	} else {
		// The token's version does not exist before createSecret makes it,
		// so Handle's checks cannot run for this first step.
		if ev.ClientRequestToken, err = r.opts.newToken(); err != nil {
			return fmt.Errorf("rotation: rotate secret %q: new token: %w", secretID, err)
		}
		if ev.ClientRequestToken == "" {
			return fmt.Errorf("rotation: rotate secret %q: got an empty token for the new version", secretID)
		}
		ev.Step = CreateSecret
		r.log.LogAttrs(ctx, slog.LevelInfo, "rotation: starting a rotation", r.attrs(ev)...)
		if err := r.createSecret(ctx, ev); err != nil {
			r.log.LogAttrs(ctx, slog.LevelError, "rotation step failed", r.attrs(ev, slog.String("error", err.Error()))...)
			return &StepError{SecretID: secretID, Token: ev.ClientRequestToken, Step: CreateSecret, Err: err}
		}
		todo = todo[1:]
	}
	for _, st := range todo {
		ev.Step = st
		if err := r.run(ctx, ev, false); err != nil {
			return err
		}
	}
	return nil
}
