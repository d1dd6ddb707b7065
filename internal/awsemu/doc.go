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
//   - Key policies and secret resource policies are validated, stored and
//     returned, but never enforced: there is no IAM evaluation, so every
//     caller may do everything, whatever a policy says. Check policies
//     offline with package policy.
//   - There is one account (Options.AccountID). Credentials and request
//     signatures are not checked, but the Region a request is signed for
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
