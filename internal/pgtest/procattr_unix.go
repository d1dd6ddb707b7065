//go:build unix && !linux

package pgtest

import (
	"os"
	"syscall"
)

// sysProcAttr puts the child in its own process group, so a stuck server can
// be killed with all its backends. Outside Linux there is no parent-death
// signal, so a crashed test binary may leave a server running.
func sysProcAttr(cred *osUser) *syscall.SysProcAttr {
	attr := &syscall.SysProcAttr{Setpgid: true}
	if cred != nil {
		attr.Credential = &syscall.Credential{Uid: cred.uid, Gid: cred.gid, Groups: []uint32{}}
	}
	return attr
}

func killGroup(p *os.Process) {
	_ = syscall.Kill(-p.Pid, syscall.SIGKILL)
}
