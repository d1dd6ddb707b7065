//go:build !unix

package testserver

import (
	"os"
	"syscall"
)

// SysProcAttr returns nil: without Unix process groups and credentials the
// server runs as an ordinary child of the current user.
func SysProcAttr(*OSUser) *syscall.SysProcAttr { return nil }

func killGroup(p *os.Process) { _ = p.Kill() }
