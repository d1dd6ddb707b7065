package awsemu

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"time"
)

// rotationTimeout bounds one rotation's four steps, as Lambda bounds an
// invocation; a client that stops waiting does not stop a rotation.
const rotationTimeout = 5 * time.Minute

var rotationSteps = []string{"createSecret", "setSecret", "testSecret", "finishSecret"}

// rotationRules is RotationRulesType, in requests and responses.
type rotationRules struct {
	AutomaticallyAfterDays *int64  `json:"AutomaticallyAfterDays,omitempty"`
	Duration               *string `json:"Duration,omitempty"`
	ScheduleExpression     *string `json:"ScheduleExpression,omitempty"`

	cron *cronSchedule // parsed ScheduleExpression when it is a cron()
	rate time.Duration // parsed ScheduleExpression when it is a rate()
}

var (
	rateExpr     = regexp.MustCompile(`^rate\((\d+) (day|days|hour|hours)\)$`)
	durationExpr = regexp.MustCompile(`^(\d+)h$`)
)

// parse validates r and fills in its parsed schedule.
func (r *rotationRules) parse() *apiError {
	if r.AutomaticallyAfterDays != nil && r.ScheduleExpression != nil {
		return errorf("InvalidParameterException", "You cannot specify both rotation frequency and schedule expression together.")
	}
	if r.AutomaticallyAfterDays == nil && r.ScheduleExpression == nil {
		return errorf("InvalidParameterException", "You must specify either AutomaticallyAfterDays or ScheduleExpression in RotationRules.")
	}
	if d := r.AutomaticallyAfterDays; d != nil && (*d < 1 || *d > 1000) {
		return errValidation("rotationRules.automaticallyAfterDays", "Member must have value between 1 and 1000")
	}
	if r.Duration != nil {
		h := 0
		if m := durationExpr.FindStringSubmatch(*r.Duration); m != nil {
			h, _ = strconv.Atoi(m[1])
		}
		if h < 1 || h > 24 {
			return errorf("InvalidParameterException", "Duration must be between 1h and 24h, in whole hours.")
		}
	}
	if r.ScheduleExpression == nil {
		return nil
	}
	expr := *r.ScheduleExpression
	if m := rateExpr.FindStringSubmatch(expr); m != nil {
		n, _ := strconv.Atoi(m[1])
		switch m[2] {
		case "day", "days":
			if n < 1 || n > 1000 {
				return errorf("InvalidParameterException", "The rotation schedule rate(%d days) is outside the allowed range of 1 to 1000 days.", n)
			}
			r.rate = time.Duration(n) * 24 * time.Hour
		default:
			if n < 4 || n > 23 {
				return errorf("InvalidParameterException", "The rotation schedule rate(%d hours) is outside the allowed range of 4 to 23 hours.", n)
			}
			r.rate = time.Duration(n) * time.Hour
		}
		return nil
	}
	c, err := parseCron(expr)
	if err != nil {
		return errorf("InvalidParameterException", "Invalid ScheduleExpression %q: %v", expr, err)
	}
	r.cron = c
	return nil
}

// next returns when a rotation is next due after one at from.
func (r *rotationRules) next(from time.Time) time.Time {
	switch {
	case r.AutomaticallyAfterDays != nil:
		return from.Add(time.Duration(*r.AutomaticallyAfterDays) * 24 * time.Hour)
	case r.rate > 0:
		return from.Add(r.rate)
	case r.cron != nil:
		return r.cron.next(from)
	}
	return time.Time{}
}

type rotateSecretInput struct {
	SecretID           string `json:"SecretId"`
	ClientRequestToken string
	RotationLambdaARN  string
	RotationRules      *rotationRules
	RotateImmediately  *bool

	// resume, set only by the scheduler, re-invokes the function for an
	// unfinished rotation's AWSPENDING version instead of refusing.
	resume bool
}

