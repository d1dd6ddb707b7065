package policy

import (
	"slices"
	"strconv"
	"strings"
	"time"
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
	// or user of another account than the secret's owner, which lets it
	// rewrite this very policy and delete the secret. Skipped when the owner
	// is unknown (see LintOptions.Owner).
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

// LintOptions configure Lint.
type LintOptions struct {
	// Owner is the account that owns the secret. Empty: the account of the
	// secret ARNs in the statements' Resource elements; when they name none
	// (Resource "*"), the owner is unknown and CheckFullAccess is skipped,
	// because it cannot tell another account from the owner's.
	Owner string
}

// Lint checks a secret's resource policy for the mistakes that make
// cross-account access fail or grant too much: broad access (like
// ValidateResourcePolicy with BlockPublicPolicy), Allow with NotPrincipal,
// secretsmanager:* granted to another account, name-* resource patterns, a
// VersionStage condition that blocks plain reads, statements, elements or
// conditions that can never match, duplicate Sids, unknown actions and
// statements without a Principal. Findings come in statement order; nil
// means none.
func Lint(doc *Document, optFns ...func(*LintOptions)) []Finding {
	if doc == nil {
		return nil
	}
	var o LintOptions
	for _, fn := range optFns {
		fn(&o)
	}
	var out []Finding
	sids := map[string]int{}
	owner := o.Owner
	for i := range doc.Statement {
		for _, r := range doc.Statement[i].Resource {
			if a := arnAccount(r); a != "" && owner == "" {
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
			add(CheckBroadAccess, "grants access to every principal (\"*\") without a condition that pins aws:PrincipalAccount, aws:PrincipalOrgID, aws:PrincipalArn, aws:SourceAccount, aws:SourceVpce or the like to fixed values; BlockPublicPolicy rejects this policy")
		}
		return
	}
	grantsAll := st.NotAction != nil
	for _, a := range st.Action {
		if actionGrantsAll(a) {
			grantsAll = true
		}
	}
	if !grantsAll || owner == "" {
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
		broad := false
		for j := range c.Values {
			broad = broad || broadValue(c, j)
		}
		if !broad {
			return true
		}
	}
	return false
}

// broadValue reports whether the condition's j-th value, one of several
// ORed, lets in principals of any account: "*", a wildcard in the account
// (or organization) part under StringLike or ArnLike, or a /0 address block.
func broadValue(c *Condition, j int) bool {
	v := c.Values[j]
	if v == "*" {
		return true
	}
	switch c.c.kind {
	case opIPAddress:
		return c.c.nets[j].Bits() == 0
	case opStringLike, opArnLike:
	default:
		return false // other operators take * and ? literally
	}
	if !strings.ContainsAny(v, "*?") {
		return false
	}
	switch strings.ToLower(c.Key) {
	case "aws:principalarn", "aws:sourcearn":
		parts := strings.SplitN(v, ":", 6)
		return len(parts) < 6 || strings.ContainsAny(parts[4], "*?")
	case "aws:principalorgpaths", "aws:sourceorgpaths":
		org, _, _ := strings.Cut(v, "/")
		return strings.ContainsAny(org, "*?")
	case "aws:userid":
		// "AROAEXAMPLEID:*" is one role, any session.
		id, _, found := strings.Cut(v, ":")
		return !found || strings.ContainsAny(id, "*?")
	}
	return true // an account, organization, VPC or user: any wildcard widens it
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
	absentOK := func(c *Condition) bool { return c.eval(&env{}).ok }
	// A Deny denies plain reads only when every one of its VersionStage
	// conditions holds without the key (a Null false beside limits it).
	denyApplies := true
	for i := range st.Condition {
		if c := &st.Condition[i]; strings.EqualFold(c.Key, "secretsmanager:VersionStage") && !absentOK(c) {
			denyApplies = false
		}
	}
	for i := range st.Condition {
		c := &st.Condition[i]
		if !strings.EqualFold(c.Key, "secretsmanager:VersionStage") {
			continue
		}
		// What the condition says when the request has no VersionStage,
		// by the evaluator's own rules.
		absentOK := absentOK(c)
		switch {
		case st.Effect == Allow && !absentOK && c.isNull():
			add(CheckVersionStage, c.Operator+" on secretsmanager:VersionStage requires the key, and a plain GetSecretValue carries no VersionStage, so this Allow fails every plain read; remove the condition")
		case st.Effect == Allow && !absentOK:
			add(CheckVersionStage, c.Operator+" on secretsmanager:VersionStage allows only callers that pass VersionStage; a plain GetSecretValue carries no VersionStage key and is denied. Use "+ifExists(c.Operator)+" to allow plain reads too")
		case st.Effect == Deny && denyApplies && c.isNull():
			add(CheckVersionStage, c.Operator+" on secretsmanager:VersionStage is true when the key is absent, and a plain GetSecretValue carries no VersionStage, so this Deny denies every plain read")
		case st.Effect == Deny && denyApplies:
			add(CheckVersionStage, c.Operator+" on secretsmanager:VersionStage is true when the key is absent, so this Deny applies to every plain GetSecretValue; to deny only reads that name another stage, add "+
				`"Null": {"secretsmanager:VersionStage": "false"}`+" to its Condition")
		}
	}
}

// ifExists names the operator that lets a plain read (no key) through: the
// base operator with IfExists and without a set prefix, which would keep
// ForAnyValue false for an absent key.
func ifExists(op string) string {
	if _, rest, ok := strings.Cut(op, ":"); ok {
		op = rest
	}
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
		for j := range st.Condition {
			o := &st.Condition[j]
			if j == i || !strings.EqualFold(o.Key, c.Key) {
				continue
			}
			switch {
			case c.isNull() && len(c.Values) == 1 && strings.EqualFold(c.Values[0], "true"):
				if !o.isNull() && !o.negatedOp() && !o.ifExistsOp() && o.setOp() != setForAll {
					add(CheckNeverMatches, "Null requires "+c.Key+" to be absent while "+o.Operator+" requires it to be present; the statement never applies")
				}
			case contradicts(c, o):
				add(CheckNeverMatches, c.Operator+" and "+o.Operator+" on "+c.Key+" with "+quoteList(c.Values)+" cannot both hold; the statement never applies")
			case j > i && disjointRange(c, o):
				add(CheckNeverMatches, c.Operator+" "+quoteList(c.Values)+" and "+o.Operator+" "+quoteList(o.Values)+" on "+c.Key+" leave no value that meets both; the statement never applies")
			}
		}
	}
}

// contradicts reports whether the positive condition pos and the negated
// condition neg, on one key, can never both hold: pos needs a request value
// that matches one of its values, neg needs no request value to match any
// of its values, and neg lists every value pos does. When the key is absent
// pos is false, unless it is IfExists.
func contradicts(pos, neg *Condition) bool {
	p, n := &pos.c, &neg.c
	if p.kind != n.kind || p.negated || !n.negated || p.ifExists || p.set != setNone || n.set != setNone || p.kind == opNull {
		return false
	}
	for _, v := range pos.Values {
		listed := false
		for _, w := range neg.Values {
			listed = listed || v == w || (p.kind == opStringEqualsIgnoreCase && strings.EqualFold(v, w))
		}
		if !listed {
			return false
		}
	}
	return true
}

// disjointRange reports whether two Numeric or Date conditions on one key
// bound it from below and above with nothing in between, e.g.
// NumericGreaterThanEquals 10 with NumericLessThan 10. When the key is
// absent a condition without IfExists is false, so one IfExists is not
// enough to make the statement match.
func disjointRange(a, b *Condition) bool {
	lo, hi := a, b
	if bound(lo) > 0 {
		lo, hi = hi, lo
	}
	lb, hb := bound(lo), bound(hi)
	if lb >= 0 || hb <= 0 || lo.c.set != setNone || hi.c.set != setNone || (lo.c.ifExists && hi.c.ifExists) {
		return false
	}
	numeric := lo.c.kind >= opNumericEquals && lo.c.kind <= opNumericGreaterThanEquals
	if numeric != (hi.c.kind >= opNumericEquals && hi.c.kind <= opNumericGreaterThanEquals) {
		return false
	}
	// The values of one condition are ORed: the loosest bound counts.
	var low, high float64
	if numeric {
		low, high = slices.Min(lo.c.nums), slices.Max(hi.c.nums)
	} else {
		low, high = float64(slices.MinFunc(lo.c.dates, time.Time.Compare).Unix()), float64(slices.MaxFunc(hi.c.dates, time.Time.Compare).Unix())
	}
	strict := lb == -2 || hb == 2
	return low > high || (low == high && strict)
}

// bound classifies a Numeric or Date condition: -2 greater than, -1 greater
// than or equal (lower bounds), 1 less than or equal, 2 less than (upper
// bounds), 0 anything else.
func bound(c *Condition) int {
	switch c.c.kind {
	case opNumericGreaterThan, opDateGreaterThan:
		return -2
	case opNumericGreaterThanEquals, opDateGreaterThanEquals:
		return -1
	case opNumericLessThanEquals, opDateLessThanEquals:
		return 1
	case opNumericLessThan, opDateLessThan:
		return 2
	}
	return 0
}
