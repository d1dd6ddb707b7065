package awsemu

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"
)

// Key states as KMS reports them in KeyMetadata.KeyState.
const (
	keyEnabled         = "Enabled"
	keyDisabled        = "Disabled"
	keyPendingDeletion = "PendingDeletion"
)

// managedAlias names the AWS managed key that Secrets Manager uses when a
// secret names no key. It exists in every emulated account.
const managedAlias = "alias/aws/secretsmanager"

// kmsKey is one symmetric encryption key. Its fields are guarded by the
// owning keyService's mu, except aead, which is immutable and safe for
// concurrent use.
type kmsKey struct {
	id          string
	arn         string
	description string
	policy      string
	managed     bool // KeyManager "AWS": policy fixed, cannot be disabled or deleted
	state       string
	created     time.Time
	deleteAt    time.Time // when state is keyPendingDeletion
	aead        cipher.AEAD
}

// kmsAlias maps an alias name ("alias/x") to a key id.
type kmsAlias struct {
	name    string
	target  string
	created time.Time
	updated time.Time
}

// newKMSKey makes a key with fresh random AES-256 material.
func newKMSKey(id, arn string, created time.Time) *kmsKey {
	block, err := aes.NewCipher(randomBytes(32))
	if err != nil {
		panic("awsemu: " + err.Error()) // unreachable: the length is valid
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		panic("awsemu: " + err.Error()) // unreachable: AES has a 16-byte block
	}
	return &kmsKey{id: id, arn: arn, state: keyEnabled, created: created, aead: aead}
}

// randomBytes returns n bytes from crypto/rand.
func randomBytes(n int) []byte {
	b := make([]byte, n)
	rand.Read(b) //nolint:errcheck // never fails (Go 1.24+)
	return b
}

// newKeyID returns a random version 4 UUID, the form of KMS key ids.
func newKeyID() string {
	b := randomBytes(16)
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}

// isKeyID reports whether s has the shape of a key id (a UUID).
func isKeyID(s string) bool {
	if len(s) != 36 {
		return false
	}
	for i, c := range s {
		switch i {
		case 8, 13, 18, 23:
			if c != '-' {
				return false
			}
		default:
			if !strings.ContainsRune("0123456789abcdefABCDEF", c) {
				return false
			}
		}
	}
	return true
}

// Ciphertext blobs are self-describing so that Decrypt needs no KeyId:
//
//	version (1 byte) | key id (36 bytes) | nonce (12 bytes) | AES-GCM sealed data
//
// The additional data authenticated by GCM is the version and key id followed
// by the canonical encryption context, so a changed key id, context or byte
// anywhere fails to open.
const (
	blobVersion   = 1
	blobHeaderLen = 1 + 36
	blobNonceLen  = 12
	blobMinLen    = blobHeaderLen + blobNonceLen + 16 // GCM tag
)

// seal encrypts plaintext under k, bound to the encryption context ec.
func (k *kmsKey) seal(plaintext []byte, ec map[string]string) []byte {
	blob := make([]byte, 0, blobHeaderLen+blobNonceLen+len(plaintext)+k.aead.Overhead())
	blob = append(blob, blobVersion)
	blob = append(blob, k.id...)
	nonce := randomBytes(blobNonceLen)
	blob = append(blob, nonce...)
	return k.aead.Seal(blob, nonce, plaintext, additionalData(blob[:blobHeaderLen], ec))
}

// open decrypts a blob that blobKeyID has attributed to k.
func (k *kmsKey) open(blob []byte, ec map[string]string) ([]byte, bool) {
	nonce := blob[blobHeaderLen : blobHeaderLen+blobNonceLen]
	pt, err := k.aead.Open(nil, nonce, blob[blobHeaderLen+blobNonceLen:], additionalData(blob[:blobHeaderLen], ec))
	return pt, err == nil
}

// blobKeyID returns the key id a ciphertext blob names, or false when the
// blob is not one this emulator made.
func blobKeyID(blob []byte) (string, bool) {
	if len(blob) < blobMinLen || blob[0] != blobVersion {
		return "", false
	}
	id := string(blob[1:blobHeaderLen])
	return id, isKeyID(id)
}

// additionalData is header followed by ec in a canonical, unambiguous form:
// pairs sorted by key, each string length-prefixed.
func additionalData(header []byte, ec map[string]string) []byte {
	ad := append([]byte(nil), header...)
	for _, name := range slices.Sorted(maps.Keys(ec)) {
		ad = binary.BigEndian.AppendUint32(ad, uint32(len(name)))
		ad = append(ad, name...)
		ad = binary.BigEndian.AppendUint32(ad, uint32(len(ec[name])))
		ad = append(ad, ec[name]...)
	}
	return ad
}

