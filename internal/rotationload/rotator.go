package rotationload

import (
	"context"
	"sync/atomic"
	"time"

	"github.com/rekeyhq/rekey/internal/awsemu"
	"github.com/rekeyhq/rekey/rotation"
)

// RotationFunc returns an emulator rotation function that runs each step
// with r, as a Lambda handler would. When pause returns a positive
// duration after a setSecret, it sleeps that long before answering: the
// window of a single-user rotation in which the database has the new
// password and AWSCURRENT the old one. Each finishSecret that succeeds
// adds one to done.
func RotationFunc(r *rotation.Rotator, pause func() time.Duration, done *atomic.Int64) awsemu.RotationFunc {
	return func(ctx context.Context, step, secretID, token string) error {
		if err := r.Handle(ctx, rotation.Event{Step: rotation.Step(step), SecretID: secretID, ClientRequestToken: token}); err != nil {
			return err
		}
		switch rotation.Step(step) {
		case rotation.SetSecret:
			if d := pause(); d > 0 {
				time.Sleep(d)
			}
		case rotation.FinishSecret:
			done.Add(1)
		}
		return nil
	}
}
