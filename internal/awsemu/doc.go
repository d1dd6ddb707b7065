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
//   - There is one account (Options.AccountID) and one Region
//     (Options.Region); credentials and request signatures are not checked.
//   - CancelRotateSecret leaves an unfinished rotation's AWSPENDING label in
//     place and returns that version's id, as AWS documents; removing the
//     label is the caller's job.
//   - Versions without staging labels are removed beyond 100 once they are
//     24 hours old by the Server's clock ([Server.SetClock]); a write that
//     would keep more is refused with LimitExceededException.
package awsemu
