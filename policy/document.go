package policy

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
)

// MaxDocumentSize is the largest policy document Parse accepts, in bytes.
// AWS's own limits are lower: 20,480 characters for a secret's resource
// policy, 32,768 bytes for a key policy, 6,144 for a managed IAM policy.
const MaxDocumentSize = 65536

// Policy language versions. Only VersionCurrent substitutes policy
// variables; in a 2008-10-17 policy (or one without Version) "${aws:username}"
// is literal text, as in AWS.
const (
	VersionCurrent = "2012-10-17"
	VersionLegacy  = "2008-10-17"
)

// Effect is a statement's Effect.
type Effect string

// The two effects a statement can have.
const (
	Allow Effect = "Allow"
	Deny  Effect = "Deny"
)

// Document is a parsed IAM policy document: an identity policy, a
// permissions boundary, an SCP, a secret's resource policy or a KMS key
// policy. Its patterns are compiled by Parse; a Document is immutable and
// safe for concurrent use by Evaluate.
type Document struct {
	// Version is the policy language version, "2012-10-17" or
	// "2008-10-17" (which has no policy variables); empty if absent.
	Version string
	// ID is the optional Id element.
	ID string
	// Statement holds the statements in document order.
	Statement []Statement
}

// Statement is one statement of a Document, with every string-or-array
// element normalised to a slice. Exactly one of Action and NotAction, and of
// Resource and NotResource, is non-nil; Principal and NotPrincipal are nil
// when absent.
type Statement struct {
	// Sid is the optional statement id.
	Sid string
	// Effect is Allow or Deny.
	Effect Effect
	// Principal and NotPrincipal are the principals a resource or key
	// policy statement applies to, or does not.
	Principal    *Principal
	NotPrincipal *Principal
	// Action and NotAction are action patterns such as
	// "secretsmanager:Get*", matched case-insensitively.
	Action    []string
	NotAction []string
	// Resource and NotResource are ARN patterns with * and ?, matched
	// case-sensitively.
	Resource    []string
	NotResource []string
	// Condition holds one entry per (operator, key) pair, sorted by
	// operator then key.
	Condition []Condition

	c compiledStatement
}

// Principal is a Principal or NotPrincipal element. "Principal": "*" sets
// Wildcard; {"AWS": "*"} puts "*" in AWS, which AWS treats the same way.
type Principal struct {
	// Wildcard is set by "Principal": "*".
	Wildcard bool
	// AWS lists account ids, account roots, role, user and assumed-role
	// ARNs, or "*".
	AWS []string
	// Service lists service principals, e.g. "lambda.amazonaws.com".
	Service []string
	// Federated lists identity providers.
	Federated []string
	// CanonicalUser lists S3 canonical user ids.
	CanonicalUser []string
}

// Condition is one condition key under one operator, e.g.
// {"StringEquals": {"aws:PrincipalOrgID": ["o-1", "o-2"]}} gives Operator
// "StringEquals", Key "aws:PrincipalOrgID", Values ["o-1", "o-2"].
type Condition struct {
	// Operator is the condition operator as written, including any
	// ForAnyValue:/ForAllValues: prefix and IfExists suffix.
	Operator string
	// Key is the condition key, e.g. "aws:PrincipalOrgID"; keys match
	// case-insensitively.
	Key string
	// Values are the values to compare with; any one may match.
	Values []string

	c cond
}

// ParseError reports a policy document that is not valid IAM policy
// grammar. Statement is the index in the Statement array (0 when Statement
// is a single object) or -1 for the document itself; Element names the
// offending element, e.g. "Effect" or "Condition.StringEquals".
type ParseError struct {
	// Statement is the statement index, or -1 for the document itself.
	Statement int
	// Element is the offending element's path within the statement.
	Element string
	// Msg says what is wrong.
	Msg string
	// Err is the underlying JSON error, if any.
	Err error
}

// Error renders the error as "policy: Statement[i].Element: message".
func (e *ParseError) Error() string {
	var b strings.Builder
	b.WriteString("policy: ")
	if e.Statement >= 0 {
		fmt.Fprintf(&b, "Statement[%d]", e.Statement)
		if e.Element != "" {
			b.WriteByte('.')
		}
	}
	b.WriteString(e.Element)
	if e.Statement >= 0 || e.Element != "" {
		b.WriteString(": ")
	}
	b.WriteString(e.Msg)
	return b.String()
}

// Unwrap returns the JSON error behind a malformed document, if any.
func (e *ParseError) Unwrap() error { return e.Err }

