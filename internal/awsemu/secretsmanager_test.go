package awsemu_test

import (
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager/types"
	"github.com/aws/smithy-go"
	"github.com/stretchr/testify/require"

	"github.com/rekeyhq/rekey/internal/awsemu"
)

// newSM starts an emulator and a Secrets Manager client that does not retry,
// so call counts are exact.
func newSM(t *testing.T, optFns ...func(*awsemu.Options)) (*awsemu.Server, *secretsmanager.Client) {
	t.Helper()
	srv := awsemu.New(t, optFns...)
	return srv, secretsmanager.NewFromConfig(srv.AWSConfig(), func(o *secretsmanager.Options) { o.RetryMaxAttempts = 1 })
}

// token returns a valid ClientRequestToken (32 characters) numbered n.
func token(n int) string { return fmt.Sprintf("token-%026d", n) }

// fakeClock is a settable clock for SetClock.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func newFakeClock(srv *awsemu.Server, start time.Time) *fakeClock {
	c := &fakeClock{now: start}
	srv.SetClock(c.Now)
	return c
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

var t0 = time.Date(2031, 3, 4, 5, 6, 7, 0, time.UTC)

func createSecret(t testing.TB, c *secretsmanager.Client, name, value string, tok int) *secretsmanager.CreateSecretOutput {
	t.Helper()
	out, err := c.CreateSecret(t.Context(), &secretsmanager.CreateSecretInput{
		Name: aws.String(name), SecretString: aws.String(value), ClientRequestToken: aws.String(token(tok)),
	})
	require.NoError(t, err)
	return out
}

func getString(t *testing.T, c *secretsmanager.Client, in *secretsmanager.GetSecretValueInput) string {
	t.Helper()
	out, err := c.GetSecretValue(t.Context(), in)
	require.NoError(t, err)
	require.NotNil(t, out.SecretString)
	return *out.SecretString
}

func stagesOf(t *testing.T, c *secretsmanager.Client, id string) map[string][]string {
	t.Helper()
	out, err := c.DescribeSecret(t.Context(), &secretsmanager.DescribeSecretInput{SecretId: aws.String(id)})
	require.NoError(t, err)
	return out.VersionIdsToStages
}

// requireSMError asserts err is an AWS error with code and, when msg is not
// empty, exactly that message.
func requireSMError(t *testing.T, err error, code, msg string) {
	t.Helper()
	var ae smithy.APIError
	require.ErrorAs(t, err, &ae)
	require.Equal(t, code, ae.ErrorCode(), "message: %s", ae.ErrorMessage())
	if msg != "" {
		require.Equal(t, msg, ae.ErrorMessage())
	}
}

func TestSMCreateAndGetByNameAndARN(t *testing.T) {
	t.Parallel()
	srv, c := newSM(t, func(o *awsemu.Options) { o.Region = "eu-west-2"; o.AccountID = "111122223333" })
	newFakeClock(srv, t0)
	out := createSecret(t, c, "prod/db-main", `{"password":"p1"}`, 1)
	require.Equal(t, "prod/db-main", *out.Name)
	require.Equal(t, token(1), *out.VersionId)
	prefix := "arn:aws:secretsmanager:eu-west-2:111122223333:secret:prod/db-main-"
	require.True(t, strings.HasPrefix(*out.ARN, prefix), *out.ARN)
	require.Len(t, strings.TrimPrefix(*out.ARN, prefix), 6)

	for name, id := range map[string]string{
		"name":        "prod/db-main",
		"full ARN":    *out.ARN,
		"partial ARN": strings.TrimSuffix(prefix, "-"),
	} {
		t.Run(name, func(t *testing.T) {
			got, err := c.GetSecretValue(t.Context(), &secretsmanager.GetSecretValueInput{SecretId: aws.String(id)})
			require.NoError(t, err)
			require.Equal(t, `{"password":"p1"}`, *got.SecretString)
			require.Nil(t, got.SecretBinary)
			require.Equal(t, *out.ARN, *got.ARN)
			require.Equal(t, "prod/db-main", *got.Name)
			require.Equal(t, token(1), *got.VersionId)
			require.Equal(t, []string{"AWSCURRENT"}, got.VersionStages)
			require.True(t, t0.Equal(*got.CreatedDate), "CreatedDate %v", got.CreatedDate)
		})
	}
	t.Run("wrong ARN suffix", func(t *testing.T) {
		_, err := c.GetSecretValue(t.Context(), &secretsmanager.GetSecretValueInput{SecretId: aws.String(prefix + "zzzzzz")})
		var nf *types.ResourceNotFoundException
		require.ErrorAs(t, err, &nf)
	})
}

