package testserver

import (
	"os"
	"syscall"
)

// SysProcAttr puts a child in its own process group, so a stuck server can
// be killed with all its children, runs it as u unless u is nil, and has
// the kernel SIGKILL it when the test binary dies, so a crashed test never
// leaves a server behind. The Go runtime sets the death signal after
// switching to u, which would otherwise clear it.
func SysProcAttr(u *OSUser) *syscall.SysProcAttr {
	attr := &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if u != nil {
		attr.Credential = &syscall.Credential{Uid: u.UID, Gid: u.GID, Groups: []uint32{}}
	}
	return attr
}

func killGroup(p *os.Process) {
	_ = syscall.Kill(-p.Pid, syscall.SIGKILL)
}
