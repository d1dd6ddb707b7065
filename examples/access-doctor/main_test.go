package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"go.uber.org/goleak"

	"github.com/rekeyhq/rekey/secretcache/secretcachetest"
)

func runCmd(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errOut bytes.Buffer
	code = run(t.Context(), args, &out, &errOut)
	return code, out.String(), errOut.String()
}

// inOrder reports whether each of wants appears in s after the previous.
func inOrder(s string, wants ...string) bool {
	for _, w := range wants {
		i := strings.Index(s, w)
		if i < 0 {
			return false
		}
		s = s[i+len(w):]
	}
	return true
}

func TestDemo(t *testing.T) {
	defer goleak.VerifyNone(t)
	for _, args := range [][]string{nil, {"-demo"}} {
		code, out, errOut := runCmd(t, args...)
		if code != exitAllowed {
			t.Fatalf("run(%q) = %d, want 0\n%s%s", args, code, out, errOut)
		}
		steps := strings.Split(out, "\n== ")
		if len(steps) != 4 {
			t.Fatalf("want an introduction and 3 steps:\n%s", out)
		}
		firstFailure := func(step string) string {
			for _, line := range strings.Split(step, "\n") {
				if r, ok := strings.CutPrefix(line, "  FAIL "); ok {
					return r
				}
			}
			return ""
		}
		if f := firstFailure(steps[1]); !strings.HasPrefix(f, "secret policy: no resource policy allows secretsmanager:GetSecretValue for "+demoCaller) {
			t.Errorf("step 1 first failure = %q", f)
		}
		if f := firstFailure(steps[2]); !strings.HasPrefix(f, "KMS key policy: the KMS key policy does not allow kms:Decrypt for "+demoCaller) {
			t.Errorf("step 2 first failure = %q", f)
		}
		if !strings.Contains(steps[3], "result: allowed") || firstFailure(steps[3]) != "" {
			t.Errorf("step 3 is not allowed:\n%s", steps[3])
		}
		if !inOrder(out, "result: DENIED", "result: DENIED", "result: allowed") {
			t.Errorf("verdicts out of order:\n%s", out)
		}
		// The report and the emulator's live answer agree at every step,
		// and the emulator denies for the reason the report gives.
		for i, want := range []string{
			"emulator (the reader's GetSecretValue): denied (AccessDeniedException: User: " + demoCaller + " is not authorized to perform: secretsmanager:GetSecretValue on resource: arn:aws:secretsmanager:",
			"emulator (the reader's GetSecretValue): denied (AccessDeniedException: Access to KMS is not allowed)",
			"emulator (the reader's GetSecretValue): allowed",
		} {
			if !strings.Contains(steps[i+1], want) || !strings.Contains(steps[i+1], "=> agree") {
				t.Errorf("step %d lacks %q or its agreement:\n%s", i+1, want, steps[i+1])
			}
		}
		if strings.Contains(out, "DISAGREE") {
			t.Errorf("the report and the emulator disagree:\n%s", out)
		}
		if strings.Contains(out+errOut, "demo-value-never-printed") {
			t.Error("the secret value was printed")
		}
	}
}

// writePolicies writes name→JSON policy files into a temporary directory
// and returns their paths by name.
func writePolicies(t *testing.T, docs map[string]string) map[string]string {
	t.Helper()
	dir := t.TempDir()
	paths := map[string]string{}
	for name, doc := range docs {
		p := filepath.Join(dir, name+".json")
		if err := os.WriteFile(p, []byte(doc), 0o600); err != nil {
			t.Fatal(err)
		}
		paths[name] = p
	}
	return paths
}

const (
	testSecretARN = "arn:aws:secretsmanager:us-east-1:111122223333:secret:prod/db-AbCdEf"
	testKeyARN    = "arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab"
	testCaller    = "arn:aws:iam::444455556666:role/reader"
)