func TestSMBinarySecret(t *testing.T) {
	t.Parallel()
	_, c := newSM(t)
	value := []byte{0, 1, 2, 0xff, 'x'}
	_, err := c.CreateSecret(t.Context(), &secretsmanager.CreateSecretInput{Name: aws.String("bin"), SecretBinary: value})
	require.NoError(t, err)
	got, err := c.GetSecretValue(t.Context(), &secretsmanager.GetSecretValueInput{SecretId: aws.String("bin")})
	require.NoError(t, err)
	require.Equal(t, value, got.SecretBinary)
	require.Nil(t, got.SecretString)
}

func TestSMCreateSecretRefusals(t *testing.T) {
	t.Parallel()
	_, c := newSM(t)
	createSecret(t, c, "taken", "v1", 1)
	big := strings.Repeat("x", 65537)
	tests := []struct {
		name string
		in   secretsmanager.CreateSecretInput
		code string
		msg  string
		as   any
	}{
		{"invalid name", secretsmanager.CreateSecretInput{Name: aws.String("bad name"), SecretString: aws.String("v")},
			"ValidationException", "Invalid name. Must be a valid name containing alphanumeric characters, or any of the following: -/_+=.@!", nil},
		{"both string and binary", secretsmanager.CreateSecretInput{Name: aws.String("both"), SecretString: aws.String("v"), SecretBinary: []byte("v")},
			"InvalidParameterException", "You can't specify both a binary secret value and a string secret value in the same secret.", new(*types.InvalidParameterException)},
		{"value too large", secretsmanager.CreateSecretInput{Name: aws.String("big"), SecretString: aws.String(big)},
			"ValidationException", "", nil},
		{"name exists", secretsmanager.CreateSecretInput{Name: aws.String("taken"), SecretString: aws.String("v1"), ClientRequestToken: aws.String(token(2))},
			"ResourceExistsException", "The operation failed because the secret taken already exists.", new(*types.ResourceExistsException)},
		{"short token", secretsmanager.CreateSecretInput{Name: aws.String("short"), SecretString: aws.String("v"), ClientRequestToken: aws.String("abc")},
			"ValidationException", "", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := c.CreateSecret(t.Context(), &tt.in)
			requireSMError(t, err, tt.code, tt.msg)
			if tt.as != nil {
				require.ErrorAs(t, err, tt.as)
			}
		})
	}
	t.Run("exactly 65536 bytes is accepted", func(t *testing.T) {
		_, err := c.CreateSecret(t.Context(), &secretsmanager.CreateSecretInput{Name: aws.String("max"), SecretString: aws.String(big[:65536])})
		require.NoError(t, err)
	})
	t.Run("retry with the same token and value succeeds", func(t *testing.T) {
		out, err := c.CreateSecret(t.Context(), &secretsmanager.CreateSecretInput{
			Name: aws.String("taken"), SecretString: aws.String("v1"), ClientRequestToken: aws.String(token(1)),
		})
		require.NoError(t, err)
		require.Equal(t, token(1), *out.VersionId)
	})
}

func TestSMCreateWithoutValue(t *testing.T) {
	t.Parallel()
	_, c := newSM(t)
	out, err := c.CreateSecret(t.Context(), &secretsmanager.CreateSecretInput{Name: aws.String("empty")})
	require.NoError(t, err)
	require.Nil(t, out.VersionId)
	_, err = c.GetSecretValue(t.Context(), &secretsmanager.GetSecretValueInput{SecretId: aws.String("empty")})
	requireSMError(t, err, "ResourceNotFoundException", "Secrets Manager can't find the specified secret value for staging label: AWSCURRENT")
	var nf *types.ResourceNotFoundException
	require.ErrorAs(t, err, &nf)
}

