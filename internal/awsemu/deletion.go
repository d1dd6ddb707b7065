package awsemu

import "time"

type deleteSecretInput struct {
	SecretID                   string `json:"SecretId"`
	RecoveryWindowInDays       *int64
	ForceDeleteWithoutRecovery bool
}

type deleteSecretOutput struct {
	ARN          string   `json:"ARN"`
	Name         string   `json:"Name"`
	DeletionDate *float64 `json:"DeletionDate"`
}

// deleteSecret schedules a secret for deletion after a recovery window of
// 7 to 30 days (default 30), or removes it at once with
// ForceDeleteWithoutRecovery. A scheduled secret can still be described
// and restored; its name cannot be reused until it is gone.
func (m *secretsManager) deleteSecret(body []byte) (any, error) {
	var in deleteSecretInput
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	if in.RecoveryWindowInDays != nil && in.ForceDeleteWithoutRecovery {
		return nil, errorf("InvalidParameterException", "You can't use ForceDeleteWithoutRecovery in conjunction with RecoveryWindowInDays.")
	}
	days := int64(30)
	if in.RecoveryWindowInDays != nil {
		days = *in.RecoveryWindowInDays
		if days < 7 || days > 30 {
			return nil, errorf("InvalidParameterException", "The RecoveryWindowInDays value must be between 7 and 30 days (inclusive).")
		}
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	sec, aerr := m.lookup(in.SecretID)
	if aerr != nil {
		return nil, aerr
	}
	now := m.srv.now()
	if in.ForceDeleteWithoutRecovery {
		m.remove(sec)
		return deleteSecretOutput{ARN: sec.arn, Name: sec.name, DeletionDate: date(now)}, nil
	}
	if !sec.deletedDate.IsZero() {
		return nil, errorf("InvalidRequestException", "You can't perform this operation on the secret because it was already scheduled for deletion.")
	}
	sec.deletedDate = now.Add(time.Duration(days) * 24 * time.Hour)
	sec.lastChanged = now
	return deleteSecretOutput{ARN: sec.arn, Name: sec.name, DeletionDate: date(sec.deletedDate)}, nil
}

// restoreSecret cancels a scheduled deletion; restoring a secret that is
// not scheduled for deletion succeeds and changes nothing.
func (m *secretsManager) restoreSecret(body []byte) (any, error) {
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
	if !sec.deletedDate.IsZero() {
		sec.deletedDate = time.Time{}
		m.touch(sec)
	}
	return sec.ref(), nil
}
