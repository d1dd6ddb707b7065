package policy

import (
	"net/netip"
	"strconv"
	"strings"
	"time"
)

// opKind is a condition operator's base comparison; negated operators
// (StringNotEquals, NotIpAddress, ...) use their positive kind and negate.
type opKind uint8

const (
	opStringEquals opKind = iota
	opStringEqualsIgnoreCase
	opStringLike
	opNumericEquals
	opNumericLessThan
	opNumericLessThanEquals
	opNumericGreaterThan
	opNumericGreaterThanEquals
	opDateEquals
	opDateLessThan
	opDateLessThanEquals
	opDateGreaterThan
	opDateGreaterThanEquals
	opBool
	opBinaryEquals
	opIPAddress
	opArnLike
	opNull
)

type opInfo struct {
	kind    opKind
	negated bool
}

// operator returns the comparison for a lower-cased base operator name.
func operator(lower string) (opInfo, bool) {
	switch lower {
	case "stringequals":
		return opInfo{opStringEquals, false}, true
	case "stringnotequals":
		return opInfo{opStringEquals, true}, true
	case "stringequalsignorecase":
		return opInfo{opStringEqualsIgnoreCase, false}, true
	case "stringnotequalsignorecase":
		return opInfo{opStringEqualsIgnoreCase, true}, true
	case "stringlike":
		return opInfo{opStringLike, false}, true
	case "stringnotlike":
		return opInfo{opStringLike, true}, true
	case "numericequals":
		return opInfo{opNumericEquals, false}, true
	case "numericnotequals":
		return opInfo{opNumericEquals, true}, true
	case "numericlessthan":
		return opInfo{opNumericLessThan, false}, true
	case "numericlessthanequals":
		return opInfo{opNumericLessThanEquals, false}, true
	case "numericgreaterthan":
		return opInfo{opNumericGreaterThan, false}, true
	case "numericgreaterthanequals":
		return opInfo{opNumericGreaterThanEquals, false}, true
	case "dateequals":
		return opInfo{opDateEquals, false}, true
	case "datenotequals":
		return opInfo{opDateEquals, true}, true
	case "datelessthan":
		return opInfo{opDateLessThan, false}, true
	case "datelessthanequals":
		return opInfo{opDateLessThanEquals, false}, true
	case "dategreaterthan":
		return opInfo{opDateGreaterThan, false}, true
	case "dategreaterthanequals":
		return opInfo{opDateGreaterThanEquals, false}, true
	case "bool":
		return opInfo{opBool, false}, true
	case "binaryequals":
		return opInfo{opBinaryEquals, false}, true
	case "ipaddress":
		return opInfo{opIPAddress, false}, true
	case "notipaddress":
		return opInfo{opIPAddress, true}, true
	case "arnequals":
		return opInfo{opArnLike, false}, true
	case "arnlike":
		return opInfo{opArnLike, false}, true
	case "arnnotequals":
		return opInfo{opArnLike, true}, true
	case "arnnotlike":
		return opInfo{opArnLike, true}, true
	case "null":
		return opInfo{opNull, false}, true
	}
	return opInfo{}, false
}

// setKind is a condition's set operator prefix.
type setKind uint8

const (
	setNone   setKind = iota
	setForAny         // ForAnyValue:
	setForAll         // ForAllValues:
)

// cond is a compiled Condition.
type cond struct {
	kind     opKind
	negated  bool
	ifExists bool
	set      setKind
	texts    []text // String*, Arn*, Binary
	nums     []float64
	dates    []time.Time
	nets     []netip.Prefix
	bools    []bool // Bool and Null
}