func TestSMFirstVersionIsCurrentWhateverItsStages(t *testing.T) {
	t.Parallel()
	_, c := newSM(t)
	_, err := c.CreateSecret(t.Context(), &secretsmanager.CreateSecretInput{Name: aws.String("s")})
	require.NoError(t, err)
	out, err := c.PutSecretValue(t.Context(), &secretsmanager.PutSecretValueInput{
		SecretId: aws.String("s"), SecretString: aws.String("v1"), ClientRequestToken: aws.String(token(1)), VersionStages: []string{"AWSPENDING"},
	})
	require.NoError(t, err)
	require.ElementsMatch(t, []string{"AWSPENDING", "AWSCURRENT"}, out.VersionStages, "the first version of a secret always gets AWSCURRENT")
	require.Equal(t, "v1", getString(t, c, &secretsmanager.GetSecretValueInput{SecretId: aws.String("s")}))

	// Once a version holds AWSCURRENT, explicit stages are all a new version gets.
	out, err = c.PutSecretValue(t.Context(), &secretsmanager.PutSecretValueInput{
		SecretId: aws.String("s"), SecretString: aws.String("v2"), ClientRequestToken: aws.String(token(2)), VersionStages: []string{"AWSPENDING"},
	})
	require.NoError(t, err)
	require.Equal(t, []string{"AWSPENDING"}, out.VersionStages)
	require.Equal(t, map[string][]string{token(1): {"AWSCURRENT"}, token(2): {"AWSPENDING"}}, stagesOf(t, c, "s"))
	require.Equal(t, "v1", getString(t, c, &secretsmanager.GetSecretValueInput{SecretId: aws.String("s")}))
}

// TestSMPartialARNEndingLikeASuffix follows the service's documented rule:
// an ARN whose last seven characters look like "-" plus the random suffix
// is taken as a complete ARN, even when it is also the partial ARN of a
// secret whose name ends that way.
func TestSMPartialARNEndingLikeASuffix(t *testing.T) {
	t.Parallel()
	srv, c := newSM(t)
	prefix := "arn:aws:secretsmanager:" + srv.Region() + ":" + srv.AccountID() + ":secret:"
	tricky := createSecret(t, c, "db-abcdef", "tricky", 1)
	plain := createSecret(t, c, "db", "plain", 2)
	require.True(t, strings.HasPrefix(*tricky.ARN, prefix+"db-abcdef-"), *tricky.ARN)

	for id, want := range map[string]string{
		"db-abcdef":   "tricky",
		*tricky.ARN:   "tricky",
		*plain.ARN:    "plain",
		prefix + "db": "plain", // a partial ARN that does not look complete
		"db":          "plain",
	} {
		require.Equal(t, want, getString(t, c, &secretsmanager.GetSecretValueInput{SecretId: aws.String(id)}), "SecretId %s", id)
	}
	for _, id := range []string{
		prefix + "db-abcdef", // looks like the full ARN of "db", which has another suffix
		prefix + "db-zzzzzz",
	} {
		_, err := c.GetSecretValue(t.Context(), &secretsmanager.GetSecretValueInput{SecretId: aws.String(id)})
		var nf *types.ResourceNotFoundException
		require.ErrorAs(t, err, &nf, "SecretId %s", id)
		_, err = c.DescribeSecret(t.Context(), &secretsmanager.DescribeSecretInput{SecretId: aws.String(id)})
		require.ErrorAs(t, err, &nf, "SecretId %s", id)
	}
}

func TestSMGetSecretValueErrors(t *testing.T) {
	t.Parallel()
	_, c := newSM(t)
	createSecret(t, c, "s", "v1", 1)
	tests := []struct {
		name string
		in   secretsmanager.GetSecretValueInput
		code string
		msg  string
	}{
		{"unknown secret", secretsmanager.GetSecretValueInput{SecretId: aws.String("nope")},
			"ResourceNotFoundException", "Secrets Manager can't find the specified secret."},
		{"unknown version id", secretsmanager.GetSecretValueInput{SecretId: aws.String("s"), VersionId: aws.String(token(9))},
			"ResourceNotFoundException", "Secrets Manager can't find the specified secret value for VersionId: " + token(9)},
		{"unknown stage", secretsmanager.GetSecretValueInput{SecretId: aws.String("s"), VersionStage: aws.String("AWSPENDING")},
			"ResourceNotFoundException", "Secrets Manager can't find the specified secret value for staging label: AWSPENDING"},
		{"stage not on version", secretsmanager.GetSecretValueInput{SecretId: aws.String("s"), VersionId: aws.String(token(1)), VersionStage: aws.String("AWSPREVIOUS")},
			"InvalidRequestException", "You provided a VersionStage that is not associated to the provided VersionId."},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := c.GetSecretValue(t.Context(), &tt.in)
			requireSMError(t, err, tt.code, tt.msg)
		})
	}
	t.Run("typed errors", func(t *testing.T) {
		_, err := c.GetSecretValue(t.Context(), &secretsmanager.GetSecretValueInput{SecretId: aws.String("nope")})
		var nf *types.ResourceNotFoundException
		require.ErrorAs(t, err, &nf)
		_, err = c.GetSecretValue(t.Context(), &tests[3].in)
		var ir *types.InvalidRequestException
		require.ErrorAs(t, err, &ir)
	})
	t.Run("version id and matching stage", func(t *testing.T) {
		require.Equal(t, "v1", getString(t, c, &secretsmanager.GetSecretValueInput{
			SecretId: aws.String("s"), VersionId: aws.String(token(1)), VersionStage: aws.String("AWSCURRENT"),
		}))
	})
}

