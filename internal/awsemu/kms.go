package awsemu

import (
	"context"
	"slices"
	"strings"
	"sync"
	"time"
)

// keyService emulates AWS KMS (X-Amz-Target "TrentService.<Op>") for
// symmetric encryption keys: CreateKey, DescribeKey, ListKeys,
// Get/PutKeyPolicy, CreateAlias, ListAliases, Enable/DisableKey,
// Schedule/CancelKeyDeletion, Encrypt, Decrypt and GenerateDataKey, with
// real AES-256-GCM under a random key per KMS key. It also seals and opens
// secret values for the Secrets Manager half.
//
// Without Options.EnforceIAM, key policies are stored and returned but not
// evaluated, except that the AWS managed key alias/aws/secretsmanager
// refuses administration and direct cryptographic use with
// AccessDeniedException, as its AWS policy does. With it, authorize.go
// evaluates them.
type keyService struct {
	srv    *Server
	region string

	mu      sync.Mutex
	keys    map[string]*kmsKey   // guarded by mu; by key id
	aliases map[string]*kmsAlias // guarded by mu; by alias name
	managed *kmsKey              // the aws/secretsmanager key; set once
}

// newKeyService returns the KMS of s's account, holding only the AWS managed
// key alias/aws/secretsmanager, which AWS creates in every account.
func newKeyService(s *Server) *keyService { return newRegionKeys(s, s.region) }

// newRegionKeys returns the KMS of s's account in region, holding only its
// AWS managed key alias/aws/secretsmanager.
func newRegionKeys(s *Server, region string) *keyService {
	k := &keyService{srv: s, region: region, keys: make(map[string]*kmsKey), aliases: make(map[string]*kmsAlias)}
	now := s.now()
	id := newKeyID()
	m := newKMSKey(id, k.keyARN(id), now)
	m.managed = true
	m.description = "Default key that protects my Secrets Manager data when no other key is defined"
	m.policy = managedKeyPolicy(s.accountID, region)
	k.keys[id] = m
	k.aliases[managedAlias] = &kmsAlias{name: managedAlias, target: id, created: now, updated: now}
	k.managed = m
	return k
}

func (k *keyService) arnPrefix() string {
	return "arn:aws:kms:" + k.region + ":" + k.srv.accountID + ":"
}

func (k *keyService) keyARN(id string) string     { return k.arnPrefix() + "key/" + id }
func (k *keyService) aliasARN(name string) string { return k.arnPrefix() + name }
func (k *keyService) callerARN() string           { return "arn:aws:iam::" + k.srv.accountID + ":root" }

func keyNotFound(arn string) *apiError {
	return errorf("NotFoundException", "Key '%s' does not exist", arn)
}

func invalidKeyID(id string) *apiError {
	return errorf("NotFoundException", "Invalid keyId '%s'", id)
}

func (k *keyService) aliasNotFound(name string) *apiError {
	return errorf("NotFoundException", "Alias %s is not found.", k.aliasARN(name))
}

// stateError is the error KMS answers when key is in a state that forbids
// a cryptographic operation, or nil when it is enabled.
func stateError(key *kmsKey) *apiError {
	switch key.state {
	case keyDisabled:
		return errorf("DisabledException", "%s is disabled.", key.arn)
	case keyPendingDeletion:
		return errorf("KMSInvalidStateException", "%s is pending deletion.", key.arn)
	}
	return nil
}

// denied is KMS's answer when no key policy statement allows action on key:
// the emulator uses it for the AWS managed key, whose policy allows only
// metadata reads and use through Secrets Manager.
func (k *keyService) denied(action string, key *kmsKey) *apiError {
	return errorf("AccessDeniedException",
		"User: %s is not authorized to perform: kms:%s on resource: %s because no resource-based policy allows the kms:%s action",
		k.callerARN(), action, key.arn, action)
}

