package httpauth

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"net/netip"
	"net/textproto"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
	"unsafe"

	"github.com/authkit-go/authkit"
	"github.com/authkit-go/authkit/internal/claims"
	"github.com/authkit-go/authkit/internal/httpsyntax"
	"github.com/authkit-go/authkit/verifier"
)

// Default cookie and header names of the cookie transport.
const (
	DefaultAccessCookie  = "authkit_access"
	DefaultRefreshCookie = "authkit_refresh"
	DefaultCSRFCookie    = "authkit_csrf"
	DefaultCSRFHeader    = "X-CSRF-Token"
)

// maxCSRFLen bounds the CSRF header and cookie values compared.
const maxCSRFLen = 128

// Cookies configures the cookie transport that single-page applications
// use to keep tokens out of JavaScript's reach. Give it to [WithCookies];
// zero fields take the defaults below.
//
// On a successful token response (see [Handler]) three cookies are set:
// the access token (HttpOnly, Path "/", Max-Age the refresh token's
// lifetime, so that a logout still finds the session once the access
// token has expired; the access TTL when no refresh token is set), the
// refresh token (HttpOnly, Path the token endpoint's, Max-Age the refresh
// TTL) and a CSRF token (32 random bytes, base64url; readable by
// JavaScript, Path "/", Max-Age the refresh TTL), all Secure and
// SameSite. The middleware reads
// the access cookie when the Authorization header carries no credential;
// a request with any method but GET, HEAD, OPTIONS and TRACE that
// authenticates by cookie must send the CSRF header with the CSRF cookie's
// value (double submit, compared in constant time), else it is refused
// with [ErrCSRF]. Those four methods must therefore never change state:
// a handler registered for every method (gin's Any, echo's Any, a bare
// http.Handler) that treats anything but GET as a write is open to a
// cross-site HEAD, which a page may send with the cookies (SameSite None)
// and without a CORS preflight.
//
// An access cookie thus outlives its token: once the token has expired,
// [Auth.Optional] takes the cookie for no credential (the request runs
// anonymous, revoked or not), and past the verifier's longest leeway (5
// minutes) a request with it is answered without a signature check and
// without an auth_failed event; the others answer 401 token expired, and
// the client refreshes.
//
// A cookie-mode token request made by a browser from another site is
// refused (login CSRF: a forged form POST with the attacker's password
// would otherwise log the victim's browser in as the attacker, since a
// SameSite cookie is still set by a response to a cross-site request).
// When the Handler has cookies on, a password or refresh_token grant
// request (the grants whose response sets the cookies) that carries
// Sec-Fetch-Site with any value but same-origin, same-site or none, or,
// without Sec-Fetch-Site, an Origin whose host is not the request's Host
// ("null" included), is answered 403 csrf_failed ([ErrCSRF]) before the
// grant is tried, and no cookie is set — unless its Origin is one of
// TrustedOrigins. Requests without these headers (native and server-side
// clients, which browsers alone send them for) are not affected.
//
// A name starting with "__Host-" (recommended for the access and CSRF
// cookies: a sibling subdomain cannot then plant a cookie of that name) must
// have no Domain and a Secure cookie, and, for the refresh cookie, an
// explicit RefreshPath of "/"; "__Secure-" names need a Secure cookie.
// Both prefixes are matched in any letter case, as browsers do. A
// request carrying two cookies of one name (cookie tossing) is refused.
type Cookies struct {
	// AccessName names the access-token cookie. Default "authkit_access".
	AccessName string
	// RefreshName names the refresh-token cookie. Default "authkit_refresh".
	RefreshName string
	// CSRFName names the CSRF cookie, which is not HttpOnly: the
	// application's JavaScript reads it and echoes it in CSRFHeader. Every
	// token response that sets the cookies also carries its value in the
	// body as "csrf_token", for a front end on another site
	// (TrustedOrigins), whose script cannot read the API's cookies.
	// Default "authkit_csrf".
	CSRFName string
	// CSRFHeader names the request header that must echo the CSRF cookie.
	// Default "X-CSRF-Token". Sending a custom header cross-origin needs a
	// CORS preflight, which a forging site cannot pass.
	CSRFHeader string
	// Domain is the cookies' Domain attribute. Default none (host-only
	// cookies, which sibling subdomains do not receive).
	Domain string
	// RefreshPath is the Path of the refresh cookie, so that the browser
	// sends it to the token endpoint's URL and to no other. Default: the
	// token endpoint's path as configured with WithPaths, under the prefix
	// each request arrived with — a Handler mounted with
	// http.StripPrefix("/auth", …) or an adapter's Mount under an /auth
	// group sets and clears it on /auth/token (the prefix is the part of
	// the request-target the router stripped). Set it when a proxy in
	// front rewrites paths, so that the request-target no longer shows
	// what the browser sees.
	RefreshPath string
	// SameSite is the cookies' SameSite attribute: Lax (the default, also
	// for the zero value and http.SameSiteDefaultMode), Strict or None;
	// None needs a Secure cookie.
	SameSite http.SameSite
	// Insecure, when true, drops the Secure attribute, so that the cookies
	// travel over plain HTTP. WARNING: only for development on
	// http://localhost; anyone on the network path can then read the tokens.
	// Default false: cookies are Secure.
	Insecure bool
	// OmitBodyTokens, when true, leaves access_token and refresh_token out
	// of the JSON body of token responses, so that JavaScript never sees a
	// token (the body keeps token_type, expires_in, scope and csrf_token). Use it when
	// only browsers call the token endpoint; native and OAuth 2.0 clients
	// need the tokens in the body. Whatever its value, a refresh that took
	// its refresh token from the cookie is answered without tokens in the
	// body. Default false.
	OmitBodyTokens bool
	// TrustedOrigins are the browser origins ("https://app.example",
	// scheme, host and port if not the default, as browsers send them in
	// the Origin header; an entry with the default port is refused) that
	// may call the token endpoint although they are another site or
	// another origin: a single-page application served from elsewhere
	// (with SameSite None when it is another site, and a credentialed
	// CORS policy of the application's own covering the token endpoint:
	// [WithCORSOrigins] never allows credentials), or an application a browser engine
	// serves under a scheme of its own, which it sends in Origin
	// ("capacitor://localhost" for a Capacitor WebView,
	// "chrome-extension://<id>" for an extension). Schemes that never
	// name an application's origin (file, data, blob, about, javascript,
	// ftp, ws, wss, filesystem) are refused. Compared exactly, without
	// letter case. Default none: only same-origin and same-site requests
	// (and those without browser headers) get tokens.
	TrustedOrigins []string
}

