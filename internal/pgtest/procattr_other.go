//go:build !unix

package pgtest

import (
	"os"
	"syscall"
)

// sysProcAttr returns nil: without Unix process groups and credentials the
// server runs as an ordinary child of the current user.
func sysProcAttr(*osUser) *syscall.SysProcAttr { return nil }

func killGroup(p *os.Process) { _ = p.Kill() }
