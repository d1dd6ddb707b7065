package testserver

import (
	"bufio"
	"bytes"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// OrphanChild is the body of the child process that
// KilledTestLeavesNoServer kills. Unless the environment variable env is
// "1" it skips t. Otherwise it calls start, prints the server's port, its
// pid file (whose first field is the server's pid) and the directory to
// remove after it on one line, and blocks until killed.
func OrphanChild(t *testing.T, env string, start func() (port int, pidFile, dir string, err error)) {
	if os.Getenv(env) != "1" {
		t.Skip("helper process for a test that kills it")
	}
	port, pidFile, dir, err := start()
	if err != nil {
		fmt.Println("error", err)
		os.Exit(1)
	}
	fmt.Println(port, pidFile, dir)
	select {}
}

// KilledTestLeavesNoServer runs this test binary's test childTest, which
// calls OrphanChild with env, in a child process; once the child reports
// its running server, it kills the child with SIGKILL and checks that the
// server process is gone and its port refuses connections within 5s. It
// removes the server's directory afterwards, as the killed child cannot.
func KilledTestLeavesNoServer(t *testing.T, childTest, env string) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^"+childTest+"$", "-test.count=1")
	cmd.Env = append(os.Environ(), env+"=1")
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var port int
	var pidFile, dir string
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if _, scanErr := fmt.Sscan(line, &port, &pidFile, &dir); err != nil || scanErr != nil {
		cmd.Process.Kill()
		cmd.Wait()
		t.Fatalf("child said %q (%v, %v), want port, pid file and directory", line, err, scanErr)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })

	b, err := os.ReadFile(pidFile)
	if err != nil {
		t.Fatal(err)
	}
	fields := bytes.Fields(b)
	if len(fields) == 0 {
		t.Fatalf("empty pid file %s", pidFile)
	}
	pid, err := strconv.Atoi(string(fields[0]))
	if err != nil {
		t.Fatalf("pid file %s: %v", pidFile, err)
	}
	t.Cleanup(func() {
		if Alive(pid) { // only after a failure: do not leave it behind either
			syscall.Kill(pid, syscall.SIGKILL)
		}
	})
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	if c, err := net.Dial("tcp", addr); err != nil {
		t.Fatalf("server of the live child: %v", err)
	} else {
		c.Close()
	}

	if err := cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	cmd.Wait()

	deadline := time.Now().Add(5 * time.Second)
	for Alive(pid) {
		if time.Now().After(deadline) {
			t.Fatalf("server %d still running 5s after its test process was killed", pid)
		}
		time.Sleep(20 * time.Millisecond)
	}
	// A killed multi-threaded server's main thread turns zombie before its
	// other threads have gone and released the listening socket (e.g.
	// MariaDB's io_uring teardown), so the port is polled too.
	for {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err != nil {
			return
		}
		c.Close()
		if time.Now().After(deadline) {
			t.Fatalf("port %d still accepts connections 5s after the test process was killed", port)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// CheckStartWithoutBinaries checks a Start function on a machine without
// the server binaries: with binDirEnv pointing at an empty directory, it
// must skip the test when requireEnv is unset or not exactly "1", and fail
// it when requireEnv is "1", with a message naming binary and binDirEnv,
// and, when skipping, requireEnv. start calls Start with the given TB and
// reports whether it returned a server.
func CheckStartWithoutBinaries(t *testing.T, binDirEnv, requireEnv, binary string, start func(testing.TB) bool) {
	for _, tc := range []struct {
		name      string
		require   string
		wantSkip  bool
		wantFatal bool
	}{
		{name: "skips by default", require: "", wantSkip: true},
		{name: "skips unless exactly 1", require: "yes", wantSkip: true},
		{name: "fails when required", require: "1", wantFatal: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv(binDirEnv, t.TempDir())
			t.Setenv(requireEnv, tc.require)

			rec := &RecordingTB{TB: t}
			done := make(chan bool)
			go func() {
				defer close(done)
				done <- start(rec)
			}()
			if <-done {
				t.Fatal("Start returned a server without binaries")
			}
			skipped, fatal := rec.Result()
			if got := skipped != ""; got != tc.wantSkip {
				t.Errorf("skipped = %v (%q), want %v", got, skipped, tc.wantSkip)
			}
			if got := fatal != ""; got != tc.wantFatal {
				t.Errorf("fatal = %v (%q), want %v", got, fatal, tc.wantFatal)
			}
			msg := skipped + fatal
			if !strings.Contains(msg, binDirEnv) || !strings.Contains(msg, binary) {
				t.Errorf("message %q should name the missing %s and %s", msg, binary, binDirEnv)
			}
			if tc.wantSkip && !strings.Contains(msg, requireEnv) {
				t.Errorf("skip message %q should say how to make it a failure (%s)", msg, requireEnv)
			}
		})
	}
}
