package policy

import (
	"fmt"
	"strconv"
	"strings"
)

// result turns the analysis into a Result with reasons in plain words.
func (a *analysis) result() Result {
	r := Result{Decision: a.decision}
	e := &a.e
	switch a.decision {
	case ExplicitDeny:
		what := e.action + " on " + e.resource
		for _, d := range a.allDenies() {
			r.Statements = append(r.Statements, d)
			r.Reasons = append(r.Reasons, d.String()+" explicitly denies "+what+"; no Allow can override an explicit deny")
		}
		return r
	case Allowed:
		r.Statements, r.Reasons = a.allowedBy()
		return r
	}
	r.Reasons = a.implicitReasons()
	return r
}

func (a *analysis) allDenies() []StatementRef {
	var out []StatementRef
	out = append(out, a.identity.deny...)
	out = append(out, a.resource.deny...)
	out = append(out, a.boundary.deny...)
	for i := range a.scps {
		out = append(out, a.scps[i].deny...)
	}
	return out
}

// allowedBy lists the allows that decided and says why they suffice.
func (a *analysis) allowedBy() ([]StatementRef, []string) {
	e := &a.e
	var refs []StatementRef
	var reasons []string
	g := a.resource.grant
	resourcePath := g == grantDirect || (g == grantRole && a.boundaryOK)
	identityPath := a.identityOK && a.boundaryOK
	identityReason := func() string {
		if len(a.identity.allow) == 0 {
			return "the caller is the root user of its account, which has every identity permission there"
		}
		return a.identity.allow[0].String() + " allows " + e.action + " on " + e.resource
	}
	usedIdentity, usedBoundary := false, false
	switch {
	case a.service:
		refs = append(refs, a.resource.allow...)
		reasons = append(reasons, a.resource.allow[0].String()+" allows the service "+e.caller.arn)
	case a.cross || (e.kms && !resourcePath):
		refs = append(refs, a.resource.allow...)
		refs = append(refs, a.identity.allow...)
		reasons = append(reasons, a.resource.allow[0].String()+" allows "+e.caller.describe(), identityReason())
		usedIdentity = true
	case resourcePath && (!identityPath || e.kms):
		refs = append(refs, a.resource.allow...)
		reasons = append(reasons, a.resource.allow[0].String()+" allows "+e.caller.describe()+" directly")
		usedBoundary = g == grantRole
	default:
		refs = append(refs, a.identity.allow...)
		reasons = append(reasons, identityReason())
		usedIdentity = true
	}
	if (usedIdentity || usedBoundary) && len(a.boundary.allow) > 0 {
		refs = append(refs, a.boundary.allow[0])
		reasons = append(reasons, "the permissions boundary allows it too ("+a.boundary.allow[0].String()+")")
	}
	for i := range a.scps {
		if len(a.scps[i].allow) > 0 {
			refs = append(refs, a.scps[i].allow[0])
		}
	}
	return refs, reasons
}

// implicitReasons explains an ImplicitDeny: each policy that had to allow
// and did not, then the statements that nearly allowed.
func (a *analysis) implicitReasons() []string {
	e := &a.e
	out := make([]string, 0, 4)
	who := e.caller.describe()
	if a.scpFail >= 0 {
		out = append(out, fmt.Sprintf("SCP %d does not allow %s: every SCP over the caller's account must allow it", a.scpFail+1, e.action))
	}
	g := a.resource.grant
	noResource := ""
	if !a.hasResource {
		noResource = " (there is none)"
	}
	switch {
	case a.service:
		out = append(out, "no resource policy allows "+e.action+" for the service "+e.caller.arn+noResource+"; services get access only through resource policies")
	case e.kms:
		switch {
		case !a.hasResource:
			out = append(out, "the KMS key policy was not provided; every use of a KMS key needs its key policy to allow it")
		case g == grantNone && a.cross:
			out = append(out, "the KMS key policy does not allow "+e.action+" for "+who+": a caller in another account needs the key policy to name it or its account")
		case g == grantNone:
			out = append(out, "the KMS key policy does not allow "+e.action+" for "+who+", directly or by naming the account root; IAM policies alone never allow use of a KMS key")
		case g == grantAccount && !a.cross && !a.identityOK:
			out = append(out, "the KMS key policy delegates to IAM policies (it names the account root), but no identity policy allows "+e.action+" on "+e.resource)
		}
		if a.cross && !a.identityOK {
			out = append(out, "no identity policy of "+who+" allows "+e.action+" on "+e.resource+": a caller in another account needs its own identity policy to allow the key as well")
		}
	case a.cross:
		if g == grantNone {
			out = append(out, "no resource policy allows "+e.action+" for "+who+noResource+": a request from account "+e.caller.account+" to a resource of account "+e.owner+" needs the resource policy to allow it")
		}
		if !a.identityOK {
			out = append(out, "no identity policy of "+who+" allows "+e.action+" on "+e.resource+": a cross-account request needs the caller's identity policy to allow it as well")
		}
	default:
		switch {
		case !a.identityOK && g == grantAccount:
			out = append(out, "no identity policy allows "+e.action+" on "+e.resource+"; the resource policy names only the account "+e.caller.account+", which delegates to IAM policies and allows nothing on its own")
		case !a.identityOK:
			out = append(out, "no identity policy allows "+e.action+" on "+e.resource+", and no resource policy allows "+who+" directly"+noResource)
		}
		if g == grantRole && !a.boundaryOK {
			out = append(out, "the resource policy names the role, and a grant to a role ARN is limited by the permissions boundary, which does not allow "+e.action)
		}
	}
	if a.identityOK && !a.boundaryOK && !a.service {
		out = append(out, "the permissions boundary does not allow "+e.action+" on "+e.resource+"; a boundary caps what identity policies grant")
	}
	for _, d := range []*docEval{&a.resource, &a.identity, &a.boundary} {
		for _, n := range d.near {
			if n.ref.Effect == Allow {
				out = append(out, n.explain(e))
			}
		}
	}
	if len(out) == 0 {
		out = append(out, "no policy allows "+e.action+" on "+e.resource)
	}
	return out
}

// explain says in plain words why a statement did not apply.
func (n *nearMiss) explain(e *env) string {
	verb := "would allow"
	if n.ref.Effect == Deny {
		verb = "would deny"
	}
	head := n.ref.String() + " " + verb + " " + e.action + ", but "
	if n.missing != "" {
		return head + "its Resource uses the policy variable ${" + n.missing + "}, which this request does not carry"
	}
	c := n.cond
	if n.res.missing != "" {
		return head + "its condition " + c.Operator + " on " + c.Key + " uses ${" + n.res.missing + "}, which this request does not carry"
	}
	if n.res.absent {
		msg := head + "its condition " + c.Operator + " on " + c.Key + " needs " + c.Key + ", which this request does not carry"
		if strings.EqualFold(c.Key, "secretsmanager:VersionStage") {
			msg += " (GetSecretValue sends secretsmanager:VersionStage only when the caller passes VersionStage, so a plain read is denied; use StringEqualsIfExists)"
		}
		return msg
	}
	vals, n2 := e.lookup(c.Key)
	got := make([]string, n2)
	for i := range n2 {
		got[i] = vals.at(i)
	}
	return head + "its condition " + c.Operator + " " + c.Key + " " + quoteList(c.Values) + " is false for the request's " + quoteList(got)
}

func quoteList(vs []string) string {
	q := make([]string, len(vs))
	for i, v := range vs {
		q[i] = strconv.Quote(v)
	}
	return "[" + strings.Join(q, ", ") + "]"
}
