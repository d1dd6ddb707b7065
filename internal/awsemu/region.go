package awsemu

import (
	"context"
	"maps"
	"net/http"
	"slices"
	"strings"
)

// This file makes one Server serve several Regions at one URL. A request's
// Region is the one its SigV4 signature is scoped to, as an AWS endpoint
// would only accept that Region's signatures: the Authorization header's
// "Credential=AKID/<date>/<region>/<service>/aws4_request". A request
// without one is for the server's default Region (Options.Region). Each
// Region has its own secret store and its own KMS keys, created on the
// first request for it, including its own aws/secretsmanager key.

// regionState is one Region of the server.
type regionState struct {
	sm  *secretsManager
	kms *keyService
}

// regionState returns the Region called name, creating it on first use;
// "" and the default Region's name return the default Region.
func (s *Server) regionState(name string) regionState {
	if name == "" || name == s.region {
		return regionState{sm: s.sm, kms: s.kms}
	}
	s.regionMu.Lock()
	defer s.regionMu.Unlock()
	if rs := s.regions[name]; rs != nil {
		return *rs
	}
	if s.regions == nil {
		s.regions = make(map[string]*regionState)
	}
	kms := newRegionKeys(s, name)
	rs := &regionState{sm: newRegionSecrets(s, name, kms), kms: kms}
	s.regions[name] = rs
	return *rs
}

// requestRegion returns the Region r is signed for, or the default Region.
func (s *Server) requestRegion(r *http.Request) string {
	if region := signedRegion(r.Header.Get("Authorization")); region != "" {
		return region
	}
	return s.region
}

// signedRegion extracts the Region from a SigV4 Authorization header:
// "AWS4-HMAC-SHA256 Credential=AKID/20261204/us-west-2/secretsmanager/aws4_request, ...".
// It returns "" when the header has no such scope.
func signedRegion(auth string) string {
	_, cred, ok := strings.Cut(auth, "Credential=")
	if !ok {
		return ""
	}
	cred, _, _ = strings.Cut(cred, ",")
	parts := strings.Split(strings.TrimSpace(cred), "/")
	if len(parts) != 5 || parts[4] != "aws4_request" || !validRegion(parts[2]) {
		return ""
	}
	return parts[2]
}

// validRegion reports whether name has the shape of a Region name
// ("us-west-2"): lower-case letters, digits and dashes, at most 32.
func validRegion(name string) bool {
	if name == "" || len(name) > 32 {
		return false
	}
	for _, c := range name {
		if (c < 'a' || c > 'z') && (c < '0' || c > '9') && c != '-' {
			return false
		}
	}
	return true
}

// regionOpSep separates Region and operation in the keys of Server.calls
// that count per Region; no operation name contains it.
const regionOpSep = "\x00"

func regionOp(region, op string) string { return region + regionOpSep + op }

// CallsIn is Calls for the requests signed for region (unsigned requests
// count for the default Region), counting requests answered with an
// injected fault. ResetCalls resets it too.
func (s *Server) CallsIn(region, op string) int64 { return s.Calls(regionOp(region, op)) }

type regionKey struct{}

// withRegion records the Region a request is for in its context.
func withRegion(ctx context.Context, region string) context.Context {
	return context.WithValue(ctx, regionKey{}, region)
}

// regionOf returns the Region withRegion recorded, or "" (the default).
func regionOf(ctx context.Context) string {
	region, _ := ctx.Value(regionKey{}).(string)
	return region
}

// allRegions returns every Region created so far, the default first and
// the others by name.
func (s *Server) allRegions() []regionState {
	out := []regionState{{sm: s.sm, kms: s.kms}}
	s.regionMu.Lock()
	defer s.regionMu.Unlock()
	for _, name := range slices.Sorted(maps.Keys(s.regions)) {
		out = append(out, *s.regions[name])
	}
	return out
}
