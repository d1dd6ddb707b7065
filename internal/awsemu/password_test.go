package awsemu_test

import (
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager/types"
	"github.com/stretchr/testify/require"
)

func TestSMGetRandomPassword(t *testing.T) {
	t.Parallel()
	_, c := newSM(t)
	const (
		lower = "abcdefghijklmnopqrstuvwxyz"
		upper = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
		digit = "0123456789"
		punct = "!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~"
	)
	has := func(pw, set string) bool { return strings.ContainsAny(pw, set) }
	tests := []struct {
		name    string
		in      secretsmanager.GetRandomPasswordInput
		length  int
		allowed string
		require []string
	}{
		{"defaults", secretsmanager.GetRandomPasswordInput{}, 32, lower + upper + digit + punct, []string{lower, upper, digit, punct}},
		{"length 4 has every type", secretsmanager.GetRandomPasswordInput{PasswordLength: aws.Int64(4)}, 4, lower + upper + digit + punct, []string{lower, upper, digit, punct}},
		{"no punctuation", secretsmanager.GetRandomPasswordInput{ExcludePunctuation: aws.Bool(true)}, 32, lower + upper + digit, []string{lower, upper, digit}},
		{"no numbers", secretsmanager.GetRandomPasswordInput{ExcludeNumbers: aws.Bool(true)}, 32, lower + upper + punct, []string{lower, upper, punct}},
		{"digits only", secretsmanager.GetRandomPasswordInput{ExcludePunctuation: aws.Bool(true), ExcludeLowercase: aws.Bool(true), ExcludeUppercase: aws.Bool(true), PasswordLength: aws.Int64(64)}, 64, digit, []string{digit}},
		{"exclude characters", secretsmanager.GetRandomPasswordInput{ExcludeCharacters: aws.String("abc0123456789!@"), ExcludeUppercase: aws.Bool(true), PasswordLength: aws.Int64(200)}, 200, "defghijklmnopqrstuvwxyz" + strings.NewReplacer("!", "", "@", "").Replace(punct), nil},
		{"include space", secretsmanager.GetRandomPasswordInput{IncludeSpace: aws.Bool(true), ExcludeLowercase: aws.Bool(true), ExcludeUppercase: aws.Bool(true), ExcludePunctuation: aws.Bool(true), PasswordLength: aws.Int64(4096)}, 4096, digit + " ", []string{digit, " "}},
		{"length 1 without required types", secretsmanager.GetRandomPasswordInput{PasswordLength: aws.Int64(1), RequireEachIncludedType: aws.Bool(false)}, 1, lower + upper + digit + punct, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for range 20 {
				out, err := c.GetRandomPassword(t.Context(), &tt.in)
				require.NoError(t, err)
				pw := *out.RandomPassword
				require.Len(t, pw, tt.length)
				require.Empty(t, strings.Trim(pw, tt.allowed), "only allowed characters")
				for _, set := range tt.require {
					require.True(t, has(pw, set), "%q lacks one of %q", pw, set)
				}
			}
		})
	}
	t.Run("passwords differ", func(t *testing.T) {
		a, err := c.GetRandomPassword(t.Context(), &secretsmanager.GetRandomPasswordInput{})
		require.NoError(t, err)
		b, err := c.GetRandomPassword(t.Context(), &secretsmanager.GetRandomPasswordInput{})
		require.NoError(t, err)
		require.NotEqual(t, *a.RandomPassword, *b.RandomPassword)
	})
	refusals := []struct {
		name string
		in   secretsmanager.GetRandomPasswordInput
		code string
	}{
		{"length 0", secretsmanager.GetRandomPasswordInput{PasswordLength: aws.Int64(0)}, "ValidationException"},
		{"length 4097", secretsmanager.GetRandomPasswordInput{PasswordLength: aws.Int64(4097)}, "ValidationException"},
		{"too short for required types", secretsmanager.GetRandomPasswordInput{PasswordLength: aws.Int64(3)}, "InvalidParameterException"},
		{"everything excluded", secretsmanager.GetRandomPasswordInput{ExcludeLowercase: aws.Bool(true), ExcludeUppercase: aws.Bool(true), ExcludeNumbers: aws.Bool(true), ExcludePunctuation: aws.Bool(true)}, "InvalidParameterException"},
	}
	for _, tt := range refusals {
		t.Run(tt.name, func(t *testing.T) {
			_, err := c.GetRandomPassword(t.Context(), &tt.in)
			requireSMError(t, err, tt.code, "")
			if tt.code == "InvalidParameterException" {
				var ip *types.InvalidParameterException
				require.ErrorAs(t, err, &ip)
			}
		})
	}
}