// Parse parses a JSON policy document as AWS accepts it: Version, Id and
// Statement at the top; Statement as one object or an array; every
// string-or-array element in either form; Principal as "*" or a map of
// "AWS", "Service", "Federated" and "CanonicalUser" to a string or an array.
// Element names are case-sensitive. It rejects unknown elements, a missing
// or wrong Effect, Action together with NotAction (and the like), unknown
// condition operators, values an operator cannot use (a Bool that is not
// true or false, a date that is neither ISO 8601 nor whole epoch seconds,
// a number that is not decimal — NaN and Inf included — or a bad CIDR), an
// element named twice in one object, and documents over MaxDocumentSize,
// with a *ParseError naming the statement index.
func Parse(data []byte) (*Document, error) {
	if len(data) > MaxDocumentSize {
		return nil, &ParseError{Statement: -1, Msg: fmt.Sprintf("document is %d bytes, over the %d-byte limit", len(data), MaxDocumentSize)}
	}
	top, err := decodeObject(data)
	if perr := duplicateKey(err, ""); perr != nil {
		perr.Statement = -1
		return nil, perr
	}
	if err != nil {
		return nil, &ParseError{Statement: -1, Msg: "malformed JSON: " + err.Error(), Err: err}
	}
	if top == nil {
		return nil, &ParseError{Statement: -1, Msg: "a policy document must be a JSON object"}
	}
	doc := &Document{}
	for _, k := range sortedKeys(top) {
		switch k {
		case "Version", "Id":
		case "Statement":
		default:
			return nil, &ParseError{Statement: -1, Element: k, Msg: "unknown top-level element (want Version, Id, Statement)"}
		}
	}
	if raw, ok := top["Version"]; ok {
		if err := json.Unmarshal(raw, &doc.Version); err != nil {
			return nil, &ParseError{Statement: -1, Element: "Version", Msg: "must be a string"}
		}
		if doc.Version != VersionCurrent && doc.Version != VersionLegacy {
			return nil, &ParseError{Statement: -1, Element: "Version", Msg: fmt.Sprintf("%q is not a policy language version (want %q)", doc.Version, VersionCurrent)}
		}
	}
	if raw, ok := top["Id"]; ok {
		if err := json.Unmarshal(raw, &doc.ID); err != nil {
			return nil, &ParseError{Statement: -1, Element: "Id", Msg: "must be a string"}
		}
	}
	raw, ok := top["Statement"]
	if !ok {
		return nil, &ParseError{Statement: -1, Element: "Statement", Msg: "missing"}
	}
	var stmts []json.RawMessage
	switch firstByte(raw) {
	case '{':
		stmts = []json.RawMessage{raw}
	case '[':
		if err := json.Unmarshal(raw, &stmts); err != nil {
			return nil, &ParseError{Statement: -1, Element: "Statement", Msg: "must be an object or an array of objects", Err: err}
		}
		if len(stmts) == 0 {
			return nil, &ParseError{Statement: -1, Element: "Statement", Msg: "has no statements"}
		}
	default:
		return nil, &ParseError{Statement: -1, Element: "Statement", Msg: "must be an object or an array of objects"}
	}
	vars := doc.Version == VersionCurrent
	doc.Statement = make([]Statement, len(stmts))
	for i, raw := range stmts {
		if err := parseStatement(raw, vars, &doc.Statement[i]); err != nil {
			err.Statement = i
			return nil, err
		}
	}
	return doc, nil
}

// MustParse is Parse for policies written in code and tests; it panics on
// error.
func MustParse(data string) *Document {
	d, err := Parse([]byte(data))
	if err != nil {
		panic(err)
	}
	return d
}

