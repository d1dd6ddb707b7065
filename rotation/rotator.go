package rotation

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime/debug"
	"slices"
	"unicode/utf8"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager/types"

	"github.com/rekeyhq/rekey/internal/nilcheck"
)

// maxValueSize is Secrets Manager's limit on a secret value.
const maxValueSize = 65536

// Strategy is what differs between kinds of secret: how a new value is
// derived and how the system that checks it is told. Each method may be
// called more than once for the same rotation (Secrets Manager retries
// failed steps, Rotate resumes), so each must be idempotent. Errors and
// panic values must not contain secret values; a panic fails the step with
// an error, as a returned error does.
type Strategy interface {
	// NewPending derives the pending value from the current version and a
	// freshly generated password (createSecret). It must not change the
	// target system.
	NewPending(ctx context.Context, current Secret, password string) ([]byte, error)
	// Apply makes v.Pending valid in the target system (setSecret). It must
	// return nil without changing anything when the pending credentials
	// already work, and it should keep v.Current working where the system
	// allows it.
	Apply(ctx context.Context, v Versions) error
	// Verify checks that pending works in the target system (testSecret).
	Verify(ctx context.Context, pending Secret) error
}

// Rotator runs the rotation state machine for one Strategy. It keeps no
// state between calls: every step reads the secret's versions from Secrets
// Manager (never a cache), so any number of Rotators, Lambda instances and
// retries may take part in one rotation. Its methods are safe for
// concurrent use.
type Rotator struct {
	client   Client
	strategy Strategy
	opts     Options
	log      *slog.Logger
}

// New returns a Rotator that calls client and s. It returns an error,
// whose message starts with "rotation: ", if client or s is nil (a nil
// interface, or a nil pointer, map, slice, func or channel in one) or if
// the option functions leave Options invalid: Password.Length outside
// 1..4096, every character class excluded (ExcludeNumbers,
// ExcludePunctuation, ExcludeUppercase and ExcludeLowercase all set, and
// IncludeSpace not). New makes no API call and reads
// nothing from the environment, so whether it fails depends only on its
// arguments. Nothing panics: Handle and Rotate return an error for every
// failure, including a panic in the Strategy and use of a Rotator that New
// did not make.
func New(client Client, s Strategy, optFns ...func(*Options)) (*Rotator, error) {
	if nilcheck.IsNil(client) {
		return nil, errors.New("rotation: New called with a nil Client")
	}
	if nilcheck.IsNil(s) {
		return nil, errors.New("rotation: New called with a nil Strategy")
	}
	o := defaultOptions()
	for _, fn := range optFns {
		fn(&o)
	}
	if err := o.validate(); err != nil {
		return nil, err
	}
	log := o.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Rotator{client: client, strategy: s, opts: o, log: log}, nil
}

// Handle runs the one step ev names, as a rotation Lambda function does;
// lambda.Start(r.Handle) works as is. Before the step it calls
// DescribeSecret and refuses with ErrRotationDisabled when the service says
// rotation is disabled, ErrTokenNotFound when the token is not a version of
// the secret, and ErrNotPending when the token's version lacks AWSPENDING;
// it returns nil at once when the token's version is already AWSCURRENT
// (finishSecret then only removes a leftover AWSPENDING label). An unknown
// step fails with ErrUnknownStep before any API call. Every error is a
// *StepError.
//
// Calling Handle again with the same event is harmless: createSecret keeps
// an existing pending value, setSecret relies on Strategy.Apply being a
// no-op once pending works, testSecret only reads, and finishSecret is
// done once the version is AWSCURRENT.
func (r *Rotator) Handle(ctx context.Context, ev Event) error {
	if err := r.check(); err != nil {
		return err
	}
	return r.run(ctx, ev, true)
}

// check refuses a Rotator that New did not make (a zero or nil one), whose
// use would otherwise panic.
func (r *Rotator) check() error {
	if r == nil || r.client == nil || r.strategy == nil || r.log == nil {
		return errors.New("rotation: the Rotator was not made by New")
	}
	return nil
}

