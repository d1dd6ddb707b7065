package main

import (
	"bytes"
	"regexp"
	"strings"
	"testing"
)

func TestRun(t *testing.T) {
	var out bytes.Buffer
	if err := run(t.Context(), []string{"-duration", "4500ms"}, &out); err != nil {
		t.Fatalf("run: %v\n%s", err, out.String())
	}
	got := out.String()
	t.Log("\n" + got)
	for _, want := range []string{
		"secret demo/orders/db in us-east-1, replicated to eu-west-1\n",
		"--- us-east-1 is down: every request to it hangs\n",
		"--- us-east-1 is back\n",
		"0 failed reads, 0 failed queries\n",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("output lacks %q", want)
		}
	}
	if strings.Contains(got, "failed: ") {
		t.Error("a read or query failed")
	}
	// The cold start during the outage: the replica within the 1s budget.
	m := regexp.MustCompile(`cold read served by eu-west-1 in (\d+)ms`).FindStringSubmatch(got)
	if m == nil || len(m[1]) > 3 {
		t.Errorf("cold read during the outage not served by the replica within 1s")
	}
	if !regexp.MustCompile(`during the outage: [1-9]\d*; by us-east-1 after it recovered: [1-9]`).MatchString(got) {
		t.Error("the replica did not serve the outage or the primary did not serve after recovery")
	}
}
