package dbretry

import "reflect"

// SQLSTATE and MySQL error codes meaning "these credentials were refused".
const (
	sqlStateInvalidPassword      = "28P01" // PostgreSQL invalid_password
	sqlStateInvalidAuthorization = "28000" // invalid_authorization_specification (PostgreSQL, MySQL)
	mysqlAccessDenied            = 1045    // MySQL ER_ACCESS_DENIED_ERROR
)

// IsAuthError reports whether err, or any error it wraps (through Unwrap()
// error or Unwrap() []error), is a refused login:
//
//   - a value with a SQLState() string method returning 28P01
//     (invalid_password) or 28000 (invalid_authorization_specification),
//     as *pgconn.PgError and many drivers have;
//   - a struct, or pointer to one, shaped like go-sql-driver/mysql's
//     MySQLError: an unsigned integer field Number equal to 1045, or a
//     SQLState field ([5]byte or string) equal to 28000.
//
// The MySQL shape is matched by reflection, so this package needs no MySQL
// driver. A nil err is not an authentication error.
func IsAuthError(err error) bool {
	for e := range walk(err) {
		if isAuthValue(e) {
			return true
		}
	}
	return false
}

// walk yields err and every error it wraps, depth first, as errors.As
// visits them.
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

func isAuthValue(e error) bool {
	if s, ok := e.(interface{ SQLState() string }); ok {
		switch s.SQLState() {
		case sqlStateInvalidPassword, sqlStateInvalidAuthorization:
			return true
		}
	}
	v := reflect.ValueOf(e)
	if v.Kind() == reflect.Pointer {
		if v.IsNil() {
			return false
		}
		v = v.Elem()
	}
	if v.Kind() != reflect.Struct {
		return false
	}
	if f, ok := exportedField(v, "Number"); ok {
		switch f.Kind() {
		case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
			if f.Uint() == mysqlAccessDenied {
				return true
			}
		}
	}
	if f, ok := exportedField(v, "SQLState"); ok {
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
