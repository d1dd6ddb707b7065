package testserver

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"time"
)

// Process is a server started as a child process in its own process group.
// On Linux the kernel kills it when the test binary dies, so a crashed test
// leaves no server behind.
type Process struct {
	cmd    *exec.Cmd
	exited chan struct{} // closed once cmd.Wait returns

	stopOnce sync.Once
}

// StartProcess starts cmd as u (nil: the current user) in a process group
// of its own, and a goroutine waiting for it; Stop ends both. cmd's Env,
// Stdout and Stderr are the caller's; its SysProcAttr is replaced.
func StartProcess(cmd *exec.Cmd, u *OSUser) (*Process, error) {
	cmd.SysProcAttr = SysProcAttr(u)
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("testserver: starting %s: %w", cmd.Path, err)
	}
	p := &Process{cmd: cmd, exited: make(chan struct{})}
	go func() {
		defer close(p.exited)
		_ = cmd.Wait() // the exit status of a server we stop carries no news
	}()
	return p, nil
}

// Pid returns the process id of the server.
func (p *Process) Pid() int { return p.cmd.Process.Pid }

// Exited is closed once the server has exited and been reaped.
func (p *Process) Exited() <-chan struct{} { return p.exited }

// Stop sends sig to the server and waits up to grace for it to exit; then
// it SIGKILLs its whole process group and waits. It returns once the
// server has exited. It is idempotent and safe for concurrent use; every
// call returns after the server exited. The data is thrown away, so sig is
// normally the engine's fastest shutdown.
func (p *Process) Stop(sig os.Signal, grace time.Duration) {
	p.stopOnce.Do(func() {
		select {
		case <-p.exited:
			return
		default:
		}
		if err := p.cmd.Process.Signal(sig); err != nil {
			_ = p.cmd.Process.Kill()
		}
		select {
		case <-p.exited:
			return
		case <-time.After(grace):
		}
		// The server has not exited, so its process group is still ours.
		killGroup(p.cmd.Process)
	})
	<-p.exited
}

// Command returns exec.Command(name, args...) with the environment of
// the current process plus TZ=UTC and LC_ALL=C, so that servers need not
// scan the zone database and print predictable messages.
func Command(name string, args ...string) *exec.Cmd {
	cmd := exec.Command(name, args...)
	cmd.Env = childEnv()
	return cmd
}

func childEnv() []string { return append(os.Environ(), "TZ=UTC", "LC_ALL=C") }

// Run runs a set-up program (initdb, mariadbd --bootstrap) as u (nil: the
// current user) with Command's environment and stdin (nil: none), in a
// process group of its own, and waits for it, for at most timeout. Its
// error names the program and holds the Tail of its combined output.
func Run(timeout time.Duration, u *OSUser, stdin io.Reader, name string, args ...string) error {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Env = childEnv()
	cmd.Stdin = stdin
	cmd.SysProcAttr = SysProcAttr(u)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("%s: %w\n%s", filepath.Base(name), err, Tail(out.Bytes()))
	}
	return nil
}
