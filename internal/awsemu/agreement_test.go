package awsemu_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	smtypes "github.com/aws/aws-sdk-go-v2/service/secretsmanager/types"
	"github.com/aws/smithy-go"

	"github.com/rekeyhq/rekey/internal/awsemu"
	"github.com/rekeyhq/rekey/policy"
)

// This file runs the cases of policy/testdata that are GetSecretValue
// requests through the emulator, with IAM enforced, over the real SDK and
// HTTP, and checks that the emulator decides each as package policy does
// offline (CheckGetSecretValue for the access cases, Evaluate for the
// evaluation cases). A case maps when the emulator can hold exactly its
// documents: resources of the emulated account only, and request context
// the emulator can carry
// (secretsmanager:VersionStage becomes a request parameter, resource tags
// the secret's tags, principal tags TagPrincipal's, aws:CurrentTime and
// aws:EpochTime the Server's clock), with no document testing a key the
// emulator always sends (aws:SourceIp, ...) that the case lacks. Other cases are counted as
// skipped, with the reason, never silently dropped.

const policyTestdata = "../../policy/testdata"

// readerValue is the value every case's secret holds.
const readerValue = "agreement-value"

// secretARNParts matches a secret ARN whose name ends with the six
// characters Secrets Manager appends.
var secretARNParts = regexp.MustCompile(`^arn:aws:secretsmanager:([a-z0-9-]+):(\d{12}):secret:(.+)-([A-Za-z0-9]{6})$`)

// emulatedRead is one GetSecretValue request as the emulator must hold it.
type emulatedRead struct {
	caller         string
	callerPolicies []string
	secret         string // full ARN
	secretPolicy   string // "" none
	tags           map[string]string
	keyID          string // "" the AWS managed key
	keyPolicy      string
	versionStage   string
	versionID      string
	principalTags  map[string]string
	boundary       string    // "" none
	scps           []string  // over the caller's account
	now            time.Time // zero: the real clock
}

// run builds the emulator state and makes the read as the caller. It
// returns nil when the read succeeded with the value, or the error.
func (r *emulatedRead) run(t *testing.T) error {
	t.Helper()
	m := secretARNParts.FindStringSubmatch(r.secret)
	srv := awsemu.New(t, func(o *awsemu.Options) { o.Region, o.AccountID, o.EnforceIAM = m[1], m[2], true })
	awsemu.UseIDs(srv, []string{m[4]}, []string{r.keyID})
	if !r.now.IsZero() {
		srv.SetClock(func() time.Time { return r.now })
	}
	root, rootKMS := smAs(srv, ""), kmsAs(srv, "")
	in := &secretsmanager.CreateSecretInput{Name: aws.String(m[3]), SecretString: aws.String(readerValue)}
	for _, k := range sortedKeys(r.tags) {
		in.Tags = append(in.Tags, smtypes.Tag{Key: aws.String(k), Value: aws.String(r.tags[k])})
	}
	if r.keyID != "" {
		// The key's own policy comes after the value is written: it may
		// not let the root user encrypt, as a real seeding would find.
		key, err := rootKMS.CreateKey(t.Context(), &kms.CreateKeyInput{})
		if err != nil {
			t.Fatalf("CreateKey: %v", err)
		}
		in.KmsKeyId = key.KeyMetadata.Arn
	}
	created, err := root.CreateSecret(t.Context(), in)
	if err != nil {
		t.Fatalf("CreateSecret: %v", err)
	}
	if *created.ARN != r.secret {
		t.Fatalf("secret ARN %s, want %s", *created.ARN, r.secret)
	}
	if r.keyID != "" {
		if _, err := rootKMS.PutKeyPolicy(t.Context(), &kms.PutKeyPolicyInput{KeyId: aws.String(r.keyID), PolicyName: aws.String("default"), Policy: aws.String(r.keyPolicy)}); err != nil {
			t.Fatalf("PutKeyPolicy: %v", err)
		}
	}
	if r.secretPolicy != "" {
		if _, err := root.PutResourcePolicy(t.Context(), &secretsmanager.PutResourcePolicyInput{SecretId: created.ARN, ResourcePolicy: aws.String(r.secretPolicy)}); err != nil {
			t.Fatalf("PutResourcePolicy: %v", err)
		}
	}
	if err := srv.AddPrincipal("AKIACALLER", r.caller, r.callerPolicies...); err != nil {
		t.Fatalf("AddPrincipal: %v", err)
	}
	if r.boundary != "" {
		if err := srv.SetPermissionsBoundary("AKIACALLER", r.boundary); err != nil {
			t.Fatalf("SetPermissionsBoundary: %v", err)
		}
	}
	if len(r.scps) > 0 {
		if err := srv.SetSCPs(strings.Split(r.caller, ":")[4], r.scps...); err != nil {
			t.Fatalf("SetSCPs: %v", err)
		}
	}
	if r.principalTags != nil {
		if err := srv.TagPrincipal("AKIACALLER", r.principalTags); err != nil {
			t.Fatalf("TagPrincipal: %v", err)
		}
	}
	get := &secretsmanager.GetSecretValueInput{SecretId: aws.String(r.secret)}
	if r.versionStage != "" {
		get.VersionStage = aws.String(r.versionStage)
	}
	if r.versionID != "" {
		get.VersionId = aws.String(r.versionID)
	}
	out, err := smAs(srv, "AKIACALLER").GetSecretValue(t.Context(), get)
	if err != nil {
		var ae smithy.APIError
		if !errors.As(err, &ae) || ae.ErrorCode() != "AccessDeniedException" {
			t.Fatalf("GetSecretValue failed, but not with AccessDeniedException: %v", err)
		}
		return err
	}
	if aws.ToString(out.SecretString) != readerValue {
		t.Fatalf("GetSecretValue returned another value")
	}
	return nil
}

