package policy

import (
	"errors"
	"math/bits"
	"strings"
	"unicode"
	"unicode/utf8"
)

// tok is one element of a compiled policy string: a literal rune (>= 0) or
// a wildcard (< 0). Keeping literals and wildcards apart lets a policy
// variable's value, or ${*}, stand for a literal '*'.
type tok int32

const (
	tokStar tok = -1 // '*': any run of characters
	tokAny  tok = -2 // '?': any one character
)

// globKind picks a matching strategy that avoids the general matcher for
// the shapes policies mostly use.
type globKind uint8

const (
	globLiteral globKind = iota // no wildcard: plain comparison
	globAll                     // "*"
	globPrefix                  // literal text then one trailing '*'
	globGeneral                 // anything else: automaton
)

// glob is a compiled wildcard pattern without policy variables.
type glob struct {
	kind  globKind
	lit   string // globLiteral: the text; globPrefix, globGeneral: the literal prefix
	plain string // the whole pattern as text, wildcards as their characters
	toks  []tok  // the whole pattern
}

func newGlob(toks []tok) glob {
	wild := 0
	for _, t := range toks {
		if t < 0 {
			wild++
		}
	}
	plain := toksString(toks)
	switch {
	case wild == 0:
		return glob{kind: globLiteral, lit: plain, plain: plain, toks: toks}
	case len(toks) == 1 && toks[0] == tokStar:
		return glob{kind: globAll, plain: plain, toks: toks}
	case wild == 1 && toks[len(toks)-1] == tokStar:
		return glob{kind: globPrefix, lit: plain[:len(plain)-1], plain: plain, toks: toks}
	}
	lead := 0
	for lead < len(toks) && toks[lead] >= 0 {
		lead++
	}
	return glob{kind: globGeneral, lit: toksString(toks[:lead]), plain: plain, toks: toks}
}

// match reports whether s matches g; see globMatch for arn and fold.
func (g *glob) match(s string, arn, fold bool) bool {
	switch g.kind {
	case globAll:
		return true
	case globLiteral:
		if fold {
			return strings.EqualFold(g.lit, s)
		}
		return g.lit == s
	case globPrefix:
		// A trailing '*' ends its ARN segment, so it may cross ':'.
		if len(s) < len(g.lit) {
			return false
		}
		if fold {
			return strings.EqualFold(g.lit, s[:len(g.lit)])
		}
		return s[:len(g.lit)] == g.lit
	}
	// A mismatch in the literal text before the first wildcard is the
	// common way a pattern fails; find it without the automaton.
	if len(s) < len(g.lit) || (fold && !strings.EqualFold(g.lit, s[:len(g.lit)])) || (!fold && s[:len(g.lit)] != g.lit) {
		return false
	}
	return globMatch(g.toks, s, arn, fold)
}

// toksString renders tokens as text, wildcards as their characters.
func toksString(toks []tok) string {
	var b strings.Builder
	for _, t := range toks {
		switch t {
		case tokStar:
			b.WriteByte('*')
		case tokAny:
			b.WriteByte('?')
		default:
			b.WriteRune(rune(t))
		}
	}
	return b.String()
}

// maxStackStates is how many automaton states globMatch keeps on the stack;
// longer patterns allocate.
const maxStackStates = 256

// globMatch reports whether s matches the pattern p, where '*' matches any
// run of characters and '?' any one character. It simulates the pattern's
// automaton with bit sets, so it runs in O(len(p)·len(s)/64) at worst
// whatever the pattern, usually in O(len(s)), and allocates nothing for
// patterns of fewer than maxStackStates tokens.
//
// With arn set it applies IAM's rule for the Resource element: wildcards
// stay inside one colon-separated ARN segment, except a '*' that is the last
// character of a segment (followed by ':' or the end), which may cross.
// With fold set, letters compare case-insensitively (action names).
func globMatch(p []tok, s string, arn, fold bool) bool {
	if !arn || freeStars(p) {
		if m, ok := greedyMatch(p, s, arn, fold, 4*(len(p)+len(s))+64); ok {
			return m
		}
	}
	return automatonMatch(p, s, arn, fold)
}

// freeStars reports whether every '*' ends an ARN segment, so that the
// colon rule restricts only '?'.
func freeStars(p []tok) bool {
	for i, t := range p {
		if t == tokStar && i+1 < len(p) && p[i+1] != ':' && p[i+1] != tokStar {
			return false
		}
	}
	return true
}

