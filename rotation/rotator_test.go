package rotation_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager/types"

	"github.com/rekeyhq/rekey/rotation"
)

func TestRotateSecretRunsAllStepsThroughHandle(t *testing.T) {
	e := newEnv(t, "key-initial")
	e.register(newRotator(t, e.sm, e.store))

	token, err := e.rotateSecret(t)
	if err != nil {
		t.Fatalf("RotateSecret: %v", err)
	}
	// One DescribeSecret per step, one password, one write, two label moves.
	for op, want := range map[string]int64{
		"DescribeSecret": 4, "GetRandomPassword": 1, "PutSecretValue": 1, "UpdateSecretVersionStage": 2,
	} {
		if got := e.srv.Calls(op); got != want {
			t.Errorf("%s calls = %d, want %d", op, got, want)
		}
	}
	cur := e.requireRotated(t, "key-initial")
	if st := e.stages(t); st[rotation.StageCurrent] != token {
		t.Fatalf("AWSCURRENT is on %s, want the rotation's token %s", st[rotation.StageCurrent], token)
	}
	if !strings.HasPrefix(cur, "key-") || len(cur) != len("key-")+32 {
		t.Fatalf("new value has length %d, want the strategy's prefix and a 32-character password", len(cur))
	}
	if a, v := e.store.counts(); a != 1 || v != 1 {
		t.Errorf("Apply, Verify calls = %d, %d; want 1, 1", a, v)
	}

	// A second rotation alternates AWSPREVIOUS onto the first rotation's value.
	if _, err := e.rotateSecret(t); err != nil {
		t.Fatalf("second RotateSecret: %v", err)
	}
	e.requireRotated(t, cur)
}

func TestRotateWithoutLambda(t *testing.T) {
	e := newEnv(t, "key-initial")
	r := newRotator(t, e.sm, e.store, func(o *rotation.Options) {
		rotation.SetNewToken(o, func() (string, error) { return "00000000-0000-4000-8000-000000000001", nil })
	})
	if err := r.Rotate(t.Context(), e.arn); err != nil {
		t.Fatalf("Rotate: %v", err)
	}
	e.requireRotated(t, "key-initial")
	if got := e.stages(t)[rotation.StageCurrent]; got != "00000000-0000-4000-8000-000000000001" {
		t.Fatalf("AWSCURRENT on %s, want the token from the token source", got)
	}
	if n := e.srv.Calls("RotateSecret"); n != 0 {
		t.Fatalf("Rotate called RotateSecret %d times", n)
	}
	d, err := e.sm.DescribeSecret(t.Context(), &secretsmanager.DescribeSecretInput{SecretId: &e.arn})
	if err != nil {
		t.Fatal(err)
	}
	if aws.ToBool(d.RotationEnabled) {
		t.Fatalf("test premise: rotation should not be enabled on the secret")
	}
}

func TestRotateDefaultTokenIsUUID(t *testing.T) {
	e := newEnv(t, "key-initial")
	if err := newRotator(t, e.sm, e.store).Rotate(t.Context(), e.arn); err != nil {
		t.Fatalf("Rotate: %v", err)
	}
	id := e.stages(t)[rotation.StageCurrent]
	if len(id) != 36 || id[14] != '4' || !strings.ContainsAny(id[19:20], "89ab") || strings.Count(id, "-") != 4 {
		t.Fatalf("token %q is not a UUID version 4", id)
	}
}

