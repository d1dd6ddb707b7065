package rotationtest

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

// Env is one database account and the secret holding its credentials, as
// an engine's tests set them up.
type Env interface {
	// Secret is the rotated secret.
	Secret() Secret
	// Initial are the credentials the secret was created with.
	Initial() Creds
	// TryLogin reports whether c logs in; a refused login is (false, nil).
	// It must not call t.Fatal: it runs off the test goroutine.
	TryLogin(ctx context.Context, c Creds) (bool, error)
	// RequireRotated fails t unless a rotation from old finished cleanly
	// (AWSCURRENT logs in, AWSPREVIOUS holds old, no AWSPENDING) and
	// returns AWSCURRENT.
	RequireRotated(t testing.TB, old Creds) Creds
}

// GrantUser is an Env that can also prove credentials hold the account's
// grants (a MySQL clone gets copies of them; a PostgreSQL clone inherits
// them through role membership and needs no separate proof).
type GrantUser interface {
	UseGrant(ctx context.Context, c Creds) error
}

// ErrInjected is the error of every fault Flaky and FailSecondUnstage
// inject.
var ErrInjected = errors.New("injected failure")

// Flaky wraps a strategy and fails one call once, before or after
// delegating: "after" is a crash once the database has changed.
type Flaky struct {
	rotation.Strategy
	Step  rotation.Step // SetSecret (Apply) or TestSecret (Verify)
	After bool
	Armed atomic.Bool
}

func (f *Flaky) fire(step rotation.Step) bool {
	return f.Step == step && f.Armed.CompareAndSwap(true, false)
}

// Apply fails once when armed for SetSecret, before or after delegating.
func (f *Flaky) Apply(ctx context.Context, v rotation.Versions) error {
	fail := f.fire(rotation.SetSecret)
	if fail && !f.After {
		return ErrInjected
	}
	if err := f.Strategy.Apply(ctx, v); err != nil {
		return err
	}
	if fail {
		return ErrInjected
	}
	return nil
}

// Verify fails once, without delegating, when armed for TestSecret.
func (f *Flaky) Verify(ctx context.Context, pending rotation.Secret) error {
	if f.fire(rotation.TestSecret) {
		return ErrInjected
	}
	return f.Strategy.Verify(ctx, pending)
}

// FailSecondUnstage fails finishSecret's second label move (removing
// AWSPENDING after AWSCURRENT moved) once.
type FailSecondUnstage struct {
	rotation.Client
	calls atomic.Int32
}

// UpdateSecretVersionStage fails its second call with ErrInjected.
func (c *FailSecondUnstage) UpdateSecretVersionStage(ctx context.Context, in *secretsmanager.UpdateSecretVersionStageInput, optFns ...func(*secretsmanager.Options)) (*secretsmanager.UpdateSecretVersionStageOutput, error) {
	if c.calls.Add(1) == 2 {
		return nil, ErrInjected
	}
	return c.Client.UpdateSecretVersionStage(ctx, in, optFns...)
}

// CheckEachStep calls Check before every DescribeSecret. A Rotator calls
// DescribeSecret before each step (and Rotate once more at its start), so
// Check sees the state between every two steps, whether Rotate or the
// emulator's RotateSecret drives them.
type CheckEachStep struct {
	rotation.Client
	Check func(ctx context.Context)
}

// DescribeSecret runs Check, then delegates.
func (c *CheckEachStep) DescribeSecret(ctx context.Context, in *secretsmanager.DescribeSecretInput, optFns ...func(*secretsmanager.Options)) (*secretsmanager.DescribeSecretOutput, error) {
	c.Check(ctx)
	return c.Client.DescribeSecret(ctx, in, optFns...)
}

