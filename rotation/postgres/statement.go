package postgres

import (
	"context"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// execer is a *pgx.Conn or a pgx.Tx.
type execer interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
}

// maxIdentifier is PostgreSQL's limit on a name (NAMEDATALEN-1 bytes);
// longer role names are silently truncated, which would make two roles
// one.
const maxIdentifier = 63

// quoteIdent quotes a role name for SQL.
func quoteIdent(name string) string { return pgx.Identifier{name}.Sanitize() }

// quoteLiteral quotes s as a string constant the way PostgreSQL's
// quote_literal does, which is correct whatever standard_conforming_strings
// is set to.
func quoteLiteral(s string) string {
	s = strings.ReplaceAll(s, "'", "''")
	if strings.Contains(s, `\`) {
		return `E'` + strings.ReplaceAll(s, `\`, `\\`) + `'`
	}
	return "'" + s + "'"
}

// setPassword runs ALTER ROLE role PASSWORD with password's SCRAM
// verifier, never the password itself, so neither the server's statement
// log nor an error can reveal it.
func setPassword(ctx context.Context, db execer, role, password string) error {
	v, err := scramVerifier(password)
	if err != nil {
		return err
	}
	if _, err := db.Exec(ctx, "ALTER ROLE "+quoteIdent(role)+" PASSWORD "+quoteLiteral(v)); err != nil {
		return fmt.Errorf("postgres: setting the password of role %q: %w", role, err)
	}
	return nil
}
