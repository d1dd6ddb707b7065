package rotation

import (
	"crypto/rand"
	"fmt"
	"log/slog"
)

// Options configure a Rotator. New copies the defaults, applies the
// caller's functions to the copy and validates the result.
type Options struct {
	// Password is the policy createSecret passes to GetRandomPassword.
	// Default: DefaultPasswordPolicy().
	Password PasswordPolicy

	// Logger receives one record per step and per decision (skipped because
	// already done, refused, failed). Records name the secret, the token and
	// the step, never a value. nil: no logging.
	Logger *slog.Logger

	// newToken returns the ClientRequestToken for a rotation that Rotate
	// starts: a random UUID version 4 from crypto/rand (newUUID). It is an
	// unexported test seam, set only by the package's tests
	// (export_test.go); the service's rotations (Handle) bring their own
	// token.
	newToken func() (string, error)
}

// PasswordPolicy is the GetRandomPasswordInput createSecret sends; every
// field is sent as it is (an empty ExcludeCharacters is left out).
type PasswordPolicy struct {
	// Length is the password length, 1 to 4096. Default 32.
	Length int64
	// ExcludeCharacters are characters the password must not contain.
	// Default `:/@"'\`, the characters that break connection URLs, JSON and
	// SQL literals; set it to "" to exclude none.
	ExcludeCharacters string
	// ExcludeNumbers, ExcludePunctuation, ExcludeUppercase and
	// ExcludeLowercase leave a character class out. At least one class must
	// remain.
	ExcludeNumbers, ExcludePunctuation, ExcludeUppercase, ExcludeLowercase bool
	// IncludeSpace allows the space character.
	IncludeSpace bool
	// RequireEachIncludedType makes the password contain at least one
	// character of every class not excluded. Default true.
	RequireEachIncludedType bool
}

// DefaultPasswordPolicy returns the policy a Rotator uses unless told
// otherwise: 32 characters, no `:/@"'\`, every character class required.
func DefaultPasswordPolicy() PasswordPolicy {
	return PasswordPolicy{Length: 32, ExcludeCharacters: `:/@"'\`, RequireEachIncludedType: true}
}

func defaultOptions() Options {
	return Options{Password: DefaultPasswordPolicy(), newToken: newUUID}
}

func (o *Options) validate() error {
	p := o.Password
	if p.Length < 1 || p.Length > 4096 {
		return fmt.Errorf("rotation: password length %d is outside 1..4096", p.Length)
	}
	if p.ExcludeNumbers && p.ExcludePunctuation && p.ExcludeUppercase && p.ExcludeLowercase && !p.IncludeSpace {
		return fmt.Errorf("rotation: password policy excludes every character class")
	}
	return nil
}

// newUUID returns a random UUID version 4, the form Secrets Manager's own
// ClientRequestTokens take.
func newUUID() (string, error) {
	var b [16]byte
	rand.Read(b[:]) // never returns an error (crypto/rand since Go 1.24)
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16]), nil
}
