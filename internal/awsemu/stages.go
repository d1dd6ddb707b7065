package awsemu

import (
	"slices"
)

type updateStageInput struct {
	SecretID            string `json:"SecretId"`
	VersionStage        string
	MoveToVersionID     string `json:"MoveToVersionId"`
	RemoveFromVersionID string `json:"RemoveFromVersionId"`
}

// updateSecretVersionStage moves, adds or removes one staging label. A label
// already on another version moves only when RemoveFromVersionId names that
// version; AWSCURRENT cannot be removed, only moved, and moving it leaves
// AWSPREVIOUS behind.
func (m *secretsManager) updateSecretVersionStage(body []byte) (any, error) {
	var in updateStageInput
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	if in.VersionStage == "" {
		return nil, errRequired("versionStage")
	}
	if err := validateStages([]string{in.VersionStage}); err != nil {
		return nil, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	sec, aerr := m.lookupLive(in.SecretID)
	if aerr != nil {
		return nil, aerr
	}
	var to, from *version
	if in.MoveToVersionID != "" {
		if to = sec.versions[in.MoveToVersionID]; to == nil {
			return nil, errorf("InvalidParameterException", "Not a valid version: %s", in.MoveToVersionID)
		}
	}
	if in.RemoveFromVersionID != "" {
		if from = sec.versions[in.RemoveFromVersionID]; from == nil {
			return nil, errorf("InvalidParameterException", "Not a valid version: %s", in.RemoveFromVersionID)
		}
		if !from.has(in.VersionStage) {
			return nil, errorf("InvalidParameterException", "The staging label %s is not attached to version %s, which you specified in RemoveFromVersionId.", in.VersionStage, from.id)
		}
	}
	holder := sec.holder(in.VersionStage)
	switch {
	case to == nil && from == nil:
		return nil, errorf("InvalidParameterException", "You must specify MoveToVersionId, RemoveFromVersionId, or both.")
	case to == nil:
		if in.VersionStage == stageCurrent {
			return nil, errorf("InvalidParameterException", "You can't remove the staging label AWSCURRENT from a version without moving it to another version with MoveToVersionId.")
		}
		from.drop(in.VersionStage)
	case holder != nil && holder != to && from == nil:
		return nil, errorf("InvalidParameterException", "The parameter RemoveFromVersionId can't be empty. Staging label %s is currently attached to version %s, so you must explicitly reference that version in RemoveFromVersionId.", in.VersionStage, holder.id)
	default:
		sec.attach(to, in.VersionStage)
	}
	m.touch(sec)
	sec.pruneDeprecated(m.srv.now()) // removing labels is never refused
	return sec.ref(), nil
}

type listVersionsInput struct {
	SecretID          string `json:"SecretId"`
	IncludeDeprecated bool
	MaxResults        *int
	NextToken         string
}

type versionEntry struct {
	VersionID        string   `json:"VersionId"`
	VersionStages    []string `json:"VersionStages,omitempty"`
	CreatedDate      *float64 `json:"CreatedDate,omitempty"`
	LastAccessedDate *float64 `json:"LastAccessedDate,omitempty"`
	KmsKeyIDs        []string `json:"KmsKeyIds,omitempty"`
}

type listVersionsOutput struct {
	ARN       string         `json:"ARN"`
	Name      string         `json:"Name"`
	Versions  []versionEntry `json:"Versions"`
	NextToken string         `json:"NextToken,omitempty"`
}

// listSecretVersionIds lists versions oldest first; deprecated (unlabelled)
// ones only with IncludeDeprecated.
func (m *secretsManager) listSecretVersionIds(body []byte) (any, error) {
	var in listVersionsInput
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	sec, aerr := m.lookupLive(in.SecretID)
	if aerr != nil {
		return nil, aerr
	}
	var entries []versionEntry
	for _, v := range sec.versionsByAge() {
		if len(v.stages) == 0 && !in.IncludeDeprecated {
			continue
		}
		e := versionEntry{
			VersionID:        v.id,
			VersionStages:    slices.Clone(v.stages),
			CreatedDate:      date(v.created),
			LastAccessedDate: date(v.lastAccessed),
		}
		if v.hasValue {
			// AWS names the default key this way rather than by ARN.
			e.KmsKeyIDs = []string{"DefaultEncryptionKey"}
			if v.customKey {
				e.KmsKeyIDs = []string{v.keyARN}
			}
		}
		entries = append(entries, e)
	}
	page, next, aerr := paginate(entries, in.MaxResults, in.NextToken, 100)
	if aerr != nil {
		return nil, aerr
	}
	return listVersionsOutput{ARN: sec.arn, Name: sec.name, Versions: page, NextToken: next}, nil
}
