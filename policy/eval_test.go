package policy_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rekeyhq/rekey/policy"
)

// caseFile is one file of evaluation cases under testdata/eval. Each case
// inherits the file's defaults field by field.
type caseFile struct {
	Description string     `json:"description"`
	Defaults    caseSpec   `json:"defaults"`
	Cases       []caseSpec `json:"cases"`
}

type caseSpec struct {
	Name     string   `json:"name"`
	Doc      string   `json:"doc"`
	Request  *reqSpec `json:"request"`
	Policies *polSpec `json:"policies"`
	Expect   string   `json:"expect"`
	Reason   string   `json:"reason"`
}

type reqSpec struct {
	Principal *string                    `json:"principal"`
	Action    *string                    `json:"action"`
	Resource  *string                    `json:"resource"`
	Context   map[string]json.RawMessage `json:"context"`
}

type polSpec struct {
	Identity      *[]json.RawMessage `json:"identity"`
	Resource      json.RawMessage    `json:"resource"`
	ResourceOwner *string            `json:"resourceOwner"`
	Boundary      json.RawMessage    `json:"boundary"`
	SCPs          *[]json.RawMessage `json:"scps"`
}

// evalCase is a case ready to run.
type evalCase struct {
	file, name, reason string
	req                policy.Request
	pol                policy.Policies
	want               policy.Decision
}

func loadEvalCases(t testing.TB) []evalCase {
	t.Helper()
	files, err := filepath.Glob(filepath.Join("testdata", "eval", "*.json"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no case files: %v", err)
	}
	var out []evalCase
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var cf caseFile
		dec := json.NewDecoder(strings.NewReader(string(data)))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&cf); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		for i, c := range cf.Cases {
			ec := evalCase{file: filepath.Base(f), name: c.Name, reason: c.Reason}
			if ec.name == "" {
				t.Fatalf("%s: case %d has no name", f, i)
			}
			if err := ec.want.UnmarshalText([]byte(c.Expect)); err != nil {
				t.Fatalf("%s: %s: %v", f, c.Name, err)
			}
			ec.req = mergeRequest(t, cf.Defaults.Request, c.Request)
			ec.pol = mergePolicies(t, cf.Defaults.Policies, c.Policies, f+": "+c.Name)
			out = append(out, ec)
		}
	}
	return out
}

func mergeRequest(t testing.TB, def, c *reqSpec) policy.Request {
	t.Helper()
	var r policy.Request
	for _, s := range []*reqSpec{def, c} {
		if s == nil {
			continue
		}
		if s.Principal != nil {
			r.Principal = *s.Principal
		}
		if s.Action != nil {
			r.Action = *s.Action
		}
		if s.Resource != nil {
			r.Resource = *s.Resource
		}
		if s.Context != nil {
			r.Context = map[string][]string{}
			for k, raw := range s.Context {
				var one string
				if json.Unmarshal(raw, &one) == nil {
					r.Context[k] = []string{one}
					continue
				}
				var many []string
				if err := json.Unmarshal(raw, &many); err != nil {
					t.Fatalf("context %s: %v", k, err)
				}
				r.Context[k] = many
			}
		}
	}
	return r
}

func parseDoc(t testing.TB, raw json.RawMessage, where string) *policy.Document {
	t.Helper()
	if raw == nil || string(raw) == "null" {
		return nil
	}
	d, err := policy.Parse(raw)
	if err != nil {
		t.Fatalf("%s: %v", where, err)
	}
	return d
}

func mergePolicies(t testing.TB, def, c *polSpec, where string) policy.Policies {
	t.Helper()
	var p policy.Policies
	for _, s := range []*polSpec{def, c} {
		if s == nil {
			continue
		}
		if s.Identity != nil {
			p.Identity = nil
			for _, raw := range *s.Identity {
				p.Identity = append(p.Identity, parseDoc(t, raw, where))
			}
		}
		if s.Resource != nil {
			p.Resource = parseDoc(t, s.Resource, where)
		}
		if s.ResourceOwner != nil {
			p.ResourceOwner = *s.ResourceOwner
		}
		if s.Boundary != nil {
			p.Boundary = parseDoc(t, s.Boundary, where)
		}
		if s.SCPs != nil {
			p.SCPs = nil
			for _, raw := range *s.SCPs {
				p.SCPs = append(p.SCPs, parseDoc(t, raw, where))
			}
		}
	}
	return p
}

func TestEvaluateCases(t *testing.T) {
	cases := loadEvalCases(t)
	if len(cases) < 150 {
		t.Errorf("have %d evaluation cases, want at least 150", len(cases))
	}
	seen := map[string]bool{}
	for _, c := range cases {
		id := strings.TrimSuffix(c.file, ".json") + "/" + c.name
		if seen[id] {
			t.Errorf("duplicate case %s", id)
		}
		seen[id] = true
		t.Run(id, func(t *testing.T) {
			got := policy.Evaluate(c.req, c.pol)
			if got.Decision != c.want {
				t.Fatalf("Decision = %v, want %v\nreasons:\n  %s", got.Decision, c.want, strings.Join(got.Reasons, "\n  "))
			}
			if len(got.Reasons) == 0 {
				t.Errorf("no reasons given")
			}
			if c.reason != "" && !strings.Contains(strings.Join(got.Reasons, "\n"), c.reason) {
				t.Errorf("reasons do not mention %q:\n  %s", c.reason, strings.Join(got.Reasons, "\n  "))
			}
			switch got.Decision {
			case policy.ExplicitDeny:
				for _, s := range got.Statements {
					if s.Effect != policy.Deny {
						t.Errorf("ExplicitDeny decided by %v, an Allow", s)
					}
				}
				if len(got.Statements) == 0 {
					t.Errorf("ExplicitDeny names no statement")
				}
			case policy.Allowed:
				for _, s := range got.Statements {
					if s.Effect != policy.Allow {
						t.Errorf("Allowed decided by %v, a Deny", s)
					}
				}
				if len(got.Statements) == 0 && !strings.Contains(strings.Join(got.Reasons, " "), "root user") {
					t.Errorf("Allowed names no statement")
				}
			case policy.ImplicitDeny:
				if len(got.Statements) != 0 {
					t.Errorf("ImplicitDeny names statements %v", got.Statements)
				}
			}
		})
	}
}

// TestEvaluateAllocs keeps Evaluate allocation-light: matching allocates
// nothing; what allocates is the Result (its statements and reasons).
func TestEvaluateAllocs(t *testing.T) {
	req, p := benchCase(t)
	if n := testing.AllocsPerRun(50, func() { policy.Evaluate(req, p) }); n > 30 {
		t.Errorf("Evaluate of the 20-statement set allocates %v times, want at most 30", n)
	}
	// A request no statement matches has nothing to report but the reasons.
	req.Action = "secretsmanager:ListSecretVersionIds"
	if got := policy.Evaluate(req, p); got.Decision != policy.ImplicitDeny || len(got.Statements) != 0 {
		t.Fatalf("got %v %v", got.Decision, got.Statements)
	}
	if n := testing.AllocsPerRun(50, func() { policy.Evaluate(req, p) }); n > 6 {
		t.Errorf("Evaluate of a request nothing matches allocates %v times, want at most 6", n)
	}
}
