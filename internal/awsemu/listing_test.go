package awsemu_test

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager/types"
	"github.com/stretchr/testify/require"
)

func TestSMListSecrets(t *testing.T) {
	t.Parallel()
	_, c := newSM(t)
	for _, s := range []struct{ name, desc, tagKey, tagVal string }{
		{"prod/db", "Main Postgres database", "env", "prod"},
		{"prod/api-key", "Payments API", "env", "prod"},
		{"dev/db", "dev database", "env", "dev"},
		{"shared", "", "owner", "platform"},
	} {
		in := &secretsmanager.CreateSecretInput{Name: aws.String(s.name), SecretString: aws.String("v")}
		if s.desc != "" {
			in.Description = aws.String(s.desc)
		}
		in.Tags = []types.Tag{{Key: aws.String(s.tagKey), Value: aws.String(s.tagVal)}}
		_, err := c.CreateSecret(t.Context(), in)
		require.NoError(t, err)
	}
	createSecret(t, c, "prod/old", "v", 9)
	_, err := c.DeleteSecret(t.Context(), &secretsmanager.DeleteSecretInput{SecretId: aws.String("prod/old")})
	require.NoError(t, err)

	tests := []struct {
		name        string
		filters     []types.Filter
		withDeleted bool
		want        []string
	}{
		{"all live", nil, false, []string{"prod/db", "prod/api-key", "dev/db", "shared"}},
		{"include planned deletion", nil, true, []string{"prod/db", "prod/api-key", "dev/db", "shared", "prod/old"}},
		{"name prefix", []types.Filter{{Key: types.FilterNameStringTypeName, Values: []string{"prod/"}}}, false, []string{"prod/db", "prod/api-key"}},
		{"name is case-sensitive", []types.Filter{{Key: types.FilterNameStringTypeName, Values: []string{"PROD/"}}}, false, nil},
		{"name negation", []types.Filter{{Key: types.FilterNameStringTypeName, Values: []string{"!prod/"}}}, false, []string{"dev/db", "shared"}},
		{"two names or", []types.Filter{{Key: types.FilterNameStringTypeName, Values: []string{"dev", "shared"}}}, false, []string{"dev/db", "shared"}},
		{"description ignores case", []types.Filter{{Key: types.FilterNameStringTypeDescription, Values: []string{"main post"}}}, false, []string{"prod/db"}},
		{"tag key", []types.Filter{{Key: types.FilterNameStringTypeTagKey, Values: []string{"own"}}}, false, []string{"shared"}},
		{"tag value", []types.Filter{{Key: types.FilterNameStringTypeTagValue, Values: []string{"prod"}}}, false, []string{"prod/db", "prod/api-key"}},
		{"filters and", []types.Filter{
			{Key: types.FilterNameStringTypeTagValue, Values: []string{"prod"}},
			{Key: types.FilterNameStringTypeName, Values: []string{"!prod/api"}},
		}, false, []string{"prod/db"}},
		{"all words", []types.Filter{{Key: types.FilterNameStringTypeAll, Values: []string{"DATABASE"}}}, false, []string{"prod/db", "dev/db"}},
		{"all matches tags and names", []types.Filter{{Key: types.FilterNameStringTypeAll, Values: []string{"platform"}}}, false, []string{"shared"}},
		{"primary region", []types.Filter{{Key: types.FilterNameStringTypePrimaryRegion, Values: []string{"us-"}}}, false, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, err := c.ListSecrets(t.Context(), &secretsmanager.ListSecretsInput{Filters: tt.filters, IncludePlannedDeletion: aws.Bool(tt.withDeleted)})
			require.NoError(t, err)
			var got []string
			for _, s := range out.SecretList {
				got = append(got, *s.Name)
			}
			require.Equal(t, tt.want, got)
		})
	}

	t.Run("entries", func(t *testing.T) {
		out, err := c.ListSecrets(t.Context(), &secretsmanager.ListSecretsInput{Filters: []types.Filter{{Key: types.FilterNameStringTypeName, Values: []string{"shared"}}}})
		require.NoError(t, err)
		require.Len(t, out.SecretList, 1)
		e := out.SecretList[0]
		require.Len(t, e.SecretVersionsToStages, 1)
		require.Equal(t, []types.Tag{{Key: aws.String("owner"), Value: aws.String("platform")}}, e.Tags)
		require.NotNil(t, e.CreatedDate)
	})
	t.Run("pages", func(t *testing.T) {
		p := secretsmanager.NewListSecretsPaginator(c, &secretsmanager.ListSecretsInput{MaxResults: aws.Int32(3)})
		var got []string
		pages := 0
		for p.HasMorePages() {
			out, err := p.NextPage(t.Context())
			require.NoError(t, err)
			pages++
			for _, s := range out.SecretList {
				got = append(got, *s.Name)
			}
		}
		require.Equal(t, 2, pages)
		require.Equal(t, []string{"prod/db", "prod/api-key", "dev/db", "shared"}, got)
	})
	t.Run("sorted by name descending", func(t *testing.T) {
		out, err := c.ListSecrets(t.Context(), &secretsmanager.ListSecretsInput{SortBy: types.SortByTypeName, SortOrder: types.SortOrderTypeDesc})
		require.NoError(t, err)
		var got []string
		for _, s := range out.SecretList {
			got = append(got, *s.Name)
		}
		require.Equal(t, []string{"shared", "prod/db", "prod/api-key", "dev/db"}, got)
	})
	t.Run("bad token", func(t *testing.T) {
		_, err := c.ListSecrets(t.Context(), &secretsmanager.ListSecretsInput{NextToken: aws.String("garbage")})
		var bad *types.InvalidNextTokenException
		require.ErrorAs(t, err, &bad)
	})
	t.Run("bad filter key", func(t *testing.T) {
		_, err := c.ListSecrets(t.Context(), &secretsmanager.ListSecretsInput{Filters: []types.Filter{{Key: "color", Values: []string{"x"}}}})
		requireSMError(t, err, "ValidationException", "")
	})
}

