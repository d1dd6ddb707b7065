package awsemu_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/kms/types"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	smtypes "github.com/aws/aws-sdk-go-v2/service/secretsmanager/types"
	"github.com/aws/smithy-go"
	"github.com/stretchr/testify/require"

	"github.com/rekeyhq/rekey/internal/awsemu"
)

func newKMS(t *testing.T, optFns ...func(*awsemu.Options)) (*awsemu.Server, *kms.Client) {
	t.Helper()
	srv := awsemu.New(t, optFns...)
	return srv, kms.NewFromConfig(srv.AWSConfig(), func(o *kms.Options) { o.RetryMaxAttempts = 1 })
}

func createKey(t *testing.T, c *kms.Client, policy *string) types.KeyMetadata {
	t.Helper()
	out, err := c.CreateKey(t.Context(), &kms.CreateKeyInput{Policy: policy, Description: aws.String("test key")})
	require.NoError(t, err)
	return *out.KeyMetadata
}

// requireAPIError asserts that err is an AWS error with the given code, as
// for errors the SDK does not model for KMS (AccessDeniedException).
func requireAPIError(t *testing.T, err error, code string) {
	t.Helper()
	var ae smithy.APIError
	require.ErrorAs(t, err, &ae)
	require.Equal(t, code, ae.ErrorCode(), "message: %s", ae.ErrorMessage())
}

func TestKMSCreateKeyDefaultPolicy(t *testing.T) {
	t.Parallel()
	srv, c := newKMS(t, func(o *awsemu.Options) { o.AccountID = "111122223333"; o.Region = "eu-west-1" })
	created := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	srv.SetClock(func() time.Time { return created })

	md := createKey(t, c, nil)
	require.Equal(t, "arn:aws:kms:eu-west-1:111122223333:key/"+*md.KeyId, *md.Arn)
	require.Equal(t, "111122223333", *md.AWSAccountId)
	require.Equal(t, types.KeyManagerTypeCustomer, md.KeyManager)
	require.Equal(t, types.KeyStateEnabled, md.KeyState)
	require.True(t, md.Enabled)
	require.Equal(t, "test key", *md.Description)
	require.Equal(t, types.KeyUsageTypeEncryptDecrypt, md.KeyUsage)
	require.Equal(t, types.KeySpecSymmetricDefault, md.KeySpec)
	require.Equal(t, types.OriginTypeAwsKms, md.Origin)
	require.Equal(t, []types.EncryptionAlgorithmSpec{types.EncryptionAlgorithmSpecSymmetricDefault}, md.EncryptionAlgorithms)
	require.True(t, created.Equal(*md.CreationDate), "CreationDate %v", md.CreationDate)

	pol, err := c.GetKeyPolicy(t.Context(), &kms.GetKeyPolicyInput{KeyId: md.KeyId})
	require.NoError(t, err)
	require.Equal(t, "default", *pol.PolicyName)
	var doc struct {
		Statement []struct {
			Effect    string
			Principal struct{ AWS string }
			Action    string
			Resource  string
		}
	}
	require.NoError(t, json.Unmarshal([]byte(*pol.Policy), &doc))
	require.Len(t, doc.Statement, 1)
	s := doc.Statement[0]
	require.Equal(t, "Allow", s.Effect)
	require.Equal(t, "arn:aws:iam::111122223333:root", s.Principal.AWS)
	require.Equal(t, "kms:*", s.Action)
	require.Equal(t, "*", s.Resource)
}