var testPolicies = map[string]string{
	"identity":    `{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":["secretsmanager:GetSecretValue","kms:Decrypt"],"Resource":"*"}}`,
	"secret":      `{"Version":"2012-10-17","Statement":{"Effect":"Allow","Principal":{"AWS":"444455556666"},"Action":"secretsmanager:GetSecretValue","Resource":"*"}}`,
	"key-owner":   `{"Version":"2012-10-17","Statement":{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:root"},"Action":"kms:*","Resource":"*"}}`,
	"key-shared":  `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:root"},"Action":"kms:*","Resource":"*"},{"Effect":"Allow","Principal":{"AWS":"444455556666"},"Action":"kms:Decrypt","Resource":"*"}]}`,
	"boundary":    `{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"secretsmanager:*","Resource":"*"}}`,
	"public":      `{"Version":"2012-10-17","Statement":{"Effect":"Allow","Principal":"*","Action":"secretsmanager:GetSecretValue","Resource":"*"}}`,
	"stage":       `{"Version":"2012-10-17","Statement":{"Effect":"Allow","Principal":{"AWS":"444455556666"},"Action":"secretsmanager:GetSecretValue","Resource":"*","Condition":{"StringEquals":{"secretsmanager:VersionStage":"AWSCURRENT"}}}}`,
	"malformed":   `{"Version":"2012-10-17","Statement":{"Effect":"allow","Action":"*","Resource":"*"}}`,
	"not-a-json":  `{`,
	"key-managed": `{}`,
}

func TestOffline(t *testing.T) {
	p := writePolicies(t, testPolicies)
	base := []string{"-offline", "-secret-id", testSecretARN, "-caller", testCaller, "-identity-policy", p["identity"]}
	tests := []struct {
		name  string
		extra []string
		code  int
		want  []string
	}{
		{"no resource policy", []string{"-key-arn", testKeyARN, "-key-policy", p["key-owner"]}, exitDenied,
			[]string{"result: DENIED", "FAIL secret policy: no resource policy allows", "FAIL KMS key policy: the KMS key policy does not allow kms:Decrypt"}},
		{"key policy missing the grant", []string{"-secret-policy", p["secret"], "-key-arn", testKeyARN, "-key-manager", "CUSTOMER", "-key-policy", p["key-owner"]}, exitDenied,
			[]string{"FAIL KMS key policy: the KMS key policy does not allow kms:Decrypt", "ok   secret policy"}},
		{"allowed", []string{"-secret-policy", p["secret"], "-key-arn", testKeyARN, "-key-policy", p["key-shared"]}, exitAllowed,
			[]string{"result: allowed"}},
		{"AWS managed key across accounts", []string{"-secret-policy", p["secret"]}, exitDenied,
			[]string{"FAIL KMS key policy: the secret is encrypted with the AWS managed key aws/secretsmanager, which cannot be used from another account"}},
		{"boundary without kms:Decrypt", []string{"-secret-policy", p["secret"], "-key-arn", testKeyARN, "-key-policy", p["key-shared"], "-boundary", p["boundary"]}, exitDenied,
			[]string{"FAIL permissions boundary: the permissions boundary does not allow kms:Decrypt"}},
		{"VersionStage trap and lint", []string{"-secret-policy", p["stage"], "-key-arn", testKeyARN, "-key-policy", p["key-shared"]}, exitDenied,
			[]string{"StringEqualsIfExists", "lint: secret policy Statement[0]: version-stage-blocks-read"}},
		{"VersionStage passed", []string{"-secret-policy", p["stage"], "-key-arn", testKeyARN, "-key-policy", p["key-shared"], "-context", "secretsmanager:VersionStage=AWSCURRENT"}, exitAllowed,
			[]string{"result: allowed", "lint: secret policy Statement[0]: version-stage-blocks-read"}},
		{"public policy is linted", []string{"-secret-policy", p["public"], "-key-arn", testKeyARN, "-key-policy", p["key-shared"]}, exitAllowed,
			[]string{"lint: secret policy Statement[0]: broad-access"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, out, errOut := runCmd(t, append(base, tt.extra...)...)
			if code != tt.code {
				t.Fatalf("exit %d, want %d\n%s%s", code, tt.code, out, errOut)
			}
			for _, w := range tt.want {
				if !strings.Contains(out, w) {
					t.Errorf("output lacks %q\n%s", w, out)
				}
			}
		})
	}
}

func TestCallerForms(t *testing.T) {
	for _, caller := range []string{
		"arn:aws:iam::444455556666:role/reader",
		"arn:aws:iam::444455556666:role/path/to/reader",
		"arn:aws:iam::444455556666:user/alice",
		"arn:aws:iam::444455556666:root",
		"arn:aws:sts::444455556666:assumed-role/reader/i-0abc",
		"arn:aws:sts::444455556666:federated-user/bob",
		"arn:aws-cn:iam::444455556666:role/reader",
	} {
		if code, out, errOut := runCmd(t, "-offline", "-secret-id", testSecretARN, "-caller", caller); code == exitUsage {
			t.Errorf("-caller %s: exit %d\n%s%s", caller, code, out, errOut)
		}
	}
}

