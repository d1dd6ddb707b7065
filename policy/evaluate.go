package policy

import (
	"fmt"
	"strconv"
	"strings"
)

// Request is one API request to evaluate.
type Request struct {
	// Principal is the caller: an IAM user or role ARN, an assumed-role
	// session ARN (arn:aws:sts::111122223333:assumed-role/name/session), an
	// account ID or root ARN (the root user), or a service principal such as
	// "secretsmanager.amazonaws.com".
	Principal string
	// Action is the IAM action, e.g. "secretsmanager:GetSecretValue".
	Action string
	// Resource is the ARN of the resource acted on.
	Resource string
	// Context holds the request's condition keys and their values. Keys
	// match case-insensitively. Evaluate adds, unless Context sets them,
	// aws:PrincipalArn, aws:PrincipalAccount, aws:PrincipalType,
	// aws:username (IAM users), aws:PrincipalIsAWSService,
	// aws:PrincipalServiceName (services), aws:ResourceAccount,
	// secretsmanager:SecretId (secretsmanager actions) and kms:CallerAccount
	// (kms actions). Keys that depend on the moment or the network, such as
	// aws:CurrentTime or aws:SourceIp, are absent unless Context has them.
	Context map[string][]string
}

// Policies are the policies that apply to a request.
type Policies struct {
	// Identity holds the caller's identity-based policies (user, group and
	// role policies, inline or managed). Their Principal elements are
	// ignored.
	Identity []*Document
	// Resource is the resource's policy: a secret's resource policy, or a
	// KMS key policy for kms: actions. nil: the resource has none.
	Resource *Document
	// ResourceOwner is the account that owns the resource. Empty: the
	// account in Request.Resource's ARN, else the caller's account.
	ResourceOwner string
	// Boundary is the caller's permissions boundary. nil: none.
	Boundary *Document
	// SCPs are the service control policies over the caller's account, one
	// document per level of the organization (root, each OU, the account):
	// each must allow. Empty: the account is not governed by SCPs.
	SCPs []*Document
}

// Decision is the outcome of an evaluation.
type Decision int

// Decisions, as the IAM policy simulator names them.
const (
	// ImplicitDeny: nothing allowed the request (or not every policy that
	// must allow it did).
	ImplicitDeny Decision = iota
	// Allowed: every policy that must allow it did, and none denied.
	Allowed
	// ExplicitDeny: a Deny statement applied; no Allow can override it.
	ExplicitDeny
)

// String returns "ImplicitDeny", "Allowed" or "ExplicitDeny".
func (d Decision) String() string {
	switch d {
	case ImplicitDeny:
		return "ImplicitDeny"
	case Allowed:
		return "Allowed"
	case ExplicitDeny:
		return "ExplicitDeny"
	}
	return "Decision(" + strconv.Itoa(int(d)) + ")"
}

// MarshalText encodes the decision as its String.
func (d Decision) MarshalText() ([]byte, error) { return []byte(d.String()), nil }

// UnmarshalText decodes a String form, in any letter case.
func (d *Decision) UnmarshalText(b []byte) error {
	for _, c := range []Decision{ImplicitDeny, Allowed, ExplicitDeny} {
		if strings.EqualFold(string(b), c.String()) {
			*d = c
			return nil
		}
	}
	return fmt.Errorf("policy: unknown decision %q", b)
}

// PolicyKind says which kind of policy a statement belongs to.
type PolicyKind uint8

// Kinds of policy.
const (
	IdentityPolicy PolicyKind = iota + 1
	ResourcePolicy
	KeyPolicy // the resource policy of a KMS key
	PermissionsBoundary
	SCP
)

// String names the kind for people: "identity policy", "resource policy",
// "key policy", "permissions boundary" or "SCP".
func (k PolicyKind) String() string {
	switch k {
	case IdentityPolicy:
		return "identity policy"
	case ResourcePolicy:
		return "resource policy"
	case KeyPolicy:
		return "key policy"
	case PermissionsBoundary:
		return "permissions boundary"
	case SCP:
		return "SCP"
	}
	return "policy"
}

// StatementRef points at one statement of the policies evaluated.
type StatementRef struct {
	// Kind is the kind of policy the statement is in.
	Kind PolicyKind
	// Policy is the index in Policies.Identity or Policies.SCPs; 0 for the
	// other kinds.
	Policy int
	// Index is the statement's index in its document's Statement array.
	Index int
	// Sid and Effect are copied from the statement.
	Sid    string
	Effect Effect
}

// String renders the reference for people, e.g.
// `identity policy 1 Statement[0] (Sid "ReadSecret")`; policies are
// numbered from 1, statements indexed from 0 as in the JSON.
func (r StatementRef) String() string {
	policy := ""
	if r.Kind == IdentityPolicy || r.Kind == SCP {
		policy = " " + strconv.Itoa(r.Policy+1)
	}
	sid := ""
	if r.Sid != "" {
		sid = " (Sid " + strconv.Quote(r.Sid) + ")"
	}
	return r.Kind.String() + policy + " Statement[" + strconv.Itoa(r.Index) + "]" + sid
}

// Result is the outcome of Evaluate.
type Result struct {
	// Decision is ImplicitDeny, Allowed or ExplicitDeny.
	Decision Decision
	// Statements are the statements that decided: the Deny statements that
	// applied for ExplicitDeny, the Allow statements that granted for
	// Allowed, none for ImplicitDeny.
	Statements []StatementRef
	// Reasons explain the decision in plain words, most important first.
	Reasons []string
}

