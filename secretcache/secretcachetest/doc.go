// Package secretcachetest provides an in-process AWS Secrets Manager and KMS
// for testing code that uses Secrets Manager, as net/http/httptest provides
// an HTTP server.
//
// A Server speaks the services' real wire protocol (awsJson1_1 over HTTP on
// a loopback port), so the code under test uses the real aws-sdk-go-v2
// clients, with their retries, error types and pagination: there is no
// interface to mock. A test seeds secrets through the same API, counts the
// calls its code makes, injects throttling or lost replies, drives
// rotations through a rotation function, and, with Options.EnforceIAM,
// checks that a principal is allowed or denied exactly as IAM would decide.
//
//	func TestReadsPassword(t *testing.T) {
//		srv := secretcachetest.NewServer(t) // closed when the test ends
//		sm := srv.Client()                  // *secretsmanager.Client
//		_, err := sm.CreateSecret(ctx, &secretsmanager.CreateSecretInput{
//			Name: aws.String("prod/app/db"), SecretString: aws.String(`{"password":"pw"}`),
//		})
//		...
//		cache, err := secretcache.New(sm)
//		...
//		srv.InjectFault(secretcachetest.Fault{Op: "GetSecretValue", Code: "ThrottlingException", Times: 2})
//		got, err := cache.GetSecretString(ctx, "prod/app/db") // the SDK retries twice
//		if n := srv.Calls("GetSecretValue"); n != 3 { ... }
//	}
//
// Any other SDK, or the AWS CLI, can use a Server too: give it URL as the
// endpoint, any Region and dummy credentials. The program in
// examples/emulator of this module serves one on a fixed address for tests
// not written in Go.
//
// # What is emulated
//
// Secrets Manager: CreateSecret, GetSecretValue, BatchGetSecretValue,
// PutSecretValue, UpdateSecret, DescribeSecret, ListSecrets,
// ListSecretVersionIds, UpdateSecretVersionStage, RotateSecret,
// CancelRotateSecret, DeleteSecret, RestoreSecret, TagResource,
// UntagResource, GetResourcePolicy, PutResourcePolicy,
// DeleteResourcePolicy, ValidateResourcePolicy and GetRandomPassword. KMS:
// CreateKey, DescribeKey, ListKeys, GetKeyPolicy, PutKeyPolicy, CreateAlias,
// ListAliases, EnableKey, DisableKey, ScheduleKeyDeletion,
// CancelKeyDeletion, Encrypt, Decrypt and GenerateDataKey. Secret values are
// really encrypted under their KMS key (the AWS managed key
// aws/secretsmanager by default), so a disabled key makes reads fail as in
// AWS. Errors carry AWS's codes and messages, so errors.As finds the SDK's
// typed exceptions (*types.ResourceNotFoundException, ...).
//
// # Deviations from AWS
//
// A Server follows the services' documented behaviour and wording, except
// where tests need determinism or where AWS's behaviour depends on machinery
// it does not model:
//
//   - RotateSecret runs the rotation synchronously: it invokes the function
//     registered with [Server.RegisterRotationFunc] for createSecret,
//     setSecret, testSecret and finishSecret before it answers, and a failed
//     step makes it answer InvalidRequestException naming that step. AWS
//     answers at once and rotates asynchronously. The function's context is
//     detached from the client's request but ends when the Server closes.
//   - Scheduled rotation happens only when the test calls
//     [Server.RunDueRotations]; it re-attempts an unfinished rotation under
//     its AWSPENDING version's id, as the service's scheduler does.
//   - A rotation Lambda ARN that no RegisterRotationFunc call registered is
//     answered with AccessDeniedException, as AWS answers a function it may
//     not invoke. RotateSecret does not check lambda:InvokeFunction:
//     rotation functions run as the service, and their calls back are
//     checked as the principal of the client they use.
//   - A secret whose KMS key is disabled or pending deletion fails writes
//     with EncryptionFailure and reads with DecryptionFailure.
//   - KMS keys are symmetric encryption keys in a single Region only: no
//     asymmetric, HMAC or multi-Region keys, no key rotation or grants.
//   - Without Options.EnforceIAM, key policies and secret resource policies
//     are validated, stored and returned, but not enforced: every caller
//     may do everything, whatever a policy says, and credentials are not
//     checked.
//   - With Options.EnforceIAM, the caller is the principal
//     [Server.AddPrincipal] gave the access key id of the request's SigV4
//     Authorization header ([Server.AWSConfig]'s key is the root user of
//     AccountID); the signature itself is not verified. Requests are
//     decided by package github.com/rekeyhq/rekey/policy, with its limits
//     (no session policies, resource control policies, VPC endpoint
//     policies or grants). Principals have identity policies, tags
//     ([Server.TagPrincipal]), a permissions boundary
//     ([Server.SetPermissionsBoundary]) and the SCPs over their account
//     ([Server.SetSCPs]); groups and session tags are not modelled. Requests carry aws:CurrentTime and aws:EpochTime from
//     the Server's clock, aws:SourceIp (the loopback client),
//     aws:RequestedRegion, and aws:SecureTransport "true": the Server serves
//     plain HTTP but stands for AWS's TLS endpoints. Context it cannot know
//     (aws:PrincipalOrgID, aws:MultiFactorAuthAge, aws:SourceVpce, ...) is
//     absent, so conditions on it are false unless negated or ...IfExists.
//   - Resources (secrets and KMS keys) exist in one account
//     (Options.AccountID) and one Region (Options.Region); resources of
//     other accounts are not modelled. Principals may belong to any
//     account: one of another account reaches the Server's resources by
//     ARN, while a name, partial ARN, key id or alias resolves in its own
//     account, which is empty (lists are empty; reads answer
//     ResourceNotFoundException or NotFoundException once its identity
//     policy allows them); creating there (CreateSecret, CreateKey,
//     CreateAlias) is refused with an AccessDeniedException that says so.
//   - Authorization runs just before the operation, on its own look-up of
//     the secret or key; a policy changed concurrently may apply to a
//     request either way, as with AWS's eventually consistent policies.
//     CreateSecret is authorized against the new secret's ARN with
//     "-??????" in place of the six random characters it will get.
//   - Secrets Manager's KMS requests are kms:Decrypt for GetSecretValue and
//     BatchGetSecretValue and kms:GenerateDataKey for writing a value, as
//     the Secrets Manager user guide lists them; UpdateSecret with a new
//     KmsKeyId re-encrypts nothing (AWS re-encrypts the labelled versions
//     when the caller may), so it needs neither. KMS has no key policy
//     lockout safety check.
//   - CancelRotateSecret leaves an unfinished rotation's AWSPENDING label in
//     place and returns that version's id, as AWS documents; removing the
//     label is the caller's job.
//   - Versions without staging labels are removed beyond 100 once they are
//     24 hours old by the Server's clock ([Server.SetClock]); a write that
//     would keep more is refused with LimitExceededException.
//   - There are no service quotas or throttling of its own: a test asks
//     for throttling, errors, delays, hangs and lost replies with
//     [Server.InjectFault].
//   - Secrets live in memory only and end with the Server; there is no
//     replication to other Regions and no CloudTrail.
package secretcachetest
