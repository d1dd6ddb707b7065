// Command access-doctor explains whether a role can read a Secrets Manager
// secret with GetSecretValue, policy by policy, and what to change when it
// cannot: the secret's resource policy, the caller's identity policies and
// permissions boundary, and the KMS key policy, evaluated offline by rekey's
// policy package.
//
//	go run ./examples/access-doctor                 # demo: report vs. an emulator enforcing IAM, no AWS account
//	go run ./examples/access-doctor -h              # flags
//	access-doctor -secret-id prod/db -caller arn:aws:iam::444455556666:role/reader -identity-policy reader.json
//	access-doctor -offline -secret-id arn:aws:secretsmanager:... -caller ... -secret-policy s.json -key-policy k.json -key-manager CUSTOMER -identity-policy reader.json
//
// Exit status: 0 allowed, 1 denied, 2 usage error (bad flags or policy
// files), 3 the check could not be made (an AWS call failed).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/smithy-go"

	"github.com/rekeyhq/rekey/policy"
	"github.com/rekeyhq/rekey/secretcache/secretcachetest"
)

// Exit statuses.
const (
	exitAllowed  = 0
	exitDenied   = 1
	exitUsage    = 2
	exitNoAnswer = 3
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

const usageText = `Usage: access-doctor [flags]

access-doctor explains whether -caller may read the secret -secret-id with
GetSecretValue. Both Secrets Manager (the secret's resource policy, the
caller's identity policies and permissions boundary) and KMS (the key policy
and the same identity policies, for the kms:Decrypt Secrets Manager makes on
the caller's behalf) must allow it. It prints every layer's verdict, failing
ones first, each with the statement to add or change.

Modes:
  (no flags), -demo   start an in-process Secrets Manager and KMS emulator that
                      enforces IAM and walk through sharing a secret with
                      another account, comparing each report with the
                      emulator's live answer
  -secret-id ID       read the secret's resource policy, KMS key and key policy
                      from AWS (config.LoadDefaultConfig: the usual AWS_*
                      variables and ~/.aws files; -region and -endpoint override)
  -offline            decide from files only: -secret-id must then be the
                      secret's ARN; give -secret-policy, -key-arn, -key-policy
                      and -key-manager as they are (none: no resource policy and
                      the AWS managed key aws/secretsmanager)

The caller's identity policies cannot be read from Secrets Manager: pass each
one (inline or managed, as JSON) with -identity-policy, as often as needed;
none means the caller has none. Download them with, for example,
  aws iam get-role-policy --role-name reader --policy-name read-secrets --query PolicyDocument

Flags:
`

const usageTail = `
Exit status: 0 allowed, 1 denied, 2 usage error (bad flags or policy files),
3 the check could not be made (an AWS call failed).
`

// listFlag is a repeatable string flag.
type listFlag []string

func (l *listFlag) String() string { return strings.Join(*l, ",") }
func (l *listFlag) Set(v string) error {
	*l = append(*l, v)
	return nil
}

type options struct {
	demo, offline, lint bool
	secretID, caller    string
	identity            listFlag
	boundary            string
	contextKV           listFlag
	region, endpoint    string
	secretPolicy        string
	keyARN, keyPolicy   string
	keyManager          string
}

// run is the whole command: it parses args, writes the report to stdout and
// problems to stderr, and returns the exit status.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("access-doctor", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var o options
	fs.BoolVar(&o.demo, "demo", false, "run the demo against an in-process emulator (the default with no flags)")
	fs.BoolVar(&o.offline, "offline", false, "decide from policy files only, without calling AWS")
	fs.StringVar(&o.secretID, "secret-id", "", "the secret's name or ARN (offline: its ARN)")
	fs.StringVar(&o.caller, "caller", "", "the reader: an IAM role, user or role-session ARN")
	fs.Var(&o.identity, "identity-policy", "`file` with one of the caller's identity policies (repeatable)")
	fs.StringVar(&o.boundary, "boundary", "", "`file` with the caller's permissions boundary")
	fs.Var(&o.contextKV, "context", "add the condition `key=value` to the request, e.g. aws:SourceIp=10.0.0.1 or secretsmanager:VersionStage=AWSCURRENT (repeatable)")
	fs.StringVar(&o.region, "region", "", "AWS region (default: from the AWS configuration)")
	fs.StringVar(&o.endpoint, "endpoint", "", "`URL` of Secrets Manager and KMS (default: AWS's)")
	fs.StringVar(&o.secretPolicy, "secret-policy", "", "offline: `file` with the secret's resource policy")
	fs.StringVar(&o.keyARN, "key-arn", "", "offline: ARN of the secret's KMS key (default: aws/secretsmanager)")
	fs.StringVar(&o.keyPolicy, "key-policy", "", "offline: `file` with the KMS key policy")
	fs.StringVar(&o.keyManager, "key-manager", "", "offline: AWS or CUSTOMER (default: AWS without -key-arn, else CUSTOMER)")
	fs.BoolVar(&o.lint, "lint", true, "also lint the secret's resource policy")
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), usageText)
		fs.PrintDefaults()
		fmt.Fprint(fs.Output(), usageTail)
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return exitAllowed
		}
		return exitUsage
	}
	usage := func(format string, a ...any) int {
		fmt.Fprintf(stderr, "access-doctor: "+format+"\n", a...)
		fmt.Fprintln(stderr, "Run access-doctor -h for usage.")
		return exitUsage
	}
	if fs.NArg() > 0 {
		return usage("unexpected argument %q", fs.Arg(0))
	}
	offlineOnly := o.secretPolicy != "" || o.keyARN != "" || o.keyPolicy != "" || o.keyManager != ""
	if o.demo || len(args) == 0 {
		if o.secretID != "" || o.caller != "" || o.offline || offlineOnly ||
			len(o.identity) > 0 || o.boundary != "" || len(o.contextKV) > 0 || o.region != "" || o.endpoint != "" {
			return usage("-demo takes no other flags (it brings its own secret, caller, policies and emulator)")
		}
		return runDemo(ctx, stdout, stderr)
	}
	if o.secretID == "" || o.caller == "" {
		return usage("-secret-id and -caller are required (or -demo)")
	}
	if !validCaller(o.caller) {
		return usage("-caller %q is not an IAM or STS principal ARN; want arn:aws:iam::ACCOUNT:role/NAME, arn:aws:iam::ACCOUNT:user/NAME, arn:aws:iam::ACCOUNT:root or arn:aws:sts::ACCOUNT:assumed-role/ROLE/SESSION", o.caller)
	}
	if offlineOnly && !o.offline {
		return usage("-secret-policy, -key-arn, -key-policy and -key-manager need -offline")
	}
	if o.offline && (o.endpoint != "" || o.region != "") {
		return usage("-offline makes no AWS calls; drop -endpoint and -region")
	}
	if o.keyManager != "" && o.keyManager != policy.KeyManagerAWS && o.keyManager != policy.KeyManagerCustomer {
		return usage("-key-manager must be AWS or CUSTOMER, not %q", o.keyManager)
	}

	var a policy.SecretAccess
	var err error
	a.Context, err = parseContext(o.contextKV)
	if err != nil {
		return usage("%v", err)
	}
	a.Caller = o.caller
	for _, f := range o.identity {
		doc, err := readPolicy(f)
		if err != nil {
			return usage("%v", err)
		}
		a.CallerPolicies = append(a.CallerPolicies, doc)
	}
	if o.boundary != "" {
		if a.CallerBoundary, err = readPolicy(o.boundary); err != nil {
			return usage("%v", err)
		}
	}
	if len(o.identity) == 0 {
		fmt.Fprintln(stderr, "access-doctor: note: no -identity-policy given, so the caller is taken to have no identity policies (Secrets Manager cannot report them)")
	}

	if o.offline {
		if !strings.HasPrefix(o.secretID, "arn:") {
			return usage("-offline needs the secret's ARN as -secret-id, not %q", o.secretID)
		}
		a.Secret, a.KeyARN, a.KeyManager = o.secretID, o.keyARN, o.keyManager
		if o.secretPolicy != "" {
			if a.SecretPolicy, err = readPolicy(o.secretPolicy); err != nil {
				return usage("%v", err)
			}
		}
		if o.keyPolicy != "" {
			if a.KeyPolicy, err = readPolicy(o.keyPolicy); err != nil {
				return usage("%v", err)
			}
		}
	} else {
		var optFns []func(*config.LoadOptions) error
		if o.region != "" {
			optFns = append(optFns, config.WithRegion(o.region))
		}
		cfg, err := config.LoadDefaultConfig(ctx, optFns...)
		if err != nil {
			fmt.Fprintf(stderr, "access-doctor: load AWS configuration: %v\n", err)
			return exitNoAnswer
		}
		if o.endpoint != "" {
			cfg.BaseEndpoint = aws.String(o.endpoint)
		}
		side, err := policy.Gather(ctx, secretsmanager.NewFromConfig(cfg), kms.NewFromConfig(cfg), o.secretID)
		if err != nil {
			fmt.Fprintf(stderr, "access-doctor: %v\n", err)
			// GetKeyPolicy, for one, is refused across accounts.
			fmt.Fprintln(stderr, "access-doctor: to check without these calls, save the policies as files where they can be read and use -offline")
			return exitNoAnswer
		}
		a.Secret, a.SecretPolicy, a.KeyARN, a.KeyManager, a.KeyPolicy = side.Secret, side.SecretPolicy, side.KeyARN, side.KeyManager, side.KeyPolicy
	}
	return report(stdout, a, o.lint)
}