// greedyMatch is the classic wildcard matcher: match literally, and on a
// mismatch let the last '*' swallow one more character. It is right only
// when every '*' may match any run, and usually linear; it gives up (ok
// false) after budget steps, leaving the worst cases to automatonMatch.
func greedyMatch(p []tok, s string, arn, fold bool, budget int) (matched, ok bool) {
	pi, si := 0, 0
	starP, starS := -1, 0
	for si < len(s) {
		if budget--; budget < 0 {
			return false, false
		}
		c, size := utf8.DecodeRuneInString(s[si:])
		if pi < len(p) {
			switch t := p[pi]; {
			case t == tokStar:
				starP, starS = pi, si
				pi++
				continue
			case t == tokAny && !(arn && c == ':'),
				t >= 0 && (rune(t) == c || fold && foldEq(rune(t), c)):
				pi++
				si += size
				continue
			}
		}
		if starP < 0 {
			return false, true
		}
		_, size = utf8.DecodeRuneInString(s[starS:])
		starS += size
		pi, si = starP+1, starS
	}
	for pi < len(p) && p[pi] == tokStar {
		pi++
	}
	return pi == len(p), true
}

// automatonMatch is globMatch by simulating the pattern's automaton.
func automatonMatch(p []tok, s string, arn, fold bool) bool {
	n := len(p)
	words := (n + 1 + 63) / 64
	var curBuf, nextBuf [maxStackStates / 64]uint64
	var cur, next []uint64
	if words <= len(curBuf) {
		cur, next = curBuf[:words], nextBuf[:words]
	} else {
		cur, next = make([]uint64, words), make([]uint64, words)
	}
	addState(p, cur, 0)
	for _, c := range s {
		clear(next)
		alive := false
		for w, word := range cur {
			for word != 0 {
				i := w*64 + bits.TrailingZeros64(word)
				word &= word - 1
				if i == n {
					continue
				}
				var to int
				switch t := p[i]; t {
				case tokStar:
					if c == ':' && arn && i+1 < n && p[i+1] != ':' {
						continue
					}
					to = i
				case tokAny:
					if c == ':' && arn {
						continue
					}
					to = i + 1
				default:
					if rune(t) != c && (!fold || !foldEq(rune(t), c)) {
						continue
					}
					to = i + 1
				}
				addState(p, next, to)
				alive = true
			}
		}
		if !alive {
			return false
		}
		cur, next = next, cur
	}
	return cur[n/64]&(1<<(n%64)) != 0
}

// addState adds state i and, since '*' may match nothing, every state
// reachable from it across a run of stars.
func addState(p []tok, set []uint64, i int) {
	for {
		set[i/64] |= 1 << (i % 64)
		if i == len(p) || p[i] != tokStar {
			return
		}
		i++
	}
}

func foldEq(a, b rune) bool {
	return unicode.SimpleFold(a) == b || unicode.ToLower(a) == unicode.ToLower(b)
}

// equalToks reports whether s spells exactly the tokens p, wildcards
// standing for themselves (StringEquals has no wildcards).
func equalToks(p []tok, s string, fold bool) bool {
	i := 0
	for _, c := range s {
		if i >= len(p) {
			return false
		}
		t := p[i]
		switch t {
		case tokStar:
			t = '*'
		case tokAny:
			t = '?'
		}
		if rune(t) != c && (!fold || !foldEq(rune(t), c)) {
			return false
		}
		i++
	}
	return i == len(p)
}

// errUnterminatedVar reports "${" without its "}".
var errUnterminatedVar = errors.New("unterminated policy variable")

// text is a compiled policy string value from Resource, NotResource or a
// String/Arn condition: a glob when it has no policy variables, else parts
// to expand against the request.
type text struct {
	raw   string
	g     glob
	parts []textPart // non-nil when the value uses variables
}

// textPart is a run of tokens, or (key != "") a policy variable.
type textPart struct {
	toks   []tok
	key    string
	def    string
	hasDef bool
}

// compileText compiles a policy string. With vars (policy Version
// 2012-10-17) it resolves ${...} policy variables: ${*}, ${?} and ${$} are
// the literal characters, ${key} and ${key, 'default'} are looked up at
// evaluation. Without vars "${" is plain text, as AWS treats it in
// 2008-10-17 policies.
func compileText(raw string, vars bool) (text, error) {
	t := text{raw: raw}
	cur := make([]tok, 0, len(raw))
	hasVar := false
	for i := 0; i < len(raw); {
		if vars && strings.HasPrefix(raw[i:], "${") {
			end := strings.IndexByte(raw[i+2:], '}')
			if end < 0 {
				return text{}, errUnterminatedVar
			}
			body := strings.TrimSpace(raw[i+2 : i+2+end])
			i += 2 + end + 1
			switch body {
			case "*", "?", "$":
				cur = append(cur, tok(body[0]))
				continue
			case "":
				return text{}, errors.New("empty policy variable ${}")
			}
			key, def, hasDef, err := splitDefault(body)
			if err != nil {
				return text{}, err
			}
			if len(cur) > 0 {
				t.parts = append(t.parts, textPart{toks: cur})
				cur = make([]tok, 0, len(raw)-i)
			}
			t.parts = append(t.parts, textPart{key: key, def: def, hasDef: hasDef})
			hasVar = true
			continue
		}
		r, size := utf8.DecodeRuneInString(raw[i:])
		i += size
		switch r {
		case '*':
			cur = append(cur, tokStar)
		case '?':
			cur = append(cur, tokAny)
		default:
			cur = append(cur, tok(r))
		}
	}
	if !hasVar {
		t.parts = nil
		t.g = newGlob(cur)
		return t, nil
	}
	if len(cur) > 0 {
		t.parts = append(t.parts, textPart{toks: cur})
	}
	return t, nil
}

