package policy

import (
	"bytes"
	"encoding/json"
	"maps"
	"slices"
	"strings"
)

// Key managers, as KMS DescribeKey reports them in KeyMetadata.KeyManager.
const (
	KeyManagerAWS      = "AWS"
	KeyManagerCustomer = "CUSTOMER"
)

// ManagedKeyAlias is the alias of the AWS managed key Secrets Manager uses
// when a secret names no key.
const ManagedKeyAlias = "alias/aws/secretsmanager"

// Layer names, in the order a report lists layers that pass.
const (
	LayerSecretPolicy = "secret policy"
	LayerIdentity     = "identity policy"
	LayerBoundary     = "permissions boundary"
	LayerKeyPolicy    = "KMS key policy"
	LayerKeyIdentity  = "KMS identity policy"
)

// SecretAccess is everything that decides whether a caller may read a
// secret with GetSecretValue.
type SecretAccess struct {
	// Caller is the reader: an IAM role, user or role-session ARN.
	Caller string
	// CallerPolicies are the caller's identity-based policies. Secrets
	// Manager cannot report them: read them from IAM or a file.
	CallerPolicies []*Document
	// CallerBoundary is the caller's permissions boundary; nil: none.
	CallerBoundary *Document

	// Secret is the secret's full ARN (its account and region matter).
	Secret string
	// SecretPolicy is the secret's resource policy; nil: none.
	SecretPolicy *Document

	// KeyARN is the ARN of the KMS key that encrypts the secret. Empty: the
	// AWS managed key aws/secretsmanager of the secret's account. An AWS
	// managed key always belongs to the secret's account: one of another
	// account is invalid input, and the report says so. An alias ARN (what
	// Gather leaves when KMS refuses DescribeKey) names the key without its
	// key ID; the report then says the key ARN is unknown (see
	// Report.KeyARNUnknown).
	KeyARN string
	// KeyManager is "AWS" (aws/secretsmanager) or "CUSTOMER". Empty: "AWS"
	// when KeyARN is empty or an alias/aws/ alias, else "CUSTOMER".
	KeyManager string
	// KeyPolicy is the key's policy. nil with an AWS managed key: the
	// standard aws/secretsmanager key policy is assumed.
	KeyPolicy *Document

	// Context holds further request condition keys (aws:SourceIp,
	// aws:PrincipalTag/team, secretsmanager:VersionStage when the caller
	// passes VersionStage, ...). CheckGetSecretValue adds the keys
	// Secrets Manager sends to KMS: kms:ViaService,
	// kms:EncryptionContext:SecretARN and kms:EncryptionContextKeys.
	Context map[string][]string
}

// Layer is one policy's part in a GetSecretValue decision.
type Layer struct {
	// Name is one of the Layer... constants.
	Name string
	// Decision is what this policy alone says about its request
	// (secretsmanager:GetSecretValue, or kms:Decrypt for the KMS layers).
	Decision Decision
	// Required reports whether access needs this layer to allow; a layer
	// that need not allow can still deny.
	Required bool
	// OK reports that the layer does not stand in the way of access.
	OK bool
	// Statements are the statements that decided the layer's Decision.
	Statements []StatementRef
	// Reason says in plain words what the layer does.
	Reason string
	// Fix says what to change when the layer is not OK; empty when OK.
	Fix string
}

// Report is the outcome of CheckGetSecretValue.
type Report struct {
	// Allowed reports whether GetSecretValue succeeds. It is true exactly
	// when every layer is OK.
	Allowed bool
	// Caller, Secret and KeyARN echo the access checked, KeyARN resolved:
	// an empty SecretAccess.KeyARN becomes the managed key's alias ARN.
	Caller, Secret, KeyARN string
	// KeyARNUnknown reports that KeyARN is an alias ARN, so the key's own
	// ARN (its key ID) is unknown. IAM and key policies name a key by its
	// key ARN, never by an alias ARN, so kms:Decrypt was evaluated against
	// UnknownKeyARN in the key's account and region: statements naming
	// "*", key/* and the like are decided, ones naming a particular key ID
	// cannot match, and the KMS layers' Reason says so. Supply the key ARN
	// (kms describe-key) to decide those too.
	KeyARNUnknown bool
	// CrossAccount reports that the caller's account is not the secret's.
	CrossAccount bool
	// KeyCrossAccount reports that the caller's account is not the KMS
	// key's, so the key policy and the caller's identity policy must both
	// allow kms:Decrypt. A key in a third account makes it true even when
	// CrossAccount is false.
	KeyCrossAccount bool
	// Layers are every layer's verdict, failing ones first, each group in
	// the order secret policy, identity policy, permissions boundary (when
	// there is one), KMS key policy, KMS identity policy.
	Layers []Layer
}