// Evaluate decides a request as AWS's policy evaluation logic does:
//   - an explicit Deny in any policy wins;
//   - then every SCP must allow;
//   - same account: an identity policy or the resource policy may allow. A
//     resource policy that names the account (its ID or root ARN) only
//     delegates to IAM and allows nothing on its own; one that names the
//     user or the role session allows even without an identity policy; one
//     that names the role is limited by the permissions boundary, which
//     always limits identity-policy grants;
//   - cross account (the caller's account, from Request.Principal, differs
//     from the owner's): the resource policy and the caller's identity
//     policy (within its boundary) must both allow;
//   - kms: actions: the key policy (Policies.Resource) must allow, directly
//     or by naming the key's account, which delegates to IAM policies; IAM
//     policies alone never allow; cross account it takes the key policy and
//     the caller's identity policy;
//   - the root user of an account has every identity permission in it.
//
// A resource policy grant to "*" (with conditions, or through NotPrincipal)
// counts as naming the caller itself.
//
// Evaluate does not know which KMS key is AWS managed: CheckGetSecretValue
// applies that rule. It is safe for concurrent use and does not modify its
// arguments.
func Evaluate(req Request, p Policies) Result {
	var a analysis
	a.run(&req, &p)
	return a.result()
}

// nearMiss is a statement that matched the request except for a condition
// or a policy variable: the usual reason an Allow "should" have worked.
type nearMiss struct {
	ref     StatementRef
	cond    *Condition
	res     condResult
	missing string // policy variable in Resource the request lacks
}

// docEval is what one kind of policy said about a request.
type docEval struct {
	allow []StatementRef
	deny  []StatementRef
	grant grant // strongest grant among allow (resource policies)
	near  []nearMiss
}

func (d *docEval) add(doc *Document, kind PolicyKind, policy int, e *env, withPrincipal bool) {
	for i := range doc.Statement {
		st := &doc.Statement[i]
		r := st.evaluate(e, withPrincipal)
		ref := StatementRef{Kind: kind, Policy: policy, Index: i, Sid: st.Sid, Effect: st.Effect}
		switch r.out {
		case outApplies:
			if st.Effect == Deny {
				d.deny = append(d.deny, ref)
			} else {
				d.allow = append(d.allow, ref)
				d.grant = max(d.grant, r.grant)
			}
		case outCondFails:
			d.near = append(d.near, nearMiss{ref: ref, cond: &st.Condition[r.cond], res: r.cres})
		default:
			if r.missing != "" {
				d.near = append(d.near, nearMiss{ref: ref, missing: r.missing})
			}
		}
	}
}

// analysis is a full evaluation, kept so that Evaluate and
// CheckGetSecretValue can explain each part.
type analysis struct {
	e           env
	cross       bool
	service     bool // the caller is an AWS service principal
	root        bool // the caller is an account's root user
	identity    docEval
	resource    docEval
	hasResource bool
	boundary    docEval
	scps        []docEval

	decision   Decision
	identityOK bool // an identity policy allows (or the caller is root)
	boundaryOK bool // no boundary, or it allows
	scpFail    int  // index of the first SCP that does not allow, or -1
}

func (a *analysis) run(req *Request, p *Policies) {
	e := &a.e
	e.action, e.resource, e.ctx = req.Action, req.Resource, req.Context
	e.caller = parseIdentity(req.Principal)
	e.hasBoundary = p.Boundary != nil
	e.kms = hasPrefixFold(req.Action, "kms:")
	e.owner = p.ResourceOwner
	if e.owner == "" {
		e.owner = arnAccount(req.Resource)
	}
	if e.owner == "" {
		e.owner = e.caller.account
	}
	a.service = e.caller.kind == kindService
	a.root = e.caller.kind == kindAccount
	a.cross = !a.service && e.caller.account != "" && e.owner != e.caller.account

	resourceKind := ResourcePolicy
	if e.kms {
		resourceKind = KeyPolicy
	}
	for i, d := range p.Identity {
		if d != nil && !a.service {
			a.identity.add(d, IdentityPolicy, i, e, false)
		}
	}
	if p.Resource != nil {
		a.hasResource = true
		a.resource.add(p.Resource, resourceKind, 0, e, true)
	}
	if p.Boundary != nil && !a.service {
		a.boundary.add(p.Boundary, PermissionsBoundary, 0, e, false)
	}
	a.scpFail = -1
	if len(p.SCPs) > 0 && !a.service {
		a.scps = make([]docEval, len(p.SCPs))
		for i, d := range p.SCPs {
			if d == nil {
				continue
			}
			a.scps[i].add(d, SCP, i, e, false)
			if len(a.scps[i].allow) == 0 && a.scpFail < 0 {
				a.scpFail = i
			}
		}
	}

	a.identityOK = len(a.identity.allow) > 0 || a.root
	a.boundaryOK = p.Boundary == nil || len(a.boundary.allow) > 0
	switch {
	case a.denies() > 0:
		a.decision = ExplicitDeny
	case a.scpFail >= 0:
		a.decision = ImplicitDeny
	case a.allowed():
		a.decision = Allowed
	default:
		a.decision = ImplicitDeny
	}
}

func (a *analysis) denies() int {
	n := len(a.identity.deny) + len(a.resource.deny) + len(a.boundary.deny)
	for i := range a.scps {
		n += len(a.scps[i].deny)
	}
	return n
}

// allowed applies the allow rules, ignoring denies and SCPs.
func (a *analysis) allowed() bool {
	g := a.resource.grant
	switch {
	case a.service:
		return g != grantNone
	case a.cross:
		return g != grantNone && a.identityOK && a.boundaryOK
	case a.e.kms:
		return g == grantDirect || (g == grantRole && a.boundaryOK) || (g == grantAccount && a.identityOK && a.boundaryOK)
	}
	return (a.identityOK && a.boundaryOK) || g == grantDirect || (g == grantRole && a.boundaryOK)
}
