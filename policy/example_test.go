package policy_test

import (
	"fmt"

	"github.com/rekeyhq/rekey/policy"
)

// A role in account 444455556666 reads a secret of account 111122223333.
// Its identity policy and the secret's resource policy allow the read, but
// the key policy of the customer managed key still names only the owner.
func ExampleCheckGetSecretValue() {
	report := policy.CheckGetSecretValue(policy.SecretAccess{
		Caller: "arn:aws:iam::444455556666:role/reader",
		CallerPolicies: []*policy.Document{policy.MustParse(`{
			"Version": "2012-10-17",
			"Statement": {"Effect": "Allow", "Action": ["secretsmanager:GetSecretValue", "kms:Decrypt"], "Resource": "*"}}`)},
		Secret: "arn:aws:secretsmanager:us-east-1:111122223333:secret:prod/db-AbCdEf",
		SecretPolicy: policy.MustParse(`{
			"Version": "2012-10-17",
			"Statement": {"Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::444455556666:role/reader"},
			              "Action": "secretsmanager:GetSecretValue", "Resource": "*"}}`),
		KeyARN:     "arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab",
		KeyManager: policy.KeyManagerCustomer,
		KeyPolicy: policy.MustParse(`{
			"Version": "2012-10-17",
			"Statement": {"Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::111122223333:root"}, "Action": "kms:*", "Resource": "*"}}`),
	})
	fmt.Print(report)
	// Output:
	// GetSecretValue arn:aws:secretsmanager:us-east-1:111122223333:secret:prod/db-AbCdEf
	//   by arn:aws:iam::444455556666:role/reader (cross-account)
	//   key arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab (cross-account)
	// result: DENIED
	//   FAIL KMS key policy: the KMS key policy does not allow kms:Decrypt for arn:aws:iam::444455556666:role/reader
	//        fix: add this statement to the key policy of arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab: {"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::444455556666:role/reader"},"Action":"kms:Decrypt","Resource":"*","Condition":{"StringEquals":{"kms:ViaService":"secretsmanager.us-east-1.amazonaws.com"}}}
	//   ok   secret policy: resource policy Statement[0] allows secretsmanager:GetSecretValue for arn:aws:iam::444455556666:role/reader
	//   ok   identity policy: identity policy 1 Statement[0] allows secretsmanager:GetSecretValue on the secret
	//   ok   KMS identity policy: identity policy 1 Statement[0] allows kms:Decrypt on the key
}

func ExampleLint() {
	doc := policy.MustParse(`{
		"Version": "2012-10-17",
		"Statement": [
			{"Sid": "Everyone", "Effect": "Allow", "Principal": "*", "Action": "secretsmanager:GetSecretValue", "Resource": "*"},
			{"Sid": "Reader", "Effect": "Allow", "Principal": {"AWS": "444455556666"}, "Action": "secretsmanager:GetSecretValue", "Resource": "*",
			 "Condition": {"StringEquals": {"secretsmanager:VersionStage": "AWSCURRENT"}}}
		]}`)
	for _, f := range policy.Lint(doc) {
		fmt.Println(f)
	}
	// Output:
	// Statement[0] (Sid "Everyone"): broad-access: grants access to every principal ("*") without a condition that pins aws:PrincipalAccount, aws:PrincipalOrgID, aws:PrincipalArn, aws:SourceAccount, aws:SourceVpce or the like to fixed values; BlockPublicPolicy rejects this policy
	// Statement[1] (Sid "Reader"): version-stage-blocks-read: StringEquals on secretsmanager:VersionStage allows only callers that pass VersionStage; a plain GetSecretValue carries no VersionStage key and is denied. Use StringEqualsIfExists to allow plain reads too
}

func ExampleEvaluate() {
	res := policy.Evaluate(policy.Request{
		Principal: "arn:aws:sts::444455556666:assumed-role/reader/ci",
		Action:    "secretsmanager:GetSecretValue",
		Resource:  "arn:aws:secretsmanager:us-east-1:111122223333:secret:prod/db-AbCdEf",
	}, policy.Policies{
		Identity: []*policy.Document{policy.MustParse(`{"Version": "2012-10-17",
			"Statement": {"Effect": "Allow", "Action": "secretsmanager:GetSecretValue", "Resource": "*"}}`)},
	})
	fmt.Println(res.Decision)
	for _, r := range res.Reasons {
		fmt.Println(r)
	}
	// Output:
	// ImplicitDeny
	// no resource policy allows secretsmanager:GetSecretValue for arn:aws:sts::444455556666:assumed-role/reader/ci (there is none): a request from account 444455556666 to a resource of account 111122223333 needs the resource policy to allow it
}
