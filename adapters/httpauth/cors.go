package httpauth

import (
	"net/http"
	"slices"
	"strings"
)

// corsMaxAge is how long a browser may cache a preflight's answer
// (Access-Control-Max-Age, seconds).
const corsMaxAge = "600"

// corsExposed are the response headers a cross-origin app's script may
// read besides the safelisted ones (Access-Control-Expose-Headers).
const corsExposed = "Retry-After, WWW-Authenticate"

// WithCORSOrigins lets the browser pages of origins (such as
// "https://app.example.com", as a browser sends it in Origin: scheme,
// host and port, nothing else; or an app origin such as
// "capacitor://localhost") call the token and revocation endpoints from
// script (CORS): the authorization code exchange, refresh and revocation
// of a single-page app on another origin, a public client. A request whose
// Origin is one of origins gets Access-Control-Allow-Origin with it, and a
// preflight (OPTIONS with Access-Control-Request-Method) of those two
// endpoints is answered 204, allowing POST with a Content-Type header;
// the app's script may read Retry-After (a 429's wait) and
// WWW-Authenticate besides the headers browsers always expose. No
// other endpoint answers CORS, and credentials (cookies) are never
// allowed: a cross-origin app presents its tokens itself, and the cookie
// transport ([WithCookies]) is for the API's own site. Origins compare
// without regard to case; at most 64. Default none: browsers keep other
// origins' scripts from reading the responses.
func WithCORSOrigins(origins ...string) HandlerOption {
	return func(c *handlerConfig) error {
		list, err := appOrigins("WithCORSOrigins", origins)
		if err != nil {
			return err
		}
		c.corsOrigins = list
		return nil
	}
}

// cors answers the CORS side of a request to the token or revocation
// endpoint when WithCORSOrigins named origins: it adds Vary: Origin, and,
// for an Origin among them, Access-Control-Allow-Origin; it answers a
// preflight from such an origin itself and reports done.
func (h *Handler) cors(w http.ResponseWriter, r *http.Request) (done bool) {
	if len(h.corsOrigins) == 0 || (r.URL.Path != h.paths.Token && r.URL.Path != h.paths.Revoke) {
		return false
	}
	hd := w.Header()
	hd.Add("Vary", "Origin")
	origin := r.Header.Values("Origin")
	if len(origin) != 1 || len(origin[0]) > maxOriginLen || !slices.Contains(h.corsOrigins, strings.ToLower(origin[0])) {
		return false
	}
	hd.Set("Access-Control-Allow-Origin", origin[0])
	if r.Method != http.MethodOptions || r.Header.Get("Access-Control-Request-Method") == "" {
		// Script reads only the safelisted response headers unless
		// told: a 429's wait and a client challenge are for it too
		// (found by review: an app could not read Retry-After).
		hd.Set("Access-Control-Expose-Headers", corsExposed)
		return false
	}
	hd.Set("Access-Control-Allow-Methods", "POST")
	hd.Set("Access-Control-Allow-Headers", "Content-Type")
	hd.Set("Access-Control-Max-Age", corsMaxAge)
	w.WriteHeader(http.StatusNoContent)
	return true
}
