package httpauth

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"time"

	"github.com/authkit-go/authkit"
	"github.com/authkit-go/authkit/verifier"
)

// Defaults of the Auth options.
const (
	DefaultRealm      = "authkit"
	DefaultRetryAfter = 5 * time.Second
)

// Auth authenticates requests with a verifier.Verifier and answers the
// failures. Build it with [New]; it is immutable afterwards and safe for
// concurrent use. Its middleware methods have the func(http.Handler)
// http.Handler shape that net/http, chi and most routers use.
type Auth struct {
	v          *verifier.Verifier
	realm      string
	scheme     string
	challenges challenges
	bodies     [rowCount][]byte
	cookies    *cookieConfig
	deny       func(http.ResponseWriter, *http.Request, Denial)
	log        *slog.Logger
	retryAfter string
}

type config struct {
	realm      string
	cookies    *Cookies
	deny       func(http.ResponseWriter, *http.Request, Denial)
	log        *slog.Logger
	retryAfter time.Duration
}

// Option configures an [Auth]. Options apply in order; a later option of
// the same kind replaces an earlier one. An invalid value makes [New] fail
// with an error matching authkit.ErrInvalidConfig.
type Option func(*config) error

func invalid(format string, args ...any) error {
	return fmt.Errorf("httpauth: %w: "+format, append([]any{authkit.ErrInvalidConfig}, args...)...)
}

// WithRealm sets the realm of every challenge. Default "authkit"; 1 to 256
// bytes of printable ASCII. It is sent as a quoted string, '"' and '\'
// escaped.
func WithRealm(realm string) Option {
	return func(c *config) error {
		if realm == "" || len(realm) > 256 {
			return invalid("WithRealm: must be 1 to 256 bytes")
		}
		for i := 0; i < len(realm); i++ {
			if realm[i] < 0x20 || realm[i] > 0x7e {
				return invalid("WithRealm: must be printable ASCII")
			}
		}
		c.realm = realm
		return nil
	}
}

// WithCookies turns on the cookie transport for browsers (see [Cookies] and
// the package documentation's Security section). Default off: credentials
// come from the Authorization header only.
func WithCookies(ck Cookies) Option {
	return func(c *config) error {
		c.cookies = &ck
		return nil
	}
}

// WithDenyHandler sets a hook that writes the body of every denial (for
// instance an HTML page or an application/problem+json document). The
// status, WWW-Authenticate, Retry-After and Cache-Control of the decision
// are set by [Auth.Deny] and re-imposed when the hook writes, whatever the
// hook asks for; if the hook writes nothing, the default JSON body is sent.
// The hook cannot turn a denial into an allow: the protected handler is
// never called. Default: the JSON body {"error","error_description"}.
func WithDenyHandler(h func(w http.ResponseWriter, r *http.Request, d Denial)) Option {
	return func(c *config) error {
		if h == nil {
			return invalid("WithDenyHandler(nil)")
		}
		c.deny = h
		return nil
	}
}

// WithLogger sets the logger for operational messages: store outages and
// unclassified errors at Warn, other denials at Debug. No token, password or
// cookie value is ever logged. Default: nothing is logged.
func WithLogger(l *slog.Logger) Option {
	return func(c *config) error {
		if l == nil {
			return invalid("WithLogger(nil)")
		}
		c.log = l
		return nil
	}
}

// WithRetryAfter sets the Retry-After of 503 responses (a store could not be
// reached). Default 5 seconds; from 1 second to 1 hour, sent in whole
// seconds rounded up.
func WithRetryAfter(d time.Duration) Option {
	return func(c *config) error {
		if d < time.Second || d > time.Hour {
			return invalid("WithRetryAfter(%v): must be between 1s and 1h", d)
		}
		c.retryAfter = d
		return nil
	}
}

// New returns an Auth that authenticates with v. Every error matches
// authkit.ErrInvalidConfig.
func New(v *verifier.Verifier, opts ...Option) (*Auth, error) {
	if v == nil || len(v.Schemes()) == 0 {
		return nil, invalid("New: nil or unconfigured verifier (use verifier.New)")
	}
	c := config{realm: DefaultRealm, retryAfter: DefaultRetryAfter}
	for _, o := range opts {
		if o == nil {
			return nil, invalid("nil Option")
		}
		if err := o(&c); err != nil {
			return nil, err
		}
	}
	a := &Auth{
		v:          v,
		realm:      c.realm,
		scheme:     v.Schemes()[0],
		deny:       c.deny,
		log:        c.log,
		retryAfter: strconv.FormatInt(int64((c.retryAfter+time.Second-1)/time.Second), 10),
	}
	if a.log == nil {
		a.log = slog.New(slog.DiscardHandler)
	}
	if c.cookies != nil {
		ck, err := resolveCookies(*c.cookies)
		if err != nil {
			return nil, err
		}
		a.cookies = ck
	}
	a.challenges = makeChallenges(a.scheme, a.realm)
	for i, row := range denials {
		b, err := json.Marshal(errorBody{Error: row.code, Description: row.desc})
		if err != nil {
			return nil, fmt.Errorf("httpauth: %w", err)
		}
		a.bodies[i] = b
	}
	return a, nil
}