func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// derivedKeys are the condition keys the emulator sends with every request
// (besides those package policy derives itself), and the value it sends
// when the case cannot choose it.
var derivedKeys = []string{"aws:CurrentTime", "aws:EpochTime", "aws:SecureTransport", "aws:SourceIp", "aws:RequestedRegion"}

// mapContext turns a case's request context into request parameters,
// secret tags, principal tags and the clock, or says why it cannot. docs
// are the texts of the case's policies: a case that lacks a key the
// emulator always sends maps only when no document mentions it.
func mapContext(ctx map[string][]string, r *emulatedRead, docs ...string) string {
	region := ""
	if m := secretARNParts.FindStringSubmatch(r.secret); m != nil {
		region = m[1]
	}
	for _, k := range derivedKeys {
		if _, ok := lookupFold(ctx, k); ok {
			continue
		}
		for _, d := range docs {
			if strings.Contains(strings.ToLower(d), strings.ToLower(k)) {
				return "documents test " + k + ", which the emulator always sends and the case lacks"
			}
		}
	}
	keys := make([]string, 0, len(ctx))
	for k := range ctx {
		keys = append(keys, k)
	}
	sort.Strings(keys) // the first key that cannot map names the reason
	for _, k := range keys {
		v := ctx[k]
		lk := strings.ToLower(k)
		if len(v) != 1 {
			return "multi-valued context key " + k
		}
		switch {
		case lk == "secretsmanager:versionstage":
			r.versionStage = v[0]
		case strings.HasPrefix(lk, "aws:principaltag/"):
			_, tagKey, _ := strings.Cut(k, "/")
			if r.principalTags == nil {
				r.principalTags = map[string]string{}
			}
			r.principalTags[tagKey] = v[0]
		case lk == "aws:currenttime", lk == "aws:epochtime":
			var at time.Time
			if lk == "aws:currenttime" {
				parsed, err := time.Parse(time.RFC3339, v[0])
				if err != nil {
					return "aws:CurrentTime " + v[0] + " is not an RFC 3339 time"
				}
				at = parsed
			} else {
				sec, err := strconv.ParseInt(v[0], 10, 64)
				if err != nil {
					return "aws:EpochTime " + v[0] + " is not in seconds"
				}
				at = time.Unix(sec, 0)
			}
			if !r.now.IsZero() && !r.now.Equal(at) {
				return "aws:CurrentTime and aws:EpochTime disagree"
			}
			r.now = at.UTC()
		case lk == "aws:securetransport":
			if v[0] != "true" {
				return "aws:SecureTransport " + v[0] + " (the emulator stands for a TLS endpoint)"
			}
		case lk == "aws:sourceip":
			if v[0] != "127.0.0.1" {
				return "aws:SourceIp " + v[0] + " (emulator clients connect from 127.0.0.1)"
			}
		case lk == "aws:requestedregion":
			if v[0] != region {
				return "aws:RequestedRegion of another region than the secret's"
			}
		case strings.HasPrefix(lk, "aws:resourcetag/"), strings.HasPrefix(lk, "secretsmanager:resourcetag/"):
			_, tagKey, _ := strings.Cut(k, "/")
			if old, ok := r.tags[tagKey]; ok && old != v[0] {
				return "conflicting resource tag " + tagKey
			}
			if r.tags == nil {
				r.tags = map[string]string{}
			}
			r.tags[tagKey] = v[0]
		default:
			return "context key " + k + " is not derived by the emulator"
		}
	}
	// The emulator sends a tag under both of its keys: a case giving one
	// only maps when it does not distinguish them.
	for tagKey, val := range r.tags {
		for _, prefix := range []string{"aws:ResourceTag/", "secretsmanager:ResourceTag/"} {
			if got, ok := lookupFold(ctx, prefix+tagKey); ok && got != val {
				return "resource tag " + tagKey + " differs between its two keys"
			}
		}
	}
	return ""
}