// splitDefault splits "key, 'default'"; two single quotes stand for one
// inside the default.
func splitDefault(body string) (key, def string, hasDef bool, err error) {
	k, rest, found := strings.Cut(body, ",")
	key = strings.TrimSpace(k)
	if key == "" {
		return "", "", false, errors.New("policy variable without a key")
	}
	if !found {
		return key, "", false, nil
	}
	rest = strings.TrimSpace(rest)
	if len(rest) < 2 || rest[0] != '\'' || rest[len(rest)-1] != '\'' {
		return "", "", false, errors.New("policy variable default must be in single quotes: ${key, 'default'}")
	}
	return key, strings.ReplaceAll(rest[1:len(rest)-1], "''", "'"), true, nil
}

// maxStackToks is how many tokens an expanded value keeps on the stack.
const maxStackToks = 128

// expand appends t's tokens to buf with variables replaced by the request's
// values, which are literal text. ok is false when a variable has no single
// value and no default: AWS then treats the statement as not matching.
func (t *text) expand(e *env, buf []tok) (toks []tok, missing string, ok bool) {
	for _, p := range t.parts {
		if p.key == "" {
			buf = append(buf, p.toks...)
			continue
		}
		v, n := e.lookup(p.key)
		var s string
		switch {
		case n == 1:
			s = v.at(0)
		case p.hasDef:
			s = p.def
		default:
			return nil, p.key, false
		}
		for _, r := range s {
			buf = append(buf, tok(r))
		}
	}
	return buf, "", true
}

// matchGlob matches s against t as a wildcard pattern.
func (t *text) matchGlob(e *env, s string, arn bool) (matched bool, missing string) {
	if t.parts == nil {
		return t.g.match(s, arn, false), ""
	}
	var buf [maxStackToks]tok
	toks, missing, ok := t.expand(e, buf[:0])
	if !ok {
		return false, missing
	}
	return globMatch(toks, s, arn, false), ""
}

// matchEqual compares s with t as literal text.
func (t *text) matchEqual(e *env, s string, fold bool) (matched bool, missing string) {
	if t.parts == nil {
		if fold {
			return strings.EqualFold(t.g.plain, s), ""
		}
		return t.g.plain == s, ""
	}
	var buf [maxStackToks]tok
	toks, missing, ok := t.expand(e, buf[:0])
	if !ok {
		return false, missing
	}
	return equalToks(toks, s, fold), ""
}

// matchARN matches s against t component by component, as ArnLike and
// ArnEquals do: the six colon-separated parts of an ARN (the last one keeps
// any further colons) are each matched with wildcards.
func (t *text) matchARN(e *env, s string) (matched bool, missing string) {
	toks := t.g.toks
	if t.parts != nil {
		var buf [maxStackToks]tok
		var ok bool
		if toks, missing, ok = t.expand(e, buf[:0]); !ok {
			return false, missing
		}
		return arnMatch(toks, s), ""
	}
	switch t.g.kind {
	case globAll:
		return true, ""
	case globLiteral:
		// Without wildcards, equal components mean equal strings.
		return t.g.lit == s && strings.Count(s, ":") >= 5, ""
	}
	return arnMatch(toks, s), ""
}

func arnMatch(p []tok, s string) bool {
	for part := range 6 {
		var pc []tok
		var sc string
		if part < 5 {
			i := indexTok(p, ':')
			j := strings.IndexByte(s, ':')
			if i < 0 || j < 0 {
				return false
			}
			pc, p = p[:i], p[i+1:]
			sc, s = s[:j], s[j+1:]
		} else {
			pc, sc = p, s
		}
		if !globMatch(pc, sc, false, false) {
			return false
		}
	}
	return true
}

func indexTok(p []tok, r rune) int {
	for i, t := range p {
		if t == tok(r) {
			return i
		}
	}
	return -1
}
