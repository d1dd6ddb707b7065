package awsemu

import (
	"fmt"
	"maps"
	"net"
	"net/http"
	"regexp"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/rekeyhq/rekey/policy"
)

// rootAccessKeyID is the access key id AWSConfig signs with. With
// Options.EnforceIAM it is the root user of the server's account, so a
// test can seed secrets and keys without declaring a principal.
const rootAccessKeyID = "AKIAAWSEMU0000000000"

// principal is a caller AddPrincipal declared: who it is and the identity
// policies attached to it. It is immutable once stored.
type principal struct {
	arn      string
	account  string
	identity []*policy.Document
	boundary *policy.Document  // nil: none
	tags     map[string]string // aws:PrincipalTag/<key>
}

// principalARN accepts the callers a SigV4 access key can stand for: an IAM
// user or role, an assumed-role session, or an account's root user.
var principalARNPattern = regexp.MustCompile(`^arn:aws[a-z-]*:(iam::(\d{12}):(root|user/[\w+=,.@/-]+|role/[\w+=,.@/-]+)|sts::(\d{12}):assumed-role/[\w+=,.@-]+/[\w+=,.@-]+)$`)

// validAccessKeyID is what the emulator accepts as an access key id: it is
// the first field of a SigV4 Credential, so it cannot hold a "/".
var validAccessKeyID = regexp.MustCompile(`^[A-Za-z0-9]{1,128}$`)

// AddPrincipal makes requests signed with accessKeyID act as principalARN
// when Options.EnforceIAM is set; identityPolicies are the IAM policy
// documents (JSON) attached to it: its user or role policies, inline or
// managed. principalARN is an IAM user or role ARN
// (arn:aws:iam::111122223333:role/app), an assumed-role session ARN
// (arn:aws:sts::111122223333:assumed-role/app/session) or an account's
// root (arn:aws:iam::111122223333:root), of any account: principals of
// other accounts than the server's are callers from outside, subject to
// the cross-account rules. Adding an access key id again replaces its
// principal and policies and clears its tags and permissions boundary, so
// a test can change a caller's permissions between steps. It returns an error, and changes nothing, when
// accessKeyID is not 1 to 128 letters and digits, principalARN is not one
// of those forms, or a policy does not parse with policy.Parse. Without
// EnforceIAM principals are recorded but not consulted.
func (s *Server) AddPrincipal(accessKeyID, principalARN string, identityPolicies ...string) error {
	if !validAccessKeyID.MatchString(accessKeyID) {
		return fmt.Errorf("awsemu: access key id %q: want 1 to 128 letters and digits", accessKeyID)
	}
	m := principalARNPattern.FindStringSubmatch(principalARN)
	if m == nil {
		return fmt.Errorf("awsemu: principal %q is not an IAM user, role or root ARN or an assumed-role session ARN", principalARN)
	}
	p := &principal{arn: principalARN, account: m[2] + m[4]}
	for i, doc := range identityPolicies {
		d, err := policy.Parse([]byte(doc))
		if err != nil {
			return fmt.Errorf("awsemu: identity policy %d of %s: %w", i+1, principalARN, err)
		}
		p.identity = append(p.identity, d)
	}
	s.iamMu.Lock()
	defer s.iamMu.Unlock()
	s.principals[accessKeyID] = p
	return nil
}

// TagPrincipal sets the tags of the principal of accessKeyID, which its
// requests carry as aws:PrincipalTag/<key> condition keys (attribute-based
// access control), replacing any it had. AddPrincipal for the same key
// clears them. It returns an error when no AddPrincipal call added
// accessKeyID.
func (s *Server) TagPrincipal(accessKeyID string, tags map[string]string) error {
	tags = maps.Clone(tags)
	return s.updatePrincipal(accessKeyID, func(p *principal) { p.tags = tags })
}

// SetPermissionsBoundary sets the permissions boundary of the principal of
// accessKeyID to the IAM policy document boundaryPolicy (JSON), which caps
// what its identity policies, and resource policies naming its role, can
// allow; "" removes it. AddPrincipal for the same key removes it too. It
// returns an error, and changes nothing, when no AddPrincipal call added
// accessKeyID or the policy does not parse with policy.Parse.
func (s *Server) SetPermissionsBoundary(accessKeyID, boundaryPolicy string) error {
	var doc *policy.Document
	if boundaryPolicy != "" {
		d, err := policy.Parse([]byte(boundaryPolicy))
		if err != nil {
			return fmt.Errorf("awsemu: permissions boundary of access key id %q: %w", accessKeyID, err)
		}
		doc = d
	}
	return s.updatePrincipal(accessKeyID, func(p *principal) { p.boundary = doc })
}

