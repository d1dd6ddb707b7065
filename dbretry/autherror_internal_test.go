package dbretry

import (
	"strconv"
	"testing"
)

// MySQLError here is a value type with a string SQLState and a uint32
// Number: the name matches, but only the SQLState may.
type MySQLError struct {
	Number   uint32
	SQLState string
}

func (e MySQLError) Error() string { return "mysql " + strconv.Itoa(int(e.Number)) }

// The MySQL shape is matched by type name and field types; a Number that
// is not a uint16 is not go-sql-driver/mysql's.
func TestIsAuthErrorMySQLShape(t *testing.T) {
	for _, tc := range []struct {
		name string
		err  error
		want bool
	}{
		{"value, string SQLState 28000", MySQLError{Number: 9999, SQLState: "28000"}, true},
		{"pointer, string SQLState 28000", &MySQLError{SQLState: "28000"}, true},
		{"value, uint32 Number 1045", MySQLError{Number: 1045}, false},
		{"value, other SQLState", MySQLError{Number: 2013, SQLState: "HY000"}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := IsAuthError(tc.err); got != tc.want {
				t.Errorf("IsAuthError(%#v) = %v, want %v", tc.err, got, tc.want)
			}
		})
	}
}
