package awsemu_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager/types"
	"github.com/stretchr/testify/require"

	"github.com/rekeyhq/rekey/internal/awsemu"
)

const lambdaARN = "arn:aws:lambda:us-east-1:123456789012:function:rotate"

type stepCall struct{ step, secretID, token string }

// rotator is a rotation function that behaves like an AWS template
// Lambda: it calls back into the emulator over HTTP for each step. Tests
// change newValue and failAt only between RotateSecret calls.
type rotator struct {
	c        *secretsmanager.Client
	newValue string
	failAt   string // step that returns an error

	mu    sync.Mutex
	calls []stepCall
}

func (r *rotator) steps() []stepCall {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]stepCall(nil), r.calls...)
}

func (r *rotator) fn(ctx context.Context, step, secretID, tok string) error {
	r.mu.Lock()
	r.calls = append(r.calls, stepCall{step, secretID, tok})
	r.mu.Unlock()
	if step == r.failAt {
		return errors.New("boom")
	}
	switch step {
	case "createSecret":
		if _, err := r.c.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: &secretID, VersionStage: aws.String("AWSCURRENT")}); err != nil {
			return err
		}
		_, err := r.c.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: &secretID, VersionId: &tok, VersionStage: aws.String("AWSPENDING")})
		var nf *types.ResourceNotFoundException
		if !errors.As(err, &nf) {
			return errors.New("the pending version should have no value yet")
		}
		_, err = r.c.PutSecretValue(ctx, &secretsmanager.PutSecretValueInput{
			SecretId: &secretID, ClientRequestToken: &tok, SecretString: &r.newValue, VersionStages: []string{"AWSPENDING"},
		})
		return err
	case "testSecret":
		_, err := r.c.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: &secretID, VersionId: &tok, VersionStage: aws.String("AWSPENDING")})
		var nf *types.ResourceNotFoundException
		if errors.As(err, &nf) {
			return nil // a test of the configuration (RotateImmediately=false) has no value to test
		}
		return err
	case "finishSecret":
		d, err := r.c.DescribeSecret(ctx, &secretsmanager.DescribeSecretInput{SecretId: &secretID})
		if err != nil {
			return err
		}
		for id, stages := range d.VersionIdsToStages {
			if id != tok && strings.Contains(strings.Join(stages, ","), "AWSCURRENT") {
				_, err = r.c.UpdateSecretVersionStage(ctx, &secretsmanager.UpdateSecretVersionStageInput{
					SecretId: &secretID, VersionStage: aws.String("AWSCURRENT"), MoveToVersionId: &tok, RemoveFromVersionId: aws.String(id),
				})
				return err
			}
		}
	}
	return nil
}

func stepNames(calls []stepCall) []string {
	out := make([]string, len(calls))
	for i, c := range calls {
		out[i] = c.step
	}
	return out
}

