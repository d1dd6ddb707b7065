package rotation_test

import (
	"bytes"
	"fmt"
	"log/slog"
	"strings"
	"testing"

	"github.com/rekeyhq/rekey/rotation"
)

func TestSecretNeverPrintsItsValue(t *testing.T) {
	const value = "hunter2-very-secret"
	s := rotation.NewSecret("arn:x", "v1", []string{"AWSCURRENT"}, []byte(value))
	v := rotation.Versions{Current: s, Pending: s, Previous: &s}

	var outputs []string
	for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q", "%x", "%X"} {
		outputs = append(outputs, fmt.Sprintf(verb, s), fmt.Sprintf(verb, &s), fmt.Sprintf(verb, v), fmt.Sprintf(verb, &v))
	}
	outputs = append(outputs, s.String(), fmt.Sprint(s), fmt.Sprintln([]rotation.Secret{s}))
	var logs bytes.Buffer
	for _, h := range []slog.Handler{slog.NewJSONHandler(&logs, nil), slog.NewTextHandler(&logs, nil)} {
		slog.New(h).Info("rotating", "secret", s, "versions", v)
	}
	outputs = append(outputs, logs.String())
	hexValue := fmt.Sprintf("%x", value)
	for _, out := range outputs {
		if strings.Contains(out, value) || strings.Contains(out, hexValue) || strings.Contains(strings.ToLower(out), "68756e746572") ||
			strings.Contains(out, "104 117 110") {
			t.Fatalf("value printed: %s", out)
		}
	}
	if !strings.Contains(fmt.Sprint(s), "v1") || !strings.Contains(logs.String(), "v1") {
		t.Fatalf("version id not printed: %v / %s", s, logs.String())
	}
}

func TestSecretValueIsACopy(t *testing.T) {
	in := []byte("abc")
	s := rotation.NewSecret("arn:x", "v1", nil, in)
	in[0] = 'x'
	got := s.Value()
	got[1] = 'y'
	if string(s.Value()) != "abc" {
		t.Fatalf("Value = %q, want the value as given, unaffected by callers", s.Value())
	}
	if s.Binary() {
		t.Fatal("NewSecret made a binary secret")
	}
	if !rotation.NewSecret("a", "v", []string{"AWSPENDING"}, nil).HasStage(rotation.StagePending) {
		t.Fatal("HasStage(AWSPENDING) = false")
	}
}
