package mysql_test

import (
	"context"
	"testing"

	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/rekeyhq/rekey/internal/awsemu"
	"github.com/rekeyhq/rekey/internal/rotationtest"
	"github.com/rekeyhq/rekey/rotation"
)

// engine adapts env to the crash harness both engines share.
type engine struct{ *env }

func toCreds(c creds) rotationtest.Creds {
	return rotationtest.Creds{User: c.user, Password: c.password}
}
func fromCreds(c rotationtest.Creds) creds { return creds{c.User, c.Password} }

func (e engine) Server() *awsemu.Server         { return e.srv }
func (e engine) Client() *secretsmanager.Client { return e.sm }
func (e engine) ARN() string                    { return e.arn }
func (e engine) Initial() rotationtest.Creds {
	return rotationtest.Creds{User: e.user, Password: e.initial}
}
func (e engine) Register(r *rotation.Rotator)    { e.register(r) }
func (e engine) RotateSecret(t testing.TB) error { return e.rotateSecret(t) }

func (e engine) ReadVersion(ctx context.Context, stage string) (rotationtest.Creds, bool, error) {
	c, ok, err := e.readVersion(ctx, stage)
	return toCreds(c), ok, err
}

func (e engine) TryLogin(ctx context.Context, c rotationtest.Creds) (bool, error) {
	_, ok, err := e.tryLogin(ctx, fromCreds(c))
	return ok, err
}

func (e engine) RequireRotated(t testing.TB, old rotationtest.Creds) rotationtest.Creds {
	t.Helper()
	return toCreds(e.requireRotated(t, fromCreds(old)))
}

// UseGrant proves the clone got copies of the original's grants.
func (e engine) UseGrant(ctx context.Context, c rotationtest.Creds) error {
	return e.useGrant(ctx, fromCreds(c))
}

func TestCrashInEveryStepResumes(t *testing.T) {
	var sts []rotationtest.Strategy
	for _, st := range strategies {
		sts = append(sts, rotationtest.Strategy{Name: st.name, Single: st.name == "single", New: func(t testing.TB) (rotationtest.Env, rotation.Strategy) {
			e := newEnv(t)
			return engine{e}, st.new(t, e)
		}})
	}
	rotationtest.CrashInEveryStepResumes(t, sts)
}
