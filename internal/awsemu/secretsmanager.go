package awsemu

import (
	"context"
	"crypto/rand"
	"fmt"
	"regexp"
	"strings"
	"sync"
	"time"
)

// Staging labels the service itself manages.
const (
	stageCurrent  = "AWSCURRENT"
	stagePrevious = "AWSPREVIOUS"
	stagePending  = "AWSPENDING"
)

// Service limits, as documented for Secrets Manager.
const (
	maxSecretValue    = 65536 // bytes of SecretString or SecretBinary
	maxNameLen        = 512
	maxDescriptionLen = 2048
	maxDeprecated     = 100 // deprecated (unlabelled) versions kept per secret
	maxBatchIDs       = 20
	maxTags           = 50
)

var validName = regexp.MustCompile(`^[A-Za-z0-9/_+=.@!-]+$`)

// secretsManager is the emulated Secrets Manager service. One mutex guards
// every secret; it is never held while a rotation function runs or while a
// fault sleeps. KMS calls are made under it: the key service never calls
// back into Secrets Manager, so the lock order sm.mu -> kms is safe.
type secretsManager struct {
	srv *Server

	region string
	kms    *keyService // the same Region's key service

	// mu is shared by the secret stores of every Region of the server
	// (Server.smMu), so replication can update two Regions at once.
	mu     *sync.Mutex
	byName map[string]*secret // guarded by mu; live and scheduled-for-deletion secrets
	byARN  map[string]*secret // guarded by mu
	seq    uint64             // guarded by mu; creation order of secrets and versions
}

// newSecretsManager returns the secret store of s's default Region.
func newSecretsManager(s *Server) *secretsManager {
	return newRegionSecrets(s, s.region, s.kms)
}

func newRegionSecrets(s *Server, region string, kms *keyService) *secretsManager {
	return &secretsManager{srv: s, region: region, kms: kms, mu: &s.smMu, byName: make(map[string]*secret), byARN: make(map[string]*secret)}
}

// handle serves one operation. Replication due by the server's clock is
// applied before it, a write to a replica is refused, and every change a
// write makes to a primary is queued for its replicas afterwards.
func (m *secretsManager) handle(ctx context.Context, op string, body []byte) (any, error) {
	m.mu.Lock()
	m.srv.applyReplicationLocked()
	m.mu.Unlock()
	if err := m.guardReplication(op, body); err != nil {
		return nil, err
	}
	out, err := m.dispatch(ctx, op, body)
	if !replicaReads[op] {
		m.mu.Lock()
		m.replicateLocked()
		m.mu.Unlock()
	}
	return out, err
}

func (m *secretsManager) dispatch(ctx context.Context, op string, body []byte) (any, error) {
	switch op {
	case "CreateSecret":
		return m.createSecret(body)
	case "GetSecretValue":
		return m.getSecretValue(body)
	case "BatchGetSecretValue":
		return m.batchGetSecretValue(ctx, body)
	case "DescribeSecret":
		return m.describeSecret(body)
	case "PutSecretValue":
		return m.putSecretValue(body)
	case "UpdateSecret":
		return m.updateSecret(body)
	case "UpdateSecretVersionStage":
		return m.updateSecretVersionStage(body)
	case "ListSecretVersionIds":
		return m.listSecretVersionIds(body)
	case "ListSecrets":
		return m.listSecrets(body)
	case "DeleteSecret":
		return m.deleteSecret(body)
	case "RestoreSecret":
		return m.restoreSecret(body)
	case "RotateSecret":
		return m.rotateSecret(ctx, body)
	case "CancelRotateSecret":
		return m.cancelRotateSecret(body)
	case "GetRandomPassword":
		return getRandomPassword(body)
	case "GetResourcePolicy":
		return m.getResourcePolicy(body)
	case "PutResourcePolicy":
		return m.putResourcePolicy(body)
	case "DeleteResourcePolicy":
		return m.deleteResourcePolicy(body)
	case "ValidateResourcePolicy":
		return m.validateResourcePolicy(body)
	case "TagResource":
		return m.tagResource(body)
	case "UntagResource":
		return m.untagResource(body)
	case "ReplicateSecretToRegions":
		return m.replicateSecretToRegions(body)
	case "RemoveRegionsFromReplication":
		return m.removeRegionsFromReplication(body)
	case "StopReplicationToReplica":
		return m.stopReplicationToReplica(body)
	}
	return nil, errorf("UnknownOperationException", "Unknown operation secretsmanager.%s.", op)
}

