package rotation

// Step names one of the four calls Secrets Manager makes to a rotation
// function for each rotation.
type Step string

// The rotation steps, in the order Secrets Manager runs them.
const (
	// CreateSecret stores a new value in the AWSPENDING version.
	CreateSecret Step = "createSecret"
	// SetSecret makes the pending value valid in the target system.
	SetSecret Step = "setSecret"
	// TestSecret checks that the pending value works in the target system.
	TestSecret Step = "testSecret"
	// FinishSecret moves AWSCURRENT to the pending version.
	FinishSecret Step = "finishSecret"
)

// valid reports whether s is one of the four rotation steps.
func (s Step) valid() bool {
	switch s {
	case CreateSecret, SetSecret, TestSecret, FinishSecret:
		return true
	}
	return false
}

// Event is the payload Secrets Manager sends to a rotation Lambda function.
// Its JSON form is the Lambda payload's and that of aws-lambda-go's
// events.SecretsManagerSecretRotationEvent, so lambda.Start(r.Handle)
// decodes it directly.
type Event struct {
	// Step is the step to run.
	Step Step `json:"Step"`
	// SecretID is the ARN or name of the secret being rotated.
	SecretID string `json:"SecretId"`
	// ClientRequestToken is the id of the version being rotated in; the
	// same for all four steps of one rotation.
	ClientRequestToken string `json:"ClientRequestToken"`
	// RotationToken identifies the rotation to Secrets Manager when the
	// function runs in another account; it is passed on to PutSecretValue.
	RotationToken string `json:"RotationToken,omitempty"`
}
