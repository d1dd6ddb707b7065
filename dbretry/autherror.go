package dbretry

import "reflect"

// SQLSTATE and MySQL error codes meaning "these credentials were refused".
const (
	sqlStateInvalidPassword      = "28P01" // PostgreSQL invalid_password
	sqlStateInvalidAuthorization = "28000" // invalid_authorization_specification (PostgreSQL, MySQL)
	mysqlAccessDenied            = 1045    // MySQL ER_ACCESS_DENIED_ERROR
)

// IsAuthError reports whether err, or any error in its tree (through
// Unwrap() error and Unwrap() []error, as errors.As walks it), is a
// refused login:
//
//   - an error with a SQLState() string method returning 28P01
//     (invalid_password) or 28000 (invalid_authorization_specification),
//     as *pgconn.PgError has, or one whose As method fills a
//     interface{ SQLState() string } target with such an error;
//
//   - a struct, or pointer to one, named MySQLError, shaped like
//     go-sql-driver/mysql's: an exported uint16 field Number equal to
//     1045, or an exported SQLState field ([5]byte or string) equal to
//     28000.
//
//   - an error returned by MarkAuthError.
//
// The MySQL shape is matched by reflection, so this package needs no MySQL
// driver; dbretry/mysql does not rely on it, it classifies the driver's
// errors itself and marks refusals with MarkAuthError. A nil err is not an
// authentication error.
func IsAuthError(err error) bool { return authCode(err) != "" }

// authCode returns the SQLSTATE of the first refused login in err's tree
// (28000 for MySQL's 1045, whose SQLSTATE it is, and for an error marked by
// MarkAuthError), or "" if there is none.
func authCode(err error) string {
	for e := range walk(err) {
		if code := authValueCode(e); code != "" {
			return code
		}
	}
	return ""
}

// MarkAuthError returns an error that IsAuthError reports as a refused
// login, as it does any error wrapping it; nil for a nil err. It is the
// seam through which a connect function passed to Connect classifies its
// own driver's errors: Connect retries exactly the errors IsAuthError
// accepts, so an engine package marks the refusals it recognises (e.g.
// dbretry/mysql marks MySQL errors 1045 and 1698) and returns every other
// error as it is. The returned error has err's message and unwraps to err,
// so errors.As still finds the driver's error through it, and through a
// *RetryError that wraps it.
func MarkAuthError(err error) error {
	if err == nil {
		return nil
	}
	return &markedAuthError{err: err}
}

// markedAuthError is an error marked by MarkAuthError.
type markedAuthError struct{ err error }

func (e *markedAuthError) Error() string { return e.err.Error() }
func (e *markedAuthError) Unwrap() error { return e.err }

// walk yields err and every error it wraps, depth first, in the order
// errors.As visits them.
func walk(err error) func(yield func(error) bool) {
	return func(yield func(error) bool) {
		var visit func(error) bool
		visit = func(e error) bool {
			for e != nil {
				if !yield(e) {
					return false
				}
				switch u := e.(type) {
				case interface{ Unwrap() error }:
					e = u.Unwrap()
				case interface{ Unwrap() []error }:
					for _, inner := range u.Unwrap() {
						if !visit(inner) {
							return false
						}
					}
					return true
				default:
					return true
				}
			}
			return true
		}
		visit(err)
	}
}

// authValueCode matches one error of the tree, as errors.As would: by its
// own methods, or by what its As method offers. It returns the refusal's
// SQLSTATE, or "" if e is no refused login.
func authValueCode(e error) string {
	if _, ok := e.(*markedAuthError); ok {
		return sqlStateInvalidAuthorization
	}
	// An unnamed interface type, so that an As method written against
	// *interface{ SQLState() string } in another package matches it.
	if s, ok := e.(interface{ SQLState() string }); ok && authSQLState(s.SQLState()) {
		return s.SQLState()
	}
	if a, ok := e.(interface{ As(any) bool }); ok {
		var s interface{ SQLState() string }
		if a.As(&s) && s != nil && authSQLState(s.SQLState()) {
			return s.SQLState()
		}
	}
	if isMySQLAuth(e) {
		return sqlStateInvalidAuthorization
	}
	return ""
}

func authSQLState(code string) bool {
	return code == sqlStateInvalidPassword || code == sqlStateInvalidAuthorization
}

// isMySQLAuth matches go-sql-driver/mysql's MySQLError by name and field
// types, not by import.
func isMySQLAuth(e error) bool {
	v := reflect.ValueOf(e)
	if v.Kind() == reflect.Pointer {
		if v.IsNil() {
			return false
		}
		v = v.Elem()
	}
	if v.Kind() != reflect.Struct || v.Type().Name() != "MySQLError" {
		return false
	}
	if f, ok := exportedField(v, "Number"); ok && f.Kind() == reflect.Uint16 && f.Uint() == mysqlAccessDenied {
		return true
	}
	f, ok := exportedField(v, "SQLState")
	if !ok {
		return false
	}
	switch {
	case f.Kind() == reflect.String:
		return f.String() == sqlStateInvalidAuthorization
	case f.Kind() == reflect.Array && f.Type().Elem().Kind() == reflect.Uint8 && f.Len() == len(sqlStateInvalidAuthorization):
		for i := range f.Len() {
			if byte(f.Index(i).Uint()) != sqlStateInvalidAuthorization[i] {
				return false
			}
		}
		return true
	}
	return false
}

func exportedField(v reflect.Value, name string) (reflect.Value, bool) {
	sf, ok := v.Type().FieldByName(name)
	if !ok || !sf.IsExported() || len(sf.Index) != 1 {
		return reflect.Value{}, false
	}
	return v.Field(sf.Index[0]), true
}