// TestLintKnowsTheOwner checks that lint is told the secret's account: a
// grant of secretsmanager:* to the owner's own role is not flagged, one to
// another account is.
func TestLintKnowsTheOwner(t *testing.T) {
	p := writePolicies(t, map[string]string{
		"identity": testPolicies["identity"],
		"admin": `{"Version":"2012-10-17","Statement":[
			{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:role/admin"},"Action":"secretsmanager:*","Resource":"*"},
			{"Effect":"Allow","Principal":{"AWS":"444455556666"},"Action":"secretsmanager:*","Resource":"*"}]}`,
	})
	_, out, _ := runCmd(t, "-offline", "-secret-id", testSecretARN, "-caller", "arn:aws:iam::111122223333:role/app", "-identity-policy", p["identity"], "-secret-policy", p["admin"])
	if !strings.Contains(out, "lint: secret policy Statement[1]: full-access-granted") || strings.Contains(out, "Statement[0]: full-access-granted") {
		t.Errorf("lint findings:\n%s", out)
	}
}

func TestOfflineWithoutIdentityPolicies(t *testing.T) {
	code, out, errOut := runCmd(t, "-offline", "-secret-id", testSecretARN, "-caller", "arn:aws:iam::111122223333:role/app")
	if code != exitDenied || !strings.Contains(out, "FAIL identity policy") {
		t.Errorf("exit %d\n%s", code, out)
	}
	if !strings.Contains(errOut, "no -identity-policy given") {
		t.Errorf("no note about missing identity policies: %q", errOut)
	}
}

func TestLive(t *testing.T) {
	// Registered first, so it runs after the emulator's own cleanup.
	t.Cleanup(func() { goleak.VerifyNone(t) })
	srv := secretcachetest.NewServer(t)
	// config.LoadDefaultConfig reads these; keep it off any real AWS
	// configuration of the machine running the test.
	t.Setenv("AWS_ACCESS_KEY_ID", "AKIAAWSEMU0000000000")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "awsemu-secret-access-key")
	t.Setenv("AWS_SESSION_TOKEN", "")
	t.Setenv("AWS_PROFILE", "")
	t.Setenv("AWS_CONFIG_FILE", filepath.Join(t.TempDir(), "none"))
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", filepath.Join(t.TempDir(), "none"))
	t.Setenv("AWS_EC2_METADATA_DISABLED", "true")
	sm := srv.Client()
	if _, err := sm.CreateSecret(t.Context(), &secretsmanager.CreateSecretInput{Name: aws.String("app/db"), SecretString: aws.String("live-value-never-printed")}); err != nil {
		t.Fatal(err)
	}
	p := writePolicies(t, testPolicies)
	live := []string{"-endpoint", srv.URL(), "-region", srv.Region(), "-secret-id", "app/db", "-identity-policy", p["identity"]}

	code, out, errOut := runCmd(t, append(live, "-caller", "arn:aws:iam::"+srv.AccountID()+":role/app")...)
	if code != exitAllowed || !strings.Contains(out, "result: allowed") {
		t.Errorf("same account: exit %d\n%s%s", code, out, errOut)
	}
	code, out, errOut = runCmd(t, append(live, "-caller", testCaller)...)
	if code != exitDenied || !strings.Contains(out, "FAIL secret policy") || !strings.Contains(out, "aws/secretsmanager, which cannot be used from another account") {
		t.Errorf("cross account: exit %d\n%s%s", code, out, errOut)
	}
	if strings.Contains(out+errOut, "live-value-never-printed") {
		t.Error("the secret value was printed")
	}
	if n := srv.Calls("GetSecretValue"); n != 0 {
		t.Errorf("access-doctor read the secret value %d times", n)
	}

	code, _, errOut = runCmd(t, "-endpoint", srv.URL(), "-region", srv.Region(), "-secret-id", "no/such", "-caller", testCaller, "-identity-policy", p["identity"])
	if code != exitNoAnswer || !strings.Contains(errOut, "ResourceNotFoundException") {
		t.Errorf("unknown secret: exit %d, stderr %q", code, errOut)
	}
}