func (m *secretsManager) rotateSecret(ctx context.Context, body []byte) (any, error) {
	var in rotateSecretInput
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	return m.rotate(ctx, in)
}

// rotate configures rotation and runs it: it makes the empty AWSPENDING
// version (id = token), then calls the rotation function for each step in
// order without holding m.mu, stopping at the first error. With
// RotateImmediately false only testSecret runs, and the AWSPENDING version
// is removed afterwards, as the service does. With in.resume an unfinished
// rotation is run again, all four steps, under its own token.
//
// The function's context outlives the client's request (a Lambda does not
// stop when its caller hangs up) but ends when the server closes.
func (m *secretsManager) rotate(ctx context.Context, in rotateSecretInput) (any, error) {
	life, ok := m.srv.begin()
	if !ok {
		return nil, errServerClosed()
	}
	defer m.srv.inflight.Done()
	if err := validateToken(in.ClientRequestToken); err != nil {
		return nil, err
	}
	if in.RotationRules != nil {
		if err := in.RotationRules.parse(); err != nil {
			return nil, err
		}
	}
	immediately := in.RotateImmediately == nil || *in.RotateImmediately

	m.mu.Lock()
	sec, v, fn, aerr := m.startRotation(in)
	if aerr != nil {
		m.mu.Unlock()
		return nil, aerr
	}
	arn, lambda, token := sec.arn, sec.rotationLambdaARN, v.id
	m.mu.Unlock()

	steps := rotationSteps
	if !immediately {
		steps = []string{"testSecret"}
	}
	runCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), rotationTimeout)
	defer cancel()
	defer context.AfterFunc(life, cancel)()
	var failed string
	var stepErr error
	for _, step := range steps {
		if stepErr = invokeStep(runCtx, fn, step, arn, token); stepErr != nil {
			failed = step
			break
		}
	}

	m.mu.Lock()
	defer m.mu.Unlock()
	now := m.srv.now()
	if !immediately {
		if v.hasValue {
			v.drop(stagePending)
		} else if sec.versions[token] == v {
			delete(sec.versions, token)
		}
	}
	if stepErr != nil {
		return nil, errorf("InvalidRequestException", "Rotation failed: the rotation function %s returned an error in step %s: %v", lambda, failed, stepErr)
	}
	if immediately {
		sec.lastRotated = now
	}
	if sec.rotationRules != nil {
		sec.nextRotation = sec.rotationRules.next(now)
	}
	return writeOutput{ARN: sec.arn, Name: sec.name, VersionID: token}, nil
}

// startRotation checks that sec can rotate now, records the rotation
// configuration and creates the empty AWSPENDING version. m.mu must be held.
func (m *secretsManager) startRotation(in rotateSecretInput) (*secret, *version, RotationFunc, *apiError) {
	sec, aerr := m.lookupLive(in.SecretID)
	if aerr != nil {
		return nil, nil, nil, aerr
	}
	lambda := cmp.Or(in.RotationLambdaARN, sec.rotationLambdaARN)
	if lambda == "" {
		return nil, nil, nil, errorf("InvalidRequestException", "No Lambda rotation function ARN is associated with this secret.")
	}
	fn, ok := m.srv.rotationFunc(lambda)
	if !ok {
		return nil, nil, nil, errorf("AccessDeniedException", "Secrets Manager cannot invoke the specified Lambda function. Ensure that the function policy grants access to the principal secretsmanager.amazonaws.com.")
	}
	if p := sec.holder(stagePending); p != nil && !p.has(stageCurrent) {
		if in.resume {
			return sec, p, fn, nil
		}
		return nil, nil, nil, errorf("InvalidRequestException", "A previous rotation isn't complete. That rotation will be reattempted.")
	}
	token := cmp.Or(in.ClientRequestToken, newUUID())
	if sec.versions[token] != nil {
		return nil, nil, nil, errorf("ResourceExistsException", "A version with this ClientRequestToken already exists: you can't modify an existing version, you can only create a new version.")
	}
	now := m.srv.now()
	enabled := true
	sec.rotationEnabled = &enabled
	sec.rotationLambdaARN = lambda
	if in.RotationRules != nil {
		sec.rotationRules = in.RotationRules
		sec.nextRotation = in.RotationRules.next(now)
	}
	v := &version{id: token, created: now, seq: m.nextSeq()}
	sec.versions[token] = v
	sec.attach(v, stagePending)
	sec.lastChanged = now
	return sec, v, fn, nil
}