// run checks the secret's state as Handle documents and runs one step.
// requireEnabled is false for Rotate, which drives rotations the service
// may not know about.
func (r *Rotator) run(ctx context.Context, ev Event, requireEnabled bool) error {
	fail := func(err error) error {
		r.log.LogAttrs(ctx, slog.LevelError, "rotation step failed", r.attrs(ev, slog.String("error", err.Error()))...)
		return &StepError{SecretID: ev.SecretID, Token: ev.ClientRequestToken, Step: ev.Step, Err: err}
	}
	if !ev.Step.valid() {
		return fail(fmt.Errorf("%w %q", ErrUnknownStep, ev.Step))
	}
	if ev.SecretID == "" || ev.ClientRequestToken == "" {
		return fail(errors.New("event has an empty SecretId or ClientRequestToken"))
	}
	desc, err := r.describe(ctx, ev.SecretID)
	if err != nil {
		return fail(err)
	}
	if requireEnabled && desc.RotationEnabled != nil && !*desc.RotationEnabled {
		return fail(ErrRotationDisabled)
	}
	stages, ok := desc.VersionIdsToStages[ev.ClientRequestToken]
	if !ok {
		return fail(ErrTokenNotFound)
	}
	if slices.Contains(stages, StageCurrent) {
		if ev.Step == FinishSecret && slices.Contains(stages, StagePending) {
			// A finishSecret that moved AWSCURRENT but died before removing
			// AWSPENDING: finish the cleanup, or the label blocks the next
			// rotation.
			if err := r.removePending(ctx, ev); err != nil {
				return fail(err)
			}
		}
		r.log.LogAttrs(ctx, slog.LevelInfo, "rotation step skipped: version is already AWSCURRENT", r.attrs(ev)...)
		return nil
	}
	if !slices.Contains(stages, StagePending) {
		return fail(ErrNotPending)
	}
	r.log.LogAttrs(ctx, slog.LevelInfo, "rotation step started", r.attrs(ev)...)
	switch ev.Step {
	case CreateSecret:
		err = r.createSecret(ctx, ev)
	case SetSecret:
		err = r.setSecret(ctx, ev, desc.VersionIdsToStages)
	case TestSecret:
		err = r.testSecret(ctx, ev)
	case FinishSecret:
		err = r.finishSecret(ctx, ev, desc.VersionIdsToStages)
	}
	if err != nil {
		return fail(err)
	}
	r.log.LogAttrs(ctx, slog.LevelInfo, "rotation step finished", r.attrs(ev)...)
	return nil
}

// describe calls DescribeSecret.
func (r *Rotator) describe(ctx context.Context, secretID string) (*secretsmanager.DescribeSecretOutput, error) {
	desc, err := r.client.DescribeSecret(ctx, &secretsmanager.DescribeSecretInput{SecretId: &secretID}, withUserAgent)
	if err != nil {
		return nil, fmt.Errorf("DescribeSecret: %w", err)
	}
	if desc == nil {
		return nil, errors.New("DescribeSecret returned no output")
	}
	return desc, nil
}

// guard runs a Strategy method and turns a panic in it into an error
// carrying the stack, so a faulty strategy fails its step instead of the
// process. The panic value is printed only when it is an error or a
// string, which the Strategy contract keeps free of secret values.
func guard(method string, fn func() error) (err error) {
	defer func() {
		v := recover()
		if v == nil {
			return
		}
		stack := debug.Stack()
		switch v := v.(type) {
		case error:
			err = fmt.Errorf("strategy %s panicked: %w\n%s", method, v, stack)
		case string:
			err = fmt.Errorf("strategy %s panicked: %s\n%s", method, v, stack)
		default:
			err = fmt.Errorf("strategy %s panicked with a %T value\n%s", method, v, stack)
		}
	}()
	return fn()
}

func (r *Rotator) attrs(ev Event, extra ...slog.Attr) []slog.Attr {
	return append([]slog.Attr{
		slog.String("secretId", ev.SecretID),
		slog.String("token", ev.ClientRequestToken),
		slog.String("step", string(ev.Step)),
	}, extra...)
}

