package postgres_test

import (
	"context"
	"testing"

	"github.com/rekeyhq/rekey/internal/rotationtest"
	"github.com/rekeyhq/rekey/rotation"
)

// engine adapts env to the crash harness both engines share. It has no
// UseGrant: a PostgreSQL clone inherits the role's privileges through
// membership instead of copies.
type engine struct{ *env }

func (e engine) Secret() rotationtest.Secret { return e.secret() }

func (e engine) Initial() rotationtest.Creds {
	return rotationtest.Creds{User: e.role, Password: e.initial}
}

func (e engine) TryLogin(ctx context.Context, c rotationtest.Creds) (bool, error) {
	_, ok, err := e.tryLogin(ctx, fromCreds(c))
	return ok, err
}

func (e engine) RequireRotated(t testing.TB, old rotationtest.Creds) rotationtest.Creds {
	t.Helper()
	return toCreds(e.requireRotated(t, fromCreds(old)))
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