func TestSMRotateSecretRunsStepsInOrder(t *testing.T) {
	t.Parallel()
	srv, c := newSM(t)
	newFakeClock(srv, t0)
	created := createSecret(t, c, "db", "old", 1)
	r := &rotator{c: c, newValue: "new"}
	srv.RegisterRotationFunc(lambdaARN, r.fn)

	out, err := c.RotateSecret(t.Context(), &secretsmanager.RotateSecretInput{
		SecretId: aws.String("db"), ClientRequestToken: aws.String(token(2)), RotationLambdaARN: aws.String(lambdaARN),
		RotationRules: &types.RotationRulesType{AutomaticallyAfterDays: aws.Int64(30)},
	})
	require.NoError(t, err)
	require.Equal(t, token(2), *out.VersionId)
	require.Equal(t, *created.ARN, *out.ARN)

	want := []stepCall{}
	for _, s := range []string{"createSecret", "setSecret", "testSecret", "finishSecret"} {
		want = append(want, stepCall{s, *created.ARN, token(2)})
	}
	require.Equal(t, want, r.steps())
	require.Equal(t, "new", getString(t, c, &secretsmanager.GetSecretValueInput{SecretId: aws.String("db")}))
	require.Equal(t, map[string][]string{token(1): {"AWSPREVIOUS"}, token(2): {"AWSPENDING", "AWSCURRENT"}}, stagesOf(t, c, "db"))

	d, err := c.DescribeSecret(t.Context(), &secretsmanager.DescribeSecretInput{SecretId: aws.String("db")})
	require.NoError(t, err)
	require.True(t, *d.RotationEnabled)
	require.Equal(t, lambdaARN, *d.RotationLambdaARN)
	require.Equal(t, int64(30), *d.RotationRules.AutomaticallyAfterDays)
	require.True(t, t0.Equal(*d.LastRotatedDate))
	require.True(t, t0.Add(30*24*time.Hour).Equal(*d.NextRotationDate), "NextRotationDate %v", d.NextRotationDate)

	t.Run("again with AWSPENDING on the current version", func(t *testing.T) {
		r.newValue = "newer"
		out, err := c.RotateSecret(t.Context(), &secretsmanager.RotateSecretInput{SecretId: aws.String("db"), ClientRequestToken: aws.String(token(3))})
		require.NoError(t, err, "the stored function and rules are reused")
		require.Equal(t, token(3), *out.VersionId)
		require.Equal(t, "newer", getString(t, c, &secretsmanager.GetSecretValueInput{SecretId: aws.String("db")}))
		require.Equal(t, map[string][]string{token(2): {"AWSPREVIOUS"}, token(3): {"AWSPENDING", "AWSCURRENT"}}, stagesOf(t, c, "db"))
	})
}

func TestSMRotateSecretRefusals(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		setup   func(t *testing.T, srv *awsemu.Server, c *secretsmanager.Client)
		in      secretsmanager.RotateSecretInput
		code    string
		msg     string
		noCalls bool
	}{
		{
			name: "no rotation function",
			code: "InvalidRequestException", msg: "No Lambda rotation function ARN is associated with this secret.",
		},
		{
			name: "function not registered",
			in:   secretsmanager.RotateSecretInput{RotationLambdaARN: aws.String(lambdaARN + "-unknown")},
			code: "AccessDeniedException",
		},
		{
			name: "rotation in progress",
			setup: func(t *testing.T, srv *awsemu.Server, c *secretsmanager.Client) {
				_, err := c.PutSecretValue(t.Context(), &secretsmanager.PutSecretValueInput{
					SecretId: aws.String("s"), SecretString: aws.String("p"), ClientRequestToken: aws.String(token(5)), VersionStages: []string{"AWSPENDING"},
				})
				require.NoError(t, err)
			},
			in:   secretsmanager.RotateSecretInput{RotationLambdaARN: aws.String(lambdaARN)},
			code: "InvalidRequestException", msg: "A previous rotation isn't complete. That rotation will be reattempted.",
		},
		{
			name: "deleted secret",
			setup: func(t *testing.T, srv *awsemu.Server, c *secretsmanager.Client) {
				_, err := c.DeleteSecret(t.Context(), &secretsmanager.DeleteSecretInput{SecretId: aws.String("s")})
				require.NoError(t, err)
			},
			in:   secretsmanager.RotateSecretInput{RotationLambdaARN: aws.String(lambdaARN)},
			code: "InvalidRequestException",
		},
		{
			name: "unknown secret",
			in:   secretsmanager.RotateSecretInput{SecretId: aws.String("nope"), RotationLambdaARN: aws.String(lambdaARN)},
			code: "ResourceNotFoundException",
		},
		{
			name: "days and schedule together",
			in: secretsmanager.RotateSecretInput{RotationLambdaARN: aws.String(lambdaARN), RotationRules: &types.RotationRulesType{
				AutomaticallyAfterDays: aws.Int64(3), ScheduleExpression: aws.String("rate(3 days)"),
			}},
			code: "InvalidParameterException",
		},
		{
			name: "bad schedule",
			in: secretsmanager.RotateSecretInput{RotationLambdaARN: aws.String(lambdaARN), RotationRules: &types.RotationRulesType{
				ScheduleExpression: aws.String("every tuesday"),
			}},
			code: "InvalidParameterException",
		},
		{
			name: "days out of range",
			in: secretsmanager.RotateSecretInput{RotationLambdaARN: aws.String(lambdaARN), RotationRules: &types.RotationRulesType{
				AutomaticallyAfterDays: aws.Int64(1001),
			}},
			code: "ValidationException",
		},
		{
			name: "token already used",
			in:   secretsmanager.RotateSecretInput{RotationLambdaARN: aws.String(lambdaARN), ClientRequestToken: aws.String(token(1))},
			code: "ResourceExistsException",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			srv, c := newSM(t)
			createSecret(t, c, "s", "v1", 1)
			r := &rotator{c: c, newValue: "v2"}
			srv.RegisterRotationFunc(lambdaARN, r.fn)
			if tt.setup != nil {
				tt.setup(t, srv, c)
			}
			before := stagesOf(t, c, "s")
			in := tt.in
			if in.SecretId == nil {
				in.SecretId = aws.String("s")
			}
			_, err := c.RotateSecret(t.Context(), &in)
			requireSMError(t, err, tt.code, tt.msg)
			require.Empty(t, r.steps(), "no step runs when RotateSecret refuses")
			require.Equal(t, before, stagesOf(t, c, "s"), "a refused rotation changes no labels")
		})
	}
}

