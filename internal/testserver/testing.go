package testserver

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"runtime"
	"sync"
	"testing"
)

// RecordingTB stands in for a test so that a Start function's skip or
// fatal can be observed without ending the real test: Skipf, Fatal and
// Fatalf record their message and end the calling goroutine, so call the
// code under test on a goroutine of its own. Other methods go to the
// embedded TB.
type RecordingTB struct {
	testing.TB
	mu      sync.Mutex
	skipped string // guarded by mu
	fatal   string // guarded by mu
}

// Helper does nothing.
func (r *RecordingTB) Helper() {}

// Skipf records the message and ends the goroutine.
func (r *RecordingTB) Skipf(format string, args ...any) {
	r.mu.Lock()
	r.skipped = fmt.Sprintf(format, args...)
	r.mu.Unlock()
	runtime.Goexit()
}

// Fatal records the message and ends the goroutine.
func (r *RecordingTB) Fatal(args ...any) {
	r.mu.Lock()
	r.fatal = fmt.Sprint(args...)
	r.mu.Unlock()
	runtime.Goexit()
}

// Fatalf records the message and ends the goroutine.
func (r *RecordingTB) Fatalf(format string, args ...any) { r.Fatal(fmt.Sprintf(format, args...)) }

// Result returns the recorded skip and fatal messages, "" for none.
func (r *RecordingTB) Result() (skipped, fatal string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.skipped, r.fatal
}

// Alive reports whether the process pid runs, from /proc; a zombie whose
// parent died and that no init has reaped yet counts as dead. Linux only.
func Alive(pid int) bool {
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if errors.Is(err, os.ErrNotExist) {
		return false
	}
	_, after, _ := bytes.Cut(stat, []byte(") "))
	return !bytes.HasPrefix(after, []byte("Z"))
}