func TestSMPutSecretValue(t *testing.T) {
	t.Parallel()
	_, c := newSM(t)
	createSecret(t, c, "s", "v1", 1)
	put := func(tok int, value string, stages ...string) (*secretsmanager.PutSecretValueOutput, error) {
		return c.PutSecretValue(t.Context(), &secretsmanager.PutSecretValueInput{
			SecretId: aws.String("s"), SecretString: aws.String(value), ClientRequestToken: aws.String(token(tok)), VersionStages: stages,
		})
	}

	out, err := put(2, "v2")
	require.NoError(t, err)
	require.Equal(t, token(2), *out.VersionId)
	require.Equal(t, []string{"AWSCURRENT"}, out.VersionStages)
	require.Equal(t, map[string][]string{token(1): {"AWSPREVIOUS"}, token(2): {"AWSCURRENT"}}, stagesOf(t, c, "s"))
	require.Equal(t, "v2", getString(t, c, &secretsmanager.GetSecretValueInput{SecretId: aws.String("s")}))
	require.Equal(t, "v1", getString(t, c, &secretsmanager.GetSecretValueInput{SecretId: aws.String("s"), VersionStage: aws.String("AWSPREVIOUS")}))

	t.Run("same token same value is a no-op", func(t *testing.T) {
		out, err := put(2, "v2")
		require.NoError(t, err)
		require.Equal(t, token(2), *out.VersionId)
		require.Equal(t, map[string][]string{token(1): {"AWSPREVIOUS"}, token(2): {"AWSCURRENT"}}, stagesOf(t, c, "s"))
	})
	t.Run("same token different value", func(t *testing.T) {
		_, err := put(2, "other")
		var re *types.ResourceExistsException
		require.ErrorAs(t, err, &re)
		require.Equal(t, "v2", getString(t, c, &secretsmanager.GetSecretValueInput{SecretId: aws.String("s"), VersionId: aws.String(token(2))}))
	})
	t.Run("third version deprecates the first", func(t *testing.T) {
		_, err := put(3, "v3")
		require.NoError(t, err)
		require.Equal(t, map[string][]string{token(2): {"AWSPREVIOUS"}, token(3): {"AWSCURRENT"}}, stagesOf(t, c, "s"))
		// A deprecated version is still readable by id.
		require.Equal(t, "v1", getString(t, c, &secretsmanager.GetSecretValueInput{SecretId: aws.String("s"), VersionId: aws.String(token(1))}))
	})
	t.Run("explicit stages leave AWSCURRENT alone", func(t *testing.T) {
		out, err := put(4, "v4", "AWSPENDING")
		require.NoError(t, err)
		require.Equal(t, []string{"AWSPENDING"}, out.VersionStages)
		require.Equal(t, "v3", getString(t, c, &secretsmanager.GetSecretValueInput{SecretId: aws.String("s")}))
		require.Equal(t, "v4", getString(t, c, &secretsmanager.GetSecretValueInput{SecretId: aws.String("s"), VersionStage: aws.String("AWSPENDING")}))
	})
	t.Run("no value", func(t *testing.T) {
		_, err := c.PutSecretValue(t.Context(), &secretsmanager.PutSecretValueInput{SecretId: aws.String("s")})
		var ir *types.InvalidRequestException
		require.ErrorAs(t, err, &ir)
	})
	t.Run("unknown secret", func(t *testing.T) {
		_, err := c.PutSecretValue(t.Context(), &secretsmanager.PutSecretValueInput{SecretId: aws.String("nope"), SecretString: aws.String("x")})
		var nf *types.ResourceNotFoundException
		require.ErrorAs(t, err, &nf)
	})
	t.Run("too large", func(t *testing.T) {
		_, err := c.PutSecretValue(t.Context(), &secretsmanager.PutSecretValueInput{SecretId: aws.String("s"), SecretBinary: make([]byte, 65537)})
		requireSMError(t, err, "ValidationException", "")
	})
}