// Invariant checks what must hold between any two steps: AWSCURRENT logs
// in, except in single-user's window after setSecret changed the password,
// when AWSPENDING does. Either way the database password is one of the
// secret's labelled versions. It returns an error rather than failing a
// test, because it also runs on the emulator's goroutines.
func Invariant(ctx context.Context, e Env, single bool) error {
	logsIn := func(stage string) (bool, error) {
		c, ok, err := e.Secret().ReadVersion(ctx, stage)
		if err != nil || !ok {
			return false, err
		}
		return e.TryLogin(ctx, c)
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

// Strategy is one strategy of an engine under test.
type Strategy struct {
	Name   string // "single" or "alternating"
	Single bool   // single user: AWSPENDING logs in during the window
	// New sets up a fresh Env and returns it with the strategy for it.
	New func(t testing.TB) (Env, rotation.Strategy)
}

// fault is one failure injected into a rotation.
type fault struct {
	name string
	step rotation.Step
	// arm makes the fault happen and returns the client the rotator uses.
	arm func(e Env, f *Flaky) rotation.Client
	// puts is how many PutSecretValue calls the failed and the resumed
	// rotation make together: 1 when the first one's write committed.
	puts int64
}

var faults = []fault{
	{"GetRandomPassword throttled", rotation.CreateSecret, func(e Env, _ *Flaky) rotation.Client {
		e.Secret().Server.InjectFault(awsemu.Fault{Op: "GetRandomPassword", Code: "ThrottlingException", Times: 1})
		return e.Secret().Client
	}, 1},
	{"PutSecretValue fails", rotation.CreateSecret, func(e Env, _ *Flaky) rotation.Client {
		e.Secret().Server.InjectFault(awsemu.Fault{Op: "PutSecretValue", Code: "InternalServiceError", Times: 1})
		return e.Secret().Client
	}, 2},
	{"PutSecretValue connection reset", rotation.CreateSecret, func(e Env, _ *Flaky) rotation.Client {
		e.Secret().Server.InjectFault(awsemu.Fault{Op: "PutSecretValue", Reset: true, Times: 1})
		return e.Secret().Client
	}, 2},
	{"PutSecretValue reply lost", rotation.CreateSecret, func(e Env, _ *Flaky) rotation.Client {
		e.Secret().Server.InjectFault(awsemu.Fault{Op: "PutSecretValue", Code: "InternalServiceError", Times: 1, After: true})
		return e.Secret().Client
	}, 1},
	{"Apply fails before the database changes", rotation.SetSecret, func(e Env, f *Flaky) rotation.Client {
		f.Step, f.After = rotation.SetSecret, false
		f.Armed.Store(true)
		return e.Secret().Client
	}, 1},
	{"Apply fails after the database changed", rotation.SetSecret, func(e Env, f *Flaky) rotation.Client {
		f.Step, f.After = rotation.SetSecret, true
		f.Armed.Store(true)
		return e.Secret().Client
	}, 1},
	{"Verify fails", rotation.TestSecret, func(e Env, f *Flaky) rotation.Client {
		f.Step = rotation.TestSecret
		f.Armed.Store(true)
		return e.Secret().Client
	}, 1},
	{"moving AWSCURRENT fails", rotation.FinishSecret, func(e Env, _ *Flaky) rotation.Client {
		e.Secret().Server.InjectFault(awsemu.Fault{Op: "UpdateSecretVersionStage", Code: "InternalServiceError", Times: 1})
		return e.Secret().Client
	}, 1},
	{"moving AWSCURRENT reply lost", rotation.FinishSecret, func(e Env, _ *Flaky) rotation.Client {
		e.Secret().Server.InjectFault(awsemu.Fault{Op: "UpdateSecretVersionStage", Code: "InternalServiceError", Times: 1, After: true})
		return e.Secret().Client
	}, 1},
	{"removing AWSPENDING fails", rotation.FinishSecret, func(e Env, _ *Flaky) rotation.Client {
		return &FailSecondUnstage{Client: e.Secret().Client}
	}, 1},
}

// CrashInEveryStepResumes fails each step of a rotation once, in every way
// a step can fail (an API error, a reset connection, a lost reply, a crash
// before or after the database changed), through RotateSecret and through
// Rotate, and checks that the invariant held before every step and after
// the failure, that the next Rotate finishes the interrupted rotation
// without writing a committed value twice, and, after a fault in
// finishSecret, that no label is left to block the next rotation.
func CrashInEveryStepResumes(t *testing.T, strategies []Strategy) {
	for _, st := range strategies {
		for _, fl := range faults {
			for _, via := range []string{"RotateSecret", "Rotate"} {
				t.Run(st.Name+"/"+fl.name+"/"+via, func(t *testing.T) {
					t.Parallel()
					e, strategy := st.New(t)
					sec := e.Secret()
					f := &Flaky{Strategy: strategy}
					var checks atomic.Int64
					client := &CheckEachStep{Client: fl.arm(e, f), Check: func(ctx context.Context) {
						checks.Add(1)
						if err := Invariant(ctx, e, st.Single); err != nil {
							t.Errorf("before a step: %v", err) // may run on the emulator's goroutine: no t.Fatal
						}
					}}
					r, err := rotation.New(client, f)
					if err != nil {
						t.Fatal(err)
					}
					sec.Register(r)
					old := e.Initial()

					if via == "RotateSecret" {
						err = sec.RotateSecret(t)
					} else {
						err = r.Rotate(t.Context(), sec.ARN)
					}
					if err == nil {
						t.Fatal("the rotation succeeded despite the fault")
					}
					var se *rotation.StepError
					if ok := errors.As(err, &se); via == "Rotate" && (!ok || se.Step != fl.step) {
						t.Fatalf("Rotate = %v, want a StepError in %s", err, fl.step)
					}
					if err := Invariant(t.Context(), e, st.Single); err != nil {
						t.Fatalf("after the failure: %v", err)
					}
					pending, _ := sec.Version(t, rotation.StagePending)

					if err := r.Rotate(t.Context(), sec.ARN); err != nil {
						t.Fatalf("Rotate after the failure: %v", err)
					}
					if err := Invariant(t.Context(), e, st.Single); err != nil {
						t.Fatalf("after the resumed rotation: %v", err)
					}
					if n := checks.Load(); n < 2 {
						t.Fatalf("the invariant was checked before %d steps; the hook is not in the rotator's path", n)
					}
					cur := e.RequireRotated(t, old)
					if pending != (Creds{}) && cur != pending {
						t.Fatal("the resumed rotation did not finish the interrupted one's pending value")
					}
					if !st.Single {
						if ok, err := e.TryLogin(t.Context(), old); err != nil || !ok {
							t.Fatalf("alternating: AWSPREVIOUS does not log in (%v)", err)
						}
						if g, ok := e.(GrantUser); ok {
							if err := g.UseGrant(t.Context(), old); err != nil {
								t.Fatalf("alternating: AWSPREVIOUS: %v", err)
							}
						}
					}
					// A committed write is never repeated, so no token gets a
					// second value (ResourceExistsException).
					if n := sec.Server.Calls("PutSecretValue"); n != fl.puts {
						t.Fatalf("PutSecretValue calls = %d, want %d", n, fl.puts)
					}
					if fl.step != rotation.FinishSecret {
						return
					}
					// A fault in finishSecret could leave a label behind that
					// blocks the next rotation through the service; it does not.
					if err := sec.RotateSecret(t); err != nil {
						t.Fatalf("RotateSecret after recovery: %v", err)
					}
					e.RequireRotated(t, cur)
				})
			}
		}
	}
}
