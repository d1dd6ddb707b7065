package policy_test

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/rekeyhq/rekey/policy"
)

func TestParseForms(t *testing.T) {
	doc, err := policy.Parse([]byte(`{
		"Version": "2012-10-17",
		"Id": "secret-policy",
		"Statement": [
			{"Sid": "One", "Effect": "Allow", "Principal": "*", "Action": "secretsmanager:GetSecretValue", "Resource": "*",
			 "Condition": {"StringEquals": {"aws:PrincipalOrgID": ["o-1", "o-2"]}, "Bool": {"aws:SecureTransport": true}}},
			{"Effect": "Deny", "NotPrincipal": {"AWS": ["arn:aws:iam::111122223333:root", 111122223333], "Service": "rds.amazonaws.com"},
			 "NotAction": ["secretsmanager:Describe*"], "NotResource": "arn:aws:secretsmanager:*:*:secret:x-??????"}
		]}`))
	if err != nil {
		t.Fatal(err)
	}
	if doc.Version != policy.VersionCurrent || doc.ID != "secret-policy" || len(doc.Statement) != 2 {
		t.Fatalf("doc = %+v", doc)
	}
	s0, s1 := doc.Statement[0], doc.Statement[1]
	if s0.Sid != "One" || s0.Effect != policy.Allow || !s0.Principal.Wildcard || s0.Action[0] != "secretsmanager:GetSecretValue" || s0.Resource[0] != "*" {
		t.Errorf("statement 0 = %+v", s0)
	}
	if len(s0.Condition) != 2 || s0.Condition[0].Operator != "Bool" || s0.Condition[0].Values[0] != "true" ||
		s0.Condition[1].Key != "aws:PrincipalOrgID" || len(s0.Condition[1].Values) != 2 {
		t.Errorf("conditions = %+v", s0.Condition)
	}
	if s1.Effect != policy.Deny || s1.Principal != nil || len(s1.NotPrincipal.AWS) != 2 || s1.NotPrincipal.AWS[1] != "111122223333" ||
		s1.NotPrincipal.Service[0] != "rds.amazonaws.com" || s1.Action != nil || s1.NotAction[0] != "secretsmanager:Describe*" || s1.NotResource == nil {
		t.Errorf("statement 1 = %+v", s1)
	}

	one, err := policy.Parse([]byte(`{"Statement": {"Effect": "Allow", "Action": "*", "Resource": "*"}}`))
	if err != nil || len(one.Statement) != 1 || one.Version != "" {
		t.Fatalf("single statement object: %+v, %v", one, err)
	}
}

