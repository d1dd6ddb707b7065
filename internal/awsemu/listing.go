package awsemu

import (
	"cmp"
	"encoding/base64"
	"slices"
	"strconv"
	"strings"
	"unicode"
)

type filter struct {
	Key    string
	Values []string
}

type listSecretsInput struct {
	Filters                []filter
	IncludePlannedDeletion bool
	MaxResults             *int
	NextToken              string
	SortBy                 string
	SortOrder              string
}

type listEntry struct {
	secretMeta
	SecretVersionsToStages map[string][]string `json:"SecretVersionsToStages,omitempty"`
}

type listSecretsOutput struct {
	SecretList []listEntry `json:"SecretList"`
	NextToken  string      `json:"NextToken,omitempty"`
}

// listSecrets lists secrets oldest first (SortOrder "desc" reverses;
// SortBy "name", "last-changed-date", "last-accessed-date" or
// "created-date" picks the key), 100 a page by default.
func (m *secretsManager) listSecrets(body []byte) (any, error) {
	var in listSecretsInput
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	secs, aerr := m.matching(in.Filters, in.IncludePlannedDeletion)
	if aerr != nil {
		return nil, aerr
	}
	if aerr := sortSecrets(secs, in.SortBy, in.SortOrder); aerr != nil {
		return nil, aerr
	}
	page, next, aerr := paginate(secs, in.MaxResults, in.NextToken, 100)
	if aerr != nil {
		return nil, aerr
	}
	out := listSecretsOutput{SecretList: make([]listEntry, 0, len(page)), NextToken: next}
	for _, sec := range page {
		out.SecretList = append(out.SecretList, listEntry{secretMeta: sec.meta(), SecretVersionsToStages: sec.stageMap()})
	}
	return out, nil
}

// listPage returns one page of the secrets matching filters, oldest first.
// m.mu must be held.
func (m *secretsManager) listPage(filters []filter, withDeleted bool, maxResults *int, token string, limit int) ([]*secret, string, *apiError) {
	secs, aerr := m.matching(filters, withDeleted)
	if aerr != nil {
		return nil, "", aerr
	}
	sortSecrets(secs, "", "") //nolint:errcheck // the default sort cannot fail
	return paginate(secs, maxResults, token, limit)
}

// matching returns the secrets every filter accepts. m.mu must be held.
func (m *secretsManager) matching(filters []filter, withDeleted bool) ([]*secret, *apiError) {
	if len(filters) > 10 {
		return nil, errValidation("filters", "Member must have length less than or equal to 10")
	}
	for _, f := range filters {
		switch f.Key {
		case "name", "description", "tag-key", "tag-value", "primary-region", "owning-service", "all":
		default:
			return nil, errValidation("filters.key", "Member must satisfy enum value set: [all, name, tag-key, description, tag-value, primary-region, owning-service]")
		}
		if len(f.Values) == 0 || len(f.Values) > 10 {
			return nil, errValidation("filters.values", "Member must have length between 1 and 10")
		}
	}
	var out []*secret
	for _, sec := range m.byName {
		if m.purgeIfExpired(sec) || !withDeleted && !sec.deletedDate.IsZero() {
			continue
		}
		if !slices.ContainsFunc(filters, func(f filter) bool { return !f.accepts(sec) }) {
			out = append(out, sec)
		}
	}
	return out, nil
}

// accepts applies one filter: any plain value may match, and no "!" value
// may. name, tag-key, tag-value, primary-region and owning-service match a
// prefix, case-sensitively; description a prefix, ignoring case; all
// matches each word of the value as a word prefix of any attribute,
// ignoring case.
func (f filter) accepts(sec *secret) bool {
	var positive, matched bool
	for _, val := range f.Values {
		neg := strings.HasPrefix(val, "!")
		hit := f.match(sec, strings.TrimPrefix(val, "!"))
		if neg && hit {
			return false
		}
		if !neg {
			positive = true
			matched = matched || hit
		}
	}
	return !positive || matched
}

