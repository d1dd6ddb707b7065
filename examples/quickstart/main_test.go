package main

import (
	"bytes"
	"regexp"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestRun(t *testing.T) {
	defer goleak.VerifyNone(t)
	var out bytes.Buffer
	began := time.Now()
	if err := run(t.Context(), &out); err != nil {
		t.Fatalf("run: %v\n%s", err, out.String())
	}
	// It waits out one TTL (1.5s) and one RotationPollInterval on real time.
	if d := time.Since(began); d > 5*time.Second {
		t.Errorf("quickstart took %v, want under 5s", d)
	}
	got := out.String()
	t.Log("\n" + got)
	for _, want := range []string{
		"read quickstart/db 10000 times as app@db.internal:5432",
		"API calls with the cache:    1 (GetSecretValue 1, DescribeSecret 0)\n",
		"API calls without a cache:   10000\n",
		"+1.67s, mid-rotation: TTL (1.5s) over, still serving the first password (true)",
		"so the cache re-checks every 200ms",
		"RotateSecret ran [createSecret setSecret testSecret finishSecret]",
		"[AWSCURRENT] (finishSecret removed AWSPENDING), picked up with 2 API calls; password changed: true",
		"hits 10002, misses 1, stale hits 2, refreshes 3, errors 0, evictions 0, entries 1",
		"API calls: GetSecretValue 2, DescribeSecret 2, BatchGetSecretValue 0; 4 in all for 10005 reads",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("output lacks %q", want)
		}
	}
	if !regexp.MustCompile(`\+240ms after the rotation finished \(RotationPollInterval 200ms\): OnChange\(quickstart/db\): AWSCURRENT moved \S+ -> \S+`).MatchString(got) {
		t.Error("output lacks the OnChange line 240ms after the rotation finished")
	}
	if strings.Contains(got, "first-password") || strings.Contains(got, "second-password") {
		t.Error("output shows a password")
	}
}
