package policy

import (
	"context"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
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
// PolicyName "default") — four API calls. A secret whose DescribeSecret has
// no KmsKeyId uses the AWS managed key, looked up as alias/aws/secretsmanager.
//
// The caller's side (Caller, CallerPolicies, CallerBoundary, Context) is
// left for the caller to fill: Secrets Manager cannot report it. Errors wrap
// the SDK's, so errors.As finds its typed exceptions. On error the returned
// SecretAccess holds what was read before the failing call; GetKeyPolicy,
// for one, is refused across accounts.
func Gather(ctx context.Context, sm SecretsManagerAPI, kmsc KMSAPI, secretID string) (SecretAccess, error) {
	var a SecretAccess
	ds, err := sm.DescribeSecret(ctx, &secretsmanager.DescribeSecretInput{SecretId: aws.String(secretID)})
	if err != nil {
		return a, fmt.Errorf("policy: describe secret %q: %w", secretID, err)
	}
	a.Secret = aws.ToString(ds.ARN)
	if a.Secret == "" {
		a.Secret = secretID
	}
	rp, err := sm.GetResourcePolicy(ctx, &secretsmanager.GetResourcePolicyInput{SecretId: aws.String(a.Secret)})
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
	dk, err := kmsc.DescribeKey(ctx, &kms.DescribeKeyInput{KeyId: aws.String(keyID)})
	if err != nil {
		return a, fmt.Errorf("policy: describe key %q of secret %q: %w", keyID, secretID, err)
	}
	if dk.KeyMetadata == nil || aws.ToString(dk.KeyMetadata.Arn) == "" {
		return a, fmt.Errorf("policy: describe key %q of secret %q: no key metadata in the answer", keyID, secretID)
	}
	a.KeyARN = aws.ToString(dk.KeyMetadata.Arn)
	a.KeyManager = string(dk.KeyMetadata.KeyManager)
	if a.KeyManager == "" && keyID == ManagedKeyAlias {
		a.KeyManager = KeyManagerAWS
	}
	kp, err := kmsc.GetKeyPolicy(ctx, &kms.GetKeyPolicyInput{KeyId: aws.String(a.KeyARN), PolicyName: aws.String("default")})
	if err != nil {
		return a, fmt.Errorf("policy: get key policy of %q (secret %q): %w", a.KeyARN, secretID, err)
	}
	doc, err := Parse([]byte(aws.ToString(kp.Policy)))
	if err != nil {
		return a, fmt.Errorf("policy: key policy of %q (secret %q): %w", a.KeyARN, secretID, err)
	}
	a.KeyPolicy = doc
	return a, nil
}
