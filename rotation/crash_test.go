package rotation_test

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"

	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/rekeyhq/rekey/internal/awsemu"
	"github.com/rekeyhq/rekey/rotation"
)

// dropSecondUnstage is a Client whose second UpdateSecretVersionStage call
// (finishSecret removing AWSPENDING, after AWSCURRENT moved) fails once: a
// crash between finishSecret's two writes, which no emulator fault can
// single out.
type dropSecondUnstage struct {
	*secretsmanager.Client
	calls atomic.Int32
}

func (c *dropSecondUnstage) UpdateSecretVersionStage(ctx context.Context, in *secretsmanager.UpdateSecretVersionStageInput, optFns ...func(*secretsmanager.Options)) (*secretsmanager.UpdateSecretVersionStageOutput, error) {
	if c.calls.Add(1) == 2 {
		return nil, errInjected
	}
	return c.Client.UpdateSecretVersionStage(ctx, in, optFns...)
}

func TestCrashInEveryStepResumes(t *testing.T) {
	cases := []struct {
		name   string
		step   rotation.Step                // the step Rotate reports; "" for Rotate's own DescribeSecret
		inject func(e *env) rotation.Client // returns the client the rotator uses
	}{
		{"DescribeSecret fails", "", func(e *env) rotation.Client {
			e.srv.InjectFault(awsemu.Fault{Op: "DescribeSecret", Code: "InternalServiceError", Times: 1})
			return e.sm
		}},
		{"GetRandomPassword throttled", rotation.CreateSecret, func(e *env) rotation.Client {
			e.srv.InjectFault(awsemu.Fault{Op: "GetRandomPassword", Code: "ThrottlingException", Times: 1})
			return e.sm
		}},
		{"PutSecretValue fails", rotation.CreateSecret, func(e *env) rotation.Client {
			e.srv.InjectFault(awsemu.Fault{Op: "PutSecretValue", Code: "InternalServiceError", Times: 1})
			return e.sm
		}},
		{"Apply fails after applying", rotation.SetSecret, func(e *env) rotation.Client {
			e.store.failApply = 1
			return e.sm
		}},
		{"Verify fails", rotation.TestSecret, func(e *env) rotation.Client {
			e.store.failVerify = 1
			return e.sm
		}},
		{"moving AWSCURRENT fails", rotation.FinishSecret, func(e *env) rotation.Client {
			e.srv.InjectFault(awsemu.Fault{Op: "UpdateSecretVersionStage", Code: "InternalServiceError", Times: 1})
			return e.sm
		}},
		{"removing AWSPENDING fails", rotation.FinishSecret, func(e *env) rotation.Client {
			return &dropSecondUnstage{Client: e.sm}
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			for _, via := range []string{"RotateSecret", "Rotate"} {
				t.Run(via, func(t *testing.T) {
					e := newEnv(t, "key-initial")
					r := rotation.New(tc.inject(e), e.store)
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
					if se, ok := errors.AsType[*rotation.StepError](err); via == "Rotate" && tc.step != "" && (!ok || se.Step != tc.step) {
						t.Fatalf("Rotate = %v, want a StepError for %s", err, tc.step)
					}
					// Whatever failed, AWSCURRENT still works.
					if !e.store.accepts(e.value(t, rotation.StageCurrent)) {
						t.Fatal("AWSCURRENT stopped working after the failed step")
					}
					pending := e.stages(t)[rotation.StagePending]

					if err := r.Rotate(t.Context(), e.arn); err != nil {
						t.Fatalf("Rotate after the failure: %v", err)
					}
					e.requireRotated(t, "key-initial")
					if pending != "" && e.stages(t)[rotation.StageCurrent] != pending {
						t.Fatalf("the resumed rotation finished another version than the interrupted %s", pending)
					}
					if n := e.srv.Calls("PutSecretValue"); n > 2 {
						t.Fatalf("PutSecretValue called %d times", n)
					}
				})
			}
		})
	}
}