// SetSCPs makes scps, IAM policy documents (JSON), the service control
// policies over accountID, one document per level of its organization
// (root, each OU, the account): a request of any principal of accountID is
// allowed only if every one of them allows it. No scps: the account is
// governed by none, the default. It returns an error, and changes nothing,
// when accountID is not 12 digits or a policy does not parse with
// policy.Parse.
func (s *Server) SetSCPs(accountID string, scps ...string) error {
	if !accountIDPattern.MatchString(accountID) {
		return fmt.Errorf("awsemu: account id %q: want 12 digits", accountID)
	}
	docs := make([]*policy.Document, 0, len(scps))
	for i, text := range scps {
		d, err := policy.Parse([]byte(text))
		if err != nil {
			return fmt.Errorf("awsemu: SCP %d of account %s: %w", i+1, accountID, err)
		}
		docs = append(docs, d)
	}
	s.iamMu.Lock()
	defer s.iamMu.Unlock()
	if len(docs) == 0 {
		delete(s.scps, accountID)
		return nil
	}
	s.scps[accountID] = docs
	return nil
}

var accountIDPattern = regexp.MustCompile(`^\d{12}$`)

// updatePrincipal replaces the principal of accessKeyID with a copy that
// change modified: requests under way keep the one they started with.
func (s *Server) updatePrincipal(accessKeyID string, change func(*principal)) error {
	s.iamMu.Lock()
	defer s.iamMu.Unlock()
	old := s.principals[accessKeyID]
	if old == nil {
		return fmt.Errorf("awsemu: access key id %q: no principal added", accessKeyID)
	}
	p := *old
	change(&p)
	s.principals[accessKeyID] = &p
	return nil
}

// AWSConfigAs returns an aws.Config like AWSConfig's whose requests are
// signed with accessKeyID, so that with Options.EnforceIAM they act as the
// principal AddPrincipal gave that key. The key need not be added yet; a
// request with a key that no AddPrincipal call added is refused with
// UnrecognizedClientException.
func (s *Server) AWSConfigAs(accessKeyID string) aws.Config {
	cfg := s.AWSConfig()
	cfg.Credentials = staticCredentials(accessKeyID)
	return cfg
}

// callerOf returns the caller of r: the principal of the access key id in
// its SigV4 Authorization header with the SCPs over its account, or the
// error AWS answers for an unsigned request or an unknown key.
func (s *Server) callerOf(r *http.Request) (*caller, *apiError) {
	akid := accessKeyOf(r.Header.Get("Authorization"))
	if akid == "" {
		return nil, errMissingToken()
	}
	s.iamMu.RLock()
	p := s.principals[akid]
	var scps []*policy.Document
	if p != nil {
		scps = s.scps[p.account] // never modified, only replaced
	}
	s.iamMu.RUnlock()
	if p == nil {
		return nil, errUnrecognizedClient()
	}
	host, _, _ := net.SplitHostPort(r.RemoteAddr)
	return &caller{principal: p, scps: scps, sourceIP: host}, nil
}

// accessKeyOf extracts the access key id from a SigV4 Authorization header:
// "AWS4-HMAC-SHA256 Credential=AKID/20260101/us-east-1/secretsmanager/aws4_request, ...".
func accessKeyOf(auth string) string {
	_, cred, ok := strings.Cut(auth, "Credential=")
	if !ok {
		return ""
	}
	akid, _, ok := strings.Cut(cred, "/")
	if !ok {
		return ""
	}
	return akid
}

// errUnrecognizedClient is AWS's answer to an access key id it does not know.
func errUnrecognizedClient() *apiError {
	return errorf("UnrecognizedClientException", "The security token included in the request is invalid.")
}

// errMissingToken is AWS's answer to an unsigned request.
func errMissingToken() *apiError {
	return errorf("MissingAuthenticationTokenException", "Missing Authentication Token")
}
