package rotation_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/rekeyhq/rekey/internal/awsemu"
	"github.com/rekeyhq/rekey/rotation"
)

// keyStore is the target system of the tests in this package: a service
// that accepts a set of API keys. Its strategy stores the key itself as the
// secret value.
type keyStore struct {
	mu    sync.Mutex
	valid map[string]bool // guarded by mu

	applies, verifies int // guarded by mu
	failApply         int // guarded by mu; Apply calls left to fail after applying
	failVerify        int // guarded by mu; Verify calls left to fail
}

func newKeyStore(keys ...string) *keyStore {
	k := &keyStore{valid: make(map[string]bool)}
	for _, key := range keys {
		k.valid[key] = true
	}
	return k
}

var errInjected = errors.New("injected failure")

func (k *keyStore) NewPending(_ context.Context, current rotation.Secret, password string) ([]byte, error) {
	return []byte("key-" + password), nil
}

// Apply accepts the pending key and keeps the current one, as a service
// with two active keys does.
func (k *keyStore) Apply(_ context.Context, v rotation.Versions) error {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.applies++
	k.valid[string(v.Pending.Value())] = true
	if k.failApply > 0 {
		k.failApply--
		return errInjected
	}
	return nil
}

func (k *keyStore) Verify(_ context.Context, pending rotation.Secret) error {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.verifies++
	if k.failVerify > 0 {
		k.failVerify--
		return errInjected
	}
	if !k.valid[string(pending.Value())] {
		return errors.New("key not accepted")
	}
	return nil
}

func (k *keyStore) accepts(key string) bool {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.valid[key]
}

func (k *keyStore) counts() (applies, verifies int) {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.applies, k.verifies
}

const lambdaARN = "arn:aws:lambda:us-east-1:123456789012:function:rotate"

// env is an emulator with one secret and an SDK client that does not retry,
// so API call counts are exact.
type env struct {
	srv   *awsemu.Server
	sm    *secretsmanager.Client
	arn   string
	store *keyStore
}

func newEnv(t testing.TB, initial string) *env {
	t.Helper()
	srv := awsemu.New(t)
	sm := secretsmanager.NewFromConfig(srv.AWSConfig(), func(o *secretsmanager.Options) { o.RetryMaxAttempts = 1 })
	out, err := sm.CreateSecret(t.Context(), &secretsmanager.CreateSecretInput{
		Name:         aws.String("app/api-key"),
		SecretString: aws.String(initial),
	})
	if err != nil {
		t.Fatalf("CreateSecret: %v", err)
	}
	return &env{srv: srv, sm: sm, arn: *out.ARN, store: newKeyStore(initial)}
}

// register makes RotateSecret on the emulator call r.Handle.
func (e *env) register(r *rotation.Rotator) {
	e.srv.RegisterRotationFunc(lambdaARN, func(ctx context.Context, step, secretID, token string) error {
		return r.Handle(ctx, rotation.Event{Step: rotation.Step(step), SecretID: secretID, ClientRequestToken: token})
	})
}

func (e *env) rotateSecret(t testing.TB) (string, error) {
	t.Helper()
	out, err := e.sm.RotateSecret(t.Context(), &secretsmanager.RotateSecretInput{
		SecretId:          &e.arn,
		RotationLambdaARN: aws.String(lambdaARN),
	})
	if err != nil {
		return "", err
	}
	return aws.ToString(out.VersionId), nil
}

// stages returns the secret's version ids by stage.
func (e *env) stages(t testing.TB) map[string]string {
	t.Helper()
	m, err := e.stageIDs(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// stageIDs is stages for code off the test goroutine, such as a rotation
// function the emulator runs, which must not call t.Fatal.
func (e *env) stageIDs(ctx context.Context) (map[string]string, error) {
	d, err := e.sm.DescribeSecret(ctx, &secretsmanager.DescribeSecretInput{SecretId: &e.arn})
	if err != nil {
		return nil, fmt.Errorf("DescribeSecret: %w", err)
	}
	m := make(map[string]string)
	for id, st := range d.VersionIdsToStages {
		for _, s := range st {
			if prev, dup := m[s]; dup {
				return nil, fmt.Errorf("stage %s on versions %s and %s", s, prev, id)
			}
			m[s] = id
		}
	}
	return m, nil
}

func (e *env) value(t testing.TB, stage string) string {
	t.Helper()
	out, err := e.sm.GetSecretValue(t.Context(), &secretsmanager.GetSecretValueInput{SecretId: &e.arn, VersionStage: &stage})
	if err != nil {
		t.Fatalf("GetSecretValue %s: %v", stage, err)
	}
	return aws.ToString(out.SecretString)
}

// requireRotated checks the state after a finished rotation away from old:
// a new AWSCURRENT the store accepts, old as AWSPREVIOUS, no AWSPENDING.
func (e *env) requireRotated(t testing.TB, old string) string {
	t.Helper()
	st := e.stages(t)
	if id, ok := st[rotation.StagePending]; ok {
		t.Fatalf("AWSPENDING left on version %s; stages %v", id, st)
	}
	cur := e.value(t, rotation.StageCurrent)
	if cur == old {
		t.Fatalf("AWSCURRENT still holds the old value")
	}
	if !e.store.accepts(cur) {
		t.Fatalf("the store does not accept AWSCURRENT")
	}
	if got := e.value(t, rotation.StagePrevious); got != old {
		t.Fatalf("AWSPREVIOUS does not hold the old value")
	}
	return cur
}

func hasStage(stages map[string][]string, id, stage string) bool {
	return slices.Contains(stages[id], stage)
}

// newRotator is rotation.New for arguments that must be valid.
func newRotator(t testing.TB, c rotation.Client, s rotation.Strategy, optFns ...func(*rotation.Options)) *rotation.Rotator {
	t.Helper()
	r, err := rotation.New(c, s, optFns...)
	if err != nil {
		t.Fatal(err)
	}
	return r
}
