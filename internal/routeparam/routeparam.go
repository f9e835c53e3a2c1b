// Package routeparam holds what the framework adapters share about route
// parameters.
package routeparam

import (
	"net/http"
	"net/url"
)

// Unescape returns a path parameter p of r as net/http's r.URL.Path has
// it, so that an ID with a percent-encoded byte names the same session or
// API token on every adapter. chi and echo take parameters from
// r.URL.RawPath when Go set it (the path holds an escape that Path alone
// cannot give back, such as %2F), so p is then escaped and decoded here;
// otherwise they take them from r.URL.Path, already decoded, and p is
// returned as it is (decoding it again would turn an ID's "%41" into "A").
// A parameter that does not decode is returned as it is (the handler then
// finds nothing).
func Unescape(r *http.Request, p string) string {
	if r.URL.RawPath == "" {
		return p
	}
	if u, err := url.PathUnescape(p); err == nil {
		return u
	}
	return p
}
