package main

import (
	"bytes"
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/rekeyhq/rekey/internal/pgtest"
)

// TestDemo runs a short -demo: the service must answer every request
// while the secret rotates under it.
func TestDemo(t *testing.T) {
	if _, err := pgtest.Available(); err != nil {
		if os.Getenv(pgtest.RequireEnv) == "1" {
			t.Fatal(err)
		}
		t.Skip(err)
	}
	var out bytes.Buffer
	code := run(t.Context(), []string{"-demo", "-duration", "5s", "-rotate-every", "1200ms", "-window", "400ms", "-clients", "6"}, &out)
	t.Log("\n" + out.String())
	if code != 0 {
		t.Fatalf("run returned %d", code)
	}
	m := regexp.MustCompile(`(\d+) requests served, (\d+) failed, (\d+) rotations, (\d+) API calls`).FindStringSubmatch(out.String())
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

func TestUsage(t *testing.T) {
	for _, args := range [][]string{{}, {"-no-such-flag"}} {
		var out bytes.Buffer
		if code := run(t.Context(), args, &out); code != 2 {
			t.Errorf("run(%q) = %d, want 2; output:\n%s", args, code, out.String())
		}
	}
}
