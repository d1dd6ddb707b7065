package awsemu_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	smtypes "github.com/aws/aws-sdk-go-v2/service/secretsmanager/types"
	"github.com/aws/smithy-go"
	"github.com/stretchr/testify/require"

	"github.com/rekeyhq/rekey/internal/awsemu"
	"github.com/rekeyhq/rekey/policy"
)

// The accounts and documents of the seed's cross-account scenario (README,
// policy/testdata/access/getsecretvalue.json): role reader of account B
// reads prod/db of account A, encrypted with a customer managed key of A.
const (
	accountA   = "111122223333"
	accountB   = "444455556666"
	readerRole = "arn:aws:iam::" + accountB + ":role/reader"
	appRole    = "arn:aws:iam::" + accountA + ":role/app"
	seedSecret = "arn:aws:secretsmanager:us-east-1:" + accountA + ":secret:prod/db-AbCdEf"
	seedKeyID  = "1234abcd-12ab-34cd-56ef-1234567890ab"
	seedKey    = "arn:aws:kms:us-east-1:" + accountA + ":key/" + seedKeyID

	readerIdentity = `{"Version":"2012-10-17","Statement":[
		{"Effect":"Allow","Action":"secretsmanager:GetSecretValue","Resource":"` + seedSecret + `"},
		{"Effect":"Allow","Action":"kms:Decrypt","Resource":"` + seedKey + `"}]}`
	readerSecretPolicy = `{"Version":"2012-10-17","Statement":{"Effect":"Allow",
		"Principal":{"AWS":"` + readerRole + `"},"Action":"secretsmanager:GetSecretValue","Resource":"*"}}`
	rootOnlyKeyPolicy = `{"Version":"2012-10-17","Statement":{"Effect":"Allow",
		"Principal":{"AWS":"arn:aws:iam::` + accountA + `:root"},"Action":"kms:*","Resource":"*"}}`
	readerKeyPolicy = `{"Version":"2012-10-17","Statement":[
		{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::` + accountA + `:root"},"Action":"kms:*","Resource":"*"},
		{"Effect":"Allow","Principal":{"AWS":"` + readerRole + `"},"Action":"kms:Decrypt","Resource":"*",
		 "Condition":{"StringEquals":{"kms:ViaService":"secretsmanager.us-east-1.amazonaws.com"}}}]}`
)

// readerKeyPolicyAll lets role reader of account B use the key directly.
const readerKeyPolicyAll = `{"Version":"2012-10-17","Statement":[
	{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::` + accountA + `:root"},"Action":"kms:*","Resource":"*"},
	{"Effect":"Allow","Principal":{"AWS":"` + readerRole + `"},"Action":["kms:Encrypt","kms:Decrypt","kms:DescribeKey"],"Resource":"*"}]}`

// newIAMServer starts an emulator of account A enforcing IAM, and returns
// it with Secrets Manager and KMS clients of A's root user.
func newIAMServer(t *testing.T) (*awsemu.Server, *secretsmanager.Client, *kms.Client) {
	t.Helper()
	srv := awsemu.New(t, func(o *awsemu.Options) { o.AccountID, o.EnforceIAM = accountA, true })
	return srv, smAs(srv, ""), kmsAs(srv, "")
}

// smAs returns a Secrets Manager client signing with access key akid ("":
// the root user's AWSConfig), without retries so calls are counted once.
func smAs(srv *awsemu.Server, akid string) *secretsmanager.Client {
	cfg := srv.AWSConfig()
	if akid != "" {
		cfg = srv.AWSConfigAs(akid)
	}
	return secretsmanager.NewFromConfig(cfg, func(o *secretsmanager.Options) { o.RetryMaxAttempts = 1 })
}

func kmsAs(srv *awsemu.Server, akid string) *kms.Client {
	cfg := srv.AWSConfig()
	if akid != "" {
		cfg = srv.AWSConfigAs(akid)
	}
	return kms.NewFromConfig(cfg, func(o *kms.Options) { o.RetryMaxAttempts = 1 })
}

