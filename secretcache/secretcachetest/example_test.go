package secretcachetest_test

import (
	"context"
	"errors"
	"fmt"
	"log"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/smithy-go"

	"github.com/rekeyhq/rekey/secretcache"
	"github.com/rekeyhq/rekey/secretcache/secretcachetest"
)

// Seed a secret, read it through a cache, rotate it, and keep reading
// through throttling, counting the API calls. In a test,
// secretcachetest.NewServer(t) replaces Start and the deferred Close.
func Example() {
	srv, err := secretcachetest.Start()
	if err != nil {
		log.Fatal(err)
	}
	defer srv.Close()
	ctx := context.Background()

	sm := srv.Client(func(o *secretsmanager.Options) { o.RetryMaxAttempts = 1 })
	sec, err := sm.CreateSecret(ctx, &secretsmanager.CreateSecretInput{
		Name: aws.String("prod/api-key"), SecretString: aws.String("k1"),
	})
	if err != nil {
		log.Fatal(err)
	}
	cache, err := secretcache.New(sm, func(o *secretcache.Options) { o.MinRefreshInterval = -1 })
	if err != nil {
		log.Fatal(err)
	}
	defer cache.Close()

	for range 100 {
		cache.GetSecretString(ctx, "prod/api-key") //nolint:errcheck // checked below
	}
	key, _ := cache.GetSecretString(ctx, "prod/api-key")
	fmt.Println("read:", key, "GetSecretValue calls:", srv.Calls("GetSecretValue"))

	// Rotate: a new AWSCURRENT version, which Refresh picks up.
	if _, err := sm.PutSecretValue(ctx, &secretsmanager.PutSecretValueInput{SecretId: sec.ARN, SecretString: aws.String("k2")}); err != nil {
		log.Fatal(err)
	}
	cache.Refresh(ctx, "prod/api-key") //nolint:errcheck // the read below shows the result
	key, _ = cache.GetSecretString(ctx, "prod/api-key")
	fmt.Println("after rotation:", key)

	// Throttle every request: the refresh fails, reads keep the last value.
	srv.InjectFault(secretcachetest.Fault{Code: "ThrottlingException"})
	_, err = cache.Refresh(ctx, "prod/api-key")
	var ae smithy.APIError
	fmt.Println("refresh:", errors.As(err, &ae) && ae.ErrorCode() == "ThrottlingException")
	key, _ = cache.GetSecretString(ctx, "prod/api-key")
	fmt.Println("read while throttled:", key)
	fmt.Println("API calls in all:", srv.TotalCalls())
	// Output:
	// read: k1 GetSecretValue calls: 1
	// after rotation: k2
	// refresh: true
	// read while throttled: k2
	// API calls in all: 6
}

// A throttled request is retried by the SDK; Calls counts each attempt.
func ExampleServer_InjectFault() {
	srv, err := secretcachetest.Start()
	if err != nil {
		log.Fatal(err)
	}
	defer srv.Close()
	ctx := context.Background()
	sm := srv.Client()
	if _, err := sm.CreateSecret(ctx, &secretsmanager.CreateSecretInput{
		Name: aws.String("prod/api-key"), SecretString: aws.String("k1"),
	}); err != nil {
		log.Fatal(err)
	}

	srv.InjectFault(secretcachetest.Fault{Op: "GetSecretValue", Code: "ThrottlingException", Times: 1})
	out, err := sm.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String("prod/api-key")})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(*out.SecretString, "after", srv.Calls("GetSecretValue"), "attempts")
	// Output: k1 after 2 attempts
}

// RotateSecret invokes the registered function for each of the four steps
// before it answers, as Secrets Manager invokes a rotation Lambda function.
func ExampleServer_RegisterRotationFunc() {
	srv, err := secretcachetest.Start()
	if err != nil {
		log.Fatal(err)
	}
	defer srv.Close()
	ctx := context.Background()
	sm := srv.Client()
	sec, err := sm.CreateSecret(ctx, &secretsmanager.CreateSecretInput{
		Name: aws.String("prod/api-key"), SecretString: aws.String("k1"),
	})
	if err != nil {
		log.Fatal(err)
	}

	const fn = "arn:aws:lambda:us-east-1:123456789012:function:rotate-api-key"
	srv.RegisterRotationFunc(fn, func(ctx context.Context, step, secretID, token string) error {
		fmt.Println("step", step)
		switch step {
		case "createSecret": // stage the new value as AWSPENDING
			_, err := sm.PutSecretValue(ctx, &secretsmanager.PutSecretValueInput{
				SecretId: aws.String(secretID), ClientRequestToken: aws.String(token),
				SecretString: aws.String("k2"), VersionStages: []string{"AWSPENDING"},
			})
			return err
		case "finishSecret": // make it AWSCURRENT
			_, err := sm.UpdateSecretVersionStage(ctx, &secretsmanager.UpdateSecretVersionStageInput{
				SecretId: aws.String(secretID), VersionStage: aws.String("AWSCURRENT"),
				MoveToVersionId: aws.String(token), RemoveFromVersionId: sec.VersionId,
			})
			return err
		}
		return nil // setSecret and testSecret: nothing outside Secrets Manager here
	})
	if _, err := sm.RotateSecret(ctx, &secretsmanager.RotateSecretInput{SecretId: sec.ARN, RotationLambdaARN: aws.String(fn)}); err != nil {
		log.Fatal(err)
	}
	out, err := sm.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: sec.ARN})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("AWSCURRENT:", *out.SecretString)
	// Output:
	// step createSecret
	// step setSecret
	// step testSecret
	// step finishSecret
	// AWSCURRENT: k2
}

// With EnforceIAM, a role of another account is denied a secret that only
// its own identity policy lets it read, as AWS denies it.
func ExampleServer_AddPrincipal() {
	srv, err := secretcachetest.Start(func(o *secretcachetest.Options) { o.EnforceIAM = true })
	if err != nil {
		log.Fatal(err)
	}
	defer srv.Close()
	ctx := context.Background()
	sec, err := srv.Client().CreateSecret(ctx, &secretsmanager.CreateSecretInput{ // as the account's root user
		Name: aws.String("prod/api-key"), SecretString: aws.String("k1"),
	})
	if err != nil {
		log.Fatal(err)
	}

	const read = `{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"secretsmanager:GetSecretValue","Resource":"*"}}`
	if err := srv.AddPrincipal("AKIAAPP", "arn:aws:iam::123456789012:role/app", read); err != nil {
		log.Fatal(err)
	}
	if err := srv.AddPrincipal("AKIAPARTNER", "arn:aws:iam::444455556666:role/partner", read); err != nil {
		log.Fatal(err)
	}
	for _, key := range []string{"AKIAAPP", "AKIAPARTNER"} {
		_, err := srv.ClientAs(key).GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: sec.ARN})
		var ae smithy.APIError
		switch {
		case err == nil:
			fmt.Println(key, "allowed")
		case errors.As(err, &ae):
			fmt.Println(key, ae.ErrorCode())
		default:
			fmt.Println(key, err)
		}
	}
	// Output:
	// AKIAAPP allowed
	// AKIAPARTNER AccessDeniedException
}
