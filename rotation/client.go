package rotation

import (
	"context"

	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
)

// Client is the part of the Secrets Manager API a Rotator uses.
// *secretsmanager.Client implements it.
type Client interface {
	DescribeSecret(ctx context.Context, params *secretsmanager.DescribeSecretInput, optFns ...func(*secretsmanager.Options)) (*secretsmanager.DescribeSecretOutput, error)
	GetSecretValue(ctx context.Context, params *secretsmanager.GetSecretValueInput, optFns ...func(*secretsmanager.Options)) (*secretsmanager.GetSecretValueOutput, error)
	PutSecretValue(ctx context.Context, params *secretsmanager.PutSecretValueInput, optFns ...func(*secretsmanager.Options)) (*secretsmanager.PutSecretValueOutput, error)
	UpdateSecretVersionStage(ctx context.Context, params *secretsmanager.UpdateSecretVersionStageInput, optFns ...func(*secretsmanager.Options)) (*secretsmanager.UpdateSecretVersionStageOutput, error)
	GetRandomPassword(ctx context.Context, params *secretsmanager.GetRandomPasswordInput, optFns ...func(*secretsmanager.Options)) (*secretsmanager.GetRandomPasswordOutput, error)
}

var _ Client = (*secretsmanager.Client)(nil)

// SecretReader reads secret values; it is all a Strategy gets of the
// Rotator's client (Versions.Secrets), so a strategy can read another
// secret, such as a superuser secret, but cannot write any.
// *secretsmanager.Client and every Client implement it.
type SecretReader interface {
	GetSecretValue(ctx context.Context, params *secretsmanager.GetSecretValueInput, optFns ...func(*secretsmanager.Options)) (*secretsmanager.GetSecretValueOutput, error)
}

var _ SecretReader = (*secretsmanager.Client)(nil)

// readOnly hides every method of a Client but GetSecretValue, so a
// Strategy cannot reach the write calls with a type assertion.
type readOnly struct{ c Client }

func (r readOnly) GetSecretValue(ctx context.Context, params *secretsmanager.GetSecretValueInput, optFns ...func(*secretsmanager.Options)) (*secretsmanager.GetSecretValueOutput, error) {
	return r.c.GetSecretValue(ctx, params, optFns...)
}

// String and GoString keep fmt from printing the client's internals when
// a Versions is printed.
func (readOnly) String() string   { return "rotation.SecretReader" }
func (readOnly) GoString() string { return "rotation.SecretReader" }