func TestRotateResumesFailedRotation(t *testing.T) {
	e := newEnv(t, "key-initial")
	e.store.failVerify = 1
	e.register(newRotator(t, e.sm, e.store))
	if _, err := e.rotateSecret(t); err == nil {
		t.Fatal("RotateSecret succeeded although testSecret failed")
	}
	// The service refuses to start another rotation while this one is pending.
	if _, err := e.rotateSecret(t); err == nil {
		t.Fatal("second RotateSecret succeeded while a rotation was pending")
	}
	pending := e.stages(t)[rotation.StagePending]
	if pending == "" {
		t.Fatal("no AWSPENDING version after the failed rotation")
	}
	if err := newRotator(t, e.sm, e.store).Rotate(t.Context(), e.arn); err != nil {
		t.Fatalf("Rotate: %v", err)
	}
	e.requireRotated(t, "key-initial")
	if got := e.stages(t)[rotation.StageCurrent]; got != pending {
		t.Fatalf("Rotate finished version %s, want the interrupted rotation's %s", got, pending)
	}
	if n := e.srv.Calls("GetRandomPassword"); n != 1 {
		t.Fatalf("GetRandomPassword called %d times; resuming must keep the pending value", n)
	}
	// The next rotation through the service works again.
	if _, err := e.rotateSecret(t); err != nil {
		t.Fatalf("RotateSecret after the resumed rotation: %v", err)
	}
}