func TestUsage(t *testing.T) {
	p := writePolicies(t, testPolicies)
	code, out, errOut := runCmd(t, "-h")
	if code != 0 || out != "" {
		t.Errorf("-h: exit %d, stdout %q", code, out)
	}
	for _, w := range []string{"Usage: access-doctor", "-identity-policy file", "cannot be read from Secrets Manager", "Exit status: 0 allowed, 1 denied, 2 usage error", "-demo"} {
		if !strings.Contains(errOut, w) {
			t.Errorf("-h output lacks %q", w)
		}
	}

	tests := []struct {
		name string
		args []string
		want string
	}{
		{"unknown flag", []string{"-bogus"}, "flag provided but not defined: -bogus"},
		{"missing caller", []string{"-secret-id", "app/db"}, "-secret-id and -caller are required"},
		{"stray argument", []string{"-secret-id", "app/db", "-caller", testCaller, "extra"}, `unexpected argument "extra"`},
		{"offline files without -offline", []string{"-secret-id", testSecretARN, "-caller", testCaller, "-secret-policy", p["secret"]}, "need -offline"},
		{"offline with a name", []string{"-offline", "-secret-id", "app/db", "-caller", testCaller}, "needs the secret's ARN"},
		{"offline with an endpoint", []string{"-offline", "-secret-id", testSecretARN, "-caller", testCaller, "-endpoint", "http://x"}, "makes no AWS calls"},
		{"bad key manager", []string{"-offline", "-secret-id", testSecretARN, "-caller", testCaller, "-key-manager", "aws"}, `-key-manager must be AWS or CUSTOMER, not "aws"`},
		{"bad context", []string{"-offline", "-secret-id", testSecretARN, "-caller", testCaller, "-context", "novalue"}, `-context "novalue": want key=value`},
		{"malformed policy", []string{"-offline", "-secret-id", testSecretARN, "-caller", testCaller, "-identity-policy", p["malformed"]}, `policy: Statement[0].Effect: must be "Allow" or "Deny", got "allow"`},
		{"not JSON", []string{"-offline", "-secret-id", testSecretARN, "-caller", testCaller, "-secret-policy", p["not-a-json"]}, "malformed JSON"},
		{"missing file", []string{"-offline", "-secret-id", testSecretARN, "-caller", testCaller, "-identity-policy", "/nonexistent/x.json"}, "no such file"},
		{"demo with other flags", []string{"-demo", "-caller", testCaller}, "-demo takes no other flags"},
		{"demo with an identity policy", []string{"-demo", "-identity-policy", p["identity"]}, "-demo takes no other flags"},
		{"demo with a boundary", []string{"-demo", "-boundary", p["boundary"]}, "-demo takes no other flags"},
		{"demo with a context key", []string{"-demo", "-context", "aws:SourceIp=10.0.0.1"}, "-demo takes no other flags"},
		{"demo with a region", []string{"-demo", "-region", "eu-west-1"}, "-demo takes no other flags"},
		{"demo with an endpoint", []string{"-demo", "-endpoint", "http://127.0.0.1:1"}, "-demo takes no other flags"},
		{"caller not an ARN", []string{"-offline", "-secret-id", testSecretARN, "-caller", "reader"}, `-caller "reader" is not an IAM or STS principal ARN`},
		{"caller an account ID", []string{"-offline", "-secret-id", testSecretARN, "-caller", "444455556666"}, "is not an IAM or STS principal ARN"},
		{"caller of another service", []string{"-offline", "-secret-id", testSecretARN, "-caller", "arn:aws:s3:::bucket"}, "is not an IAM or STS principal ARN"},
		{"caller a role path only", []string{"-offline", "-secret-id", testSecretARN, "-caller", "arn:aws:iam::444455556666:role/"}, "is not an IAM or STS principal ARN"},
		{"caller with a wildcard", []string{"-offline", "-secret-id", testSecretARN, "-caller", "arn:aws:iam::444455556666:role/*"}, "is not an IAM or STS principal ARN"},
		{"caller session without a session name", []string{"-offline", "-secret-id", testSecretARN, "-caller", "arn:aws:sts::444455556666:assumed-role/reader"}, "is not an IAM or STS principal ARN"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, out, errOut := runCmd(t, tt.args...)
			if code != exitUsage {
				t.Errorf("exit %d, want %d\n%s", code, exitUsage, out)
			}
			if !strings.Contains(errOut, tt.want) {
				t.Errorf("stderr %q lacks %q", errOut, tt.want)
			}
		})
	}
}