func parseStatement(raw json.RawMessage, vars bool, st *Statement) *ParseError {
	obj, err := decodeObject(raw)
	if perr := duplicateKey(err, ""); perr != nil {
		return perr
	}
	if err != nil || obj == nil {
		return &ParseError{Msg: "must be a JSON object"}
	}
	for _, k := range sortedKeys(obj) {
		switch k {
		case "Sid", "Effect", "Principal", "NotPrincipal", "Action", "NotAction", "Resource", "NotResource", "Condition":
		default:
			return &ParseError{Element: k, Msg: "unknown element"}
		}
	}
	if raw, ok := obj["Sid"]; ok {
		if err := json.Unmarshal(raw, &st.Sid); err != nil {
			return &ParseError{Element: "Sid", Msg: "must be a string"}
		}
	}
	var effect string
	if raw, ok := obj["Effect"]; !ok {
		return &ParseError{Element: "Effect", Msg: `missing (want "Allow" or "Deny")`}
	} else if err := json.Unmarshal(raw, &effect); err != nil || (effect != string(Allow) && effect != string(Deny)) {
		return &ParseError{Element: "Effect", Msg: fmt.Sprintf(`must be "Allow" or "Deny", got %s`, compact(raw))}
	}
	st.Effect = Effect(effect)

	var perr *ParseError
	if st.Principal, perr = parsePrincipal(obj, "Principal"); perr != nil {
		return perr
	}
	if st.NotPrincipal, perr = parsePrincipal(obj, "NotPrincipal"); perr != nil {
		return perr
	}
	if st.Principal != nil && st.NotPrincipal != nil {
		return &ParseError{Element: "NotPrincipal", Msg: "cannot be used together with Principal"}
	}

	if st.Action, perr = stringsElement(obj, "Action"); perr != nil {
		return perr
	}
	if st.NotAction, perr = stringsElement(obj, "NotAction"); perr != nil {
		return perr
	}
	switch {
	case st.Action != nil && st.NotAction != nil:
		return &ParseError{Element: "NotAction", Msg: "cannot be used together with Action"}
	case st.Action == nil && st.NotAction == nil:
		return &ParseError{Element: "Action", Msg: "missing (a statement needs Action or NotAction)"}
	}
	for i, a := range slices.Concat(st.Action, st.NotAction) {
		if a != "*" && !validAction(a) {
			name := "Action"
			if st.NotAction != nil {
				name = "NotAction"
			}
			return &ParseError{Element: fmt.Sprintf("%s[%d]", name, i), Msg: fmt.Sprintf("%q is not of the form service:action", a)}
		}
	}

	if st.Resource, perr = stringsElement(obj, "Resource"); perr != nil {
		return perr
	}
	if st.NotResource, perr = stringsElement(obj, "NotResource"); perr != nil {
		return perr
	}
	switch {
	case st.Resource != nil && st.NotResource != nil:
		return &ParseError{Element: "NotResource", Msg: "cannot be used together with Resource"}
	case st.Resource == nil && st.NotResource == nil:
		return &ParseError{Element: "Resource", Msg: "missing (a statement needs Resource or NotResource)"}
	}
	for i, r := range slices.Concat(st.Resource, st.NotResource) {
		if r != "*" && !strings.HasPrefix(r, "arn:") {
			name := "Resource"
			if st.NotResource != nil {
				name = "NotResource"
			}
			return &ParseError{Element: fmt.Sprintf("%s[%d]", name, i), Msg: fmt.Sprintf(`%q is neither "*" nor an ARN`, r)}
		}
	}

	if raw, ok := obj["Condition"]; ok {
		conds, perr := parseConditions(raw, vars)
		if perr != nil {
			return perr
		}
		st.Condition = conds
	}
	if perr := st.compile(vars); perr != nil {
		return perr
	}
	return nil
}

func validAction(a string) bool {
	svc, name, ok := strings.Cut(a, ":")
	return ok && svc != "" && name != "" && !strings.ContainsAny(svc, "*?") && !strings.ContainsRune(name, ':')
}

func parsePrincipal(obj map[string]json.RawMessage, name string) (*Principal, *ParseError) {
	raw, ok := obj[name]
	if !ok {
		return nil, nil
	}
	if firstByte(raw) == '"' {
		var s string
		if err := json.Unmarshal(raw, &s); err != nil || s != "*" {
			return nil, &ParseError{Element: name, Msg: fmt.Sprintf(`as a string must be "*", got %s (name principals as {"AWS": "..."})`, compact(raw))}
		}
		return &Principal{Wildcard: true}, nil
	}
	m, err := decodeObject(raw)
	if perr := duplicateKey(err, name+"."); perr != nil {
		return nil, perr
	}
	if err != nil || m == nil {
		return nil, &ParseError{Element: name, Msg: `must be "*" or an object such as {"AWS": "arn:aws:iam::111122223333:root"}`}
	}
	if len(m) == 0 {
		return nil, &ParseError{Element: name, Msg: "names no principal"}
	}
	p := &Principal{}
	for _, k := range sortedKeys(m) {
		vals, perr := stringList(m[k], true)
		if perr != nil {
			perr.Element = name + "." + k
			return nil, perr
		}
		switch k {
		case "AWS":
			p.AWS = vals
		case "Service":
			p.Service = vals
		case "Federated":
			p.Federated = vals
		case "CanonicalUser":
			p.CanonicalUser = vals
		default:
			return nil, &ParseError{Element: name + "." + k, Msg: "unknown principal type (want AWS, Service, Federated or CanonicalUser)"}
		}
	}
	return p, nil
}

func stringsElement(obj map[string]json.RawMessage, name string) ([]string, *ParseError) {
	raw, ok := obj[name]
	if !ok {
		return nil, nil
	}
	vals, perr := stringList(raw, false)
	if perr != nil {
		perr.Element = name
		return nil, perr
	}
	return vals, nil
}