// cookieConfig is Cookies with defaults applied and checked.
type cookieConfig struct {
	Cookies
	csrfHeader string // canonical form
	secure     bool
	sameSite   http.SameSite
	trusted    []string // TrustedOrigins, lower case
}

func resolveCookies(c Cookies) (*cookieConfig, error) {
	if c.AccessName == "" {
		c.AccessName = DefaultAccessCookie
	}
	if c.RefreshName == "" {
		c.RefreshName = DefaultRefreshCookie
	}
	if c.CSRFName == "" {
		c.CSRFName = DefaultCSRFCookie
	}
	if c.CSRFHeader == "" {
		c.CSRFHeader = DefaultCSRFHeader
	}
	for _, n := range []string{c.AccessName, c.RefreshName, c.CSRFName, c.CSRFHeader} {
		if !isToken(n) || len(n) > 64 {
			return nil, invalid("Cookies: %q is not a valid cookie or header name (1 to 64 token characters)", n)
		}
	}
	if c.AccessName == c.RefreshName || c.AccessName == c.CSRFName || c.RefreshName == c.CSRFName {
		return nil, invalid("Cookies: the three cookie names must differ")
	}
	cc := &cookieConfig{Cookies: c, csrfHeader: textproto.CanonicalMIMEHeaderKey(c.CSRFHeader), secure: !c.Insecure}
	switch cc.csrfHeader {
	case "Authorization", "Cookie", "Content-Type", "Content-Length", "Host":
		return nil, invalid("Cookies: CSRFHeader %q is a standard header", c.CSRFHeader)
	}
	if len(c.Domain) > 253 || strings.Trim(c.Domain, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-") != "" {
		return nil, invalid("Cookies: Domain %q is not a host name", c.Domain)
	}
	if c.RefreshPath != "" {
		if err := checkPath("Cookies.RefreshPath", c.RefreshPath); err != nil {
			return nil, err
		}
	}
	trusted, err := appOrigins("Cookies: TrustedOrigins", c.TrustedOrigins)
	if err != nil {
		return nil, err
	}
	cc.trusted = trusted
	cc.TrustedOrigins = slices.Clone(c.TrustedOrigins)
	switch c.SameSite {
	case 0, http.SameSiteDefaultMode, http.SameSiteLaxMode:
		cc.sameSite = http.SameSiteLaxMode
	case http.SameSiteStrictMode:
		cc.sameSite = http.SameSiteStrictMode
	case http.SameSiteNoneMode:
		if c.Insecure {
			return nil, invalid("Cookies: SameSite=None needs Secure cookies (Insecure is set)")
		}
		cc.sameSite = http.SameSiteNoneMode
	default:
		return nil, invalid("Cookies: unknown SameSite value %d", c.SameSite)
	}
	for _, n := range []string{c.AccessName, c.RefreshName, c.CSRFName} {
		// Browsers match the prefixes without letter case (RFC 6265bis
		// §4.1.3), so "__host-x" gets the same rules.
		switch ln := strings.ToLower(n); {
		case strings.HasPrefix(ln, "__host-"):
			if c.Insecure || c.Domain != "" {
				return nil, invalid("Cookies: a __Host- cookie needs Secure and no Domain")
			}
			if n == c.RefreshName && c.RefreshPath != "/" {
				return nil, invalid(`Cookies: a __Host- refresh cookie needs RefreshPath "/"`)
			}
		case strings.HasPrefix(ln, "__secure-"):
			if c.Insecure {
				return nil, invalid("Cookies: a __Secure- cookie needs Secure")
			}
		}
	}
	return cc, nil
}

