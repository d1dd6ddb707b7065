package pgtest

import (
	"os"
	"syscall"
)

// sysProcAttr puts the child in its own process group, so a stuck server can
// be killed with all its backends, and has the kernel SIGKILL it when the
// test binary dies, so a crashed test never leaves a server behind. The Go
// runtime sets the death signal after switching to cred, which would
// otherwise clear it.
func sysProcAttr(cred *osUser) *syscall.SysProcAttr {
	attr := &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if cred != nil {
		attr.Credential = &syscall.Credential{Uid: cred.uid, Gid: cred.gid, Groups: []uint32{}}
	}
	return attr
}

func killGroup(p *os.Process) {
	_ = syscall.Kill(-p.Pid, syscall.SIGKILL)
}