// errorBody is the JSON body of every error response (RFC 6749 §5.2 and
// RFC 6750 §3 members).
type errorBody struct {
	Error       string `json:"error"`
	Description string `json:"error_description,omitempty"`
}

// Authenticate finds and verifies the request's credential: the
// Authorization header first (verifier.Verifier.Authenticate, with its
// schemes in order), then, with cookies enabled and only when the header
// carries no credential of ours, the access cookie — for an unsafe method
// only together with a CSRF header equal to the CSRF cookie ([ErrCSRF]).
// The URL is never read: a token in the query string is ignored (RFC 9700
// §4.3.2). Errors match the authkit sentinels or ErrCSRF.
func (a *Auth) Authenticate(r *http.Request) (*authkit.Principal, error) {
	p, err := a.v.Authenticate(r)
	if err != nil {
		if a.cookies != nil && errors.Is(err, authkit.ErrNoCredentials) {
			return a.fromCookie(r)
		}
		return nil, err
	}
	if p == nil {
		return nil, authkit.ErrInvalidToken // a verifier bug must not let a request through
	}
	return p, nil
}

// Require authenticates every request. A request without a credential, or
// whose credential does not verify, gets the RFC 6750 answer from
// [Auth.Deny] and never reaches next; otherwise next runs with the
// principal in the request context ([authkit.PrincipalFrom]).
func (a *Auth) Require(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p, err := a.Authenticate(r)
		if err != nil {
			a.Deny(w, r, err)
			return
		}
		next.ServeHTTP(w, r.WithContext(authkit.WithPrincipal(r.Context(), p)))
	})
}

// Optional admits anonymous requests: a request that presents no credential
// reaches next without a principal. A credential that is present but
// invalid is still denied — never downgraded to anonymous — as is a store
// outage (503) and a cookie request that fails the CSRF check (Django REST
// framework behaves the same way).
func (a *Auth) Optional(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p, err := a.Authenticate(r)
		if err != nil {
			if rowOf(err) == rowNoCredentials {
				next.ServeHTTP(w, r)
				return
			}
			a.Deny(w, r, err)
			return
		}
		next.ServeHTTP(w, r.WithContext(authkit.WithPrincipal(r.Context(), p)))
	})
}

// RequireScopes returns middleware that admits a principal holding every
// one of scopes, and denies others with 403 insufficient_scope naming the
// scopes (RFC 6750 §3.1). It uses the principal already in the context (set
// by Require or Optional) and otherwise authenticates the request itself,
// as Require does. With no scopes it only authenticates. A scope that is
// not a valid scope token can never be held, so it always denies.
func (a *Auth) RequireScopes(scopes ...string) func(http.Handler) http.Handler {
	need := append([]string(nil), scopes...)
	return a.scopeMiddleware(need, func(p *authkit.Principal) bool {
		for _, s := range need {
			if !p.HasScope(s) {
				return false
			}
		}
		return true
	})
}

// RequireAnyScope is RequireScopes admitting a principal that holds at
// least one of scopes; the 403 challenge lists them all. With no scopes it
// denies every request.
func (a *Auth) RequireAnyScope(scopes ...string) func(http.Handler) http.Handler {
	need := append([]string(nil), scopes...)
	return a.scopeMiddleware(need, func(p *authkit.Principal) bool {
		for _, s := range need {
			if p.HasScope(s) {
				return true
			}
		}
		return false
	})
}

func (a *Auth) scopeMiddleware(need []string, ok func(*authkit.Principal) bool) func(http.Handler) http.Handler {
	scopeErr := &ScopeError{Scopes: need}
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			p, found := authkit.PrincipalFrom(r.Context())
			if !found {
				var err error
				if p, err = a.Authenticate(r); err != nil {
					a.Deny(w, r, err)
					return
				}
				r = r.WithContext(authkit.WithPrincipal(r.Context(), p))
			}
			if !ok(p) {
				a.Deny(w, r, scopeErr)
				return
			}
			next.ServeHTTP(w, r)
		})
	}
}

// isUnavailable reports whether err means "could not tell" (a store or the
// request's context), which answers 503 rather than a refusal.
func isUnavailable(err error) bool {
	return errors.Is(err, authkit.ErrStoreUnavailable) || errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled)
}
