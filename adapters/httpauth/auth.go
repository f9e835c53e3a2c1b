package httpauth

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/netip"
	"slices"
	"strconv"
	"time"

	"github.com/authkit-go/authkit"
	"github.com/authkit-go/authkit/backends/memory"
	"github.com/authkit-go/authkit/internal/nilness"
	"github.com/authkit-go/authkit/internal/pace"
	"github.com/authkit-go/authkit/internal/storecall"
	"github.com/authkit-go/authkit/issuer"
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
	challenges challenges
	bodies     [rowCount][]byte
	cookies    *cookieConfig
	deny       func(http.ResponseWriter, *http.Request, Denial)
	log        *slog.Logger
	retryAfter string
	guard      *guard
	thrStore   authkit.ThrottleStore
	thrShared  bool           // thrStore was given or is the verifier's: other processes may count in it
	thrPolicy  ThrottlePolicy // WithThrottlePolicy's, for the deprecated WithThrottle
	clientAddr func(*http.Request) netip.Addr
	now        func() time.Time
	hook       func(context.Context, authkit.Event)
	basic      bool
	outages    *pace.Pacer // of "authentication unavailable" warnings
}

type config struct {
	realm      string
	cookies    *Cookies
	deny       func(http.ResponseWriter, *http.Request, Denial)
	log        *slog.Logger
	retryAfter time.Duration
	thrStore   authkit.ThrottleStore
	policy     ThrottlePolicy
	trusted    []netip.Prefix
	trustUnix  bool // WithTrustedUnixProxy
	now        func() time.Time
	hook       func(context.Context, authkit.Event)
	iss        *issuer.Issuer // WithIssuer: the pair New checks
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

// WithIssuer names the issuer whose tokens the Auth's verifier checks, for
// an application that mints them itself (its own login handler calling
// issuer.IssuePair) rather than through [NewHandler]. [New] then refuses
// the mistakes that would otherwise show only as tokens that never stop
// working, or never work: an issuer that records revocations while the
// verifier checks none, the issuer and the verifier given two different
// in-process stores (memory.New() called twice: every logout would report
// success and change nothing), or two identifiers or key sets. NewHandler
// makes the same checks. It adds nothing to requests.
func WithIssuer(iss *issuer.Issuer) Option {
	return func(c *config) error {
		if iss == nil {
			return invalid("WithIssuer: nil issuer")
		}
		c.iss = iss
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
		if l.Handler() == nil { // new(slog.Logger) panics at its first record
			return invalid("WithLogger of a zero slog.Logger (make it with slog.New)")
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

// WithThrottleStore sets where failed password attempts are counted (Basic
// credentials here, and the password grant of a [Handler] built on this
// Auth). Default: the verifier's store (authkit.WithStore or
// WithRevocationStore, as verifier.Verifier.RevocationStore returns it)
// when it implements authkit.ThrottleStore, as the SQL and Redis stores
// do, so that every replica sharing it shares one budget; otherwise
// memory.NewThrottle(), counters in this process only (N replicas then
// allow N times the attempts). Pass memory.NewThrottle() to keep the
// counters in the process although the store could hold them.
func WithThrottleStore(s authkit.ThrottleStore) Option {
	return func(c *config) error {
		if nilness.Is(s) {
			return invalid("WithThrottleStore: the store is nil (%T)", s)
		}
		c.thrStore = s
		return nil
	}
}

// WithThrottlePolicy sets how failed password attempts are throttled (see
// [ThrottlePolicy]). Default [DefaultThrottlePolicy]. Each rule's Free from
// 0 to 1,000,000, Window from 1s to 24h, Base from 1ms to Max, Max at most
// 24h.
func WithThrottlePolicy(p ThrottlePolicy) Option {
	return func(c *config) error {
		if err := checkPolicy(p); err != nil {
			return err
		}
		c.policy = p
		return nil
	}
}

// WithTrustedProxies names the reverse proxies whose X-Forwarded-For is
// believed, for throttling and for the session's recorded address. When
// r.RemoteAddr lies in one of prefixes, X-Forwarded-For is read from the
// right and the first address outside prefixes is the client's; anything
// further left is the client's own claim and is ignored. The proxies must
// append the address they received the request from to X-Forwarded-For.
// Default: none; the client address is r.RemoteAddr and forwarding headers
// (X-Forwarded-For, Forwarded) are ignored, since any client can send them.
// At most 256 prefixes; one wider than MinTrustedProxyBits (an IPv4 /8, an
// IPv6 /7) is refused, since a few such prefixes together trust every
// address. Name the proxies' own addresses, not the network they sit in: a
// client inside a trusted prefix can write the address it is counted under.
func WithTrustedProxies(prefixes ...netip.Prefix) Option {
	ps := append([]netip.Prefix(nil), prefixes...)
	return func(c *config) error {
		if len(ps) > 256 {
			return invalid("WithTrustedProxies: more than 256 prefixes")
		}
		for i, p := range ps {
			if !p.IsValid() {
				return invalid("WithTrustedProxies: invalid prefix %v", p)
			}
			if p.Addr().Is4In6() {
				if p.Bits() < 96 {
					// It would be widened to 0.0.0.0/0 (found by review).
					return invalid("WithTrustedProxies: %v is an IPv4-mapped prefix shorter than /96", p)
				}
				p = netip.PrefixFrom(p.Addr().Unmap(), p.Bits()-96)
			}
			if p.Bits() < MinTrustedProxyBits(p.Addr()) {
				// Every client could then write its own address (found
				// by review; serve --trusted-proxies refused it already),
				// or, with two halves of the space (0.0.0.0/1 and
				// 128.0.0.0/1), every client again.
				return invalid("WithTrustedProxies: %v is wider than /%d: name the proxies' own addresses", p, MinTrustedProxyBits(p.Addr()))
			}
			ps[i] = p.Masked()
		}
		c.trusted = ps
		return nil
	}
}

// MinTrustedProxyBits is the shortest prefix WithTrustedProxies accepts for
// a's family: 8 for IPv4 (10.0.0.0/8, the widest private range) and 7 for
// IPv6 (fc00::/7, unique local addresses). No proxy set needs wider ones,
// and two /1s would trust every address as surely as a /0.
func MinTrustedProxyBits(a netip.Addr) int {
	if a.Is4() {
		return 8
	}
	return 7
}

// ClientAddr returns the client address a uses for r: the address the
// login throttle counts and sessions record. It is r.RemoteAddr or, from
// a trusted proxy (WithTrustedProxies, WithTrustedUnixProxy), the
// X-Forwarded-For hop those options pick; the zero Addr when it cannot be
// told. For an application's own logs and rate limits, so that they name
// the client as authkit does.
func (a *Auth) ClientAddr(r *http.Request) netip.Addr {
	return a.clientAddr(r)
}

// WithTrustedUnixProxy says the server listens on a Unix socket behind a
// reverse proxy: a request whose r.RemoteAddr is not an IP address (net/http
// gives "@" or "" for a Unix socket peer) comes from the trusted proxy, and
// its X-Forwarded-For is read as for WithTrustedProxies (from the right, the
// first address outside those prefixes is the client's). Without it every
// client of such a server shares one address, and one guesser's failures
// slow every user down. Default off. Do not set it where anyone but the
// proxy can reach the socket.
func WithTrustedUnixProxy() Option {
	return func(c *config) error {
		c.trustUnix = true
		return nil
	}
}

// WithEventHook sets a function told about password attempts: a refused
// password (authkit.EventLoginFailed) and an attempt refused by the
// throttle (authkit.EventThrottled), with the user name as given (at most
// 256 bytes) as Subject and the method (authkit.MethodBasic or
// MethodPassword); never the password. It is called synchronously: keep it
// fast. Pass the same hook as authkit.WithEventHook to see everything.
// Default: none.
func WithEventHook(hook func(context.Context, authkit.Event)) Option {
	return func(c *config) error {
		if hook == nil {
			return invalid("WithEventHook(nil)")
		}
		c.hook = hook
		return nil
	}
}

// WithThrottleClock sets the time source of the throttle for Basic
// credentials, of the expiry read from an access cookie ([Cookies]), and
// of the pacing of the warnings logged when requests are refused because
// a store cannot answer (one per second at most, saying
// how many it stands for). Default time.Now. Meant for tests (the Handler
// has its own, WithClock).
func WithThrottleClock(now func() time.Time) Option {
	return func(c *config) error {
		if now == nil {
			return invalid("WithThrottleClock(nil)")
		}
		c.now = now
		return nil
	}
}

// New returns an Auth that authenticates with v. Every error matches
// authkit.ErrInvalidConfig.
func New(v *verifier.Verifier, opts ...Option) (*Auth, error) {
	if v == nil || len(v.Schemes()) == 0 {
		return nil, invalid("New: nil or unconfigured verifier (use verifier.New)")
	}
	c := config{realm: DefaultRealm, retryAfter: DefaultRetryAfter, policy: DefaultThrottlePolicy(), now: time.Now}
	for _, o := range opts {
		if o == nil {
			return nil, invalid("nil Option")
		}
		if err := o(&c); err != nil {
			return nil, err
		}
	}
	if c.iss != nil {
		_, revocations, _ := c.iss.Stores()
		if err := checkPair("New", c.iss, v, revocations); err != nil {
			return nil, err
		}
	}
	a := &Auth{
		v:          v,
		realm:      c.realm,
		deny:       c.deny,
		log:        c.log,
		retryAfter: strconv.FormatInt(int64((c.retryAfter+time.Second-1)/time.Second), 10),
	}
	if a.log == nil {
		a.log = slog.New(slog.DiscardHandler)
	}
	a.thrStore, a.thrPolicy, a.now, a.hook = c.thrStore, c.policy, c.now, c.hook
	a.outages = pace.New(outageLogInterval)
	shared := a.thrStore != nil
	if a.thrStore == nil {
		// The shared store by default (found by an adoption test: two
		// replicas on one database each gave a user's attempts in full,
		// the option to share them being easy to miss).
		if ts, ok := v.RevocationStore().(authkit.ThrottleStore); ok && !nilness.Is(ts) {
			a.thrStore, shared = ts, true
		} else {
			a.thrStore = memory.NewThrottle()
			rs := v.RevocationStore()
			if ip, ok := rs.(authkit.InProcessStore); rs != nil && !nilness.Is(rs) && (!ok || !ip.InProcess()) {
				// A store shared by replicas without shared counters (a
				// decorator that embeds authkit.Store hides them: found by
				// review) gives each replica a budget of its own.
				a.log.Warn("httpauth: the verifier's store keeps no shared throttle counters (it is not an authkit.ThrottleStore; a decorator that embeds authkit.Store hides them): failed passwords are counted per process, so N replicas give a guesser N times the attempts; pass httpauth.WithThrottleStore, or forward the wrapped store's")
			}
		}
	}
	// Every call of the throttle store under the verifier's store deadline:
	// a stalled store answers 503, as the others do, instead of holding
	// the request (found by review).
	timeout := v.StoreTimeout()
	if timeout <= 0 {
		timeout = authkit.DefaultStoreTimeout
	}
	a.thrStore = storecall.BoundThrottle(a.thrStore, storecall.New(timeout))
	a.clientAddr = clientAddrFunc(c.trusted, c.trustUnix)
	a.basic = slices.Contains(v.Schemes(), authkit.SchemeBasic)
	a.thrShared = shared
	g, err := newGuard(a.thrStore, a.thrShared, c.policy, a.hook, a.log)
	if err != nil {
		return nil, err
	}
	a.guard = g
	if c.cookies != nil {
		ck, err := resolveCookies(*c.cookies)
		if err != nil {
			return nil, err
		}
		a.cookies = ck
	}
	a.challenges = makeChallenges(v.Schemes(), a.realm)
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
	if a.basic {
		if user, ok := basicUser(r); ok {
			return a.authenticateBasic(r, user)
		}
	}
	return a.authenticate(r)
}

// authenticateBasic checks Basic credentials under the throttle: refused
// unchecked (ErrThrottled) while the user, the client address or the pair
// waits, or when the throttle store cannot answer (fail closed); a refused
// password counts a failure, the right one clears no count.
func (a *Auth) authenticateBasic(r *http.Request, user string) (*authkit.Principal, error) {
	ctx := r.Context()
	addr, now := a.clientAddr(r), a.now()
	done, decision, err := a.guard.check(ctx, user, addr, now, authkit.MethodBasic)
	if err != nil {
		return nil, err
	}
	defer done()
	p, err := a.authenticate(r)
	switch {
	case err == nil:
		a.guard.success(ctx, user, addr, now, decision)
	case isUnavailable(err), errors.Is(err, authkit.ErrInvalidRequest):
		// Not judged: nothing to count.
	default:
		// The failure counts from when it is known, not from the check: a
		// slow password hash must not eat into the wait it starts.
		a.guard.failure(ctx, user, addr, a.now(), authkit.MethodBasic, failReason(err))
	}
	return p, err
}

func (a *Auth) authenticate(r *http.Request) (*authkit.Principal, error) {
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
// principal in the request context ([authkit.PrincipalFrom]). Require,
// Optional, RequireScopes and RequireAnyScope panic when they are called on
// a nil or zero Auth (one New did not make), so that the mistake shows as
// the routes are set up.
func (a *Auth) Require(next http.Handler) http.Handler {
	a.mustBeMade("Require")
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p, err := a.Authenticate(r)
		if err != nil {
			a.Deny(w, r, err)
			return
		}
		next.ServeHTTP(w, r.WithContext(a.withPrincipal(r.Context(), p)))
	})
}

// Optional admits anonymous requests: a request that presents no credential
// reaches next without a principal. A credential that is present but
// invalid is still denied — never downgraded to anonymous — as is a store
// outage (503) and a cookie request that fails the CSRF check (Django REST
// framework behaves the same way). One exception: an access cookie
// ([WithCookies]) whose token has expired counts as no credential, since
// the cookie outlives its token by design (browsers used to drop it).
func (a *Auth) Optional(next http.Handler) http.Handler {
	a.mustBeMade("Optional")
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p, err := a.Authenticate(r)
		if err != nil {
			if _, expired := errors.AsType[*expiredCookieError](err); expired || rowOf(err) == rowNoCredentials {
				next.ServeHTTP(w, r)
				return
			}
			a.Deny(w, r, err)
			return
		}
		next.ServeHTTP(w, r.WithContext(a.withPrincipal(r.Context(), p)))
	})
}

// RequireScopes returns middleware that admits a principal holding every
// one of scopes, and denies others with 403 insufficient_scope naming the
// scopes (RFC 6750 §3.1). It uses the principal already in the context (set
// by this Auth's Require or Optional) and otherwise authenticates the
// request itself, as Require does: a principal that another Auth, or the
// application with authkit.WithPrincipal, put in the context is not
// reused. With no scopes it only authenticates. A scope that is
// not a valid scope token ("orders write", "") can never be held, so it
// always denies; RequireScopes logs an error naming it when it is called.
func (a *Auth) RequireScopes(scopes ...string) func(http.Handler) http.Handler {
	a.mustBeMade("RequireScopes")
	need := append([]string(nil), scopes...)
	a.checkScopes("RequireScopes", need)
	// A scope no token can hold is held by none, whatever a principal's
	// list says (found by review: a Basic check's [""] held "").
	valid := !slices.ContainsFunc(need, func(s string) bool { return !authkit.ValidScope(s) })
	return a.scopeMiddleware(need, func(p *authkit.Principal) bool {
		if !valid {
			return false
		}
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
// denies every request (and logs an error saying so when it is called).
func (a *Auth) RequireAnyScope(scopes ...string) func(http.Handler) http.Handler {
	a.mustBeMade("RequireAnyScope")
	need := append([]string(nil), scopes...)
	a.checkScopes("RequireAnyScope", need)
	if len(need) == 0 {
		a.log.Error("authkit: RequireAnyScope() with no scopes denies every request")
	}
	holdable := slices.DeleteFunc(slices.Clone(need), func(s string) bool { return !authkit.ValidScope(s) })
	return a.scopeMiddleware(need, func(p *authkit.Principal) bool {
		for _, s := range holdable {
			if p.HasScope(s) {
				return true
			}
		}
		return false
	})
}

// checkScopes logs an error for each scope a route requires that no
// token can hold: the route would deny every request, which is otherwise
// only seen as 403s.
// mustBeMade panics, naming method, when a is nil or was not made by New
// (the error of New ignored, or a zero Auth): every request through its
// middleware would crash. It runs when the middleware is set up, so that
// the mistake shows when the routes are built rather than at the first
// request (found by review).
func (a *Auth) mustBeMade(method string) {
	if a == nil || a.v == nil {
		panic("httpauth: " + method + " of a nil or zero *httpauth.Auth: make it with httpauth.New and check its error")
	}
}

func (a *Auth) checkScopes(method string, scopes []string) {
	for _, s := range scopes {
		if !authkit.ValidScope(s) {
			a.log.Error("authkit: "+method+" names a scope no token can hold (a scope is one RFC 6749 token: no spaces, quotes or backslashes, 1 to 128 bytes); the route denies every request",
				"scope", strconv.Quote(s))
		}
	}
}

// authedBy{a} keys the principal a authenticated (a pointer-shaped key:
// storing it allocates nothing beyond the context value).
type authedBy struct{ a *Auth }

// withPrincipal returns ctx carrying p, as authenticated by a.
func (a *Auth) withPrincipal(ctx context.Context, p *authkit.Principal) context.Context {
	return context.WithValue(authkit.WithPrincipal(ctx, p), authedBy{a}, p)
}

// principalFrom returns the principal in ctx if a authenticated it
// (Require, Optional, a scope check of a's, or one of a Handler's
// endpoints over a). A principal that another Auth or the application
// put there is not a's to vouch for, even on top of one a did (found by
// review: Optional of one Auth in front of RequireScopes of another
// admitted the first one's tokens on the second one's routes).
func (a *Auth) principalFrom(ctx context.Context) (*authkit.Principal, bool) {
	p, found := authkit.PrincipalFrom(ctx)
	if !found {
		return nil, false
	}
	if vouched, _ := ctx.Value(authedBy{a}).(*authkit.Principal); vouched != p {
		return nil, false
	}
	return p, true
}

func (a *Auth) scopeMiddleware(need []string, ok func(*authkit.Principal) bool) func(http.Handler) http.Handler {
	scopeErr := &ScopeError{Scopes: need}
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			p, found := a.principalFrom(r.Context())
			if !found {
				var err error
				if p, err = a.Authenticate(r); err != nil {
					a.Deny(w, r, err)
					return
				}
				r = r.WithContext(a.withPrincipal(r.Context(), p))
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
