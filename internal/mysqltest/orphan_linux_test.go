package mysqltest_test

import (
	"bufio"
	"bytes"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/rekeyhq/rekey/internal/mysqltest"
	"github.com/rekeyhq/rekey/internal/testserver"
)

const orphanChildEnv = "MYSQLTEST_ORPHAN_CHILD"

// TestOrphanChild is the body of the process that
// TestKilledTestLeavesNoServer kills: it starts a server, reports it on
// stdout and blocks until killed.
func TestOrphanChild(t *testing.T) {
	if os.Getenv(orphanChildEnv) != "1" {
		t.Skip("helper process for TestKilledTestLeavesNoServer")
	}
	s, err := mysqltest.StartServer()
	if err != nil {
		fmt.Println("error", err)
		os.Exit(1)
	}
	fmt.Println(s.Port(), s.DataDir())
	select {}
}

func TestKilledTestLeavesNoServer(t *testing.T) {
	t.Parallel()
	requireAvailable(t)

	cmd := exec.Command(os.Args[0], "-test.run=^TestOrphanChild$", "-test.count=1")
	cmd.Env = append(os.Environ(), orphanChildEnv+"=1")
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var port int
	var dataDir string
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if _, scanErr := fmt.Sscan(line, &port, &dataDir); err != nil || scanErr != nil {
		cmd.Process.Kill()
		cmd.Wait()
		t.Fatalf("child said %q (%v, %v), want port and data dir", line, err, scanErr)
	}
	// The killed child cannot clean up after itself.
	t.Cleanup(func() { os.RemoveAll(filepath.Dir(dataDir)) })

	pidFile, err := os.ReadFile(filepath.Join(filepath.Dir(dataDir), "mariadbd.pid"))
	if err != nil {
		t.Fatal(err)
	}
	pid, err := strconv.Atoi(string(bytes.TrimSpace(pidFile)))
	if err != nil {
		t.Fatalf("mariadbd.pid: %v", err)
	}
	t.Cleanup(func() {
		if testserver.Alive(pid) { // only after a failure: do not leave it behind either
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
	for testserver.Alive(pid) {
		if time.Now().After(deadline) {
			t.Fatalf("mariadbd %d still running 5s after its test process was killed", pid)
		}
		time.Sleep(20 * time.Millisecond)
	}
	// A killed mariadbd's main thread turns zombie before its other
	// threads have gone and released the listening socket (io_uring
	// teardown takes a moment), so the port is polled too.
	for {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err != nil {
			break
		}
		c.Close()
		if time.Now().After(deadline) {
			t.Fatalf("port %d still accepts connections 5s after the test process was killed", port)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
