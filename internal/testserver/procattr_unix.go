//go:build unix && !linux

package testserver

import (
	"os"
	"syscall"
)

// SysProcAttr puts a child in its own process group, so a stuck server can
// be killed with all its children, and runs it as u unless u is nil.
// Outside Linux there is no parent-death signal, so a crashed test binary
// may leave a server running.
func SysProcAttr(u *OSUser) *syscall.SysProcAttr {
	attr := &syscall.SysProcAttr{Setpgid: true}
	if u != nil {
		attr.Credential = &syscall.Credential{Uid: u.UID, Gid: u.GID, Groups: []uint32{}}
	}
	return attr
}

func killGroup(p *os.Process) {
	_ = syscall.Kill(-p.Pid, syscall.SIGKILL)
}
