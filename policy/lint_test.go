package policy_test

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/rekeyhq/rekey/policy"
)

func TestLintCases(t *testing.T) {
	data, err := os.ReadFile(filepath.Join("testdata", "lint", "cases.json"))
	if err != nil {
		t.Fatal(err)
	}
	var f struct {
		Description string `json:"description"`
		Cases       []struct {
			Name   string          `json:"name"`
			Owner  string          `json:"owner"`
			Policy json.RawMessage `json:"policy"`
			Want   []string        `json:"want"`
		} `json:"cases"`
	}
	if err := json.Unmarshal(data, &f); err != nil {
		t.Fatal(err)
	}
	for _, c := range f.Cases {
		t.Run(c.Name, func(t *testing.T) {
			doc := parseDoc(t, c.Policy, c.Name)
			findings := policy.Lint(doc, func(o *policy.LintOptions) { o.Owner = c.Owner })
			got := []string{}
			for _, fd := range findings {
				got = append(got, fmt.Sprintf("%s@%d", fd.Check, fd.Statement))
				if fd.Message == "" {
					t.Errorf("finding %s has no message", fd.Check)
				}
				if s := fd.String(); !strings.Contains(s, fd.Check) || !strings.Contains(s, fmt.Sprintf("Statement[%d]", fd.Statement)) {
					t.Errorf("String() = %q", s)
				}
			}
			if !slices.Equal(got, c.Want) {
				for _, fd := range findings {
					t.Log(fd)
				}
				t.Errorf("findings = %q, want %q", got, c.Want)
			}
		})
	}
}

func TestLintNil(t *testing.T) {
	if got := policy.Lint(nil); got != nil {
		t.Errorf("Lint(nil) = %v", got)
	}
}

func TestLintMessages(t *testing.T) {
	doc := policy.MustParse(`{"Version":"2012-10-17","Statement":{"Sid":"Reader","Effect":"Allow","Principal":{"AWS":"444455556666"},"Action":"secretsmanager:GetSecretValue","Resource":"arn:aws:secretsmanager:us-east-1:111122223333:secret:prod/db-*"}}`)
	f := policy.Lint(doc)
	if len(f) != 1 {
		t.Fatalf("findings = %v", f)
	}
	want := `Statement[0] (Sid "Reader"): secret-name-wildcard: "arn:aws:secretsmanager:us-east-1:111122223333:secret:prod/db-*" also matches other secrets whose names start with "prod/db-"; Secrets Manager appends "-" and six random characters to a name, so use "arn:aws:secretsmanager:us-east-1:111122223333:secret:prod/db-??????"`
	if f[0].String() != want {
		t.Errorf("String() =\n%s\nwant\n%s", f[0], want)
	}
}

// TestLintVersionStageAdvice checks that the advice names an operator that
// lets plain reads through: StringEqualsIfExists without a set prefix, which
// would keep ForAnyValue false for an absent key.
func TestLintVersionStageAdvice(t *testing.T) {
	for _, op := range []string{"StringEquals", "ForAnyValue:StringEquals", "ForAnyValue:StringEqualsIfExists"} {
		doc := policy.MustParse(`{"Version":"2012-10-17","Statement":{"Effect":"Allow","Principal":{"AWS":"444455556666"},"Action":"secretsmanager:GetSecretValue","Resource":"*","Condition":{"` + op + `":{"secretsmanager:VersionStage":"AWSCURRENT"}}}}`)
		f := policy.Lint(doc)
		if len(f) != 1 || f[0].Check != policy.CheckVersionStage || !strings.HasSuffix(f[0].Message, "Use StringEqualsIfExists to allow plain reads too") {
			t.Errorf("%s: findings = %v", op, f)
		}
	}
	deny := policy.MustParse(`{"Version":"2012-10-17","Statement":{"Effect":"Deny","Principal":"*","Action":"secretsmanager:GetSecretValue","Resource":"*","Condition":{"StringNotEquals":{"secretsmanager:VersionStage":"AWSCURRENT"}}}}`)
	if f := policy.Lint(deny); len(f) != 1 || !strings.Contains(f[0].Message, `add "Null": {"secretsmanager:VersionStage": "false"}`) {
		t.Errorf("Deny: findings = %v", f)
	}
}
