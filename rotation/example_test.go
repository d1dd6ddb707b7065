package rotation_test

import (
	"context"
	"fmt"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/rekeyhq/rekey/rotation"
	"github.com/rekeyhq/rekey/secretcache/secretcachetest"
)

// apiKey is a Strategy for an API key that a service accepts while it is
// registered; it keeps the previous key valid until the next rotation.
type apiKey struct{ registered map[string]bool }

func (a *apiKey) NewPending(_ context.Context, _ rotation.Secret, password string) ([]byte, error) {
	return []byte("ak_" + password), nil
}

func (a *apiKey) Apply(_ context.Context, v rotation.Versions) error {
	a.registered[string(v.Pending.Value())] = true
	return nil
}

func (a *apiKey) Verify(_ context.Context, pending rotation.Secret) error {
	if !a.registered[string(pending.Value())] {
		return fmt.Errorf("key version %s is not registered", pending.VersionID)
	}
	return nil
}

// Rotate a secret without Lambda, e.g. from a cron job or a test.
func ExampleRotator_Rotate() {
	srv, _ := secretcachetest.Start() // stands in for AWS Secrets Manager
	defer srv.Close()
	ctx := context.Background()
	sm := srv.Client()
	created, _ := sm.CreateSecret(ctx, &secretsmanager.CreateSecretInput{
		Name: aws.String("billing/api-key"), SecretString: aws.String("ak_initial"),
	})

	r, err := rotation.New(sm, &apiKey{registered: map[string]bool{"ak_initial": true}})
	if err != nil {
		fmt.Println(err)
		return
	}
	if err := r.Rotate(ctx, *created.ARN); err != nil {
		fmt.Println(err)
		return
	}

	cur, _ := sm.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: created.ARN})
	prev, _ := sm.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: created.ARN, VersionStage: aws.String("AWSPREVIOUS")})
	fmt.Println("new key:", strings.HasPrefix(*cur.SecretString, "ak_") && *cur.SecretString != "ak_initial")
	fmt.Println("previous:", *prev.SecretString)
	// Output:
	// new key: true
	// previous: ak_initial
}

// Handle is the rotation function Secrets Manager invokes; the emulator
// calls it the way the service calls a Lambda function, so RotateSecret runs
// all four steps. In a Lambda function: lambda.Start(r.Handle).
func ExampleRotator_Handle() {
	srv, _ := secretcachetest.Start()
	defer srv.Close()
	ctx := context.Background()
	sm := srv.Client()
	created, _ := sm.CreateSecret(ctx, &secretsmanager.CreateSecretInput{
		Name: aws.String("billing/api-key"), SecretString: aws.String("ak_initial"),
	})

	r, err := rotation.New(sm, &apiKey{registered: map[string]bool{"ak_initial": true}})
	if err != nil {
		fmt.Println(err)
		return
	}
	const fn = "arn:aws:lambda:us-east-1:123456789012:function:rotate-api-key"
	srv.RegisterRotationFunc(fn, func(ctx context.Context, step, secretID, token string) error {
		fmt.Println("step", step)
		return r.Handle(ctx, rotation.Event{Step: rotation.Step(step), SecretID: secretID, ClientRequestToken: token})
	})

	out, err := sm.RotateSecret(ctx, &secretsmanager.RotateSecretInput{SecretId: created.ARN, RotationLambdaARN: aws.String(fn)})
	if err != nil {
		fmt.Println(err)
		return
	}
	desc, _ := sm.DescribeSecret(ctx, &secretsmanager.DescribeSecretInput{SecretId: created.ARN})
	fmt.Println("labels of the new version:", desc.VersionIdsToStages[*out.VersionId])
	// Output:
	// step createSecret
	// step setSecret
	// step testSecret
	// step finishSecret
	// labels of the new version: [AWSCURRENT]
}
