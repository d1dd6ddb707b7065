package policy_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/rekeyhq/rekey/policy"
)

type accessFile struct {
	Description string       `json:"description"`
	Cases       []accessCase `json:"cases"`
}

type accessCase struct {
	Name    string     `json:"name"`
	Access  accessSpec `json:"access"`
	Allowed bool       `json:"allowed"`
	Failing []string   `json:"failing"`
	Reason  string     `json:"reason"`
}

type accessSpec struct {
	Caller         string              `json:"caller"`
	CallerPolicies []json.RawMessage   `json:"callerPolicies"`
	CallerBoundary json.RawMessage     `json:"callerBoundary"`
	Secret         string              `json:"secret"`
	SecretPolicy   json.RawMessage     `json:"secretPolicy"`
	KeyARN         string              `json:"keyArn"`
	KeyManager     string              `json:"keyManager"`
	KeyPolicy      json.RawMessage     `json:"keyPolicy"`
	Context        map[string][]string `json:"context"`
}

func (s accessSpec) build(t testing.TB) policy.SecretAccess {
	t.Helper()
	a := policy.SecretAccess{
		Caller: s.Caller, CallerBoundary: parseDoc(t, s.CallerBoundary, "boundary"),
		Secret: s.Secret, SecretPolicy: parseDoc(t, s.SecretPolicy, "secret policy"),
		KeyARN: s.KeyARN, KeyManager: s.KeyManager, KeyPolicy: parseDoc(t, s.KeyPolicy, "key policy"),
		Context: s.Context,
	}
	for _, raw := range s.CallerPolicies {
		a.CallerPolicies = append(a.CallerPolicies, parseDoc(t, raw, "caller policy"))
	}
	return a
}

func loadAccessCases(t testing.TB) []accessCase {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("testdata", "access", "getsecretvalue.json"))
	if err != nil {
		t.Fatal(err)
	}
	var f accessFile
	dec := json.NewDecoder(strings.NewReader(string(data)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&f); err != nil {
		t.Fatal(err)
	}
	return f.Cases
}

func TestCheckGetSecretValueCases(t *testing.T) {
	for _, c := range loadAccessCases(t) {
		t.Run(c.Name, func(t *testing.T) {
			r := policy.CheckGetSecretValue(c.Access.build(t))
			if r.Allowed != c.Allowed {
				t.Fatalf("Allowed = %v, want %v\n%s", r.Allowed, c.Allowed, r)
			}
			var failing []string
			var text strings.Builder
			for _, l := range r.Layers {
				if !l.OK {
					failing = append(failing, l.Name)
					text.WriteString(l.Reason + "\n" + l.Fix + "\n")
				}
			}
			if !slices.Equal(failing, c.Failing) {
				t.Errorf("failing layers = %q, want %q\n%s", failing, c.Failing, r)
			}
			if c.Reason != "" && !strings.Contains(text.String(), c.Reason) {
				t.Errorf("failing layers do not mention %q\n%s", c.Reason, r)
			}
			checkReportShape(t, r)
		})
	}
}

// checkReportShape checks what every report promises: Allowed exactly when
// every layer is OK, failing layers first, a fix on each failing layer, and
// each layer once.
func checkReportShape(t *testing.T, r policy.Report) {
	t.Helper()
	allOK := true
	seenOK := false
	names := map[string]bool{}
	for _, l := range r.Layers {
		if names[l.Name] {
			t.Errorf("layer %q listed twice", l.Name)
		}
		names[l.Name] = true
		if l.OK {
			seenOK = true
			if l.Fix != "" {
				t.Errorf("OK layer %q has a fix %q", l.Name, l.Fix)
			}
		} else {
			allOK = false
			if seenOK {
				t.Errorf("failing layer %q listed after an OK one", l.Name)
			}
			if l.Fix == "" {
				t.Errorf("failing layer %q has no fix", l.Name)
			}
			// Policies attach to a role, never to one of its sessions.
			if strings.Contains(l.Fix, ":assumed-role/") {
				t.Errorf("layer %q: fix names a role session: %s", l.Name, l.Fix)
			}
		}
		if l.Reason == "" {
			t.Errorf("layer %q has no reason", l.Name)
		}
	}
	if allOK != r.Allowed {
		t.Errorf("Allowed = %v but all layers OK = %v\n%s", r.Allowed, allOK, r)
	}
	for _, n := range []string{policy.LayerSecretPolicy, policy.LayerIdentity, policy.LayerKeyPolicy, policy.LayerKeyIdentity} {
		if !names[n] {
			t.Errorf("layer %q missing", n)
		}
	}
}