func TestEveryStepTwiceIsHarmless(t *testing.T) {
	e := newEnv(t, "key-initial")
	r := newRotator(t, e.sm, e.store)
	var (
		mu         sync.Mutex
		afterFirst []map[string]string // guarded by mu
	)
	e.srv.RegisterRotationFunc(lambdaARN, func(ctx context.Context, step, secretID, token string) error {
		ev := rotation.Event{Step: rotation.Step(step), SecretID: secretID, ClientRequestToken: token}
		if err := r.Handle(ctx, ev); err != nil {
			return err
		}
		// The emulator runs this function on its own goroutine: report
		// through the step's error, never t.Fatal.
		st, err := e.stageIDs(ctx)
		if err != nil {
			return err
		}
		mu.Lock()
		afterFirst = append(afterFirst, st)
		mu.Unlock()
		return r.Handle(ctx, ev)
	})
	if _, err := e.rotateSecret(t); err != nil {
		t.Fatalf("RotateSecret: %v", err)
	}
	e.requireRotated(t, "key-initial")
	for op, want := range map[string]int64{"GetRandomPassword": 1, "PutSecretValue": 1, "UpdateSecretVersionStage": 2} {
		if got := e.srv.Calls(op); got != want {
			t.Errorf("%s calls = %d, want %d", op, got, want)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if len(afterFirst) != 4 {
		t.Fatalf("rotation function ran %d steps, want 4", len(afterFirst))
	}
	if final := e.stages(t); final[rotation.StageCurrent] != afterFirst[3][rotation.StageCurrent] {
		t.Fatalf("repeating finishSecret moved AWSCURRENT")
	}
}

func TestHandleRefuses(t *testing.T) {
	e := newEnv(t, "key-initial")
	r := newRotator(t, e.sm, e.store)
	e.register(r)
	if _, err := e.rotateSecret(t); err != nil {
		t.Fatalf("RotateSecret: %v", err)
	}
	st := e.stages(t)
	ctx := t.Context()

	cases := []struct {
		name  string
		ev    rotation.Event
		want  error
		calls int64 // DescribeSecret calls the refusal costs
	}{
		{"unknown step", rotation.Event{Step: "rotateSecret", SecretID: e.arn, ClientRequestToken: st[rotation.StageCurrent]}, rotation.ErrUnknownStep, 0},
		{"token not a version", rotation.Event{Step: rotation.SetSecret, SecretID: e.arn, ClientRequestToken: "00000000-0000-4000-8000-00000000dead"}, rotation.ErrTokenNotFound, 1},
		{"version not pending", rotation.Event{Step: rotation.SetSecret, SecretID: e.arn, ClientRequestToken: st[rotation.StagePrevious]}, rotation.ErrNotPending, 1},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e.srv.ResetCalls()
			err := r.Handle(ctx, tc.ev)
			if !errors.Is(err, tc.want) {
				t.Fatalf("Handle = %v, want %v", err, tc.want)
			}
			var se *rotation.StepError
			if !errors.As(err, &se) || se.SecretID != tc.ev.SecretID || se.Token != tc.ev.ClientRequestToken || se.Step != tc.ev.Step {
				t.Fatalf("error %v is not a StepError naming the event", err)
			}
			if !strings.Contains(err.Error(), tc.ev.ClientRequestToken) || !strings.HasPrefix(err.Error(), "rotation: ") {
				t.Fatalf("message %q does not start with the package and name the token", err)
			}
			if got := e.srv.Calls("DescribeSecret"); got != tc.calls {
				t.Fatalf("DescribeSecret calls = %d, want %d", got, tc.calls)
			}
			if n := e.srv.Calls("PutSecretValue") + e.srv.Calls("UpdateSecretVersionStage"); n != 0 {
				t.Fatalf("a refused step wrote to the secret (%d calls)", n)
			}
		})
	}

	t.Run("already current is success", func(t *testing.T) {
		e.srv.ResetCalls()
		for _, step := range []rotation.Step{rotation.CreateSecret, rotation.SetSecret, rotation.TestSecret, rotation.FinishSecret} {
			if err := r.Handle(ctx, rotation.Event{Step: step, SecretID: e.arn, ClientRequestToken: st[rotation.StageCurrent]}); err != nil {
				t.Fatalf("%s on the AWSCURRENT version: %v", step, err)
			}
		}
		if got := e.srv.TotalCalls(); got != 4 {
			t.Fatalf("%d API calls, want only the 4 DescribeSecret", got)
		}
	})

	t.Run("rotation disabled", func(t *testing.T) {
		if _, err := e.sm.CancelRotateSecret(ctx, &secretsmanager.CancelRotateSecretInput{SecretId: &e.arn}); err != nil {
			t.Fatal(err)
		}
		err := r.Handle(ctx, rotation.Event{Step: rotation.CreateSecret, SecretID: e.arn, ClientRequestToken: st[rotation.StageCurrent]})
		if !errors.Is(err, rotation.ErrRotationDisabled) {
			t.Fatalf("Handle = %v, want ErrRotationDisabled", err)
		}
		// Rotate is the local driver and does not need rotation enabled.
		if err := r.Rotate(ctx, e.arn); err != nil {
			t.Fatalf("Rotate with rotation disabled: %v", err)
		}
	})

	t.Run("unknown secret", func(t *testing.T) {
		err := r.Handle(ctx, rotation.Event{Step: rotation.CreateSecret, SecretID: "no/such/secret", ClientRequestToken: st[rotation.StageCurrent]})
		if !errors.As(err, new(*types.ResourceNotFoundException)) {
			t.Fatalf("Handle = %v, want a wrapped ResourceNotFoundException", err)
		}
		if !errors.As(err, new(*rotation.StepError)) {
			t.Fatalf("Handle = %v, want a StepError", err)
		}
	})

	t.Run("empty event", func(t *testing.T) {
		if err := r.Handle(ctx, rotation.Event{Step: rotation.CreateSecret}); err == nil {
			t.Fatal("Handle accepted an event without SecretId and token")
		}
	})
}

