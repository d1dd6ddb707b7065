package awsemu_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager/types"
	"github.com/aws/smithy-go"

	"github.com/rekeyhq/rekey/internal/awsemu"
)

// The emulator speaks the wire protocol, so the real SDK client talks to it
// over loopback HTTP; only the aws.Config differs from production. In a
// test, awsemu.New(t) does the same and closes the server at cleanup.
func Example() {
	srv, err := awsemu.Start()
	if err != nil {
		log.Fatal(err)
	}
	defer srv.Close()
	ctx := context.Background()
	sm := secretsmanager.NewFromConfig(srv.AWSConfig())

	if _, err := sm.CreateSecret(ctx, &secretsmanager.CreateSecretInput{
		Name: aws.String("prod/api-key"), SecretString: aws.String("k-123"),
	}); err != nil {
		log.Fatal(err)
	}
	out, err := sm.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String("prod/api-key")})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(aws.ToString(out.SecretString), out.VersionStages)
	fmt.Println("ARN account and region:", srv.AccountID(), srv.Region())
	fmt.Println("GetSecretValue calls:", srv.Calls("GetSecretValue"))

	_, err = sm.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String("prod/missing")})
	var notFound *types.ResourceNotFoundException
	fmt.Println("missing secret is ResourceNotFoundException:", errors.As(err, &notFound))
	fmt.Println("all calls:", srv.TotalCalls())
	// Output:
	// k-123 [AWSCURRENT]
	// ARN account and region: 123456789012 us-east-1
	// GetSecretValue calls: 1
	// missing secret is ResourceNotFoundException: true
	// all calls: 3
}

// A fault makes matching requests fail the way AWS fails them, and Calls
// counts them, so a test can assert exactly how a client retried. The SDK
// retries throttling by itself (3 attempts); one attempt per call makes the
// counts exact.
func ExampleServer_InjectFault() {
	srv, err := awsemu.Start()
	if err != nil {
		log.Fatal(err)
	}
	defer srv.Close()
	ctx := context.Background()
	sm := secretsmanager.NewFromConfig(srv.AWSConfig(), func(o *secretsmanager.Options) { o.RetryMaxAttempts = 1 })
	if _, err := sm.CreateSecret(ctx, &secretsmanager.CreateSecretInput{
		Name: aws.String("db"), SecretString: aws.String("pw"),
	}); err != nil {
		log.Fatal(err)
	}

	srv.InjectFault(awsemu.Fault{Op: "GetSecretValue", Code: "ThrottlingException", Times: 2})
	for range 3 {
		_, err := sm.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String("db")})
		var apiErr smithy.APIError
		if errors.As(err, &apiErr) {
			fmt.Println("error:", apiErr.ErrorCode())
		} else {
			fmt.Println("error:", err)
		}
	}
	fmt.Println("GetSecretValue calls:", srv.Calls("GetSecretValue"))
	// Output:
	// error: ThrottlingException
	// error: ThrottlingException
	// error: <nil>
	// GetSecretValue calls: 3
}

// RotateSecret runs a registered rotation function's four steps
// synchronously, in order, before it answers. This one stores the new value
// as AWSPENDING in createSecret and moves AWSCURRENT to it in finishSecret.
func ExampleServer_RegisterRotationFunc() {
	srv, err := awsemu.Start()
	if err != nil {
		log.Fatal(err)
	}
	defer srv.Close()
	ctx := context.Background()
	sm := secretsmanager.NewFromConfig(srv.AWSConfig())
	if _, err := sm.CreateSecret(ctx, &secretsmanager.CreateSecretInput{
		Name: aws.String("db"), SecretString: aws.String("old-password"),
	}); err != nil {
		log.Fatal(err)
	}

	const fn = "arn:aws:lambda:us-east-1:123456789012:function:rotate"
	srv.RegisterRotationFunc(fn, func(ctx context.Context, step, secretID, token string) error {
		fmt.Println("step:", step)
		switch step {
		case "createSecret":
			_, err := sm.PutSecretValue(ctx, &secretsmanager.PutSecretValueInput{
				SecretId: aws.String(secretID), ClientRequestToken: aws.String(token),
				SecretString: aws.String("new-password"), VersionStages: []string{"AWSPENDING"},
			})
			return err
		case "finishSecret":
			d, err := sm.DescribeSecret(ctx, &secretsmanager.DescribeSecretInput{SecretId: aws.String(secretID)})
			if err != nil {
				return err
			}
			for version, stages := range d.VersionIdsToStages {
				if version != token && slices.Contains(stages, "AWSCURRENT") {
					_, err = sm.UpdateSecretVersionStage(ctx, &secretsmanager.UpdateSecretVersionStageInput{
						SecretId: aws.String(secretID), VersionStage: aws.String("AWSCURRENT"),
						MoveToVersionId: aws.String(token), RemoveFromVersionId: aws.String(version),
					})
					return err
				}
			}
		}
		return nil
	})

	if _, err := sm.RotateSecret(ctx, &secretsmanager.RotateSecretInput{
		SecretId: aws.String("db"), RotationLambdaARN: aws.String(fn),
	}); err != nil {
		log.Fatal(err)
	}
	out, err := sm.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String("db")})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("AWSCURRENT:", aws.ToString(out.SecretString))
	// Output:
	// step: createSecret
	// step: setSecret
	// step: testSecret
	// step: finishSecret
	// AWSCURRENT: new-password
}

