// Package skipreport counts the tests a package skips because a test server
// (PostgreSQL, MariaDB) cannot run on this machine, and prints one summary
// line per server after the package's tests, which a plain `go test ./...`
// shows without -v.
//
// Why it needs more than fmt.Println: in package-list mode (`go test ./...`)
// the go command captures a test binary's stdout and stderr and discards
// them when the package passes, printing only its "ok" line; a skipped test
// passes. So when the binary runs under the go command without -v, the line
// is written to the go command's own standard output (/proc/<ppid>/fd/1 on
// Linux), where it appears just before the package's "ok" line (or among
// the lines of packages still running). With -v, with -json (the line then
// becomes a JSON output event), when the binary runs on its own, or where
// /proc is unavailable, it goes to the binary's stdout as usual. A cached
// test result replays no line: run with -count=1 to see it again.
package skipreport

import (
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"testing"
)

// Counter counts the tests skipped for one server. Its zero value is not
// usable; make one with New. Safe for concurrent use.
type Counter struct {
	name, requireEnv string

	mu     sync.Mutex // guards n and reason
	n      int
	reason string // the first skip's reason
}

// New returns a counter whose summary starts with name (a package name such
// as "pgtest") and names requireEnv, the variable that turns skips into
// failures.
func New(name, requireEnv string) *Counter {
	return &Counter{name: name, requireEnv: requireEnv}
}

// Required reports whether the counter's require variable is "1", in which
// case an unavailable server fails tests instead of skipping them.
func (c *Counter) Required() bool { return os.Getenv(c.requireEnv) == "1" }

// Skip records one skipped test and calls t.Skip with reason and how to
// fail instead.
func (c *Counter) Skip(t testing.TB, reason string) {
	t.Helper()
	reason = strings.TrimPrefix(reason, c.name+": ")
	c.mu.Lock()
	c.n++
	if c.reason == "" {
		c.reason = reason
	}
	c.mu.Unlock()
	t.Skipf("%s (set %s=1 to fail instead of skipping)", reason, c.requireEnv)
}

// Summary returns the summary line without its newline, e.g.
// "pgtest: 14 tests skipped in example.com/pkg: PostgreSQL unavailable: …
// (set REKEY_REQUIRE_POSTGRES=1 to fail instead)", and false when no test
// was skipped.
func (c *Counter) Summary() (string, bool) {
	c.mu.Lock()
	n, reason := c.n, c.reason
	c.mu.Unlock()
	if n == 0 {
		return "", false
	}
	tests := "tests"
	if n == 1 {
		tests = "test"
	}
	return fmt.Sprintf("%s: %d %s skipped in %s: %s (set %s=1 to fail instead)", c.name, n, tests, testedPackage(), reason, c.requireEnv), true
}

// Print writes the summary line of every counter that recorded a skip, to
// where `go test` shows it (see the package doc). Call it from TestMain
// after m.Run.
func Print(cs ...*Counter) {
	var lines strings.Builder
	for _, c := range cs {
		if s, ok := c.Summary(); ok {
			lines.WriteString(s + "\n")
		}
	}
	if lines.Len() == 0 {
		return
	}
	w, closeW := destination()
	defer closeW()
	io.WriteString(w, lines.String()) //nolint:errcheck // best effort: a summary nobody can see is no failure
}

// Main is a whole TestMain for a package whose only set-up is its test
// servers: it runs the tests, prints the counters' summaries (Print) and
// exits with the tests' code, e.g.
//
//	func TestMain(m *testing.M) { skipreport.Main(m, pgtest.Skips) }
func Main(m *testing.M, cs ...*Counter) {
	code := m.Run()
	Print(cs...)
	os.Exit(code)
}

// destination picks the go command's stdout when the go command would
// otherwise discard ours, else our own stdout.
func destination() (io.Writer, func()) {
	own := func() (io.Writer, func()) { return os.Stdout, func() {} }
	if f := flag.Lookup("test.v"); f != nil && f.Value.String() != "false" {
		return own() // -v or -json: our output is shown (or encoded) anyway
	}
	ppid := strconv.Itoa(os.Getppid())
	exe, err := os.Readlink("/proc/" + ppid + "/exe")
	if err != nil || strings.TrimSuffix(filepath.Base(exe), " (deleted)") != "go" {
		return own() // not run by the go command
	}
	f, err := os.OpenFile("/proc/"+ppid+"/fd/1", os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		return own()
	}
	return f, func() { f.Close() }
}

// testedPackage is the import path of the package under test.
func testedPackage() string {
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Path != "" {
		return strings.TrimSuffix(bi.Path, ".test")
	}
	wd, _ := os.Getwd()
	return wd
}