func TestStalePendingOnCurrentIsRemoved(t *testing.T) {
	e := newEnv(t, "key-initial")
	cur := e.stages(t)[rotation.StageCurrent]
	// What a finishSecret that died between its two label moves leaves.
	if _, err := e.sm.UpdateSecretVersionStage(t.Context(), &secretsmanager.UpdateSecretVersionStageInput{
		SecretId: &e.arn, VersionStage: aws.String(rotation.StagePending), MoveToVersionId: &cur,
	}); err != nil {
		t.Fatal(err)
	}
	r := newRotator(t, e.sm, e.store)

	t.Run("finishSecret again", func(t *testing.T) {
		if err := r.Handle(t.Context(), rotation.Event{Step: rotation.FinishSecret, SecretID: e.arn, ClientRequestToken: cur}); err != nil {
			t.Fatalf("Handle: %v", err)
		}
		if id, ok := e.stages(t)[rotation.StagePending]; ok {
			t.Fatalf("AWSPENDING still on %s", id)
		}
	})

	t.Run("Rotate", func(t *testing.T) {
		if _, err := e.sm.UpdateSecretVersionStage(t.Context(), &secretsmanager.UpdateSecretVersionStageInput{
			SecretId: &e.arn, VersionStage: aws.String(rotation.StagePending), MoveToVersionId: &cur,
		}); err != nil {
			t.Fatal(err)
		}
		e.srv.ResetCalls()
		if err := r.Rotate(t.Context(), e.arn); err != nil {
			t.Fatalf("Rotate: %v", err)
		}
		// That was the end of an interrupted rotation, not a new one.
		st := e.stages(t)
		if _, ok := st[rotation.StagePending]; ok || st[rotation.StageCurrent] != cur || e.srv.Calls("PutSecretValue") != 0 {
			t.Fatalf("after Rotate: stages %v, %d PutSecretValue calls; want only AWSPENDING removed", st, e.srv.Calls("PutSecretValue"))
		}
		if err := r.Rotate(t.Context(), e.arn); err != nil {
			t.Fatalf("second Rotate: %v", err)
		}
		e.requireRotated(t, "key-initial")
	})
}

