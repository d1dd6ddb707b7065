package secretcachetest_test

import (
	"context"
	"errors"
	"os/exec"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager/types"
	"github.com/aws/smithy-go"
	"go.uber.org/goleak"

	"github.com/rekeyhq/rekey/secretcache/secretcachetest"
)

func createSecret(t *testing.T, sm *secretsmanager.Client, name, value string) string {
	t.Helper()
	out, err := sm.CreateSecret(context.Background(), &secretsmanager.CreateSecretInput{
		Name: aws.String(name), SecretString: aws.String(value),
	})
	if err != nil {
		t.Fatalf("CreateSecret %s: %v", name, err)
	}
	return *out.ARN
}

func errorCode(err error) string {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		return ae.ErrorCode()
	}
	return ""
}

func TestServerIdentity(t *testing.T) {
	srv := secretcachetest.NewServer(t, func(o *secretcachetest.Options) {
		o.Region = "eu-west-1"
		o.AccountID = "111122223333"
	})
	if srv.Region() != "eu-west-1" || srv.AccountID() != "111122223333" {
		t.Fatalf("Region, AccountID = %s, %s", srv.Region(), srv.AccountID())
	}
	if !strings.HasPrefix(srv.URL(), "http://127.0.0.1:") {
		t.Fatalf("URL = %s", srv.URL())
	}
	if cfg := srv.AWSConfig(); cfg.Region != "eu-west-1" || *cfg.BaseEndpoint != srv.URL() {
		t.Fatalf("AWSConfig: Region %s, BaseEndpoint %s", cfg.Region, *cfg.BaseEndpoint)
	}
	arn := createSecret(t, srv.Client(), "app/db", "pw")
	if want := "arn:aws:secretsmanager:eu-west-1:111122223333:secret:app/db-"; !strings.HasPrefix(arn, want) {
		t.Fatalf("ARN %s, want prefix %s", arn, want)
	}
	key, err := srv.KMSClient().CreateKey(context.Background(), &kms.CreateKeyInput{})
	if err != nil {
		t.Fatal(err)
	}
	if want := "arn:aws:kms:eu-west-1:111122223333:key/"; !strings.HasPrefix(*key.KeyMetadata.Arn, want) {
		t.Fatalf("key ARN %s, want prefix %s", *key.KeyMetadata.Arn, want)
	}
}

func TestStartRejectsBadOptions(t *testing.T) {
	for name, fn := range map[string]func(*secretcachetest.Options){
		"short account": func(o *secretcachetest.Options) { o.AccountID = "1234" },
		"letters":       func(o *secretcachetest.Options) { o.AccountID = "12345678901x" },
		"region":        func(o *secretcachetest.Options) { o.Region = "Mars" },
	} {
		t.Run(name, func(t *testing.T) {
			srv, err := secretcachetest.Start(fn)
			if err == nil {
				srv.Close()
				t.Fatal("Start succeeded")
			}
			if !strings.HasPrefix(err.Error(), "secretcachetest: ") {
				t.Fatalf("error %q lacks the package prefix", err)
			}
		})
	}
}

func TestCallsCountEveryRequestIncludingRetries(t *testing.T) {
	srv := secretcachetest.NewServer(t)
	sm := srv.Client()
	createSecret(t, sm, "app/key", "k1")
	srv.ResetCalls()

	srv.InjectFault(secretcachetest.Fault{Op: "GetSecretValue", Code: "ThrottlingException", Times: 1})
	out, err := sm.GetSecretValue(context.Background(), &secretsmanager.GetSecretValueInput{SecretId: aws.String("app/key")})
	if err != nil {
		t.Fatalf("GetSecretValue after one throttle: %v", err)
	}
	if *out.SecretString != "k1" {
		t.Fatalf("value %q", *out.SecretString)
	}
	if got := srv.Calls("GetSecretValue"); got != 2 {
		t.Fatalf("Calls(GetSecretValue) = %d, want 2 (one throttled, one retry)", got)
	}
	if got := srv.TotalCalls(); got != 2 {
		t.Fatalf("TotalCalls = %d, want 2", got)
	}
	srv.ResetCalls()
	if got := srv.TotalCalls(); got != 0 {
		t.Fatalf("TotalCalls after ResetCalls = %d", got)
	}
}

