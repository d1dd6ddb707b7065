package policy_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager/types"
	"github.com/aws/smithy-go"

	"github.com/rekeyhq/rekey/internal/awsemu"
	"github.com/rekeyhq/rekey/policy"
)

func newClients(t *testing.T) (*awsemu.Server, *secretsmanager.Client, *kms.Client) {
	t.Helper()
	srv := awsemu.New(t)
	cfg := srv.AWSConfig()
	sm := secretsmanager.NewFromConfig(cfg, func(o *secretsmanager.Options) { o.RetryMaxAttempts = 1 })
	kc := kms.NewFromConfig(cfg, func(o *kms.Options) { o.RetryMaxAttempts = 1 })
	return srv, sm, kc
}

func TestGatherManagedKey(t *testing.T) {
	srv, sm, kc := newClients(t)
	ctx := t.Context()
	out, err := sm.CreateSecret(ctx, &secretsmanager.CreateSecretInput{Name: aws.String("app/db"), SecretString: aws.String(`{"password":"hunter2"}`)})
	if err != nil {
		t.Fatal(err)
	}
	srv.ResetCalls()
	a, err := policy.Gather(ctx, sm, kc, "app/db")
	if err != nil {
		t.Fatal(err)
	}
	if a.Secret != aws.ToString(out.ARN) {
		t.Errorf("Secret = %q, want %q", a.Secret, aws.ToString(out.ARN))
	}
	if a.KeyManager != policy.KeyManagerAWS || !strings.HasPrefix(a.KeyARN, "arn:aws:kms:"+srv.Region()+":"+srv.AccountID()+":key/") {
		t.Errorf("key = %q %q, want the AWS managed key's ARN", a.KeyManager, a.KeyARN)
	}
	if a.SecretPolicy != nil {
		t.Errorf("SecretPolicy = %+v, want none", a.SecretPolicy)
	}
	if a.KeyPolicy == nil || a.KeyPolicy.ID != "auto-secretsmanager-2" {
		t.Errorf("KeyPolicy = %+v, want the aws/secretsmanager policy", a.KeyPolicy)
	}
	for _, op := range []string{"DescribeSecret", "GetResourcePolicy", "DescribeKey", "GetKeyPolicy"} {
		if n := srv.Calls(op); n != 1 {
			t.Errorf("%s calls = %d, want 1", op, n)
		}
	}
	if n := srv.Calls("GetSecretValue"); n != 0 {
		t.Errorf("Gather read the secret value %d times", n)
	}

	// The managed key serves the same account and no other.
	a.Caller = "arn:aws:iam::" + srv.AccountID() + ":role/app"
	a.CallerPolicies = []*policy.Document{policy.MustParse(`{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"secretsmanager:GetSecretValue","Resource":"*"}}`)}
	if r := policy.CheckGetSecretValue(a); !r.Allowed {
		t.Errorf("same account denied:\n%s", r)
	}
	a.Caller = "arn:aws:iam::444455556666:role/app"
	r := policy.CheckGetSecretValue(a)
	if r.Allowed || !strings.Contains(r.String(), "cannot be used from another account") {
		t.Errorf("cross account with the managed key:\n%s", r)
	}
}

