package awsemu_test

import (
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager/types"
	"github.com/stretchr/testify/require"
)

const (
	privatePolicy = `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::123456789012:role/App"},"Action":"secretsmanager:GetSecretValue","Resource":"*"}]}`
	publicPolicy  = `{"Version":"2012-10-17","Statement":{"Effect":"Allow","Principal":"*","Action":"secretsmanager:GetSecretValue","Resource":"*"}}`
	publicAWSList = `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":["arn:aws:iam::1:root","*"]},"Action":"*","Resource":"*"}]}`
	conditioned   = `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":"*","Action":"*","Resource":"*","Condition":{"StringEquals":{"aws:PrincipalOrgID":"o-123"}}}]}`
	publicDeny    = `{"Version":"2012-10-17","Statement":[{"Effect":"Deny","Principal":"*","Action":"*","Resource":"*"}]}`
)

func TestSMResourcePolicy(t *testing.T) {
	t.Parallel()
	_, c := newSM(t)
	created := createSecret(t, c, "s", "v", 1)

	got, err := c.GetResourcePolicy(t.Context(), &secretsmanager.GetResourcePolicyInput{SecretId: aws.String("s")})
	require.NoError(t, err)
	require.Nil(t, got.ResourcePolicy)
	require.Equal(t, *created.ARN, *got.ARN)

	_, err = c.PutResourcePolicy(t.Context(), &secretsmanager.PutResourcePolicyInput{SecretId: aws.String("s"), ResourcePolicy: aws.String(privatePolicy), BlockPublicPolicy: aws.Bool(true)})
	require.NoError(t, err)
	got, err = c.GetResourcePolicy(t.Context(), &secretsmanager.GetResourcePolicyInput{SecretId: aws.String("s")})
	require.NoError(t, err)
	require.JSONEq(t, privatePolicy, *got.ResourcePolicy)

	_, err = c.PutResourcePolicy(t.Context(), &secretsmanager.PutResourcePolicyInput{SecretId: aws.String("s"), ResourcePolicy: aws.String(publicPolicy), BlockPublicPolicy: aws.Bool(true)})
	var pp *types.PublicPolicyException
	require.ErrorAs(t, err, &pp)

	_, err = c.PutResourcePolicy(t.Context(), &secretsmanager.PutResourcePolicyInput{SecretId: aws.String("s"), ResourcePolicy: aws.String("{nope")})
	var mp *types.MalformedPolicyDocumentException
	require.ErrorAs(t, err, &mp)

	_, err = c.PutResourcePolicy(t.Context(), &secretsmanager.PutResourcePolicyInput{SecretId: aws.String("s"), ResourcePolicy: aws.String(publicPolicy)})
	require.NoError(t, err, "without BlockPublicPolicy a public policy is stored")

	_, err = c.DeleteResourcePolicy(t.Context(), &secretsmanager.DeleteResourcePolicyInput{SecretId: aws.String("s")})
	require.NoError(t, err)
	got, err = c.GetResourcePolicy(t.Context(), &secretsmanager.GetResourcePolicyInput{SecretId: aws.String("s")})
	require.NoError(t, err)
	require.Nil(t, got.ResourcePolicy)
}

func TestSMValidateResourcePolicy(t *testing.T) {
	t.Parallel()
	_, c := newSM(t)
	createSecret(t, c, "s", "v", 1)
	tests := []struct {
		name   string
		policy string
		passed bool
	}{
		{"named principal", privatePolicy, true},
		{"principal star", publicPolicy, false},
		{"star in AWS list", publicAWSList, false},
		{"star with condition", conditioned, true},
		{"deny star", publicDeny, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, err := c.ValidateResourcePolicy(t.Context(), &secretsmanager.ValidateResourcePolicyInput{SecretId: aws.String("s"), ResourcePolicy: aws.String(tt.policy)})
			require.NoError(t, err)
			require.Equal(t, tt.passed, out.PolicyValidationPassed)
			require.Equal(t, tt.passed, len(out.ValidationErrors) == 0)
		})
	}
	_, err := c.ValidateResourcePolicy(t.Context(), &secretsmanager.ValidateResourcePolicyInput{ResourcePolicy: aws.String("[]")})
	var mp *types.MalformedPolicyDocumentException
	require.ErrorAs(t, err, &mp)
	_, err = c.ValidateResourcePolicy(t.Context(), &secretsmanager.ValidateResourcePolicyInput{SecretId: aws.String("nope"), ResourcePolicy: aws.String(privatePolicy)})
	var nf *types.ResourceNotFoundException
	require.ErrorAs(t, err, &nf)
}

func TestSMTags(t *testing.T) {
	t.Parallel()
	_, c := newSM(t)
	_, err := c.CreateSecret(t.Context(), &secretsmanager.CreateSecretInput{
		Name: aws.String("s"), SecretString: aws.String("v"), Tags: []types.Tag{{Key: aws.String("a"), Value: aws.String("1")}},
	})
	require.NoError(t, err)
	tags := func() map[string]string {
		d, err := c.DescribeSecret(t.Context(), &secretsmanager.DescribeSecretInput{SecretId: aws.String("s")})
		require.NoError(t, err)
		m := map[string]string{}
		for _, tg := range d.Tags {
			m[*tg.Key] = *tg.Value
		}
		return m
	}
	_, err = c.TagResource(t.Context(), &secretsmanager.TagResourceInput{SecretId: aws.String("s"), Tags: []types.Tag{
		{Key: aws.String("a"), Value: aws.String("2")}, {Key: aws.String("b"), Value: aws.String("3")},
	}})
	require.NoError(t, err)
	require.Equal(t, map[string]string{"a": "2", "b": "3"}, tags())
	_, err = c.UntagResource(t.Context(), &secretsmanager.UntagResourceInput{SecretId: aws.String("s"), TagKeys: []string{"a", "zzz"}})
	require.NoError(t, err)
	require.Equal(t, map[string]string{"b": "3"}, tags())
	_, err = c.TagResource(t.Context(), &secretsmanager.TagResourceInput{SecretId: aws.String("nope"), Tags: []types.Tag{{Key: aws.String("k"), Value: aws.String("v")}}})
	var nf *types.ResourceNotFoundException
	require.ErrorAs(t, err, &nf)
}
