package policy_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rekeyhq/rekey/policy"
)

// seedDocuments returns every policy document in the test data, as JSON:
// the fuzzers' seed corpus.
func seedDocuments(tb testing.TB) [][]byte {
	tb.Helper()
	files, _ := filepath.Glob(filepath.Join("testdata", "*", "*.json"))
	var out [][]byte
	var walk func(v any)
	walk = func(v any) {
		switch v := v.(type) {
		case map[string]any:
			if _, ok := v["Statement"]; ok {
				b, err := json.Marshal(v)
				if err != nil {
					tb.Fatal(err)
				}
				out = append(out, b)
				return
			}
			for _, x := range v {
				walk(x)
			}
		case []any:
			for _, x := range v {
				walk(x)
			}
		}
	}
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			tb.Fatal(err)
		}
		var v any
		if err := json.Unmarshal(data, &v); err != nil {
			tb.Fatal(err)
		}
		walk(v)
	}
	if len(out) < 100 {
		tb.Fatalf("only %d seed documents", len(out))
	}
	return out
}

// FuzzParse checks that Parse never panics, that its errors are
// *ParseErrors starting with "policy: ", and that whatever it accepts can
// be linted and evaluated.
//
//	go test -run '^$' -fuzz '^FuzzParse$' -fuzztime 60s ./policy
func FuzzParse(f *testing.F) {
	for _, d := range seedDocuments(f) {
		f.Add(d)
	}
	f.Add([]byte(`{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"*","Resource":"arn:aws:s3:::${aws:username, 'it''s'}/${*}"}}`))
	f.Add([]byte(`{"Statement":[{"Effect":"Deny","NotPrincipal":{"AWS":123456789012},"NotAction":"*","NotResource":"arn:*"}]}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		doc, err := policy.Parse(data)
		if err != nil {
			if !strings.HasPrefix(err.Error(), "policy: ") {
				t.Fatalf("error %q does not start with the package name", err)
			}
			if _, ok := err.(*policy.ParseError); !ok {
				t.Fatalf("error %T is not a *policy.ParseError", err)
			}
			return
		}
		if len(doc.Statement) == 0 {
			t.Fatal("accepted a document without statements")
		}
		for _, f := range policy.Lint(doc) {
			_ = f.String()
		}
		checkEvaluate(t, doc, policy.Request{
			Principal: "arn:aws:sts::444455556666:assumed-role/reader/s",
			Action:    "secretsmanager:GetSecretValue",
			Resource:  "arn:aws:secretsmanager:us-east-1:111122223333:secret:prod/db-AbCdEf",
			Context:   map[string][]string{"aws:PrincipalTag/team": {"payments"}, "aws:TagKeys": {"a", "b"}},
		})
	})
}

// FuzzEvaluate evaluates fuzzed requests against fuzzed documents in every
// role a document can play, checking the invariants of Result and Report.
//
//	go test -run '^$' -fuzz '^FuzzEvaluate$' -fuzztime 60s ./policy
func FuzzEvaluate(f *testing.F) {
	principals := []string{
		"arn:aws:iam::111122223333:role/app", "arn:aws:sts::111122223333:assumed-role/app/i-0abc",
		"arn:aws:iam::444455556666:user/alice", "444455556666", "rds.amazonaws.com", "not-an-arn",
	}
	requests := [][2]string{
		{"secretsmanager:GetSecretValue", "arn:aws:secretsmanager:us-east-1:111122223333:secret:prod/db-AbCdEf"},
		{"kms:Decrypt", "arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab"},
		{"s3:GetObject", "arn:aws:s3:::bucket/key:with:colons"},
	}
	for i, d := range seedDocuments(f) {
		r := requests[i%len(requests)]
		f.Add(d, principals[i%len(principals)], r[0], r[1], "aws:PrincipalTag/team", "payments")
	}
	f.Fuzz(func(t *testing.T, data []byte, principal, action, resource, key, value string) {
		doc, err := policy.Parse(data)
		if err != nil {
			return
		}
		checkEvaluate(t, doc, policy.Request{Principal: principal, Action: action, Resource: resource, Context: map[string][]string{key: {value}}})
	})
}

func checkEvaluate(t *testing.T, doc *policy.Document, req policy.Request) {
	t.Helper()
	for _, p := range []policy.Policies{
		{Identity: []*policy.Document{doc}},
		{Resource: doc},
		{Identity: []*policy.Document{doc}, Resource: doc, Boundary: doc, SCPs: []*policy.Document{doc}},
	} {
		r := policy.Evaluate(req, p)
		if len(r.Reasons) == 0 {
			t.Fatalf("%v without reasons", r.Decision)
		}
		for _, s := range r.Statements {
			if s.Index < 0 || s.Index >= len(doc.Statement) {
				t.Fatalf("statement index %d out of range", s.Index)
			}
			want := policy.Allow
			if r.Decision == policy.ExplicitDeny {
				want = policy.Deny
			}
			if s.Effect != want || r.Decision == policy.ImplicitDeny {
				t.Fatalf("%v decided by %v", r.Decision, s)
			}
		}
		if r.Decision == policy.ExplicitDeny && len(r.Statements) == 0 {
			t.Fatal("ExplicitDeny without a statement")
		}
	}
	rep := policy.CheckGetSecretValue(policy.SecretAccess{
		Caller: req.Principal, CallerPolicies: []*policy.Document{doc}, Secret: req.Resource,
		SecretPolicy: doc, KeyPolicy: doc, KeyARN: "arn:aws:kms:us-east-1:111122223333:key/k", Context: req.Context,
	})
	allOK := true
	for _, l := range rep.Layers {
		if !l.OK {
			allOK = false
			if l.Fix == "" {
				t.Fatalf("failing layer %q without a fix", l.Name)
			}
		}
	}
	if allOK != rep.Allowed {
		t.Fatalf("Allowed = %v, layers OK = %v\n%s", rep.Allowed, allOK, rep)
	}
	_ = rep.String()
}