// createSecret stores a new value under the token with stage AWSPENDING,
// unless the token's version already has one.
func (r *Rotator) createSecret(ctx context.Context, ev Event) error {
	current, err := r.getStage(ctx, ev.SecretID, StageCurrent)
	if err != nil {
		return err
	}
	if _, ok, err := r.getVersion(ctx, ev.SecretID, ev.ClientRequestToken); err != nil {
		return err
	} else if ok {
		r.log.LogAttrs(ctx, slog.LevelInfo, "createSecret: pending version already has a value", r.attrs(ev)...)
		return nil
	}
	p := r.opts.Password
	pw, err := r.client.GetRandomPassword(ctx, &secretsmanager.GetRandomPasswordInput{
		PasswordLength:          aws.Int64(p.Length),
		ExcludeCharacters:       nonEmpty(p.ExcludeCharacters),
		ExcludeNumbers:          aws.Bool(p.ExcludeNumbers),
		ExcludePunctuation:      aws.Bool(p.ExcludePunctuation),
		ExcludeUppercase:        aws.Bool(p.ExcludeUppercase),
		ExcludeLowercase:        aws.Bool(p.ExcludeLowercase),
		IncludeSpace:            aws.Bool(p.IncludeSpace),
		RequireEachIncludedType: aws.Bool(p.RequireEachIncludedType),
	}, withUserAgent)
	if err != nil {
		return fmt.Errorf("GetRandomPassword: %w", err)
	}
	if pw == nil || pw.RandomPassword == nil || *pw.RandomPassword == "" {
		return errors.New("GetRandomPassword returned no password")
	}
	var value []byte
	err = guard("NewPending", func() (err error) {
		value, err = r.strategy.NewPending(ctx, current, *pw.RandomPassword)
		return err
	})
	if err != nil {
		return fmt.Errorf("strategy NewPending: %w", err)
	}
	switch {
	case len(value) == 0:
		return errors.New("strategy NewPending returned an empty value")
	case len(value) > maxValueSize:
		return fmt.Errorf("strategy NewPending returned %d bytes, more than the %d Secrets Manager stores", len(value), maxValueSize)
	}
	in := &secretsmanager.PutSecretValueInput{
		SecretId:           &ev.SecretID,
		ClientRequestToken: &ev.ClientRequestToken,
		VersionStages:      []string{StagePending},
		RotationToken:      nonEmpty(ev.RotationToken),
	}
	if current.binary {
		in.SecretBinary = value
	} else {
		if !utf8.Valid(value) {
			return errors.New("strategy NewPending returned invalid UTF-8 for a SecretString secret")
		}
		in.SecretString = aws.String(string(value))
	}
	if _, err := r.client.PutSecretValue(ctx, in, withUserAgent); err != nil {
		return fmt.Errorf("PutSecretValue: %w", err)
	}
	return nil
}

// setSecret hands the current, pending and previous versions to the
// strategy.
func (r *Rotator) setSecret(ctx context.Context, ev Event, stages map[string][]string) error {
	v := Versions{Secrets: readOnly{r.client}}
	var err error
	if v.Current, err = r.getStage(ctx, ev.SecretID, StageCurrent); err != nil {
		return err
	}
	if v.Pending, err = r.getPending(ctx, ev); err != nil {
		return err
	}
	if id := versionWith(stages, StagePrevious); id != "" && id != ev.ClientRequestToken {
		prev, ok, err := r.getVersion(ctx, ev.SecretID, id)
		if err != nil {
			return err
		}
		if ok {
			v.Previous = &prev
		}
	}
	if err := guard("Apply", func() error { return r.strategy.Apply(ctx, v) }); err != nil {
		return fmt.Errorf("strategy Apply: %w", err)
	}
	return nil
}

// testSecret verifies the pending version. When it has no value, the
// service is testing the function's configuration (RotateSecret with
// RotateImmediately false runs only testSecret, on the empty version it
// made); the strategy then verifies AWSCURRENT, which exercises the
// function's permissions and its access to the target system.
func (r *Rotator) testSecret(ctx context.Context, ev Event) error {
	pending, ok, err := r.getVersion(ctx, ev.SecretID, ev.ClientRequestToken)
	if err != nil {
		return err
	}
	if !ok {
		r.log.LogAttrs(ctx, slog.LevelInfo, "testSecret: pending version has no value; verifying AWSCURRENT instead", r.attrs(ev)...)
		if pending, err = r.getStage(ctx, ev.SecretID, StageCurrent); err != nil {
			return err
		}
	}
	if err := guard("Verify", func() error { return r.strategy.Verify(ctx, pending) }); err != nil {
		return fmt.Errorf("strategy Verify: %w", err)
	}
	return nil
}

