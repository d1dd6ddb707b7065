package mysql_test

import (
	"context"
	"errors"
	"fmt"
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
	rotation.Client
	calls atomic.Int32
}

func (c *failSecondUnstage) UpdateSecretVersionStage(ctx context.Context, in *secretsmanager.UpdateSecretVersionStageInput, optFns ...func(*secretsmanager.Options)) (*secretsmanager.UpdateSecretVersionStageOutput, error) {
	if c.calls.Add(1) == 2 {
		return nil, errInjected
	}
	return c.Client.UpdateSecretVersionStage(ctx, in, optFns...)
}

// checkEachStep calls check before every DescribeSecret. A Rotator calls
// DescribeSecret before each step (and Rotate once more at its start), so
// check sees the state between every two steps, whether Rotate or the
// emulator's RotateSecret drives them.
type checkEachStep struct {
	rotation.Client
	check func(ctx context.Context)
}

func (c *checkEachStep) DescribeSecret(ctx context.Context, in *secretsmanager.DescribeSecretInput, optFns ...func(*secretsmanager.Options)) (*secretsmanager.DescribeSecretOutput, error) {
	c.check(ctx)
	return c.Client.DescribeSecret(ctx, in, optFns...)
}

// invariant checks what must hold between any two steps: AWSCURRENT logs
// in, except in single-user's window after setSecret changed the password,
// when AWSPENDING does. Either way the database password is one of the
// secret's labelled versions. It returns an error rather than failing t,
// because it also runs on the emulator's goroutines.
func (e *env) invariant(ctx context.Context, single bool) error {
	logsIn := func(stage string) (bool, error) {
		c, ok, err := e.readVersion(ctx, stage)
		if err != nil || !ok {
			return false, err
		}
		_, ok, err = e.tryLogin(ctx, c)
		return ok, err
	}
	ok, err := logsIn(rotation.StageCurrent)
	if err != nil || ok {
		return err
	}
	if single {
		// The single-user window: setSecret ran, finishSecret has not.
		if ok, err := logsIn(rotation.StagePending); err != nil || ok {
			return err
		}
	}
	prev, err := logsIn(rotation.StagePrevious)
	if err != nil {
		return err
	}
	return fmt.Errorf("AWSCURRENT does not log in (AWSPREVIOUS logs in: %v)", prev)
}