// TestReportConsistency checks checkReportShape over every combination of
// a set of policies for each layer, same account and cross account.
func TestReportConsistency(t *testing.T) {
	const (
		secret = "arn:aws:secretsmanager:us-east-1:111122223333:secret:prod/db-AbCdEf"
		key    = "arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab"
	)
	callers := []string{
		"arn:aws:iam::111122223333:role/app", "arn:aws:sts::111122223333:assumed-role/app/s1",
		"arn:aws:iam::111122223333:user/alice", "arn:aws:iam::444455556666:role/app", "arn:aws:iam::111122223333:root",
	}
	identities := [][]*policy.Document{
		nil,
		{policy.MustParse(`{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"secretsmanager:GetSecretValue","Resource":"*"}}`)},
		{policy.MustParse(`{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":["secretsmanager:GetSecretValue","kms:Decrypt"],"Resource":"*"}}`)},
		{policy.MustParse(`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"*","Resource":"*"},{"Effect":"Deny","Action":"kms:Decrypt","Resource":"*"}]}`)},
	}
	boundaries := []*policy.Document{
		nil,
		policy.MustParse(`{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"secretsmanager:*","Resource":"*"}}`),
		policy.MustParse(`{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":["secretsmanager:*","kms:*"],"Resource":"*"}}`),
	}
	secretPolicies := []*policy.Document{
		nil,
		policy.MustParse(`{"Version":"2012-10-17","Statement":{"Effect":"Allow","Principal":{"AWS":["111122223333","444455556666"]},"Action":"secretsmanager:GetSecretValue","Resource":"*"}}`),
		policy.MustParse(`{"Version":"2012-10-17","Statement":{"Effect":"Allow","Principal":{"AWS":["arn:aws:iam::111122223333:role/app","arn:aws:iam::444455556666:role/app"]},"Action":"secretsmanager:GetSecretValue","Resource":"*"}}`),
		policy.MustParse(`{"Version":"2012-10-17","Statement":{"Effect":"Allow","Principal":"*","Action":"secretsmanager:GetSecretValue","Resource":"*","Condition":{"StringEquals":{"secretsmanager:VersionStage":"AWSCURRENT"}}}}`),
		policy.MustParse(`{"Version":"2012-10-17","Statement":{"Effect":"Deny","Principal":"*","Action":"secretsmanager:*","Resource":"*"}}`),
	}
	keys := []struct {
		arn, manager string
		policy       *policy.Document
	}{
		{"", "", nil},
		{key, "CUSTOMER", nil},
		{key, "CUSTOMER", policy.MustParse(`{"Version":"2012-10-17","Statement":{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:root"},"Action":"kms:*","Resource":"*"}}`)},
		{key, "CUSTOMER", policy.MustParse(`{"Version":"2012-10-17","Statement":{"Effect":"Allow","Principal":{"AWS":["arn:aws:iam::111122223333:role/app","arn:aws:iam::444455556666:root"]},"Action":"kms:Decrypt","Resource":"*"}}`)},
		{key, "CUSTOMER", policy.MustParse(`{"Version":"2012-10-17","Statement":{"Effect":"Allow","Principal":"*","Action":"kms:Decrypt","Resource":"*","Condition":{"StringEquals":{"kms:ViaService":"secretsmanager.us-east-1.amazonaws.com"}}}}`)},
	}
	n, allowed := 0, 0
	for _, caller := range callers {
		for _, id := range identities {
			for _, b := range boundaries {
				for _, sp := range secretPolicies {
					for _, k := range keys {
						r := policy.CheckGetSecretValue(policy.SecretAccess{
							Caller: caller, CallerPolicies: id, CallerBoundary: b,
							Secret: secret, SecretPolicy: sp, KeyARN: k.arn, KeyManager: k.manager, KeyPolicy: k.policy,
						})
						checkReportShape(t, r)
						n++
						if r.Allowed {
							allowed++
						}
						if t.Failed() {
							t.Fatalf("caller %s, combination %d", caller, n)
						}
					}
				}
			}
		}
	}
	if allowed == 0 || allowed == n {
		t.Errorf("%d of %d combinations allowed; want a mix", allowed, n)
	}
}