func TestKMSKeyPolicy(t *testing.T) {
	t.Parallel()
	_, c := newKMS(t)
	custom := `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::123456789012:role/app"},"Action":"kms:Decrypt","Resource":"*"}]}`
	md := createKey(t, c, aws.String(custom))

	get := func(keyID string) string {
		t.Helper()
		out, err := c.GetKeyPolicy(t.Context(), &kms.GetKeyPolicyInput{KeyId: aws.String(keyID), PolicyName: aws.String("default")})
		require.NoError(t, err)
		return *out.Policy
	}
	require.Equal(t, custom, get(*md.KeyId))

	replaced := strings.Replace(custom, "kms:Decrypt", "kms:*", 1)
	_, err := c.PutKeyPolicy(t.Context(), &kms.PutKeyPolicyInput{KeyId: md.Arn, Policy: aws.String(replaced)})
	require.NoError(t, err)
	require.Equal(t, replaced, get(*md.Arn), "by key ARN")

	_, err = c.PutKeyPolicy(t.Context(), &kms.PutKeyPolicyInput{KeyId: md.KeyId, Policy: aws.String("{not json")})
	var malformed *types.MalformedPolicyDocumentException
	require.ErrorAs(t, err, &malformed)
	require.Equal(t, replaced, get(*md.KeyId), "a refused policy changes nothing")

	_, err = c.CreateKey(t.Context(), &kms.CreateKeyInput{Policy: aws.String(`{"Version":"2012-10-17"}`)})
	require.ErrorAs(t, err, &malformed)

	_, err = c.GetKeyPolicy(t.Context(), &kms.GetKeyPolicyInput{KeyId: md.KeyId, PolicyName: aws.String("other")})
	var nf *types.NotFoundException
	require.ErrorAs(t, err, &nf)
}

func TestKMSManagedSecretsManagerKey(t *testing.T) {
	t.Parallel()
	srv, c := newKMS(t)
	out, err := c.DescribeKey(t.Context(), &kms.DescribeKeyInput{KeyId: aws.String("alias/aws/secretsmanager")})
	require.NoError(t, err)
	md := out.KeyMetadata
	require.Equal(t, types.KeyManagerTypeAws, md.KeyManager)
	require.Equal(t, types.KeyStateEnabled, md.KeyState)

	pol, err := c.GetKeyPolicy(t.Context(), &kms.GetKeyPolicyInput{KeyId: md.KeyId})
	require.NoError(t, err)
	require.Contains(t, *pol.Policy, `"kms:ViaService": "secretsmanager.`+srv.Region()+`.amazonaws.com"`)
	require.Contains(t, *pol.Policy, `"kms:CallerAccount": "`+srv.AccountID()+`"`)

	// Its policy allows no administration and use only via Secrets Manager.
	_, err = c.DisableKey(t.Context(), &kms.DisableKeyInput{KeyId: md.KeyId})
	requireAPIError(t, err, "AccessDeniedException")
	_, err = c.PutKeyPolicy(t.Context(), &kms.PutKeyPolicyInput{KeyId: md.KeyId, Policy: aws.String(`{"Statement":[]}`)})
	requireAPIError(t, err, "AccessDeniedException")
	_, err = c.ScheduleKeyDeletion(t.Context(), &kms.ScheduleKeyDeletionInput{KeyId: md.Arn})
	requireAPIError(t, err, "AccessDeniedException")
	_, err = c.Encrypt(t.Context(), &kms.EncryptInput{KeyId: aws.String("alias/aws/secretsmanager"), Plaintext: []byte("x")})
	requireAPIError(t, err, "AccessDeniedException")

	again, err := c.DescribeKey(t.Context(), &kms.DescribeKeyInput{KeyId: md.Arn})
	require.NoError(t, err)
	require.True(t, again.KeyMetadata.Enabled)
}

