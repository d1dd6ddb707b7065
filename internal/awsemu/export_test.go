package awsemu

// UseIDs makes the next secrets created end their ARNs with arnSuffixes, in
// order, and the next KMS keys created take keyIDs, so that fixtures' policy
// documents can name them verbatim. Random identifiers follow once a list is
// used up.
func UseIDs(s *Server, arnSuffixes, keyIDs []string) {
	s.idMu.Lock()
	defer s.idMu.Unlock()
	s.arnSuffixes = append(s.arnSuffixes, arnSuffixes...)
	s.keyIDs = append(s.keyIDs, keyIDs...)
}