func TestBinarySecretStaysBinary(t *testing.T) {
	e := newEnv(t, "unused")
	out, err := e.sm.CreateSecret(t.Context(), &secretsmanager.CreateSecretInput{
		Name: aws.String("app/binary"), SecretBinary: []byte{0xff, 0x00, 0x01},
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := newRotator(t, e.sm, e.store).Rotate(t.Context(), *out.ARN); err != nil {
		t.Fatalf("Rotate: %v", err)
	}
	got, err := e.sm.GetSecretValue(t.Context(), &secretsmanager.GetSecretValueInput{SecretId: out.ARN})
	if err != nil {
		t.Fatal(err)
	}
	if got.SecretString != nil || !bytes.HasPrefix(got.SecretBinary, []byte("key-")) {
		t.Fatalf("rotated binary secret: SecretString set %v, binary prefix ok %v", got.SecretString != nil, bytes.HasPrefix(got.SecretBinary, []byte("key-")))
	}
}

func TestPasswordPolicy(t *testing.T) {
	e := newEnv(t, "key-initial")
	r := newRotator(t, e.sm, e.store, func(o *rotation.Options) {
		o.Password.Length = 12
		o.Password.ExcludePunctuation = true
		o.Password.ExcludeCharacters = "abcdefABCDEF"
	})
	for range 5 {
		if err := r.Rotate(t.Context(), e.arn); err != nil {
			t.Fatalf("Rotate: %v", err)
		}
		pw := strings.TrimPrefix(e.value(t, rotation.StageCurrent), "key-")
		if len(pw) != 12 || strings.ContainsAny(pw, "abcdefABCDEF!#$%&()*+,-.;<=>?[]^_`{|}~") {
			t.Fatalf("password of length %d breaks the policy", len(pw))
		}
	}
}

// New returns an error, never a panic, for each bad argument.
func TestNewRejectsBadInput(t *testing.T) {
	e := newEnv(t, "key-initial")
	tests := []struct {
		name     string
		client   rotation.Client
		strategy rotation.Strategy
		opt      func(*rotation.Options)
		wantIn   string
	}{
		{name: "nil client", strategy: e.store, wantIn: "nil Client"},
		{name: "nil *Client", client: (*secretsmanager.Client)(nil), strategy: e.store, wantIn: "nil Client"},
		{name: "nil strategy", client: e.sm, wantIn: "nil Strategy"},
		{name: "nil strategy value", client: e.sm, strategy: (*keyStore)(nil), wantIn: "nil Strategy"},
		{name: "length 0", client: e.sm, strategy: e.store,
			opt: func(o *rotation.Options) { o.Password.Length = 0 }, wantIn: "password length 0"},
		{name: "length 4097", client: e.sm, strategy: e.store,
			opt: func(o *rotation.Options) { o.Password.Length = 4097 }, wantIn: "password length 4097"},
		{name: "no class left", client: e.sm, strategy: e.store, opt: func(o *rotation.Options) {
			o.Password = rotation.PasswordPolicy{Length: 8, ExcludeNumbers: true, ExcludePunctuation: true, ExcludeUppercase: true, ExcludeLowercase: true}
		}, wantIn: "excludes every character class"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var opts []func(*rotation.Options)
			if tc.opt != nil {
				opts = append(opts, tc.opt)
			}
			var (
				r   *rotation.Rotator
				err error
			)
			func() {
				defer func() {
					if v := recover(); v != nil {
						t.Fatalf("New panicked: %v", v)
					}
				}()
				r, err = rotation.New(tc.client, tc.strategy, opts...)
			}()
			if err == nil {
				t.Fatal("New succeeded")
			}
			if r != nil {
				t.Errorf("New returned a Rotator with its error %v", err)
			}
			if !strings.HasPrefix(err.Error(), "rotation: ") || !strings.Contains(err.Error(), tc.wantIn) {
				t.Errorf("error %q does not start with %q and mention %q", err, "rotation: ", tc.wantIn)
			}
		})
	}
	// Only spaces left is a valid policy.
	if _, err := rotation.New(e.sm, e.store, func(o *rotation.Options) {
		o.Password = rotation.PasswordPolicy{Length: 8, ExcludeNumbers: true, ExcludePunctuation: true, ExcludeUppercase: true, ExcludeLowercase: true, IncludeSpace: true}
	}); err != nil {
		t.Errorf("New with a spaces-only policy: %v", err)
	}
	for _, op := range []string{"DescribeSecret", "GetSecretValue", "GetRandomPassword", "PutSecretValue", "UpdateSecretVersionStage"} {
		if n := e.srv.Calls(op); n != 0 {
			t.Errorf("%d %s calls, want none", n, op)
		}
	}
}

// panicky is a Strategy with a bug: its methods panic.
type panicky struct{ *keyStore }

func (panicky) Apply(context.Context, rotation.Versions) error {
	var m map[string]int
	m["boom"]++ // a nil map write: a runtime.Error panic
	return nil
}

// TestStrategyPanicFailsTheStep: a panic in the Strategy is a step error
// with the stack, never a crash, and the rotation resumes once the
// strategy is fixed.
func TestStrategyPanicFailsTheStep(t *testing.T) {
	e := newEnv(t, "key-initial")
	err := newRotator(t, e.sm, panicky{e.store}).Rotate(t.Context(), e.arn)
	var se *rotation.StepError
	if !errors.As(err, &se) || se.Step != rotation.SetSecret {
		t.Fatalf("Rotate = %v, want a StepError in setSecret", err)
	}
	if !errors.As(err, new(runtime.Error)) || !strings.Contains(err.Error(), "strategy Apply panicked") || !strings.Contains(err.Error(), "goroutine ") {
		t.Fatalf("Rotate = %v, want the runtime error and its stack", err)
	}
	if err := newRotator(t, e.sm, e.store).Rotate(t.Context(), e.arn); err != nil {
		t.Fatalf("Rotate with the fixed strategy: %v", err)
	}
	e.requireRotated(t, "key-initial")
}

func TestZeroRotatorFailsWithoutPanic(t *testing.T) {
	for name, r := range map[string]*rotation.Rotator{"nil": nil, "zero": {}} {
		ev := rotation.Event{Step: rotation.CreateSecret, SecretID: "s", ClientRequestToken: "t"}
		if err := r.Handle(t.Context(), ev); err == nil || !strings.Contains(err.Error(), "not made by New") {
			t.Errorf("%s Rotator: Handle = %v, want an error", name, err)
		}
		if err := r.Rotate(t.Context(), "s"); err == nil || !strings.Contains(err.Error(), "not made by New") {
			t.Errorf("%s Rotator: Rotate = %v, want an error", name, err)
		}
	}
}

func TestRotateRefusesEmptyToken(t *testing.T) {
	e := newEnv(t, "key-initial")
	r := newRotator(t, e.sm, e.store, func(o *rotation.Options) {
		rotation.SetNewToken(o, func() (string, error) { return "", nil })
	})
	if err := r.Rotate(t.Context(), e.arn); err == nil || !strings.Contains(err.Error(), "empty token") {
		t.Fatalf("Rotate = %v, want an error about the empty token", err)
	}
	if n := e.srv.Calls("PutSecretValue"); n != 0 {
		t.Fatalf("PutSecretValue called %d times", n)
	}
}

// TestStrategyReadsOnly: Versions.Secrets reads other secrets, and a
// Strategy cannot reach the Rotator's write calls through it.
func TestStrategyReadsOnly(t *testing.T) {
	e := newEnv(t, "key-initial")
	other, err := e.sm.CreateSecret(t.Context(), &secretsmanager.CreateSecretInput{Name: aws.String("other"), SecretString: aws.String("other-value")})
	if err != nil {
		t.Fatal(err)
	}
	s := &reader{keyStore: e.store, other: *other.ARN}
	if err := newRotator(t, e.sm, s).Rotate(t.Context(), e.arn); err != nil {
		t.Fatalf("Rotate: %v", err)
	}
	if s.read != "other-value" {
		t.Fatal("the strategy could not read another secret through Versions.Secrets")
	}
	if s.writable {
		t.Fatal("Versions.Secrets is a rotation.Client: the strategy can write secrets")
	}
	if strings.Contains(s.printed, "Client") || strings.Contains(s.printed, "0xc") || !strings.Contains(s.printed, "Secrets:rotation.SecretReader") {
		t.Fatalf("printing Versions shows the client's internals: %s", s.printed)
	}
}

type reader struct {
	*keyStore
	other    string
	read     string
	writable bool
	printed  string
}

func (r *reader) Apply(ctx context.Context, v rotation.Versions) error {
	out, err := v.Secrets.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: &r.other})
	if err != nil {
		return err
	}
	r.read = aws.ToString(out.SecretString)
	_, r.writable = v.Secrets.(rotation.Client)
	r.printed = fmt.Sprintf("%v %+v %#v", v, v, v)
	return r.keyStore.Apply(ctx, v)
}

