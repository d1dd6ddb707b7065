package rotation

import (
	"errors"
	"fmt"
)

// Conditions a step refuses to run under, found with errors.Is on the error
// Handle or Rotate returns.
var (
	// ErrRotationDisabled: DescribeSecret says rotation is not enabled for
	// the secret (Handle only; Rotate does not require it).
	ErrRotationDisabled = errors.New("rotation is not enabled for the secret")
	// ErrTokenNotFound: the ClientRequestToken is not a version of the secret.
	ErrTokenNotFound = errors.New("token is not a version of the secret")
	// ErrNotPending: the token's version is neither AWSCURRENT nor AWSPENDING.
	ErrNotPending = errors.New("token's version is not staged AWSPENDING")
	// ErrUnknownStep: the event's Step is not one of the four steps.
	ErrUnknownStep = errors.New("unknown rotation step")
)

// StepError is the error of a rotation step. Err is the cause: one of the
// sentinels above, an SDK error (errors.As finds *types.ResourceNotFoundException,
// smithy.APIError, ...) or the Strategy's error. Its message names the
// secret, the token and the step, never a secret value.
type StepError struct {
	SecretID string // the event's SecretId (ARN or name)
	Token    string // the rotation's ClientRequestToken
	Step     Step   // the step that failed or was refused
	Err      error  // the cause
}

// Error names the step, the secret and the token, then the cause.
func (e *StepError) Error() string {
	return fmt.Sprintf("rotation: %s of secret %q with token %q: %v", e.Step, e.SecretID, e.Token, e.Err)
}

// Unwrap returns Err.
func (e *StepError) Unwrap() error { return e.Err }