// finishSecret moves AWSCURRENT to the token's version, which makes the
// service label the old current AWSPREVIOUS, then removes AWSPENDING. The
// order matters: a crash between the two calls leaves a version that is
// AWSCURRENT and AWSPENDING, which the next finishSecret (or Rotate)
// cleans up; the reverse order could leave the new value with no label.
func (r *Rotator) finishSecret(ctx context.Context, ev Event, stages map[string][]string) error {
	// Never make AWSCURRENT a version without a value.
	if _, err := r.getPending(ctx, ev); err != nil {
		return err
	}
	in := &secretsmanager.UpdateSecretVersionStageInput{
		SecretId:        &ev.SecretID,
		VersionStage:    aws.String(StageCurrent),
		MoveToVersionId: &ev.ClientRequestToken,
	}
	if old := versionWith(stages, StageCurrent); old != "" {
		in.RemoveFromVersionId = &old
	}
	if _, err := r.client.UpdateSecretVersionStage(ctx, in, withUserAgent); err != nil {
		return fmt.Errorf("UpdateSecretVersionStage moving AWSCURRENT: %w", err)
	}
	return r.removePending(ctx, ev)
}

func (r *Rotator) removePending(ctx context.Context, ev Event) error {
	_, err := r.client.UpdateSecretVersionStage(ctx, &secretsmanager.UpdateSecretVersionStageInput{
		SecretId:            &ev.SecretID,
		VersionStage:        aws.String(StagePending),
		RemoveFromVersionId: &ev.ClientRequestToken,
	}, withUserAgent)
	if err != nil {
		return fmt.Errorf("UpdateSecretVersionStage removing AWSPENDING: %w", err)
	}
	return nil
}

// getPending reads the token's version, which must have a value by now.
func (r *Rotator) getPending(ctx context.Context, ev Event) (Secret, error) {
	s, ok, err := r.getVersion(ctx, ev.SecretID, ev.ClientRequestToken)
	if err != nil {
		return Secret{}, err
	}
	if !ok {
		return Secret{}, errors.New("pending version has no value (createSecret has not run)")
	}
	return s, nil
}

// getStage reads the version labelled stage, which must exist.
func (r *Rotator) getStage(ctx context.Context, secretID, stage string) (Secret, error) {
	out, err := r.client.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: &secretID, VersionStage: &stage}, withUserAgent)
	if err != nil {
		return Secret{}, fmt.Errorf("GetSecretValue %s: %w", stage, err)
	}
	s, ok := secretFrom(out)
	if !ok {
		return Secret{}, fmt.Errorf("the %s version has no value", stage)
	}
	return s, nil
}

// getVersion reads a version by id; ok is false when the version has no
// value yet (as RotateSecret leaves it) or does not exist.
func (r *Rotator) getVersion(ctx context.Context, secretID, versionID string) (Secret, bool, error) {
	out, err := r.client.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: &secretID, VersionId: &versionID}, withUserAgent)
	if err != nil {
		if notFound := (*types.ResourceNotFoundException)(nil); errors.As(err, &notFound) {
			return Secret{}, false, nil
		}
		return Secret{}, false, fmt.Errorf("GetSecretValue version %s: %w", versionID, err)
	}
	s, ok := secretFrom(out)
	return s, ok, nil
}

func secretFrom(out *secretsmanager.GetSecretValueOutput) (Secret, bool) {
	if out == nil {
		return Secret{}, false
	}
	s := Secret{
		ARN:       aws.ToString(out.ARN),
		VersionID: aws.ToString(out.VersionId),
		Stages:    out.VersionStages,
	}
	switch {
	case out.SecretString != nil && *out.SecretString != "":
		s.value = []byte(*out.SecretString)
	case len(out.SecretBinary) > 0:
		s.value, s.binary = out.SecretBinary, true
	default:
		return s, false
	}
	return s, true
}

// versionWith returns the id of the version labelled stage, or "".
func versionWith(stages map[string][]string, stage string) string {
	for id, st := range stages {
		if slices.Contains(st, stage) {
			return id
		}
	}
	return ""
}

func nonEmpty(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}
