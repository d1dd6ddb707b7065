package mysql

import (
	"context"
	"fmt"
	"strings"
)

// showGrants returns the lines of SHOW GRANTS FOR user@host.
func (s *session) showGrants(ctx context.Context, user, host string) ([]string, error) {
	rows, err := s.conn.QueryContext(ctx, "SHOW GRANTS FOR "+account(user, host))
	if err != nil {
		return nil, fmt.Errorf("mysql: SHOW GRANTS FOR %s: %w", account(user, host), err)
	}
	defer rows.Close()
	var lines []string
	for rows.Next() {
		var l string
		if err := rows.Scan(&l); err != nil {
			return nil, fmt.Errorf("mysql: SHOW GRANTS FOR %s: %w", account(user, host), err)
		}
		lines = append(lines, l)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("mysql: SHOW GRANTS FOR %s: %w", account(user, host), err)
	}
	return lines, nil
}

// renderings are the ways SHOW GRANTS may print an account: MariaDB 10.4+
// and MySQL 8 quote it in backticks, or in double quotes when the
// session's sql_mode has ANSI_QUOTES; MySQL 5.7 and MariaDB's PROXY lines
// in single quotes (offered only for names that need no escaping, whose
// rendering is then certain).
func renderings(user, host string) []string {
	dq := func(s string) string { return `"` + strings.ReplaceAll(s, `"`, `""`) + `"` }
	r := []string{account(user, host), dq(user) + "@" + dq(host)}
	if !strings.ContainsAny(user+host, `'\`) {
		r = append(r, "'"+user+"'@'"+host+"'")
	}
	return r
}

// rewriteGrant turns one line of SHOW GRANTS FOR from into the statement
// that gives the same to to: the grantee (after " TO " in a GRANT, after
// " FOR " in MariaDB's SET DEFAULT ROLE) is replaced, and an IDENTIFIED
// clause (MariaDB prints the account's password hash or plugin there) is
// dropped, so the original's password is never copied; REQUIRE and WITH
// clauses (GRANT OPTION, ADMIN OPTION, resource limits) are kept. Errors
// never quote the line, which may hold a password hash.
func rewriteGrant(line, fromUser, fromHost, to string) (string, error) {
	var kw string
	switch {
	case strings.HasPrefix(line, "GRANT "):
		kw = " TO "
	case strings.HasPrefix(line, "SET DEFAULT ROLE "):
		kw = " FOR "
	default:
		return "", fmt.Errorf("neither a GRANT nor a SET DEFAULT ROLE statement")
	}
	for _, r := range renderings(fromUser, fromHost) {
		pat := kw + r
		for off := 0; ; {
			i := strings.Index(line[off:], pat)
			if i < 0 {
				break
			}
			i += off
			end := i + len(pat)
			if end == len(line) || line[end] == ' ' {
				return line[:i] + kw + to + dropIdentified(line[end:]), nil
			}
			off = i + 1
		}
	}
	return "", fmt.Errorf("the grantee is not printed as expected")
}

// dropIdentified removes a leading " IDENTIFIED ..." clause from rest, up
// to a REQUIRE or WITH clause or the end, skipping quoted strings.
func dropIdentified(rest string) string {
	if !strings.HasPrefix(rest, " IDENTIFIED ") {
		return rest
	}
	for i := len(" IDENTIFIED "); i < len(rest); i++ {
		switch c := rest[i]; {
		case c == '\'' || c == '"' || c == '`':
			i = skipQuoted(rest, i)
		case c == ' ' && (strings.HasPrefix(rest[i:], " REQUIRE ") || strings.HasPrefix(rest[i:], " WITH ")):
			return rest[i:]
		}
	}
	return ""
}

// skipQuoted returns the index of the quote closing the string opened at
// s[i], honouring doubled quotes and backslash escapes.
func skipQuoted(s string, i int) int {
	q := s[i]
	for j := i + 1; j < len(s); j++ {
		switch s[j] {
		case '\\':
			if q != '`' {
				j++
			}
		case q:
			if j+1 < len(s) && s[j+1] == q {
				j++
				continue
			}
			return j
		}
	}
	return len(s)
}

// copyGrants gives to every grant from has, by replaying SHOW GRANTS FOR
// from with the grantee rewritten: privileges with their GRANT OPTION,
// column and routine privileges, role grants with ADMIN OPTION, MariaDB's
// default role, and (on MariaDB) REQUIRE and resource limits. GRANT adds
// and never removes, so a replay after a crash, or on every rotation,
// converges. It returns how many lines it read.
func (s *session) copyGrants(ctx context.Context, fromUser, fromHost, toUser, toHost string) (int, error) {
	lines, err := s.showGrants(ctx, fromUser, fromHost)
	if err != nil {
		return 0, err
	}
	to := account(toUser, toHost)
	for i, l := range lines {
		stmt, err := rewriteGrant(l, fromUser, fromHost, to)
		if err != nil {
			return i, fmt.Errorf("mysql: line %d of SHOW GRANTS FOR %s: %v", i+1, account(fromUser, fromHost), err)
		}
		if stmt == "GRANT USAGE ON *.* TO "+to {
			// No privilege, requirement or limit: CREATE USER gave it, and
			// MariaDB refuses it to a superuser without global GRANT OPTION.
			continue
		}
		if err := s.exec(ctx, stmt); err != nil {
			// The statement is not quoted: a syntax error's message would
			// be the only place it appears, and it holds no password.
			return i, fmt.Errorf("mysql: copying line %d of %d of SHOW GRANTS FOR %s to %s (the superuser needs GRANT OPTION on what it grants): %w", i+1, len(lines), account(fromUser, fromHost), to, err)
		}
	}
	return len(lines), nil
}

// missingGrants returns the lines of SHOW GRANTS FOR from that, given to
// to, SHOW GRANTS FOR to does not show: what a replay failed to copy.
// IDENTIFIED clauses are ignored on both sides.
func (s *session) missingGrants(ctx context.Context, fromUser, fromHost, toUser, toHost string) (int, error) {
	from, err := s.showGrants(ctx, fromUser, fromHost)
	if err != nil {
		return 0, err
	}
	got, err := s.showGrants(ctx, toUser, toHost)
	if err != nil {
		return 0, err
	}
	to := account(toUser, toHost)
	have := make(map[string]bool, len(got))
	for _, l := range got {
		if n, err := rewriteGrant(l, toUser, toHost, to); err == nil {
			have[n] = true
		}
	}
	missing := 0
	for _, l := range from {
		if n, err := rewriteGrant(l, fromUser, fromHost, to); err != nil || !have[n] {
			missing++
		}
	}
	return missing, nil
}