func TestKMSAliases(t *testing.T) {
	t.Parallel()
	srv, c := newKMS(t)
	md := createKey(t, c, nil)
	_, err := c.CreateAlias(t.Context(), &kms.CreateAliasInput{AliasName: aws.String("alias/app/db"), TargetKeyId: md.KeyId})
	require.NoError(t, err)

	aliasARN := "arn:aws:kms:" + srv.Region() + ":" + srv.AccountID() + ":alias/app/db"
	for _, id := range []string{"alias/app/db", aliasARN, *md.KeyId, *md.Arn} {
		out, err := c.DescribeKey(t.Context(), &kms.DescribeKeyInput{KeyId: aws.String(id)})
		require.NoError(t, err, id)
		require.Equal(t, *md.KeyId, *out.KeyMetadata.KeyId, id)
	}
	enc, err := c.Encrypt(t.Context(), &kms.EncryptInput{KeyId: aws.String("alias/app/db"), Plaintext: []byte("hi")})
	require.NoError(t, err)
	require.Equal(t, *md.Arn, *enc.KeyId, "Encrypt answers with the key ARN")

	_, err = c.CreateAlias(t.Context(), &kms.CreateAliasInput{AliasName: aws.String("alias/app/db"), TargetKeyId: md.KeyId})
	var exists *types.AlreadyExistsException
	require.ErrorAs(t, err, &exists)
	require.Contains(t, *exists.Message, aliasARN)

	_, err = c.CreateAlias(t.Context(), &kms.CreateAliasInput{AliasName: aws.String("app/db2"), TargetKeyId: md.KeyId})
	var badName *types.InvalidAliasNameException
	require.ErrorAs(t, err, &badName)
	_, err = c.CreateAlias(t.Context(), &kms.CreateAliasInput{AliasName: aws.String("alias/aws/mine"), TargetKeyId: md.KeyId})
	requireAPIError(t, err, "NotAuthorizedException")
	_, err = c.CreateAlias(t.Context(), &kms.CreateAliasInput{AliasName: aws.String("alias/x"), TargetKeyId: aws.String("00000000-0000-4000-8000-000000000000")})
	var nf *types.NotFoundException
	require.ErrorAs(t, err, &nf)

	all, err := c.ListAliases(t.Context(), &kms.ListAliasesInput{})
	require.NoError(t, err)
	names := map[string]string{}
	for _, a := range all.Aliases {
		names[*a.AliasName] = *a.TargetKeyId
		require.Equal(t, "arn:aws:kms:"+srv.Region()+":"+srv.AccountID()+":"+*a.AliasName, *a.AliasArn)
	}
	require.Equal(t, *md.KeyId, names["alias/app/db"])
	require.Contains(t, names, "alias/aws/secretsmanager")

	mine, err := c.ListAliases(t.Context(), &kms.ListAliasesInput{KeyId: md.KeyId})
	require.NoError(t, err)
	require.Len(t, mine.Aliases, 1)
	require.Equal(t, "alias/app/db", *mine.Aliases[0].AliasName)

	// Pagination visits every alias once.
	var seen []string
	p := kms.NewListAliasesPaginator(c, &kms.ListAliasesInput{Limit: aws.Int32(1)})
	for p.HasMorePages() {
		pg, err := p.NextPage(t.Context())
		require.NoError(t, err)
		require.LessOrEqual(t, len(pg.Aliases), 1)
		for _, a := range pg.Aliases {
			seen = append(seen, *a.AliasName)
		}
	}
	require.Equal(t, []string{"alias/app/db", "alias/aws/secretsmanager"}, seen)
}

