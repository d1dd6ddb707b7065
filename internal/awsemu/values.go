package awsemu

import (
	"context"
	"errors"
	"slices"
	"strings"
)

type createSecretInput struct {
	Name               string
	ClientRequestToken string
	Description        *string
	KmsKeyID           string `json:"KmsKeyId"`
	SecretString       *string
	SecretBinary       []byte
	Tags               []tag

	AddReplicaRegions           []replicaRegionInput
	ForceOverwriteReplicaSecret bool
}

type writeOutput struct {
	ARN           string   `json:"ARN"`
	Name          string   `json:"Name"`
	VersionID     string   `json:"VersionId,omitempty"`
	VersionStages []string `json:"VersionStages,omitempty"`

	ReplicationStatus []replicationStatusOutput `json:"ReplicationStatus,omitempty"`
}

func (m *secretsManager) createSecret(body []byte) (any, error) {
	var in createSecretInput
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	if in.Name == "" {
		return nil, errRequired("name")
	}
	if len(in.Name) > maxNameLen || !validName.MatchString(in.Name) {
		return nil, errorf("ValidationException", "Invalid name. Must be a valid name containing alphanumeric characters, or any of the following: -/_+=.@!")
	}
	val := secretValue{str: in.SecretString, binary: in.SecretBinary}
	if err := val.validate(); err != nil {
		return nil, err
	}
	if err := validateToken(in.ClientRequestToken); err != nil {
		return nil, err
	}
	if in.Description != nil && len(*in.Description) > maxDescriptionLen {
		return nil, errValidation("description", "Member must have length less than or equal to 2048")
	}
	if err := validateTags(in.Tags); err != nil {
		return nil, err
	}
	if err := validateReplicaRegions(m.region, in.AddReplicaRegions); err != nil {
		return nil, err
	}
	var keyARN string
	if in.KmsKeyID != "" {
		k, err := m.kms.resolveKey(in.KmsKeyID)
		if err != nil {
			return nil, err
		}
		keyARN = k
	}

	m.mu.Lock()
	defer m.mu.Unlock()
	if old := m.byName[in.Name]; old != nil && !m.purgeIfExpired(old) {
		if !old.deletedDate.IsZero() {
			return nil, errorf("InvalidRequestException", "You can't create this secret because a secret with this name is already scheduled for deletion.")
		}
		// An SDK retry of a create that already succeeded is answered as
		// the first attempt was.
		if v := old.versions[in.ClientRequestToken]; v != nil && val.present() && v.hasValue && v.digest == val.digest() {
			return writeOutput{ARN: old.arn, Name: old.name, VersionID: v.id}, nil
		}
		return nil, errorf("ResourceExistsException", "The operation failed because the secret %s already exists.", in.Name)
	}
	now := m.srv.now()
	sec := &secret{
		arn:         m.arnPrefix() + in.Name + "-" + m.srv.nextARNSuffix(),
		name:        in.Name,
		kmsKeyID:    keyARN,
		tags:        dedupTags(nil, in.Tags),
		created:     now,
		lastChanged: now,
		seq:         m.nextSeq(),
		versions:    make(map[string]*version),
	}
	if in.Description != nil {
		sec.description = *in.Description
	}
	out := writeOutput{ARN: sec.arn, Name: sec.name}
	if val.present() {
		v, err := m.writeVersion(sec, in.ClientRequestToken, val, nil)
		if err != nil {
			return nil, err
		}
		out.VersionID = v.id
	}
	m.byName[sec.name] = sec
	m.byARN[sec.arn] = sec
	m.addReplicas(sec, in.AddReplicaRegions, in.ForceOverwriteReplicaSecret)
	out.ReplicationStatus = m.replicationStatus(sec)
	return out, nil
}

type putSecretValueInput struct {
	SecretID           string `json:"SecretId"`
	ClientRequestToken string
	SecretString       *string
	SecretBinary       []byte
	VersionStages      []string
}

