// Package nilcheck tells whether an interface argument is unusable because
// it is nil or holds a nil value, so that constructors can refuse it with
// an error instead of panicking at the first method call.
package nilcheck

import "reflect"

// IsNil reports whether v is nil or holds a nil pointer, map, slice, func
// or channel, whose methods would typically panic on the first call (e.g.
// a (*secretsmanager.Client)(nil) passed as a Client interface). It uses
// reflection, so it belongs in constructors, not on hot paths.
func IsNil(v any) bool {
	if v == nil {
		return true
	}
	switch rv := reflect.ValueOf(v); rv.Kind() {
	case reflect.Pointer, reflect.Map, reflect.Func, reflect.Chan, reflect.Slice:
		return rv.IsNil()
	}
	return false
}