func TestFaultFieldsReachTheServer(t *testing.T) {
	srv := secretcachetest.NewServer(t)
	sm := srv.Client(func(o *secretsmanager.Options) { o.RetryMaxAttempts = 1 })
	createSecret(t, sm, "app/key", "k1")
	ctx := context.Background()
	get := func() error {
		_, err := sm.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String("app/key")})
		return err
	}

	srv.InjectFault(secretcachetest.Fault{Op: "DescribeSecret", Code: "InternalServiceError"})
	if err := get(); err != nil {
		t.Fatalf("a fault on another Op failed GetSecretValue: %v", err)
	}
	srv.ClearFaults()

	srv.InjectFault(secretcachetest.Fault{Op: "GetSecretValue", Code: "InternalServiceError", Message: "boom", Times: 2})
	for i := range 2 {
		err := get()
		var ise *types.InternalServiceError
		if !errors.As(err, &ise) || ise.ErrorMessage() != "boom" {
			t.Fatalf("call %d: %v, want *types.InternalServiceError with message boom", i, err)
		}
	}
	if err := get(); err != nil {
		t.Fatalf("after Times ran out: %v", err)
	}

	srv.InjectFault(secretcachetest.Fault{Op: "GetSecretValue", Hang: true})
	hctx, cancel := context.WithTimeout(ctx, 100*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := sm.GetSecretValue(hctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String("app/key")})
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("hung call: %v, want context.DeadlineExceeded", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("hung call returned after %v", d)
	}
}

func TestRotationFuncRunsEveryStep(t *testing.T) {
	srv := secretcachetest.NewServer(t)
	sm := srv.Client()
	ctx := context.Background()
	arn := createSecret(t, sm, "app/key", "k1")
	const fn = "arn:aws:lambda:us-east-1:123456789012:function:rotate"
	var steps []string
	srv.RegisterRotationFunc(fn, func(ctx context.Context, step, secretID, token string) error {
		steps = append(steps, step)
		if secretID != arn {
			t.Errorf("secretID %s, want %s", secretID, arn)
		}
		switch step {
		case "createSecret":
			_, err := sm.PutSecretValue(ctx, &secretsmanager.PutSecretValueInput{
				SecretId: aws.String(secretID), ClientRequestToken: aws.String(token),
				SecretString: aws.String("k2"), VersionStages: []string{"AWSPENDING"},
			})
			return err
		case "finishSecret":
			desc, err := sm.DescribeSecret(ctx, &secretsmanager.DescribeSecretInput{SecretId: aws.String(secretID)})
			if err != nil {
				return err
			}
			var current string
			for id, stages := range desc.VersionIdsToStages {
				if slices.Contains(stages, "AWSCURRENT") {
					current = id
				}
			}
			_, err = sm.UpdateSecretVersionStage(ctx, &secretsmanager.UpdateSecretVersionStageInput{
				SecretId: aws.String(secretID), VersionStage: aws.String("AWSCURRENT"),
				MoveToVersionId: aws.String(token), RemoveFromVersionId: aws.String(current),
			})
			return err
		}
		return nil
	})
	if _, err := sm.RotateSecret(ctx, &secretsmanager.RotateSecretInput{SecretId: aws.String(arn), RotationLambdaARN: aws.String(fn)}); err != nil {
		t.Fatal(err)
	}
	if want := []string{"createSecret", "setSecret", "testSecret", "finishSecret"}; !slices.Equal(steps, want) {
		t.Fatalf("steps %v, want %v", steps, want)
	}
	out, err := sm.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String(arn)})
	if err != nil || *out.SecretString != "k2" {
		t.Fatalf("after rotation: %v, %v", out, err)
	}

	// Scheduled rotation happens on RunDueRotations once the clock is past
	// the next rotation date, and not before.
	steps = nil
	now := time.Now()
	srv.SetClock(func() time.Time { return now })
	if _, err := sm.RotateSecret(ctx, &secretsmanager.RotateSecretInput{
		SecretId: aws.String(arn), RotationLambdaARN: aws.String(fn), RotateImmediately: aws.Bool(false),
		RotationRules: &types.RotationRulesType{AutomaticallyAfterDays: aws.Int64(1)},
	}); err != nil {
		t.Fatal(err)
	}
	// As in AWS, RotateImmediately false runs testSecret once, to check
	// the configuration.
	if !slices.Equal(steps, []string{"testSecret"}) {
		t.Fatalf("steps of RotateSecret without RotateImmediately: %v, want [testSecret]", steps)
	}
	steps = nil
	if err := srv.RunDueRotations(ctx); err != nil || len(steps) != 0 {
		t.Fatalf("RunDueRotations before the due date: %v, steps %v", err, steps)
	}
	now = now.Add(48 * time.Hour)
	if err := srv.RunDueRotations(ctx); err != nil || len(steps) != 4 {
		t.Fatalf("RunDueRotations after the due date: %v, steps %v", err, steps)
	}
}