// requireDenied asserts that err is AWS's AccessDeniedException with message msg.
func requireDenied(t *testing.T, err error, msg string) {
	t.Helper()
	var ae smithy.APIError
	require.True(t, errors.As(err, &ae), "want an API error, got %v", err)
	require.Equal(t, "AccessDeniedException", ae.ErrorCode(), "error: %v", err)
	require.Equal(t, msg, ae.ErrorMessage())
}

func TestIAMUnknownAccessKey(t *testing.T) {
	t.Parallel()
	srv, _, _ := newIAMServer(t)
	_, err := smAs(srv, "AKIAUNKNOWN").ListSecrets(t.Context(), &secretsmanager.ListSecretsInput{})
	var ae smithy.APIError
	require.ErrorAs(t, err, &ae)
	require.Equal(t, "UnrecognizedClientException", ae.ErrorCode())
	require.Equal(t, "The security token included in the request is invalid.", ae.ErrorMessage())

	// An unsigned request, and an operation the emulator does not serve.
	for _, tc := range []struct{ auth, target, code string }{
		{"", "secretsmanager.ListSecrets", "MissingAuthenticationTokenException"},
		{"AWS4-HMAC-SHA256 Credential=" + "AKIAAWSEMU0000000000/20260101/us-east-1/secretsmanager/aws4_request, SignedHeaders=host, Signature=00", "secretsmanager.NoSuchOp", "UnknownOperationException"},
	} {
		req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, srv.URL, strings.NewReader(`{"SecretId":"x"}`))
		require.NoError(t, err)
		req.Header.Set("X-Amz-Target", tc.target)
		req.Header.Set("Content-Type", "application/x-amz-json-1.1")
		if tc.auth != "" {
			req.Header.Set("Authorization", tc.auth)
		}
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		require.NoError(t, err)
		require.Equal(t, http.StatusBadRequest, resp.StatusCode)
		require.Contains(t, string(body), `"__type":"`+tc.code+`"`)
	}

	// Without EnforceIAM any key may do anything, as before.
	open := awsemu.New(t)
	_, err = smAs(open, "AKIAUNKNOWN").ListSecrets(t.Context(), &secretsmanager.ListSecretsInput{})
	require.NoError(t, err)
}