// Errors whose wording AWS fixes.
func errSecretNotFound() *apiError {
	return errorf("ResourceNotFoundException", "Secrets Manager can't find the specified secret.")
}

func errMarkedForDeletion() *apiError {
	return errorf("InvalidRequestException", "You can't perform this operation on the secret because it was marked for deletion.")
}

// errValidation answers a request that breaks a modelled constraint, as the
// service's front end does before any secret is looked at.
func errValidation(field, constraint string) *apiError {
	return errorf("ValidationException", "1 validation error detected: Value at '%s' failed to satisfy constraint: %s", field, constraint)
}

func errRequired(field string) *apiError {
	return errorf("ValidationException", "1 validation error detected: Value null at '%s' failed to satisfy constraint: Member must not be null", field)
}

// arnPrefix is what every secret ARN of this server starts with.
func (m *secretsManager) arnPrefix() string {
	return fmt.Sprintf("arn:aws:secretsmanager:%s:%s:secret:", m.region, m.srv.accountID)
}

// lookup finds a secret by name, full ARN or partial ARN (the ARN without
// its "-" and six random characters). Like the service, it takes an ARN
// that ends in "-" and six characters for a complete ARN, so one that
// matches no secret's ARN is not found even when it is the partial ARN of
// a secret whose name ends that way. Secrets scheduled for deletion are
// found; those whose recovery window has ended are purged first.
// m.mu must be held.
func (m *secretsManager) lookup(id string) (*secret, *apiError) {
	if id == "" {
		return nil, errRequired("secretId")
	}
	sec := m.byARN[id]
	if sec == nil {
		if rest, isARN := strings.CutPrefix(id, m.arnPrefix()); !isARN {
			sec = m.byName[id]
		} else if !looksComplete(rest) {
			sec = m.byName[rest]
		}
	}
	if sec == nil || m.purgeIfExpired(sec) {
		return nil, errSecretNotFound()
	}
	return sec, nil
}

// looksComplete reports whether the resource part of a secret ARN ends as
// a complete ARN does: "-" and six characters.
func looksComplete(resource string) bool {
	const suffix = len("-xxxxxx")
	return len(resource) > suffix && resource[len(resource)-suffix] == '-'
}

// lookupLive is lookup for operations a deleted secret refuses.
func (m *secretsManager) lookupLive(id string) (*secret, *apiError) {
	sec, err := m.lookup(id)
	if err != nil {
		return nil, err
	}
	if !sec.deletedDate.IsZero() {
		return nil, errMarkedForDeletion()
	}
	return sec, nil
}

// purgeIfExpired removes sec when its recovery window has ended and reports
// whether it did. m.mu must be held.
func (m *secretsManager) purgeIfExpired(sec *secret) bool {
	if sec.deletedDate.IsZero() || m.srv.now().Before(sec.deletedDate) {
		return false
	}
	m.remove(sec)
	return true
}

func (m *secretsManager) remove(sec *secret) {
	delete(m.byName, sec.name)
	delete(m.byARN, sec.arn)
}

func (m *secretsManager) nextSeq() uint64 {
	m.seq++
	return m.seq
}

// newUUID returns a random RFC 4122 version 4 UUID.
func newUUID() string {
	var b [16]byte
	rand.Read(b[:]) //nolint:errcheck // crypto/rand.Read never fails
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:])
}

// arnSuffix returns the six random characters AWS appends to a secret ARN.
func arnSuffix() string {
	const alphabet = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
	var b [6]byte
	rand.Read(b[:]) //nolint:errcheck // crypto/rand.Read never fails
	for i := range b {
		b[i] = alphabet[int(b[i])%len(alphabet)]
	}
	return string(b[:])
}

// date renders t for a response, omitting the zero time.
func date(t time.Time) *float64 {
	if t.IsZero() {
		return nil
	}
	e := epoch(t)
	return &e
}

// dayOf truncates t to its UTC day: AWS records access dates without a time.
func dayOf(t time.Time) time.Time {
	y, mo, d := t.UTC().Date()
	return time.Date(y, mo, d, 0, 0, 0, 0, time.UTC)
}

// validateToken checks a ClientRequestToken against the service's length
// limits; "" asks for a generated one.
func validateToken(tok string) *apiError {
	if tok != "" && (len(tok) < 32 || len(tok) > 64) {
		return errValidation("clientRequestToken", "Member must have length between 32 and 64")
	}
	return nil
}