func TestRotationFuncErrorFailsRotateSecret(t *testing.T) {
	srv := secretcachetest.NewServer(t)
	sm := srv.Client()
	arn := createSecret(t, sm, "app/key", "k1")
	const fn = "arn:aws:lambda:us-east-1:123456789012:function:broken"
	srv.RegisterRotationFunc(fn, func(ctx context.Context, step, secretID, token string) error {
		return errors.New("cannot reach the database")
	})
	_, err := sm.RotateSecret(context.Background(), &secretsmanager.RotateSecretInput{SecretId: aws.String(arn), RotationLambdaARN: aws.String(fn)})
	var ire *types.InvalidRequestException
	if !errors.As(err, &ire) || !strings.Contains(ire.ErrorMessage(), "createSecret") {
		t.Fatalf("RotateSecret: %v, want InvalidRequestException naming createSecret", err)
	}
}

func TestEnforceIAM(t *testing.T) {
	srv := secretcachetest.NewServer(t, func(o *secretcachetest.Options) { o.EnforceIAM = true })
	ctx := context.Background()
	arn := createSecret(t, srv.Client(), "app/key", "k1") // as the account's root user
	read := func(akid string) error {
		_, err := srv.ClientAs(akid).GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String(arn)})
		return err
	}
	const readOnly = `{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"secretsmanager:GetSecretValue","Resource":"*"}}`
	for _, p := range []struct{ key, arn, policy string }{
		{"AKIAREADER", "arn:aws:iam::123456789012:role/reader", readOnly},
		{"AKIANOBODY", "arn:aws:iam::123456789012:role/nobody", ""},
		{"AKIAFOREIGN", "arn:aws:iam::444455556666:role/reader", readOnly},
	} {
		var policies []string
		if p.policy != "" {
			policies = append(policies, p.policy)
		}
		if err := srv.AddPrincipal(p.key, p.arn, policies...); err != nil {
			t.Fatal(err)
		}
	}
	if err := read("AKIAREADER"); err != nil {
		t.Fatalf("reader: %v", err)
	}
	err := read("AKIANOBODY")
	if errorCode(err) != "AccessDeniedException" || !strings.Contains(err.Error(), "User: arn:aws:iam::123456789012:role/nobody is not authorized to perform: secretsmanager:GetSecretValue") {
		t.Fatalf("nobody: %v, want AccessDeniedException in AWS's words", err)
	}
	if err := read("AKIAFOREIGN"); errorCode(err) != "AccessDeniedException" {
		t.Fatalf("other account without a resource policy: %v, want AccessDeniedException", err)
	}
	if err := read("AKIAUNKNOWN"); errorCode(err) != "UnrecognizedClientException" {
		t.Fatalf("unknown access key: %v, want UnrecognizedClientException", err)
	}
	if _, err := srv.KMSClientAs("AKIANOBODY").ListKeys(ctx, &kms.ListKeysInput{}); errorCode(err) != "AccessDeniedException" {
		t.Fatalf("KMS ListKeys without a policy: %v, want AccessDeniedException", err)
	}
	if err := srv.TagPrincipal("AKIAREADER", map[string]string{"team": "payments"}); err != nil {
		t.Fatal(err)
	}
	if err := srv.TagPrincipal("AKIAUNKNOWN", nil); err == nil {
		t.Fatal("TagPrincipal of an unknown key succeeded")
	}
	if err := srv.AddPrincipal("AKIA/BAD", "arn:aws:iam::123456789012:role/x"); err == nil {
		t.Fatal("AddPrincipal accepted a malformed access key id")
	}
	err = srv.AddPrincipal("AKIAX", "arn:aws:iam::123456789012:role/x", "{not json")
	if err == nil || !strings.HasPrefix(err.Error(), "secretcachetest: ") || strings.Contains(err.Error(), "awsemu") {
		t.Fatalf("AddPrincipal of a malformed policy: %v, want an error named for this package", err)
	}

	// A permissions boundary that allows nothing caps the reader's
	// identity policy; an SCP over its account does too.
	if err := srv.SetPermissionsBoundary("AKIAREADER", `{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"kms:*","Resource":"*"}}`); err != nil {
		t.Fatal(err)
	}
	if err := read("AKIAREADER"); errorCode(err) != "AccessDeniedException" {
		t.Fatalf("reader under a boundary without secretsmanager: %v, want AccessDeniedException", err)
	}
	if err := srv.SetPermissionsBoundary("AKIAREADER", ""); err != nil {
		t.Fatal(err)
	}
	if err := srv.SetSCPs("123456789012", `{"Version":"2012-10-17","Statement":{"Effect":"Deny","Action":"secretsmanager:GetSecretValue","Resource":"*"}}`); err != nil {
		t.Fatal(err)
	}
	if err := read("AKIAREADER"); errorCode(err) != "AccessDeniedException" {
		t.Fatalf("reader under a denying SCP: %v, want AccessDeniedException", err)
	}
	if err := srv.SetSCPs("123456789012"); err != nil {
		t.Fatal(err)
	}
	if err := read("AKIAREADER"); err != nil {
		t.Fatalf("reader after the SCP is removed: %v", err)
	}
	if err := srv.SetSCPs("42"); err == nil || !strings.HasPrefix(err.Error(), "secretcachetest: ") {
		t.Fatalf("SetSCPs of a bad account: %v", err)
	}
}