func (f filter) match(sec *secret, val string) bool {
	anyPrefix := func(attrs []string) bool {
		return slices.ContainsFunc(attrs, func(a string) bool { return strings.HasPrefix(a, val) })
	}
	switch f.Key {
	case "name":
		return strings.HasPrefix(sec.name, val)
	case "description":
		return sec.description != "" && strings.HasPrefix(strings.ToLower(sec.description), strings.ToLower(val))
	case "primary-region":
		return sec.repl.primaryRegion != "" && strings.HasPrefix(sec.repl.primaryRegion, val)
	case "tag-key":
		return anyPrefix(tagFields(sec.tags, true))
	case "tag-value":
		return anyPrefix(tagFields(sec.tags, false))
	case "all":
		attrs := append([]string{sec.name, sec.description}, tagFields(sec.tags, true)...)
		attrs = append(attrs, tagFields(sec.tags, false)...)
		var words []string
		for _, a := range attrs {
			words = append(words, splitWords(a)...)
		}
		want := splitWords(val)
		return len(want) > 0 && !slices.ContainsFunc(want, func(w string) bool {
			return !slices.ContainsFunc(words, func(have string) bool { return strings.HasPrefix(have, w) })
		})
	}
	return false // owning-service: no emulated secret has one
}

func tagFields(tags []tag, keys bool) []string {
	out := make([]string, len(tags))
	for i, t := range tags {
		out[i] = t.Value
		if keys {
			out[i] = t.Key
		}
	}
	return out
}

func splitWords(s string) []string {
	return strings.FieldsFunc(strings.ToLower(s), func(r rune) bool {
		return !unicode.IsLetter(r) && !unicode.IsDigit(r)
	})
}

func sortSecrets(secs []*secret, by, order string) *apiError {
	var key func(a, b *secret) int
	switch by {
	case "", "created-date":
		key = func(a, b *secret) int { return cmp.Compare(a.seq, b.seq) }
	case "name":
		key = func(a, b *secret) int { return strings.Compare(a.name, b.name) }
	case "last-changed-date":
		key = func(a, b *secret) int { return cmp.Or(a.lastChanged.Compare(b.lastChanged), cmp.Compare(a.seq, b.seq)) }
	case "last-accessed-date":
		key = func(a, b *secret) int {
			return cmp.Or(a.lastAccessed.Compare(b.lastAccessed), cmp.Compare(a.seq, b.seq))
		}
	default:
		return errValidation("sortBy", "Member must satisfy enum value set: [created-date, last-accessed-date, last-changed-date, name]")
	}
	switch order {
	case "", "asc":
		slices.SortFunc(secs, key)
	case "desc":
		slices.SortFunc(secs, func(a, b *secret) int { return key(b, a) })
	default:
		return errValidation("sortOrder", "Member must satisfy enum value set: [asc, desc]")
	}
	return nil
}

// paginate cuts one page from items. NextToken is an opaque offset.
func paginate[T any](items []T, maxResults *int, token string, limit int) ([]T, string, *apiError) {
	n := limit
	if maxResults != nil {
		if *maxResults < 1 || *maxResults > limit {
			return nil, "", errValidation("maxResults", "Member must have value between 1 and "+strconv.Itoa(limit))
		}
		n = *maxResults
	}
	start := 0
	if token != "" {
		raw, err := base64.RawURLEncoding.DecodeString(token)
		off, perr := strconv.Atoi(strings.TrimPrefix(string(raw), "awsemu:"))
		if err != nil || perr != nil || !strings.HasPrefix(string(raw), "awsemu:") || off < 0 || off > len(items) {
			return nil, "", errorf("InvalidNextTokenException", "The NextToken value is invalid.")
		}
		start = off
	}
	end := min(start+n, len(items))
	next := ""
	if end < len(items) {
		next = base64.RawURLEncoding.EncodeToString([]byte("awsemu:" + strconv.Itoa(end)))
	}
	return items[start:end], next, nil
}