// reapLocked deletes keys whose deletion window has passed, with their
// aliases. Caller holds k.mu.
func (k *keyService) reapLocked() {
	now := k.srv.now()
	for id, key := range k.keys {
		if key.state == keyPendingDeletion && !now.Before(key.deleteAt) {
			delete(k.keys, id)
		}
	}
	for name, a := range k.aliases {
		if k.keys[a.target] == nil {
			delete(k.aliases, name)
		}
	}
}

// lookupLocked finds the key keyID names: a key id or key ARN, and when
// aliases is true also an alias name or alias ARN. Caller holds k.mu.
func (k *keyService) lookupLocked(keyID string, aliases bool) (*kmsKey, error) {
	if keyID == "" {
		return nil, errorf("ValidationException", "1 validation error detected: Value null at 'keyId' failed to satisfy constraint: Member must not be null")
	}
	ref := keyID
	if strings.HasPrefix(keyID, "arn:") {
		rest, ok := strings.CutPrefix(keyID, k.arnPrefix())
		if !ok {
			// Another account or region: nothing there in this emulator.
			if strings.Contains(keyID, ":alias/") && aliases {
				return nil, errorf("NotFoundException", "Alias %s is not found.", keyID)
			}
			return nil, keyNotFound(keyID)
		}
		ref = rest
		if id, ok := strings.CutPrefix(rest, "key/"); ok {
			ref = id
		} else if !strings.HasPrefix(rest, "alias/") {
			return nil, errorf("InvalidArnException", "Invalid arn %s", keyID)
		}
	}
	if strings.HasPrefix(ref, "alias/") {
		if !aliases {
			return nil, invalidKeyID(keyID)
		}
		a := k.aliases[ref]
		if a == nil {
			return nil, k.aliasNotFound(ref)
		}
		return k.keys[a.target], nil // reapLocked keeps aliases pointing at live keys
	}
	if !isKeyID(ref) {
		return nil, invalidKeyID(keyID)
	}
	key := k.keys[strings.ToLower(ref)]
	if key == nil {
		return nil, keyNotFound(k.keyARN(ref))
	}
	return key, nil
}

// handle serves one KMS operation. Every operation completes without
// blocking on anything but k.mu, so ctx is not consulted.
func (k *keyService) handle(ctx context.Context, op string, body []byte) (any, error) {
	switch op {
	case "CreateKey":
		return run(body, k.createKey)
	case "DescribeKey":
		return run(body, k.describeKey)
	case "ListKeys":
		return run(body, k.listKeys)
	case "GetKeyPolicy":
		return run(body, k.getKeyPolicy)
	case "PutKeyPolicy":
		return run(body, k.putKeyPolicy)
	case "CreateAlias":
		return run(body, k.createAlias)
	case "ListAliases":
		return run(body, k.listAliases)
	case "EnableKey":
		return run(body, k.enableKey)
	case "DisableKey":
		return run(body, k.disableKey)
	case "ScheduleKeyDeletion":
		return run(body, k.scheduleKeyDeletion)
	case "CancelKeyDeletion":
		return run(body, k.cancelKeyDeletion)
	case "Encrypt":
		return run(body, k.encrypt)
	case "Decrypt":
		return run(body, k.decrypt)
	case "GenerateDataKey":
		return run(body, k.generateDataKey)
	}
	return nil, errorf("UnknownOperationException", "The operation %s is not supported by awsemu's KMS.", op)
}

// run decodes body into a fresh In and calls op with it.
func run[In any](body []byte, op func(*In) (any, error)) (any, error) {
	in := new(In)
	if err := decode(body, in); err != nil {
		return nil, err
	}
	return op(in)
}

// keyMetadata is KMS's KeyMetadata structure.
type keyMetadata struct {
	AWSAccountId          string
	KeyId                 string
	Arn                   string
	CreationDate          float64
	Enabled               bool
	Description           string
	KeyUsage              string
	KeyState              string
	DeletionDate          *float64 `json:",omitempty"`
	Origin                string
	KeyManager            string
	CustomerMasterKeySpec string
	KeySpec               string
	EncryptionAlgorithms  []string
	MultiRegion           bool
}