// isToken reports whether s is a non-empty RFC 9110 token (which is also
// what RFC 6265 allows as a cookie name).
func isToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c <= 0x20 || c >= 0x7f || strings.IndexByte(`"(),/:;<=>?@[\]{}`, c) >= 0 {
			return false
		}
	}
	return true
}

// cookieValue returns the value of the one cookie named name: "" when there
// is none (or it is empty), authkit.ErrInvalidRequest when there are
// several (a planted duplicate must not be chosen over the real one).
func cookieValue(r *http.Request, name string) (string, error) {
	cs := r.CookiesNamed(name)
	switch len(cs) {
	case 0:
		return "", nil
	case 1:
		return cs[0].Value, nil
	}
	return "", fmt.Errorf("httpauth: %w: more than one %s cookie", authkit.ErrInvalidRequest, name)
}

var errBadCookie = fmt.Errorf("httpauth: %w: malformed token cookie", authkit.ErrInvalidToken)

// fromCookie authenticates by the access cookie.
func (a *Auth) fromCookie(r *http.Request) (*authkit.Principal, error) {
	tok, err := cookieValue(r, a.cookies.AccessName)
	if err != nil {
		return nil, err
	}
	if tok == "" {
		return nil, authkit.ErrNoCredentials
	}
	if len(tok) > verifier.MaxHeaderLen || !isB64Token(tok) {
		return nil, errBadCookie
	}
	if a.cookieExpired(tok) {
		return nil, &expiredCookieError{errCookieExpired}
	}
	if !safeMethod(r.Method) {
		if err := a.checkCSRF(r); err != nil {
			// A cookie whose token has expired (within the leeway
			// cookieExpired leaves to the verifier) is no credential to
			// forge a request with: it answers as one without the cookie
			// would (Optional: anonymous). Introspect reports no event.
			if _, verr := a.v.Introspect(r.Context(), tok); errors.Is(verr, authkit.ErrTokenExpired) {
				return nil, &expiredCookieError{verr}
			}
			return nil, err
		}
	}
	p, err := a.v.Verify(r.Context(), tok)
	if err != nil {
		if errors.Is(err, authkit.ErrTokenExpired) {
			return nil, &expiredCookieError{err}
		}
		return nil, err
	}
	if p == nil {
		return nil, authkit.ErrInvalidToken
	}
	return p, nil
}

// errCookieExpired is the error of an access cookie whose token expired
// by its own exp, read without a check (cookieExpired).
var errCookieExpired = fmt.Errorf("httpauth: %w: the access cookie's token has expired", authkit.ErrTokenExpired)

// maxLeeway is the longest clock skew a verifier tolerates past exp
// (authkit.WithLeeway, Profile.Leeway).
const maxLeeway = 5 * time.Minute