func TestNoValueInLogsOrErrors(t *testing.T) {
	e := newEnv(t, "key-initial")
	var logs bytes.Buffer
	e.store.failVerify = 1
	r := newRotator(t, e.sm, e.store, func(o *rotation.Options) {
		o.Logger = slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	})
	e.register(r)
	_, rotErr := e.rotateSecret(t)
	if rotErr == nil {
		t.Fatal("RotateSecret succeeded despite the failing Verify")
	}
	pending := e.stages(t)[rotation.StagePending]
	pendingValue := e.value(t, rotation.StagePending)
	if err := r.Rotate(t.Context(), e.arn); err != nil {
		t.Fatalf("Rotate: %v", err)
	}
	for _, v := range []string{"key-initial", pendingValue, strings.TrimPrefix(pendingValue, "key-")} {
		if strings.Contains(logs.String(), v) || strings.Contains(rotErr.Error(), v) {
			t.Fatalf("a secret value appears in the logs or the error")
		}
	}
	if !strings.Contains(logs.String(), pending) || !strings.Contains(logs.String(), `"step":"testSecret"`) {
		t.Fatalf("logs do not name the token and step:\n%s", logs.String())
	}
	if !strings.Contains(logs.String(), "rotation step failed") {
		t.Fatalf("the failed step was not logged")
	}
}

