package awsemu

import "errors"

// This file is the KMS side of secret encryption: what Secrets Manager does
// with a secret's KmsKeyId. Secrets Manager reports KMS failures with its
// own error codes, which the SDK models as *types.EncryptionFailure and
// *types.DecryptionFailure; the emulator appends KMS's reason (e.g. "<key
// ARN> is disabled.") to AWS's documented message so tests can tell the
// causes apart.
//
// Chosen behaviour, per error:
//   - unknown KmsKeyId on CreateSecret/UpdateSecret/PutSecretValue:
//     EncryptionFailure naming the key (Secrets Manager cannot get a data
//     key for it).
//   - key disabled or pending deletion when writing a value: EncryptionFailure.
//   - key disabled or pending deletion when reading a value
//     (GetSecretValue): DecryptionFailure, the error the Secrets Manager API
//     reference lists for "can't decrypt the protected secret text using the
//     provided KMS key".
//   - key deleted after its deletion window, or a corrupted value:
//     DecryptionFailure.

const (
	encryptionFailure = "Secrets Manager can't encrypt the protected secret text using the provided KMS key. Check that the KMS key is available, enabled, and not in an invalid state."
	decryptionFailure = "Secrets Manager can't decrypt the protected secret text using the provided KMS key."
)

// secretContext is the encryption context Secrets Manager binds each secret
// value to, so a value cannot be moved to another secret.
func secretContext(secretARN string) map[string]string {
	return map[string]string{"SecretARN": secretARN}
}

// reason is the message of a KMS error, for appending to a Secrets Manager one.
func reason(err error) string {
	if ae := (*apiError)(nil); errors.As(err, &ae) {
		return ae.Message
	}
	return err.Error()
}

// resolveKey validates a KmsKeyId given to CreateSecret or UpdateSecret and
// returns the ARN of the key it names. keyID may be a key id, key ARN, alias
// name or alias ARN; "" means the AWS managed key alias/aws/secretsmanager.
// An unknown key is an EncryptionFailure.
func (k *keyService) resolveKey(keyID string) (keyARN string, err error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	key, err := k.secretKeyLocked(keyID)
	if err != nil {
		return "", err
	}
	return key.arn, nil
}

func (k *keyService) secretKeyLocked(keyID string) (*kmsKey, error) {
	k.reapLocked()
	if keyID == "" {
		return k.managed, nil
	}
	key, err := k.lookupLocked(keyID, true)
	if err != nil {
		return nil, errorf("EncryptionFailure", "%s %s", encryptionFailure, reason(err))
	}
	return key, nil
}

// sealSecret encrypts a secret value under the key keyID names (as in
// resolveKey) with encryption context {"SecretARN": secretARN}, and returns
// the key's ARN with the sealed value. It fails with EncryptionFailure when
// the key is unknown, disabled or pending deletion. Values of any size are
// accepted: Secrets Manager encrypts under a data key, so KMS's 4 KiB
// Encrypt limit does not apply.
func (k *keyService) sealSecret(keyID, secretARN string, plaintext []byte) (keyARN string, sealed []byte, err error) {
	k.mu.Lock()
	key, err := k.secretKeyLocked(keyID)
	if err == nil {
		if serr := stateError(key); serr != nil {
			err = errorf("EncryptionFailure", "%s %s", encryptionFailure, serr.Message)
		}
	}
	k.mu.Unlock()
	if err != nil {
		return "", nil, err
	}
	return key.arn, key.seal(plaintext, secretContext(secretARN)), nil
}

// openSecret decrypts a value sealSecret returned for keyARN and secretARN.
// It fails with DecryptionFailure when the key is disabled, pending deletion
// or deleted, or when sealed was not made for this key and secret.
func (k *keyService) openSecret(keyARN, secretARN string, sealed []byte) ([]byte, error) {
	k.mu.Lock()
	k.reapLocked()
	key, err := k.lookupLocked(keyARN, false)
	if err == nil {
		if serr := stateError(key); serr != nil {
			err = serr
		}
	}
	k.mu.Unlock()
	if err != nil {
		return nil, errorf("DecryptionFailure", "%s %s", decryptionFailure, reason(err))
	}
	if id, ok := blobKeyID(sealed); ok && id == key.id {
		if pt, ok := key.open(sealed, secretContext(secretARN)); ok {
			return pt, nil
		}
	}
	return nil, errorf("DecryptionFailure", "%s", decryptionFailure)
}
