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

// Binaries are what [StartServer] runs.
type Binaries struct {
	// Server is the server daemon, mariadbd (or mysqld of older MariaDB).
	Server string
	// Scripts is the directory holding the SQL scripts that create the
	// system tables (mysql_system_tables.sql and the others
	// mariadb-install-db feeds to mariadbd --bootstrap), /usr/share/mysql
	// on Debian.
	Scripts string
}

var serverNames = []string{"mariadbd", "mysqld"}

// bootstrapScripts are the scripts, in order, that create and fill the
// system tables. mariadb-install-db also loads the help tables, the GIS
// procedures and the sys schema (3 MB of SQL, most of its run time),
// which no test needs.
var bootstrapScripts = []string{"mysql_system_tables.sql", "mysql_performance_tables.sql", "mysql_system_tables_data.sql"}

// Available reports the binaries [StartServer] uses by default. If
// [BinDirEnv] is set, the server must be in that directory and the
// scripts there or in ../share/mysql or ../share/mariadb beside it.
// Otherwise the server is looked up on PATH, then in /usr/sbin and
// /usr/bin, and the scripts in /usr/share/mysql and /usr/share/mariadb,
// where Debian's mariadb-server package installs them. Only MariaDB is
// supported. The error wraps [ErrUnavailable] when either is missing.
func Available() (Binaries, error) {
	if dir := os.Getenv(BinDirEnv); dir != "" {
		b := Binaries{Server: find(serverNames, dir), Scripts: scripts(dir, filepath.Join(dir, "..", "share", "mysql"), filepath.Join(dir, "..", "share", "mariadb"))}
		if b.Server == "" || b.Scripts == "" {
			return Binaries{}, fmt.Errorf("%w: %s=%s does not contain mariadbd and the system-table scripts (mysql_system_tables.sql)", ErrUnavailable, BinDirEnv, dir)
		}
		return b, nil
	}
	b := Binaries{
		Server:  find(serverNames, "", "/usr/sbin", "/usr/bin"),
		Scripts: scripts("/usr/share/mysql", "/usr/share/mariadb"),
	}
	if b.Server == "" || b.Scripts == "" {
		return Binaries{}, fmt.Errorf("%w: no mariadbd on PATH or in /usr/sbin, or no mysql_system_tables.sql in /usr/share/mysql (install Debian's mariadb-server or set %s)", ErrUnavailable, BinDirEnv)
	}
	return b, nil
}

// scripts returns the first of dirs holding every bootstrap script.
func scripts(dirs ...string) string {
	for _, dir := range dirs {
		ok := true
		for _, name := range bootstrapScripts {
			if fi, err := os.Stat(filepath.Join(dir, name)); err != nil || fi.IsDir() {
				ok = false
				break
			}
		}
		if ok {
			return filepath.Clean(dir)
		}
	}
	return ""
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
