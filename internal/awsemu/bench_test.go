package awsemu_test

import (
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/rekeyhq/rekey/internal/awsemu"
)

// BenchmarkGetSecretValue measures one GetSecretValue through the real SDK
// over loopback HTTP, without IAM (open) and with IAM enforced
// (iam/same-account: identity policy; iam/cross-account: identity,
// resource and key policies, customer managed key), to show what
// enforcement adds to a request.
func BenchmarkGetSecretValue(b *testing.B) {
	for _, mode := range []string{"open", "iam/same-account", "iam/cross-account"} {
		b.Run(mode, func(b *testing.B) {
			srv := awsemu.New(b, func(o *awsemu.Options) { o.AccountID, o.EnforceIAM = accountA, mode != "open" })
			root, rootKMS := smAs(srv, ""), kmsAs(srv, "")
			var c *secretsmanager.Client
			id := aws.String("bench")
			switch mode {
			case "open", "iam/same-account":
				createSecret(b, root, "bench", "v", 1)
				if err := srv.AddPrincipal("AKIAAPP", appRole, `{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"secretsmanager:GetSecretValue","Resource":"*"}}`); err != nil {
					b.Fatal(err)
				}
				c = smAs(srv, "AKIAAPP")
			default:
				awsemu.UseIDs(srv, []string{"AbCdEf"}, []string{seedKeyID})
				if _, err := rootKMS.CreateKey(b.Context(), &kms.CreateKeyInput{}); err != nil {
					b.Fatal(err)
				}
				if _, err := root.CreateSecret(b.Context(), &secretsmanager.CreateSecretInput{Name: aws.String("prod/db"), KmsKeyId: aws.String(seedKey), SecretString: aws.String("v")}); err != nil {
					b.Fatal(err)
				}
				if _, err := root.PutResourcePolicy(b.Context(), &secretsmanager.PutResourcePolicyInput{SecretId: aws.String(seedSecret), ResourcePolicy: aws.String(readerSecretPolicy)}); err != nil {
					b.Fatal(err)
				}
				if _, err := rootKMS.PutKeyPolicy(b.Context(), &kms.PutKeyPolicyInput{KeyId: aws.String(seedKeyID), PolicyName: aws.String("default"), Policy: aws.String(readerKeyPolicy)}); err != nil {
					b.Fatal(err)
				}
				if err := srv.AddPrincipal("AKIAREADER", readerRole, readerIdentity); err != nil {
					b.Fatal(err)
				}
				c, id = smAs(srv, "AKIAREADER"), aws.String(seedSecret)
			}
			in := &secretsmanager.GetSecretValueInput{SecretId: id}
			b.ReportAllocs()
			for b.Loop() {
				if _, err := c.GetSecretValue(b.Context(), in); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
