package rotation_test

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/rekeyhq/rekey/internal/awsemu"
	"github.com/rekeyhq/rekey/rotation"
)

// failNthUnstage is a Client whose nth UpdateSecretVersionStage call
// fails once: n = 2 is finishSecret removing AWSPENDING after AWSCURRENT
// moved, which no emulator fault can single out. With after set the call
// is made first (its effect commits) and only its reply is lost.
type failNthUnstage struct {
	*secretsmanager.Client
	n     int32
	after bool
	calls atomic.Int32
}

func (c *failNthUnstage) UpdateSecretVersionStage(ctx context.Context, in *secretsmanager.UpdateSecretVersionStageInput, optFns ...func(*secretsmanager.Options)) (*secretsmanager.UpdateSecretVersionStageOutput, error) {
	if c.calls.Add(1) != c.n {
		return c.Client.UpdateSecretVersionStage(ctx, in, optFns...)
	}
	if c.after {
		if _, err := c.Client.UpdateSecretVersionStage(ctx, in, optFns...); err != nil {
			return nil, err
		}
	}
	return nil, errInjected
}

func TestCrashInEveryStepResumes(t *testing.T) {
	cases := []struct {
		name   string
		step   rotation.Step                // the step Rotate reports; "" for Rotate's own DescribeSecret
		inject func(e *env) rotation.Client // returns the client the rotator uses
		// puts is how many PutSecretValue calls the failed and the resumed
		// rotation make together: 1 when the first one's write committed.
		puts int64
		// finished: the fault hit the last call after it committed, so the
		// first rotation is complete and the resumed Rotate runs a second.
		finished bool
	}{
		{"DescribeSecret fails", "", func(e *env) rotation.Client {
			e.srv.InjectFault(awsemu.Fault{Op: "DescribeSecret", Code: "InternalServiceError", Times: 1})
			return e.sm
		}, 1, false},
		{"GetRandomPassword throttled", rotation.CreateSecret, func(e *env) rotation.Client {
			e.srv.InjectFault(awsemu.Fault{Op: "GetRandomPassword", Code: "ThrottlingException", Times: 1})
			return e.sm
		}, 1, false},
		{"PutSecretValue fails", rotation.CreateSecret, func(e *env) rotation.Client {
			e.srv.InjectFault(awsemu.Fault{Op: "PutSecretValue", Code: "InternalServiceError", Times: 1})
			return e.sm
		}, 2, false},
		{"PutSecretValue reply lost", rotation.CreateSecret, func(e *env) rotation.Client {
			e.srv.InjectFault(awsemu.Fault{Op: "PutSecretValue", Code: "InternalServiceError", Times: 1, After: true})
			return e.sm
		}, 1, false},
		{"Apply fails after applying", rotation.SetSecret, func(e *env) rotation.Client {
			e.store.failApply = 1
			return e.sm
		}, 1, false},
		{"Verify fails", rotation.TestSecret, func(e *env) rotation.Client {
			e.store.failVerify = 1
			return e.sm
		}, 1, false},
		{"moving AWSCURRENT fails", rotation.FinishSecret, func(e *env) rotation.Client {
			e.srv.InjectFault(awsemu.Fault{Op: "UpdateSecretVersionStage", Code: "InternalServiceError", Times: 1})
			return e.sm
		}, 1, false},
		{"moving AWSCURRENT reply lost", rotation.FinishSecret, func(e *env) rotation.Client {
			e.srv.InjectFault(awsemu.Fault{Op: "UpdateSecretVersionStage", Code: "InternalServiceError", Times: 1, After: true})
			return e.sm
		}, 1, false},
		{"removing AWSPENDING fails", rotation.FinishSecret, func(e *env) rotation.Client {
			return &failNthUnstage{Client: e.sm, n: 2}
		}, 1, false},
		{"removing AWSPENDING reply lost", rotation.FinishSecret, func(e *env) rotation.Client {
			return &failNthUnstage{Client: e.sm, n: 2, after: true}
		}, 2, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			for _, via := range []string{"RotateSecret", "Rotate"} {
				t.Run(via, func(t *testing.T) {
					e := newEnv(t, "key-initial")
					r := newRotator(t, tc.inject(e), e.store)
					e.register(r)
					var err error
					if via == "RotateSecret" {
						_, err = e.rotateSecret(t)
					} else {
						err = r.Rotate(t.Context(), e.arn)
					}
					if err == nil {
						t.Fatal("the rotation succeeded despite the fault")
					}
					if se := (*rotation.StepError)(nil); via == "Rotate" && tc.step != "" && (!errors.As(err, &se) || se.Step != tc.step) {
						t.Fatalf("Rotate = %v, want a StepError for %s", err, tc.step)
					}
					// Whatever failed, AWSCURRENT still works.
					cur := e.value(t, rotation.StageCurrent)
					if !e.store.accepts(cur) {
						t.Fatal("AWSCURRENT stopped working after the failed step")
					}
					pending := e.stages(t)[rotation.StagePending]
					if tc.finished != (pending == "" && cur != "key-initial") {
						t.Fatalf("after the fault: AWSPENDING on %q, AWSCURRENT changed %v; want the rotation finished: %v", pending, cur != "key-initial", tc.finished)
					}

					if err := r.Rotate(t.Context(), e.arn); err != nil {
						t.Fatalf("Rotate after the failure: %v", err)
					}
					if tc.finished {
						e.requireRotated(t, cur) // a second rotation, from the first one's value
					} else {
						e.requireRotated(t, "key-initial")
					}
					if pending != "" && e.stages(t)[rotation.StageCurrent] != pending {
						t.Fatalf("the resumed rotation finished another version than the interrupted %s", pending)
					}
					// A committed write is never repeated, so the service never
					// sees one token with two values (ResourceExistsException).
					if n := e.srv.Calls("PutSecretValue"); n != tc.puts {
						t.Fatalf("PutSecretValue called %d times, want %d", n, tc.puts)
					}
				})
			}
		})
	}
}

// TestLostPutReplyRetriedBySDK: with the SDK's default retryer, a
// PutSecretValue whose reply was lost after it committed is retried with
// the same token and value, which the service takes as a no-op; the
// rotation completes in one go.
func TestLostPutReplyRetriedBySDK(t *testing.T) {
	e := newEnv(t, "key-initial")
	retrying := secretsmanager.NewFromConfig(e.srv.AWSConfig()) // default retryer: 3 attempts
	e.register(newRotator(t, retrying, e.store))
	e.srv.InjectFault(awsemu.Fault{Op: "PutSecretValue", Code: "InternalServiceError", Times: 1, After: true})
	if _, err := e.rotateSecret(t); err != nil {
		t.Fatalf("RotateSecret: %v", err)
	}
	e.requireRotated(t, "key-initial")
	if n := e.srv.Calls("PutSecretValue"); n != 2 {
		t.Fatalf("PutSecretValue calls = %d, want the lost one and the SDK's retry", n)
	}
	out, err := e.sm.ListSecretVersionIds(t.Context(), &secretsmanager.ListSecretVersionIdsInput{SecretId: &e.arn, IncludeDeprecated: aws.Bool(true)})
	if err != nil {
		t.Fatal(err)
	}
	if len(out.Versions) != 2 {
		t.Fatalf("%d versions, want the initial one and one rotated in", len(out.Versions))
	}
}