func TestSMUpdateSecret(t *testing.T) {
	t.Parallel()
	_, c := newSM(t)
	createSecret(t, c, "s", "v1", 1)
	out, err := c.UpdateSecret(t.Context(), &secretsmanager.UpdateSecretInput{SecretId: aws.String("s"), Description: aws.String("the db")})
	require.NoError(t, err)
	require.Nil(t, out.VersionId, "a metadata-only update makes no version")

	out, err = c.UpdateSecret(t.Context(), &secretsmanager.UpdateSecretInput{
		SecretId: aws.String("s"), SecretString: aws.String("v2"), ClientRequestToken: aws.String(token(2)),
	})
	require.NoError(t, err)
	require.Equal(t, token(2), *out.VersionId)
	require.Equal(t, map[string][]string{token(1): {"AWSPREVIOUS"}, token(2): {"AWSCURRENT"}}, stagesOf(t, c, "s"))
	d, err := c.DescribeSecret(t.Context(), &secretsmanager.DescribeSecretInput{SecretId: aws.String("s")})
	require.NoError(t, err)
	require.Equal(t, "the db", *d.Description)

	_, err = c.UpdateSecret(t.Context(), &secretsmanager.UpdateSecretInput{SecretId: aws.String("s"), SecretString: aws.String("a"), SecretBinary: []byte("b")})
	var ip *types.InvalidParameterException
	require.ErrorAs(t, err, &ip)
}

func TestSMUpdateSecretVersionStage(t *testing.T) {
	t.Parallel()
	// Each case starts from: v1 AWSPREVIOUS, v2 AWSCURRENT, v3 MYLABEL.
	tests := []struct {
		name       string
		in         secretsmanager.UpdateSecretVersionStageInput
		wantStages map[string][]string
		wantCode   string
		wantMsg    string
	}{
		{
			name:       "move AWSCURRENT moves AWSPREVIOUS",
			in:         secretsmanager.UpdateSecretVersionStageInput{VersionStage: aws.String("AWSCURRENT"), MoveToVersionId: aws.String(token(3)), RemoveFromVersionId: aws.String(token(2))},
			wantStages: map[string][]string{token(2): {"AWSPREVIOUS"}, token(3): {"MYLABEL", "AWSCURRENT"}},
		},
		{
			name:       "rollback: AWSCURRENT onto the AWSPREVIOUS version",
			in:         secretsmanager.UpdateSecretVersionStageInput{VersionStage: aws.String("AWSCURRENT"), MoveToVersionId: aws.String(token(1)), RemoveFromVersionId: aws.String(token(2))},
			wantStages: map[string][]string{token(1): {"AWSCURRENT"}, token(2): {"AWSPREVIOUS"}, token(3): {"MYLABEL"}},
		},
		{
			name:     "moving an attached label needs RemoveFromVersionId",
			in:       secretsmanager.UpdateSecretVersionStageInput{VersionStage: aws.String("AWSCURRENT"), MoveToVersionId: aws.String(token(3))},
			wantCode: "InvalidParameterException",
			wantMsg:  "The parameter RemoveFromVersionId can't be empty. Staging label AWSCURRENT is currently attached to version " + token(2) + ", so you must explicitly reference that version in RemoveFromVersionId.",
		},
		{
			name:     "RemoveFromVersionId must hold the label",
			in:       secretsmanager.UpdateSecretVersionStageInput{VersionStage: aws.String("AWSCURRENT"), MoveToVersionId: aws.String(token(3)), RemoveFromVersionId: aws.String(token(1))},
			wantCode: "InvalidParameterException",
		},
		{
			name:       "add a new label",
			in:         secretsmanager.UpdateSecretVersionStageInput{VersionStage: aws.String("OTHER"), MoveToVersionId: aws.String(token(1))},
			wantStages: map[string][]string{token(1): {"AWSPREVIOUS", "OTHER"}, token(2): {"AWSCURRENT"}, token(3): {"MYLABEL"}},
		},
		{
			name:       "remove the only label deprecates the version",
			in:         secretsmanager.UpdateSecretVersionStageInput{VersionStage: aws.String("MYLABEL"), RemoveFromVersionId: aws.String(token(3))},
			wantStages: map[string][]string{token(1): {"AWSPREVIOUS"}, token(2): {"AWSCURRENT"}},
		},
		{
			name:     "AWSCURRENT cannot just be removed",
			in:       secretsmanager.UpdateSecretVersionStageInput{VersionStage: aws.String("AWSCURRENT"), RemoveFromVersionId: aws.String(token(2))},
			wantCode: "InvalidParameterException",
		},
		{
			name:     "unknown MoveToVersionId",
			in:       secretsmanager.UpdateSecretVersionStageInput{VersionStage: aws.String("X"), MoveToVersionId: aws.String(token(8))},
			wantCode: "InvalidParameterException",
		},
		{
			name:       "move to the version that has it is a no-op",
			in:         secretsmanager.UpdateSecretVersionStageInput{VersionStage: aws.String("AWSCURRENT"), MoveToVersionId: aws.String(token(2))},
			wantStages: map[string][]string{token(1): {"AWSPREVIOUS"}, token(2): {"AWSCURRENT"}, token(3): {"MYLABEL"}},
		},
		{
			name:     "unknown secret",
			in:       secretsmanager.UpdateSecretVersionStageInput{SecretId: aws.String("nope"), VersionStage: aws.String("X"), MoveToVersionId: aws.String(token(2))},
			wantCode: "ResourceNotFoundException",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, c := newSM(t)
			createSecret(t, c, "s", "v1", 1)
			for i, stages := range [][]string{nil, {"MYLABEL"}} {
				_, err := c.PutSecretValue(t.Context(), &secretsmanager.PutSecretValueInput{
					SecretId: aws.String("s"), SecretString: aws.String(fmt.Sprint("v", i+2)), ClientRequestToken: aws.String(token(i + 2)), VersionStages: stages,
				})
				require.NoError(t, err)
			}
			in := tt.in
			if in.SecretId == nil {
				in.SecretId = aws.String("s")
			}
			_, err := c.UpdateSecretVersionStage(t.Context(), &in)
			if tt.wantCode != "" {
				requireSMError(t, err, tt.wantCode, tt.wantMsg)
				return
			}
			require.NoError(t, err)
			require.Equal(t, tt.wantStages, stagesOf(t, c, "s"))
		})
	}
}