func lookupFold(ctx map[string][]string, key string) (string, bool) {
	for k, v := range ctx {
		if strings.EqualFold(k, key) && len(v) == 1 {
			return v[0], true
		}
	}
	return "", false
}

// canBePrincipal reports whether AddPrincipal takes the caller.
var canBePrincipal = regexp.MustCompile(`^arn:aws:(iam::\d{12}:(root|user/.+|role/.+)|sts::\d{12}:assumed-role/[^/]+/[^/]+)$`)

func rawTexts(raws []json.RawMessage) []string {
	out := make([]string, len(raws))
	for i, raw := range raws {
		out[i] = string(raw)
	}
	return out
}

func rawText(raw json.RawMessage) string {
	if len(raw) == 0 || string(raw) == "null" {
		return ""
	}
	return string(raw)
}

// agreement tallies a run.
type agreement struct {
	ran, disagreed int
	skipped        map[string]int
}

func (a *agreement) skip(t *testing.T, why string) {
	t.Helper()
	a.skipped[why]++
	t.Skip(why)
}

// compare checks one case: the emulator's outcome against the offline
// decision, and for a denial that the message names the deciding kind.
func (a *agreement) compare(t *testing.T, err error, allowed bool, explicit bool, offline string) {
	t.Helper()
	a.ran++
	switch {
	case allowed != (err == nil):
		a.disagreed++
		t.Errorf("emulator: %v; offline: allowed=%v\n%s", err, allowed, offline)
	case err != nil && explicit && !strings.Contains(err.Error(), "with an explicit deny") && !strings.Contains(err.Error(), "Access to KMS is not allowed"):
		a.disagreed++
		t.Errorf("offline decision is an explicit deny, emulator says: %v", err)
	}
}

func (a *agreement) report(t *testing.T, what string) {
	t.Helper()
	var skipped []string
	n := 0
	for why, c := range a.skipped {
		skipped = append(skipped, fmt.Sprintf("%d: %s", c, why))
		n += c
	}
	sort.Strings(skipped)
	t.Logf("%s: %d cases run through the emulator, %d disagreements; %d not mappable:\n  %s", what, a.ran, a.disagreed, n, strings.Join(skipped, "\n  "))
	if a.ran == 0 {
		t.Fatalf("%s: no case ran", what)
	}
}

