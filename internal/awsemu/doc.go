// Package awsemu is an in-process AWS Secrets Manager and KMS emulator that
// speaks the real awsJson1_1 wire protocol, so tests and examples drive the
// real aws-sdk-go-v2 clients over loopback HTTP.
//
// It is for tests and examples only: no library package imports it outside
// _test.go files.
//
// # Deviations from AWS
//
// The emulator follows the service's documented behaviour and wording,
// except where tests need determinism or where AWS's behaviour depends on
// machinery it does not model:
//
//   - RotateSecret runs the rotation synchronously: it invokes the
//     registered function for createSecret, setSecret, testSecret and
//     finishSecret before it answers, and a failed step makes it answer
//     400 InvalidRequestException naming that step. AWS answers at once and
//     rotates asynchronously. The function's context is detached from the
//     client's request but ends when the Server closes.
//   - Scheduled rotation happens only when the test calls
//     [Server.RunDueRotations]; it re-attempts an unfinished rotation under
//     its AWSPENDING version's id, as the service's scheduler does.
//   - A secret whose KMS key is disabled or pending deletion fails writes
//     with EncryptionFailure and reads with DecryptionFailure.
//   - A rotation Lambda ARN that no [Server.RegisterRotationFunc] call
//     registered is answered with AccessDeniedException, as AWS answers a
//     function it may not invoke.
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
//     decided by package policy, with its limits (no session policies,
//     resource control policies, VPC endpoint policies or grants).
//     Principals have identity policies, tags ([Server.TagPrincipal]), a
//     permissions boundary ([Server.SetPermissionsBoundary]) and the SCPs
//     over their account ([Server.SetSCPs]); groups and session tags are
//     not modelled.
//     Requests carry aws:CurrentTime and aws:EpochTime from the Server's
//     clock, aws:SourceIp (the loopback client), aws:RequestedRegion, and
//     aws:SecureTransport "true": the emulator serves plain HTTP but stands
//     for AWS's TLS endpoints. Context it cannot know (aws:PrincipalOrgID,
//     aws:MultiFactorAuthAge, aws:SourceVpce, ...) is absent, so conditions
//     on it are false unless negated or ...IfExists.
//   - Resources (secrets and KMS keys) exist in one account
//     (Options.AccountID), in every Region (see below); resources of
//     other accounts are not modelled. Principals may belong to any
//     account: one of another account reaches the emulated resources by
//     ARN, while a name, partial ARN, key id or alias resolves in its
//     own account, which is empty (lists are empty; reads answer
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
//     lockout safety check, and RotateSecret does not check
//     lambda:InvokeFunction: rotation functions run as the service, and
//     their calls back are checked as the principal of the client they use.
//   - The Region a request is signed for
//     (its SigV4 credential scope) selects which Region serves it, all at
//     one URL; unsigned requests go to Options.Region. Each Region has its
//     own secrets and KMS keys, created on first use: a client of any
//     Region name that looks like one (lower-case letters, digits, dashes)
//     finds an empty Region. [Server.AWSConfigFor] builds its clients.
//   - Replication (CreateSecret AddReplicaRegions, ReplicateSecretToRegions,
//     RemoveRegionsFromReplication, StopReplicationToReplica) copies the
//     primary's versions (same VersionIds), staging labels, description,
//     tags, resource policy and rotation configuration to each replica,
//     re-encrypted under the replica Region's key. Changes arrive after
//     Options.ReplicationDelay by the server's clock (zero: within the
//     request), applied when any later Secrets Manager request arrives;
//     AWS replicates asynchronously within seconds. So that tests can see
//     the lag, a replica shows InProgress while any change is on its way,
//     not only while it is created as AWS documents. A replica that cannot
//     be written (name taken without ForceOverwriteReplicaSecret, replica
//     key missing, disabled or pending deletion) shows Failed with the
//     reason; the primary's next change retries it. Replicas refuse every
//     write, including UpdateSecret of their key, with
//     InvalidParameterException; DescribeSecret shows PrimaryRegion only
//     on replicated secrets (primaries and replicas). Rotation, including
//     [Server.RunDueRotations], runs on primaries only.
//   - Fault.Region restricts a fault to requests signed for one Region, to
//     simulate a Regional outage.
//   - CancelRotateSecret leaves an unfinished rotation's AWSPENDING label in
//     place and returns that version's id, as AWS documents; removing the
//     label is the caller's job.
//   - Versions without staging labels are removed beyond 100 once they are
//     24 hours old by the Server's clock ([Server.SetClock]); a write that
//     would keep more is refused with LimitExceededException.
package awsemu
