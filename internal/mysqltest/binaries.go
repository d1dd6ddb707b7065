package mysqltest

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
)

// BinDirEnv names the environment variable that, when set, is the only
// directory [Available] looks in for the server and install binaries.
const BinDirEnv = "REKEY_MYSQL_BIN"

// RequireEnv names the environment variable that turns a missing MariaDB
// into a test failure: when it is "1", [Start] calls t.Fatal instead of
// t.Skip. CI sets it so that MySQL tests can never be skipped silently.
const RequireEnv = "REKEY_REQUIRE_MYSQL"

// ErrUnavailable is wrapped by every error that means MariaDB cannot be
// run on this machine at all (no server binaries, or no unprivileged OS
// user to run them as root), as opposed to a server that was found but
// failed.
var ErrUnavailable = errors.New("mysqltest: MariaDB unavailable")

// Binaries are the programs [StartServer] runs.
type Binaries struct {
	// Server is the server daemon, mariadbd (or mysqld of older MariaDB).
	Server string
	// InstallDB initializes a data directory: mariadb-install-db (or
	// mysql_install_db of older MariaDB).
	InstallDB string
}

var (
	serverNames    = []string{"mariadbd", "mysqld"}
	installDBNames = []string{"mariadb-install-db", "mysql_install_db"}
)

// Available reports the binaries [StartServer] uses by default. If
// [BinDirEnv] is set, both must be in that directory. Otherwise each is
// looked up on PATH, then in /usr/sbin and /usr/bin, where Debian's
// mariadb-server package installs them. Only MariaDB is supported: its
// mariadb-install-db is what initializes the data directory. The error
// wraps [ErrUnavailable] when either binary is missing.
func Available() (Binaries, error) {
	if dir := os.Getenv(BinDirEnv); dir != "" {
		b := Binaries{Server: find(serverNames, dir), InstallDB: find(installDBNames, dir)}
		if b.Server == "" || b.InstallDB == "" {
			return Binaries{}, fmt.Errorf("%w: %s=%s does not contain mariadbd and mariadb-install-db", ErrUnavailable, BinDirEnv, dir)
		}
		return b, nil
	}
	b := Binaries{
		Server:    find(serverNames, "", "/usr/sbin", "/usr/bin"),
		InstallDB: find(installDBNames, "", "/usr/bin", "/usr/sbin"),
	}
	if b.Server == "" || b.InstallDB == "" {
		return Binaries{}, fmt.Errorf("%w: no mariadbd and mariadb-install-db on PATH or in /usr/sbin and /usr/bin (install Debian's mariadb-server or set %s)", ErrUnavailable, BinDirEnv)
	}
	return b, nil
}

// find returns the first of names found in dirs, in order; the dir ""
// stands for PATH.
func find(names []string, dirs ...string) string {
	for _, dir := range dirs {
		for _, name := range names {
			if dir == "" {
				if p, err := exec.LookPath(name); err == nil {
					return p
				}
				continue
			}
			p := filepath.Join(dir, name)
			if fi, err := os.Stat(p); err == nil && !fi.IsDir() && fi.Mode().Perm()&0o111 != 0 {
				return p
			}
		}
	}
	return ""
}
