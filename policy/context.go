package policy

import "strings"

// ctxValues is a request key's values without allocating for derived
// single values.
type ctxValues struct {
	many []string
	one  string
}

func (v ctxValues) at(i int) string {
	if v.many != nil {
		return v.many[i]
	}
	return v.one
}

// env is the request as the matchers see it.
type env struct {
	action      string
	resource    string
	ctx         map[string][]string
	caller      identity
	owner       string
	hasBoundary bool
	kms         bool
	principal   string // aws:PrincipalArn, computed on first use
	principalOK bool
}

// lookup returns the values of a condition key: from the request context
// (exact spelling first, then any letter case), else derived.
func (e *env) lookup(key string) (ctxValues, int) {
	if v, ok := e.ctx[key]; ok {
		return ctxValues{many: v}, len(v)
	}
	for k, v := range e.ctx {
		if strings.EqualFold(k, key) {
			return ctxValues{many: v}, len(v)
		}
	}
	one := e.derived(key)
	if one == "" {
		return ctxValues{}, 0
	}
	return ctxValues{one: one}, 1
}

// derived gives the keys AWS adds to every request that Evaluate can know.
func (e *env) derived(key string) string {
	c := &e.caller
	prefix, name, _ := strings.Cut(key, ":")
	switch {
	case strings.EqualFold(prefix, "aws"):
		switch {
		case strings.EqualFold(name, "PrincipalArn"):
			if !e.principalOK {
				e.principal, e.principalOK = c.principalARN(), true
			}
			return e.principal
		case strings.EqualFold(name, "PrincipalAccount"):
			return c.account
		case strings.EqualFold(name, "PrincipalType"):
			return c.principalType()
		case strings.EqualFold(name, "username"):
			if c.kind == kindUser {
				return c.name
			}
		case strings.EqualFold(name, "ResourceAccount"):
			return e.owner
		case strings.EqualFold(name, "PrincipalIsAWSService"):
			if c.kind == kindService {
				return "true"
			}
			return "false"
		case strings.EqualFold(name, "PrincipalServiceName"):
			if c.kind == kindService {
				return c.arn
			}
		}
	case strings.EqualFold(prefix, "kms"):
		if e.kms && strings.EqualFold(name, "CallerAccount") {
			return c.account
		}
	case strings.EqualFold(prefix, "secretsmanager"):
		if strings.EqualFold(name, "SecretId") && hasPrefixFold(e.action, "secretsmanager:") && strings.HasPrefix(e.resource, "arn:") {
			return e.resource
		}
	}
	return ""
}

func hasPrefixFold(s, prefix string) bool {
	return len(s) >= len(prefix) && strings.EqualFold(s[:len(prefix)], prefix)
}

// arnAccount returns the account field of an ARN, if it is an account ID.
func arnAccount(arn string) string {
	rest, ok := strings.CutPrefix(arn, "arn:")
	if !ok {
		return ""
	}
	for range 3 {
		if _, rest, ok = strings.Cut(rest, ":"); !ok {
			return ""
		}
	}
	acct, _, _ := strings.Cut(rest, ":")
	if !isAccountID(acct) {
		return ""
	}
	return acct
}

// arnRegion returns the region field of an ARN.
func arnRegion(arn string) string {
	rest, ok := strings.CutPrefix(arn, "arn:")
	if !ok {
		return ""
	}
	for range 2 {
		if _, rest, ok = strings.Cut(rest, ":"); !ok {
			return ""
		}
	}
	region, _, _ := strings.Cut(rest, ":")
	return region
}