// invokeStep runs one rotation step, turning a panic into an error so that
// a broken rotation function fails the rotation instead of the server.
func invokeStep(ctx context.Context, fn RotationFunc, step, arn, token string) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("panic: %v", r)
		}
	}()
	return fn(ctx, step, arn, token)
}

type cancelRotateOutput struct {
	ARN       string `json:"ARN"`
	Name      string `json:"Name"`
	VersionID string `json:"VersionId,omitempty"`
}

// cancelRotateSecret turns rotation off. Like the service, it leaves an
// in-progress rotation's AWSPENDING label where it is and returns that
// version's id, so the caller can clean it up.
func (m *secretsManager) cancelRotateSecret(body []byte) (any, error) {
	var in secretIDInput
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	sec, aerr := m.lookupLive(in.SecretID)
	if aerr != nil {
		return nil, aerr
	}
	disabled := false
	sec.rotationEnabled = &disabled
	sec.nextRotation = time.Time{}
	m.touch(sec)
	out := cancelRotateOutput{ARN: sec.arn, Name: sec.name}
	if p := sec.holder(stagePending); p != nil && !p.has(stageCurrent) {
		out.VersionID = p.id
	}
	return out, nil
}

// RunDueRotations rotates, one after another, every secret whose rotation
// is enabled and whose NextRotationDate is at or before the server's clock,
// as the service's scheduler would. A secret whose last rotation failed
// (an AWSPENDING version other than AWSCURRENT remains) has that rotation
// re-attempted: the function runs all four steps again with the pending
// version's id as the token. It returns the joined errors of the rotations
// that failed. Cancelling ctx stops it between rotations; a rotation
// already started runs to its end, or until Close. After Close it returns
// an error and runs nothing.
func (s *Server) RunDueRotations(ctx context.Context) error {
	if _, ok := s.begin(); !ok {
		return errors.New("awsemu: RunDueRotations: server closed")
	}
	defer s.inflight.Done()
	// Every Region's scheduler, the default Region first; replicas
	// rotate only through their primary.
	s.smMu.Lock()
	now := s.now()
	type dueRotation struct {
		m   *secretsManager
		arn string
	}
	var all []dueRotation
	for _, rs := range s.allRegions() {
		m := rs.sm
		var due []*secret
		for _, sec := range m.byName {
			if sec.deletedDate.IsZero() && !sec.repl.isReplica && sec.rotationEnabled != nil && *sec.rotationEnabled &&
				!sec.nextRotation.IsZero() && !now.Before(sec.nextRotation) {
				due = append(due, sec)
			}
		}
		slices.SortFunc(due, func(a, b *secret) int { return int(a.seq) - int(b.seq) })
		for _, sec := range due {
			all = append(all, dueRotation{m, sec.arn})
		}
	}
	s.smMu.Unlock()

	var errs []error
	for _, d := range all {
		if err := ctx.Err(); err != nil {
			return errors.Join(append(errs, err)...)
		}
		_, err := d.m.rotate(ctx, rotateSecretInput{SecretID: d.arn, resume: true})
		d.m.mu.Lock()
		d.m.replicateLocked()
		d.m.mu.Unlock()
		if err != nil {
			errs = append(errs, fmt.Errorf("awsemu: scheduled rotation of %s: %w", d.arn, err))
		}
	}
	return errors.Join(errs...)
}
