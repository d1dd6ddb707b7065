package pgtest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// BinDirEnv names the environment variable that, when set, is the only
// directory [Available] considers for the initdb and postgres binaries.
const BinDirEnv = "REKEY_POSTGRES_BIN"

// RequireEnv names the environment variable that turns a missing PostgreSQL
// into a test failure: when it is "1", [Start] calls t.Fatal instead of
// t.Skip. CI sets it so that database tests can never be skipped silently.
const RequireEnv = "REKEY_REQUIRE_POSTGRES"

// ErrUnavailable is wrapped by every error that means PostgreSQL cannot be
// run on this machine at all (no server binaries, or no unprivileged OS user
// to run them as root), as opposed to a server that was found but failed.
var ErrUnavailable = errors.New("pgtest: PostgreSQL unavailable")

// Available reports the directory holding the initdb and postgres binaries
// that [StartServer] uses by default. If [BinDirEnv] is set, that directory
// is the only candidate. Otherwise the candidates are the directory of
// postgres on PATH and every /usr/lib/postgresql/*/bin, and the one with the
// highest major version wins. The error wraps [ErrUnavailable] when no
// candidate holds both binaries.
func Available() (binDir string, err error) {
	if dir := os.Getenv(BinDirEnv); dir != "" {
		if !hasServerBinaries(dir) {
			return "", fmt.Errorf("%w: %s=%s does not contain initdb and postgres", ErrUnavailable, BinDirEnv, dir)
		}
		return dir, nil
	}

	best, bestMajor := "", -1
	consider := func(dir string, major int) {
		if major > bestMajor && hasServerBinaries(dir) {
			best, bestMajor = dir, major
		}
	}

	// Debian and Ubuntu install each major version side by side and put at
	// most one of them on PATH, so the directory name is the version.
	debian, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	seen := make(map[string]bool, len(debian))
	for _, dir := range debian {
		major, err := strconv.Atoi(filepath.Base(filepath.Dir(dir)))
		if err != nil {
			continue
		}
		seen[dir] = true
		consider(dir, major)
	}

	if path, err := exec.LookPath("postgres"); err == nil {
		if resolved, err := filepath.EvalSymlinks(path); err == nil {
			path = resolved
		}
		if dir := filepath.Dir(path); !seen[dir] {
			if major, err := majorVersion(path); err == nil {
				consider(dir, major)
			}
		}
	}

	if best == "" {
		return "", fmt.Errorf("%w: no initdb and postgres binaries on PATH or under /usr/lib/postgresql/*/bin (install the PostgreSQL server or set %s)", ErrUnavailable, BinDirEnv)
	}
	return best, nil
}

func hasServerBinaries(dir string) bool {
	for _, name := range []string{"initdb", "postgres"} {
		fi, err := os.Stat(filepath.Join(dir, name))
		if err != nil || fi.IsDir() || fi.Mode().Perm()&0o111 == 0 {
			return false
		}
	}
	return true
}

// majorVersion runs "postgres --version", which prints e.g.
// "postgres (PostgreSQL) 15.8 (Debian 15.8-0+deb12u1)".
func majorVersion(postgres string) (int, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, postgres, "--version").Output()
	if err != nil {
		return 0, err
	}
	_, rest, ok := bytes.Cut(out, []byte(") "))
	if !ok {
		return 0, fmt.Errorf("pgtest: unexpected %s --version output %q", postgres, out)
	}
	fields := strings.FieldsFunc(string(rest), func(r rune) bool { return r < '0' || r > '9' })
	if len(fields) == 0 {
		return 0, fmt.Errorf("pgtest: unexpected %s --version output %q", postgres, out)
	}
	return strconv.Atoi(fields[0])
}
