package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"
)

// TestMain fails the package if any goroutine outlives its tests: every
// run they start returns after its graceful shutdown.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// emulator is one run of the command in the background.
type emulator struct {
	url    string
	out    *bytes.Buffer // written by run; read only after stop
	stop   func() error  // cancels run and returns its error
	stdout string
}

func start(t *testing.T, args ...string) *emulator {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	e := &emulator{out: new(bytes.Buffer)}
	addrs := make(chan string, 1)
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, append([]string{"-addr", "127.0.0.1:0"}, args...), e.out, func(a string) { addrs <- a })
	}()
	select {
	case a := <-addrs:
		e.url = "http://" + a
	case err := <-done:
		cancel()
		t.Fatalf("run: %v", err)
	}
	stopped := false
	var runErr error
	e.stop = func() error {
		if !stopped {
			stopped = true
			cancel()
			runErr = <-done
			e.stdout = e.out.String()
		}
		return runErr
	}
	t.Cleanup(func() { e.stop() }) //nolint:errcheck // tests that care call stop themselves
	return e
}

// The requests below are what aws-cli 1.45 (botocore 1.43) sends, taken
// from `aws --debug`: the awsJson1_1 protocol, a SigV4 Authorization header
// whose signature the emulator does not check, botocore's JSON spacing.
// boto3 sends the same; the JavaScript SDK differs only in User-Agent.
func cliRequest(t *testing.T, url, accessKeyID, target, body string) (int, http.Header, map[string]any) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, url+"/", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	service := "secretsmanager"
	if strings.HasPrefix(target, "TrentService.") {
		service = "kms"
	}
	req.Header.Set("X-Amz-Target", target)
	req.Header.Set("Content-Type", "application/x-amz-json-1.1")
	req.Header.Set("User-Agent", "aws-cli/1.45.11 md/Botocore#1.43.11 ua/2.1 os/linux#6.18.44 md/arch#x86_64 lang/python#3.11.7 md/pyimpl#CPython cfg/retry-mode#legacy botocore/1.43.11")
	req.Header.Set("X-Amz-Date", "20261204T045521Z")
	req.Header.Set("Authorization", "AWS4-HMAC-SHA256 Credential="+accessKeyID+"/20261204/us-east-1/"+service+"/aws4_request, SignedHeaders=content-type;host;x-amz-date;x-amz-target, Signature=af01cbdd9112d4411f6511d78601f1ff08814c5ab28f3f5cf84c53f8d79a0086")
	req.Header.Set("amz-sdk-invocation-id", "2ee35299-4db2-4da8-b6c8-900043a0d66b")
	req.Header.Set("amz-sdk-request", "attempt=1")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s: %v", target, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	var out map[string]any
	if err := json.Unmarshal(raw, &out); err != nil {
		t.Fatalf("%s: reply %q is not a JSON object: %v", target, raw, err)
	}
	return resp.StatusCode, resp.Header, out
}

