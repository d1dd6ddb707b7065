package policy

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/smithy-go"
)

// SecretsManagerAPI is the part of the Secrets Manager client Gather uses.
type SecretsManagerAPI interface {
	DescribeSecret(ctx context.Context, params *secretsmanager.DescribeSecretInput, optFns ...func(*secretsmanager.Options)) (*secretsmanager.DescribeSecretOutput, error)
	GetResourcePolicy(ctx context.Context, params *secretsmanager.GetResourcePolicyInput, optFns ...func(*secretsmanager.Options)) (*secretsmanager.GetResourcePolicyOutput, error)
}

// KMSAPI is the part of the KMS client Gather uses.
type KMSAPI interface {
	DescribeKey(ctx context.Context, params *kms.DescribeKeyInput, optFns ...func(*kms.Options)) (*kms.DescribeKeyOutput, error)
	GetKeyPolicy(ctx context.Context, params *kms.GetKeyPolicyInput, optFns ...func(*kms.Options)) (*kms.GetKeyPolicyOutput, error)
}

var (
	_ SecretsManagerAPI = (*secretsmanager.Client)(nil)
	_ KMSAPI            = (*kms.Client)(nil)
)

// Gather reads what Secrets Manager and KMS know about a secret's access:
// the secret's ARN and resource policy (DescribeSecret, GetResourcePolicy)
// and its key's ARN, manager and policy (kms DescribeKey, GetKeyPolicy with
// PolicyName "default") — four API calls.
//
// The key is looked up in the secret's account and region, not the
// credentials' own: a secret whose DescribeSecret has no KmsKeyId uses the
// AWS managed key arn:aws:kms:<region>:<account>:alias/aws/secretsmanager,
// and a bare key ID or alias name is made an ARN the same way. When KMS
// refuses (AccessDeniedException) DescribeKey or GetKeyPolicy for the AWS
// managed key — as it does for credentials of another account — Gather
// returns KeyManager "AWS", the alias ARN as KeyARN and a nil KeyPolicy,
// for which CheckGetSecretValue assumes the standard managed key policy and
// reports the key ARN as unknown (Report.KeyARNUnknown), with no error.
//
// The caller's side (Caller, CallerPolicies, CallerBoundary, Context) is
// left for the caller to fill: Secrets Manager cannot report it. Errors wrap
// the SDK's, so errors.As finds its typed exceptions. On error the returned
// SecretAccess holds what was read before the failing call; GetKeyPolicy on
// a customer managed key, for one, is refused across accounts unless its
// key policy allows it.
func Gather(ctx context.Context, sm SecretsManagerAPI, kmsc KMSAPI, secretID string) (SecretAccess, error) {
	var a SecretAccess
	ds, err := sm.DescribeSecret(ctx, &secretsmanager.DescribeSecretInput{SecretId: aws.String(secretID)}, smUserAgent)
	if err != nil {
		return a, fmt.Errorf("policy: describe secret %q: %w", secretID, err)
	}
	a.Secret = aws.ToString(ds.ARN)
	if a.Secret == "" {
		a.Secret = secretID
	}
	rp, err := sm.GetResourcePolicy(ctx, &secretsmanager.GetResourcePolicyInput{SecretId: aws.String(a.Secret)}, smUserAgent)
	if err != nil {
		return a, fmt.Errorf("policy: get resource policy of secret %q: %w", secretID, err)
	}
	if s := aws.ToString(rp.ResourcePolicy); s != "" {
		doc, err := Parse([]byte(s))
		if err != nil {
			return a, fmt.Errorf("policy: resource policy of secret %q: %w", secretID, err)
		}
		a.SecretPolicy = doc
	}

	keyID := aws.ToString(ds.KmsKeyId)
	if keyID == "" {
		keyID = ManagedKeyAlias
	}
	managed := keyID == ManagedKeyAlias || strings.HasSuffix(keyID, ":"+ManagedKeyAlias)
	keyID = keyInSecretAccount(keyID, a.Secret)
	dk, err := kmsc.DescribeKey(ctx, &kms.DescribeKeyInput{KeyId: aws.String(keyID)}, kmsUserAgent)
	if err != nil {
		if managed && refused(err) {
			a.KeyARN, a.KeyManager = keyID, KeyManagerAWS
			return a, nil
		}
		return a, fmt.Errorf("policy: describe key %q of secret %q: %w", keyID, secretID, err)
	}
	if dk.KeyMetadata == nil || aws.ToString(dk.KeyMetadata.Arn) == "" {
		return a, fmt.Errorf("policy: describe key %q of secret %q: no key metadata in the answer", keyID, secretID)
	}
	a.KeyARN = aws.ToString(dk.KeyMetadata.Arn)
	a.KeyManager = string(dk.KeyMetadata.KeyManager)
	if a.KeyManager == "" && managed {
		a.KeyManager = KeyManagerAWS
	}
	kp, err := kmsc.GetKeyPolicy(ctx, &kms.GetKeyPolicyInput{KeyId: aws.String(a.KeyARN), PolicyName: aws.String("default")}, kmsUserAgent)
	if err != nil {
		if a.KeyManager == KeyManagerAWS && refused(err) {
			return a, nil
		}
		return a, fmt.Errorf("policy: get key policy of %q (secret %q): %w", a.KeyARN, secretID, err)
	}
	doc, err := Parse([]byte(aws.ToString(kp.Policy)))
	if err != nil {
		return a, fmt.Errorf("policy: key policy of %q (secret %q): %w", a.KeyARN, secretID, err)
	}
	a.KeyPolicy = doc
	return a, nil
}

// keyInSecretAccount turns a key ID or alias name into an ARN in the
// secret's partition, region and account, where Secrets Manager resolved
// it; KMS would resolve a bare one in the credentials' account instead.
func keyInSecretAccount(keyID, secretARN string) string {
	if strings.HasPrefix(keyID, "arn:") {
		return keyID
	}
	region, account := arnRegion(secretARN), arnAccount(secretARN)
	partition, _, _ := strings.Cut(strings.TrimPrefix(secretARN, "arn:"), ":")
	if region == "" || account == "" || partition == "" {
		return keyID // the secret's account is unknown: leave it to KMS
	}
	if !strings.HasPrefix(keyID, "alias/") {
		keyID = "key/" + keyID
	}
	return "arn:" + partition + ":kms:" + region + ":" + account + ":" + keyID
}

// refused reports whether KMS denied the request for lack of permission.
func refused(err error) bool {
	var ae smithy.APIError
	return errors.As(err, &ae) && ae.ErrorCode() == "AccessDeniedException"
}
