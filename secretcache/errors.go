package secretcache

import (
	"errors"
	"fmt"
)

// Sentinel errors, for errors.Is.
var (
	// ErrClosed is returned by every method called after Close.
	ErrClosed = errors.New("secretcache: cache is closed")
	// ErrBinary means a string was asked of a secret holding a SecretBinary value.
	ErrBinary = errors.New("secret holds a binary value, not a string")
	// ErrNotBinary means bytes were asked of a secret holding a SecretString value.
	ErrNotBinary = errors.New("secret holds a string value, not a binary")
	// ErrValueTooLarge means the service returned a value larger than MaxValueSize.
	ErrValueTooLarge = errors.New("secret value exceeds 65536 bytes")
	// ErrInvalidJSON means a secret value could not be decoded as the
	// requested JSON. Its message never quotes the value.
	ErrInvalidJSON = errors.New("secret value is not valid JSON for the target type")
	// ErrCallbackPanic is wrapped by the error reported when a function
	// the caller supplied panicked: Options.OnChange (returned by Close and
	// logged) or a Client method (returned to that fetch's waiters). The
	// error carries the panic value; its stack goes to Options.Logger only.
	ErrCallbackPanic = errors.New("callback panicked")
)

// FetchError reports a failed API call for a secret. It wraps the SDK's
// error, so errors.As finds *types.ResourceNotFoundException,
// smithy.APIError and the like. Its message never contains a secret value.
type FetchError struct {
	// SecretID is the id as passed to the cache.
	SecretID string
	// Op is the API operation that failed, e.g. "GetSecretValue".
	Op string
	// Err is the underlying error.
	Err error
}

// Error returns "secretcache: <Op> <quoted SecretID>: <underlying error>".
// It never contains a secret value.
func (e *FetchError) Error() string {
	return fmt.Sprintf("secretcache: %s %q: %v", e.Op, e.SecretID, e.Err)
}

// Unwrap returns the underlying error.
func (e *FetchError) Unwrap() error { return e.Err }