// compile checks the operator and values and compiles them; it returns a
// message for people when they are not valid.
func (c *Condition) compile(vars bool) string {
	name := c.Operator
	lower := strings.ToLower(name)
	var cc cond
	switch {
	case strings.HasPrefix(lower, "foranyvalue:"):
		cc.set, lower = setForAny, lower[len("foranyvalue:"):]
	case strings.HasPrefix(lower, "forallvalues:"):
		cc.set, lower = setForAll, lower[len("forallvalues:"):]
	}
	if base, ok := strings.CutSuffix(lower, "ifexists"); ok {
		cc.ifExists, lower = true, base
	}
	info, ok := operator(lower)
	if !ok {
		return "unknown condition operator " + strconvQuote(name)
	}
	cc.kind, cc.negated = info.kind, info.negated
	if cc.kind == opNull && (cc.ifExists || cc.set != setNone) {
		return "Null takes no IfExists suffix or set prefix"
	}
	if c.Key == "" {
		return "empty condition key"
	}
	for _, v := range c.Values {
		switch cc.kind {
		case opStringEquals, opStringEqualsIgnoreCase, opStringLike, opArnLike:
			t, err := compileText(v, vars)
			if err != nil {
				return strconvQuote(v) + ": " + err.Error()
			}
			cc.texts = append(cc.texts, t)
		case opBinaryEquals:
			cc.texts = append(cc.texts, text{raw: v, g: glob{kind: globLiteral, lit: v, plain: v}})
		case opNumericEquals, opNumericLessThan, opNumericLessThanEquals, opNumericGreaterThan, opNumericGreaterThanEquals:
			f, ok := parseNumber(v)
			if !ok {
				return strconvQuote(v) + " is not a number (want a decimal such as 10 or -2.5)"
			}
			cc.nums = append(cc.nums, f)
		case opDateEquals, opDateLessThan, opDateLessThanEquals, opDateGreaterThan, opDateGreaterThanEquals:
			t, ok := parseDate(v)
			if !ok {
				return strconvQuote(v) + " is not a date (want ISO 8601, e.g. 2026-01-02T15:04:05Z, or seconds since the epoch)"
			}
			cc.dates = append(cc.dates, t)
		case opIPAddress:
			p, ok := parseCIDR(v)
			if !ok {
				return strconvQuote(v) + " is not an IP address or CIDR block"
			}
			cc.nets = append(cc.nets, p)
		case opBool, opNull:
			switch strings.ToLower(v) {
			case "true":
				cc.bools = append(cc.bools, true)
			case "false":
				cc.bools = append(cc.bools, false)
			default:
				return strconvQuote(v) + ` is not "true" or "false"`
			}
		}
	}
	c.c = cc
	return ""
}

func strconvQuote(s string) string { return strconv.Quote(s) }

// parseNumber reads a decimal number: an optional sign, digits, an optional
// fraction and exponent. Unlike strconv.ParseFloat it refuses NaN, Inf,
// hexadecimal and underscores, none of which IAM treats as numbers.
func parseNumber(s string) (float64, bool) {
	i := 0
	if i < len(s) && (s[i] == '-' || s[i] == '+') {
		i++
	}
	digits := func() int {
		start := i
		for i < len(s) && s[i] >= '0' && s[i] <= '9' {
			i++
		}
		return i - start
	}
	n := digits()
	if i < len(s) && s[i] == '.' {
		i++
		n += digits()
	}
	if n == 0 {
		return 0, false
	}
	if i < len(s) && (s[i] == 'e' || s[i] == 'E') {
		i++
		if i < len(s) && (s[i] == '-' || s[i] == '+') {
			i++
		}
		if digits() == 0 {
			return 0, false
		}
	}
	if i != len(s) {
		return 0, false
	}
	f, err := strconv.ParseFloat(s, 64)
	return f, err == nil
}

// parseDate reads the date forms IAM accepts: the W3C profile of ISO 8601
// (a date, or a date and time with optional seconds, fraction and zone) or
// whole seconds since the Unix epoch. "1e3" or "1.5" is neither.
func parseDate(s string) (time.Time, bool) {
	if s == "" {
		return time.Time{}, false
	}
	if epoch, ok := allDigits(s); ok {
		return time.Unix(epoch, 0).UTC(), true
	}
	for _, layout := range [...]string{time.RFC3339Nano, "2006-01-02T15:04:05Z0700", "2006-01-02T15:04Z07:00", "2006-01-02T15:04:05", "2006-01-02"} {
		if t, err := time.Parse(layout, s); err == nil {
			return t, true
		}
	}
	return time.Time{}, false
}

// allDigits parses s as a non-negative integer of decimal digits only.
func allDigits(s string) (int64, bool) {
	if len(s) == 0 || len(s) > 18 {
		return 0, false
	}
	var n int64
	for i := range len(s) {
		if s[i] < '0' || s[i] > '9' {
			return 0, false
		}
		n = n*10 + int64(s[i]-'0')
	}
	return n, true
}

func parseCIDR(s string) (netip.Prefix, bool) {
	if strings.Contains(s, "/") {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return netip.Prefix{}, false
		}
		return p.Masked(), true
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Prefix{}, false
	}
	return netip.PrefixFrom(a, a.BitLen()), true
}

// condResult is the outcome of one condition for one request.
type condResult struct {
	ok      bool
	absent  bool   // the key was not in the request
	missing string // a policy variable the request could not fill
}

