package policy_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	kmstypes "github.com/aws/aws-sdk-go-v2/service/kms/types"
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
	// A customer managed key's policy is needed: a refusal is an error.
	key, err := kc.CreateKey(ctx, &kms.CreateKeyInput{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := sm.CreateSecret(ctx, &secretsmanager.CreateSecretInput{Name: aws.String("app/cmk"), KmsKeyId: key.KeyMetadata.KeyId, SecretString: aws.String("s3cr3t-value")}); err != nil {
		t.Fatal(err)
	}
	srv.InjectFault(awsemu.Fault{Op: "GetKeyPolicy", Code: "AccessDeniedException", Times: 1})
	a, err := policy.Gather(ctx, sm, kc, "app/cmk")
	var ae smithy.APIError
	if !errors.As(err, &ae) || ae.ErrorCode() != "AccessDeniedException" {
		t.Fatalf("err = %v, want the AccessDeniedException", err)
	}
	if a.Secret == "" || a.KeyARN != aws.ToString(key.KeyMetadata.Arn) || a.KeyPolicy != nil {
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

// TestGatherManagedKeyRefused checks that KMS refusing to describe the AWS
// managed key, or to show its policy, is not an error: the standard managed
// key policy is assumed.
func TestGatherManagedKeyRefused(t *testing.T) {
	srv, sm, kc := newClients(t)
	ctx := t.Context()
	if _, err := sm.CreateSecret(ctx, &secretsmanager.CreateSecretInput{Name: aws.String("app/db"), SecretString: aws.String("x")}); err != nil {
		t.Fatal(err)
	}
	caller := "arn:aws:iam::" + srv.AccountID() + ":role/app"
	reader := []*policy.Document{policy.MustParse(`{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"secretsmanager:GetSecretValue","Resource":"*"}}`)}

	srv.InjectFault(awsemu.Fault{Op: "DescribeKey", Code: "AccessDeniedException", Times: 1})
	srv.ResetCalls()
	a, err := policy.Gather(ctx, sm, kc, "app/db")
	if err != nil {
		t.Fatalf("DescribeKey refused: %v", err)
	}
	wantAlias := "arn:aws:kms:" + srv.Region() + ":" + srv.AccountID() + ":alias/aws/secretsmanager"
	if a.KeyARN != wantAlias || a.KeyManager != policy.KeyManagerAWS || a.KeyPolicy != nil {
		t.Errorf("DescribeKey refused: key = %q %q %v, want %q AWS and no policy", a.KeyARN, a.KeyManager, a.KeyPolicy, wantAlias)
	}
	if n := srv.Calls("GetKeyPolicy"); n != 0 {
		t.Errorf("GetKeyPolicy calls = %d after DescribeKey was refused, want 0", n)
	}
	a.Caller, a.CallerPolicies = caller, reader
	if r := policy.CheckGetSecretValue(a); !r.Allowed || !strings.Contains(r.String(), "(the standard aws/secretsmanager key policy, assumed)") {
		t.Errorf("same account with the managed key policy assumed:\n%s", r)
	}

	srv.InjectFault(awsemu.Fault{Op: "GetKeyPolicy", Code: "AccessDeniedException", Times: 1})
	a, err = policy.Gather(ctx, sm, kc, "app/db")
	if err != nil {
		t.Fatalf("GetKeyPolicy refused: %v", err)
	}
	if !strings.HasPrefix(a.KeyARN, "arn:aws:kms:"+srv.Region()+":"+srv.AccountID()+":key/") || a.KeyManager != policy.KeyManagerAWS || a.KeyPolicy != nil {
		t.Errorf("GetKeyPolicy refused: key = %q %q %v, want the key's ARN, AWS and no policy", a.KeyARN, a.KeyManager, a.KeyPolicy)
	}
}

// Fakes for TestGatherAcrossAccounts: credentials of account 444455556666
// reading a secret of account 111122223333. No emulator serves two accounts,
// so these model what KMS does: a bare key ID or alias name resolves in the
// credentials' own account, and the other account's keys refuse.
const (
	ownerAcct  = "111122223333"
	callerAcct = "444455556666"
	fakeSecret = "arn:aws:secretsmanager:us-east-1:" + ownerAcct + ":secret:prod/db-AbCdEf"
)

type fakeSM struct{ kmsKeyID string }

func (f fakeSM) DescribeSecret(context.Context, *secretsmanager.DescribeSecretInput, ...func(*secretsmanager.Options)) (*secretsmanager.DescribeSecretOutput, error) {
	out := &secretsmanager.DescribeSecretOutput{ARN: aws.String(fakeSecret)}
	if f.kmsKeyID != "" {
		out.KmsKeyId = aws.String(f.kmsKeyID)
	}
	return out, nil
}

func (fakeSM) GetResourcePolicy(context.Context, *secretsmanager.GetResourcePolicyInput, ...func(*secretsmanager.Options)) (*secretsmanager.GetResourcePolicyOutput, error) {
	return &secretsmanager.GetResourcePolicyOutput{ResourcePolicy: aws.String(`{"Version":"2012-10-17","Statement":{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::` + callerAcct + `:role/reader"},"Action":"secretsmanager:GetSecretValue","Resource":"*"}}`)}, nil
}

type fakeKMS struct {
	asked []string
	// ownerKeys are the key ARNs of the owner's account that this
	// caller may describe, with their manager; every other key of that
	// account refuses.
	ownerKeys map[string]kmstypes.KeyManagerType
}

func (k *fakeKMS) DescribeKey(_ context.Context, in *kms.DescribeKeyInput, _ ...func(*kms.Options)) (*kms.DescribeKeyOutput, error) {
	id := aws.ToString(in.KeyId)
	k.asked = append(k.asked, id)
	if !strings.HasPrefix(id, "arn:") { // resolved in the credentials' account
		return &kms.DescribeKeyOutput{KeyMetadata: &kmstypes.KeyMetadata{Arn: aws.String("arn:aws:kms:us-east-1:" + callerAcct + ":key/bbbb"), KeyManager: kmstypes.KeyManagerTypeAws}}, nil
	}
	if m, ok := k.ownerKeys[id]; ok {
		return &kms.DescribeKeyOutput{KeyMetadata: &kmstypes.KeyMetadata{Arn: aws.String(id), KeyManager: m}}, nil
	}
	return nil, &smithy.GenericAPIError{Code: "AccessDeniedException", Message: "not authorized to perform kms:DescribeKey"}
}

func (k *fakeKMS) GetKeyPolicy(_ context.Context, in *kms.GetKeyPolicyInput, _ ...func(*kms.Options)) (*kms.GetKeyPolicyOutput, error) {
	k.asked = append(k.asked, "policy "+aws.ToString(in.KeyId))
	return nil, &smithy.GenericAPIError{Code: "AccessDeniedException", Message: "not authorized to perform kms:GetKeyPolicy"}
}

func TestGatherAcrossAccounts(t *testing.T) {
	const (
		managedAlias = "arn:aws:kms:us-east-1:" + ownerAcct + ":alias/aws/secretsmanager"
		cmk          = "arn:aws:kms:us-east-1:" + ownerAcct + ":key/1234abcd-12ab-34cd-56ef-1234567890ab"
		caller       = "arn:aws:sts::" + callerAcct + ":assumed-role/reader/s"
	)
	reader := []*policy.Document{policy.MustParse(`{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":["secretsmanager:GetSecretValue","kms:Decrypt"],"Resource":"*"}}`)}

	t.Run("managed key", func(t *testing.T) {
		k := &fakeKMS{}
		a, err := policy.Gather(t.Context(), fakeSM{}, k, "prod/db")
		if err != nil {
			t.Fatal(err)
		}
		if len(k.asked) != 1 || k.asked[0] != managedAlias {
			t.Errorf("KMS asked for %q, want only DescribeKey %q", k.asked, managedAlias)
		}
		if a.KeyARN != managedAlias || a.KeyManager != policy.KeyManagerAWS || a.KeyPolicy != nil {
			t.Errorf("key = %q %q %v, want %q AWS and no policy", a.KeyARN, a.KeyManager, a.KeyPolicy, managedAlias)
		}
		a.Caller, a.CallerPolicies = caller, reader
		r := policy.CheckGetSecretValue(a)
		if r.Allowed || len(r.Layers) == 0 || r.Layers[0].Name != policy.LayerKeyPolicy || !strings.Contains(r.Layers[0].Reason, "cannot be used from another account") {
			t.Errorf("cross-account read with the managed key:\n%s", r)
		}
	})
	t.Run("alias name of the managed key", func(t *testing.T) {
		k := &fakeKMS{}
		a, err := policy.Gather(t.Context(), fakeSM{kmsKeyID: "alias/aws/secretsmanager"}, k, "prod/db")
		if err != nil || a.KeyARN != managedAlias || a.KeyManager != policy.KeyManagerAWS {
			t.Errorf("key = %q %q, err %v; KMS asked for %q", a.KeyARN, a.KeyManager, err, k.asked)
		}
	})
	t.Run("bare key ID of a customer managed key", func(t *testing.T) {
		k := &fakeKMS{ownerKeys: map[string]kmstypes.KeyManagerType{cmk: kmstypes.KeyManagerTypeCustomer}}
		a, err := policy.Gather(t.Context(), fakeSM{kmsKeyID: "1234abcd-12ab-34cd-56ef-1234567890ab"}, k, "prod/db")
		if len(k.asked) == 0 || k.asked[0] != cmk {
			t.Errorf("KMS asked for %q, want DescribeKey %q first", k.asked, cmk)
		}
		// A customer key's policy decides: its refusal is an error.
		var ae smithy.APIError
		if !errors.As(err, &ae) || ae.ErrorCode() != "AccessDeniedException" || !strings.Contains(err.Error(), "get key policy") {
			t.Errorf("err = %v, want the refused GetKeyPolicy", err)
		}
		if a.KeyARN != cmk || a.KeyManager != policy.KeyManagerCustomer {
			t.Errorf("key = %q %q, want %q CUSTOMER", a.KeyARN, a.KeyManager, cmk)
		}
	})
	t.Run("alias name of a customer managed key", func(t *testing.T) {
		k := &fakeKMS{}
		_, err := policy.Gather(t.Context(), fakeSM{kmsKeyID: "alias/shared"}, k, "prod/db")
		want := "arn:aws:kms:us-east-1:" + ownerAcct + ":alias/shared"
		if len(k.asked) == 0 || k.asked[0] != want {
			t.Errorf("KMS asked for %q, want %q", k.asked, want)
		}
		if err == nil || !strings.Contains(err.Error(), "describe key") {
			t.Errorf("err = %v, want the refused DescribeKey of a customer key", err)
		}
	})
}