// TestAgreementAccessCases runs policy/testdata/access/getsecretvalue.json.
func TestAgreementAccessCases(t *testing.T) {
	data, err := os.ReadFile(filepath.Join(policyTestdata, "access", "getsecretvalue.json"))
	if err != nil {
		t.Fatal(err)
	}
	var file struct {
		Cases []struct {
			Name   string `json:"name"`
			Access struct {
				Caller         string              `json:"caller"`
				CallerPolicies []json.RawMessage   `json:"callerPolicies"`
				CallerBoundary json.RawMessage     `json:"callerBoundary"`
				Secret         string              `json:"secret"`
				SecretPolicy   json.RawMessage     `json:"secretPolicy"`
				KeyARN         string              `json:"keyArn"`
				KeyManager     string              `json:"keyManager"`
				KeyPolicy      json.RawMessage     `json:"keyPolicy"`
				Context        map[string][]string `json:"context"`
			} `json:"access"`
			Allowed bool `json:"allowed"`
		} `json:"cases"`
	}
	if err := json.Unmarshal(data, &file); err != nil {
		t.Fatal(err)
	}
	a := agreement{skipped: map[string]int{}}
	for _, c := range file.Cases {
		t.Run(c.Name, func(t *testing.T) {
			s := c.Access
			m := secretARNParts.FindStringSubmatch(s.Secret)
			managed := s.KeyManager == policy.KeyManagerAWS || (s.KeyManager == "" && (s.KeyARN == "" || strings.Contains(s.KeyARN, "alias/aws/")))
			r := emulatedRead{caller: s.Caller, secret: s.Secret, secretPolicy: rawText(s.SecretPolicy), keyPolicy: rawText(s.KeyPolicy), boundary: rawText(s.CallerBoundary)}
			switch {
			case m == nil:
				a.skip(t, "secret is not a complete secret ARN")
			case !canBePrincipal.MatchString(s.Caller):
				a.skip(t, "caller is not a principal AddPrincipal takes")
			case strings.Contains(s.KeyARN, ":alias/") && !managed:
				a.skip(t, "customer key known only by its alias (offline knowledge: the emulator always knows the key)")
			case s.KeyARN != "" && !strings.Contains(s.KeyARN, ":"+m[2]+":"):
				a.skip(t, "KMS key of another account than the secret's")
			case !managed && r.keyPolicy == "":
				a.skip(t, "customer managed key without a key policy (every emulated key has one)")
			case managed && r.keyPolicy != "" && strings.Contains(s.Caller, ":"+m[2]+":"):
				a.skip(t, "AWS managed key with another policy than its own, same account")
			}
			if !managed {
				r.keyID = s.KeyARN[strings.LastIndex(s.KeyARN, "/")+1:]
			}
			docs := slices.Concat([]string{r.secretPolicy, r.keyPolicy, r.boundary}, rawTexts(s.CallerPolicies))
			if why := mapContext(s.Context, &r, docs...); why != "" {
				a.skip(t, why)
			}
			access := policy.SecretAccess{Caller: s.Caller, Secret: s.Secret, KeyARN: s.KeyARN, KeyManager: s.KeyManager, Context: s.Context}
			for _, raw := range s.CallerPolicies {
				r.callerPolicies = append(r.callerPolicies, string(raw))
				access.CallerPolicies = append(access.CallerPolicies, policy.MustParse(string(raw)))
			}
			if r.secretPolicy != "" {
				access.SecretPolicy = policy.MustParse(r.secretPolicy)
			}
			if r.keyPolicy != "" {
				access.KeyPolicy = policy.MustParse(r.keyPolicy)
			}
			if r.boundary != "" {
				access.CallerBoundary = policy.MustParse(r.boundary)
			}
			report := policy.CheckGetSecretValue(access)
			if report.Allowed != c.Allowed {
				t.Fatalf("offline check disagrees with the fixture: %v", report.Allowed)
			}
			explicit := false
			for _, l := range report.Layers {
				explicit = explicit || (!l.OK && l.Decision == policy.ExplicitDeny)
			}
			a.compare(t, r.run(t), report.Allowed, explicit, report.String())
		})
	}
	a.report(t, "access/getsecretvalue.json")
}

// evalSpec is the shape of policy/testdata/eval files.
type evalSpec struct {
	Name    string `json:"name"`
	Request *struct {
		Principal *string                    `json:"principal"`
		Action    *string                    `json:"action"`
		Resource  *string                    `json:"resource"`
		Context   map[string]json.RawMessage `json:"context"`
	} `json:"request"`
	Policies *struct {
		Identity      *[]json.RawMessage `json:"identity"`
		Resource      json.RawMessage    `json:"resource"`
		ResourceOwner *string            `json:"resourceOwner"`
		Boundary      json.RawMessage    `json:"boundary"`
		SCPs          *[]json.RawMessage `json:"scps"`
	} `json:"policies"`
	Expect string `json:"expect"`
	Doc    string `json:"doc"`
	Reason string `json:"reason"`
}

// evalCase is an evaluation case with the file's defaults applied.
type evalCase struct {
	name              string
	principal, action string
	resource          string
	context           map[string][]string
	identity          []string
	resourcePolicy    string
	owner             string
	boundary          string
	scps              []string
	want              policy.Decision
}