// policyDoc is the subset of an IAM policy document the emulator writes.
type policyDoc struct {
	Version   string            `json:"Version"`
	ID        string            `json:"Id"`
	Statement []policyStatement `json:"Statement"`
}

type policyStatement struct {
	Sid       string                       `json:"Sid"`
	Effect    string                       `json:"Effect"`
	Principal map[string]string            `json:"Principal"`
	Action    any                          `json:"Action"` // string or []string
	Resource  string                       `json:"Resource"`
	Condition map[string]map[string]string `json:"Condition,omitempty"`
}

func (p policyDoc) String() string {
	b, err := json.MarshalIndent(p, "", "  ")
	if err != nil {
		panic("awsemu: " + err.Error()) // unreachable: plain strings and maps
	}
	return string(b)
}

// defaultKeyPolicy is the policy KMS gives a key created through the API
// without one: the owning account's root gets kms:*, which lets IAM
// policies in that account grant access to the key.
func defaultKeyPolicy(accountID string) string {
	return policyDoc{
		Version: "2012-10-17",
		ID:      "key-default-1",
		Statement: []policyStatement{{
			Sid:       "Enable IAM User Permissions",
			Effect:    "Allow",
			Principal: map[string]string{"AWS": "arn:aws:iam::" + accountID + ":root"},
			Action:    "kms:*",
			Resource:  "*",
		}},
	}.String()
}

// managedKeyPolicy is the shape of the policy AWS attaches to the
// aws/secretsmanager key: principals of the account may use the key only
// through Secrets Manager (kms:ViaService and kms:CallerAccount), and the
// account may read the key's metadata directly. Nothing allows
// administration, so DisableKey, PutKeyPolicy and ScheduleKeyDeletion are
// denied.
func managedKeyPolicy(accountID, region string) string {
	via := map[string]string{
		"kms:CallerAccount": accountID,
		"kms:ViaService":    "secretsmanager." + region + ".amazonaws.com",
	}
	const sid = "Allow access through AWS Secrets Manager for all principals in the account that are authorized to use AWS Secrets Manager"
	return policyDoc{
		Version: "2012-10-17",
		ID:      "auto-secretsmanager-2",
		Statement: []policyStatement{
			{
				Sid:       sid,
				Effect:    "Allow",
				Principal: map[string]string{"AWS": "*"},
				Action:    []string{"kms:Encrypt", "kms:Decrypt", "kms:ReEncrypt*", "kms:CreateGrant", "kms:DescribeKey"},
				Resource:  "*",
				Condition: map[string]map[string]string{"StringEquals": via},
			},
			{
				Sid:       sid,
				Effect:    "Allow",
				Principal: map[string]string{"AWS": "*"},
				Action:    "kms:GenerateDataKey*",
				Resource:  "*",
				Condition: map[string]map[string]string{
					"StringEquals": {"kms:CallerAccount": accountID},
					"StringLike":   {"kms:ViaService": via["kms:ViaService"]},
				},
			},
			{
				Sid:       "Allow direct access to key metadata to the account",
				Effect:    "Allow",
				Principal: map[string]string{"AWS": "arn:aws:iam::" + accountID + ":root"},
				Action:    []string{"kms:Describe*", "kms:Get*", "kms:List*", "kms:RevokeGrant"},
				Resource:  "*",
			},
		},
	}.String()
}

// maxPolicyBytes is KMS's limit on a key policy document.
const maxPolicyBytes = 32 * 1024

// checkPolicy rejects a policy KMS would refuse for its form. It does not
// evaluate statements; with Options.EnforceIAM, authorization parses the
// policy fully before the operation runs.
func checkPolicy(policy string) error {
	if len(policy) > maxPolicyBytes {
		return errorf("ValidationException", "1 validation error detected: Value at 'policy' failed to satisfy constraint: Member must have length less than or equal to %d", maxPolicyBytes)
	}
	var doc struct {
		Statement json.RawMessage
	}
	if err := json.Unmarshal([]byte(policy), &doc); err != nil || len(doc.Statement) == 0 {
		return errorf("MalformedPolicyDocumentException", "The key policy is not a JSON policy document with a Statement.")
	}
	return nil
}
