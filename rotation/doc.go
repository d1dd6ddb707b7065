// Package rotation runs AWS Secrets Manager's four-step rotation protocol
// for a pluggable Strategy, as a Lambda handler (Rotator.Handle) or without
// Lambda (Rotator.Rotate).
//
// Secrets Manager rotates a secret by creating an empty version labelled
// AWSPENDING whose id is the rotation's ClientRequestToken, then invoking
// the rotation function once per step with that token. It retries steps
// that fail, and a function may die between any two API calls, so every
// step here is idempotent and re-reads the secret's state from the service
// (never a cache) before acting:
//
//	every step   DescribeSecret, then refuse or skip:
//	             Step unknown                   -> ErrUnknownStep (no API call)
//	             RotationEnabled false (Handle) -> ErrRotationDisabled
//	             token not a version            -> ErrTokenNotFound
//	             token's version AWSCURRENT     -> nil (already finished)
//	             token's version not AWSPENDING -> ErrNotPending
//	createSecret pending version has a value?   -> nothing to do
//	             else GetRandomPassword, Strategy.NewPending,
//	             PutSecretValue(token, [AWSPENDING])
//	setSecret    Strategy.Apply(current, pending, previous); a no-op once
//	             the pending credentials work
//	testSecret   Strategy.Verify(pending); Verify(current) when pending has
//	             no value (RotateSecret with RotateImmediately false)
//	finishSecret refuse a pending version without a value, then
//	             UpdateSecretVersionStage: AWSCURRENT to the token's version
//	             (the old one becomes AWSPREVIOUS), then remove AWSPENDING,
//	             so no stale label blocks the next rotation
//
// A crash between finishSecret's two calls leaves AWSPENDING on the
// AWSCURRENT version; the next finishSecret for the token, or Rotate,
// removes it.
//
// Rotate drives the same steps itself. It resumes a rotation left pending
// (by the service or by an earlier Rotate) instead of starting a new one,
// and does not require rotation to be enabled on the secret.
//
// A Lambda function is a few lines (see examples/rotation-lambda):
//
//	s, err := postgres.SingleUser() // invalid options: an error here, not at the first step
//	if err != nil { ... }
//	r, err := rotation.New(secretsmanager.NewFromConfig(cfg), s)
//	if err != nil { ... }
//	lambda.Start(r.Handle)
//
// The function needs secretsmanager:DescribeSecret, GetSecretValue,
// PutSecretValue and UpdateSecretVersionStage on the secret, and
// secretsmanager:GetRandomPassword (resource "*").
//
// A Strategy sees the secret's versions (Versions) and, to read other
// secrets, a SecretReader; it never gets the calls that write.
//
// Errors are *StepError values naming the secret, the token and the step;
// the sentinels and SDK errors inside are found with errors.Is and
// errors.As. No log record or error carries a secret value, and Secret
// redacts its value in every fmt verb and in slog.
package rotation