func TestSMDescribeSecret(t *testing.T) {
	t.Parallel()
	srv, c := newSM(t)
	clock := newFakeClock(srv, t0)
	out, err := c.CreateSecret(t.Context(), &secretsmanager.CreateSecretInput{
		Name: aws.String("d"), SecretString: aws.String("v1"), ClientRequestToken: aws.String(token(1)),
		Description: aws.String("desc"), Tags: []types.Tag{{Key: aws.String("team"), Value: aws.String("core")}},
	})
	require.NoError(t, err)
	clock.Advance(26 * time.Hour)
	_, err = c.GetSecretValue(t.Context(), &secretsmanager.GetSecretValueInput{SecretId: aws.String("d")})
	require.NoError(t, err)

	d, err := c.DescribeSecret(t.Context(), &secretsmanager.DescribeSecretInput{SecretId: out.ARN})
	require.NoError(t, err)
	require.Equal(t, *out.ARN, *d.ARN)
	require.Equal(t, "d", *d.Name)
	require.Equal(t, "desc", *d.Description)
	require.Nil(t, d.KmsKeyId, "the default key is not reported")
	require.Nil(t, d.RotationEnabled)
	require.Nil(t, d.DeletedDate)
	require.True(t, t0.Equal(*d.CreatedDate))
	require.True(t, t0.Equal(*d.LastChangedDate))
	require.True(t, time.Date(2031, 3, 5, 0, 0, 0, 0, time.UTC).Equal(*d.LastAccessedDate), "LastAccessedDate is a day: %v", d.LastAccessedDate)
	require.Equal(t, []types.Tag{{Key: aws.String("team"), Value: aws.String("core")}}, d.Tags)
	require.Equal(t, map[string][]string{token(1): {"AWSCURRENT"}}, d.VersionIdsToStages)

	_, err = c.DescribeSecret(t.Context(), &secretsmanager.DescribeSecretInput{SecretId: aws.String("nope")})
	var nf *types.ResourceNotFoundException
	require.ErrorAs(t, err, &nf)
}