// validCaller reports whether s is an IAM or STS principal ARN a policy can
// name: a role, user or account root, or a role session or federated user.
func validCaller(s string) bool {
	parts := strings.SplitN(s, ":", 6)
	if len(parts) != 6 || parts[0] != "arn" || parts[1] == "" || parts[3] != "" || !isAccountID(parts[4]) {
		return false
	}
	res := parts[5]
	switch parts[2] {
	case "iam":
		for _, p := range []string{"role/", "user/"} {
			if name, ok := strings.CutPrefix(res, p); ok {
				return name != "" && !strings.HasSuffix(name, "/") && !strings.ContainsAny(name, "*?")
			}
		}
		return res == "root"
	case "sts":
		if r, ok := strings.CutPrefix(res, "assumed-role/"); ok {
			role, session, ok := strings.Cut(r, "/")
			return ok && role != "" && session != "" && !strings.ContainsAny(r, "*?")
		}
		name, ok := strings.CutPrefix(res, "federated-user/")
		return ok && name != "" && !strings.ContainsAny(name, "*?")
	}
	return false
}

func isAccountID(s string) bool {
	if len(s) != 12 {
		return false
	}
	for _, c := range s {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

// report prints the access report (and lint findings) and returns the exit
// status it implies.
func report(w io.Writer, a policy.SecretAccess, lint bool) int {
	r := policy.CheckGetSecretValue(a)
	fmt.Fprint(w, r)
	if lint && a.SecretPolicy != nil {
		// The secret's ARN tells Lint its owner, so a grant of
		// secretsmanager:* to the owner's own roles is not flagged.
		owner := ""
		if parts := strings.SplitN(a.Secret, ":", 6); len(parts) == 6 && isAccountID(parts[4]) {
			owner = parts[4]
		}
		for _, f := range policy.Lint(a.SecretPolicy, func(o *policy.LintOptions) { o.Owner = owner }) {
			fmt.Fprintln(w, "  lint: secret policy "+f.String())
		}
	}
	if r.Allowed {
		return exitAllowed
	}
	return exitDenied
}

func parseContext(kvs []string) (map[string][]string, error) {
	if len(kvs) == 0 {
		return nil, nil
	}
	m := make(map[string][]string, len(kvs))
	for _, kv := range kvs {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || k == "" {
			return nil, fmt.Errorf("-context %q: want key=value", kv)
		}
		m[k] = append(m[k], v)
	}
	return m, nil
}

// readPolicy reads and parses one policy file.
func readPolicy(name string) (*policy.Document, error) {
	f, err := os.Open(name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, policy.MaxDocumentSize+1))
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", name, err)
	}
	doc, err := policy.Parse(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	return doc, nil
}

// The demo's cast: a secret in the emulator's account, read by a role of
// another account, whose requests the emulator knows by demoCallerKey.
const (
	demoSecret    = "demo/shared-api-key"
	demoCaller    = "arn:aws:iam::210987654321:role/reader"
	demoCallerKey = "AKIADEMOREADER000000"
)

// runDemo walks through sharing a secret with another account against an
// in-process emulator that enforces IAM: no resource policy, then no key
// policy grant, then allowed. At each step it prints the report of package
// policy next to the emulator's live answer to the reader's GetSecretValue,
// and whether they agree. It returns the exit status of the last report,
// or exitNoAnswer if the report and the emulator disagreed at any step.
func runDemo(ctx context.Context, stdout, stderr io.Writer) int {
	srv, err := secretcachetest.Start(func(o *secretcachetest.Options) { o.EnforceIAM = true })
	if err != nil {
		fmt.Fprintf(stderr, "access-doctor: start emulator: %v\n", err)
		return exitNoAnswer
	}
	defer srv.Close()
	sm, kc := srv.Client(), srv.KMSClient() // the account's root user: the secret's owner
	fail := func(step string, err error) int {
		fmt.Fprintf(stderr, "access-doctor: demo: %s: %v\n", step, err)
		return exitNoAnswer
	}

	key, err := kc.CreateKey(ctx, &kms.CreateKeyInput{Description: aws.String("access-doctor demo: shared secrets")})
	if err != nil {
		return fail("create key", err)
	}
	keyARN := aws.ToString(key.KeyMetadata.Arn)
	created, err := sm.CreateSecret(ctx, &secretsmanager.CreateSecretInput{
		Name: aws.String(demoSecret), KmsKeyId: aws.String(keyARN), SecretString: aws.String("demo-value-never-printed"),
	})
	if err != nil {
		return fail("create secret", err)
	}
	secretARN := aws.ToString(created.ARN)
	identityJSON := `{"Version": "2012-10-17", "Statement": [
		{"Effect": "Allow", "Action": "secretsmanager:GetSecretValue", "Resource": "` + secretARN + `"},
		{"Effect": "Allow", "Action": "kms:Decrypt", "Resource": "` + keyARN + `"}]}`
	identity := policy.MustParse(identityJSON)
	if err := srv.AddPrincipal(demoCallerKey, demoCaller, identityJSON); err != nil {
		return fail("add the reader", err)
	}
	reader := srv.ClientAs(demoCallerKey)

	fmt.Fprintf(stdout, "access-doctor demo: an in-process Secrets Manager and KMS for account %s (%s),\n", srv.AccountID(), srv.Region())
	fmt.Fprintln(stdout, "enforcing IAM: each step compares the report with the emulator's live answer.")
	fmt.Fprintf(stdout, "The secret %s is encrypted with the customer managed key %s.\n", demoSecret, keyARN)
	fmt.Fprintf(stdout, "The reader is %s, in another account; its identity policy allows\n", demoCaller)
	fmt.Fprintln(stdout, "secretsmanager:GetSecretValue on the secret and kms:Decrypt on the key.")

	disagreed := false
	check := func(title string) (int, error) {
		fmt.Fprintf(stdout, "\n== %s\n", title)
		a, err := policy.Gather(ctx, sm, kc, demoSecret)
		if err != nil {
			return exitNoAnswer, err
		}
		a.Caller, a.CallerPolicies = demoCaller, []*policy.Document{identity}
		code := report(stdout, a, true)
		live, err := liveAnswer(ctx, reader, secretARN)
		if err != nil {
			return exitNoAnswer, err
		}
		reported := "allowed"
		if code != exitAllowed {
			reported = "denied"
		}
		verdict := "agree"
		if strings.HasPrefix(live, "allowed") != (code == exitAllowed) {
			verdict, disagreed = "DISAGREE", true
		}
		fmt.Fprintf(stdout, "  report: %-8s emulator (the reader's GetSecretValue): %s   => %s\n", reported, live, verdict)
		return code, nil
	}

	if _, err := check("Step 1: the secret has no resource policy"); err != nil {
		return fail("step 1", err)
	}
	secretPolicy := `{"Version": "2012-10-17", "Statement": {"Sid": "CrossAccountRead", "Effect": "Allow",
		"Principal": {"AWS": "` + demoCaller + `"}, "Action": "secretsmanager:GetSecretValue", "Resource": "*"}}`
	if _, err := sm.PutResourcePolicy(ctx, &secretsmanager.PutResourcePolicyInput{
		SecretId: aws.String(demoSecret), ResourcePolicy: aws.String(secretPolicy), BlockPublicPolicy: aws.Bool(true),
	}); err != nil {
		return fail("put resource policy", err)
	}
	if _, err := check("Step 2: put-resource-policy lets the reader call GetSecretValue"); err != nil {
		return fail("step 2", err)
	}
	keyPolicy := `{"Version": "2012-10-17", "Statement": [
		{"Sid": "Enable IAM User Permissions", "Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::` + srv.AccountID() + `:root"}, "Action": "kms:*", "Resource": "*"},
		{"Sid": "CrossAccountDecryptViaSecretsManager", "Effect": "Allow", "Principal": {"AWS": "` + demoCaller + `"}, "Action": "kms:Decrypt", "Resource": "*",
		 "Condition": {"StringEquals": {"kms:ViaService": "secretsmanager.` + srv.Region() + `.amazonaws.com"}}}]}`
	if _, err := kc.PutKeyPolicy(ctx, &kms.PutKeyPolicyInput{KeyId: aws.String(keyARN), PolicyName: aws.String("default"), Policy: aws.String(keyPolicy)}); err != nil {
		return fail("put key policy", err)
	}
	code, err := check("Step 3: put-key-policy lets the reader decrypt through Secrets Manager")
	if err != nil {
		return fail("step 3", err)
	}
	if disagreed {
		fmt.Fprintln(stderr, "access-doctor: demo: the report and the emulator disagreed")
		return exitNoAnswer
	}
	return code
}

// liveAnswer asks the emulator for the secret as the reader and describes
// the answer: "allowed", or "denied (<code>: <AWS's message>)". The value
// read is discarded, never printed. An error that is not the service's
// answer (the emulator unreachable) is returned.
func liveAnswer(ctx context.Context, reader *secretsmanager.Client, secretARN string) (string, error) {
	_, err := reader.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String(secretARN)})
	if err == nil {
		return "allowed", nil
	}
	var ae smithy.APIError
	if !errors.As(err, &ae) {
		return "", fmt.Errorf("GetSecretValue as the reader: %w", err)
	}
	return fmt.Sprintf("denied (%s: %s)", ae.ErrorCode(), ae.ErrorMessage()), nil
}
