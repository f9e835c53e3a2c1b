// Package routeparam holds what the framework adapters share about route
// parameters.
package routeparam

import "net/url"

// Unescape decodes a path parameter that a router took from the escaped
// path (chi and echo route on r.URL.RawPath when there is one), as
// net/http's r.URL.Path has it, so that an ID with a percent-encoded byte
// names the same session or API token on every adapter. A parameter that
// does not decode is returned as it is (the handler then finds nothing).
func Unescape(p string) string {
	if u, err := url.PathUnescape(p); err == nil {
		return u
	}
	return p
}
