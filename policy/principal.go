package policy

import "strings"

// principalKind is what an ARN or account ID names.
type principalKind uint8

const (
	kindUnknown   principalKind = iota
	kindAny                     // "*"
	kindAccount                 // an account: 123456789012 or arn:aws:iam::123456789012:root
	kindUser                    // arn:aws:iam::123456789012:user/path/name
	kindRole                    // arn:aws:iam::123456789012:role/path/name
	kindSession                 // arn:aws:sts::123456789012:assumed-role/name/session
	kindFederated               // arn:aws:sts::123456789012:federated-user/name
	kindService                 // secretsmanager.amazonaws.com
)

// identity is a parsed principal: the caller of a request, or one entry of
// a Principal element. Fields are substrings of arn; parsing allocates
// nothing.
type identity struct {
	kind    principalKind
	arn     string
	account string
	name    string // user or role name, without path
	session string // role session name
}

// parseIdentity parses an account ID, an IAM or STS principal ARN, "*", or
// a service principal. Anything else is kindUnknown and only equals itself.
func parseIdentity(s string) identity {
	id := identity{arn: s}
	switch {
	case s == "*":
		id.kind = kindAny
		return id
	case isAccountID(s):
		id.kind, id.account = kindAccount, s
		return id
	case strings.HasSuffix(s, ".amazonaws.com") || strings.HasSuffix(s, ".amazonaws.com.cn"):
		id.kind = kindService
		return id
	case !strings.HasPrefix(s, "arn:"):
		return id
	}
	// arn:partition:service:region:account:resource
	rest := s[len("arn:"):]
	var parts [4]string
	for i := range parts {
		var ok bool
		parts[i], rest, ok = strings.Cut(rest, ":")
		if !ok {
			return id
		}
	}
	service, account, res := parts[1], parts[3], rest
	if !isAccountID(account) {
		return id
	}
	id.account = account
	switch service {
	case "iam":
		switch {
		case res == "root":
			id.kind = kindAccount
		case strings.HasPrefix(res, "user/"):
			id.kind, id.name = kindUser, lastSegment(res)
		case strings.HasPrefix(res, "role/"):
			id.kind, id.name = kindRole, lastSegment(res)
		}
	case "sts":
		if r, ok := strings.CutPrefix(res, "assumed-role/"); ok {
			if role, sess, ok := strings.Cut(r, "/"); ok && role != "" && sess != "" {
				id.kind, id.name, id.session = kindSession, role, sess
			}
		} else if strings.HasPrefix(res, "federated-user/") {
			id.kind, id.name = kindFederated, lastSegment(res)
		}
	}
	if id.kind == kindUnknown {
		id.account = ""
	}
	return id
}

