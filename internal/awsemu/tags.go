package awsemu

import "slices"

type tagResourceInput struct {
	SecretID string `json:"SecretId"`
	Tags     []tag
}

type untagResourceInput struct {
	SecretID string `json:"SecretId"`
	TagKeys  []string
}

func validateTags(tags []tag) *apiError {
	if len(tags) > maxTags {
		return errValidation("tags", "Member must have length less than or equal to 50")
	}
	for _, t := range tags {
		if t.Key == "" || len(t.Key) > 128 {
			return errValidation("tags.member.key", "Member must have length between 1 and 128")
		}
		if len(t.Value) > 256 {
			return errValidation("tags.member.value", "Member must have length less than or equal to 256")
		}
	}
	return nil
}

// dedupTags returns have with add applied: a key already present takes the
// new value.
func dedupTags(have, add []tag) []tag {
	out := slices.Clone(have)
	for _, t := range add {
		if i := slices.IndexFunc(out, func(o tag) bool { return o.Key == t.Key }); i >= 0 {
			out[i].Value = t.Value
		} else {
			out = append(out, t)
		}
	}
	return out
}

func (m *secretsManager) tagResource(body []byte) (any, error) {
	var in tagResourceInput
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	if in.Tags == nil {
		return nil, errRequired("tags")
	}
	if err := validateTags(in.Tags); err != nil {
		return nil, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	sec, aerr := m.lookupLive(in.SecretID)
	if aerr != nil {
		return nil, aerr
	}
	tags := dedupTags(sec.tags, in.Tags)
	if len(tags) > maxTags {
		return nil, errorf("InvalidParameterException", "The secret would have more than %d tags.", maxTags)
	}
	sec.tags = tags
	m.touch(sec)
	return nil, nil
}

func (m *secretsManager) untagResource(body []byte) (any, error) {
	var in untagResourceInput
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	if in.TagKeys == nil {
		return nil, errRequired("tagKeys")
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	sec, aerr := m.lookupLive(in.SecretID)
	if aerr != nil {
		return nil, aerr
	}
	sec.tags = slices.DeleteFunc(sec.tags, func(t tag) bool { return slices.Contains(in.TagKeys, t.Key) })
	m.touch(sec)
	return nil, nil
}