func TestIAMAddPrincipalRejectsBadInput(t *testing.T) {
	t.Parallel()
	srv := awsemu.New(t, func(o *awsemu.Options) { o.EnforceIAM = true })
	for _, tc := range []struct{ name, akid, arn, doc string }{
		{"empty key", "", appRole, ""},
		{"slash in key", "AKIA/X", appRole, ""},
		{"not an ARN", "AKIA1", "app", ""},
		{"service principal", "AKIA1", "secretsmanager.amazonaws.com", ""},
		{"bad account", "AKIA1", "arn:aws:iam::1234:role/app", ""},
		{"session without name", "AKIA1", "arn:aws:sts::111122223333:assumed-role/app", ""},
		{"malformed policy", "AKIA1", appRole, `{"Statement":`},
		{"policy without effect", "AKIA1", appRole, `{"Version":"2012-10-17","Statement":{"Action":"*","Resource":"*"}}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var docs []string
			if tc.doc != "" {
				docs = append(docs, tc.doc)
			}
			err := srv.AddPrincipal(tc.akid, tc.arn, docs...)
			require.Error(t, err)
			require.True(t, strings.HasPrefix(err.Error(), "awsemu: "), err.Error())
		})
	}
	for _, arn := range []string{appRole, "arn:aws:iam::" + accountB + ":user/path/alice", "arn:aws:sts::" + accountB + ":assumed-role/reader/s-1", "arn:aws:iam::" + accountB + ":root"} {
		require.NoError(t, srv.AddPrincipal("AKIAOK", arn), arn)
	}
}

// TestIAMCrossAccountRead is the seed scenario through the real SDK: the
// emulator and policy.CheckGetSecretValue agree at every step, and the
// emulator answers as AWS does.
func TestIAMCrossAccountRead(t *testing.T) {
	t.Parallel()
	srv, root, rootKMS := newIAMServer(t)
	awsemu.UseIDs(srv, []string{"AbCdEf"}, []string{seedKeyID})
	key, err := rootKMS.CreateKey(t.Context(), &kms.CreateKeyInput{Policy: aws.String(rootOnlyKeyPolicy)})
	require.NoError(t, err)
	require.Equal(t, seedKey, *key.KeyMetadata.Arn)
	created, err := root.CreateSecret(t.Context(), &secretsmanager.CreateSecretInput{Name: aws.String("prod/db"), KmsKeyId: aws.String(seedKey), SecretString: aws.String("s3cr3t")})
	require.NoError(t, err)
	require.Equal(t, seedSecret, *created.ARN)
	require.NoError(t, srv.AddPrincipal("AKIAREADER", readerRole, readerIdentity))
	reader := smAs(srv, "AKIAREADER")

	steps := []struct {
		name         string
		secretPolicy string
		keyPolicy    string
		deniedWith   string // "" allowed
	}{
		{"identity policy only", "", rootOnlyKeyPolicy,
			"User: " + readerRole + " is not authorized to perform: secretsmanager:GetSecretValue on resource: " + seedSecret +
				" because no resource-based policy allows the secretsmanager:GetSecretValue action"},
		{"resource policy added, key policy missing", readerSecretPolicy, rootOnlyKeyPolicy, "Access to KMS is not allowed"},
		{"all three", readerSecretPolicy, readerKeyPolicy, ""},
	}
	for _, st := range steps {
		if st.secretPolicy != "" {
			_, err := root.PutResourcePolicy(t.Context(), &secretsmanager.PutResourcePolicyInput{SecretId: aws.String("prod/db"), ResourcePolicy: aws.String(st.secretPolicy)})
			require.NoError(t, err, st.name)
		}
		_, err := rootKMS.PutKeyPolicy(t.Context(), &kms.PutKeyPolicyInput{KeyId: aws.String(seedKeyID), Policy: aws.String(st.keyPolicy), PolicyName: aws.String("default")})
		require.NoError(t, err, st.name)

		out, err := reader.GetSecretValue(t.Context(), &secretsmanager.GetSecretValueInput{SecretId: aws.String(seedSecret)})
		access := policy.SecretAccess{
			Caller: readerRole, CallerPolicies: []*policy.Document{policy.MustParse(readerIdentity)},
			Secret: seedSecret, KeyARN: seedKey, KeyManager: policy.KeyManagerCustomer, KeyPolicy: policy.MustParse(st.keyPolicy),
		}
		if st.secretPolicy != "" {
			access.SecretPolicy = policy.MustParse(st.secretPolicy)
		}
		report := policy.CheckGetSecretValue(access)
		require.Equal(t, report.Allowed, err == nil, "%s: emulator error %v, offline report:\n%s", st.name, err, report)
		if st.deniedWith == "" {
			require.NoError(t, err, st.name)
			require.Equal(t, "s3cr3t", *out.SecretString)
			continue
		}
		requireDenied(t, err, st.deniedWith)
		require.NotContains(t, err.Error(), "s3cr3t")
	}
	// Even with every policy in place, a name resolves in the caller's own
	// account: across accounts only the ARN reaches the secret.
	_, err = reader.GetSecretValue(t.Context(), &secretsmanager.GetSecretValueInput{SecretId: aws.String("prod/db")})
	requireDenied(t, err, "User: "+readerRole+" is not authorized to perform: secretsmanager:GetSecretValue on resource: arn:aws:secretsmanager:us-east-1:"+accountB+":secret:prod/db because no identity-based policy allows the secretsmanager:GetSecretValue action")
}

func TestIAMManagedKeyNeverCrossAccount(t *testing.T) {
	t.Parallel()
	srv, root, _ := newIAMServer(t)
	created, err := root.CreateSecret(t.Context(), &secretsmanager.CreateSecretInput{Name: aws.String("shared"), SecretString: aws.String("v")})
	require.NoError(t, err)
	_, err = root.PutResourcePolicy(t.Context(), &secretsmanager.PutResourcePolicyInput{SecretId: aws.String("shared"), ResourcePolicy: aws.String(
		`{"Version":"2012-10-17","Statement":{"Effect":"Allow","Principal":{"AWS":"` + readerRole + `"},"Action":"secretsmanager:*","Resource":"*"}}`)})
	require.NoError(t, err)
	require.NoError(t, srv.AddPrincipal("AKIAREADER", readerRole, `{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":["secretsmanager:*","kms:*"],"Resource":"*"}}`))
	reader := smAs(srv, "AKIAREADER")

	_, err = reader.GetSecretValue(t.Context(), &secretsmanager.GetSecretValueInput{SecretId: created.ARN})
	requireDenied(t, err, "Access to KMS is not allowed")
	_, err = reader.PutSecretValue(t.Context(), &secretsmanager.PutSecretValueInput{SecretId: created.ARN, SecretString: aws.String("w")})
	requireDenied(t, err, "Access to KMS is not allowed")
	// Metadata needs no key.
	_, err = reader.DescribeSecret(t.Context(), &secretsmanager.DescribeSecretInput{SecretId: created.ARN})
	require.NoError(t, err)
	// The same reads by a role of account A with the same identity policy work.
	require.NoError(t, srv.AddPrincipal("AKIAAPP", appRole, `{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"secretsmanager:*","Resource":"*"}}`))
	out, err := smAs(srv, "AKIAAPP").GetSecretValue(t.Context(), &secretsmanager.GetSecretValueInput{SecretId: aws.String("shared")})
	require.NoError(t, err)
	require.Equal(t, "v", *out.SecretString)
}

func TestIAMSameAccountMessages(t *testing.T) {
	t.Parallel()
	srv, root, rootKMS := newIAMServer(t)
	created, err := root.CreateSecret(t.Context(), &secretsmanager.CreateSecretInput{Name: aws.String("app/db"), SecretString: aws.String("v"),
		Tags: nil})
	require.NoError(t, err)
	arn := *created.ARN
	require.NoError(t, srv.AddPrincipal("AKIANONE", appRole))
	require.NoError(t, srv.AddPrincipal("AKIAREAD", "arn:aws:sts::"+accountA+":assumed-role/app/i-0abc",
		`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"secretsmanager:GetSecretValue","Resource":"*"},
		 {"Effect":"Deny","Action":"secretsmanager:DeleteSecret","Resource":"*"}]}`))

	_, err = smAs(srv, "AKIANONE").GetSecretValue(t.Context(), &secretsmanager.GetSecretValueInput{SecretId: aws.String("app/db")})
	requireDenied(t, err, "User: "+appRole+" is not authorized to perform: secretsmanager:GetSecretValue on resource: "+arn+" because no identity-based policy allows the secretsmanager:GetSecretValue action")
	_, err = smAs(srv, "AKIANONE").ListSecrets(t.Context(), &secretsmanager.ListSecretsInput{})
	requireDenied(t, err, "User: "+appRole+" is not authorized to perform: secretsmanager:ListSecrets because no identity-based policy allows the secretsmanager:ListSecrets action")

	reader := smAs(srv, "AKIAREAD")
	out, err := reader.GetSecretValue(t.Context(), &secretsmanager.GetSecretValueInput{SecretId: aws.String("app/db")})
	require.NoError(t, err)
	require.Equal(t, "v", *out.SecretString)
	_, err = reader.DeleteSecret(t.Context(), &secretsmanager.DeleteSecretInput{SecretId: aws.String("app/db")})
	requireDenied(t, err, "User: arn:aws:sts::"+accountA+":assumed-role/app/i-0abc is not authorized to perform: secretsmanager:DeleteSecret on resource: "+arn+" with an explicit deny in an identity-based policy")

	// A resource policy naming the session allows it directly; a Deny
	// there wins over the identity policy's Allow.
	_, err = root.PutResourcePolicy(t.Context(), &secretsmanager.PutResourcePolicyInput{SecretId: aws.String("app/db"), ResourcePolicy: aws.String(
		`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"` + appRole + `"},"Action":"secretsmanager:DescribeSecret","Resource":"*"},
		 {"Effect":"Deny","Principal":"*","Action":"secretsmanager:GetSecretValue","Resource":"*","Condition":{"StringNotEquals":{"secretsmanager:VersionStage":"AWSCURRENT"}}}]}`)})
	require.NoError(t, err)
	_, err = smAs(srv, "AKIANONE").DescribeSecret(t.Context(), &secretsmanager.DescribeSecretInput{SecretId: aws.String("app/db")})
	require.NoError(t, err, "a resource policy naming the role allows it in the same account")
	_, err = reader.GetSecretValue(t.Context(), &secretsmanager.GetSecretValueInput{SecretId: aws.String("app/db")})
	requireDenied(t, err, "User: arn:aws:sts::"+accountA+":assumed-role/app/i-0abc is not authorized to perform: secretsmanager:GetSecretValue on resource: "+arn+" with an explicit deny in a resource-based policy")
	_, err = reader.GetSecretValue(t.Context(), &secretsmanager.GetSecretValueInput{SecretId: aws.String("app/db"), VersionStage: aws.String("AWSCURRENT")})
	require.NoError(t, err, "VersionStage passed: the Deny's condition is false")

	// The root user still may do everything its resource policies allow.
	_, err = rootKMS.ListKeys(t.Context(), &kms.ListKeysInput{})
	require.NoError(t, err)
}

func TestIAMCustomerKeyWrites(t *testing.T) {
	t.Parallel()
	srv, root, rootKMS := newIAMServer(t)
	key, err := rootKMS.CreateKey(t.Context(), &kms.CreateKeyInput{})
	require.NoError(t, err)
	keyARN := *key.KeyMetadata.Arn
	require.NoError(t, srv.AddPrincipal("AKIAW", appRole, `{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"secretsmanager:*","Resource":"*"}}`))
	writer := smAs(srv, "AKIAW")

	// The default key policy delegates to IAM, and the identity policy
	// grants no kms:GenerateDataKey: creating with a value is refused, and
	// nothing is created.
	_, err = writer.CreateSecret(t.Context(), &secretsmanager.CreateSecretInput{Name: aws.String("w"), KmsKeyId: aws.String(keyARN), SecretString: aws.String("v1")})
	requireDenied(t, err, "Access to KMS is not allowed")
	_, err = root.DescribeSecret(t.Context(), &secretsmanager.DescribeSecretInput{SecretId: aws.String("w")})
	requireAPIError(t, err, "ResourceNotFoundException")

	_, err = root.CreateSecret(t.Context(), &secretsmanager.CreateSecretInput{Name: aws.String("w"), KmsKeyId: aws.String(keyARN), SecretString: aws.String("v1")})
	require.NoError(t, err)
	_, err = writer.PutSecretValue(t.Context(), &secretsmanager.PutSecretValueInput{SecretId: aws.String("w"), SecretString: aws.String("v2")})
	requireDenied(t, err, "Access to KMS is not allowed")
	_, err = writer.GetSecretValue(t.Context(), &secretsmanager.GetSecretValueInput{SecretId: aws.String("w")})
	requireDenied(t, err, "Access to KMS is not allowed")

	require.NoError(t, srv.AddPrincipal("AKIAW", appRole, `{"Version":"2012-10-17","Statement":[
		{"Effect":"Allow","Action":"secretsmanager:*","Resource":"*"},
		{"Effect":"Allow","Action":["kms:GenerateDataKey","kms:Decrypt"],"Resource":"`+keyARN+`","Condition":{"StringLike":{"kms:EncryptionContext:SecretARN":"arn:aws:secretsmanager:*:*:secret:w-*"}}}]}`))
	_, err = writer.PutSecretValue(t.Context(), &secretsmanager.PutSecretValueInput{SecretId: aws.String("w"), SecretString: aws.String("v2")})
	require.NoError(t, err)
	out, err := writer.GetSecretValue(t.Context(), &secretsmanager.GetSecretValueInput{SecretId: aws.String("w")})
	require.NoError(t, err)
	require.Equal(t, "v2", *out.SecretString)

	// Direct KMS use is decided by the same documents, without
	// kms:ViaService: this identity policy grants no kms:Encrypt.
	_, err = kmsAs(srv, "AKIAW").Encrypt(t.Context(), &kms.EncryptInput{KeyId: aws.String(keyARN), Plaintext: []byte("x")})
	requireDenied(t, err, "User: "+appRole+" is not authorized to perform: kms:Encrypt on resource: "+keyARN+" because no identity-based policy allows the kms:Encrypt action")
}

func TestIAMBatchGetSecretValue(t *testing.T) {
	t.Parallel()
	srv, root, _ := newIAMServer(t)
	a := createSecret(t, root, "team/a", "va", 1)
	b := createSecret(t, root, "team/b", "vb", 2)
	require.NoError(t, srv.AddPrincipal("AKIAB", appRole, `{"Version":"2012-10-17","Statement":[
		{"Effect":"Allow","Action":"secretsmanager:BatchGetSecretValue","Resource":"*"},
		{"Effect":"Allow","Action":"secretsmanager:GetSecretValue","Resource":"`+*a.ARN+`"}]}`))
	c := smAs(srv, "AKIAB")
	out, err := c.BatchGetSecretValue(t.Context(), &secretsmanager.BatchGetSecretValueInput{SecretIdList: []string{*a.ARN, *b.ARN}})
	require.NoError(t, err)
	require.Len(t, out.SecretValues, 1)
	require.Equal(t, "va", *out.SecretValues[0].SecretString)
	require.Len(t, out.Errors, 1)
	require.Equal(t, *b.ARN, *out.Errors[0].SecretId)
	require.Equal(t, "AccessDeniedException", *out.Errors[0].ErrorCode)
	require.Contains(t, *out.Errors[0].Message, "secretsmanager:GetSecretValue on resource: "+*b.ARN)

	// Filters list secrets, which takes ListSecrets too.
	_, err = c.BatchGetSecretValue(t.Context(), &secretsmanager.BatchGetSecretValueInput{Filters: []smtypes.Filter{{Key: smtypes.FilterNameStringTypeName, Values: []string{"team/"}}}})
	requireDenied(t, err, "User: "+appRole+" is not authorized to perform: secretsmanager:ListSecrets because no identity-based policy allows the secretsmanager:ListSecrets action")
}

// TestIAMRotationRunsAsService checks that a rotation function the emulator
// invokes is not IAM-checked itself, while its calls back are checked as
// the principal whose client it uses.
func TestIAMRotationRunsAsService(t *testing.T) {
	t.Parallel()
	srv, root, _ := newIAMServer(t)
	createSecret(t, root, "rot", "v1", 1)
	require.NoError(t, srv.AddPrincipal("AKIANOPE", appRole))
	nope := smAs(srv, "AKIANOPE")
	var callbackErr error
	srv.RegisterRotationFunc("arn:aws:lambda:us-east-1:"+accountA+":function:rot", func(ctx context.Context, step, id, tok string) error {
		if step == "createSecret" {
			_, callbackErr = nope.PutSecretValue(ctx, &secretsmanager.PutSecretValueInput{SecretId: aws.String(id), ClientRequestToken: aws.String(tok), SecretString: aws.String("v2"), VersionStages: []string{"AWSPENDING"}})
			_, err := root.PutSecretValue(ctx, &secretsmanager.PutSecretValueInput{SecretId: aws.String(id), ClientRequestToken: aws.String(tok), SecretString: aws.String("v2"), VersionStages: []string{"AWSPENDING"}})
			return err
		}
		if step == "finishSecret" {
			d, err := root.DescribeSecret(ctx, &secretsmanager.DescribeSecretInput{SecretId: aws.String(id)})
			if err != nil {
				return err
			}
			var cur string
			for v, st := range d.VersionIdsToStages {
				for _, s := range st {
					if s == "AWSCURRENT" {
						cur = v
					}
				}
			}
			_, err = root.UpdateSecretVersionStage(ctx, &secretsmanager.UpdateSecretVersionStageInput{SecretId: aws.String(id), VersionStage: aws.String("AWSCURRENT"), MoveToVersionId: aws.String(tok), RemoveFromVersionId: aws.String(cur)})
			return err
		}
		return nil
	})
	_, err := root.RotateSecret(t.Context(), &secretsmanager.RotateSecretInput{SecretId: aws.String("rot"), RotationLambdaARN: aws.String("arn:aws:lambda:us-east-1:" + accountA + ":function:rot"), ClientRequestToken: aws.String(token(9))})
	require.NoError(t, err)
	require.Contains(t, callbackErr.Error(), "is not authorized to perform: secretsmanager:PutSecretValue")
	require.Equal(t, "v2", getString(t, root, &secretsmanager.GetSecretValueInput{SecretId: aws.String("rot")}))
	_, err = nope.RotateSecret(t.Context(), &secretsmanager.RotateSecretInput{SecretId: aws.String("rot")})
	requireAPIError(t, err, "AccessDeniedException")
}

// TestIAMForeignAccount checks what a principal of another account sees:
// its own, empty, account for names and lists, and the server's resources
// by ARN when both sides' policies allow.
func TestIAMForeignAccount(t *testing.T) {
	t.Parallel()
	srv, root, rootKMS := newIAMServer(t)
	key, err := rootKMS.CreateKey(t.Context(), &kms.CreateKeyInput{Policy: aws.String(readerKeyPolicyAll)})
	require.NoError(t, err)
	keyARN := *key.KeyMetadata.Arn
	createSecret(t, root, "mine", "v", 1)
	require.NoError(t, srv.AddPrincipal("AKIAB", readerRole, `{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":["secretsmanager:*","kms:*"],"Resource":"*"}}`))
	sm, km := smAs(srv, "AKIAB"), kmsAs(srv, "AKIAB")

	list, err := sm.ListSecrets(t.Context(), &secretsmanager.ListSecretsInput{})
	require.NoError(t, err)
	require.Empty(t, list.SecretList, "account B holds no secrets")
	_, err = sm.DescribeSecret(t.Context(), &secretsmanager.DescribeSecretInput{SecretId: aws.String("mine")})
	requireAPIError(t, err, "ResourceNotFoundException")
	_, err = sm.CreateSecret(t.Context(), &secretsmanager.CreateSecretInput{Name: aws.String("theirs"), SecretString: aws.String("v")})
	requireAPIError(t, err, "AccessDeniedException")
	require.Contains(t, err.Error(), "holds resources of account "+accountA+" only")

	keys, err := km.ListKeys(t.Context(), &kms.ListKeysInput{})
	require.NoError(t, err)
	require.Empty(t, keys.Keys)
	_, err = km.DescribeKey(t.Context(), &kms.DescribeKeyInput{KeyId: key.KeyMetadata.KeyId})
	requireAPIError(t, err, "NotFoundException")

	// By ARN, the key policy (which names role reader) and the identity
	// policy both allow: cross-account use works, and decryption finds the
	// key from the ciphertext.
	enc, err := km.Encrypt(t.Context(), &kms.EncryptInput{KeyId: aws.String(keyARN), Plaintext: []byte("hello")})
	require.NoError(t, err)
	dec, err := km.Decrypt(t.Context(), &kms.DecryptInput{CiphertextBlob: enc.CiphertextBlob})
	require.NoError(t, err)
	require.Equal(t, "hello", string(dec.Plaintext))
	_, err = km.DisableKey(t.Context(), &kms.DisableKeyInput{KeyId: aws.String(keyARN)})
	requireDenied(t, err, "User: "+readerRole+" is not authorized to perform: kms:DisableKey on resource: "+keyARN+" because no resource-based policy allows the kms:DisableKey action")
}

// TestIAMRequestContext checks the global condition keys the emulator
// sends: principal tags, the Server's clock, and aws:SecureTransport true,
// so the usual "deny insecure transport" statement does not deny SDK calls.
func TestIAMRequestContext(t *testing.T) {
	t.Parallel()
	srv, root, _ := newIAMServer(t)
	created := createSecret(t, root, "abac", "v", 1)
	_, err := root.TagResource(t.Context(), &secretsmanager.TagResourceInput{SecretId: created.ARN, Tags: []smtypes.Tag{{Key: aws.String("team"), Value: aws.String("blue")}}})
	require.NoError(t, err)
	_, err = root.PutResourcePolicy(t.Context(), &secretsmanager.PutResourcePolicyInput{SecretId: created.ARN, ResourcePolicy: aws.String(
		`{"Version":"2012-10-17","Statement":{"Effect":"Deny","Principal":"*","Action":"secretsmanager:*","Resource":"*","Condition":{"Bool":{"aws:SecureTransport":"false"}}}}`)})
	require.NoError(t, err)
	require.NoError(t, srv.AddPrincipal("AKIATAG", appRole, `{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"secretsmanager:GetSecretValue","Resource":"*",
		"Condition":{"StringEquals":{"aws:ResourceTag/team":"${aws:PrincipalTag/team}"},"DateLessThan":{"aws:CurrentTime":"2030-01-01T00:00:00Z"}}}}`))
	c := smAs(srv, "AKIATAG")

	_, err = c.GetSecretValue(t.Context(), &secretsmanager.GetSecretValueInput{SecretId: created.ARN})
	requireAPIError(t, err, "AccessDeniedException") // untagged principal
	require.Error(t, srv.TagPrincipal("AKIAUNKNOWN", map[string]string{"team": "blue"}))
	require.NoError(t, srv.TagPrincipal("AKIATAG", map[string]string{"team": "blue"}))
	_, err = c.GetSecretValue(t.Context(), &secretsmanager.GetSecretValueInput{SecretId: created.ARN})
	require.NoError(t, err)

	srv.SetClock(func() time.Time { return time.Date(2031, 1, 1, 0, 0, 0, 0, time.UTC) })
	_, err = c.GetSecretValue(t.Context(), &secretsmanager.GetSecretValueInput{SecretId: created.ARN})
	requireAPIError(t, err, "AccessDeniedException")
}

// TestIAMBoundaryAndSCPs checks that permissions boundaries and SCPs cap
// what identity policies allow, and that denials name them as AWS does.
func TestIAMBoundaryAndSCPs(t *testing.T) {
	t.Parallel()
	srv, root, _ := newIAMServer(t)
	arn := *createSecret(t, root, "capped", "v", 1).ARN
	const all = `{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"*","Resource":"*"}}`
	require.NoError(t, srv.AddPrincipal("AKIACAP", appRole, all))
	c := smAs(srv, "AKIACAP")
	get := &secretsmanager.GetSecretValueInput{SecretId: aws.String(arn)}
	prefix := "User: " + appRole + " is not authorized to perform: secretsmanager:GetSecretValue on resource: " + arn + " "

	require.NoError(t, srv.SetPermissionsBoundary("AKIACAP", `{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"secretsmanager:DescribeSecret","Resource":"*"}}`))
	_, err := c.GetSecretValue(t.Context(), get)
	requireDenied(t, err, prefix+"because no permissions boundary allows the secretsmanager:GetSecretValue action")
	require.NoError(t, srv.SetPermissionsBoundary("AKIACAP", `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"*","Resource":"*"},{"Effect":"Deny","Action":"secretsmanager:GetSecretValue","Resource":"*"}]}`))
	_, err = c.GetSecretValue(t.Context(), get)
	requireDenied(t, err, prefix+"with an explicit deny in a permissions boundary")
	require.NoError(t, srv.SetPermissionsBoundary("AKIACAP", ""))
	_, err = c.GetSecretValue(t.Context(), get)
	require.NoError(t, err)

	require.NoError(t, srv.SetSCPs(accountA, all, `{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"kms:*","Resource":"*"}}`))
	_, err = c.GetSecretValue(t.Context(), get)
	requireDenied(t, err, prefix+"because no service control policy allows the secretsmanager:GetSecretValue action")
	require.NoError(t, srv.SetSCPs(accountA, `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"*","Resource":"*"},{"Effect":"Deny","Action":"secretsmanager:*","Resource":"*","Condition":{"StringNotEquals":{"aws:RequestedRegion":"eu-west-1"}}}]}`))
	_, err = c.GetSecretValue(t.Context(), get)
	requireDenied(t, err, prefix+"with an explicit deny in a service control policy")
	require.NoError(t, srv.SetSCPs(accountA))
	_, err = c.GetSecretValue(t.Context(), get)
	require.NoError(t, err)

	require.Error(t, srv.SetPermissionsBoundary("AKIANOBODY", all))
	require.Error(t, srv.SetPermissionsBoundary("AKIACAP", `{"Statement":`))
	require.Error(t, srv.SetSCPs("1234", all))
	require.Error(t, srv.SetSCPs(accountA, `{"Statement":`))
}