func TestKMSEnableDisable(t *testing.T) {
	t.Parallel()
	srv, c := newKMS(t)
	md := createKey(t, c, nil)
	enc, err := c.Encrypt(t.Context(), &kms.EncryptInput{KeyId: md.KeyId, Plaintext: []byte("before")})
	require.NoError(t, err)

	state := func() types.KeyMetadata {
		t.Helper()
		out, err := c.DescribeKey(t.Context(), &kms.DescribeKeyInput{KeyId: md.KeyId})
		require.NoError(t, err)
		return *out.KeyMetadata
	}

	_, err = c.DisableKey(t.Context(), &kms.DisableKeyInput{KeyId: md.Arn})
	require.NoError(t, err)
	got := state()
	require.Equal(t, types.KeyStateDisabled, got.KeyState)
	require.False(t, got.Enabled)

	var disabled *types.DisabledException
	_, err = c.Encrypt(t.Context(), &kms.EncryptInput{KeyId: md.KeyId, Plaintext: []byte("x")})
	require.ErrorAs(t, err, &disabled)
	require.Equal(t, *md.Arn+" is disabled.", *disabled.Message)
	_, err = c.Decrypt(t.Context(), &kms.DecryptInput{CiphertextBlob: enc.CiphertextBlob})
	require.ErrorAs(t, err, &disabled)
	_, err = c.GenerateDataKey(t.Context(), &kms.GenerateDataKeyInput{KeyId: md.KeyId, KeySpec: types.DataKeySpecAes256})
	require.ErrorAs(t, err, &disabled)

	_, err = c.EnableKey(t.Context(), &kms.EnableKeyInput{KeyId: md.KeyId})
	require.NoError(t, err)
	got = state()
	require.Equal(t, types.KeyStateEnabled, got.KeyState)
	require.True(t, got.Enabled)
	dec, err := c.Decrypt(t.Context(), &kms.DecryptInput{CiphertextBlob: enc.CiphertextBlob})
	require.NoError(t, err)
	require.Equal(t, "before", string(dec.Plaintext))
	require.EqualValues(t, 1, srv.Calls("DisableKey"))
	require.EqualValues(t, 2, srv.Calls("Decrypt"))
}

func TestKMSEncryptDecrypt(t *testing.T) {
	t.Parallel()
	_, c := newKMS(t)
	md := createKey(t, c, nil)
	other := createKey(t, c, nil)
	ec := map[string]string{"tenant": "a", "purpose": "test"}
	plaintext := []byte("attack at dawn")

	enc, err := c.Encrypt(t.Context(), &kms.EncryptInput{KeyId: md.KeyId, Plaintext: plaintext, EncryptionContext: ec})
	require.NoError(t, err)
	require.Equal(t, types.EncryptionAlgorithmSpecSymmetricDefault, enc.EncryptionAlgorithm)
	require.False(t, bytes.Contains(enc.CiphertextBlob, plaintext), "ciphertext leaks plaintext")

	dec, err := c.Decrypt(t.Context(), &kms.DecryptInput{CiphertextBlob: enc.CiphertextBlob, EncryptionContext: ec})
	require.NoError(t, err, "no KeyId: the blob names its key")
	require.Equal(t, plaintext, dec.Plaintext)
	require.Equal(t, *md.Arn, *dec.KeyId)

	dec, err = c.Decrypt(t.Context(), &kms.DecryptInput{CiphertextBlob: enc.CiphertextBlob, EncryptionContext: ec, KeyId: md.Arn})
	require.NoError(t, err)
	require.Equal(t, plaintext, dec.Plaintext)

	again, err := c.Encrypt(t.Context(), &kms.EncryptInput{KeyId: md.KeyId, Plaintext: plaintext, EncryptionContext: ec})
	require.NoError(t, err)
	require.NotEqual(t, enc.CiphertextBlob, again.CiphertextBlob, "fresh nonce per Encrypt")

	tampered := func(i int) []byte {
		b := bytes.Clone(enc.CiphertextBlob)
		b[i] ^= 0x01
		return b
	}
	for name, in := range map[string]*kms.DecryptInput{
		"wrong context":     {CiphertextBlob: enc.CiphertextBlob, EncryptionContext: map[string]string{"tenant": "b", "purpose": "test"}},
		"missing context":   {CiphertextBlob: enc.CiphertextBlob},
		"extra context":     {CiphertextBlob: enc.CiphertextBlob, EncryptionContext: map[string]string{"tenant": "a", "purpose": "test", "x": "y"}},
		"tampered tag":      {CiphertextBlob: tampered(len(enc.CiphertextBlob) - 1), EncryptionContext: ec},
		"tampered body":     {CiphertextBlob: tampered(len(enc.CiphertextBlob) - 20), EncryptionContext: ec},
		"tampered nonce":    {CiphertextBlob: tampered(40), EncryptionContext: ec},
		"truncated":         {CiphertextBlob: enc.CiphertextBlob[:30], EncryptionContext: ec},
		"not a KMS blob":    {CiphertextBlob: []byte("hello, this is not ciphertext at all, not even close to it"), EncryptionContext: ec},
		"other key id body": {CiphertextBlob: append(append([]byte{enc.CiphertextBlob[0]}, *other.KeyId...), enc.CiphertextBlob[37:]...), EncryptionContext: ec},
	} {
		_, err := c.Decrypt(t.Context(), in)
		var invalid *types.InvalidCiphertextException
		require.ErrorAs(t, err, &invalid, name)
	}

	_, err = c.Decrypt(t.Context(), &kms.DecryptInput{CiphertextBlob: enc.CiphertextBlob, EncryptionContext: ec, KeyId: other.KeyId})
	var incorrect *types.IncorrectKeyException
	require.ErrorAs(t, err, &incorrect)

	_, err = c.Encrypt(t.Context(), &kms.EncryptInput{KeyId: md.KeyId, Plaintext: make([]byte, 4097)})
	requireAPIError(t, err, "ValidationException")
}