// TestGatherCrossAccountStory walks the three steps of sharing a secret
// with another account, reading the policies back from the emulator each
// time.
func TestGatherCrossAccountStory(t *testing.T) {
	srv, sm, kc := newClients(t)
	ctx := t.Context()
	key, err := kc.CreateKey(ctx, &kms.CreateKeyInput{Description: aws.String("shared secrets")})
	if err != nil {
		t.Fatal(err)
	}
	keyARN := aws.ToString(key.KeyMetadata.Arn)
	if _, err := sm.CreateSecret(ctx, &secretsmanager.CreateSecretInput{Name: aws.String("shared/api"), KmsKeyId: aws.String(keyARN), SecretString: aws.String("token")}); err != nil {
		t.Fatal(err)
	}
	const caller = "arn:aws:iam::444455556666:role/reader"
	check := func() policy.Report {
		t.Helper()
		a, err := policy.Gather(ctx, sm, kc, "shared/api")
		if err != nil {
			t.Fatal(err)
		}
		if a.KeyARN != keyARN || a.KeyManager != policy.KeyManagerCustomer {
			t.Fatalf("key = %q %q, want %q CUSTOMER", a.KeyARN, a.KeyManager, keyARN)
		}
		a.Caller = caller
		a.CallerPolicies = []*policy.Document{policy.MustParse(`{"Version":"2012-10-17","Statement":[
			{"Effect":"Allow","Action":"secretsmanager:GetSecretValue","Resource":"` + a.Secret + `"},
			{"Effect":"Allow","Action":"kms:Decrypt","Resource":"` + keyARN + `"}]}`)}
		return policy.CheckGetSecretValue(a)
	}
	firstFailure := func(r policy.Report) string {
		if len(r.Layers) == 0 || r.Layers[0].OK {
			return ""
		}
		return r.Layers[0].Reason
	}

	r := check()
	if r.Allowed || !strings.HasPrefix(firstFailure(r), "no resource policy allows") {
		t.Fatalf("step 1:\n%s", r)
	}
	if _, err := sm.PutResourcePolicy(ctx, &secretsmanager.PutResourcePolicyInput{SecretId: aws.String("shared/api"), BlockPublicPolicy: aws.Bool(true),
		ResourcePolicy: aws.String(`{"Version":"2012-10-17","Statement":{"Effect":"Allow","Principal":{"AWS":"` + caller + `"},"Action":"secretsmanager:GetSecretValue","Resource":"*"}}`)}); err != nil {
		t.Fatal(err)
	}
	r = check()
	if r.Allowed || !strings.HasPrefix(firstFailure(r), "the KMS key policy does not allow kms:Decrypt") {
		t.Fatalf("step 2:\n%s", r)
	}
	if _, err := kc.PutKeyPolicy(ctx, &kms.PutKeyPolicyInput{KeyId: aws.String(keyARN), PolicyName: aws.String("default"), Policy: aws.String(`{"Version":"2012-10-17","Statement":[
		{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::` + srv.AccountID() + `:root"},"Action":"kms:*","Resource":"*"},
		{"Effect":"Allow","Principal":{"AWS":"` + caller + `"},"Action":"kms:Decrypt","Resource":"*","Condition":{"StringEquals":{"kms:ViaService":"secretsmanager.` + srv.Region() + `.amazonaws.com"}}}]}`)}); err != nil {
		t.Fatal(err)
	}
	if r = check(); !r.Allowed {
		t.Fatalf("step 3:\n%s", r)
	}
}

func TestGatherErrors(t *testing.T) {
	srv, sm, kc := newClients(t)
	ctx := t.Context()

	_, err := policy.Gather(ctx, sm, kc, "no/such/secret")
	var nf *types.ResourceNotFoundException
	if !errors.As(err, &nf) || !strings.HasPrefix(err.Error(), `policy: describe secret "no/such/secret": `) {
		t.Errorf("unknown secret: err = %v", err)
	}

	if _, err := sm.CreateSecret(ctx, &secretsmanager.CreateSecretInput{Name: aws.String("app/db"), SecretString: aws.String("s3cr3t-value")}); err != nil {
		t.Fatal(err)
	}
	srv.InjectFault(awsemu.Fault{Op: "GetKeyPolicy", Code: "AccessDeniedException", Times: 1})
	a, err := policy.Gather(ctx, sm, kc, "app/db")
	var ae smithy.APIError
	if !errors.As(err, &ae) || ae.ErrorCode() != "AccessDeniedException" {
		t.Fatalf("err = %v, want the AccessDeniedException", err)
	}
	if a.Secret == "" || a.KeyARN == "" || a.KeyPolicy != nil {
		t.Errorf("partial result = %+v, want the secret and key but no key policy", a)
	}
	if strings.Contains(err.Error(), "s3cr3t-value") {
		t.Errorf("error leaks the secret value: %v", err)
	}

	srv.InjectFault(awsemu.Fault{Op: "DescribeKey", Code: "NotFoundException", Times: 1})
	if _, err := policy.Gather(ctx, sm, kc, "app/db"); err == nil || !strings.Contains(err.Error(), "describe key") {
		t.Errorf("DescribeKey failure: err = %v", err)
	}
}

func TestGatherMalformedResourcePolicy(t *testing.T) {
	// The emulator accepts any JSON with a statement; Parse is stricter.
	_, sm, kc := newClients(t)
	ctx := t.Context()
	if _, err := sm.CreateSecret(ctx, &secretsmanager.CreateSecretInput{Name: aws.String("app/db"), SecretString: aws.String("x")}); err != nil {
		t.Fatal(err)
	}
	if _, err := sm.PutResourcePolicy(ctx, &secretsmanager.PutResourcePolicyInput{SecretId: aws.String("app/db"),
		ResourcePolicy: aws.String(`{"Version":"2012-10-17","Statement":{"Effect":"Allow","Principal":{"AWS":"444455556666"},"Action":"GetSecretValue","Resource":"*"}}`)}); err != nil {
		t.Fatal(err)
	}
	_, err := policy.Gather(ctx, sm, kc, "app/db")
	var pe *policy.ParseError
	if !errors.As(err, &pe) || pe.Statement != 0 {
		t.Errorf("err = %v, want a ParseError for Statement[0]", err)
	}
}