func isAccountID(s string) bool {
	if len(s) != 12 {
		return false
	}
	for i := range len(s) {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

func lastSegment(s string) string {
	return s[strings.LastIndexByte(s, '/')+1:]
}

// grant is how a resource policy's Allow reached the caller, which decides
// what else must allow (see Evaluate). Larger is stronger.
type grant uint8

const (
	grantNone    grant = iota
	grantAccount       // names the caller's account: delegates to its IAM policies
	grantRole          // names the caller's role: limited by a permissions boundary
	grantDirect        // names the caller itself, or everyone
)

// principalSet is a compiled Principal element.
type principalSet struct {
	any       bool
	ids       []identity
	services  []string
	federated []string
	canonical []string
}

func compilePrincipal(p *Principal) *principalSet {
	if p == nil {
		return nil
	}
	ps := &principalSet{any: p.Wildcard, services: p.Service, federated: p.Federated, canonical: p.CanonicalUser}
	for _, a := range p.AWS {
		id := parseIdentity(a)
		if id.kind == kindAny {
			ps.any = true
			continue
		}
		ps.ids = append(ps.ids, id)
	}
	return ps
}

// match reports how strongly the Principal element names the caller.
func (ps *principalSet) match(c *identity) grant {
	if ps.any {
		return grantDirect
	}
	g := grantNone
	if c.kind == kindService {
		for _, s := range ps.services {
			if s == c.arn {
				return grantDirect
			}
		}
		return grantNone
	}
	for _, s := range ps.federated {
		if s == c.arn {
			return grantDirect
		}
	}
	for i := range ps.ids {
		p := &ps.ids[i]
		switch p.kind {
		case kindAccount:
			if c.account != "" && p.account == c.account {
				g = max(g, grantAccount)
			}
		case kindRole:
			if (c.kind == kindRole || c.kind == kindSession) && p.account == c.account && strings.EqualFold(p.name, c.name) {
				g = max(g, grantRole)
			}
		case kindUser:
			if c.kind == kindUser && p.account == c.account && strings.EqualFold(p.name, c.name) {
				return grantDirect
			}
		case kindSession:
			if c.kind == kindSession && p.account == c.account && strings.EqualFold(p.name, c.name) && p.session == c.session {
				return grantDirect
			}
		case kindFederated:
			if c.kind == kindFederated && p.arn == c.arn {
				return grantDirect
			}
		default:
			if p.arn == c.arn {
				return grantDirect
			}
		}
	}
	return g
}

// entryFor returns the entry of the Principal element that names the caller
// most strongly, as written ("*", an account ID, an ARN), and its grant; for
// explanations, not for the evaluation path.
func (ps *principalSet) entryFor(c *identity) (string, grant) {
	if ps.any {
		return "*", grantDirect
	}
	best, entry := grantNone, ""
	for i := range ps.ids {
		one := principalSet{ids: ps.ids[i : i+1]}
		if g := one.match(c); g > best {
			best, entry = g, ps.ids[i].arn
		}
	}
	if entry == "" {
		return c.arn, ps.match(c) // a service or federated principal
	}
	return entry, best
}

// excludes reports whether a NotPrincipal element exempts the caller. AWS
// may check each identity in the caller's chain in turn (account, then role
// or user, then session), so the caller is exempt only when every link is
// listed: the documented reason to list the account and the role beside a
// session.
func (ps *principalSet) excludes(c *identity) bool {
	if ps.any {
		return true
	}
	if c.kind == kindService {
		for _, s := range ps.services {
			if s == c.arn {
				return true
			}
		}
		return false
	}
	listed := func(k principalKind) bool {
		for i := range ps.ids {
			p := &ps.ids[i]
			if p.kind != k || p.account != c.account {
				continue
			}
			switch k {
			case kindAccount:
				return true
			case kindRole, kindUser:
				if strings.EqualFold(p.name, c.name) {
					return true
				}
			case kindSession:
				if strings.EqualFold(p.name, c.name) && p.session == c.session {
					return true
				}
			case kindFederated:
				if p.arn == c.arn {
					return true
				}
			}
		}
		return false
	}
	if c.account == "" || !listed(kindAccount) {
		return false
	}
	switch c.kind {
	case kindAccount:
		return true
	case kindUser:
		return listed(kindUser)
	case kindRole:
		return listed(kindRole)
	case kindSession:
		return listed(kindRole) && listed(kindSession)
	case kindFederated:
		return listed(kindFederated)
	}
	return false
}

// principalARN is the value of aws:PrincipalArn for the caller: the role's
// ARN for a role session (without the role's path, which a session ARN does
// not carry).
func (c *identity) principalARN() string {
	switch c.kind {
	case kindSession:
		partition := "aws"
		if p, _, ok := strings.Cut(strings.TrimPrefix(c.arn, "arn:"), ":"); ok {
			partition = p
		}
		return "arn:" + partition + ":iam::" + c.account + ":role/" + c.name
	case kindAccount:
		if isAccountID(c.arn) {
			return "arn:aws:iam::" + c.account + ":root"
		}
	case kindService:
		return ""
	}
	return c.arn
}

// principalType is the value of aws:PrincipalType.
func (c *identity) principalType() string {
	switch c.kind {
	case kindAccount:
		return "Account"
	case kindUser:
		return "User"
	case kindRole, kindSession:
		return "AssumedRole"
	case kindFederated:
		return "FederatedUser"
	}
	return ""
}

// describe names the caller for people.
func (c *identity) describe() string {
	switch c.kind {
	case kindAccount:
		return "the root user of account " + c.account
	case kindService:
		return "the service " + c.arn
	}
	return c.arn
}

// grantPrincipal is the principal to name in a statement that grants the
// caller: a role rather than one of its sessions.
func (c *identity) grantPrincipal() string {
	if c.kind == kindSession {
		return c.principalARN()
	}
	if c.kind == kindAccount {
		return "arn:aws:iam::" + c.account + ":root"
	}
	return c.arn
}