// stringList decodes a string or an array of strings; with scalars, JSON
// numbers and booleans are accepted as their text (account IDs, condition
// values). An empty array is an error.
func stringList(raw json.RawMessage, scalars bool) ([]string, *ParseError) {
	var items []json.RawMessage
	if firstByte(raw) == '[' {
		if err := json.Unmarshal(raw, &items); err != nil {
			return nil, &ParseError{Msg: "must be a string or an array of strings"}
		}
		if len(items) == 0 {
			return nil, &ParseError{Msg: "is an empty array"}
		}
	} else {
		items = []json.RawMessage{raw}
	}
	out := make([]string, len(items))
	for i, it := range items {
		s, ok := scalarText(it, scalars)
		if !ok {
			return nil, &ParseError{Msg: fmt.Sprintf("must be a string or an array of strings, got %s", compact(it))}
		}
		out[i] = s
	}
	return out, nil
}

func scalarText(raw json.RawMessage, scalars bool) (string, bool) {
	switch c := firstByte(raw); {
	case c == '"':
		var s string
		if json.Unmarshal(raw, &s) != nil {
			return "", false
		}
		return s, true
	case scalars && (c == '-' || c >= '0' && c <= '9'):
		var n json.Number
		if json.Unmarshal(raw, &n) != nil {
			return "", false
		}
		return n.String(), true
	case scalars && (c == 't' || c == 'f'):
		var b bool
		if json.Unmarshal(raw, &b) != nil {
			return "", false
		}
		if b {
			return "true", true
		}
		return "false", true
	}
	return "", false
}

func parseConditions(raw json.RawMessage, vars bool) ([]Condition, *ParseError) {
	ops, err := decodeObject(raw)
	if perr := duplicateKey(err, "Condition."); perr != nil {
		return nil, perr
	}
	if err != nil || ops == nil {
		return nil, &ParseError{Element: "Condition", Msg: `must be an object such as {"StringEquals": {"aws:PrincipalOrgID": "o-123"}}`}
	}
	var out []Condition
	for _, op := range sortedKeys(ops) {
		keys, err := decodeObject(ops[op])
		if perr := duplicateKey(err, "Condition."+op+"."); perr != nil {
			return nil, perr
		}
		if err != nil || keys == nil {
			return nil, &ParseError{Element: "Condition." + op, Msg: "must be an object of condition keys"}
		}
		if len(keys) == 0 {
			return nil, &ParseError{Element: "Condition." + op, Msg: "has no condition keys"}
		}
		for _, key := range sortedKeys(keys) {
			vals, perr := stringList(keys[key], true)
			if perr != nil {
				perr.Element = "Condition." + op + "." + key
				return nil, perr
			}
			c := Condition{Operator: op, Key: key, Values: vals}
			if msg := c.compile(vars); msg != "" {
				return nil, &ParseError{Element: "Condition." + op + "." + key, Msg: msg}
			}
			out = append(out, c)
		}
	}
	return out, nil
}

// duplicateKeyError reports an object that names a member twice, which
// encoding/json would resolve silently by keeping the last value.
type duplicateKeyError struct{ key string }

func (e *duplicateKeyError) Error() string { return strconv.Quote(e.key) + " appears twice" }

// duplicateKey returns the *ParseError for a duplicate member, or nil when
// err is another error.
func duplicateKey(err error, prefix string) *ParseError {
	var d *duplicateKeyError
	if !errors.As(err, &d) {
		return nil
	}
	return &ParseError{Element: prefix + d.key, Msg: "appears twice in one object; a JSON reader keeps only one of the two, silently dropping the other"}
}

// decodeObject decodes a JSON object into its members, rejecting trailing
// data and members named twice (*duplicateKeyError); a JSON value that is
// not an object gives (nil, nil).
func decodeObject(data []byte) (map[string]json.RawMessage, error) {
	if firstByte(data) != '{' {
		var v json.RawMessage
		if err := json.Unmarshal(data, &v); err != nil {
			return nil, err
		}
		return nil, nil
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	if _, err := dec.Token(); err != nil { // {
		return nil, err
	}
	m := make(map[string]json.RawMessage)
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, err
		}
		key, _ := tok.(string) // the decoder allows only strings here
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			return nil, err
		}
		if _, dup := m[key]; dup {
			return nil, &duplicateKeyError{key: key}
		}
		m[key] = v
	}
	if _, err := dec.Token(); err != nil { // }
		return nil, err
	}
	if _, err := dec.Token(); err != io.EOF {
		if err == nil {
			err = errors.New("unexpected data after the JSON value")
		}
		return nil, err
	}
	return m, nil
}

func firstByte(raw []byte) byte {
	raw = bytes.TrimLeft(raw, " \t\r\n")
	if len(raw) == 0 {
		return 0
	}
	return raw[0]
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// compact renders a JSON value for an error message, shortened.
func compact(raw json.RawMessage) string {
	var b bytes.Buffer
	if json.Compact(&b, raw) != nil {
		return "invalid JSON"
	}
	s := b.String()
	if len(s) > 60 {
		s = s[:57] + "..."
	}
	return s
}