func TestKMSGenerateDataKey(t *testing.T) {
	t.Parallel()
	_, c := newKMS(t)
	md := createKey(t, c, nil)
	ec := map[string]string{"bucket": "b1"}

	for name, tc := range map[string]struct {
		in   kms.GenerateDataKeyInput
		size int
	}{
		"AES_256":  {kms.GenerateDataKeyInput{KeySpec: types.DataKeySpecAes256}, 32},
		"AES_128":  {kms.GenerateDataKeyInput{KeySpec: types.DataKeySpecAes128}, 16},
		"64 bytes": {kms.GenerateDataKeyInput{NumberOfBytes: aws.Int32(64)}, 64},
	} {
		t.Run(name, func(t *testing.T) {
			in := tc.in
			in.KeyId, in.EncryptionContext = md.KeyId, ec
			out, err := c.GenerateDataKey(t.Context(), &in)
			require.NoError(t, err)
			require.Len(t, out.Plaintext, tc.size)
			require.Equal(t, *md.Arn, *out.KeyId)
			dec, err := c.Decrypt(t.Context(), &kms.DecryptInput{CiphertextBlob: out.CiphertextBlob, EncryptionContext: ec})
			require.NoError(t, err)
			require.Equal(t, out.Plaintext, dec.Plaintext)
		})
	}

	_, err := c.GenerateDataKey(t.Context(), &kms.GenerateDataKeyInput{KeyId: md.KeyId})
	requireAPIError(t, err, "ValidationException")
	_, err = c.GenerateDataKey(t.Context(), &kms.GenerateDataKeyInput{KeyId: md.KeyId, KeySpec: types.DataKeySpecAes256, NumberOfBytes: aws.Int32(32)})
	requireAPIError(t, err, "ValidationException")
}