// cookieExpired reports whether the token in the access cookie expired
// more than maxLeeway ago at the Auth's clock, by its exp read without
// checking the signature. Such a cookie is no credential whoever made the
// token (any verifier refuses it), so it is answered without a signature
// check and without an auth_failed event: an idle visitor's browser sends
// it with every request until its session refreshes, the cookie
// outliving its token (found by review: each request cost a signature
// check and logged an event). It does not allocate for a token of up to
// 1 KiB of claims.
func (a *Auth) cookieExpired(tok string) bool {
	_, rest, ok := strings.Cut(tok, ".")
	if !ok {
		return false
	}
	payload, _, ok := strings.Cut(rest, ".")
	if !ok {
		return false
	}
	var stack [1024]byte
	buf := stack[:]
	if n := base64.RawURLEncoding.DecodedLen(len(payload)); n > len(buf) {
		buf = make([]byte, n)
	}
	n, err := base64.RawURLEncoding.Decode(buf, unsafe.Slice(unsafe.StringData(payload), len(payload)))
	if err != nil {
		return false
	}
	exp, ok := claims.PeekExpiry(buf[:n])
	return ok && a.now().After(exp.Add(maxLeeway))
}

// expiredCookieError is the access cookie's token expired. The cookie
// outlives its token (it lives as long as the session's refresh cookie,
// see setTokens), where browsers used to drop it with the token:
// [Auth.Optional] therefore takes it for no credential, as it took the
// dropped cookie (found by review: an idle visitor's optional routes
// answered 401 for the session's 14 days). Require and the others answer
// it as the expired token it is (401, and the client refreshes).
type expiredCookieError struct{ err error }

func (e *expiredCookieError) Error() string { return e.err.Error() }
func (e *expiredCookieError) Unwrap() error { return e.err }

// safeMethod reports whether m is a safe method (RFC 9110 §9.2.1), which
// needs no CSRF token.
func safeMethod(m string) bool {
	switch m {
	case http.MethodGet, http.MethodHead, http.MethodOptions, http.MethodTrace:
		return true
	}
	return false
}

// checkCSRF compares the CSRF header with the CSRF cookie: exactly one of
// each, both non-empty, equal in constant time.
func (a *Auth) checkCSRF(r *http.Request) error {
	hv := r.Header[a.cookies.csrfHeader]
	if len(hv) != 1 || hv[0] == "" || len(hv[0]) > maxCSRFLen {
		return ErrCSRF
	}
	cv, err := cookieValue(r, a.cookies.CSRFName)
	if err != nil || cv == "" || len(cv) > maxCSRFLen {
		return ErrCSRF
	}
	if subtle.ConstantTimeCompare([]byte(hv[0]), []byte(cv)) != 1 {
		return ErrCSRF
	}
	return nil
}

// newCSRFToken returns 32 random bytes, base64url without padding.
func newCSRFToken() string {
	var b [32]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails (Go 1.24+)
	return base64.RawURLEncoding.EncodeToString(b[:])
}

func (c *cookieConfig) cookie(name, value, path string, maxAge int, httpOnly bool) *http.Cookie {
	return &http.Cookie{
		Name:     name,
		Value:    value,
		Path:     path,
		Domain:   c.Domain,
		MaxAge:   maxAge,
		Secure:   c.secure,
		HttpOnly: httpOnly,
		SameSite: c.sameSite,
	}
}

// setTokens sets the access, refresh (when rt is not empty) and CSRF
// cookies, the CSRF cookie to csrf or, if csrf is empty, to a fresh value,
// and returns the CSRF value.
func (c *cookieConfig) setTokens(w http.ResponseWriter, at, rt, refreshPath string, accessAge, refreshAge int, csrf string) string {
	if rt != "" {
		// The access cookie lives as long as the session's refresh
		// cookie, past its token's exp: a browser sends the refresh
		// cookie to the token endpoint only, so a logout (/revoke)
		// finds the session through the access cookie, and one that
		// had expired with its token after five idle minutes left the
		// session refreshing for its 14 days (found by review). The
		// token itself still expires: requests get 401 and refresh.
		accessAge = max(accessAge, refreshAge)
	}
	http.SetCookie(w, c.cookie(c.AccessName, at, "/", accessAge, true))
	if rt != "" {
		http.SetCookie(w, c.cookie(c.RefreshName, rt, refreshPath, refreshAge, true))
	}
	if csrf == "" {
		csrf = newCSRFToken()
	}
	http.SetCookie(w, c.cookie(c.CSRFName, csrf, "/", refreshAge, false))
	return csrf
}