func TestParseErrors(t *testing.T) {
	tests := []struct {
		name      string
		doc       string
		statement int
		want      string
	}{
		{"not JSON", `{"Statement": [`, -1, "malformed JSON"},
		{"trailing data", `{"Statement": {"Effect": "Allow", "Action": "*", "Resource": "*"}} {}`, -1, "malformed JSON"},
		{"array document", `[]`, -1, "must be a JSON object"},
		{"unknown top-level element", `{"Version": "2012-10-17", "Statements": []}`, -1, `Statements: unknown top-level element`},
		{"missing Statement", `{"Version": "2012-10-17"}`, -1, "Statement: missing"},
		{"empty Statement", `{"Statement": []}`, -1, "has no statements"},
		{"Statement a string", `{"Statement": "x"}`, -1, "must be an object or an array"},
		{"bad Version", `{"Version": "2020-01-01", "Statement": []}`, -1, "is not a policy language version"},
		{"Version not a string", `{"Version": 2012, "Statement": []}`, -1, "Version: must be a string"},
		{"missing Effect", `{"Statement": [{"Action": "*", "Resource": "*"}]}`, 0, "Effect: missing"},
		{"lower-case Effect", `{"Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}, {"Effect": "allow", "Action": "*", "Resource": "*"}]}`, 1, `Effect: must be "Allow" or "Deny", got "allow"`},
		{"unknown statement element", `{"Statement": {"Effect": "Allow", "Actions": "*", "Resource": "*"}}`, 0, "Actions: unknown element"},
		{"no Action", `{"Statement": {"Effect": "Allow", "Resource": "*"}}`, 0, "Action: missing"},
		{"Action and NotAction", `{"Statement": {"Effect": "Allow", "Action": "*", "NotAction": "s3:*", "Resource": "*"}}`, 0, "NotAction: cannot be used together with Action"},
		{"action without service", `{"Statement": {"Effect": "Allow", "Action": ["secretsmanager:GetSecretValue", "GetSecretValue"], "Resource": "*"}}`, 0, `Action[1]: "GetSecretValue" is not of the form service:action`},
		{"empty action list", `{"Statement": {"Effect": "Allow", "Action": [], "Resource": "*"}}`, 0, "Action: is an empty array"},
		{"action a number", `{"Statement": {"Effect": "Allow", "Action": 7, "Resource": "*"}}`, 0, "Action: must be a string or an array of strings, got 7"},
		{"no Resource", `{"Statement": {"Effect": "Allow", "Action": "*"}}`, 0, "Resource: missing"},
		{"Resource and NotResource", `{"Statement": {"Effect": "Allow", "Action": "*", "Resource": "*", "NotResource": "*"}}`, 0, "NotResource: cannot be used together"},
		{"Resource not an ARN", `{"Statement": {"Effect": "Allow", "Action": "*", "Resource": "prod/db"}}`, 0, `Resource[0]: "prod/db" is neither "*" nor an ARN`},
		{"Principal a string", `{"Statement": {"Effect": "Allow", "Principal": "arn:aws:iam::111122223333:root", "Action": "*", "Resource": "*"}}`, 0, `Principal: as a string must be "*"`},
		{"unknown principal type", `{"Statement": {"Effect": "Allow", "Principal": {"IAM": "x"}, "Action": "*", "Resource": "*"}}`, 0, "Principal.IAM: unknown principal type"},
		{"empty principal", `{"Statement": {"Effect": "Allow", "Principal": {}, "Action": "*", "Resource": "*"}}`, 0, "Principal: names no principal"},
		{"Principal and NotPrincipal", `{"Statement": {"Effect": "Deny", "Principal": "*", "NotPrincipal": "*", "Action": "*", "Resource": "*"}}`, 0, "NotPrincipal: cannot be used together with Principal"},
		{"unknown operator", `{"Statement": {"Effect": "Allow", "Action": "*", "Resource": "*", "Condition": {"StringEqual": {"k": "v"}}}}`, 0, `unknown condition operator "StringEqual"`},
		{"Null with IfExists", `{"Statement": {"Effect": "Allow", "Action": "*", "Resource": "*", "Condition": {"NullIfExists": {"k": "true"}}}}`, 0, "Null takes no IfExists"},
		{"bad Bool", `{"Statement": {"Effect": "Allow", "Action": "*", "Resource": "*", "Condition": {"Bool": {"aws:SecureTransport": "yes"}}}}`, 0, `"yes" is not "true" or "false"`},
		{"bad number", `{"Statement": {"Effect": "Allow", "Action": "*", "Resource": "*", "Condition": {"NumericLessThan": {"k": "ten"}}}}`, 0, `"ten" is not a number`},
		{"bad date", `{"Statement": {"Effect": "Allow", "Action": "*", "Resource": "*", "Condition": {"DateLessThan": {"aws:CurrentTime": "tomorrow"}}}}`, 0, `"tomorrow" is not a date`},
		{"bad CIDR", `{"Statement": {"Effect": "Allow", "Action": "*", "Resource": "*", "Condition": {"IpAddress": {"aws:SourceIp": "10.0.0.0/33"}}}}`, 0, "is not an IP address or CIDR block"},
		{"condition not an object", `{"Statement": {"Effect": "Allow", "Action": "*", "Resource": "*", "Condition": []}}`, 0, "Condition: must be an object"},
		{"operator without keys", `{"Statement": {"Effect": "Allow", "Action": "*", "Resource": "*", "Condition": {"StringEquals": {}}}}`, 0, "has no condition keys"},
		{"empty value list", `{"Statement": {"Effect": "Allow", "Action": "*", "Resource": "*", "Condition": {"StringEquals": {"k": []}}}}`, 0, "Condition.StringEquals.k: is an empty array"},
		{"unterminated variable", `{"Version": "2012-10-17", "Statement": {"Effect": "Allow", "Action": "*", "Resource": "arn:aws:s3:::b/${aws:username"}}`, 0, "unterminated policy variable"},
		{"bad variable default", `{"Version": "2012-10-17", "Statement": {"Effect": "Allow", "Action": "*", "Resource": "*", "Condition": {"StringEquals": {"k": "${aws:username, x}"}}}}`, 0, "default must be in single quotes"},
		{"NaN number", `{"Statement": {"Effect": "Allow", "Action": "*", "Resource": "*", "Condition": {"NumericEquals": {"k": "NaN"}}}}`, 0, `"NaN" is not a number`},
		{"Inf number", `{"Statement": {"Effect": "Allow", "Action": "*", "Resource": "*", "Condition": {"NumericLessThan": {"k": "-Inf"}}}}`, 0, `"-Inf" is not a number`},
		{"hexadecimal number", `{"Statement": {"Effect": "Allow", "Action": "*", "Resource": "*", "Condition": {"NumericLessThan": {"k": "0x1p4"}}}}`, 0, `"0x1p4" is not a number`},
		{"exponent as a date", `{"Statement": {"Effect": "Allow", "Action": "*", "Resource": "*", "Condition": {"DateLessThan": {"aws:EpochTime": "1e3"}}}}`, 0, `"1e3" is not a date`},
		{"fractional epoch date", `{"Statement": {"Effect": "Allow", "Action": "*", "Resource": "*", "Condition": {"DateLessThan": {"aws:EpochTime": "1700000000.5"}}}}`, 0, `"1700000000.5" is not a date`},
		{"duplicate Statement", `{"Version": "2012-10-17", "Statement": {"Effect": "Allow", "Action": "*", "Resource": "*"}, "Statement": {"Effect": "Deny", "Action": "*", "Resource": "*"}}`, -1, "policy: Statement: appears twice in one object"},
		{"duplicate Effect", `{"Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}, {"Effect": "Deny", "Effect": "Allow", "Action": "*", "Resource": "*"}]}`, 1, "Statement[1].Effect: appears twice"},
		{"duplicate principal type", `{"Statement": {"Effect": "Allow", "Principal": {"AWS": "111122223333", "AWS": "*"}, "Action": "*", "Resource": "*"}}`, 0, "Principal.AWS: appears twice"},
		{"duplicate operator", `{"Statement": {"Effect": "Allow", "Action": "*", "Resource": "*", "Condition": {"StringEquals": {"a": "1"}, "StringEquals": {"b": "2"}}}}`, 0, "Condition.StringEquals: appears twice"},
		{"duplicate condition key", `{"Statement": {"Effect": "Allow", "Action": "*", "Resource": "*", "Condition": {"StringEquals": {"a": "1", "a": "2"}}}}`, 0, "Condition.StringEquals.a: appears twice"},
		{"statement not an object", `{"Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}, 3]}`, 1, "must be a JSON object"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := policy.Parse([]byte(tt.doc))
			var pe *policy.ParseError
			if !errors.As(err, &pe) {
				t.Fatalf("err = %v, want a *policy.ParseError", err)
			}
			if pe.Statement != tt.statement {
				t.Errorf("Statement = %d, want %d (%v)", pe.Statement, tt.statement, err)
			}
			if !strings.HasPrefix(err.Error(), "policy: ") || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("err = %q, want it to contain %q", err, tt.want)
			}
		})
	}
}

