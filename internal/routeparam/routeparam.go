// Package routeparam holds what the framework adapters share about route
// parameters.
package routeparam

import (
	"net/http"
	"net/url"
	"strings"
)

// Unescape returns p, the last path segment of r as a router's parameter
// gave it, as net/http's r.URL.Path has it, so that an ID with a
// percent-encoded byte names the same session or API token on every
// adapter. Routers take parameters from the escaped path (chi and echo
// route on r.URL.RawPath when Go set it) or from the decoded one (without
// RawPath, or after a middleware such as chi's StripSlashes that sets the
// route path from r.URL.Path), and middlewares may trim one of the two
// and not the other (echo's RemoveTrailingSlash): p is decoded only when
// it holds an escape and is a whole segment of the escaped path (RawPath,
// or EscapedPath), so it is never decoded twice (an ID's "%41", escaped
// "%2541", stays "%41"). A parameter that does not decode is returned as
// it is (the handler then finds nothing).
func Unescape(r *http.Request, p string) string {
	if !strings.Contains(p, "%") {
		return p
	}
	seg := "/" + p + "/"
	if !strings.Contains(r.URL.RawPath+"/", seg) && !strings.Contains(r.URL.EscapedPath()+"/", seg) {
		return p
	}
	if u, err := url.PathUnescape(p); err == nil {
		return u
	}
	return p
}