func TestEventMatchesLambdaPayload(t *testing.T) {
	payload := `{"Step":"setSecret","SecretId":"arn:aws:secretsmanager:us-east-1:123456789012:secret:db-AbCdEf","ClientRequestToken":"00000000-0000-4000-8000-000000000001","RotationToken":"rt"}`
	var ours rotation.Event
	var theirs events.SecretsManagerSecretRotationEvent
	if err := json.Unmarshal([]byte(payload), &ours); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal([]byte(payload), &theirs); err != nil {
		t.Fatal(err)
	}
	if string(ours.Step) != theirs.Step || ours.SecretID != theirs.SecretID ||
		ours.ClientRequestToken != theirs.ClientRequestToken || ours.RotationToken != theirs.RotationToken {
		t.Fatalf("decoded %+v, aws-lambda-go decoded %+v", ours, theirs)
	}
	if ours.Step != rotation.SetSecret {
		t.Fatalf("Step = %q", ours.Step)
	}
	out, err := json.Marshal(ours)
	if err != nil {
		t.Fatal(err)
	}
	if string(out) != payload {
		t.Fatalf("re-encoded as %s", out)
	}
}

// TestRotateImmediatelyFalse: the service then runs only testSecret, on an
// empty pending version, to test the function's configuration.
func TestRotateImmediatelyFalse(t *testing.T) {
	e := newEnv(t, "key-initial")
	e.register(newRotator(t, e.sm, e.store))
	if _, err := e.sm.RotateSecret(t.Context(), &secretsmanager.RotateSecretInput{
		SecretId: &e.arn, RotationLambdaARN: aws.String(lambdaARN), RotateImmediately: aws.Bool(false),
	}); err != nil {
		t.Fatalf("RotateSecret(RotateImmediately=false): %v", err)
	}
	if _, v := e.store.counts(); v != 1 {
		t.Fatalf("Verify ran %d times, want once (on AWSCURRENT)", v)
	}
	if got := e.value(t, rotation.StageCurrent); got != "key-initial" {
		t.Fatal("AWSCURRENT changed")
	}
	if _, ok := e.stages(t)[rotation.StagePending]; ok {
		t.Fatal("AWSPENDING left behind")
	}
	// A broken target system fails the configuration test.
	e.store.failVerify = 1
	if _, err := e.sm.RotateSecret(t.Context(), &secretsmanager.RotateSecretInput{
		SecretId: &e.arn, RotationLambdaARN: aws.String(lambdaARN), RotateImmediately: aws.Bool(false),
	}); err == nil {
		t.Fatal("RotateSecret(RotateImmediately=false) succeeded although Verify failed")
	}
}

// TestFinishSecretRefusesEmptyVersion: finishSecret never makes AWSCURRENT
// a version without a value.
func TestFinishSecretRefusesEmptyVersion(t *testing.T) {
	e := newEnv(t, "key-initial")
	r := newRotator(t, e.sm, e.store)
	var token atomic.Value // string; set on the emulator's goroutine
	token.Store("")
	e.srv.RegisterRotationFunc(lambdaARN, func(ctx context.Context, step, secretID, tok string) error {
		token.Store(tok)
		if step != string(rotation.FinishSecret) {
			return nil // skip createSecret, setSecret and testSecret
		}
		return r.Handle(ctx, rotation.Event{Step: rotation.Step(step), SecretID: secretID, ClientRequestToken: tok})
	})
	if _, err := e.rotateSecret(t); err == nil {
		t.Fatal("finishSecret succeeded on an empty pending version")
	}
	if st := e.stages(t); st[rotation.StageCurrent] == token.Load().(string) || e.value(t, rotation.StageCurrent) != "key-initial" {
		t.Fatal("AWSCURRENT moved to the empty version")
	}
}
