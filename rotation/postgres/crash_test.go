package postgres_test

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"

	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/rekeyhq/rekey/internal/awsemu"
	"github.com/rekeyhq/rekey/rotation"
)

var errInjected = errors.New("injected failure")

// flaky wraps a strategy and fails one call once, before or after
// delegating: "after" is a crash once the database has changed.
type flaky struct {
	rotation.Strategy
	step  rotation.Step // SetSecret (Apply) or TestSecret (Verify)
	after bool
	armed atomic.Bool
}

func (f *flaky) fire(step rotation.Step) bool {
	return f.step == step && f.armed.CompareAndSwap(true, false)
}

func (f *flaky) Apply(ctx context.Context, v rotation.Versions) error {
	fail := f.fire(rotation.SetSecret)
	if fail && !f.after {
		return errInjected
	}
	if err := f.Strategy.Apply(ctx, v); err != nil {
		return err
	}
	if fail {
		return errInjected
	}
	return nil
}

func (f *flaky) Verify(ctx context.Context, pending rotation.Secret) error {
	if f.fire(rotation.TestSecret) {
		return errInjected
	}
	return f.Strategy.Verify(ctx, pending)
}

// failSecondUnstage fails finishSecret's second label move (removing
// AWSPENDING after AWSCURRENT moved) once.
type failSecondUnstage struct {
	*secretsmanager.Client
	calls atomic.Int32
}

func (c *failSecondUnstage) UpdateSecretVersionStage(ctx context.Context, in *secretsmanager.UpdateSecretVersionStageInput, optFns ...func(*secretsmanager.Options)) (*secretsmanager.UpdateSecretVersionStageOutput, error) {
	if c.calls.Add(1) == 2 {
		return nil, errInjected
	}
	return c.Client.UpdateSecretVersionStage(ctx, in, optFns...)
}

// checkInvariants checks what must hold between any two steps: some
// labelled version's credentials log in (the database password is one of
// the secret's versions), and AWSCURRENT logs in, except in single-user's
// window after setSecret changed the password, when AWSPENDING does.
func (e *env) checkInvariants(t testing.TB, single bool, where string) {
	t.Helper()
	var works []string
	for _, stage := range []string{rotation.StageCurrent, rotation.StagePending, rotation.StagePrevious} {
		if c, ok := e.version(t, stage); ok {
			if _, ok := e.login(t, c); ok {
				works = append(works, stage)
			}
		}
	}
	has := func(s string) bool {
		for _, w := range works {
			if w == s {
				return true
			}
		}
		return false
	}
	switch {
	case has(rotation.StageCurrent):
	case single && has(rotation.StagePending):
		// The single-user window: setSecret ran, finishSecret has not.
	default:
		t.Fatalf("%s: AWSCURRENT does not log in (working: %v)", where, works)
	}
}

func TestCrashInEveryStepResumes(t *testing.T) {
	type fault struct {
		name string
		step rotation.Step
		// arm makes the fault happen and returns the client the rotator uses.
		arm func(e *env, f *flaky) rotation.Client
	}
	faults := []fault{
		{"GetRandomPassword throttled", rotation.CreateSecret, func(e *env, _ *flaky) rotation.Client {
			e.srv.InjectFault(awsemu.Fault{Op: "GetRandomPassword", Code: "ThrottlingException", Times: 1})
			return e.sm
		}},
		{"PutSecretValue fails", rotation.CreateSecret, func(e *env, _ *flaky) rotation.Client {
			e.srv.InjectFault(awsemu.Fault{Op: "PutSecretValue", Code: "InternalServiceError", Times: 1})
			return e.sm
		}},
		{"PutSecretValue connection reset", rotation.CreateSecret, func(e *env, _ *flaky) rotation.Client {
			e.srv.InjectFault(awsemu.Fault{Op: "PutSecretValue", Reset: true, Times: 1})
			return e.sm
		}},
		{"Apply fails before the database changes", rotation.SetSecret, func(e *env, f *flaky) rotation.Client {
			f.step, f.after = rotation.SetSecret, false
			f.armed.Store(true)
			return e.sm
		}},
		{"Apply fails after the database changed", rotation.SetSecret, func(e *env, f *flaky) rotation.Client {
			f.step, f.after = rotation.SetSecret, true
			f.armed.Store(true)
			return e.sm
		}},
		{"Verify fails", rotation.TestSecret, func(e *env, f *flaky) rotation.Client {
			f.step = rotation.TestSecret
			f.armed.Store(true)
			return e.sm
		}},
		{"moving AWSCURRENT fails", rotation.FinishSecret, func(e *env, _ *flaky) rotation.Client {
			e.srv.InjectFault(awsemu.Fault{Op: "UpdateSecretVersionStage", Code: "InternalServiceError", Times: 1})
			return e.sm
		}},
		{"removing AWSPENDING fails", rotation.FinishSecret, func(e *env, _ *flaky) rotation.Client {
			return &failSecondUnstage{Client: e.sm}
		}},
	}
	for _, st := range strategies {
		single := st.name == "single"
		for _, fl := range faults {
			for _, via := range []string{"RotateSecret", "Rotate"} {
				t.Run(st.name+"/"+fl.name+"/"+via, func(t *testing.T) {
					t.Parallel()
					e := newEnv(t)
					f := &flaky{Strategy: st.new(t, e)}
					r := rotation.New(fl.arm(e, f), f)
					e.srv.RegisterRotationFunc(lambdaARN, func(ctx context.Context, step, secretID, token string) error {
						err := r.Handle(ctx, rotation.Event{Step: rotation.Step(step), SecretID: secretID, ClientRequestToken: token})
						e.checkInvariants(t, single, "after "+step)
						return err
					})
					old := creds{e.role, e.initial}

					var err error
					if via == "RotateSecret" {
						err = e.rotateSecret(t)
					} else {
						err = r.Rotate(t.Context(), e.arn)
					}
					if err == nil {
						t.Fatal("the rotation succeeded despite the fault")
					}
					if se, ok := errors.AsType[*rotation.StepError](err); via == "Rotate" && (!ok || se.Step != fl.step) {
						t.Fatalf("Rotate = %v, want a StepError in %s", err, fl.step)
					}
					e.checkInvariants(t, single, "after the failure")
					pending, _ := e.version(t, rotation.StagePending)

					if err := r.Rotate(t.Context(), e.arn); err != nil {
						t.Fatalf("Rotate after the failure: %v", err)
					}
					e.checkInvariants(t, single, "after the resumed rotation")
					cur := e.requireRotated(t, old)
					if pending != (creds{}) && cur != pending {
						t.Fatal("the resumed rotation did not finish the interrupted one's pending value")
					}
					if !single {
						if _, ok := e.login(t, old); !ok {
							t.Fatal("alternating: AWSPREVIOUS does not log in")
						}
					}
					// And the next rotation through the service works.
					e.srv.RegisterRotationFunc(lambdaARN, func(ctx context.Context, step, secretID, token string) error {
						return r.Handle(ctx, rotation.Event{Step: rotation.Step(step), SecretID: secretID, ClientRequestToken: token})
					})
					if err := e.rotateSecret(t); err != nil {
						t.Fatalf("RotateSecret after recovery: %v", err)
					}
					e.requireRotated(t, cur)
				})
			}
		}
	}
}