func TestSMBatchGetSecretValue(t *testing.T) {
	t.Parallel()
	_, c := newSM(t)
	a := createSecret(t, c, "app/a", "va", 1)
	createSecret(t, c, "app/b", "vb", 2)
	createSecret(t, c, "other", "vo", 3)
	_, err := c.CreateSecret(t.Context(), &secretsmanager.CreateSecretInput{Name: aws.String("app/empty")})
	require.NoError(t, err)
	createSecret(t, c, "app/gone", "vg", 4)
	_, err = c.DeleteSecret(t.Context(), &secretsmanager.DeleteSecretInput{SecretId: aws.String("app/gone")})
	require.NoError(t, err)

	t.Run("ids", func(t *testing.T) {
		out, err := c.BatchGetSecretValue(t.Context(), &secretsmanager.BatchGetSecretValueInput{
			SecretIdList: []string{*a.ARN, "app/b", "missing", "app/empty", "app/gone"},
		})
		require.NoError(t, err)
		got := map[string]string{}
		for _, v := range out.SecretValues {
			got[*v.Name] = *v.SecretString
			require.Equal(t, []string{"AWSCURRENT"}, v.VersionStages)
		}
		require.Equal(t, map[string]string{"app/a": "va", "app/b": "vb"}, got)
		errs := map[string]string{}
		for _, e := range out.Errors {
			errs[*e.SecretId] = *e.ErrorCode
		}
		require.Equal(t, map[string]string{
			"missing":   "ResourceNotFoundException",
			"app/empty": "ResourceNotFoundException",
			"app/gone":  "InvalidRequestException",
		}, errs)
	})
	t.Run("filters with pages", func(t *testing.T) {
		var names []string
		p := secretsmanager.NewBatchGetSecretValuePaginator(c, &secretsmanager.BatchGetSecretValueInput{
			Filters:    []types.Filter{{Key: types.FilterNameStringTypeName, Values: []string{"app/"}}},
			MaxResults: aws.Int32(1),
		})
		pages := 0
		for p.HasMorePages() {
			out, err := p.NextPage(t.Context())
			require.NoError(t, err)
			pages++
			for _, v := range out.SecretValues {
				names = append(names, *v.Name)
			}
		}
		require.Equal(t, []string{"app/a", "app/b"}, names)
		require.Equal(t, 3, pages, "app/a, app/b, app/empty (an error entry); deleted secrets are not listed")
	})
	t.Run("more than 20 ids", func(t *testing.T) {
		ids := make([]string, 21)
		for i := range ids {
			ids[i] = fmt.Sprint("id", i)
		}
		_, err := c.BatchGetSecretValue(t.Context(), &secretsmanager.BatchGetSecretValueInput{SecretIdList: ids})
		requireSMError(t, err, "ValidationException", "")
	})
	t.Run("ids and filters", func(t *testing.T) {
		_, err := c.BatchGetSecretValue(t.Context(), &secretsmanager.BatchGetSecretValueInput{
			SecretIdList: []string{"app/a"}, Filters: []types.Filter{{Key: types.FilterNameStringTypeName, Values: []string{"app"}}},
		})
		var ip *types.InvalidParameterException
		require.ErrorAs(t, err, &ip)
	})
}

func TestSMCallCountsUnderConcurrency(t *testing.T) {
	t.Parallel()
	srv, c := newSM(t)
	createSecret(t, c, "s", "v", 1)
	srv.ResetCalls()
	const workers, each = 8, 25
	var wg sync.WaitGroup
	errs := make(chan error, workers*each)
	for range workers {
		wg.Go(func() {
			for range each {
				if _, err := c.GetSecretValue(t.Context(), &secretsmanager.GetSecretValueInput{SecretId: aws.String("s")}); err != nil {
					errs <- err
				}
				if _, err := c.DescribeSecret(t.Context(), &secretsmanager.DescribeSecretInput{SecretId: aws.String("s")}); err != nil {
					errs <- err
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	require.NoError(t, errors.Join(drain(errs)...))
	require.Equal(t, int64(workers*each), srv.Calls("GetSecretValue"))
	require.Equal(t, int64(workers*each), srv.Calls("DescribeSecret"))
	require.Equal(t, int64(2*workers*each), srv.TotalCalls())
}

func drain(ch <-chan error) []error {
	var out []error
	for err := range ch {
		out = append(out, err)
	}
	return out
}