func TestWithoutEnforceIAMEveryoneMayDoEverything(t *testing.T) {
	srv := secretcachetest.NewServer(t)
	arn := createSecret(t, srv.Client(), "app/key", "k1")
	// No AddPrincipal: the key is unknown, yet the read succeeds.
	if _, err := srv.ClientAs("AKIAANYONE").GetSecretValue(context.Background(), &secretsmanager.GetSecretValueInput{SecretId: aws.String(arn)}); err != nil {
		t.Fatal(err)
	}
}

func TestCloseIsIdempotentAndLeavesNoGoroutine(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	srv, err := secretcachetest.Start()
	if err != nil {
		t.Fatal(err)
	}
	sm := srv.Client()
	createSecret(t, sm, "app/key", "k1")

	// A request held by a fault and a running rotation function end with
	// Close rather than outliving it.
	const fn = "arn:aws:lambda:us-east-1:123456789012:function:slow"
	started := make(chan struct{})
	srv.RegisterRotationFunc(fn, func(ctx context.Context, step, secretID, token string) error {
		close(started)
		<-ctx.Done()
		return ctx.Err()
	})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		sm.RotateSecret(context.Background(), &secretsmanager.RotateSecretInput{SecretId: aws.String("app/key"), RotationLambdaARN: aws.String(fn)}) //nolint:errcheck // ends with Close
	}()
	<-started

	if err := srv.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := srv.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	wg.Wait()
	_, err = sm.GetSecretValue(context.Background(), &secretsmanager.GetSecretValueInput{SecretId: aws.String("app/key")})
	if err == nil {
		t.Fatal("GetSecretValue after Close succeeded")
	}
	if err := srv.RunDueRotations(context.Background()); err == nil {
		t.Fatal("RunDueRotations after Close succeeded")
	}
}

// TestAddsNoDependency checks the promise of the package doc to users of
// secretcache: importing secretcachetest brings in nothing beyond what
// secretcache needs, the SDK's KMS client and this module's own packages.
func TestAddsNoDependency(t *testing.T) {
	gobin, err := exec.LookPath("go")
	if err != nil {
		t.Skip("go command not found")
	}
	deps := func(pkg string) map[string]bool {
		out, err := exec.Command(gobin, "list", "-deps", "-f", "{{if not .Standard}}{{.Module.Path}}{{end}}", pkg).Output()
		if err != nil {
			t.Fatalf("go list -deps %s: %v", pkg, err)
		}
		m := map[string]bool{}
		for _, mod := range strings.Fields(string(out)) {
			m[mod] = true
		}
		return m
	}
	have := deps("github.com/rekeyhq/rekey/secretcache")
	for mod := range deps("github.com/rekeyhq/rekey/secretcache/secretcachetest") {
		switch {
		case have[mod], mod == "github.com/rekeyhq/rekey",
			mod == "github.com/aws/aws-sdk-go-v2/service/kms":
		default:
			t.Errorf("secretcachetest needs module %s, which secretcache does not", mod)
		}
	}
}

func TestDefaults(t *testing.T) {
	srv := secretcachetest.NewServer(t)
	if srv.Region() != secretcachetest.DefaultRegion || srv.AccountID() != secretcachetest.DefaultAccountID {
		t.Fatalf("Region, AccountID = %s, %s; want the defaults", srv.Region(), srv.AccountID())
	}
	if arn := createSecret(t, srv.Client(), "a", "v"); !strings.HasPrefix(arn, "arn:aws:secretsmanager:us-east-1:123456789012:secret:a-") {
		t.Fatalf("ARN %s", arn)
	}
}

// TestLibrariesDoNotImportTheEmulator keeps the emulator out of programs:
// only tests, examples and this package may import it.
func TestLibrariesDoNotImportTheEmulator(t *testing.T) {
	gobin, err := exec.LookPath("go")
	if err != nil {
		t.Skip("go command not found")
	}
	out, err := exec.Command(gobin, "list", "-deps", "-f", "{{.ImportPath}}",
		"github.com/rekeyhq/rekey/secretcache", "github.com/rekeyhq/rekey/dbretry",
		"github.com/rekeyhq/rekey/rotation/...", "github.com/rekeyhq/rekey/policy").Output()
	if err != nil {
		t.Fatalf("go list -deps: %v", err)
	}
	for _, pkg := range strings.Fields(string(out)) {
		if strings.HasSuffix(pkg, "/internal/awsemu") || strings.HasSuffix(pkg, "/secretcachetest") {
			t.Errorf("a library package depends on %s", pkg)
		}
	}
}