// eval evaluates the condition. Rules, as IAM documents them:
//   - several values for one key are ORed; a negated operator is true when
//     no value matches (NOR);
//   - an absent key makes a condition false, except for negated operators
//     and ...IfExists (true), ForAllValues (true: the empty set) and Null;
//     a set operator decides before IfExists, so ForAnyValue with an absent
//     key is false even with IfExists;
//   - ForAnyValue: some request value matches; ForAllValues: every one does.
func (c *Condition) eval(e *env) condResult {
	vals, n := e.lookup(c.Key)
	cc := &c.c
	if cc.kind == opNull {
		present := n > 0
		for _, want := range cc.bools {
			if want != present { // "true" means the key is absent
				return condResult{ok: true, absent: !present}
			}
		}
		return condResult{absent: !present}
	}
	if n == 0 {
		// The set operator decides before IfExists: ForAnyValue over an
		// empty set is false and ForAllValues true, IfExists or not.
		switch {
		case cc.set == setForAll:
			return condResult{ok: true, absent: true}
		case cc.set == setForAny:
			return condResult{absent: true}
		case cc.ifExists:
			return condResult{ok: true, absent: true}
		}
		return condResult{ok: cc.negated, absent: true}
	}
	// A policy value whose variable the request cannot fill is unknown,
	// not a match: a value that matches still decides, whatever the order
	// of the values; when the outcome hangs on an unknown value, the
	// condition fails, negated or not, and missing names the variable (see
	// "Policy variables" in doc.go).
	var missing string
	switch cc.set {
	case setForAll:
		for i := range n {
			hit, m := c.anyMatch(e, vals.at(i))
			if m != "" || hit == cc.negated {
				return condResult{missing: m}
			}
		}
		return condResult{ok: true}
	case setForAny:
		for i := range n {
			hit, m := c.anyMatch(e, vals.at(i))
			if m == "" && hit != cc.negated {
				return condResult{ok: true}
			}
			if missing == "" {
				missing = m
			}
		}
		return condResult{missing: missing}
	}
	// Without a set operator, a key with several values behaves as
	// ForAnyValue for positive operators and as "none matches" for negated.
	for i := range n {
		hit, m := c.anyMatch(e, vals.at(i))
		if hit {
			return condResult{ok: !cc.negated}
		}
		if missing == "" {
			missing = m
		}
	}
	if missing != "" {
		return condResult{missing: missing}
	}
	return condResult{ok: cc.negated}
}

// anyMatch reports whether the request value v matches any policy value
// under the positive form of the operator. A policy value with a variable
// the request cannot fill matches nothing; missing names the first such
// variable when no value matched.
func (c *Condition) anyMatch(e *env, v string) (hit bool, missing string) {
	cc := &c.c
	switch cc.kind {
	case opStringEquals, opStringEqualsIgnoreCase, opStringLike, opArnLike, opBinaryEquals:
		for i := range cc.texts {
			t := &cc.texts[i]
			var m string
			switch cc.kind {
			case opStringEquals, opBinaryEquals:
				hit, m = t.matchEqual(e, v, false)
			case opStringEqualsIgnoreCase:
				hit, m = t.matchEqual(e, v, true)
			case opStringLike:
				hit, m = t.matchGlob(e, v, false)
			case opArnLike:
				hit, m = t.matchARN(e, v)
			}
			if hit {
				return true, ""
			}
			if missing == "" {
				missing = m
			}
		}
		return false, missing
	case opNumericEquals, opNumericLessThan, opNumericLessThanEquals, opNumericGreaterThan, opNumericGreaterThanEquals:
		x, ok := parseNumber(v)
		if !ok {
			return false, ""
		}
		for _, p := range cc.nums {
			if compareOrdered(cc.kind-opNumericEquals, x, p) {
				return true, ""
			}
		}
		return false, ""
	case opDateEquals, opDateLessThan, opDateLessThanEquals, opDateGreaterThan, opDateGreaterThanEquals:
		t, ok := parseDate(v)
		if !ok {
			return false, ""
		}
		for _, p := range cc.dates {
			if compareOrdered(cc.kind-opDateEquals, t.UnixNano(), p.UnixNano()) {
				return true, ""
			}
		}
		return false, ""
	case opBool:
		for _, b := range cc.bools {
			if strings.EqualFold(v, strconv.FormatBool(b)) {
				return true, ""
			}
		}
		return false, ""
	case opIPAddress:
		a, err := netip.ParseAddr(v)
		if err != nil {
			if p, perr := netip.ParsePrefix(v); perr == nil {
				a = p.Addr()
			} else {
				return false, ""
			}
		}
		a = a.Unmap()
		for _, p := range cc.nets {
			if p.Contains(a) {
				return true, ""
			}
		}
		return false, ""
	}
	return false, ""
}

// compareOrdered applies the comparison at offset rel from the Equals
// operator of its family: 0 equals, 1 less, 2 less-or-equal, 3 greater,
// 4 greater-or-equal.
func compareOrdered[T int64 | float64](rel opKind, x, p T) bool {
	switch rel {
	case 0:
		return x == p
	case 1:
		return x < p
	case 2:
		return x <= p
	case 3:
		return x > p
	case 4:
		return x >= p
	}
	return false
}

// negatedOp reports whether the operator is a negated one (the key's
// absence makes it true).
func (c *Condition) negatedOp() bool { return c.c.negated }

// ifExistsOp reports whether the operator has the IfExists suffix.
func (c *Condition) ifExistsOp() bool { return c.c.ifExists }

// setOp reports whether the operator has a ForAnyValue/ForAllValues prefix.
func (c *Condition) setOp() setKind { return c.c.set }

// isNull reports whether the operator is Null.
func (c *Condition) isNull() bool { return c.c.kind == opNull }
