package awsemu_test

import (
	"context"
	"errors"
	"fmt"
	"log"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/smithy-go"

	"github.com/rekeyhq/rekey/internal/awsemu"
)

// With EnforceIAM, each access key id is a principal with its identity
// policies, and requests are decided as AWS decides them. Here a role of
// another account may read the secret by its identity policy, but the
// secret's resource policy does not allow it yet; then the key does not.
func ExampleServer_AddPrincipal() {
	srv, err := awsemu.Start(func(o *awsemu.Options) { o.AccountID, o.EnforceIAM = "111122223333", true })
	if err != nil {
		log.Fatal(err)
	}
	defer srv.Close()
	ctx := context.Background()
	owner := secretsmanager.NewFromConfig(srv.AWSConfig()) // the root user of 111122223333
	created, err := owner.CreateSecret(ctx, &secretsmanager.CreateSecretInput{Name: aws.String("prod/db"), SecretString: aws.String("pw")})
	if err != nil {
		log.Fatal(err)
	}

	const reader = "arn:aws:iam::444455556666:role/reader"
	if err := srv.AddPrincipal("AKIAREADER", reader,
		`{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"secretsmanager:GetSecretValue","Resource":"*"}}`); err != nil {
		log.Fatal(err)
	}
	sm := secretsmanager.NewFromConfig(srv.AWSConfigAs("AKIAREADER"))
	_, err = sm.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: created.ARN})
	var ae smithy.APIError
	if errors.As(err, &ae) {
		fmt.Println(ae.ErrorCode())
		fmt.Println(ae.ErrorMessage() == "User: "+reader+" is not authorized to perform: secretsmanager:GetSecretValue on resource: "+
			aws.ToString(created.ARN)+" because no resource-based policy allows the secretsmanager:GetSecretValue action")
	}

	// With the resource policy in place, KMS still refuses: the secret is
	// encrypted with the AWS managed key aws/secretsmanager, which no
	// other account may use.
	if _, err := owner.PutResourcePolicy(ctx, &secretsmanager.PutResourcePolicyInput{SecretId: created.ARN, ResourcePolicy: aws.String(
		`{"Version":"2012-10-17","Statement":{"Effect":"Allow","Principal":{"AWS":"` + reader + `"},"Action":"secretsmanager:GetSecretValue","Resource":"*"}}`)}); err != nil {
		log.Fatal(err)
	}
	_, err = sm.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: created.ARN})
	if errors.As(err, &ae) {
		fmt.Println(ae.ErrorCode()+":", ae.ErrorMessage())
	}
	// Output:
	// AccessDeniedException
	// true
	// AccessDeniedException: Access to KMS is not allowed
}