func TestKMSNotFound(t *testing.T) {
	t.Parallel()
	srv, c := newKMS(t)
	const missing = "11111111-2222-4333-8444-555555555555"
	missingARN := "arn:aws:kms:" + srv.Region() + ":" + srv.AccountID() + ":key/" + missing
	ctx := t.Context()
	ops := map[string]func(keyID *string) error{
		"DescribeKey": func(id *string) error {
			_, err := c.DescribeKey(ctx, &kms.DescribeKeyInput{KeyId: id})
			return err
		},
		"GetKeyPolicy": func(id *string) error {
			_, err := c.GetKeyPolicy(ctx, &kms.GetKeyPolicyInput{KeyId: id})
			return err
		},
		"EnableKey": func(id *string) error {
			_, err := c.EnableKey(ctx, &kms.EnableKeyInput{KeyId: id})
			return err
		},
		"DisableKey": func(id *string) error {
			_, err := c.DisableKey(ctx, &kms.DisableKeyInput{KeyId: id})
			return err
		},
		"Encrypt": func(id *string) error {
			_, err := c.Encrypt(ctx, &kms.EncryptInput{KeyId: id, Plaintext: []byte("x")})
			return err
		},
		"GenerateDataKey": func(id *string) error {
			_, err := c.GenerateDataKey(ctx, &kms.GenerateDataKeyInput{KeyId: id, NumberOfBytes: aws.Int32(8)})
			return err
		},
	}
	for name, op := range ops {
		ids := []string{missing, missingARN, "nope", "arn:aws:kms:" + srv.Region() + ":999999999999:key/" + missing}
		if name == "DescribeKey" || name == "Encrypt" || name == "GenerateDataKey" {
			ids = append(ids, "alias/nope") // operations that take aliases
		}
		for _, id := range ids {
			var nf *types.NotFoundException
			require.ErrorAs(t, op(aws.String(id)), &nf, "%s %s", name, id)
		}
	}

	_, err := c.DescribeKey(ctx, &kms.DescribeKeyInput{KeyId: aws.String(missing)})
	var nf *types.NotFoundException
	require.ErrorAs(t, err, &nf)
	require.Equal(t, "Key '"+missingARN+"' does not exist", *nf.Message)
}

func TestKMSScheduleAndCancelDeletion(t *testing.T) {
	t.Parallel()
	srv, c := newKMS(t)
	now := time.Date(2030, 6, 1, 0, 0, 0, 0, time.UTC)
	var mu sync.Mutex
	srv.SetClock(func() time.Time { mu.Lock(); defer mu.Unlock(); return now })
	advance := func(d time.Duration) { mu.Lock(); now = now.Add(d); mu.Unlock() }

	md := createKey(t, c, nil)
	_, err := c.CreateAlias(t.Context(), &kms.CreateAliasInput{AliasName: aws.String("alias/doomed"), TargetKeyId: md.KeyId})
	require.NoError(t, err)

	_, err = c.ScheduleKeyDeletion(t.Context(), &kms.ScheduleKeyDeletionInput{KeyId: md.KeyId, PendingWindowInDays: aws.Int32(3)})
	requireAPIError(t, err, "ValidationException")

	sched, err := c.ScheduleKeyDeletion(t.Context(), &kms.ScheduleKeyDeletionInput{KeyId: md.KeyId, PendingWindowInDays: aws.Int32(7)})
	require.NoError(t, err)
	require.Equal(t, types.KeyStatePendingDeletion, sched.KeyState)
	require.Equal(t, *md.Arn, *sched.KeyId)
	require.True(t, now.Add(7*24*time.Hour).Equal(*sched.DeletionDate))

	desc, err := c.DescribeKey(t.Context(), &kms.DescribeKeyInput{KeyId: md.KeyId})
	require.NoError(t, err)
	require.Equal(t, types.KeyStatePendingDeletion, desc.KeyMetadata.KeyState)
	require.False(t, desc.KeyMetadata.Enabled)
	require.NotNil(t, desc.KeyMetadata.DeletionDate)

	var invalidState *types.KMSInvalidStateException
	_, err = c.Encrypt(t.Context(), &kms.EncryptInput{KeyId: md.KeyId, Plaintext: []byte("x")})
	require.ErrorAs(t, err, &invalidState)
	_, err = c.EnableKey(t.Context(), &kms.EnableKeyInput{KeyId: md.KeyId})
	require.ErrorAs(t, err, &invalidState)

	_, err = c.CancelKeyDeletion(t.Context(), &kms.CancelKeyDeletionInput{KeyId: md.KeyId})
	require.NoError(t, err)
	desc, err = c.DescribeKey(t.Context(), &kms.DescribeKeyInput{KeyId: md.KeyId})
	require.NoError(t, err)
	require.Equal(t, types.KeyStateDisabled, desc.KeyMetadata.KeyState, "a canceled deletion leaves the key disabled")
	_, err = c.CancelKeyDeletion(t.Context(), &kms.CancelKeyDeletionInput{KeyId: md.KeyId})
	require.ErrorAs(t, err, &invalidState)

	_, err = c.ScheduleKeyDeletion(t.Context(), &kms.ScheduleKeyDeletionInput{KeyId: md.KeyId, PendingWindowInDays: aws.Int32(7)})
	require.NoError(t, err)
	advance(7*24*time.Hour - time.Second)
	_, err = c.DescribeKey(t.Context(), &kms.DescribeKeyInput{KeyId: md.KeyId})
	require.NoError(t, err, "still within the window")
	advance(time.Second)
	_, err = c.DescribeKey(t.Context(), &kms.DescribeKeyInput{KeyId: md.KeyId})
	var nf *types.NotFoundException
	require.ErrorAs(t, err, &nf, "deleted when the window ends")
	_, err = c.DescribeKey(t.Context(), &kms.DescribeKeyInput{KeyId: aws.String("alias/doomed")})
	require.ErrorAs(t, err, &nf, "its aliases go with it")
}

