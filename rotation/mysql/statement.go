package mysql

import (
	"context"
	"errors"
	"fmt"
	"strings"

	mysqldriver "github.com/go-sql-driver/mysql"
)

// MySQL error numbers the strategies act on.
const (
	erDBAccessDenied    = 1044 // access denied to a database (e.g. mysql, for SET PASSWORD FOR)
	erSpecificAccess    = 1227 // a privilege such as CREATE USER is missing
	erTableAccessDenied = 1142 // a table privilege is missing
	erParse             = 1064 // syntax error; its message quotes the statement
	erSyntax            = 1149
)

// quoteIdent quotes a user or host name, or any identifier, in backticks.
// Inside backticks only the backtick is special (it is doubled), whatever
// sql_mode says (ANSI_QUOTES and NO_BACKSLASH_ESCAPES change only how
// quotes and backslashes in string literals are read), and MySQL and
// MariaDB accept the form for account names: `user`@`host`.
func quoteIdent(name string) string {
	return "`" + strings.ReplaceAll(name, "`", "``") + "`"
}

// account quotes an account name.
func account(user, host string) string { return quoteIdent(user) + "@" + quoteIdent(host) }

// exec runs a statement in the session. Values travel as args, which the
// driver quotes for the session's sql_mode.
func (s *session) exec(ctx context.Context, query string, args ...any) error {
	_, err := s.conn.ExecContext(ctx, query, args...)
	return err
}

// execSecret runs a statement that carries password among its args, and
// withholds the server's message when it could quote the statement.
func (s *session) execSecret(ctx context.Context, password, query string, args ...any) error {
	return redact(s.exec(ctx, query, args...), password)
}

// redact returns err, or, when err is a server error whose message could
// quote the statement (a syntax error) or holds password, a copy of it
// with the message withheld, so that neither Error nor errors.As can
// reveal the password.
func redact(err error, password string) error {
	var me *mysqldriver.MySQLError
	if err == nil || !errors.As(err, &me) {
		return err
	}
	if me.Number != erParse && me.Number != erSyntax && (password == "" || !strings.Contains(me.Message, password)) {
		return err
	}
	return &mysqldriver.MySQLError{Number: me.Number, SQLState: me.SQLState, Message: "(message withheld: it may quote the statement, which holds a password)"}
}

// isAccessDenied reports whether err is the server refusing a statement
// for want of a privilege.
func isAccessDenied(err error) bool {
	var me *mysqldriver.MySQLError
	if !errors.As(err, &me) {
		return false
	}
	switch me.Number {
	case erDBAccessDenied, erSpecificAccess, erTableAccessDenied:
		return true
	}
	return false
}

// setOwnPassword sets the password of the account s logged in as. It runs
// ALTER USER on exactly that account (CURRENT_USER(), whatever its host
// part), which MySQL allows any account for its own password. MariaDB
// requires CREATE USER even for one's own account, so when the server
// refuses, it falls back to SET PASSWORD without FOR, which every account
// may run for itself: with PASSWORD(...) on MariaDB, with the plain string
// on MySQL 8 (which removed PASSWORD()).
func (s *session) setOwnPassword(ctx context.Context, password string) (method string, err error) {
	err = s.execSecret(ctx, password, "ALTER USER "+account(s.user, s.host)+" IDENTIFIED BY ?", password)
	if err == nil {
		return "ALTER USER", nil
	}
	if !isAccessDenied(err) {
		return "", fmt.Errorf("mysql: ALTER USER %s: %w", account(s.user, s.host), err)
	}
	q := "SET PASSWORD = ?"
	if s.mariadb {
		q = "SET PASSWORD = PASSWORD(?)"
	}
	if err2 := s.execSecret(ctx, password, q, password); err2 != nil {
		return "", fmt.Errorf("mysql: setting the password of %s: ALTER USER: %w; SET PASSWORD: %w", account(s.user, s.host), err, err2)
	}
	return "SET PASSWORD", nil
}
