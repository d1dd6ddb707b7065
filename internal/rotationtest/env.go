package rotationtest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager/types"

	"github.com/rekeyhq/rekey/internal/awsemu"
	"github.com/rekeyhq/rekey/rotation"
)

// Creds are the username and password in one version of a secret.
type Creds struct{ User, Password string }

// Secret is a rotated database secret in an emulator, whose versions the
// tests create with a "note":"kept" key that every rotation must keep.
type Secret struct {
	Server    *awsemu.Server
	Client    *secretsmanager.Client // one attempt per call
	ARN       string
	LambdaARN string // the rotation function RotateSecret invokes
}

// Register makes r the rotation function s.LambdaARN names.
func (s Secret) Register(r *rotation.Rotator) {
	s.Server.RegisterRotationFunc(s.LambdaARN, func(ctx context.Context, step, secretID, token string) error {
		return r.Handle(ctx, rotation.Event{Step: rotation.Step(step), SecretID: secretID, ClientRequestToken: token})
	})
}

// RotateSecret starts a rotation through the service's RotateSecret.
func (s Secret) RotateSecret(t testing.TB) error {
	t.Helper()
	_, err := s.Client.RotateSecret(t.Context(), &secretsmanager.RotateSecretInput{SecretId: aws.String(s.ARN), RotationLambdaARN: aws.String(s.LambdaARN)})
	return err
}

// Version reads the version labelled stage; ok is false when there is none.
func (s Secret) Version(t testing.TB, stage string) (Creds, bool) {
	t.Helper()
	c, ok, err := s.ReadVersion(t.Context(), stage)
	if err != nil {
		t.Fatal(err)
	}
	return c, ok
}

// ReadVersion is Version for code off the test goroutine, which must not
// call t.Fatal. A version that lost the "note" key is an error.
func (s Secret) ReadVersion(ctx context.Context, stage string) (Creds, bool, error) {
	out, err := s.Client.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String(s.ARN), VersionStage: &stage})
	if none := (*types.ResourceNotFoundException)(nil); errors.As(err, &none) {
		return Creds{}, false, nil
	}
	if err != nil {
		return Creds{}, false, fmt.Errorf("GetSecretValue %s: %w", stage, err)
	}
	var v struct {
		Username, Password string
		Note               string
	}
	if err := json.Unmarshal([]byte(aws.ToString(out.SecretString)), &v); err != nil {
		return Creds{}, false, fmt.Errorf("%s is not JSON", stage)
	}
	if v.Note != "kept" {
		return Creds{}, false, fmt.Errorf("%s lost the secret's other keys", stage)
	}
	return Creds{v.Username, v.Password}, true, nil
}
