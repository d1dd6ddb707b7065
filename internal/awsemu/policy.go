package awsemu

import (
	"encoding/json"
)

type putPolicyInput struct {
	SecretID          string `json:"SecretId"`
	ResourcePolicy    string
	BlockPublicPolicy *bool
}

type policyOutput struct {
	ARN            string `json:"ARN"`
	Name           string `json:"Name"`
	ResourcePolicy string `json:"ResourcePolicy,omitempty"`
}

type validationEntry struct {
	CheckName    string `json:"CheckName"`
	ErrorMessage string `json:"ErrorMessage"`
}

type validateOutput struct {
	PolicyValidationPassed bool              `json:"PolicyValidationPassed"`
	ValidationErrors       []validationEntry `json:"ValidationErrors"`
}

// resourcePolicy is the part of an IAM policy document the emulator reads.
type resourcePolicy struct {
	Version   string
	Statement resourceStatements
}

type resourceStatement struct {
	Effect    string
	Principal json.RawMessage
	Condition json.RawMessage
}

// resourceStatements accepts a single resourceStatement object as well as a list.
type resourceStatements []resourceStatement

func (s *resourceStatements) UnmarshalJSON(b []byte) error {
	var one resourceStatement
	if json.Unmarshal(b, &one) == nil && len(b) > 0 && b[0] == '{' {
		*s = resourceStatements{one}
		return nil
	}
	var many []resourceStatement
	if err := json.Unmarshal(b, &many); err != nil {
		return err
	}
	*s = many
	return nil
}

func parsePolicy(doc string) (*resourcePolicy, *apiError) {
	var p resourcePolicy
	if err := json.Unmarshal([]byte(doc), &p); err != nil || len(p.Statement) == 0 {
		return nil, errorf("MalformedPolicyDocumentException", "This resource policy contains a syntax error or is not a valid policy document.")
	}
	return &p, nil
}

// public reports whether the policy allows anyone ("Principal": "*" or
// {"AWS": "*"}) without a condition: the broad access BlockPublicPolicy
// refuses.
func (p *resourcePolicy) public() bool {
	for _, st := range p.Statement {
		if st.Effect != "Allow" || len(st.Condition) > 0 && string(st.Condition) != "{}" && string(st.Condition) != "null" {
			continue
		}
		if principalIsAnyone(st.Principal) {
			return true
		}
	}
	return false
}

func principalIsAnyone(raw json.RawMessage) bool {
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return s == "*"
	}
	var m map[string]json.RawMessage
	if json.Unmarshal(raw, &m) != nil {
		return false
	}
	aws, ok := m["AWS"]
	if !ok {
		return false
	}
	if json.Unmarshal(aws, &s) == nil {
		return s == "*"
	}
	var list []string
	if json.Unmarshal(aws, &list) == nil {
		for _, p := range list {
			if p == "*" {
				return true
			}
		}
	}
	return false
}

func (m *secretsManager) getResourcePolicy(body []byte) (any, error) {
	var in secretIDInput
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	sec, aerr := m.lookupLive(in.SecretID)
	if aerr != nil {
		return nil, aerr
	}
	return policyOutput{ARN: sec.arn, Name: sec.name, ResourcePolicy: sec.policy}, nil
}

// putResourcePolicy attaches a policy; with BlockPublicPolicy (as the CLI
// sends by default) a policy granting access to anyone is refused.
func (m *secretsManager) putResourcePolicy(body []byte) (any, error) {
	var in putPolicyInput
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	if in.ResourcePolicy == "" {
		return nil, errRequired("resourcePolicy")
	}
	p, aerr := parsePolicy(in.ResourcePolicy)
	if aerr != nil {
		return nil, aerr
	}
	if in.BlockPublicPolicy != nil && *in.BlockPublicPolicy && p.public() {
		return nil, errorf("PublicPolicyException", "The BlockPublicPolicy parameter is set to true, and the resource policy did not prevent broad access to the secret.")
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	sec, aerr := m.lookupLive(in.SecretID)
	if aerr != nil {
		return nil, aerr
	}
	sec.policy = in.ResourcePolicy
	m.touch(sec)
	return sec.ref(), nil
}

func (m *secretsManager) deleteResourcePolicy(body []byte) (any, error) {
	var in secretIDInput
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	sec, aerr := m.lookupLive(in.SecretID)
	if aerr != nil {
		return nil, aerr
	}
	sec.policy = ""
	m.touch(sec)
	return sec.ref(), nil
}

// validateResourcePolicy checks a policy's syntax and whether it grants
// broad access. SecretId, when given, must name a secret.
func (m *secretsManager) validateResourcePolicy(body []byte) (any, error) {
	var in putPolicyInput
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	if in.ResourcePolicy == "" {
		return nil, errRequired("resourcePolicy")
	}
	if in.SecretID != "" {
		m.mu.Lock()
		_, aerr := m.lookupLive(in.SecretID)
		m.mu.Unlock()
		if aerr != nil {
			return nil, aerr
		}
	}
	p, aerr := parsePolicy(in.ResourcePolicy)
	if aerr != nil {
		return nil, aerr
	}
	out := validateOutput{PolicyValidationPassed: true, ValidationErrors: []validationEntry{}}
	if p.public() {
		out.PolicyValidationPassed = false
		out.ValidationErrors = append(out.ValidationErrors, validationEntry{
			CheckName:    "BROAD_ACCESS",
			ErrorMessage: "The resource policy grants access to any principal (\"Principal\": \"*\") without a condition, so the secret would be public.",
		})
	}
	return out, nil
}