func loadEvalCases(t *testing.T) []evalCase {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(policyTestdata, "eval", "*.json"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no evaluation case files: %v", err)
	}
	var out []evalCase
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var file struct {
			Description string     `json:"description"`
			Defaults    evalSpec   `json:"defaults"`
			Cases       []evalSpec `json:"cases"`
		}
		dec := json.NewDecoder(strings.NewReader(string(data)))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&file); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		for _, c := range file.Cases {
			ec := evalCase{name: strings.TrimSuffix(filepath.Base(f), ".json") + "/" + c.Name}
			if err := ec.want.UnmarshalText([]byte(c.Expect)); err != nil {
				t.Fatalf("%s: %v", ec.name, err)
			}
			for _, s := range []evalSpec{file.Defaults, c} {
				if q := s.Request; q != nil {
					if q.Principal != nil {
						ec.principal = *q.Principal
					}
					if q.Action != nil {
						ec.action = *q.Action
					}
					if q.Resource != nil {
						ec.resource = *q.Resource
					}
					if q.Context != nil {
						ec.context = map[string][]string{}
						for k, raw := range q.Context {
							var one string
							if json.Unmarshal(raw, &one) == nil {
								ec.context[k] = []string{one}
								continue
							}
							var many []string
							if err := json.Unmarshal(raw, &many); err != nil {
								t.Fatalf("%s: context %s: %v", ec.name, k, err)
							}
							ec.context[k] = many
						}
					}
				}
				if p := s.Policies; p != nil {
					if p.Identity != nil {
						ec.identity = nil
						for _, raw := range *p.Identity {
							ec.identity = append(ec.identity, string(raw))
						}
					}
					if p.Resource != nil {
						ec.resourcePolicy = rawText(p.Resource)
					}
					if p.ResourceOwner != nil {
						ec.owner = *p.ResourceOwner
					}
					if p.Boundary != nil {
						ec.boundary = rawText(p.Boundary)
					}
					if p.SCPs != nil {
						ec.scps = rawTexts(*p.SCPs)
					}
				}
			}
			out = append(out, ec)
		}
	}
	return out
}

// kmsForEveryone lets every caller decrypt through Secrets Manager, so an
// evaluation case, which decides secretsmanager:GetSecretValue only, is not
// decided by KMS; kmsDecrypt is the identity policy a caller of another
// account needs for the key as well. Neither names a secretsmanager action,
// so neither changes the case's decision.
const (
	kmsForEveryone = `{"Version":"2012-10-17","Statement":{"Effect":"Allow","Principal":{"AWS":"*"},"Action":"kms:*","Resource":"*"}}`
	kmsDecrypt     = `{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"kms:Decrypt","Resource":"*"}}`
)

// TestAgreementEvalCases runs the cases of policy/testdata/eval whose
// action is secretsmanager:GetSecretValue.
func TestAgreementEvalCases(t *testing.T) {
	a := agreement{skipped: map[string]int{}}
	for _, c := range loadEvalCases(t) {
		if !strings.EqualFold(c.action, "secretsmanager:GetSecretValue") {
			continue
		}
		t.Run(c.name, func(t *testing.T) {
			m := secretARNParts.FindStringSubmatch(c.resource)
			r := emulatedRead{caller: c.principal, secret: c.resource, secretPolicy: c.resourcePolicy,
				callerPolicies: append(append([]string(nil), c.identity...), kmsDecrypt),
				keyID:          "00000000-0000-4000-8000-00000000aaaa", keyPolicy: kmsForEveryone, boundary: c.boundary, scps: c.scps}
			switch {
			case m == nil:
				a.skip(t, "resource is not a complete secret ARN")
			case !canBePrincipal.MatchString(c.principal):
				a.skip(t, "principal is not one AddPrincipal takes (service principal, bare account ID)")
			case c.owner != "" && c.owner != m[2]:
				a.skip(t, "resource owner differs from the ARN's account")
			}
			if why := mapContext(c.context, &r, slices.Concat([]string{c.resourcePolicy, c.boundary}, c.identity, c.scps)...); why != "" {
				a.skip(t, why)
			}
			pols := policy.Policies{ResourceOwner: c.owner}
			if c.boundary != "" {
				pols.Boundary = policy.MustParse(c.boundary)
			}
			for _, d := range c.scps {
				pols.SCPs = append(pols.SCPs, policy.MustParse(d))
			}
			for _, d := range c.identity {
				pols.Identity = append(pols.Identity, policy.MustParse(d))
			}
			if c.resourcePolicy != "" {
				pols.Resource = policy.MustParse(c.resourcePolicy)
			}
			res := policy.Evaluate(policy.Request{Principal: c.principal, Action: c.action, Resource: c.resource, Context: c.context}, pols)
			if res.Decision != c.want {
				t.Fatalf("offline evaluation disagrees with the fixture: %v", res.Decision)
			}
			err := r.run(t)
			if err != nil && strings.Contains(err.Error(), "Access to KMS is not allowed") {
				// The read's KMS request is the harness's, not the case's:
				// skip only when the case's boundary or SCPs refuse it
				// offline too.
				kpols := pols
				kpols.Identity = append(slices.Clone(pols.Identity), policy.MustParse(kmsDecrypt))
				kpols.Resource, kpols.ResourceOwner = policy.MustParse(kmsForEveryone), m[2]
				kreq := policy.Request{Principal: c.principal, Action: "kms:Decrypt", Resource: "arn:aws:kms:" + m[1] + ":" + m[2] + ":key/" + r.keyID,
					Context: map[string][]string{"kms:ViaService": {"secretsmanager." + m[1] + ".amazonaws.com"}, "kms:EncryptionContext:SecretARN": {c.resource}}}
				if res.Decision == policy.Allowed && policy.Evaluate(kreq, kpols).Decision != policy.Allowed {
					a.skip(t, "the case's boundary or SCPs refuse the kms:Decrypt the emulated read needs")
				}
				t.Fatalf("the fixture's KMS grant did not apply: %v", err)
			}
			a.compare(t, err, res.Decision == policy.Allowed, res.Decision == policy.ExplicitDeny, strings.Join(res.Reasons, "\n"))
		})
	}
	a.report(t, "eval/*.json GetSecretValue cases")
}

