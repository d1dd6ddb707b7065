package policy

import (
	"strconv"
	"strings"
)

// Lint checks. Each Finding's Check is one of these.
const (
	// CheckBroadAccess: an Allow to "*" (or {"AWS": "*"}) without a
	// condition that pins who may call. Secrets Manager's BlockPublicPolicy
	// rejects such a policy.
	CheckBroadAccess = "broad-access"
	// CheckAllowNotPrincipal: Allow with NotPrincipal grants everyone else,
	// anonymous callers included.
	CheckAllowNotPrincipal = "allow-not-principal"
	// CheckFullAccess: secretsmanager:* (or *) granted to an account, role
	// or user, which lets it rewrite this very policy and delete the secret.
	CheckFullAccess = "full-access-granted"
	// CheckNameWildcard: a secret ARN ending in "name-*" or "name*", which
	// matches other secrets; Secrets Manager appends "-" and six characters
	// to a secret's name, so "name-??????" names exactly one.
	CheckNameWildcard = "secret-name-wildcard"
	// CheckVersionStage: a condition on secretsmanager:VersionStage that a
	// plain GetSecretValue (no VersionStage parameter) cannot meet, or a
	// negated one that denies it.
	CheckVersionStage = "version-stage-blocks-read"
	// CheckNeverMatches: a statement (or part of one) that no request to
	// this secret can match.
	CheckNeverMatches = "never-matches"
	// CheckDuplicateSid: two statements share a Sid.
	CheckDuplicateSid = "duplicate-sid"
	// CheckUnknownAction: an action that is not a Secrets Manager action.
	CheckUnknownAction = "unknown-action"
	// CheckMissingPrincipal: a resource policy statement without Principal.
	CheckMissingPrincipal = "missing-principal"
)

// Finding is one problem Lint found.
type Finding struct {
	// Check is one of the Check... constants.
	Check string
	// Statement is the statement's index in the document.
	Statement int
	// Sid is the statement's Sid, if any.
	Sid string
	// Message says what is wrong and what to do, in plain words.
	Message string
}

// String renders the finding for people, e.g.
// `Statement[0] (Sid "Public"): broad-access: ...`.
func (f Finding) String() string {
	var b strings.Builder
	b.WriteString("Statement[" + strconv.Itoa(f.Statement) + "]")
	if f.Sid != "" {
		b.WriteString(" (Sid " + strconv.Quote(f.Sid) + ")")
	}
	b.WriteString(": " + f.Check + ": " + f.Message)
	return b.String()
}

// restrictingKeys are condition keys that pin who may use a grant to "*",
// the ones BlockPublicPolicy accepts and Access Analyzer treats as
// non-public when set to fixed values.
func restrictingKey(key string) bool {
	switch strings.ToLower(key) {
	case "aws:principalaccount", "aws:principalorgid", "aws:principalorgpaths", "aws:principalarn",
		"aws:sourceaccount", "aws:sourcearn", "aws:sourceowner", "aws:sourcevpce", "aws:sourcevpc",
		"aws:sourceorgid", "aws:sourceorgpaths", "aws:userid", "aws:username", "aws:principalservicename",
		"aws:sourceip", "kms:calleraccount":
		return true
	}
	return false
}

// Lint checks a secret's resource policy for the mistakes that make
// cross-account access fail or grant too much: broad access (like
// ValidateResourcePolicy with BlockPublicPolicy), Allow with NotPrincipal,
// secretsmanager:* granted to an account, name-* resource patterns, a
// VersionStage condition that blocks plain reads, statements or elements
// that can never match, duplicate Sids, unknown actions and statements
// without a Principal. Findings come in statement order; nil means none.
func Lint(doc *Document) []Finding {
	if doc == nil {
		return nil
	}
	var out []Finding
	sids := map[string]int{}
	owner := ""
	for i := range doc.Statement {
		for _, r := range doc.Statement[i].Resource {
			if a := arnAccount(r); a != "" {
				owner = a
			}
		}
	}
	for i := range doc.Statement {
		st := &doc.Statement[i]
		add := func(check, msg string) {
			out = append(out, Finding{Check: check, Statement: i, Sid: st.Sid, Message: msg})
		}
		if st.Sid != "" {
			if j, ok := sids[st.Sid]; ok {
				add(CheckDuplicateSid, "Sid "+strconv.Quote(st.Sid)+" is also used by Statement["+strconv.Itoa(j)+"]; Sids must be unique within a policy")
			} else {
				sids[st.Sid] = i
			}
		}
		lintPrincipal(st, owner, add)
		lintActions(st, add)
		lintResources(st, add)
		lintVersionStage(st, add)
		lintConditions(st, add)
	}
	return out
}