// UnknownKeyID stands for the key ID of a key known only by an alias: kms:Decrypt
// is evaluated against arn:<partition>:kms:<region>:<account>:key/UnknownKeyID.
// It is no valid key ID, so only wildcards match it.
const UnknownKeyID = "(unknown-key-id)"

// CheckGetSecretValue decides whether a.Caller may read a.Secret with
// GetSecretValue, layer by layer. Secrets Manager must allow
// secretsmanager:GetSecretValue (Evaluate's rules), and KMS must allow the
// kms:Decrypt that Secrets Manager makes on the caller's behalf, with
// kms:ViaService secretsmanager.<region>.amazonaws.com and the encryption
// context SecretARN = the secret's ARN (Evaluate's KMS rules). A secret
// encrypted with the AWS managed key aws/secretsmanager cannot be read from
// another account than the secret's, whatever the policies say; an AWS
// managed key ARN of another account than the secret's fails the KMS key
// policy layer as invalid input. kms:Decrypt is evaluated against the key's
// ARN, never an alias ARN; when only an alias is known the report says so
// (Report.KeyARNUnknown). It makes no API calls.
func CheckGetSecretValue(a SecretAccess) Report {
	caller := parseIdentity(a.Caller)
	managed := a.KeyManager == KeyManagerAWS || (a.KeyManager == "" && (a.KeyARN == "" || strings.Contains(a.KeyARN, "alias/aws/")))
	owner := arnAccount(a.Secret)
	if owner == "" && managed {
		owner = arnAccount(a.KeyARN) // a managed key lives in the secret's account
	}
	if owner == "" {
		owner = caller.account
	}
	region := arnRegion(a.Secret)
	if region == "" {
		region = arnRegion(a.KeyARN)
	}
	keyARN := a.KeyARN
	if keyARN == "" {
		keyARN = "arn:aws:kms:" + region + ":" + owner + ":" + ManagedKeyAlias
	}
	keyOwner := arnAccount(keyARN)
	if keyOwner == "" {
		keyOwner = owner
	}
	// KMS authorizes a request on the key, whatever alias the caller used,
	// and policies cannot name a key by alias ARN; with only an alias, the
	// key ID is unknown and a stand-in that only wildcards match takes its
	// place.
	evalARN, keyUnknown := keyARN, isAliasARN(keyARN)
	if keyUnknown {
		partition, _, _ := strings.Cut(strings.TrimPrefix(keyARN, "arn:"), ":")
		evalARN = "arn:" + partition + ":kms:" + arnRegion(keyARN) + ":" + keyOwner + ":key/" + UnknownKeyID
	}
	keyPolicy, assumedKeyPolicy := a.KeyPolicy, false
	if keyPolicy == nil && managed {
		keyPolicy, assumedKeyPolicy = managedKeyPolicy(keyOwner, region), true
	}

	var sm analysis
	sm.run(&Request{Principal: a.Caller, Action: "secretsmanager:GetSecretValue", Resource: a.Secret, Context: a.Context},
		&Policies{Identity: a.CallerPolicies, Resource: a.SecretPolicy, ResourceOwner: owner, Boundary: a.CallerBoundary})

	kctx := maps.Clone(a.Context)
	if kctx == nil {
		kctx = make(map[string][]string, 3)
	}
	setDefault(kctx, "kms:EncryptionContext:SecretARN", a.Secret)
	setDefault(kctx, "kms:EncryptionContextKeys", "SecretARN", "SecretVersionId")
	if region != "" {
		setDefault(kctx, "kms:ViaService", "secretsmanager."+region+".amazonaws.com")
	}
	var km analysis
	km.run(&Request{Principal: a.Caller, Action: "kms:Decrypt", Resource: evalARN, Context: kctx},
		&Policies{Identity: a.CallerPolicies, Resource: keyPolicy, ResourceOwner: keyOwner, Boundary: a.CallerBoundary})
	// The managed key serves only its own account, which is the secret's:
	// what counts is the caller against the secret's owner, whatever
	// account a (mistaken) key ARN names.
	managedCross := managed && caller.account != "" && caller.account != owner
	foreignManagedKey := managed && keyOwner != owner

	r := Report{Caller: a.Caller, Secret: a.Secret, KeyARN: keyARN, KeyARNUnknown: keyUnknown, CrossAccount: sm.cross, KeyCrossAccount: km.cross}
	b := reportBuilder{a: &a, caller: &caller, sm: &sm, km: &km, keyARN: keyARN, keyUnknown: keyUnknown, keyOwner: keyOwner, owner: owner, region: region,
		keyPolicy: keyPolicy, managed: managed, managedCross: managedCross, foreignManagedKey: foreignManagedKey, assumedKeyPolicy: assumedKeyPolicy}
	layers := []Layer{b.secretLayer(), b.identityLayer()}
	if a.CallerBoundary != nil {
		layers = append(layers, b.boundaryLayer())
	}
	kl, kil := b.keyLayer(), b.keyIdentityLayer()
	if keyUnknown && !managedCross && !foreignManagedKey {
		kl.Reason += "; " + unknownKeyNote
		kil.Reason += "; " + unknownKeyNote
	}
	layers = append(layers, kl, kil)
	r.Allowed = sm.decision == Allowed && km.decision == Allowed && !managedCross && !foreignManagedKey
	for _, l := range layers {
		if !l.OK {
			r.Layers = append(r.Layers, l)
		}
	}
	for _, l := range layers {
		if l.OK {
			r.Layers = append(r.Layers, l)
		}
	}
	return r
}