// clear expires the three cookies (Max-Age=0).
func (c *cookieConfig) clear(w http.ResponseWriter, refreshPath string) {
	http.SetCookie(w, c.cookie(c.AccessName, "", "/", -1, true))
	http.SetCookie(w, c.cookie(c.RefreshName, "", refreshPath, -1, true))
	http.SetCookie(w, c.cookie(c.CSRFName, "", "/", -1, false))
}

// isB64Token is httpsyntax.IsB64Token.
func isB64Token(s string) bool { return httpsyntax.IsB64Token(s) }

// Bounds of the cross-site check of token requests.
const (
	maxTrustedOrigins = 64
	maxOriginLen      = 2048
)

// errCrossSite refuses a cookie-mode token request made from another site.
var errCrossSite = fmt.Errorf("%w: a token request from another site", ErrCSRF)

// validOrigin reports whether o is a serialized web origin: http or
// https, a host, an optional port, and nothing else.
func validOrigin(o string) bool {
	u, ok := parseOrigin(o)
	return ok && (u.Scheme == "http" || u.Scheme == "https")
}

// parseOrigin parses o as scheme://host[:port] and nothing else, whatever
// the scheme.
func parseOrigin(o string) (*url.URL, bool) {
	if o == "" || len(o) > maxOriginLen {
		return nil, false
	}
	u, err := url.Parse(o)
	ok := err == nil && u.Scheme != "" && u.Host != "" && u.User == nil &&
		u.Path == "" && u.RawQuery == "" && !u.ForceQuery && u.Fragment == "" && u.Opaque == "" && !strings.HasSuffix(o, "#")
	return u, ok
}

// notAppOrigin are the schemes whose pages never send an Origin of their
// own form (browsers serialize their origins as "null", or they name no
// application): a TrustedOrigins entry with one of them would never match,
// or would name something else than an application.
var notAppOrigin = []string{"about", "blob", "data", "file", "filesystem", "ftp", "javascript", "ws", "wss"}

// namesDefaultPort reports whether the origin o names its scheme's default
// port ("https://app.example:443"), which browsers leave out of Origin:
// an entry with one would never match.
func namesDefaultPort(o string) bool {
	o = strings.ToLower(o)
	return strings.HasPrefix(o, "https://") && strings.HasSuffix(o, ":443") || strings.HasPrefix(o, "http://") && strings.HasSuffix(o, ":80")
}

// appOrigins checks a list of application origins (Cookies.TrustedOrigins,
// WithCORSOrigins) and returns them lower-cased: at most
// maxTrustedOrigins, each an application's origin (validTrustedOrigin)
// without its scheme's default port. what names the list in errors.
func appOrigins(what string, list []string) ([]string, error) {
	if len(list) > maxTrustedOrigins {
		return nil, invalid("%s: %d origins, at most %d", what, len(list), maxTrustedOrigins)
	}
	out := make([]string, 0, len(list))
	for _, o := range list {
		if !validTrustedOrigin(o) {
			return nil, invalid("%s: %q is not an origin (scheme://host[:port], nothing else)", what, o)
		}
		if namesDefaultPort(o) {
			return nil, invalid("%s: %q names its scheme's default port, which browsers leave out of Origin; write it without", what, o)
		}
		if why := unmatchableOrigin(o); why != "" {
			return nil, invalid("%s: %q %s, so no browser's Origin would ever match it", what, o, why)
		}
		out = append(out, strings.ToLower(o))
	}
	return out, nil
}

