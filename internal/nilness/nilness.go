// Package nilness tells whether an interface value holds nothing usable:
// nil itself, or a nil pointer, map, slice, func or channel inside a
// non-nil interface (a "typed nil", such as the result of a failed
// constructor that returned (*Store)(nil) and an error). The options that
// take stores refuse both, so that a forgotten error check fails at New
// with ErrInvalidConfig instead of panicking at the first request.
package nilness

import "reflect"

// Is reports whether v is nil or holds a nil pointer, map, slice, func,
// channel or interface.
func Is(v any) bool {
	if v == nil {
		return true
	}
	rv := reflect.ValueOf(v)
	switch rv.Kind() {
	case reflect.Pointer, reflect.Map, reflect.Slice, reflect.Func, reflect.Chan, reflect.Interface, reflect.UnsafePointer:
		return rv.IsNil()
	}
	return false
}
