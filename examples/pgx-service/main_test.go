package main

import (
	"bufio"
	"bytes"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/rekeyhq/rekey/dbretry"
	"github.com/rekeyhq/rekey/internal/pgtest"
	"github.com/rekeyhq/rekey/secretcache"
	"github.com/rekeyhq/rekey/secretcache/secretcachetest"
)

// mainEnv makes the test binary run main instead of the tests, so that
// a test can signal the command as a process.
const mainEnv = "PGX_SERVICE_RUN_MAIN"

func TestMain(m *testing.M) {
	if os.Getenv(mainEnv) == "1" {
		main()
		return
	}
	code := m.Run()
	pgtest.PrintSkips()
	os.Exit(code)
}

func needPostgres(t *testing.T) {
	t.Helper()
	if _, err := pgtest.Available(); err != nil {
		pgtest.SkipUnavailable(t, err)
		t.Fatal(err)
	}
}

var summary = regexp.MustCompile(`(\d+) requests served, (\d+) failed, (\d+) rotations, (\d+) API calls`)

// TestDemo runs a short -demo: the service must answer every request
// while the secret rotates under it.
func TestDemo(t *testing.T) {
	needPostgres(t)
	var out bytes.Buffer
	code := run(t.Context(), []string{"-demo", "-duration", "5s", "-rotate-every", "1200ms", "-window", "400ms", "-clients", "6"}, &out)
	t.Log("\n" + out.String())
	if code != 0 {
		t.Fatalf("run returned %d", code)
	}
	m := summary.FindStringSubmatch(out.String())
	if m == nil {
		t.Fatal("no summary line")
	}
	served, _ := strconv.Atoi(m[1])
	rotations, _ := strconv.Atoi(m[3])
	if m[2] != "0" || served < 100 || rotations < 1 {
		t.Errorf("served %d, failed %s, rotations %d: want no failures, at least 100 requests and a rotation", served, m[2], rotations)
	}
	if !strings.Contains(out.String(), "refused-logins") {
		t.Error("no live table")
	}
}

// A demo in which no rotation completes showed nothing: it fails.
func TestDemoWithoutRotationFails(t *testing.T) {
	needPostgres(t)
	var out bytes.Buffer
	code := run(t.Context(), []string{"-demo", "-duration", "300ms", "-rotate-every", "1h", "-clients", "2"}, &out)
	if code != 1 || !strings.Contains(out.String(), "no rotation completed") {
		t.Errorf("run = %d, want 1 and a reason; output:\n%s", code, out.String())
	}
}

// SIGTERM ends the demo as -duration does: the rotation in progress
// finishes, the summary is printed and the exit status says how it went.
func TestDemoSIGTERM(t *testing.T) {
	needPostgres(t)
	cmd := exec.CommandContext(t.Context(), os.Args[0], "-demo", "-duration", "1m", "-rotate-every", "700ms", "-window", "300ms", "-clients", "4")
	cmd.Env = append(os.Environ(), mainEnv+"=1")
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	rows := regexp.MustCompile(`^\s*\d+\.\ds\s+\d+\s+\d+\s+(\d+)\s+(\d+)`)
	ready := make(chan struct{})
	var once sync.Once
	copied := make(chan struct{})
	go func() {
		defer close(copied)
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			out.WriteString(sc.Text() + "\n")
			// Signal once a rotation completed and a switch happened.
			if m := rows.FindStringSubmatch(sc.Text()); m != nil && m[1] != "0" && m[2] != "0" {
				once.Do(func() { close(ready) })
			}
		}
	}()
	select {
	case <-ready:
	case <-time.After(30 * time.Second):
		cmd.Process.Kill()
		<-copied
		t.Fatalf("no rotation and switch within 30s; output:\n%s", out.String())
	}
	began := time.Now()
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	<-copied
	err = cmd.Wait()
	t.Logf("exited %v after SIGTERM in %v\n%s", err, time.Since(began), out.String())
	if err != nil {
		t.Errorf("exit after SIGTERM: %v, want status 0", err)
	}
	if summary.FindString(out.String()) == "" {
		t.Error("no summary: the process did not shut down in order")
	}
	if took := time.Since(began); took > 15*time.Second {
		t.Errorf("took %v to stop", took)
	}
}

func TestUsage(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want int
	}{
		{nil, 2},
		{[]string{"-no-such-flag"}, 2},
		{[]string{"-h"}, 0},
		{[]string{"-help"}, 0},
	} {
		var out bytes.Buffer
		if code := run(t.Context(), tc.args, &out); code != tc.want {
			t.Errorf("run(%q) = %d, want %d; output:\n%s", tc.args, code, tc.want, out.String())
		}
	}
}

// A failing request is answered with a bare 503; the error goes to the
// log only. /healthz answers within its timeout even when the database
// does not answer at all.
func TestServiceErrors(t *testing.T) {
	// A "database" that accepts connections and never answers.
	hang, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var conns sync.WaitGroup
	t.Cleanup(func() { hang.Close(); conns.Wait() })
	conns.Go(func() {
		for {
			c, err := hang.Accept()
			if err != nil {
				return
			}
			conns.Go(func() { io.Copy(io.Discard, c); c.Close() })
		}
	})
	port := hang.Addr().(*net.TCPAddr).Port

	srv := secretcachetest.NewServer(t)
	sm := secretsmanager.NewFromConfig(srv.AWSConfig())
	const id = "svc/db"
	if _, err := sm.CreateSecret(t.Context(), &secretsmanager.CreateSecretInput{
		Name:         aws.String(id),
		SecretString: aws.String(`{"engine":"postgres","host":"127.0.0.1","port":` + strconv.Itoa(port) + `,"username":"app","password":"never-shown-to-clients","dbname":"app"}`),
	}); err != nil {
		t.Fatal(err)
	}
	cache, err := secretcache.New(sm)
	if err != nil {
		t.Fatal(err)
	}
	defer cache.Close()
	src, err := dbretry.NewSource(cache, id)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	pool, err := newPool(t.Context(), src, "sslmode=disable connect_timeout=1", 0)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	var logged bytes.Buffer
	var mu sync.Mutex
	s := &service{pool: pool, log: slog.New(slog.NewTextHandler(&lockedWriter{w: &logged, mu: &mu}, nil)), healthTimeout: 300 * time.Millisecond}
	ts := httptest.NewServer(s.routes())
	defer ts.Close()

	for _, path := range []string{"/healthz", "/time"} {
		began := time.Now()
		resp, err := http.Get(ts.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		took := time.Since(began)
		if resp.StatusCode != http.StatusServiceUnavailable || strings.TrimSpace(string(body)) != "Service Unavailable" {
			t.Errorf("GET %s = %d %q, want a bare 503", path, resp.StatusCode, body)
		}
		if path == "/healthz" && took > 2*time.Second {
			t.Errorf("GET /healthz took %v, want about its 300ms timeout", took)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if !strings.Contains(logged.String(), "request failed") || !strings.Contains(logged.String(), "/time") {
		t.Errorf("log lacks the errors:\n%s", logged.String())
	}
	if strings.Contains(logged.String(), "never-shown-to-clients") {
		t.Error("log shows the password")
	}
}

type lockedWriter struct {
	w  io.Writer
	mu *sync.Mutex
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}