// TestAgreementCombinations reads a secret through the emulator for every
// combination of caller, identity policy, secret policy, key and key
// policy below, changing only the policies between reads, and checks each
// outcome against policy.CheckGetSecretValue on the same documents.
func TestAgreementCombinations(t *testing.T) {
	t.Parallel()
	const (
		doc      = `{"Version":"2012-10-17","Statement":[%s]}`
		rootStmt = `{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::` + accountA + `:root"},"Action":"kms:*","Resource":"*"}`
	)
	callers := []string{appRole, "arn:aws:sts::" + accountA + ":assumed-role/app/s-1", "arn:aws:iam::" + accountA + ":user/alice",
		readerRole, "arn:aws:sts::" + accountB + ":assumed-role/reader/s-2", "arn:aws:iam::" + accountA + ":root"}
	identities := map[string][]string{
		"none":     nil,
		"sm":       {fmt.Sprintf(doc, `{"Effect":"Allow","Action":"secretsmanager:GetSecretValue","Resource":"*"}`)},
		"sm+kms":   {fmt.Sprintf(doc, `{"Effect":"Allow","Action":["secretsmanager:GetSecretValue","kms:Decrypt"],"Resource":"*"}`)},
		"kms-deny": {fmt.Sprintf(doc, `{"Effect":"Allow","Action":"secretsmanager:*","Resource":"*"},{"Effect":"Deny","Action":"kms:Decrypt","Resource":"*"}`)},
	}
	secretPolicies := map[string]string{
		"none":        "",
		"reader-role": fmt.Sprintf(doc, `{"Effect":"Allow","Principal":{"AWS":"`+readerRole+`"},"Action":"secretsmanager:GetSecretValue","Resource":"*"}`),
		"account-B":   fmt.Sprintf(doc, `{"Effect":"Allow","Principal":{"AWS":"`+accountB+`"},"Action":"secretsmanager:GetSecretValue","Resource":"*"}`),
		"app-session": fmt.Sprintf(doc, `{"Effect":"Allow","Principal":{"AWS":"arn:aws:sts::`+accountA+`:assumed-role/app/s-1"},"Action":"secretsmanager:GetSecretValue","Resource":"*"}`),
		"deny-stage":  fmt.Sprintf(doc, `{"Effect":"Allow","Principal":{"AWS":"*"},"Action":"secretsmanager:GetSecretValue","Resource":"*","Condition":{"StringEquals":{"aws:PrincipalAccount":["`+accountA+`","`+accountB+`"]}}},{"Effect":"Deny","Principal":"*","Action":"secretsmanager:GetSecretValue","Resource":"*","Condition":{"StringNotEquals":{"secretsmanager:VersionStage":"AWSCURRENT"}}}`),
	}
	keyPolicies := map[string]string{
		"managed":       "",
		"root-only":     fmt.Sprintf(doc, rootStmt),
		"reader-via-sm": fmt.Sprintf(doc, rootStmt+`,{"Effect":"Allow","Principal":{"AWS":"`+readerRole+`"},"Action":"kms:Decrypt","Resource":"*","Condition":{"StringEquals":{"kms:ViaService":"secretsmanager.us-east-1.amazonaws.com"}}}`),
		"account-B":     fmt.Sprintf(doc, rootStmt+`,{"Effect":"Allow","Principal":{"AWS":"`+accountB+`"},"Action":"kms:Decrypt","Resource":"*"}`),
		"other-region":  fmt.Sprintf(doc, rootStmt+`,{"Effect":"Deny","Principal":"*","Action":"kms:Decrypt","Resource":"*","Condition":{"StringNotEquals":{"kms:ViaService":"secretsmanager.eu-west-1.amazonaws.com"}}}`),
	}

	srv, root, rootKMS := newIAMServer(t)
	awsemu.UseIDs(srv, []string{"AbCdEf", "GhIjKl"}, []string{seedKeyID})
	if _, err := rootKMS.CreateKey(t.Context(), &kms.CreateKeyInput{}); err != nil {
		t.Fatal(err)
	}
	secrets := map[bool]string{} // customer key -> ARN
	for _, cmk := range []bool{false, true} {
		in := &secretsmanager.CreateSecretInput{Name: aws.String(fmt.Sprintf("combo-%v", cmk)), SecretString: aws.String(readerValue)}
		if cmk {
			in.KmsKeyId = aws.String(seedKey)
		}
		out, err := root.CreateSecret(t.Context(), in)
		if err != nil {
			t.Fatal(err)
		}
		secrets[cmk] = *out.ARN
	}
	ran, disagreed, allowed := 0, 0, 0
	for _, kp := range sortedKeys(keyPolicies) {
		cmk := kp != "managed"
		secret := secrets[cmk]
		if cmk {
			if _, err := rootKMS.PutKeyPolicy(t.Context(), &kms.PutKeyPolicyInput{KeyId: aws.String(seedKeyID), PolicyName: aws.String("default"), Policy: aws.String(keyPolicies[kp])}); err != nil {
				t.Fatal(err)
			}
		}
		for _, sp := range sortedKeys(secretPolicies) {
			var err error
			if secretPolicies[sp] == "" {
				_, err = root.DeleteResourcePolicy(t.Context(), &secretsmanager.DeleteResourcePolicyInput{SecretId: aws.String(secret)})
			} else {
				_, err = root.PutResourcePolicy(t.Context(), &secretsmanager.PutResourcePolicyInput{SecretId: aws.String(secret), ResourcePolicy: aws.String(secretPolicies[sp])})
			}
			if err != nil {
				t.Fatal(err)
			}
			for _, id := range []string{"none", "sm", "sm+kms", "kms-deny"} {
				for i, caller := range callers {
					akid := fmt.Sprintf("AKIACOMBO%d", i)
					if err := srv.AddPrincipal(akid, caller, identities[id]...); err != nil {
						t.Fatal(err)
					}
					access := policy.SecretAccess{Caller: caller, Secret: secret}
					for _, d := range identities[id] {
						access.CallerPolicies = append(access.CallerPolicies, policy.MustParse(d))
					}
					if secretPolicies[sp] != "" {
						access.SecretPolicy = policy.MustParse(secretPolicies[sp])
					}
					if cmk {
						access.KeyARN, access.KeyManager, access.KeyPolicy = seedKey, policy.KeyManagerCustomer, policy.MustParse(keyPolicies[kp])
					}
					report := policy.CheckGetSecretValue(access)
					_, err := smAs(srv, akid).GetSecretValue(t.Context(), &secretsmanager.GetSecretValueInput{SecretId: aws.String(secret)})
					ran++
					if err == nil {
						allowed++
					}
					if report.Allowed != (err == nil) {
						disagreed++
						t.Errorf("key %s, secret policy %s, identity %s, caller %s: emulator %v, offline allowed=%v\n%s", kp, sp, id, caller, err, report.Allowed, report)
					}
				}
			}
		}
	}
	t.Logf("%d combinations run through the emulator (%d allowed), %d disagreements", ran, allowed, disagreed)
	if allowed == 0 || allowed == ran {
		t.Errorf("every combination had the same outcome: the grid tests nothing")
	}
}
