package policy

import "fmt"

// compiledStatement holds what Parse precompiles so that evaluation does
// no parsing and, for policies without variables, no allocation.
type compiledStatement struct {
	actions      []glob // Action or NotAction, matched case-insensitively
	notAction    bool
	resources    []text // Resource or NotResource
	notResource  bool
	principal    *principalSet // Principal or NotPrincipal
	notPrincipal bool
}

func (st *Statement) compile(vars bool) *ParseError {
	c := &st.c
	acts := st.Action
	if st.NotAction != nil {
		acts, c.notAction = st.NotAction, true
	}
	for _, a := range acts {
		t, _ := compileText(a, false) // no variables in Action
		c.actions = append(c.actions, t.g)
	}
	res := st.Resource
	name := "Resource"
	if st.NotResource != nil {
		res, c.notResource, name = st.NotResource, true, "NotResource"
	}
	for i, r := range res {
		t, err := compileText(r, vars)
		if err != nil {
			return &ParseError{Element: fmt.Sprintf("%s[%d]", name, i), Msg: fmt.Sprintf("%q: %v", r, err)}
		}
		c.resources = append(c.resources, t)
	}
	switch {
	case st.Principal != nil:
		c.principal = compilePrincipal(st.Principal)
	case st.NotPrincipal != nil:
		c.principal, c.notPrincipal = compilePrincipal(st.NotPrincipal), true
	}
	return nil
}

// outcome is how far a statement got in matching a request.
type outcome uint8

const (
	outNoMatch   outcome = iota // action, resource or principal do not match
	outCondFails                // everything matched but a condition
	outApplies                  // the statement applies to the request
)

// stmtResult is one statement's verdict on a request.
type stmtResult struct {
	out   outcome
	grant grant // for resource policies: how the principal was named
	cond  int   // outCondFails: index of the first failing condition
	cres  condResult
	// missing is a policy variable in Resource the request could not fill,
	// set when no Resource entry matched (so it may be why).
	missing string
}

// evaluate matches the statement against the request. withPrincipal is set
// for resource-based policies, whose statements must name the caller.
func (st *Statement) evaluate(e *env, withPrincipal bool) stmtResult {
	c := &st.c
	hit := false
	for i := range c.actions {
		if c.actions[i].match(e.action, false, true) {
			hit = true
			break
		}
	}
	if hit == c.notAction {
		return stmtResult{}
	}
	// An entry whose policy variable the request cannot fill is unknown,
	// not a match: another entry that matches still decides, whatever the
	// order of the list; when none does, the statement does not apply,
	// with NotResource as with Resource (see "Policy variables" in doc.go).
	hit = false
	var missing string
	for i := range c.resources {
		m, miss := c.resources[i].matchGlob(e, e.resource, true)
		if m {
			hit, missing = true, ""
			break
		}
		if missing == "" {
			missing = miss
		}
	}
	if missing != "" {
		return stmtResult{missing: missing}
	}
	if hit == c.notResource {
		return stmtResult{}
	}
	r := stmtResult{grant: grantDirect}
	if withPrincipal {
		switch {
		case c.principal == nil:
			return stmtResult{} // a resource policy statement must name a principal
		case c.notPrincipal:
			// AWS: NotPrincipal with Deny always denies a principal that has
			// a permissions boundary, whatever NotPrincipal lists.
			if c.principal.excludes(&e.caller) && !(st.Effect == Deny && e.hasBoundary) {
				return stmtResult{}
			}
		default:
			if r.grant = c.principal.match(&e.caller); r.grant == grantNone {
				return stmtResult{}
			}
		}
	}
	for i := range st.Condition {
		cr := st.Condition[i].eval(e)
		if !cr.ok {
			r.out, r.cond, r.cres = outCondFails, i, cr
			return r
		}
	}
	r.out = outApplies
	return r
}