func TestSMRotateSecretStepFailure(t *testing.T) {
	t.Parallel()
	for _, failAt := range []string{"createSecret", "setSecret", "testSecret", "finishSecret"} {
		t.Run(failAt, func(t *testing.T) {
			t.Parallel()
			srv, c := newSM(t)
			createSecret(t, c, "s", "v1", 1)
			r := &rotator{c: c, newValue: "v2", failAt: failAt}
			srv.RegisterRotationFunc(lambdaARN, r.fn)

			_, err := c.RotateSecret(t.Context(), &secretsmanager.RotateSecretInput{
				SecretId: aws.String("s"), RotationLambdaARN: aws.String(lambdaARN), ClientRequestToken: aws.String(token(2)),
			})
			var ir *types.InvalidRequestException
			require.ErrorAs(t, err, &ir)
			require.Contains(t, ir.ErrorMessage(), failAt)
			names := stepNames(r.steps())
			require.Equal(t, failAt, names[len(names)-1], "steps stop at the first error")

			// The service leaves AWSPENDING where the failed rotation put it.
			require.Equal(t, []string{"AWSPENDING"}, stagesOf(t, c, "s")[token(2)])
			require.Equal(t, "v1", getString(t, c, &secretsmanager.GetSecretValueInput{SecretId: aws.String("s")}))
			_, err = c.RotateSecret(t.Context(), &secretsmanager.RotateSecretInput{SecretId: aws.String("s"), ClientRequestToken: aws.String(token(3))})
			requireSMError(t, err, "InvalidRequestException", "A previous rotation isn't complete. That rotation will be reattempted.")

			d, err := c.DescribeSecret(t.Context(), &secretsmanager.DescribeSecretInput{SecretId: aws.String("s")})
			require.NoError(t, err)
			require.Nil(t, d.LastRotatedDate)
		})
	}
}

func TestSMRotateSecretPanickingFunction(t *testing.T) {
	t.Parallel()
	srv, c := newSM(t)
	createSecret(t, c, "s", "v1", 1)
	srv.RegisterRotationFunc(lambdaARN, func(context.Context, string, string, string) error { panic("bad lambda") })
	_, err := c.RotateSecret(t.Context(), &secretsmanager.RotateSecretInput{SecretId: aws.String("s"), RotationLambdaARN: aws.String(lambdaARN)})
	var ir *types.InvalidRequestException
	require.ErrorAs(t, err, &ir)
	require.Contains(t, ir.ErrorMessage(), "createSecret")
}

