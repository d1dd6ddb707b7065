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
	if d := time.Since(began); d > 2*time.Second {
		t.Errorf("quickstart took %v, want under 2s", d)
	}
	got := out.String()
	t.Log("\n" + got)
	for _, want := range []string{
		"read quickstart/db 10000 times as app@db.internal:5432",
		"API calls with the cache:    1\n",
		"API calls without a cache:   10000\n",
		"emulator saw GetSecretValue: 1\n",
		"RotateSecret ran [createSecret setSecret testSecret finishSecret]",
		"picked up with 2 API calls; password changed: true",
		"hits 9999, misses 1, stale hits 0, refreshes 2, errors 0, evictions 0, entries 1",
		"API calls: GetSecretValue 2, DescribeSecret 1, BatchGetSecretValue 0 (total 3 for 10001 reads)",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("output lacks %q", want)
		}
	}
	if !regexp.MustCompile(`OnChange\(quickstart/db\): AWSCURRENT moved \S+ -> \S+`).MatchString(got) {
		t.Error("output lacks the OnChange line")
	}
	if strings.Contains(got, "first-password") || strings.Contains(got, "second-password") {
		t.Error("output shows a password")
	}
}
