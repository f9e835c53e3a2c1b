package httpauth

import (
	"errors"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strings"
	"unicode/utf8"

	"github.com/authkit-go/authkit"

	"github.com/authkit-go/authkit/internal/strictjson"
	"github.com/authkit-go/authkit/internal/textsafe"
)

// Bounds on request parameters.
const (
	maxParams      = 32
	maxScopes      = authkit.MaxScopes
	maxUsernameLen = 1024
	maxPasswordLen = 1024
	maxIDLen       = 256
)

// credentialParams may never come from the URL: a request that puts one in
// the query string is refused rather than silently half-read. They are the
// parameters the token, revocation and introspection endpoints read that
// carry a secret or decide what is granted — a password, a token, a client
// secret or assertion, an authorization code and its PKCE verifier — and
// "assertion" (RFC 7521), which no endpoint reads but which is a
// credential all the same.
var credentialParams = [...]string{
	"grant_type", "username", "password", "refresh_token", "scope", "token",
	"token_type_hint", "access_token", "client_secret", "code", "code_verifier",
	"client_assertion", "client_assertion_type", "assertion",
}

// httpError is a client or server error of an endpoint, answered with the
// RFC 6749 §5.2 JSON body.
type httpError struct {
	status int
	code   string
	desc   string
}

var (
	errTooLarge      = &httpError{http.StatusRequestEntityTooLarge, "invalid_request", "request body too large"}
	errContentType   = &httpError{http.StatusBadRequest, "invalid_request", "the body must be application/x-www-form-urlencoded or application/json"}
	errMalformedBody = &httpError{http.StatusBadRequest, "invalid_request", "malformed request body"}
	errRepeated      = &httpError{http.StatusBadRequest, "invalid_request", "a parameter is repeated"}
	errTooMany       = &httpError{http.StatusBadRequest, "invalid_request", "too many parameters"}
	errInURL         = &httpError{http.StatusBadRequest, "invalid_request", "credentials must be sent in the request body, never in the URL"}
	errBadQuery      = &httpError{http.StatusBadRequest, "invalid_request", "malformed query string"}
	errUnavailable   = &httpError{http.StatusServiceUnavailable, "temporarily_unavailable", descUnavailable}
	errServer        = &httpError{http.StatusInternalServerError, "server_error", "internal error"}
	errNotFound      = &httpError{http.StatusNotFound, "not_found", "no such resource"}
	errNoEndpoint    = &httpError{http.StatusNotFound, "not_found", "no such endpoint"}
	errMethod        = &httpError{http.StatusMethodNotAllowed, "method_not_allowed", "method not allowed"}
)

// readBody reads r's body, at most max bytes.
func readBody(w http.ResponseWriter, r *http.Request, max int64) ([]byte, *httpError) {
	if r.ContentLength > max {
		return nil, errTooLarge
	}
	data, err := io.ReadAll(http.MaxBytesReader(w, r.Body, max))
	if err != nil {
		if _, ok := errors.AsType[*http.MaxBytesError](err); ok {
			return nil, errTooLarge
		}
		return nil, errMalformedBody
	}
	return data, nil
}

// mediaType returns the one Content-Type's media type, lower case, after
// checking that a charset parameter, if any, is UTF-8.
func mediaType(r *http.Request) (string, bool) {
	ct := r.Header["Content-Type"]
	if len(ct) != 1 {
		return "", false
	}
	mt, ps, err := mime.ParseMediaType(ct[0])
	if err != nil {
		return "", false
	}
	if cs, ok := ps["charset"]; ok && !strings.EqualFold(cs, "utf-8") {
		return "", false
	}
	return mt, true
}

