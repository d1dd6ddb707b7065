package mysql

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	mysqldriver "github.com/go-sql-driver/mysql"
)

// TestRedact: a server error that quotes a statement holding a password
// reaches neither Error nor errors.As; others pass through unchanged.
func TestRedact(t *testing.T) {
	const pw = "pw-Secret-77"
	for _, tc := range []struct {
		name     string
		err      error
		withheld bool
	}{
		{"syntax error", &mysqldriver.MySQLError{Number: 1064, SQLState: [5]byte{'4', '2', '0', '0', '0'}, Message: "You have an error in your SQL syntax near 'pw-Secret-7'"}, true},
		{"message holds the password", &mysqldriver.MySQLError{Number: 1396, Message: "Operation failed for " + pw}, true},
		{"access denied", &mysqldriver.MySQLError{Number: 1227, SQLState: [5]byte{'4', '2', '0', '0', '0'}, Message: "Access denied; you need (at least one of) the CREATE USER privilege(s)"}, false},
		{"not a server error", errors.New("dial tcp: refused"), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := redact(fmt.Errorf("wrapped: %w", tc.err), pw)
			var me *mysqldriver.MySQLError
			if errors.As(got, &me) && (strings.Contains(me.Message, pw) || strings.Contains(me.Message, pw[:10])) {
				t.Fatalf("errors.As finds the password: %q", me.Message)
			}
			if strings.Contains(got.Error(), pw[:10]) {
				t.Fatalf("Error() holds the password: %q", got)
			}
			if tc.withheld {
				orig := tc.err.(*mysqldriver.MySQLError)
				if me == nil || me.Number != orig.Number || me.SQLState != orig.SQLState {
					t.Fatalf("redact lost the error number or state: %#v", me)
				}
			} else if got.Error() != "wrapped: "+tc.err.Error() {
				t.Fatalf("redact changed %q to %q", tc.err, got)
			}
		})
	}
	if redact(nil, pw) != nil {
		t.Fatal("redact(nil) != nil")
	}
}