func TestCheckGetSecretValueDoesNotModifyContext(t *testing.T) {
	ctx := map[string][]string{"aws:SourceIp": {"10.0.0.1"}}
	policy.CheckGetSecretValue(policy.SecretAccess{
		Caller:  "arn:aws:iam::111122223333:role/app",
		Secret:  "arn:aws:secretsmanager:us-east-1:111122223333:secret:prod/db-AbCdEf",
		Context: ctx,
	})
	if len(ctx) != 1 {
		t.Errorf("Context was modified: %v", ctx)
	}
}

func TestReportWording(t *testing.T) {
	const (
		secret  = "arn:aws:secretsmanager:us-east-1:111122223333:secret:prod/db-AbCdEf"
		session = "arn:aws:sts::111122223333:assumed-role/app/i-0abc"
		role    = "arn:aws:iam::111122223333:role/app"
	)
	layer := func(r policy.Report, name string) policy.Layer {
		t.Helper()
		for _, l := range r.Layers {
			if l.Name == name {
				return l
			}
		}
		t.Fatalf("no layer %q in\n%s", name, r)
		return policy.Layer{}
	}

	t.Run("fixes name the role of a session", func(t *testing.T) {
		r := policy.CheckGetSecretValue(policy.SecretAccess{
			Caller: session, Secret: secret,
			CallerBoundary: policy.MustParse(`{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"s3:*","Resource":"*"}}`),
			KeyARN:         "arn:aws:kms:us-east-1:111122223333:key/k", KeyManager: "CUSTOMER",
			KeyPolicy: policy.MustParse(`{"Version":"2012-10-17","Statement":{"Effect":"Allow","Principal":{"AWS":"111122223333"},"Action":"kms:*","Resource":"*"}}`),
		})
		for name, want := range map[string]string{
			policy.LayerIdentity:    "attach to the role " + role + " an identity policy",
			policy.LayerBoundary:    "to the permissions boundary of the role " + role,
			policy.LayerKeyIdentity: "attach to the role " + role + " an identity policy",
		} {
			if l := layer(r, name); l.OK || !strings.Contains(l.Fix, want) {
				t.Errorf("%s fix = %q, want it to contain %q", name, l.Fix, want)
			}
		}
	})

	t.Run("VersionStage fix is two clear alternatives", func(t *testing.T) {
		r := policy.CheckGetSecretValue(policy.SecretAccess{
			Caller: "arn:aws:iam::444455556666:role/reader", Secret: secret,
			SecretPolicy: policy.MustParse(`{"Version":"2012-10-17","Statement":{"Effect":"Allow","Principal":{"AWS":"444455556666"},"Action":"secretsmanager:GetSecretValue","Resource":"*","Condition":{"StringEquals":{"secretsmanager:VersionStage":"AWSCURRENT"}}}}`),
		})
		want := "change the VersionStage condition to StringEqualsIfExists, because a plain GetSecretValue sends no secretsmanager:VersionStage; " +
			`or add this statement to the secret's resource policy (put-resource-policy): {"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::444455556666:role/reader"}`
		if l := layer(r, policy.LayerSecretPolicy); !strings.HasPrefix(l.Fix, want) {
			t.Errorf("fix = %q\nwant prefix %q", l.Fix, want)
		}
	})

	t.Run("key in a third account", func(t *testing.T) {
		r := policy.CheckGetSecretValue(policy.SecretAccess{
			Caller: session, Secret: secret,
			CallerPolicies: []*policy.Document{policy.MustParse(`{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":["secretsmanager:GetSecretValue","kms:Decrypt"],"Resource":"*"}}`)},
			KeyARN:         "arn:aws:kms:us-east-1:777788889999:key/k", KeyManager: "CUSTOMER",
			KeyPolicy: policy.MustParse(`{"Version":"2012-10-17","Statement":{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:root"},"Action":"kms:Decrypt","Resource":"*"}}`),
		})
		if !r.Allowed || r.CrossAccount || !r.KeyCrossAccount {
			t.Errorf("Allowed, CrossAccount, KeyCrossAccount = %v, %v, %v; want true, false, true", r.Allowed, r.CrossAccount, r.KeyCrossAccount)
		}
		if !strings.Contains(r.String(), "  key arn:aws:kms:us-east-1:777788889999:key/k (cross-account)\n") {
			t.Errorf("the key line does not say cross-account:\n%s", r)
		}
		want := `key policy Statement[0] names "arn:aws:iam::111122223333:root", the caller's account, which lets that account's IAM policies allow kms:Decrypt; the key is in account 777788889999, not the caller's`
		if l := layer(r, policy.LayerKeyPolicy); l.Reason != want {
			t.Errorf("key policy reason = %q\nwant %q", l.Reason, want)
		}
	})

	t.Run("secret policy names the account", func(t *testing.T) {
		r := policy.CheckGetSecretValue(policy.SecretAccess{
			Caller: "arn:aws:iam::444455556666:role/reader", Secret: secret,
			SecretPolicy: policy.MustParse(`{"Version":"2012-10-17","Statement":{"Effect":"Allow","Principal":{"AWS":"444455556666"},"Action":"secretsmanager:GetSecretValue","Resource":"*"}}`),
		})
		want := "resource policy Statement[0] names the caller's account 444455556666, which lets that account's IAM policies allow secretsmanager:GetSecretValue"
		if l := layer(r, policy.LayerSecretPolicy); l.Reason != want {
			t.Errorf("secret policy reason = %q\nwant %q", l.Reason, want)
		}
	})
}