// With SetClock a test moves the emulator's time, and RunDueRotations then
// does what the service's scheduler would: rotate every secret whose
// NextRotationDate has passed.
func ExampleServer_RunDueRotations() {
	srv, err := awsemu.Start()
	if err != nil {
		log.Fatal(err)
	}
	defer srv.Close()
	start := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	var days atomic.Int64 // since start; the server reads it on its own goroutines
	srv.SetClock(func() time.Time { return start.AddDate(0, 0, int(days.Load())) })
	ctx := context.Background()
	sm := secretsmanager.NewFromConfig(srv.AWSConfig())
	if _, err := sm.CreateSecret(ctx, &secretsmanager.CreateSecretInput{
		Name: aws.String("db"), SecretString: aws.String("v1"),
	}); err != nil {
		log.Fatal(err)
	}

	const fn = "arn:aws:lambda:us-east-1:123456789012:function:rotate"
	var rotations atomic.Int64
	srv.RegisterRotationFunc(fn, func(ctx context.Context, step, secretID, token string) error {
		if step == "createSecret" {
			n := rotations.Add(1)
			_, err := sm.PutSecretValue(ctx, &secretsmanager.PutSecretValueInput{
				SecretId: aws.String(secretID), ClientRequestToken: aws.String(token),
				SecretString: aws.String(fmt.Sprintf("v%d", n+1)), VersionStages: []string{"AWSPENDING"},
			})
			return err
		}
		return nil
	})
	if _, err := sm.RotateSecret(ctx, &secretsmanager.RotateSecretInput{
		SecretId: aws.String("db"), RotationLambdaARN: aws.String(fn), RotateImmediately: aws.Bool(false),
		RotationRules: &types.RotationRulesType{AutomaticallyAfterDays: aws.Int64(30)},
	}); err != nil {
		log.Fatal(err)
	}
	d, err := sm.DescribeSecret(ctx, &secretsmanager.DescribeSecretInput{SecretId: aws.String("db")})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("next rotation:", d.NextRotationDate.UTC().Format(time.DateOnly))

	for _, day := range []int64{29, 31} {
		days.Store(day)
		if err := srv.RunDueRotations(ctx); err != nil {
			log.Fatal(err)
		}
		fmt.Printf("day %d: %d rotation(s)\n", day, rotations.Load())
	}
	// Output:
	// next rotation: 2030-01-31
	// day 29: 0 rotation(s)
	// day 31: 1 rotation(s)
}

// One server serves every Region: a client's Region, from AWSConfigFor, is
// the Region its requests are signed for. A secret replicated to us-west-2
// can still be read there while us-east-1 is down.
func ExampleServer_AWSConfigFor() {
	srv, err := awsemu.Start()
	if err != nil {
		log.Fatal(err)
	}
	defer srv.Close()
	ctx := context.Background()
	noRetry := func(o *secretsmanager.Options) { o.RetryMaxAttempts = 1 }
	east := secretsmanager.NewFromConfig(srv.AWSConfigFor("us-east-1"), noRetry)
	west := secretsmanager.NewFromConfig(srv.AWSConfigFor("us-west-2"), noRetry)

	created, err := east.CreateSecret(ctx, &secretsmanager.CreateSecretInput{
		Name: aws.String("prod/db"), SecretString: aws.String("pw-1"),
		AddReplicaRegions: []types.ReplicaRegionType{{Region: aws.String("us-west-2")}},
	})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("replica:", *created.ReplicationStatus[0].Region, created.ReplicationStatus[0].Status)

	srv.InjectFault(awsemu.Fault{Region: "us-east-1", Code: "InternalServiceError"}) // a Regional outage
	_, err = east.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String("prod/db")})
	fmt.Println("us-east-1 fails:", err != nil)
	out, err := west.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String("prod/db")})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("us-west-2 serves:", *out.SecretString, strings.Split(*out.ARN, ":")[3])
	// Output:
	// replica: us-west-2 InSync
	// us-east-1 fails: true
	// us-west-2 serves: pw-1 us-west-2
}