func TestSMRotateNotImmediately(t *testing.T) {
	t.Parallel()
	srv, c := newSM(t)
	newFakeClock(srv, t0)
	createSecret(t, c, "s", "v1", 1)
	r := &rotator{c: c, newValue: "v2"}
	srv.RegisterRotationFunc(lambdaARN, r.fn)
	_, err := c.RotateSecret(t.Context(), &secretsmanager.RotateSecretInput{
		SecretId: aws.String("s"), RotationLambdaARN: aws.String(lambdaARN), RotateImmediately: aws.Bool(false),
		RotationRules: &types.RotationRulesType{ScheduleExpression: aws.String("rate(10 days)")},
	})
	require.NoError(t, err)
	require.Equal(t, []string{"testSecret"}, stepNames(r.steps()))
	require.Equal(t, map[string][]string{token(1): {"AWSCURRENT"}}, stagesOf(t, c, "s"), "the test's AWSPENDING version is removed")
	d, err := c.DescribeSecret(t.Context(), &secretsmanager.DescribeSecretInput{SecretId: aws.String("s")})
	require.NoError(t, err)
	require.True(t, *d.RotationEnabled)
	require.Nil(t, d.LastRotatedDate)
	require.True(t, t0.Add(10*24*time.Hour).Equal(*d.NextRotationDate))
	require.Equal(t, "rate(10 days)", *d.RotationRules.ScheduleExpression)
}

func TestSMRotationOutlivesClient(t *testing.T) {
	t.Parallel()
	srv, c := newSM(t)
	createSecret(t, c, "s", "v1", 1)
	release := make(chan struct{})
	done := make(chan error, 1)
	srv.RegisterRotationFunc(lambdaARN, func(ctx context.Context, step, _, _ string) error {
		if step == "createSecret" {
			<-release
		}
		if step == "finishSecret" {
			done <- ctx.Err()
		}
		return nil
	})
	ctx, cancel := context.WithTimeout(t.Context(), 50*time.Millisecond)
	defer cancel()
	_, err := c.RotateSecret(ctx, &secretsmanager.RotateSecretInput{SecretId: aws.String("s"), RotationLambdaARN: aws.String(lambdaARN)})
	require.ErrorIs(t, err, context.DeadlineExceeded)
	close(release)
	select {
	case err := <-done:
		require.NoError(t, err, "the rotation's context is not the client's")
	case <-time.After(5 * time.Second):
		t.Fatal("rotation did not finish after the client gave up")
	}
}

func TestSMRotateHoldsNoLock(t *testing.T) {
	t.Parallel()
	srv, c := newSM(t)
	createSecret(t, c, "s", "v1", 1)
	inStep := make(chan struct{})
	release := make(chan struct{})
	srv.RegisterRotationFunc(lambdaARN, func(_ context.Context, step, _, _ string) error {
		if step == "createSecret" {
			close(inStep)
			<-release
		}
		return nil
	})
	rotated := make(chan error, 1)
	go func() {
		_, err := c.RotateSecret(t.Context(), &secretsmanager.RotateSecretInput{SecretId: aws.String("s"), RotationLambdaARN: aws.String(lambdaARN)})
		rotated <- err
	}()
	<-inStep
	// While the step runs, the store answers, and a second rotation is refused.
	require.Equal(t, "v1", getString(t, c, &secretsmanager.GetSecretValueInput{SecretId: aws.String("s")}))
	_, err := c.RotateSecret(t.Context(), &secretsmanager.RotateSecretInput{SecretId: aws.String("s")})
	requireSMError(t, err, "InvalidRequestException", "A previous rotation isn't complete. That rotation will be reattempted.")
	close(release)
	require.NoError(t, <-rotated)
}