// TestKeyARNUnknown: with only an alias, the report flags the key ARN as
// unknown, says so in the KMS layers and in String, and never evaluates
// kms:Decrypt against the alias; with the key ARN, it does not.
func TestKeyARNUnknown(t *testing.T) {
	const secret = "arn:aws:secretsmanager:us-east-1:111122223333:secret:prod/db-AbCdEf"
	for _, tc := range []struct {
		name, keyARN string
		unknown      bool
	}{
		{"empty: the managed key's alias", "", true},
		{"managed key alias ARN (DescribeKey refused)", "arn:aws:kms:us-east-1:111122223333:alias/aws/secretsmanager", true},
		{"key ARN", "arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := policy.CheckGetSecretValue(policy.SecretAccess{Caller: "arn:aws:iam::111122223333:role/app", Secret: secret, KeyARN: tc.keyARN, KeyManager: policy.KeyManagerAWS})
			if r.KeyARNUnknown != tc.unknown {
				t.Fatalf("KeyARNUnknown = %v, want %v\n%s", r.KeyARNUnknown, tc.unknown, r)
			}
			noted := strings.Contains(r.String(), "key ARN unknown")
			for _, l := range r.Layers {
				if l.Name == policy.LayerKeyPolicy || l.Name == policy.LayerKeyIdentity {
					noted = noted && strings.Contains(l.Reason, "key's ARN is unknown")
				}
			}
			if noted != tc.unknown {
				t.Fatalf("report mentions the unknown key ARN: %v, want %v\n%s", noted, tc.unknown, r)
			}
			if strings.Contains(r.String(), policy.UnknownKeyID) != tc.unknown {
				t.Fatalf("report and UnknownKeyID disagree\n%s", r)
			}
		})
	}
}