func TestParseErrorWrapsJSON(t *testing.T) {
	_, err := policy.Parse([]byte(`{"Statement": [}`))
	var se *json.SyntaxError
	if !errors.As(err, &se) {
		t.Fatalf("err = %v, want it to wrap *json.SyntaxError", err)
	}
}

func TestParseSizeLimit(t *testing.T) {
	big := `{"Statement": {"Effect": "Allow", "Action": "*", "Resource": "*", "Sid": "` + strings.Repeat("x", policy.MaxDocumentSize) + `"}}`
	_, err := policy.Parse([]byte(big))
	if err == nil || !strings.Contains(err.Error(), "over the 65536-byte limit") {
		t.Fatalf("err = %v, want the size limit", err)
	}
}

func TestVariablesOnlyInCurrentVersion(t *testing.T) {
	// In a 2008-10-17 policy "${" is text, so an unterminated one is fine.
	if _, err := policy.Parse([]byte(`{"Version": "2008-10-17", "Statement": {"Effect": "Allow", "Action": "*", "Resource": "arn:aws:s3:::b/${x"}}`)); err != nil {
		t.Fatal(err)
	}
}

func TestDecisionText(t *testing.T) {
	for _, d := range []policy.Decision{policy.ImplicitDeny, policy.Allowed, policy.ExplicitDeny} {
		b, err := d.MarshalText()
		if err != nil {
			t.Fatal(err)
		}
		var back policy.Decision
		if err := back.UnmarshalText([]byte(strings.ToLower(string(b)))); err != nil || back != d {
			t.Errorf("round trip of %v: %v, %v", d, back, err)
		}
	}
	if got := policy.Decision(7).String(); got != "Decision(7)" {
		t.Errorf("String of an unknown decision = %q", got)
	}
	var d policy.Decision
	if err := d.UnmarshalText([]byte("maybe")); err == nil {
		t.Error("UnmarshalText accepted \"maybe\"")
	}
}

// TestParseConditionValueForms checks the number and date forms IAM
// accepts: decimal numbers, and ISO 8601 (W3C profile) dates or whole
// seconds since the epoch.
func TestParseConditionValueForms(t *testing.T) {
	for _, c := range []struct{ op, value string }{
		{"NumericEquals", "10"},
		{"NumericLessThan", "-2.5"},
		{"NumericLessThan", "1e3"},
		{"DateLessThan", "1700000000"},
		{"DateLessThan", "2026-01-02"},
		{"DateLessThan", "2026-01-02T15:04:05Z"},
		{"DateLessThan", "2026-01-02T15:04:05.123+02:00"},
		{"DateLessThan", "2026-01-02T15:04Z"},
	} {
		doc := `{"Statement": {"Effect": "Allow", "Action": "*", "Resource": "*", "Condition": {"` + c.op + `": {"k": "` + c.value + `"}}}}`
		if _, err := policy.Parse([]byte(doc)); err != nil {
			t.Errorf("%s %q: %v", c.op, c.value, err)
		}
	}
}