// unknownKeyNote is added to the KMS layers' reasons when only the key's
// alias is known.
const unknownKeyNote = "the key's ARN is unknown (only its alias is known: DescribeKey was refused or not called), " +
	"so kms:Decrypt was checked against key/" + UnknownKeyID + ": statements naming a particular key ID were not matched; " +
	"give the key ARN from kms describe-key to decide them"

// isAliasARN reports whether arn names a KMS alias rather than a key.
func isAliasARN(arn string) bool {
	_, res, ok := strings.Cut(arn, ":alias/")
	return ok && res != "" && strings.HasPrefix(arn, "arn:")
}

func setDefault(m map[string][]string, key string, vals ...string) {
	for k := range m {
		if strings.EqualFold(k, key) {
			return
		}
	}
	m[key] = vals
}

// managedKeyPolicy is the key policy AWS gives aws/secretsmanager: every
// principal of the account may use the key through Secrets Manager in the
// key's region, and the account may read its metadata.
func managedKeyPolicy(account, region string) *Document {
	via := "secretsmanager." + region + ".amazonaws.com"
	doc := map[string]any{
		"Version": VersionCurrent,
		"Id":      "auto-secretsmanager-2",
		"Statement": []any{
			map[string]any{
				"Sid":       "Allow access through AWS Secrets Manager for all principals in the account that are authorized to use AWS Secrets Manager",
				"Effect":    "Allow",
				"Principal": map[string]any{"AWS": "*"},
				"Action":    []string{"kms:Encrypt", "kms:Decrypt", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:CreateGrant", "kms:DescribeKey"},
				"Resource":  "*",
				"Condition": map[string]any{"StringEquals": map[string]string{"kms:CallerAccount": account, "kms:ViaService": via}},
			},
			map[string]any{
				"Sid":       "Allow direct access to key metadata to the account",
				"Effect":    "Allow",
				"Principal": map[string]any{"AWS": "arn:aws:iam::" + account + ":root"},
				"Action":    []string{"kms:Describe*", "kms:Get*", "kms:List*", "kms:RevokeGrant"},
				"Resource":  "*",
			},
		},
	}
	data, err := json.Marshal(doc)
	if err != nil {
		return nil
	}
	d, err := Parse(data)
	if err != nil {
		return nil
	}
	return d
}

// reportBuilder turns the two analyses into layers.
type reportBuilder struct {
	a               *SecretAccess
	caller          *identity
	sm, km          *analysis
	keyARN, region  string
	keyUnknown      bool      // keyARN is an alias ARN: the key ID is unknown
	owner, keyOwner string    // accounts of the secret and of the key
	keyPolicy       *Document // as evaluated: given or assumed
	managed         bool
	managedCross    bool
	// foreignManagedKey: an AWS managed key of another account than the
	// secret's, which cannot be the secret's key.
	foreignManagedKey bool
	assumedKeyPolicy  bool
}

// holder names who an identity policy or boundary is attached to: the role
// for a role session, which cannot hold policies itself.
func (b *reportBuilder) holder() string {
	p := b.caller.grantPrincipal()
	switch b.caller.kind {
	case kindRole, kindSession:
		return "the role " + p
	case kindUser:
		return "the user " + p
	}
	return p
}

// granted says whom statement ref of doc, an Allow that applied, names for
// the caller: `names "444455556666", the caller's account` or `allows
// "arn:aws:iam::...:role/app"`. It quotes the Principal entry that matched,
// which is often not the caller's own ARN.
func (b *reportBuilder) granted(doc *Document, ref StatementRef, action string) string {
	head := ref.String() + " "
	if doc == nil || ref.Index >= len(doc.Statement) || doc.Statement[ref.Index].c.principal == nil {
		return head + "allows " + action + " for " + b.caller.describe()
	}
	c := &doc.Statement[ref.Index].c
	if c.notPrincipal {
		return head + "allows " + action + " for every principal its NotPrincipal does not list, " + b.caller.describe() + " among them"
	}
	entry, g := c.principal.entryFor(b.caller)
	switch {
	case entry == "*":
		return head + `allows ` + action + ` for every principal ("*") under its conditions, ` + b.caller.describe() + " among them"
	case g == grantAccount && isAccountID(entry):
		return head + "names the caller's account " + entry + ", which lets that account's IAM policies allow " + action
	case g == grantAccount:
		return head + "names " + strconvQuote(entry) + ", the caller's account, which lets that account's IAM policies allow " + action
	case g == grantRole && b.caller.kind == kindSession:
		return head + "allows " + action + " for the role " + strconvQuote(entry) + ", whose session " + b.caller.arn + " is the caller"
	}
	if entry != b.caller.arn {
		entry = strconvQuote(entry)
	}
	return head + "allows " + action + " for " + entry
}

// layerDecision is a policy's own verdict.
func layerDecision(d *docEval) (Decision, []StatementRef) {
	switch {
	case len(d.deny) > 0:
		return ExplicitDeny, d.deny
	case len(d.allow) > 0:
		return Allowed, d.allow
	}
	return ImplicitDeny, nil
}

func denyFix(refs []StatementRef, where string) string {
	return "narrow or remove " + refs[0].String() + " of the " + where + ": an explicit deny cannot be overridden by any allow"
}

// nearReasons explains the Allow statements of d that nearly matched.
func nearReasons(d *docEval, e *env) (string, bool) {
	var parts []string
	versionStage := false
	for _, n := range d.near {
		if n.ref.Effect != Allow {
			continue
		}
		parts = append(parts, n.explain(e))
		if n.cond != nil && n.res.absent && strings.EqualFold(n.cond.Key, "secretsmanager:VersionStage") {
			versionStage = true
		}
	}
	if len(parts) == 0 {
		return "", false
	}
	return "; " + strings.Join(parts, "; "), versionStage
}

func (b *reportBuilder) secretLayer() Layer {
	sm := b.sm
	l := Layer{Name: LayerSecretPolicy}
	l.Decision, l.Statements = layerDecision(&sm.resource)
	g := sm.resource.grant
	direct := g == grantDirect || (g == grantRole && sm.boundaryOK)
	l.Required = sm.cross || !(sm.identityOK && sm.boundaryOK)
	none := ""
	if b.a.SecretPolicy == nil {
		none = " (the secret has no resource policy)"
	}
	near, versionStage := nearReasons(&sm.resource, &sm.e)
	switch {
	case l.Decision == ExplicitDeny:
		l.Reason = l.Statements[0].String() + " explicitly denies secretsmanager:GetSecretValue"
		l.Fix = denyFix(l.Statements, "secret's resource policy")
	case sm.cross && g == grantNone:
		l.Reason = "no resource policy allows secretsmanager:GetSecretValue for " + b.caller.describe() + none + near
		stmt := statementJSON(grantStatement{Effect: "Allow", Principal: map[string]string{"AWS": b.caller.grantPrincipal()}, Action: "secretsmanager:GetSecretValue", Resource: "*"})
		l.Fix = "add this statement to the secret's resource policy (put-resource-policy), which a caller in another account needs: " + stmt
		if versionStage {
			l.Fix = "change the VersionStage condition to StringEqualsIfExists, because a plain GetSecretValue sends no secretsmanager:VersionStage; " +
				"or add this statement to the secret's resource policy (put-resource-policy): " + stmt
		}
	case sm.cross:
		l.OK = true
		l.Reason = b.granted(b.a.SecretPolicy, l.Statements[0], "secretsmanager:GetSecretValue")
	case direct:
		l.OK = true
		l.Reason = b.granted(b.a.SecretPolicy, l.Statements[0], "secretsmanager:GetSecretValue") + ", directly"
	case g == grantAccount:
		l.OK = true
		l.Reason = l.Statements[0].String() + " names the account " + b.caller.account + ", which delegates to its IAM policies; in the same account the identity policy decides"
	default:
		l.OK = true
		l.Reason = "does not allow " + b.caller.describe() + " directly" + none + "; not needed in the same account, where an identity policy is enough" + near
	}
	return l
}

func (b *reportBuilder) identityLayer() Layer {
	sm := b.sm
	l := Layer{Name: LayerIdentity}
	l.Decision, l.Statements = layerDecision(&sm.identity)
	g := sm.resource.grant
	direct := g == grantDirect || (g == grantRole && sm.boundaryOK)
	l.Required = sm.cross || !direct
	near, _ := nearReasons(&sm.identity, &sm.e)
	fix := "attach to " + b.holder() + " an identity policy with: " +
		statementJSON(grantStatement{Effect: "Allow", Action: "secretsmanager:GetSecretValue", Resource: b.a.Secret})
	switch {
	case l.Decision == ExplicitDeny:
		l.Reason = l.Statements[0].String() + " explicitly denies secretsmanager:GetSecretValue"
		l.Fix = denyFix(l.Statements, "caller's identity policy")
	case sm.root:
		l.OK = true
		l.Reason = "the caller is the root user of its account, which has every identity permission"
	case l.Decision == Allowed:
		l.OK = true
		l.Reason = l.Statements[0].String() + " allows secretsmanager:GetSecretValue on the secret"
	case !l.Required:
		l.OK = true
		l.Reason = "no identity policy allows secretsmanager:GetSecretValue; not needed, because the secret's resource policy allows the caller directly" + near
	case sm.cross:
		l.Reason = "no identity policy of " + b.caller.describe() + " allows secretsmanager:GetSecretValue on " + b.a.Secret + "; cross-account access needs it beside the secret's resource policy" + near
		l.Fix = fix
	default:
		l.Reason = "no identity policy allows secretsmanager:GetSecretValue on " + b.a.Secret + ", and the secret's resource policy does not allow the caller directly" + near
		l.Fix = fix
	}
	return l
}

func (b *reportBuilder) boundaryLayer() Layer {
	sm, km := b.sm, b.km
	l := Layer{Name: LayerBoundary}
	smDec, smRefs := layerDecision(&sm.boundary)
	kmDec, kmRefs := layerDecision(&km.boundary)
	g := sm.resource.grant
	// The identity path (and with it the boundary) matters unless the
	// resource policy names the caller itself.
	smNeeds := sm.cross || g != grantDirect
	kg := km.resource.grant
	kmNeeds := !b.managedCross && (km.cross || kg == grantRole || kg == grantAccount)
	l.Required = smNeeds || kmNeeds
	l.Statements = slices.Concat(smRefs, kmRefs)
	switch {
	case smDec == ExplicitDeny || kmDec == ExplicitDeny:
		l.Decision = ExplicitDeny
		refs := smRefs
		action := "secretsmanager:GetSecretValue"
		if smDec != ExplicitDeny {
			refs, action = kmRefs, "kms:Decrypt"
		}
		l.Statements = refs
		l.Reason = refs[0].String() + " explicitly denies " + action
		l.Fix = denyFix(refs, "permissions boundary")
		return l
	case smDec == Allowed && kmDec == Allowed:
		l.Decision = Allowed
	default:
		l.Decision = ImplicitDeny
	}
	var missing []string
	if smNeeds && smDec != Allowed {
		missing = append(missing, "secretsmanager:GetSecretValue")
	}
	if kmNeeds && kmDec != Allowed {
		missing = append(missing, "kms:Decrypt")
	}
	if len(missing) == 0 {
		l.OK = true
		l.Reason = "allows what the caller's identity policies grant here"
		if l.Decision != Allowed {
			l.Reason = "does not cap anything this read needs"
		}
		return l
	}
	l.Reason = "the permissions boundary does not allow " + strings.Join(missing, " or ") + "; a boundary caps what identity policies (and resource policies naming the role) grant"
	l.Fix = "add " + strings.Join(missing, " and ") + " to the permissions boundary of " + b.holder()
	return l
}

func (b *reportBuilder) keyLayer() Layer {
	km := b.km
	l := Layer{Name: LayerKeyPolicy, Required: true}
	l.Decision, l.Statements = layerDecision(&km.resource)
	g := km.resource.grant
	assumed := ""
	if b.assumedKeyPolicy {
		assumed = " (the standard aws/secretsmanager key policy, assumed)"
	}
	near, _ := nearReasons(&km.resource, &km.e)
	switch {
	case b.foreignManagedKey:
		l.Reason = "invalid input: " + b.keyARN + " is an AWS managed key of account " + b.keyOwner + ", but the secret belongs to account " + b.owner +
			"; an AWS managed key encrypts only secrets of its own account, so this is not the secret's key (was it looked up with credentials of another account?)"
		l.Fix = "give the key ARN that DescribeSecret reports for the secret in account " + b.owner + ", or leave KeyARN empty for that account's aws/secretsmanager"
	case b.managedCross:
		l.Reason = "the secret is encrypted with the AWS managed key aws/secretsmanager, which cannot be used from another account, whatever the policies say"
		l.Fix = "encrypt the secret with a customer managed key whose key policy allows the caller kms:Decrypt (update-secret --kms-key-id), then put a new secret value: versions already stored stay encrypted under aws/secretsmanager"
	case l.Decision == ExplicitDeny:
		l.Reason = l.Statements[0].String() + " explicitly denies kms:Decrypt"
		l.Fix = denyFix(l.Statements, "KMS key policy")
	case b.a.KeyPolicy == nil && !b.managed:
		l.Reason = "the KMS key policy was not provided; every use of a KMS key needs its key policy to allow it"
		l.Fix = "supply the key policy (kms get-key-policy --key-id " + b.keyARN + " --policy-name default)"
	case g == grantNone:
		l.Reason = "the KMS key policy does not allow kms:Decrypt for " + b.caller.describe() + near
		how := "add this statement to the key policy of " + b.keyARN + ": "
		l.Fix = how + statementJSON(grantStatement{Effect: "Allow", Principal: map[string]string{"AWS": b.caller.grantPrincipal()}, Action: "kms:Decrypt", Resource: "*",
			Condition: b.viaCondition()})
		if !km.cross {
			l.Fix += " (or one naming the account root, which delegates to IAM policies)"
		}
	default:
		l.OK = true
		l.Reason = b.granted(b.keyPolicy, l.Statements[0], "kms:Decrypt") + assumed
		if km.cross {
			l.Reason += "; the key is in account " + b.keyOwner + ", not the caller's"
		}
	}
	return l
}

func (b *reportBuilder) viaCondition() map[string]map[string]string {
	if b.region == "" {
		return nil
	}
	return map[string]map[string]string{"StringEquals": {"kms:ViaService": "secretsmanager." + b.region + ".amazonaws.com"}}
}

func (b *reportBuilder) keyIdentityLayer() Layer {
	km := b.km
	l := Layer{Name: LayerKeyIdentity}
	l.Decision, l.Statements = layerDecision(&km.identity)
	// In the same account the identity policy matters only when the key
	// policy delegates to IAM; when the key policy grants nothing, the fix
	// belongs to the key policy layer.
	l.Required = !b.managedCross && !b.foreignManagedKey && (km.cross || km.resource.grant == grantAccount)
	near, _ := nearReasons(&km.identity, &km.e)
	switch {
	case l.Decision == ExplicitDeny:
		l.Reason = l.Statements[0].String() + " explicitly denies kms:Decrypt"
		l.Fix = denyFix(l.Statements, "caller's identity policy")
	case b.foreignManagedKey:
		l.OK = true
		l.Reason = "not considered: the key given is not the secret's"
	case b.managedCross:
		l.OK = true
		l.Reason = "not considered: the AWS managed key cannot be used from another account"
	case km.root:
		l.OK = true
		l.Reason = "the caller is the root user of its account, which has every identity permission"
	case l.Decision == Allowed:
		l.OK = true
		l.Reason = l.Statements[0].String() + " allows kms:Decrypt on the key"
	case !l.Required && km.resource.grant == grantNone:
		l.OK = true
		l.Reason = "no identity policy allows kms:Decrypt; one is needed only if the key policy delegates to IAM (names the account root) instead of naming the caller"
	case !l.Required:
		l.OK = true
		l.Reason = "not needed: the key policy allows the caller directly"
	default:
		why := "the key policy delegates to IAM policies"
		if km.cross {
			why = "the key is in account " + b.keyOwner + "; a caller in another account needs its identity policy to allow the key as well as the key policy"
		}
		l.Reason = "no identity policy allows kms:Decrypt on " + b.keyARN + "; " + why + near
		l.Fix = "attach to " + b.holder() + " an identity policy with: " +
			statementJSON(grantStatement{Effect: "Allow", Action: "kms:Decrypt", Resource: b.keyARN, Condition: b.viaCondition()})
	}
	return l
}

// grantStatement is a statement a fix proposes, in AWS's element order.
type grantStatement struct {
	Effect    string                       `json:"Effect"`
	Principal map[string]string            `json:"Principal,omitempty"`
	Action    string                       `json:"Action"`
	Resource  string                       `json:"Resource"`
	Condition map[string]map[string]string `json:"Condition,omitempty"`
}

func statementJSON(s grantStatement) string {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(s); err != nil {
		return ""
	}
	return strings.TrimSpace(b.String())
}

// String renders the report for people: the verdict, then one line per
// layer (failing ones first) with the fix under each failing one.
func (r Report) String() string {
	var b strings.Builder
	verdict := "DENIED"
	if r.Allowed {
		verdict = "allowed"
	}
	b.WriteString("GetSecretValue " + r.Secret + "\n")
	b.WriteString("  by " + r.Caller)
	if r.CrossAccount {
		b.WriteString(" (cross-account)")
	}
	b.WriteString("\n  key " + r.KeyARN)
	if r.KeyCrossAccount {
		b.WriteString(" (cross-account)")
	}
	if r.KeyARNUnknown {
		b.WriteString(" (key ARN unknown: only the alias is known)")
	}
	b.WriteString("\n")
	b.WriteString("result: " + verdict + "\n")
	for _, l := range r.Layers {
		mark := "ok  "
		if !l.OK {
			mark = "FAIL"
		}
		b.WriteString("  " + mark + " " + l.Name + ": " + l.Reason + "\n")
		if l.Fix != "" {
			b.WriteString("       fix: " + l.Fix + "\n")
		}
	}
	return b.String()
}
