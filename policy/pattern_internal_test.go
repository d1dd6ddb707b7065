package policy

import (
	"strings"
	"testing"
	"unicode/utf8"
)

// refMatch is a plain recursive matcher, the specification globMatch must
// agree with: '*' any run, '?' one character; with arn, neither crosses ':'
// unless the '*' ends its segment.
func refMatch(p []tok, s []rune, arn bool) bool {
	if len(p) == 0 {
		return len(s) == 0
	}
	switch p[0] {
	case tokStar:
		free := !arn || len(p) == 1 || p[1] == ':'
		for i := 0; i <= len(s); i++ {
			if refMatch(p[1:], s[i:], arn) {
				return true
			}
			if i < len(s) && s[i] == ':' && !free {
				return false
			}
		}
		return false
	case tokAny:
		return len(s) > 0 && !(arn && s[0] == ':') && refMatch(p[1:], s[1:], arn)
	}
	return len(s) > 0 && rune(p[0]) == s[0] && refMatch(p[1:], s[1:], arn)
}

func mustText(t testing.TB, s string) text {
	t.Helper()
	x, err := compileText(s, true)
	if err != nil {
		t.Fatal(err)
	}
	return x
}

func TestGlobMatch(t *testing.T) {
	tests := []struct {
		pattern, s string
		arn, want  bool
	}{
		{"", "", false, true},
		{"*", "", false, true},
		{"a*", "a", false, true},
		{"a*b*c", "aXbYc", false, true},
		{"a*b*c", "aXbYcZ", false, false},
		{"*a*a*a*b", strings.Repeat("a", 200), false, false},
		{"?", "é", false, true},
		{"a?c", "abbc", false, false},
		{"arn:*:x", "arn:a:b:x", true, true},
		{"arn:a*b:x", "arn:a:b:x", true, false},
		{"arn:a?b", "arn:a:b", true, false},
		{"arn:a?b", "arn:a:b", false, true},
		{strings.Repeat("a*", 300), strings.Repeat("a", 300), false, true},
	}
	for _, tt := range tests {
		g := mustText(t, tt.pattern).g
		if got := g.match(tt.s, tt.arn, false); got != tt.want {
			t.Errorf("match(%q, %q, arn=%v) = %v, want %v", tt.pattern, tt.s, tt.arn, got, tt.want)
		}
	}
}

func TestGlobMatchFold(t *testing.T) {
	g := mustText(t, "SecretsManager:Get*Value").g
	if !g.match("secretsmanager:getsecretvalue", false, true) || g.match("secretsmanager:getsecretvalue", false, false) {
		t.Error("case folding wrong")
	}
}

func TestGlobMatchAllocs(t *testing.T) {
	g := mustText(t, "arn:aws:secretsmanager:*:111122223333:secret:prod/*-??????").g
	s := "arn:aws:secretsmanager:us-east-1:111122223333:secret:prod/db-AbCdEf"
	if !g.match(s, true, false) {
		t.Fatal("no match")
	}
	if n := testing.AllocsPerRun(100, func() { g.match(s, true, false) }); n != 0 {
		t.Errorf("glob match allocates %v times", n)
	}
}

// FuzzGlob checks globMatch against refMatch.
//
//	go test -run '^$' -fuzz '^FuzzGlob$' -fuzztime 30s ./policy
func FuzzGlob(f *testing.F) {
	f.Add("arn:*:se?ret:*", "arn:aws:secret:x", true)
	f.Add("a*b?c*", "aXXbYcZZ", false)
	f.Add("*:*", "a:b:c", true)
	f.Fuzz(func(t *testing.T, pattern, s string, arn bool) {
		// refMatch is exponential in the number of stars; keep it small.
		if len(pattern) > 64 || len(s) > 64 || strings.Count(pattern, "*") > 6 || !utf8.ValidString(s) || !utf8.ValidString(pattern) {
			return
		}
		x, err := compileText(pattern, false)
		if err != nil {
			t.Fatal(err)
		}
		want := refMatch(x.g.toks, []rune(s), arn)
		if got := globMatch(x.g.toks, s, arn, false); got != want {
			t.Fatalf("globMatch(%q, %q, %v) = %v, want %v", pattern, s, arn, got, want)
		}
		if got := automatonMatch(x.g.toks, s, arn, false); got != want {
			t.Fatalf("automatonMatch(%q, %q, %v) = %v, want %v", pattern, s, arn, got, want)
		}
		if m, ok := greedyMatch(x.g.toks, s, arn, false, 1<<30); ok && (!arn || freeStars(x.g.toks)) && m != want {
			t.Fatalf("greedyMatch(%q, %q, %v) = %v, want %v", pattern, s, arn, m, want)
		}
		if got := x.g.match(s, arn, false); got != want {
			t.Fatalf("glob.match(%q, %q, %v) = %v, want %v", pattern, s, arn, got, want)
		}
	})
}