func TestCrashInEveryStepResumes(t *testing.T) {
	type fault struct {
		name string
		step rotation.Step
		// arm makes the fault happen and returns the client the rotator uses.
		arm func(e *env, f *flaky) rotation.Client
		// puts is how many PutSecretValue calls the failed and the resumed
		// rotation make together: 1 when the first one's write committed.
		puts int64
	}
	faults := []fault{
		{"GetRandomPassword throttled", rotation.CreateSecret, func(e *env, _ *flaky) rotation.Client {
			e.srv.InjectFault(awsemu.Fault{Op: "GetRandomPassword", Code: "ThrottlingException", Times: 1})
			return e.sm
		}, 1},
		{"PutSecretValue fails", rotation.CreateSecret, func(e *env, _ *flaky) rotation.Client {
			e.srv.InjectFault(awsemu.Fault{Op: "PutSecretValue", Code: "InternalServiceError", Times: 1})
			return e.sm
		}, 2},
		{"PutSecretValue connection reset", rotation.CreateSecret, func(e *env, _ *flaky) rotation.Client {
			e.srv.InjectFault(awsemu.Fault{Op: "PutSecretValue", Reset: true, Times: 1})
			return e.sm
		}, 2},
		{"PutSecretValue reply lost", rotation.CreateSecret, func(e *env, _ *flaky) rotation.Client {
			e.srv.InjectFault(awsemu.Fault{Op: "PutSecretValue", Code: "InternalServiceError", Times: 1, After: true})
			return e.sm
		}, 1},
		{"Apply fails before the database changes", rotation.SetSecret, func(e *env, f *flaky) rotation.Client {
			f.step, f.after = rotation.SetSecret, false
			f.armed.Store(true)
			return e.sm
		}, 1},
		{"Apply fails after the database changed", rotation.SetSecret, func(e *env, f *flaky) rotation.Client {
			f.step, f.after = rotation.SetSecret, true
			f.armed.Store(true)
			return e.sm
		}, 1},
		{"Verify fails", rotation.TestSecret, func(e *env, f *flaky) rotation.Client {
			f.step = rotation.TestSecret
			f.armed.Store(true)
			return e.sm
		}, 1},
		{"moving AWSCURRENT fails", rotation.FinishSecret, func(e *env, _ *flaky) rotation.Client {
			e.srv.InjectFault(awsemu.Fault{Op: "UpdateSecretVersionStage", Code: "InternalServiceError", Times: 1})
			return e.sm
		}, 1},
		{"moving AWSCURRENT reply lost", rotation.FinishSecret, func(e *env, _ *flaky) rotation.Client {
			e.srv.InjectFault(awsemu.Fault{Op: "UpdateSecretVersionStage", Code: "InternalServiceError", Times: 1, After: true})
			return e.sm
		}, 1},
		{"removing AWSPENDING fails", rotation.FinishSecret, func(e *env, _ *flaky) rotation.Client {
			return &failSecondUnstage{Client: e.sm}
		}, 1},
	}
	for _, st := range strategies {
		single := st.name == "single"
		for _, fl := range faults {
			for _, via := range []string{"RotateSecret", "Rotate"} {
				t.Run(st.name+"/"+fl.name+"/"+via, func(t *testing.T) {
					t.Parallel()
					e := newEnv(t)
					f := &flaky{Strategy: st.new(t, e)}
					var checks atomic.Int64
					client := &checkEachStep{Client: fl.arm(e, f), check: func(ctx context.Context) {
						checks.Add(1)
						if err := e.invariant(ctx, single); err != nil {
							t.Errorf("before a step: %v", err) // may run on the emulator's goroutine: no t.Fatal
						}
					}}
					r := newRotator(t, client, f)
					e.register(r)
					old := creds{e.user, e.initial}

					var err error
					if via == "RotateSecret" {
						err = e.rotateSecret(t)
					} else {
						err = r.Rotate(t.Context(), e.arn)
					}
					if err == nil {
						t.Fatal("the rotation succeeded despite the fault")
					}
					var se *rotation.StepError
					if ok := errors.As(err, &se); via == "Rotate" && (!ok || se.Step != fl.step) {
						t.Fatalf("Rotate = %v, want a StepError in %s", err, fl.step)
					}
					if err := e.invariant(t.Context(), single); err != nil {
						t.Fatalf("after the failure: %v", err)
					}
					pending, _ := e.version(t, rotation.StagePending)

					if err := r.Rotate(t.Context(), e.arn); err != nil {
						t.Fatalf("Rotate after the failure: %v", err)
					}
					if err := e.invariant(t.Context(), single); err != nil {
						t.Fatalf("after the resumed rotation: %v", err)
					}
					if n := checks.Load(); n < 2 {
						t.Fatalf("the invariant was checked before %d steps; the hook is not in the rotator's path", n)
					}
					cur := e.requireRotated(t, old)
					if pending != (creds{}) && cur != pending {
						t.Fatal("the resumed rotation did not finish the interrupted one's pending value")
					}
					if !single {
						if _, ok := e.login(t, old); !ok {
							t.Fatal("alternating: AWSPREVIOUS does not log in")
						}
						if err := e.useGrant(t.Context(), old); err != nil {
							t.Fatalf("alternating: AWSPREVIOUS: %v", err)
						}
					}
					// A committed write is never repeated, so no token gets a
					// second value (ResourceExistsException).
					if n := e.srv.Calls("PutSecretValue"); n != fl.puts {
						t.Fatalf("PutSecretValue calls = %d, want %d", n, fl.puts)
					}
					if fl.step != rotation.FinishSecret {
						return
					}
					// A fault in finishSecret could leave a label behind that
					// blocks the next rotation through the service; it does not.
					if err := e.rotateSecret(t); err != nil {
						t.Fatalf("RotateSecret after recovery: %v", err)
					}
					e.requireRotated(t, cur)
				})
			}
		}
	}
}