func TestSMRotateWithoutTokenOnTheWire(t *testing.T) {
	t.Parallel()
	srv, c := newSM(t)
	createSecret(t, c, "s", "v1", 1)
	tokens := make(chan string, 4)
	srv.RegisterRotationFunc(lambdaARN, func(_ context.Context, _, _, tok string) error {
		tokens <- tok
		return nil
	})
	status, header, body := rawCall(t, srv, "RotateSecret", `{"SecretId":"s","RotationLambdaARN":"`+lambdaARN+`"}`)
	require.Equal(t, http.StatusOK, status, body)
	var out struct{ VersionId string }
	require.NoError(t, json.Unmarshal([]byte(body), &out))
	require.Regexp(t, regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`), out.VersionId)
	require.Equal(t, out.VersionId, <-tokens, "the step's token is the new VersionId")
	require.Equal(t, "application/x-amz-json-1.1", header.Get("Content-Type"))
}

func TestSMErrorsOnTheWire(t *testing.T) {
	t.Parallel()
	srv, _ := newSM(t)
	status, header, body := rawCall(t, srv, "GetSecretValue", `{"SecretId":"missing"}`)
	require.Equal(t, http.StatusBadRequest, status)
	require.Equal(t, "ResourceNotFoundException", header.Get("X-Amzn-ErrorType"))
	require.JSONEq(t, `{"__type":"ResourceNotFoundException","Message":"Secrets Manager can't find the specified secret."}`, body)

	status, _, body = rawCall(t, srv, "GetSecretValue", `{not json`)
	require.Equal(t, http.StatusBadRequest, status)
	require.Contains(t, body, "SerializationException")
}

func rawCall(t *testing.T, srv *awsemu.Server, op, body string) (int, http.Header, string) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, srv.URL+"/", strings.NewReader(body))
	require.NoError(t, err)
	req.Header.Set("X-Amz-Target", "secretsmanager."+op)
	req.Header.Set("Content-Type", "application/x-amz-json-1.1")
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp.StatusCode, resp.Header, string(b)
}

func TestSMRunDueRotations(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		rules    types.RotationRulesType
		interval time.Duration
	}{
		{"days", types.RotationRulesType{AutomaticallyAfterDays: aws.Int64(7)}, 7 * 24 * time.Hour},
		{"rate hours", types.RotationRulesType{ScheduleExpression: aws.String("rate(10 hours)")}, 10 * time.Hour},
		{"rate days", types.RotationRulesType{ScheduleExpression: aws.String("rate(2 days)"), Duration: aws.String("3h")}, 48 * time.Hour},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			srv, c := newSM(t)
			clock := newFakeClock(srv, t0)
			createSecret(t, c, "s", "v1", 1)
			createSecret(t, c, "unrotated", "x", 2)
			r := &rotator{c: c, newValue: "v2"}
			srv.RegisterRotationFunc(lambdaARN, r.fn)
			_, err := c.RotateSecret(t.Context(), &secretsmanager.RotateSecretInput{
				SecretId: aws.String("s"), RotationLambdaARN: aws.String(lambdaARN), RotationRules: &tt.rules,
				ClientRequestToken: aws.String(token(3)),
			})
			require.NoError(t, err)
			require.Len(t, r.steps(), 4)

			clock.Advance(tt.interval - time.Minute)
			require.NoError(t, srv.RunDueRotations(t.Context()))
			require.Len(t, r.steps(), 4, "not due yet")

			clock.Advance(time.Minute)
			r.newValue = "v3"
			require.NoError(t, srv.RunDueRotations(t.Context()))
			require.Len(t, r.steps(), 8)
			require.Equal(t, "v3", getString(t, c, &secretsmanager.GetSecretValueInput{SecretId: aws.String("s")}))
			d, err := c.DescribeSecret(t.Context(), &secretsmanager.DescribeSecretInput{SecretId: aws.String("s")})
			require.NoError(t, err)
			require.True(t, t0.Add(tt.interval).Equal(*d.LastRotatedDate))
			require.True(t, t0.Add(2*tt.interval).Equal(*d.NextRotationDate))

			require.NoError(t, srv.RunDueRotations(t.Context()))
			require.Len(t, r.steps(), 8, "a rotation that just ran is not due")
		})
	}
}

func TestSMRunDueRotationsCron(t *testing.T) {
	t.Parallel()
	srv, c := newSM(t)
	clock := newFakeClock(srv, t0) // a Tuesday, 05:06
	createSecret(t, c, "s", "v1", 1)
	r := &rotator{c: c, newValue: "v2"}
	srv.RegisterRotationFunc(lambdaARN, r.fn)
	_, err := c.RotateSecret(t.Context(), &secretsmanager.RotateSecretInput{
		SecretId: aws.String("s"), RotationLambdaARN: aws.String(lambdaARN), RotateImmediately: aws.Bool(false),
		RotationRules: &types.RotationRulesType{ScheduleExpression: aws.String("cron(0 16 ? * SUN *)")},
	})
	require.NoError(t, err)
	d, err := c.DescribeSecret(t.Context(), &secretsmanager.DescribeSecretInput{SecretId: aws.String("s")})
	require.NoError(t, err)
	sunday := time.Date(2031, 3, 9, 16, 0, 0, 0, time.UTC)
	require.Equal(t, time.Sunday, sunday.Weekday())
	require.True(t, sunday.Equal(*d.NextRotationDate), "NextRotationDate %v", d.NextRotationDate)

	clock.Advance(sunday.Sub(t0))
	require.NoError(t, srv.RunDueRotations(t.Context()))
	require.Equal(t, "v2", getString(t, c, &secretsmanager.GetSecretValueInput{SecretId: aws.String("s")}))
}

func TestSMRunDueRotationsReportsFailures(t *testing.T) {
	t.Parallel()
	srv, c := newSM(t)
	clock := newFakeClock(srv, t0)
	createSecret(t, c, "s", "v1", 1)
	r := &rotator{c: c, newValue: "v2"}
	srv.RegisterRotationFunc(lambdaARN, r.fn)
	_, err := c.RotateSecret(t.Context(), &secretsmanager.RotateSecretInput{
		SecretId: aws.String("s"), RotationLambdaARN: aws.String(lambdaARN), RotationRules: &types.RotationRulesType{AutomaticallyAfterDays: aws.Int64(1)},
	})
	require.NoError(t, err)
	r.failAt = "setSecret"
	clock.Advance(24 * time.Hour)
	err = srv.RunDueRotations(t.Context())
	require.ErrorContains(t, err, "setSecret")
}

func TestSMCancelRotateSecret(t *testing.T) {
	t.Parallel()
	srv, c := newSM(t)
	createSecret(t, c, "s", "v1", 1)
	r := &rotator{c: c, newValue: "v2", failAt: "testSecret"}
	srv.RegisterRotationFunc(lambdaARN, r.fn)
	_, err := c.RotateSecret(t.Context(), &secretsmanager.RotateSecretInput{
		SecretId: aws.String("s"), RotationLambdaARN: aws.String(lambdaARN), ClientRequestToken: aws.String(token(2)),
		RotationRules: &types.RotationRulesType{AutomaticallyAfterDays: aws.Int64(1)},
	})
	require.Error(t, err)

	out, err := c.CancelRotateSecret(t.Context(), &secretsmanager.CancelRotateSecretInput{SecretId: aws.String("s")})
	require.NoError(t, err)
	require.Equal(t, token(2), *out.VersionId, "the unfinished version is reported for clean-up")
	d, err := c.DescribeSecret(t.Context(), &secretsmanager.DescribeSecretInput{SecretId: aws.String("s")})
	require.NoError(t, err)
	require.False(t, *d.RotationEnabled)
	require.Nil(t, d.NextRotationDate)
	require.Equal(t, []string{"AWSPENDING"}, d.VersionIdsToStages[token(2)], "like the service, cancel leaves AWSPENDING for the caller")

	// The documented clean-up makes rotation possible again.
	_, err = c.UpdateSecretVersionStage(t.Context(), &secretsmanager.UpdateSecretVersionStageInput{
		SecretId: aws.String("s"), VersionStage: aws.String("AWSPENDING"), RemoveFromVersionId: aws.String(token(2)),
	})
	require.NoError(t, err)
	r.failAt = ""
	_, err = c.RotateSecret(t.Context(), &secretsmanager.RotateSecretInput{SecretId: aws.String("s"), ClientRequestToken: aws.String(token(3))})
	require.NoError(t, err)
	require.Equal(t, "v2", getString(t, c, &secretsmanager.GetSecretValueInput{SecretId: aws.String("s")}))
}

// TestSMRunDueRotationsRetriesFailedRotation: a failed rotation leaves its
// AWSPENDING version behind; the next scheduled run re-invokes the function
// for that version (the same token) instead of refusing, as the service's
// scheduler does.
func TestSMRunDueRotationsRetriesFailedRotation(t *testing.T) {
	t.Parallel()
	srv, c := newSM(t)
	clock := newFakeClock(srv, t0)
	created := createSecret(t, c, "s", "v1", 1)

	var mu sync.Mutex
	var calls []stepCall
	failSetSecret := true
	srv.RegisterRotationFunc(lambdaARN, func(ctx context.Context, step, secretID, tok string) error {
		mu.Lock()
		calls = append(calls, stepCall{step, secretID, tok})
		fail := step == "setSecret" && failSetSecret
		failSetSecret = failSetSecret && !fail
		mu.Unlock()
		switch {
		case fail:
			return errors.New("database unreachable")
		case step == "createSecret":
			// Resumable, as the AWS templates are: keep a value already staged.
			_, err := c.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: &secretID, VersionId: &tok, VersionStage: aws.String("AWSPENDING")})
			var nf *types.ResourceNotFoundException
			if !errors.As(err, &nf) {
				return err
			}
			_, err = c.PutSecretValue(ctx, &secretsmanager.PutSecretValueInput{
				SecretId: &secretID, ClientRequestToken: &tok, SecretString: aws.String("v2"), VersionStages: []string{"AWSPENDING"},
			})
			return err
		case step == "finishSecret":
			cur, err := c.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: &secretID})
			if err != nil {
				return err
			}
			_, err = c.UpdateSecretVersionStage(ctx, &secretsmanager.UpdateSecretVersionStageInput{
				SecretId: &secretID, VersionStage: aws.String("AWSCURRENT"), MoveToVersionId: &tok, RemoveFromVersionId: cur.VersionId,
			})
			return err
		}
		return nil
	})
	stepsSoFar := func() []stepCall {
		mu.Lock()
		defer mu.Unlock()
		return slices.Clone(calls)
	}

	_, err := c.RotateSecret(t.Context(), &secretsmanager.RotateSecretInput{
		SecretId: aws.String("s"), RotationLambdaARN: aws.String(lambdaARN), ClientRequestToken: aws.String(token(2)),
		RotationRules: &types.RotationRulesType{AutomaticallyAfterDays: aws.Int64(1)},
	})
	requireSMError(t, err, "InvalidRequestException", "")
	require.Equal(t, []string{"createSecret", "setSecret"}, stepNames(stepsSoFar()))
	require.Equal(t, []string{"AWSPENDING"}, stagesOf(t, c, "s")[token(2)])

	require.NoError(t, srv.RunDueRotations(t.Context()))
	require.Len(t, stepsSoFar(), 2, "not due yet")

	clock.Advance(24 * time.Hour)
	require.NoError(t, srv.RunDueRotations(t.Context()))
	var want []stepCall
	for _, s := range rotationStepNames {
		want = append(want, stepCall{s, *created.ARN, token(2)})
	}
	require.Equal(t, want, stepsSoFar()[2:], "the retry runs every step for the pending version's token")
	require.Equal(t, "v2", getString(t, c, &secretsmanager.GetSecretValueInput{SecretId: aws.String("s")}))
	require.Equal(t, map[string][]string{token(1): {"AWSPREVIOUS"}, token(2): {"AWSPENDING", "AWSCURRENT"}}, stagesOf(t, c, "s"))
	d, err := c.DescribeSecret(t.Context(), &secretsmanager.DescribeSecretInput{SecretId: aws.String("s")})
	require.NoError(t, err)
	require.True(t, t0.Add(24*time.Hour).Equal(*d.LastRotatedDate))
	require.True(t, t0.Add(48*time.Hour).Equal(*d.NextRotationDate))

	_, err = c.RotateSecret(t.Context(), &secretsmanager.RotateSecretInput{SecretId: aws.String("s"), ClientRequestToken: aws.String(token(3))})
	require.NoError(t, err, "the retried rotation completed, so a new one may start")
	require.Equal(t, []string{"AWSPENDING", "AWSCURRENT"}, stagesOf(t, c, "s")[token(3)])
}

var rotationStepNames = []string{"createSecret", "setSecret", "testSecret", "finishSecret"}