func lintPrincipal(st *Statement, owner string, add func(check, msg string)) {
	switch {
	case st.Principal == nil && st.NotPrincipal == nil:
		add(CheckMissingPrincipal, "a statement in a resource policy must name a Principal (or NotPrincipal); AWS rejects it, and it never matches")
		return
	case st.NotPrincipal != nil && st.Effect == Allow:
		add(CheckAllowNotPrincipal, "Allow with NotPrincipal grants every principal not listed, anonymous callers included; name the principals in Principal instead")
	}
	p := st.Principal
	if p == nil {
		p = st.NotPrincipal
	}
	for _, a := range p.AWS {
		if a == "*" {
			continue
		}
		id := parseIdentity(a)
		switch {
		case strings.ContainsAny(a, "*?"):
			add(CheckNeverMatches, "principal "+strconv.Quote(a)+" uses a wildcard, which Principal does not support (only \"*\" alone); use \"*\" with an ArnLike condition on aws:PrincipalArn")
		case id.kind == kindUnknown || id.kind == kindService:
			add(CheckNeverMatches, "principal "+strconv.Quote(a)+" is not an account ID or an IAM user, role or session ARN")
		}
	}
	if st.Effect != Allow || st.Principal == nil {
		return
	}
	if st.Principal.Wildcard || contains(st.Principal.AWS, "*") {
		if !hasRestrictingCondition(st) {
			add(CheckBroadAccess, "grants access to every principal (\"*\") without a condition on aws:PrincipalAccount, aws:PrincipalOrgID, aws:PrincipalArn, aws:SourceAccount, aws:SourceVpce or the like; BlockPublicPolicy rejects this policy")
		}
		return
	}
	grantsAll := st.NotAction != nil
	for _, a := range st.Action {
		if actionGrantsAll(a) {
			grantsAll = true
		}
	}
	if !grantsAll {
		return
	}
	for _, a := range st.Principal.AWS {
		id := parseIdentity(a)
		if id.account == "" || id.account == owner {
			continue
		}
		add(CheckFullAccess, "grants every Secrets Manager action to "+a+", including PutResourcePolicy (rewrite this policy) and DeleteSecret; grant another account only what it needs, such as secretsmanager:GetSecretValue")
	}
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

func hasRestrictingCondition(st *Statement) bool {
	for i := range st.Condition {
		c := &st.Condition[i]
		if !restrictingKey(c.Key) || c.negatedOp() || c.ifExistsOp() || c.setOp() == setForAll || c.isNull() {
			continue
		}
		if !contains(c.Values, "*") {
			return true
		}
	}
	return false
}

func lintActions(st *Statement, add func(check, msg string)) {
	acts := st.Action
	if st.NotAction != nil {
		acts = st.NotAction
	}
	for i, a := range acts {
		if a == "*" {
			continue
		}
		svc, name, _ := strings.Cut(a, ":")
		switch {
		case !strings.EqualFold(svc, "secretsmanager"):
			add(CheckUnknownAction, strconv.Quote(a)+" is not a Secrets Manager action; a secret's resource policy governs only secretsmanager: actions, so it never matches")
		case !strings.ContainsAny(name, "*?"):
			if !matchesSecretsManagerAction(&st.c.actions[i]) {
				add(CheckUnknownAction, strconv.Quote(a)+" is not a Secrets Manager action")
			}
		default:
			if !matchesSecretsManagerAction(&st.c.actions[i]) {
				add(CheckUnknownAction, strconv.Quote(a)+" matches no Secrets Manager action")
			}
		}
	}
}

func lintResources(st *Statement, add func(check, msg string)) {
	res := st.Resource
	if st.NotResource != nil {
		res = st.NotResource
	}
	for _, r := range res {
		if r == "*" {
			continue
		}
		parts := strings.SplitN(r, ":", 6)
		if len(parts) < 6 {
			add(CheckNeverMatches, "resource "+strconv.Quote(r)+" is not a complete ARN")
			continue
		}
		svc, rest := parts[2], parts[5]
		svcGlob, _ := compileText(svc, false)
		if !svcGlob.g.match("secretsmanager", false, false) || !couldBeSecret(rest) {
			add(CheckNeverMatches, "resource "+strconv.Quote(r)+" is not a Secrets Manager secret ARN; in a secret's resource policy it never matches (use \"*\", which means this secret)")
			continue
		}
		if st.NotResource != nil {
			continue
		}
		name, _ := strings.CutPrefix(rest, "secret:")
		switch {
		case name == "*" || !strings.HasSuffix(name, "*"):
		case strings.HasSuffix(name, "-*"):
			base := strings.TrimSuffix(name, "-*")
			add(CheckNameWildcard, strconv.Quote(r)+" also matches other secrets whose names start with "+strconv.Quote(base+"-")+"; Secrets Manager appends \"-\" and six random characters to a name, so use "+strconv.Quote(strings.TrimSuffix(r, "*")+"??????"))
		default:
			base := strings.TrimSuffix(name, "*")
			add(CheckNameWildcard, strconv.Quote(r)+" matches every secret whose name starts with "+strconv.Quote(base)+"; to name the secret "+strconv.Quote(base)+" use "+strconv.Quote(strings.TrimSuffix(r, "*")+"-??????"))
		}
	}
}

// couldBeSecret reports whether an ARN's resource part may name a secret.
func couldBeSecret(rest string) bool {
	lit := rest
	if i := strings.IndexAny(rest, "*?$"); i >= 0 {
		lit = rest[:i]
		return strings.HasPrefix("secret:", lit) || strings.HasPrefix(lit, "secret:")
	}
	return strings.HasPrefix(lit, "secret:")
}

func lintVersionStage(st *Statement, add func(check, msg string)) {
	readable := false
	for i := range st.c.actions {
		if st.c.actions[i].match("secretsmanager:GetSecretValue", false, true) {
			readable = true
		}
	}
	if readable == st.c.notAction {
		return
	}
	for i := range st.Condition {
		c := &st.Condition[i]
		if !strings.EqualFold(c.Key, "secretsmanager:VersionStage") || c.ifExistsOp() {
			continue
		}
		switch {
		case c.isNull():
			if st.Effect == Allow && contains(c.Values, "false") || st.Effect == Deny && contains(c.Values, "true") {
				add(CheckVersionStage, c.Operator+" on secretsmanager:VersionStage: a plain GetSecretValue carries no VersionStage, so this "+verbFor(st.Effect)+" every plain read")
			}
		case st.Effect == Allow && !c.negatedOp() && c.setOp() != setForAll:
			add(CheckVersionStage, c.Operator+" on secretsmanager:VersionStage allows only callers that pass VersionStage; a plain GetSecretValue carries no VersionStage key and is denied. Use "+ifExists(c.Operator)+" to allow plain reads too")
		case st.Effect == Deny && (c.negatedOp() || c.setOp() == setForAll):
			add(CheckVersionStage, c.Operator+" on secretsmanager:VersionStage is true when the key is absent, so this Deny applies to every plain GetSecretValue; use "+ifExists(c.Operator)+" to deny only reads of other stages")
		}
	}
}

func verbFor(e Effect) string {
	if e == Deny {
		return "denies"
	}
	return "fails"
}

func ifExists(op string) string {
	if strings.HasSuffix(strings.ToLower(op), "ifexists") {
		return op
	}
	return op + "IfExists"
}

func lintConditions(st *Statement, add func(check, msg string)) {
	for i := range st.Condition {
		c := &st.Condition[i]
		if c.c.kind == opArnLike {
			for _, v := range c.Values {
				if v != "*" && strings.Count(v, ":") < 5 {
					add(CheckNeverMatches, c.Operator+" value "+strconv.Quote(v)+" has fewer than the six parts of an ARN, so it matches no ARN")
				}
			}
		}
		if !c.isNull() || !contains(c.Values, "true") || len(c.Values) != 1 {
			continue
		}
		for j := range st.Condition {
			o := &st.Condition[j]
			if j != i && strings.EqualFold(o.Key, c.Key) && !o.isNull() && !o.negatedOp() && !o.ifExistsOp() && o.setOp() != setForAll {
				add(CheckNeverMatches, "Null requires "+c.Key+" to be absent while "+o.Operator+" requires it to be present; the statement never applies")
			}
		}
	}
}