func TestKMSListKeys(t *testing.T) {
	t.Parallel()
	_, c := newKMS(t)
	want := map[string]string{}
	for range 3 {
		md := createKey(t, c, nil)
		want[*md.KeyId] = *md.Arn
	}
	got := map[string]string{}
	p := kms.NewListKeysPaginator(c, &kms.ListKeysInput{Limit: aws.Int32(2)})
	pages := 0
	for p.HasMorePages() {
		pg, err := p.NextPage(t.Context())
		require.NoError(t, err)
		pages++
		for _, k := range pg.Keys {
			require.NotContains(t, got, *k.KeyId, "listed twice")
			got[*k.KeyId] = *k.KeyArn
		}
	}
	require.Equal(t, 2, pages, "4 keys (3 + the managed key) in pages of 2")
	require.Len(t, got, 4)
	for id, arn := range want {
		require.Equal(t, arn, got[id])
	}
}

func TestKMSConcurrentUse(t *testing.T) {
	t.Parallel()
	_, c := newKMS(t)
	md := createKey(t, c, nil)
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for i := range 8 {
		wg.Go(func() {
			pt := []byte(strings.Repeat("v", i+1))
			enc, err := c.Encrypt(t.Context(), &kms.EncryptInput{KeyId: md.KeyId, Plaintext: pt})
			if err != nil {
				errs <- err
				return
			}
			dec, err := c.Decrypt(t.Context(), &kms.DecryptInput{CiphertextBlob: enc.CiphertextBlob})
			if err == nil && !bytes.Equal(dec.Plaintext, pt) {
				err = errors.New("round trip changed the plaintext")
			}
			if err != nil {
				errs <- err
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

// TestSecretsManagerCustomerKey drives the KMS side of Secrets Manager: a
// secret encrypted under a customer key is readable only while that key is
// usable, and the errors are Secrets Manager's typed ones.
func TestSecretsManagerCustomerKey(t *testing.T) {
	t.Parallel()
	srv, c := newKMS(t)
	sm := secretsmanager.NewFromConfig(srv.AWSConfig(), func(o *secretsmanager.Options) { o.RetryMaxAttempts = 1 })
	ctx := t.Context()
	const value = "s3cr3t-value"

	md := createKey(t, c, nil)
	_, err := c.CreateAlias(ctx, &kms.CreateAliasInput{AliasName: aws.String("alias/secrets"), TargetKeyId: md.KeyId})
	require.NoError(t, err)
	_, err = sm.CreateSecret(ctx, &secretsmanager.CreateSecretInput{Name: aws.String("db"), KmsKeyId: aws.String("alias/secrets"), SecretString: aws.String(value)})
	require.NoError(t, err)
	_, err = sm.CreateSecret(ctx, &secretsmanager.CreateSecretInput{Name: aws.String("plain"), SecretString: aws.String(value)})
	require.NoError(t, err)

	desc, err := sm.DescribeSecret(ctx, &secretsmanager.DescribeSecretInput{SecretId: aws.String("db")})
	require.NoError(t, err)
	require.Equal(t, *md.Arn, aws.ToString(desc.KmsKeyId), "the secret records the key the alias named")

	read := func(id string) (string, error) {
		out, err := sm.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String(id)})
		if err != nil {
			return "", err
		}
		return aws.ToString(out.SecretString), nil
	}
	got, err := read("db")
	require.NoError(t, err)
	require.Equal(t, value, got)

	_, err = c.DisableKey(ctx, &kms.DisableKeyInput{KeyId: md.KeyId})
	require.NoError(t, err)
	_, err = read("db")
	var decFail *smtypes.DecryptionFailure
	require.ErrorAs(t, err, &decFail)
	require.Contains(t, decFail.ErrorMessage(), *md.Arn+" is disabled.")
	require.NotContains(t, err.Error(), value)
	got, err = read("plain")
	require.NoError(t, err, "secrets under the managed key are unaffected")
	require.Equal(t, value, got)

	_, err = sm.PutSecretValue(ctx, &secretsmanager.PutSecretValueInput{SecretId: aws.String("db"), SecretString: aws.String("next")})
	var encFail *smtypes.EncryptionFailure
	require.ErrorAs(t, err, &encFail, "a disabled key cannot protect a new version")

	_, err = c.EnableKey(ctx, &kms.EnableKeyInput{KeyId: md.KeyId})
	require.NoError(t, err)
	got, err = read("db")
	require.NoError(t, err)
	require.Equal(t, value, got)

	_, err = c.ScheduleKeyDeletion(ctx, &kms.ScheduleKeyDeletionInput{KeyId: md.KeyId, PendingWindowInDays: aws.Int32(7)})
	require.NoError(t, err)
	_, err = read("db")
	require.ErrorAs(t, err, &decFail)
	require.Contains(t, decFail.ErrorMessage(), "pending deletion")
}

func TestSecretsManagerUnknownKey(t *testing.T) {
	t.Parallel()
	srv, c := newKMS(t)
	sm := secretsmanager.NewFromConfig(srv.AWSConfig(), func(o *secretsmanager.Options) { o.RetryMaxAttempts = 1 })
	ctx := t.Context()

	for _, keyID := range []string{
		"alias/nope",
		"11111111-2222-4333-8444-555555555555",
		"arn:aws:kms:" + srv.Region() + ":" + srv.AccountID() + ":key/11111111-2222-4333-8444-555555555555",
	} {
		_, err := sm.CreateSecret(ctx, &secretsmanager.CreateSecretInput{Name: aws.String("s"), KmsKeyId: aws.String(keyID), SecretString: aws.String("v")})
		var encFail *smtypes.EncryptionFailure
		require.ErrorAs(t, err, &encFail, keyID)
	}
	_, err := sm.DescribeSecret(ctx, &secretsmanager.DescribeSecretInput{SecretId: aws.String("s")})
	var nf *smtypes.ResourceNotFoundException
	require.ErrorAs(t, err, &nf, "a refused CreateSecret creates nothing")

	md := createKey(t, c, nil)
	_, err = sm.CreateSecret(ctx, &secretsmanager.CreateSecretInput{Name: aws.String("s"), KmsKeyId: md.KeyId, SecretString: aws.String("v")})
	require.NoError(t, err)
	_, err = sm.UpdateSecret(ctx, &secretsmanager.UpdateSecretInput{SecretId: aws.String("s"), KmsKeyId: aws.String("alias/nope")})
	var encFail *smtypes.EncryptionFailure
	require.ErrorAs(t, err, &encFail)
}