// readParams reads the parameters of a token, revocation or introspection
// request from its body: application/x-www-form-urlencoded (RFC 6749
// Appendix B) or, as an extension, a JSON object whose members are all
// strings. A parameter may appear once (RFC 6749 §3.1); an empty one counts
// as absent. A request with no body and no Content-Type has no
// parameters. Parameters are never read from the URL, and a credential
// parameter found there refuses the request, as does a query string that
// does not parse (see checkQuery).
func readParams(w http.ResponseWriter, r *http.Request, max int64) (map[string]string, *httpError) {
	if herr := checkQuery(r.URL.RawQuery, errInURL, credentialParams[:]); herr != nil {
		return nil, herr
	}
	if r.ContentLength == 0 && len(r.Header["Content-Type"]) == 0 {
		// No body at all: no parameters, as a browser's logout sends it
		// (fetch with the CSRF header and nothing else; found by review:
		// it was 400 and the session lived on). Each endpoint then says
		// which parameter it misses.
		return map[string]string{}, nil
	}
	mt, ok := mediaType(r)
	if !ok {
		return nil, errContentType
	}
	switch mt {
	case "application/x-www-form-urlencoded":
		data, herr := readBody(w, r, max)
		if herr != nil {
			return nil, herr
		}
		return parseForm(data)
	case "application/json":
		data, herr := readBody(w, r, max)
		if herr != nil {
			return nil, herr
		}
		return parseJSONParams(data)
	}
	return nil, errContentType
}

// checkQuery refuses a request whose query string rawQuery names one of
// the parameters of any of the lists (inURL), or does not parse
// (errBadQuery). A query that does not parse cannot be trusted to name
// nothing: url.ParseQuery skips a pair holding ';' or a bad %-escape and
// reports it only as an error, so "password=secret;" would otherwise pass
// as a query without a password. The query is never echoed.
func checkQuery(rawQuery string, inURL *httpError, lists ...[]string) *httpError {
	if rawQuery == "" {
		return nil
	}
	q, err := url.ParseQuery(rawQuery)
	if err != nil {
		return errBadQuery
	}
	for _, names := range lists {
		for _, name := range names {
			if _, ok := q[name]; ok {
				return inURL
			}
		}
	}
	return nil
}

func parseForm(data []byte) (map[string]string, *httpError) {
	if !utf8.Valid(data) {
		return nil, errMalformedBody
	}
	vs, err := url.ParseQuery(string(data))
	if err != nil {
		return nil, errMalformedBody
	}
	if len(vs) > maxParams {
		return nil, errTooMany
	}
	out := make(map[string]string, len(vs))
	for k, v := range vs {
		if len(v) != 1 {
			return nil, errRepeated
		}
		if !utf8.ValidString(k) || !utf8.ValidString(v[0]) {
			return nil, errMalformedBody
		}
		if v[0] != "" {
			out[k] = v[0]
		}
	}
	return out, nil
}

func parseJSONParams(data []byte) (map[string]string, *httpError) {
	o, err := strictjson.NewObject(data)
	if err != nil {
		if errors.Is(err, strictjson.ErrDuplicateName) {
			return nil, errRepeated
		}
		return nil, errMalformedBody
	}
	out := make(map[string]string)
	n := 0 // members read, empty ones too: they count as absent, not as free
	for o.Next() {
		if n++; n > maxParams {
			return nil, errTooMany
		}
		v := o.Value()
		if v.Kind() != strictjson.KindString {
			return nil, errMalformedBody
		}
		s, err := v.Text()
		if err != nil {
			return nil, errMalformedBody
		}
		if s != "" {
			out[string(o.Name())] = s
		}
	}
	return out, nil
}

// parseScope splits an RFC 6749 §3.3 scope parameter: scope tokens
// separated by single spaces, each 1 to 128 bytes of %x21 / %x23-5B /
// %x5D-7E, at most 64 of them; duplicates are dropped. An empty parameter
// is no scope.
func parseScope(s string) ([]string, bool) {
	if s == "" {
		return nil, true
	}
	parts := strings.Split(s, " ")
	if len(parts) > maxScopes {
		return nil, false
	}
	out := parts[:0]
	for _, p := range parts {
		if !validScope(p) {
			return nil, false
		}
		dup := false
		for _, o := range out {
			if o == p {
				dup = true
				break
			}
		}
		if !dup {
			out = append(out, p)
		}
	}
	return out, true
}

// validScope is authkit.ValidScope.
func validScope(s string) bool { return authkit.ValidScope(s) }

func validScopes(ss []string) bool {
	if len(ss) > maxScopes {
		return false
	}
	for _, s := range ss {
		if !validScope(s) {
			return false
		}
	}
	return true
}

// validText reports whether s is 1 to max bytes of UTF-8 without control
// characters (C1 included), bidirectional controls or line separators
// (textsafe.Valid).
func validText(s string, max int) bool {
	return s != "" && len(s) <= max && textsafe.Valid(s)
}