func (k *keyService) metadata(key *kmsKey) keyMetadata {
	md := keyMetadata{
		AWSAccountId:          k.srv.accountID,
		KeyId:                 key.id,
		Arn:                   key.arn,
		CreationDate:          epoch(key.created),
		Enabled:               key.state == keyEnabled,
		Description:           key.description,
		KeyUsage:              "ENCRYPT_DECRYPT",
		KeyState:              key.state,
		Origin:                "AWS_KMS",
		KeyManager:            "CUSTOMER",
		CustomerMasterKeySpec: "SYMMETRIC_DEFAULT",
		KeySpec:               "SYMMETRIC_DEFAULT",
		EncryptionAlgorithms:  []string{"SYMMETRIC_DEFAULT"},
	}
	if key.managed {
		md.KeyManager = "AWS"
	}
	if key.state == keyPendingDeletion {
		d := epoch(key.deleteAt)
		md.DeletionDate = &d
	}
	return md
}

type keyMetadataOutput struct{ KeyMetadata keyMetadata }

type createKeyInput struct {
	Policy                *string
	Description           string
	KeyUsage              string
	KeySpec               string
	CustomerMasterKeySpec string
	Origin                string
	MultiRegion           bool
}

func (k *keyService) createKey(in *createKeyInput) (any, error) {
	if len(in.Description) > 8192 {
		return nil, errorf("ValidationException", "1 validation error detected: Value at 'description' failed to satisfy constraint: Member must have length less than or equal to 8192")
	}
	// Only symmetric encryption keys are emulated; other valid KMS key
	// types are refused rather than silently misbehaving.
	for field, v := range map[string]string{"KeyUsage": in.KeyUsage, "KeySpec": in.KeySpec, "CustomerMasterKeySpec": in.CustomerMasterKeySpec, "Origin": in.Origin} {
		if v != "" && v != "ENCRYPT_DECRYPT" && v != "SYMMETRIC_DEFAULT" && v != "AWS_KMS" {
			return nil, errorf("UnsupportedOperationException", "awsemu emulates only symmetric encryption keys; %s %s is not supported.", field, v)
		}
	}
	if in.MultiRegion {
		return nil, errorf("UnsupportedOperationException", "awsemu does not emulate multi-Region keys.")
	}
	policy := defaultKeyPolicy(k.srv.accountID)
	if in.Policy != nil {
		if err := checkPolicy(*in.Policy); err != nil {
			return nil, err
		}
		policy = *in.Policy
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	id := k.srv.nextKeyID()
	key := newKMSKey(id, k.keyARN(id), k.srv.now())
	key.description = in.Description
	key.policy = policy
	k.keys[id] = key
	return keyMetadataOutput{k.metadata(key)}, nil
}

type keyIDInput struct{ KeyId string }

func (k *keyService) describeKey(in *keyIDInput) (any, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.reapLocked()
	key, err := k.lookupLocked(in.KeyId, true)
	if err != nil {
		return nil, err
	}
	return keyMetadataOutput{k.metadata(key)}, nil
}

type listInput struct {
	KeyId  string
	Limit  *int
	Marker string
}

// page returns the items of sorted from marker on, at most limit of them,
// and the marker of the next page ("" when there is none).
func page[T any](sorted []T, name func(T) string, in *listInput) ([]T, string, error) {
	limit := 100
	if in.Limit != nil {
		limit = *in.Limit
		if limit < 1 || limit > 1000 {
			return nil, "", errorf("ValidationException", "1 validation error detected: Value '%d' at 'limit' failed to satisfy constraint: Member must have value between 1 and 1000", limit)
		}
	}
	start, _ := slices.BinarySearchFunc(sorted, in.Marker, func(v T, m string) int { return strings.Compare(name(v), m) })
	sorted = sorted[start:]
	if len(sorted) <= limit {
		return sorted, "", nil
	}
	return sorted[:limit], name(sorted[limit]), nil
}

type listKeysEntry struct{ KeyId, KeyArn string }

type listKeysOutput struct {
	Keys       []listKeysEntry
	Truncated  bool
	NextMarker string `json:",omitempty"`
}

func (k *keyService) listKeys(in *listInput) (any, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.reapLocked()
	var all []listKeysEntry
	for _, key := range k.keys {
		all = append(all, listKeysEntry{KeyId: key.id, KeyArn: key.arn})
	}
	slices.SortFunc(all, func(a, b listKeysEntry) int { return strings.Compare(a.KeyId, b.KeyId) })
	keys, next, err := page(all, func(e listKeysEntry) string { return e.KeyId }, in)
	if err != nil {
		return nil, err
	}
	return listKeysOutput{Keys: keys, Truncated: next != "", NextMarker: next}, nil
}

type policyInput struct {
	KeyId      string
	PolicyName *string
	Policy     *string
}

// checkPolicyName accepts what KMS accepts: no name or "default".
func checkPolicyName(name *string) error {
	if name != nil && *name != "default" {
		return errorf("NotFoundException", "Policy %s is not found. The only valid policy name is default.", *name)
	}
	return nil
}

func (k *keyService) getKeyPolicy(in *policyInput) (any, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.reapLocked()
	key, err := k.lookupLocked(in.KeyId, false)
	if err != nil {
		return nil, err
	}
	if err := checkPolicyName(in.PolicyName); err != nil {
		return nil, err
	}
	return struct{ Policy, PolicyName string }{key.policy, "default"}, nil
}

func (k *keyService) putKeyPolicy(in *policyInput) (any, error) {
	if in.Policy == nil {
		return nil, errorf("ValidationException", "1 validation error detected: Value null at 'policy' failed to satisfy constraint: Member must not be null")
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	k.reapLocked()
	key, err := k.lookupLocked(in.KeyId, false)
	if err != nil {
		return nil, err
	}
	if key.managed {
		return nil, k.denied("PutKeyPolicy", key)
	}
	if err := checkPolicyName(in.PolicyName); err != nil {
		return nil, err
	}
	if err := checkPolicy(*in.Policy); err != nil {
		return nil, err
	}
	key.policy = *in.Policy
	return nil, nil
}

type createAliasInput struct{ AliasName, TargetKeyId string }

func (k *keyService) createAlias(in *createAliasInput) (any, error) {
	name := in.AliasName
	if !strings.HasPrefix(name, "alias/") || len(name) == len("alias/") || len(name) > 256 ||
		strings.ContainsFunc(name, func(r rune) bool {
			return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("/_-", r))
		}) {
		return nil, errorf("InvalidAliasNameException", "Alias name %q must begin with alias/ and contain only alphanumeric characters, forward slashes (/), underscores (_), and dashes (-).", name)
	}
	if strings.HasPrefix(name, "alias/aws/") {
		return nil, errorf("NotAuthorizedException", "Cannot create alias with prefix 'alias/aws/'")
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	k.reapLocked()
	key, err := k.lookupLocked(in.TargetKeyId, false)
	if err != nil {
		return nil, err
	}
	if key.managed {
		return nil, k.denied("CreateAlias", key)
	}
	if key.state == keyPendingDeletion {
		return nil, stateError(key)
	}
	if k.aliases[name] != nil {
		return nil, errorf("AlreadyExistsException", "An alias with the name %s already exists", k.aliasARN(name))
	}
	now := k.srv.now()
	k.aliases[name] = &kmsAlias{name: name, target: key.id, created: now, updated: now}
	return nil, nil
}

type aliasEntry struct {
	AliasName       string
	AliasArn        string
	TargetKeyId     string
	CreationDate    float64
	LastUpdatedDate float64
}

type listAliasesOutput struct {
	Aliases    []aliasEntry
	Truncated  bool
	NextMarker string `json:",omitempty"`
}

func (k *keyService) listAliases(in *listInput) (any, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.reapLocked()
	target := ""
	if in.KeyId != "" {
		key, err := k.lookupLocked(in.KeyId, false)
		if err != nil {
			return nil, err
		}
		target = key.id
	}
	var all []aliasEntry
	for _, a := range k.aliases {
		if target != "" && a.target != target {
			continue
		}
		all = append(all, aliasEntry{
			AliasName:       a.name,
			AliasArn:        k.aliasARN(a.name),
			TargetKeyId:     a.target,
			CreationDate:    epoch(a.created),
			LastUpdatedDate: epoch(a.updated),
		})
	}
	slices.SortFunc(all, func(a, b aliasEntry) int { return strings.Compare(a.AliasName, b.AliasName) })
	aliases, next, err := page(all, func(e aliasEntry) string { return e.AliasName }, in)
	if err != nil {
		return nil, err
	}
	return listAliasesOutput{Aliases: aliases, Truncated: next != "", NextMarker: next}, nil
}

// setState is EnableKey and DisableKey: allowed for customer keys that are
// not pending deletion, idempotent.
func (k *keyService) setState(action, keyID, state string) error {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.reapLocked()
	key, err := k.lookupLocked(keyID, false)
	if err != nil {
		return err
	}
	if key.managed {
		return k.denied(action, key)
	}
	if key.state == keyPendingDeletion {
		return stateError(key)
	}
	key.state = state
	return nil
}

func (k *keyService) enableKey(in *keyIDInput) (any, error) {
	return nil, k.setState("EnableKey", in.KeyId, keyEnabled)
}

func (k *keyService) disableKey(in *keyIDInput) (any, error) {
	return nil, k.setState("DisableKey", in.KeyId, keyDisabled)
}

type scheduleKeyDeletionInput struct {
	KeyId               string
	PendingWindowInDays *int
}

func (k *keyService) scheduleKeyDeletion(in *scheduleKeyDeletionInput) (any, error) {
	days := 30
	if in.PendingWindowInDays != nil {
		days = *in.PendingWindowInDays
		if days < 7 || days > 30 {
			return nil, errorf("ValidationException", "1 validation error detected: Value '%d' at 'pendingWindowInDays' failed to satisfy constraint: Member must have value between 7 and 30", days)
		}
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	k.reapLocked()
	key, err := k.lookupLocked(in.KeyId, false)
	if err != nil {
		return nil, err
	}
	if key.managed {
		return nil, k.denied("ScheduleKeyDeletion", key)
	}
	if key.state == keyPendingDeletion {
		return nil, stateError(key)
	}
	key.state = keyPendingDeletion
	key.deleteAt = k.srv.now().Add(time.Duration(days) * 24 * time.Hour)
	return struct {
		KeyId               string
		DeletionDate        float64
		KeyState            string
		PendingWindowInDays int
	}{key.arn, epoch(key.deleteAt), key.state, days}, nil
}

func (k *keyService) cancelKeyDeletion(in *keyIDInput) (any, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.reapLocked()
	key, err := k.lookupLocked(in.KeyId, false)
	if err != nil {
		return nil, err
	}
	if key.managed {
		return nil, k.denied("CancelKeyDeletion", key)
	}
	if key.state != keyPendingDeletion {
		return nil, errorf("KMSInvalidStateException", "%s is not pending deletion.", key.arn)
	}
	// As in KMS, a key whose deletion is canceled comes back disabled.
	key.state = keyDisabled
	key.deleteAt = time.Time{}
	return struct{ KeyId string }{key.arn}, nil
}

// usableLocked finds the key for a cryptographic operation: it must exist,
// be enabled, and not be the AWS managed key, which only Secrets Manager
// may use. Caller holds k.mu.
func (k *keyService) usableLocked(action, keyID string) (*kmsKey, error) {
	k.reapLocked()
	key, err := k.lookupLocked(keyID, true)
	if err != nil {
		return nil, err
	}
	if key.managed {
		return nil, k.denied(action, key)
	}
	if err := stateError(key); err != nil {
		return nil, err
	}
	return key, nil
}

// checkAlgorithm accepts the one algorithm a symmetric key supports.
func checkAlgorithm(alg string) error {
	if alg != "" && alg != "SYMMETRIC_DEFAULT" {
		return errorf("InvalidKeyUsageException", "The encryption algorithm %s is not compatible with the key spec SYMMETRIC_DEFAULT.", alg)
	}
	return nil
}

type encryptInput struct {
	KeyId               string
	Plaintext           []byte
	EncryptionContext   map[string]string
	EncryptionAlgorithm string
}

type cryptoOutput struct {
	CiphertextBlob      []byte `json:",omitempty"`
	Plaintext           []byte `json:",omitempty"`
	KeyId               string
	EncryptionAlgorithm string `json:",omitempty"`
}

func (k *keyService) encrypt(in *encryptInput) (any, error) {
	if len(in.Plaintext) == 0 || len(in.Plaintext) > 4096 {
		return nil, errorf("ValidationException", "1 validation error detected: Value at 'plaintext' failed to satisfy constraint: Member must have length between 1 and 4096")
	}
	if err := checkAlgorithm(in.EncryptionAlgorithm); err != nil {
		return nil, err
	}
	k.mu.Lock()
	key, err := k.usableLocked("Encrypt", in.KeyId)
	k.mu.Unlock()
	if err != nil {
		return nil, err
	}
	return cryptoOutput{CiphertextBlob: key.seal(in.Plaintext, in.EncryptionContext), KeyId: key.arn, EncryptionAlgorithm: "SYMMETRIC_DEFAULT"}, nil
}

type decryptInput struct {
	CiphertextBlob      []byte
	KeyId               string
	EncryptionContext   map[string]string
	EncryptionAlgorithm string
}

func (k *keyService) decrypt(in *decryptInput) (any, error) {
	if err := checkAlgorithm(in.EncryptionAlgorithm); err != nil {
		return nil, err
	}
	// KMS says nothing about why a ciphertext is refused.
	invalid := errorf("InvalidCiphertextException", "")
	id, ok := blobKeyID(in.CiphertextBlob)
	if !ok {
		return nil, invalid
	}
	k.mu.Lock()
	var (
		key *kmsKey
		err error
	)
	if in.KeyId != "" {
		if key, err = k.usableLocked("Decrypt", in.KeyId); err == nil && key.id != id {
			err = errorf("IncorrectKeyException", "The key ID in the request does not identify a KMS key that can perform this operation.")
		}
	} else {
		key, err = k.usableLocked("Decrypt", id)
	}
	k.mu.Unlock()
	if err != nil {
		return nil, err
	}
	pt, ok := key.open(in.CiphertextBlob, in.EncryptionContext)
	if !ok {
		return nil, invalid
	}
	return cryptoOutput{Plaintext: pt, KeyId: key.arn, EncryptionAlgorithm: "SYMMETRIC_DEFAULT"}, nil
}

type generateDataKeyInput struct {
	KeyId             string
	KeySpec           string
	NumberOfBytes     *int
	EncryptionContext map[string]string
}

func (k *keyService) generateDataKey(in *generateDataKeyInput) (any, error) {
	var n int
	switch {
	case (in.KeySpec == "") == (in.NumberOfBytes == nil):
		return nil, errorf("ValidationException", "Please specify either number of bytes or key spec.")
	case in.KeySpec == "AES_256":
		n = 32
	case in.KeySpec == "AES_128":
		n = 16
	case in.KeySpec != "":
		return nil, errorf("ValidationException", "1 validation error detected: Value '%s' at 'keySpec' failed to satisfy constraint: Member must satisfy enum value set: [AES_256, AES_128]", in.KeySpec)
	default:
		n = *in.NumberOfBytes
		if n < 1 || n > 1024 {
			return nil, errorf("ValidationException", "1 validation error detected: Value '%d' at 'numberOfBytes' failed to satisfy constraint: Member must have value between 1 and 1024", n)
		}
	}
	k.mu.Lock()
	key, err := k.usableLocked("GenerateDataKey", in.KeyId)
	k.mu.Unlock()
	if err != nil {
		return nil, err
	}
	dataKey := randomBytes(n)
	return cryptoOutput{CiphertextBlob: key.seal(dataKey, in.EncryptionContext), Plaintext: dataKey, KeyId: key.arn}, nil
}