func TestSMListSecretVersionIds(t *testing.T) {
	t.Parallel()
	_, c := newSM(t)
	createSecret(t, c, "s", "v1", 1)
	for i := 2; i <= 4; i++ {
		_, err := c.PutSecretValue(t.Context(), &secretsmanager.PutSecretValueInput{
			SecretId: aws.String("s"), SecretString: aws.String("v"), ClientRequestToken: aws.String(token(i)),
		})
		require.NoError(t, err)
	}
	list := func(in *secretsmanager.ListSecretVersionIdsInput) map[string][]string {
		t.Helper()
		in.SecretId = aws.String("s")
		out, err := c.ListSecretVersionIds(t.Context(), in)
		require.NoError(t, err)
		require.Equal(t, "s", *out.Name)
		got := map[string][]string{}
		for _, v := range out.Versions {
			got[*v.VersionId] = v.VersionStages
			require.NotNil(t, v.CreatedDate)
			require.Equal(t, []string{"DefaultEncryptionKey"}, v.KmsKeyIds)
		}
		return got
	}
	require.Equal(t, map[string][]string{token(3): {"AWSPREVIOUS"}, token(4): {"AWSCURRENT"}}, list(&secretsmanager.ListSecretVersionIdsInput{}))
	require.Equal(t, map[string][]string{token(1): nil, token(2): nil, token(3): {"AWSPREVIOUS"}, token(4): {"AWSCURRENT"}},
		list(&secretsmanager.ListSecretVersionIdsInput{IncludeDeprecated: aws.Bool(true)}))

	p := secretsmanager.NewListSecretVersionIdsPaginator(c, &secretsmanager.ListSecretVersionIdsInput{
		SecretId: aws.String("s"), IncludeDeprecated: aws.Bool(true), MaxResults: aws.Int32(3),
	})
	var ids []string
	for p.HasMorePages() {
		out, err := p.NextPage(t.Context())
		require.NoError(t, err)
		for _, v := range out.Versions {
			ids = append(ids, *v.VersionId)
		}
	}
	require.Equal(t, []string{token(1), token(2), token(3), token(4)}, ids, "oldest first, across pages")
}

// TestSMDeprecatedVersionsAreCapped follows the service: unlabelled
// versions beyond 100 are removed once they are 24 hours old, and a write
// that would keep more than that is refused.
func TestSMDeprecatedVersionsAreCapped(t *testing.T) {
	t.Parallel()
	srv, c := newSM(t)
	clock := newFakeClock(srv, t0)
	createSecret(t, c, "s", "v", 0)
	put := func(i int) error {
		_, err := c.PutSecretValue(t.Context(), &secretsmanager.PutSecretValueInput{
			SecretId: aws.String("s"), SecretString: aws.String(fmt.Sprint("v", i)), ClientRequestToken: aws.String(token(i)),
		})
		return err
	}
	count := func() int {
		n := 0
		p := secretsmanager.NewListSecretVersionIdsPaginator(c, &secretsmanager.ListSecretVersionIdsInput{SecretId: aws.String("s"), IncludeDeprecated: aws.Bool(true)})
		for p.HasMorePages() {
			out, err := p.NextPage(t.Context())
			require.NoError(t, err)
			n += len(out.Versions)
		}
		return n
	}
	exists := func(i int) bool {
		_, err := c.GetSecretValue(t.Context(), &secretsmanager.GetSecretValueInput{SecretId: aws.String("s"), VersionId: aws.String(token(i))})
		var nf *types.ResourceNotFoundException
		if errors.As(err, &nf) {
			return false
		}
		require.NoError(t, err)
		return true
	}

	for i := 1; i <= 101; i++ {
		require.NoError(t, put(i))
	}
	require.Equal(t, 102, count(), "100 deprecated versions plus AWSCURRENT and AWSPREVIOUS")
	require.True(t, exists(0), "versions younger than 24 hours are kept")

	err := put(102)
	requireSMError(t, err, "LimitExceededException", "")
	var le *types.LimitExceededException
	require.ErrorAs(t, err, &le)
	require.False(t, exists(102), "a refused write leaves nothing behind")
	require.Equal(t, "v101", getString(t, c, &secretsmanager.GetSecretValueInput{SecretId: aws.String("s")}))
	require.Equal(t, "v100", getString(t, c, &secretsmanager.GetSecretValueInput{SecretId: aws.String("s"), VersionStage: aws.String("AWSPREVIOUS")}))
	require.Equal(t, 102, count())

	clock.Advance(24 * time.Hour)
	for i := 102; i <= 105; i++ {
		require.NoError(t, put(i), "version %d", i)
	}
	require.Equal(t, 102, count(), "each write removes the oldest old deprecated version")
	for i := range 4 {
		require.False(t, exists(i), "version %d is gone", i)
	}
	require.True(t, exists(4))
	require.Equal(t, "v105", getString(t, c, &secretsmanager.GetSecretValueInput{SecretId: aws.String("s")}))
}
