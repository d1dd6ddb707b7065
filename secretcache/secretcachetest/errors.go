package secretcachetest

import "regexp"

// emuPrefix is the prefix of the emulator's own messages, at the start of
// each line (errors.Join puts one error per line).
var emuPrefix = regexp.MustCompile(`(?m)^awsemu: `)

// emuError presents an error of the emulator behind this package under
// this package's name; Unwrap returns it unchanged, so errors.Is and
// errors.As see everything it wraps.
type emuError struct{ err error }

func (e *emuError) Error() string {
	return emuPrefix.ReplaceAllString(e.err.Error(), "secretcachetest: ")
}
func (e *emuError) Unwrap() error { return e.err }

// rename returns err under this package's name, or nil.
func rename(err error) error {
	if err == nil {
		return nil
	}
	return &emuError{err}
}