func writeFile(t *testing.T, name, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestServesTheAWSCLIsRequests(t *testing.T) {
	seed := writeFile(t, "seed.json", `{"prod/app/db": {"username": "app", "password": "pw"}, "prod/api-key": "k1"}`)
	e := start(t, "-seed", seed)

	status, hdr, out := cliRequest(t, e.url, "test", "secretsmanager.GetSecretValue", `{"SecretId": "prod/app/db"}`)
	if status != 200 || hdr.Get("Content-Type") != "application/x-amz-json-1.1" || hdr.Get("X-Amzn-Requestid") == "" {
		t.Fatalf("GetSecretValue: %d %v", status, hdr)
	}
	var db struct{ Username, Password string }
	if err := json.Unmarshal([]byte(out["SecretString"].(string)), &db); err != nil || db.Password != "pw" {
		t.Fatalf("seeded JSON secret: %v (%v)", out["SecretString"], err)
	}
	if stages := out["VersionStages"].([]any); len(stages) != 1 || stages[0] != "AWSCURRENT" {
		t.Fatalf("VersionStages %v", stages)
	}

	status, _, out = cliRequest(t, e.url, "test", "secretsmanager.CreateSecret",
		`{"Name": "x/y", "SecretString": "s3cr3t", "ClientRequestToken": "5178e8ed-c99c-4a56-bfd7-618da25d10e8"}`)
	if status != 200 || out["VersionId"] != "5178e8ed-c99c-4a56-bfd7-618da25d10e8" ||
		!strings.HasPrefix(out["ARN"].(string), "arn:aws:secretsmanager:us-east-1:123456789012:secret:x/y-") {
		t.Fatalf("CreateSecret: %d %v", status, out)
	}

	status, _, out = cliRequest(t, e.url, "test", "secretsmanager.ListSecrets", `{}`)
	if list := out["SecretList"].([]any); status != 200 || len(list) != 3 {
		t.Fatalf("ListSecrets: %d, %d secrets, want 3", status, len(list))
	}

	// botocore reads the error code from __type (after the last '#') or
	// the X-Amzn-ErrorType header, and the text from message/Message.
	status, hdr, out = cliRequest(t, e.url, "test", "secretsmanager.GetSecretValue", `{"SecretId": "nope"}`)
	typ, _ := out["__type"].(string)
	if status != 400 || !strings.HasSuffix(typ, "ResourceNotFoundException") || out["message"] == nil && out["Message"] == nil {
		t.Fatalf("missing secret: %d %v %v", status, hdr, out)
	}

	status, _, out = cliRequest(t, e.url, "test", "TrentService.ListKeys", `{}`)
	if status != 200 || out["Keys"] == nil {
		t.Fatalf("kms ListKeys: %d %v", status, out)
	}

	if err := e.stop(); err != nil {
		t.Fatalf("run after cancel: %v", err)
	}
	for _, want := range []string{"Secrets Manager and KMS on " + e.url, "seeded 2 secrets: prod/api-key, prod/app/db", "--endpoint-url " + e.url + " secretsmanager list-secrets", "stopped"} {
		if !strings.Contains(e.stdout, want) {
			t.Errorf("output lacks %q:\n%s", want, e.stdout)
		}
	}
	if strings.Contains(e.stdout, "pw") || strings.Contains(e.stdout, "k1") {
		t.Errorf("output shows a secret value:\n%s", e.stdout)
	}
}

func TestEnforceIAM(t *testing.T) {
	readOnly := writeFile(t, "read.json", `{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"secretsmanager:GetSecretValue","Resource":"*"}}`)
	seed := writeFile(t, "seed.json", `{"prod/api-key": "k1"}`)
	e := start(t, "-enforce-iam", "-seed", seed,
		"-principal", "AKIAREADER=arn:aws:iam::123456789012:role/reader,"+readOnly,
		"-principal", "AKIAOTHER=arn:aws:iam::444455556666:role/reader,"+readOnly)

	get := `{"SecretId": "prod/api-key"}`
	if status, _, out := cliRequest(t, e.url, "test", "secretsmanager.GetSecretValue", get); status != 200 || out["SecretString"] != "k1" {
		t.Fatalf("root user (key test): %d %v", status, out)
	}
	if status, _, out := cliRequest(t, e.url, "AKIAREADER", "secretsmanager.GetSecretValue", get); status != 200 || out["SecretString"] != "k1" {
		t.Fatalf("reader: %d %v", status, out)
	}
	status, _, out := cliRequest(t, e.url, "AKIAREADER", "secretsmanager.DeleteSecret", get)
	if typ, _ := out["__type"].(string); status != 400 || !strings.HasSuffix(typ, "AccessDeniedException") {
		t.Fatalf("reader deleting: %d %v", status, out)
	}
	if msg, _ := out["Message"].(string); !strings.Contains(msg+fmtAny(out["message"]), "arn:aws:iam::123456789012:role/reader is not authorized to perform: secretsmanager:DeleteSecret") {
		t.Fatalf("reader deleting: message %v", out)
	}
	status, _, out = cliRequest(t, e.url, "AKIAOTHER", "secretsmanager.GetSecretValue",
		`{"SecretId": "arn:aws:secretsmanager:us-east-1:123456789012:secret:prod/api-key"}`)
	if typ, _ := out["__type"].(string); status != 400 || !strings.HasSuffix(typ, "AccessDeniedException") {
		t.Fatalf("other account: %d %v", status, out)
	}
	status, _, out = cliRequest(t, e.url, "AKIAUNKNOWN", "secretsmanager.GetSecretValue", get)
	if typ, _ := out["__type"].(string); status != 400 || !strings.HasSuffix(typ, "UnrecognizedClientException") {
		t.Fatalf("unknown key: %d %v", status, out)
	}
}

func fmtAny(v any) string {
	s, _ := v.(string)
	return s
}

func TestBadArguments(t *testing.T) {
	for name, args := range map[string][]string{
		"seed missing":   {"-seed", filepath.Join(t.TempDir(), "none.json")},
		"seed not JSON":  {"-seed", writeFile(t, "bad.json", `["a"]`)},
		"principal form": {"-principal", "AKIAX"},
		"principal ARN":  {"-principal", "AKIAX=arn:aws:s3:::bucket"},
		"account":        {"-account", "42"},
		"extra argument": {"serve"},
		"unknown flag":   {"-port", "1"},
		"bad addr":       {"-addr", "256.0.0.1:1"},
	} {
		t.Run(name, func(t *testing.T) {
			var out bytes.Buffer
			err := run(context.Background(), append([]string{"-addr", "127.0.0.1:0"}, args...), &out, nil)
			if err == nil || !strings.HasPrefix(err.Error(), "emulator: ") {
				t.Fatalf("run %v: %v, want an error starting with the command name", args, err)
			}
		})
	}
}

func TestShutdownLeavesNoGoroutine(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	e := start(t)
	cliRequest(t, e.url, "test", "secretsmanager.ListSecrets", `{}`)
	http.DefaultClient.CloseIdleConnections()
	if err := e.stop(); err != nil {
		t.Fatal(err)
	}
}

// TestAWSCLI runs the real AWS CLI against the command when it is
// installed (.ci/run installs Debian's awscli).
func TestAWSCLI(t *testing.T) {
	aws, err := exec.LookPath("aws")
	if err != nil {
		t.Skip("aws (the AWS CLI) not installed")
	}
	e := start(t, "-seed", writeFile(t, "seed.json", `{"prod/app/db": "pw"}`))
	cli := func(args ...string) (string, error) {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		cmd := exec.CommandContext(ctx, aws, append([]string{"--endpoint-url", e.url, "--output", "json"}, args...)...)
		home := t.TempDir() // no user configuration or credentials
		var env []string
		for _, kv := range os.Environ() {
			if !strings.HasPrefix(kv, "AWS_") && !strings.HasPrefix(kv, "HOME=") {
				env = append(env, kv)
			}
		}
		cmd.Env = append(env, "HOME="+home, "AWS_CONFIG_FILE="+filepath.Join(home, "config"),
			"AWS_SHARED_CREDENTIALS_FILE="+filepath.Join(home, "credentials"), "AWS_ACCESS_KEY_ID=test",
			"AWS_SECRET_ACCESS_KEY=test", "AWS_DEFAULT_REGION=us-east-1", "AWS_REGION=us-east-1",
			"AWS_EC2_METADATA_DISABLED=true")
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	out, err := cli("secretsmanager", "get-secret-value", "--secret-id", "prod/app/db")
	if err != nil {
		t.Fatalf("aws secretsmanager get-secret-value: %v\n%s", err, out)
	}
	var got struct{ Name, SecretString string }
	if err := json.Unmarshal([]byte(out), &got); err != nil || got.Name != "prod/app/db" || got.SecretString != "pw" {
		t.Fatalf("get-secret-value printed %s (%v)", out, err)
	}
	out, err = cli("secretsmanager", "describe-secret", "--secret-id", "nope")
	if err == nil || !strings.Contains(out, "ResourceNotFoundException") {
		t.Fatalf("describe-secret of a missing secret: %v\n%s", err, out)
	}
}