func (m *secretsManager) putSecretValue(body []byte) (any, error) {
	var in putSecretValueInput
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	val := secretValue{str: in.SecretString, binary: in.SecretBinary}
	if err := val.validate(); err != nil {
		return nil, err
	}
	if !val.present() {
		return nil, errorf("InvalidRequestException", "You must provide either SecretString or SecretBinary.")
	}
	if err := validateToken(in.ClientRequestToken); err != nil {
		return nil, err
	}
	if err := validateStages(in.VersionStages); err != nil {
		return nil, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	sec, aerr := m.lookupLive(in.SecretID)
	if aerr != nil {
		return nil, aerr
	}
	v, err := m.writeVersion(sec, in.ClientRequestToken, val, in.VersionStages)
	if err != nil {
		return nil, err
	}
	return writeOutput{ARN: sec.arn, Name: sec.name, VersionID: v.id, VersionStages: slices.Clone(v.stages)}, nil
}

type updateSecretInput struct {
	SecretID           string `json:"SecretId"`
	ClientRequestToken string
	Description        *string
	KmsKeyID           string `json:"KmsKeyId"`
	SecretString       *string
	SecretBinary       []byte
}

func (m *secretsManager) updateSecret(body []byte) (any, error) {
	var in updateSecretInput
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	val := secretValue{str: in.SecretString, binary: in.SecretBinary}
	if err := val.validate(); err != nil {
		return nil, err
	}
	if err := validateToken(in.ClientRequestToken); err != nil {
		return nil, err
	}
	if in.Description != nil && len(*in.Description) > maxDescriptionLen {
		return nil, errValidation("description", "Member must have length less than or equal to 2048")
	}
	var keyARN string
	if in.KmsKeyID != "" {
		k, err := m.kms.resolveKey(in.KmsKeyID)
		if err != nil {
			return nil, err
		}
		keyARN = k
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	sec, aerr := m.lookupLive(in.SecretID)
	if aerr != nil {
		return nil, aerr
	}
	if in.Description != nil {
		sec.description = *in.Description
	}
	if keyARN != "" {
		sec.kmsKeyID = keyARN // new versions use it; old ones keep theirs
	}
	m.touch(sec)
	out := writeOutput{ARN: sec.arn, Name: sec.name}
	if val.present() {
		v, err := m.writeVersion(sec, in.ClientRequestToken, val, nil)
		if err != nil {
			return nil, err
		}
		out.VersionID = v.id
	}
	return out, nil
}

// writeVersion stores val as the version token (generated when empty) and
// attaches stages to it, AWSCURRENT when none are given. The first version
// of a secret gets AWSCURRENT whatever the stages, as the service does.
// Writing the value a version already has is a no-op; a different value is
// refused, because versions are immutable. A version RotateSecret created
// without a value is filled in. A write that would leave more deprecated
// versions than the service keeps, none of them old enough to remove, is
// refused and changes nothing. m.mu must be held.
func (m *secretsManager) writeVersion(sec *secret, token string, val secretValue, stages []string) (*version, error) {
	if token == "" {
		token = newUUID()
	}
	digest := val.digest()
	v := sec.versions[token]
	if v != nil && v.hasValue {
		if v.digest == digest {
			return v, nil
		}
		return nil, errorf("ResourceExistsException", "You can't modify an existing version, you can only create a new version.")
	}
	keyARN, sealed, err := m.kms.sealSecret(sec.kmsKeyID, sec.arn, val.bytes())
	if err != nil {
		return nil, err
	}
	now := m.srv.now()
	undo := sec.snapshot()
	if v == nil {
		v = &version{id: token, created: now, seq: m.nextSeq()}
		sec.versions[token] = v
	}
	filled := *v
	filled.hasValue, filled.binary, filled.sealed, filled.digest = true, val.str == nil, sealed, digest
	filled.keyARN, filled.customKey = keyARN, sec.kmsKeyID != ""
	*v = filled
	if len(stages) == 0 || sec.holder(stageCurrent) == nil {
		stages = append(slices.Clone(stages), stageCurrent)
	}
	for _, st := range stages {
		sec.attach(v, st)
	}
	if !sec.pruneDeprecated(now) {
		undo()
		return nil, errorf("LimitExceededException", "The request failed because it would exceed one of the Secrets Manager quotas: a secret keeps at most %d versions without staging labels, and removes them only once they are 24 hours old.", maxDeprecated)
	}
	sec.lastChanged = now
	return v, nil
}

func validateStages(stages []string) *apiError {
	if len(stages) > 20 {
		return errValidation("versionStages", "Member must have length less than or equal to 20")
	}
	for _, s := range stages {
		if s == "" || len(s) > 256 {
			return errValidation("versionStages", "Member must have length between 1 and 256")
		}
	}
	return nil
}

type getSecretValueInput struct {
	SecretID     string `json:"SecretId"`
	VersionID    string `json:"VersionId"`
	VersionStage string
}

type secretValueOutput struct {
	ARN           string   `json:"ARN"`
	Name          string   `json:"Name"`
	VersionID     string   `json:"VersionId"`
	SecretString  *string  `json:"SecretString,omitempty"`
	SecretBinary  []byte   `json:"SecretBinary,omitempty"`
	VersionStages []string `json:"VersionStages"`
	CreatedDate   *float64 `json:"CreatedDate,omitempty"`
}

func (m *secretsManager) getSecretValue(body []byte) (any, error) {
	var in getSecretValueInput
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	sec, aerr := m.lookupLive(in.SecretID)
	if aerr != nil {
		return nil, aerr
	}
	return m.readValue(sec, in.VersionID, in.VersionStage)
}

// readValue opens the version of sec that versionID or stage (default
// AWSCURRENT) names. m.mu must be held.
func (m *secretsManager) readValue(sec *secret, versionID, stage string) (*secretValueOutput, error) {
	var v *version
	switch {
	case versionID != "":
		v = sec.versions[versionID]
		if v == nil {
			return nil, errorf("ResourceNotFoundException", "Secrets Manager can't find the specified secret value for VersionId: %s", versionID)
		}
		if stage != "" && !v.has(stage) {
			return nil, errorf("InvalidRequestException", "You provided a VersionStage that is not associated to the provided VersionId.")
		}
	default:
		if stage == "" {
			stage = stageCurrent
		}
		v = sec.holder(stage)
	}
	if v == nil || !v.hasValue {
		if versionID != "" {
			return nil, errorf("ResourceNotFoundException", "Secrets Manager can't find the specified secret value for VersionId: %s", versionID)
		}
		return nil, errorf("ResourceNotFoundException", "Secrets Manager can't find the specified secret value for staging label: %s", stage)
	}
	plain, err := m.kms.openSecret(v.keyARN, sec.arn, v.sealed)
	if err != nil {
		return nil, err
	}
	day := dayOf(m.srv.now())
	sec.lastAccessed, v.lastAccessed = day, day
	out := &secretValueOutput{
		ARN:           sec.arn,
		Name:          sec.name,
		VersionID:     v.id,
		VersionStages: slices.Clone(v.stages),
		CreatedDate:   date(v.created),
	}
	if v.binary {
		out.SecretBinary = plain
	} else {
		s := string(plain)
		out.SecretString = &s
	}
	return out, nil
}

type batchGetInput struct {
	SecretIDList []string `json:"SecretIdList"`
	Filters      []filter
	MaxResults   *int
	NextToken    string
}

type batchError struct {
	SecretID  string `json:"SecretId"`
	ErrorCode string `json:"ErrorCode"`
	Message   string `json:"Message"`
}

type batchGetOutput struct {
	SecretValues []*secretValueOutput `json:"SecretValues"`
	Errors       []batchError         `json:"Errors,omitempty"`
	NextToken    string               `json:"NextToken,omitempty"`
}

// batchGetSecretValue reads several secrets' AWSCURRENT values. With IAM
// enforced, each secret needs secretsmanager:GetSecretValue and the
// kms:Decrypt of its value; one the caller may not read is reported in
// Errors as AccessDeniedException, as the service does.
func (m *secretsManager) batchGetSecretValue(ctx context.Context, body []byte) (any, error) {
	caller := callerFrom(ctx)
	var in batchGetInput
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	if (len(in.SecretIDList) == 0) == (len(in.Filters) == 0) {
		return nil, errorf("InvalidParameterException", "Either 'SecretIdList' or 'Filters' must be provided, but not both.")
	}
	if len(in.SecretIDList) > maxBatchIDs {
		return nil, errValidation("secretIdList", "Member must have length less than or equal to 20")
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	out := batchGetOutput{SecretValues: []*secretValueOutput{}}
	if len(in.Filters) > 0 {
		page, next, err := m.listPage(in.Filters, false, in.MaxResults, in.NextToken, 20)
		if err != nil {
			return nil, err
		}
		out.NextToken = next
		for _, sec := range page {
			m.batchRead(&out, caller, sec.arn, sec)
		}
		return out, nil
	}
	for _, id := range in.SecretIDList {
		if caller != nil && caller.account != m.srv.accountID && !strings.HasPrefix(id, "arn:") {
			// A name resolves in the caller's own account, which holds nothing.
			aerr := errSecretNotFound()
			out.Errors = append(out.Errors, batchError{SecretID: id, ErrorCode: aerr.Code, Message: aerr.Message})
			continue
		}
		sec, aerr := m.lookupLive(id)
		if aerr != nil {
			out.Errors = append(out.Errors, batchError{SecretID: id, ErrorCode: aerr.Code, Message: aerr.Message})
			continue
		}
		m.batchRead(&out, caller, id, sec)
	}
	return out, nil
}

// batchRead adds sec's AWSCURRENT value, or the reason it has none or
// caller (nil: IAM not enforced) may not read it, to out.
func (m *secretsManager) batchRead(out *batchGetOutput, caller *caller, id string, sec *secret) {
	if caller != nil {
		if aerr := m.authorizeBatchLocked(caller, sec); aerr != nil {
			out.Errors = append(out.Errors, batchError{SecretID: id, ErrorCode: aerr.Code, Message: aerr.Message})
			return
		}
	}
	v, err := m.readValue(sec, "", "")
	if err == nil {
		out.SecretValues = append(out.SecretValues, v)
		return
	}
	be := batchError{SecretID: id, ErrorCode: "InternalServiceError", Message: err.Error()}
	if ae := (*apiError)(nil); errors.As(err, &ae) {
		be.ErrorCode, be.Message = ae.Code, ae.Message
	}
	out.Errors = append(out.Errors, be)
}

type secretIDInput struct {
	SecretID string `json:"SecretId"`
}

type describeOutput struct {
	secretMeta
	VersionIdsToStages map[string][]string       `json:"VersionIdsToStages,omitempty"`
	ReplicationStatus  []replicationStatusOutput `json:"ReplicationStatus,omitempty"`
}

func (m *secretsManager) describeSecret(body []byte) (any, error) {
	var in secretIDInput
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	sec, aerr := m.lookup(in.SecretID)
	if aerr != nil {
		return nil, aerr
	}
	return describeOutput{secretMeta: sec.meta(), VersionIdsToStages: sec.stageMap(), ReplicationStatus: m.replicationStatus(sec)}, nil
}

// touch records a change to a secret's metadata. m.mu must be held.
func (m *secretsManager) touch(sec *secret) {
	sec.lastChanged = m.srv.now()
}