// unmatchableOrigin says why the origin o (validTrustedOrigin) is not
// the form a browser sends in Origin, or returns "": a host must be
// ASCII (a browser sends an internationalized name in its punycode form,
// xn--…) without wildcards (Origin names one host), or an IP literal; a
// port, when given, 1 to 65535 written without leading zeros.
func unmatchableOrigin(o string) string {
	u, _ := parseOrigin(o)
	host := u.Hostname()
	if strings.HasPrefix(u.Host, "[") {
		a, err := netip.ParseAddr(host)
		if err != nil || a.Zone() != "" {
			return "has a malformed IP literal"
		}
		// Browsers serialize an IPv6 host compressed and in lower case,
		// an IPv4-mapped one in hex (found by review: [2001:db8:0::1]
		// was accepted and matched nothing).
		canon := a.String()
		if a.Is4In6() {
			b := a.As16()
			canon = fmt.Sprintf("::ffff:%x:%x", uint16(b[12])<<8|uint16(b[13]), uint16(b[14])<<8|uint16(b[15]))
		}
		if strings.ToLower(host) != canon {
			return "writes its IPv6 host as no browser does (write [" + canon + "])"
		}
	} else if looksIPv4(host) {
		// A host whose last label is a number is an IPv4 address to a
		// browser, which sends it in dotted decimal (0x7f.1 is
		// 127.0.0.1).
		if a, err := netip.ParseAddr(host); err != nil || a.String() != host {
			return "writes an IPv4 host as no browser does (write it in dotted decimal without leading zeros)"
		}
	} else {
		for i := 0; i < len(host); i++ {
			c := host[i] | 0x20
			if !('a' <= c && c <= 'z' || '0' <= host[i] && host[i] <= '9' || host[i] == '.' || host[i] == '-' || host[i] == '_') {
				if host[i] >= 0x80 {
					return "has a host that is not ASCII (write an internationalized name in its punycode form, xn--…)"
				}
				return "has a host with a character no host name holds (a wildcard matches nothing: list each origin)"
			}
		}
	}
	if strings.HasSuffix(u.Host, ":") {
		return "ends its host with a colon but names no port"
	}
	if port := u.Port(); port != "" {
		n, err := strconv.Atoi(port)
		if err != nil || n < 1 || n > 65535 || port[0] == '0' {
			return "has a port that is not 1 to 65535 written without leading zeros"
		}
	}
	return ""
}

// looksIPv4 reports whether a browser parses host as an IPv4 address (the
// WHATWG URL rule): its last label, a trailing dot aside, is decimal
// digits or 0x and hex digits.
func looksIPv4(host string) bool {
	host = strings.TrimSuffix(host, ".")
	last := host[strings.LastIndexByte(host, '.')+1:]
	if last == "" {
		return false
	}
	if l := strings.ToLower(last); strings.HasPrefix(l, "0x") {
		return strings.Trim(l[2:], "0123456789abcdef") == ""
	}
	return strings.Trim(last, "0123456789") == ""
}

// validTrustedOrigin reports whether o can be a TrustedOrigins entry: a
// web origin (validOrigin), or the origin of an application a browser
// engine serves under a scheme of its own (a WebView app such as
// "capacitor://localhost", a browser extension such as
// "chrome-extension://<id>"), which sends that scheme in Origin.
func validTrustedOrigin(o string) bool {
	u, ok := parseOrigin(o)
	return ok && !slices.Contains(notAppOrigin, strings.ToLower(u.Scheme))
}

// checkCrossSite refuses (errCrossSite) a token request that a browser
// made from another site, when the token response would set cookies (see
// Cookies): Sec-Fetch-Site other than same-origin, same-site or none or,
// without it, an Origin whose host is not r.Host; an Origin among
// TrustedOrigins is allowed either way. A request with neither header is
// not a browser's and passes. Several values of either header refuse.
// Only the host is compared (not the scheme), since behind a proxy that
// ends TLS the request's own scheme is not known.
func (c *cookieConfig) checkCrossSite(r *http.Request) error {
	sfs, origin := r.Header["Sec-Fetch-Site"], r.Header["Origin"]
	if len(sfs) > 1 || len(origin) > 1 {
		return errCrossSite
	}
	if len(origin) == 1 && len(origin[0]) <= maxOriginLen && slices.Contains(c.trusted, strings.ToLower(origin[0])) {
		return nil
	}
	if len(sfs) == 1 {
		switch strings.ToLower(strings.TrimSpace(sfs[0])) {
		case "same-origin", "same-site", "none":
			return nil
		}
		return errCrossSite
	}
	if len(origin) == 0 {
		return nil
	}
	if !validOrigin(origin[0]) {
		return errCrossSite // "null", or garbage
	}
	u, _ := url.Parse(origin[0])
	if r.Host == "" || !strings.EqualFold(u.Host, r.Host) {
		return errCrossSite
	}
	return nil
}
