package httpauth

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/netip"
	"net/url"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/authkit-go/authkit"
	"github.com/authkit-go/authkit/internal/pace"
	"github.com/authkit-go/authkit/internal/storecall"
	"github.com/authkit-go/authkit/issuer"
	"github.com/authkit-go/authkit/verifier"
)

// Defaults of the Handler options.
const (
	DefaultMaxBodyBytes = 64 << 10
	DefaultJWKSMaxAge   = 5 * time.Minute
	// IntrospectScope is the scope the default introspection rule requires
	// of the caller.
	IntrospectScope = "introspect"
)

// Paths names where each endpoint is served. An empty path disables that
// endpoint. Paths start with "/", differ from each other, and none lies
// under the Sessions or APITokens path (whose items are Path+"/{id}").
// They are clean paths of visible ASCII without the characters routers
// read as patterns or that a URL escapes ('"', '%', '*', ':', ';', ',',
// '?', '#', '{', '}', '\'): the adapters register them as routes, and a
// ':' would be a wildcard on gin and echo.
type Paths struct {
	Token      string // POST: RFC 6749 token endpoint (password, refresh_token and, with WithClientStore, client_credentials and authorization_code grants)
	Authorize  string // GET, POST: RFC 6749 authorization endpoint, served only with WithAuthorizationCode
	Revoke     string // POST: RFC 7009 revocation
	Introspect string // POST: RFC 7662 introspection
	JWKS       string // GET: the public keys (RFC 7517)
	LogoutAll  string // POST: end every session of the caller
	Sessions   string // GET: the caller's sessions; GET Sessions+"/{id}": one of them; DELETE Sessions+"/{id}": end one
	APITokens  string // GET: list, POST: create; DELETE APITokens+"/{id}": revoke
}

// DefaultPaths returns the default endpoint paths: /token, /authorize
// (served only with WithAuthorizationCode), /revoke, /introspect,
// /.well-known/jwks.json, /logout-all, /sessions and /api-tokens. Change fields of the result and pass it to WithPaths.
func DefaultPaths() Paths {
	return Paths{
		Token:      "/token",
		Authorize:  "/authorize",
		Revoke:     "/revoke",
		Introspect: "/introspect",
		JWKS:       "/.well-known/jwks.json",
		LogoutAll:  "/logout-all",
		Sessions:   "/sessions",
		APITokens:  "/api-tokens",
	}
}

// Route is one endpoint, for mounting natively in a router: Method is an
// HTTP method and Path a pattern in which "{id}" stands for one path
// segment. Handler is complete — authentication included — and reads the
// id from the last segment of r.URL.Path, so it works under any prefix.
type Route struct {
	Method  string
	Path    string
	Handler http.Handler
}

// Handler serves the authkit endpoints (see the package documentation).
// Build it with [NewHandler] and mount it as one http.Handler, or mount
// each of [Handler.Routes]. It is immutable after NewHandler and safe for
// concurrent use.
type Handler struct {
	// codeWaits holds the hashes of the authorization codes a second use
	// is waiting on (awaitCodeSession), one wait per code.
	codeWaits sync.Map

	iss      *issuer.Issuer
	auth     *Auth
	paths    Paths
	password func(ctx context.Context, username, password string) (string, error)
	// noPasswordGrant: WithoutPasswordGrant.
	noPasswordGrant bool
	scopes          func(ctx context.Context, subject string, requested []string) ([]string, error)
	introspect      func(*authkit.Principal) bool
	introDeny       error
	guard           *guard
	clientAddr      func(*http.Request) netip.Addr
	maxBody         int64
	jwksCache       string
	now             func() time.Time
	refreshPath     string
	// fixedRefreshPath: Cookies.RefreshPath was given; otherwise
	// refreshPath is under the prefix each request arrived with
	// (refreshCookiePath).
	fixedRefreshPath bool
	log              *slog.Logger
	outages          *pace.Pacer // of "store unavailable" warnings
	// clients is nil unless WithClientStore turned client authentication
	// on; clientChallenge is its invalid_client challenge.
	clients         authkit.ClientStore
	clientChallenge string
	// clientSt is the private_key_jwt state (set with clients).
	clientSt *clientState
	// authorize is the WithAuthorizationCode login-and-consent handler
	// (nil: the authorization-code grant is off).
	authorize http.Handler
	// login is the WithPasswordLogin hook (nil with WithPasswordGrant,
	// whose checker is password); allowed is the WithAllowedScopes list
	// (nil under a WithScopePolicy policy) that bounds a login's scopes.
	login           func(ctx context.Context, username, password string) (Login, error)
	allowed         []string
	customPolicy    bool
	refreshCheck    func(ctx context.Context, s authkit.Session) ([]string, error)
	corsOrigins     []string // WithCORSOrigins, lower case
	logoutAPITokens bool
	// accountClients: WithAccountClients (see accountClient).
	accountClients []string
	// endpointAud: WithEndpointAssertionAudiences (see assertionAudiences).
	endpointAud bool

	routes []Route
	exact  map[string]*endpoint
	items  []item
	// warnedMount: the "mounted under an unstripped prefix?" warning has
	// been logged (once per Handler).
	warnedMount atomic.Bool
}

type endpoint struct {
	methods map[string]http.Handler
	allow   string
}

type item struct {
	prefix string // collection path + "/"
	ep     *endpoint
}

// checkPair refuses an issuer and a verifier that would not work together:
// revocations the issuer records that the verifier never checks (when
// revoking matters: needRevocation), two different in-process stores
// (the issuer's revocations would never reach the verifier), or two
// identifiers or key sets (every token the issuer mints refused). who
// names the caller in the error.
func checkPair(who string, iss *issuer.Issuer, v *verifier.Verifier, needRevocation bool) error {
	if needRevocation && !v.ChecksRevocation() {
		return invalid("%s: the issuer records revocations but the verifier does not check them, so a revoked token (logout, /revoke, /logout-all, /sessions) would go on working: give verifier.New the same store (authkit.WithStore or WithRevocationStore, optionally with WithRevocationMirror), or give the issuer no revocation store (WithRefreshStore and WithAPITokenStore instead of WithStore) to keep access tokens valid until they expire", who)
	}
	if a, b := iss.RevocationStore(), v.RevocationStore(); a != nil && b != nil && storecall.InProcess(a) && storecall.InProcess(b) && separateStores(a, b) {
		return invalid("%s: the issuer and the verifier were given two different in-process stores (%T and %T): the revocations the issuer records would never reach the verifier, so a logout would answer success and leave tokens working; give both the same store value (call memory.New() once)", who, a, b)
	}
	// An issuer and a verifier given two identifiers or two key sets
	// would answer 401 to every token the issuer mints.
	if err := v.CheckIssuer(iss.ID(), iss.Keys().Active()); err != nil {
		return invalid("%s: the verifier would refuse every access token the issuer mints (%v): give verifier.New the issuer's identifier (authkit.WithIssuer) and its key set (authkit.WithKeys with the same set, or a set of its public keys)", who, err)
	}
	return nil
}

// separateStores reports whether revocations written through a are not
// seen through b, two in-process stores. The same value is the same
// store; other values (a store behind a wrapper) are asked: a probe
// token, unique to this call, is revoked through a until a hundred years
// from now (a store that has seen a later time through a test clock must
// not sweep it at once), and b is asked about it. A store that fails, or
// answers "revoked" for any reason, is taken to be shared: the check is a
// guard against a common mistake (memory.New() written twice), not a
// proof, and must not refuse a store behind a wrapper.
func separateStores(a, b authkit.RevocationStore) bool {
	if same(a, b) {
		return false
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	subject, now := "authkit:newhandler-probe:"+rand.Text(), time.Now()
	if err := a.RevokeToken(ctx, subject, "probe", now.AddDate(100, 0, 0)); err != nil {
		return false
	}
	dead, err := b.IsRevoked(ctx, authkit.RevocationQuery{TokenID: "probe", Subject: subject, IssuedAt: now}, now)
	return err == nil && !dead
}

// same reports whether a and b are the same comparable value.
func same(a, b authkit.RevocationStore) (eq bool) {
	defer func() {
		if recover() != nil { // a comparable type holding a value that is not
			eq = false
		}
	}()
	ta := reflect.TypeOf(a)
	return ta == reflect.TypeOf(b) && ta.Comparable() && a == b
}

type handlerConfig struct {
	paths           Paths
	password        func(ctx context.Context, username, password string) (string, error)
	noPasswordGrant bool // WithoutPasswordGrant
	scopes          func(ctx context.Context, subject string, requested []string) ([]string, error)
	introspect      func(*authkit.Principal) bool
	customRule      bool
	userAttempts    int
	addrAttempts    int
	window          time.Duration
	clientIP        func(*http.Request) string
	maxBody         int64
	jwksMaxAge      time.Duration
	now             func() time.Time
	clients         authkit.ClientStore
	authorize       http.Handler
	// Login hooks (login.go).
	login           func(ctx context.Context, username, password string) (Login, error)
	allowed         []string
	customPolicy    bool
	refreshCheck    func(ctx context.Context, s authkit.Session) ([]string, error)
	logoutAPITokens bool
	accountClients  []string
	endpointAud     bool
	corsOrigins     []string // WithCORSOrigins, lower case
}

// HandlerOption configures a [Handler]. Options apply in order; a later
// option of the same kind replaces an earlier one. An invalid value makes
// [NewHandler] fail with an error matching authkit.ErrInvalidConfig.
type HandlerOption func(*handlerConfig) error

// WithPasswordGrant enables grant_type=password (RFC 6749 §4.3), for
// first-party login only. check returns the subject for a valid username
// and password. It should take as long for an unknown user as for a wrong
// password (compare against a dummy hash) so that timing does not reveal
// which users exist; passwords.Users.Check does. An error matching
// authkit.ErrStoreUnavailable (or a context error) answers 503 and does not
// count as a failed attempt; one matching authkit.ErrInvalidConfig (the
// checker cannot work, e.g. a nil table) answers 500 server_error, is
// logged and does not count either; any other error refuses the login (400 invalid_grant), counts against the
// throttle (see WithThrottlePolicy) and is reported as
// authkit.EventLoginFailed, whose Err is authkit.ErrNotFound when the error
// matches it (an unknown user) and authkit.ErrInvalidToken otherwise (the
// checker's own error is never passed on). Default: the password grant is disabled
// (unsupported_grant_type).
func WithPasswordGrant(check func(ctx context.Context, username, password string) (subject string, err error)) HandlerOption {
	return func(c *handlerConfig) error {
		if check == nil {
			return invalid("WithPasswordGrant(nil)")
		}
		c.password, c.login = check, nil
		return nil
	}
}

// WithoutPasswordGrant keeps the password check of WithPasswordGrant or
// WithPasswordLogin for the login page alone (AuthorizationRequest's
// CheckPassword, with the same throttle) and turns grant_type=password off
// at the token endpoint: it answers unsupported_grant_type, and the
// metadata does not list it. An authorization server for other parties'
// applications wants this: a user then types a password only into the
// server's own page, and an application that holds a user's password
// cannot skip the authorization request and its consent (found by review:
// the oauthlogin example accepted the password grant from anyone).
func WithoutPasswordGrant() HandlerOption {
	return func(c *handlerConfig) error {
		c.noPasswordGrant = true
		return nil
	}
}

// WithScopePolicy sets which scopes a password login is granted. policy
// receives the authenticated subject and the scopes the client asked for
// (nil when none; RFC 6749 §3.3) and returns the scopes to grant, which may
// differ from those requested (the response's scope member says which were
// granted; none of them, for a request that named some, is answered
// invalid_scope, as the scope member cannot say "none"). An error matching authkit.ErrInsufficientScope answers 400
// invalid_scope; one matching authkit.ErrStoreUnavailable answers 503; any
// other answers 500. Default (and WithAllowedScopes with no scopes): no
// scope is grantable, so a request naming one is invalid_scope and a
// request naming none gets a token without scopes. Password grant only: a
// refresh keeps its session's scopes or narrows them.
func WithScopePolicy(policy func(ctx context.Context, subject string, requested []string) ([]string, error)) HandlerOption {
	return func(c *handlerConfig) error {
		if policy == nil {
			return invalid("WithScopePolicy(nil)")
		}
		c.scopes, c.allowed, c.customPolicy = policy, nil, true
		return nil
	}
}

// WithAllowedScopes is a scope policy (see WithScopePolicy) that grants
// every user exactly the requested scopes when all of them are in allowed,
// answers invalid_scope when one is not, and grants no scope when none is
// requested (least privilege; use WithScopePolicy for a default set).
func WithAllowedScopes(allowed ...string) HandlerOption {
	allowed = append([]string(nil), allowed...)
	return func(c *handlerConfig) error {
		for _, s := range allowed {
			if !validScope(s) {
				return invalid("WithAllowedScopes: %q is not an RFC 6749 scope token", s)
			}
		}
		c.scopes, c.allowed, c.customPolicy = allowedScopes(allowed), allowed, false
		return nil
	}
}

func allowedScopes(allowed []string) func(context.Context, string, []string) ([]string, error) {
	return func(_ context.Context, _ string, requested []string) ([]string, error) {
		for _, r := range requested {
			found := false
			for _, a := range allowed {
				if r == a {
					found = true
					break
				}
			}
			if !found {
				return nil, authkit.ErrInsufficientScope
			}
		}
		return requested, nil
	}
}

// WithPaths sets the endpoint paths (start from DefaultPaths). An empty
// path disables its endpoint.
func WithPaths(p Paths) HandlerOption {
	return func(c *handlerConfig) error {
		c.paths = p
		return nil
	}
}

// WithIntrospectionRule sets who may call the introspection endpoint: rule
// receives the authenticated caller and reports whether it may introspect
// tokens; a refused caller gets 403 insufficient_scope (403
// unauthorized_client, without a Bearer challenge, for an authenticated
// client of WithClientStore, which sent no access token). Default: callers
// holding the scope "introspect" (IntrospectScope) granted by this
// Handler's issuer: a JWT of a trusted issuer (authkit.WithTrustedIssuer)
// is refused whatever its scopes, since a scope's name means what its
// issuer grants it for, and whoever can get one named "introspect" from
// another identity provider must not read this one's tokens.
func WithIntrospectionRule(rule func(*authkit.Principal) bool) HandlerOption {
	return func(c *handlerConfig) error {
		if rule == nil {
			return invalid("WithIntrospectionRule(nil)")
		}
		c.introspect, c.customRule = rule, true
		return nil
	}
}

// Deprecated throttle defaults of [WithThrottle]; the throttle now follows
// a [ThrottlePolicy] set on the Auth (WithThrottlePolicy).
const (
	DefaultUserAttempts    = 5
	DefaultAddressAttempts = 30
	DefaultThrottleWindow  = time.Hour
)

// WithThrottle sets, for this Handler's password grant only, how many
// failures are free per window for one (username, client address) pair
// (perUser) and for one client address (perAddress); beyond them the key
// waits as the Auth's policy says (WithThrottlePolicy: by default 1
// second, doubling per failure, at most 15 minutes). The per-user ceiling,
// the store and the backoff all follow the Auth's policy (until 2026-12-03
// the default policy's were used instead).
// perUser from 1 to 1000, perAddress from 1 to 100000, window from 1
// second to 24 hours.
//
// Deprecated: set the whole policy with the Auth option WithThrottlePolicy,
// which also covers Basic credentials.
func WithThrottle(perUser, perAddress int, window time.Duration) HandlerOption {
	return func(c *handlerConfig) error {
		if perUser < 1 || perUser > 1000 || perAddress < 1 || perAddress > 100000 {
			return invalid("WithThrottle(%d, %d): attempts out of range", perUser, perAddress)
		}
		if window < time.Second || window > 24*time.Hour {
			return invalid("WithThrottle: window %v must be between 1s and 24h", window)
		}
		c.userAttempts, c.addrAttempts, c.window = perUser, perAddress, window
		return nil
	}
}

// WithClientIP sets how the client's address is found for this Handler's
// password grant, for throttling and for the session's recorded IP. The
// function returns an IP address; a value that does not parse counts as
// "unknown" (all unknown clients share one throttle key). Default: the
// Auth's (r.RemoteAddr, or X-Forwarded-For from the proxies named with
// WithTrustedProxies). Prefer WithTrustedProxies, which applies to Basic
// credentials too.
func WithClientIP(f func(*http.Request) string) HandlerOption {
	return func(c *handlerConfig) error {
		if f == nil {
			return invalid("WithClientIP(nil)")
		}
		c.clientIP = f
		return nil
	}
}

// WithMaxBodyBytes bounds request bodies; a longer one is answered 413.
// Default 64 KiB; from 1 KiB to 10 MiB.
func WithMaxBodyBytes(n int64) HandlerOption {
	return func(c *handlerConfig) error {
		if n < 1<<10 || n > 10<<20 {
			return invalid("WithMaxBodyBytes(%d): must be between 1 KiB and 10 MiB", n)
		}
		c.maxBody = n
		return nil
	}
}

// WithJWKSMaxAge sets the max-age of the JWKS response's Cache-Control.
// Verifiers may keep a removed key this long, so keep a retired key in the
// set at least this long after it stops signing. Default 5 minutes; from 0
// to 24 hours.
func WithJWKSMaxAge(d time.Duration) HandlerOption {
	return func(c *handlerConfig) error {
		if d < 0 || d > 24*time.Hour {
			return invalid("WithJWKSMaxAge(%v): must be between 0 and 24h", d)
		}
		c.jwksMaxAge = d
		return nil
	}
}

// WithClock sets the Handler's time source (the password grant's
// throttle). Default time.Now. Meant for tests; the issuer and verifier
// have their own (authkit.WithClock), and so has the Auth's throttle of
// Basic credentials (WithThrottleClock).
func WithClock(now func() time.Time) HandlerOption {
	return func(c *handlerConfig) error {
		if now == nil {
			return invalid("WithClock(nil)")
		}
		c.now = now
		return nil
	}
}

// NewHandler returns the endpoint handler. iss mints, refreshes and revokes;
// auth authenticates callers and answers their failures (and carries the
// cookie transport, if enabled). Every error matches authkit.ErrInvalidConfig.
//
// It refuses an issuer and a verifier given two different in-process
// revocation stores (memory.New() called twice), whose revocations would
// never reach the verifier. When the two are different values (one store
// behind a wrapper, say), it tells them apart by revoking a probe token
// through the issuer's, under a unique subject beginning
// "authkit:newhandler-probe:", and asking the verifier's: that one entry
// stays in the store, and its feed and listeners see it.
//
// It refuses, too, an Auth whose verifier would refuse every access token
// the issuer mints: another issuer identifier, or a local key set without
// the issuer's signing key (see verifier.Verifier.CheckIssuer).
func NewHandler(iss *issuer.Issuer, auth *Auth, opts ...HandlerOption) (*Handler, error) {
	if iss == nil || auth == nil || auth.v == nil {
		return nil, invalid("NewHandler: nil issuer or Auth, or an Auth not made by New")
	}
	c := handlerConfig{
		paths:      DefaultPaths(),
		maxBody:    DefaultMaxBodyBytes,
		jwksMaxAge: DefaultJWKSMaxAge,
		now:        time.Now,
		scopes:     allowedScopes(nil),
		introspect: func(p *authkit.Principal) bool { return p.HasScope(IntrospectScope) && grantedHere(iss, p) },
	}
	for _, o := range opts {
		if o == nil {
			return nil, invalid("nil HandlerOption")
		}
		if err := o(&c); err != nil {
			return nil, err
		}
	}
	if err := checkPaths(c.paths); err != nil {
		return nil, err
	}
	// Fail at start-up, not on the first request, when an enabled endpoint
	// has no store behind it.
	refresh, revocations, apiTokens := iss.Stores()
	// An issuer that records revocations promises callers of /revoke,
	// /logout-all and DELETE /sessions/{id} that the access tokens they
	// end stop working at once; a verifier that never asks would answer
	// 200 to those requests and go on accepting the tokens.
	if err := checkPair("NewHandler", iss, auth.v, revocations && (c.paths.Revoke != "" || c.paths.LogoutAll != "" || c.paths.Sessions != "")); err != nil {
		return nil, err
	}
	if !refresh && (c.paths.Token != "" || c.paths.Sessions != "") {
		return nil, invalid("NewHandler: the token and sessions endpoints need a refresh store (authkit.WithStore or WithRefreshStore); disable them with WithPaths otherwise")
	}
	if !apiTokens && c.logoutAPITokens && c.paths.LogoutAll != "" {
		return nil, invalid("NewHandler: WithLogoutAllAPITokens needs an API token store (authkit.WithStore or WithAPITokenStore)")
	}
	if !apiTokens && c.paths.APITokens != "" {
		return nil, invalid("NewHandler: the api-tokens endpoint needs an API token store (authkit.WithStore or WithAPITokenStore); disable it with WithPaths otherwise")
	}
	h := &Handler{
		iss:             iss,
		auth:            auth,
		paths:           c.paths,
		password:        c.password,
		noPasswordGrant: c.noPasswordGrant,
		scopes:          c.scopes,
		introspect:      c.introspect,
		introDeny:       &ScopeError{Scopes: []string{IntrospectScope}},
		guard:           auth.guard,
		clientAddr:      auth.clientAddr,
		maxBody:         c.maxBody,
		jwksCache:       "public, max-age=" + strconv.Itoa(int(c.jwksMaxAge/time.Second)),
		now:             c.now,
		log:             auth.log,
		outages:         pace.New(outageLogInterval),
		exact:           make(map[string]*endpoint),

		login:           c.login,
		allowed:         c.allowed,
		customPolicy:    c.customPolicy,
		refreshCheck:    c.refreshCheck,
		logoutAPITokens: c.logoutAPITokens,
		accountClients:  c.accountClients,
		endpointAud:     c.endpointAud,
		corsOrigins:     c.corsOrigins,
	}
	if c.clients != nil {
		// Every client-store call under the store deadline.
		h.clients, h.clientSt = boundClients(c.clients, iss.StoreTimeout()), &clientState{}
		h.clientChallenge = clientChallengeFor(auth.realm)
	}
	if c.authorize != nil {
		if c.clients == nil {
			return nil, invalid("NewHandler: WithAuthorizationCode needs WithClientStore (the clients it authorizes)")
		}
		if c.paths.Authorize == "" || c.paths.Token == "" {
			return nil, invalid("NewHandler: WithAuthorizationCode needs the authorize and token endpoints (Paths.Authorize, Paths.Token)")
		}
		h.authorize = c.authorize
	}
	if c.clientIP != nil {
		f := c.clientIP
		h.clientAddr = func(r *http.Request) netip.Addr { return parseIP(f(r)) }
	}
	if c.userAttempts > 0 {
		// The Auth's policy, with the pair and address rules this option
		// sets: its ceiling and backoff stay (it used to start from the
		// default policy, dropping WithThrottlePolicy's; found by review).
		p := auth.thrPolicy
		p.Pair.Free, p.Pair.Window = c.userAttempts, c.window
		p.Address.Free, p.Address.Window = c.addrAttempts, c.window
		g, err := newGuard(auth.thrStore, auth.thrShared, p, auth.hook, auth.log)
		if err != nil {
			return nil, err
		}
		h.guard = g
	}
	if c.customRule {
		// A custom rule's refusal names no scope in the challenge.
		h.introDeny = authkit.ErrInsufficientScope
	}
	h.refreshPath = c.paths.Token
	if auth.cookies != nil && auth.cookies.RefreshPath != "" {
		h.refreshPath, h.fixedRefreshPath = auth.cookies.RefreshPath, true
	}
	if h.refreshPath == "" {
		h.refreshPath = "/"
	}
	h.build()
	return h, nil
}

func (h *Handler) build() {
	add := func(method, path string, fn http.HandlerFunc) {
		if path == "" {
			return
		}
		h.routes = append(h.routes, Route{Method: method, Path: path, Handler: fn})
		var ep *endpoint
		if coll, ok := strings.CutSuffix(path, "/{id}"); ok {
			for _, it := range h.items {
				if it.prefix == coll+"/" {
					ep = it.ep
				}
			}
			if ep == nil {
				ep = &endpoint{methods: map[string]http.Handler{}}
				h.items = append(h.items, item{prefix: coll + "/", ep: ep})
			}
		} else if ep = h.exact[path]; ep == nil {
			ep = &endpoint{methods: map[string]http.Handler{}}
			h.exact[path] = ep
		}
		ep.methods[method] = fn
		if ep.allow != "" {
			ep.allow += ", "
		}
		ep.allow += method
		if method == http.MethodGet {
			ep.allow += ", " + http.MethodHead
		}
	}
	p := h.paths
	add(http.MethodPost, p.Token, h.handleToken)
	if h.authorize != nil {
		add(http.MethodGet, p.Authorize, h.handleAuthorize)
		add(http.MethodPost, p.Authorize, h.handleAuthorize)
	}
	add(http.MethodPost, p.Revoke, h.handleRevoke)
	add(http.MethodPost, p.Introspect, h.handleIntrospect)
	add(http.MethodGet, p.JWKS, h.handleJWKS)
	add(http.MethodPost, p.LogoutAll, h.account(h.handleLogoutAll))
	add(http.MethodGet, p.Sessions, h.account(h.handleSessions))
	if p.Sessions != "" {
		add(http.MethodGet, p.Sessions+"/{id}", h.account(h.handleGetSession))
		add(http.MethodDelete, p.Sessions+"/{id}", h.account(h.handleDeleteSession))
	}
	add(http.MethodGet, p.APITokens, h.account(h.handleAPITokens))
	add(http.MethodPost, p.APITokens, h.account(h.handleCreateAPIToken))
	if p.APITokens != "" {
		add(http.MethodGet, p.APITokens+"/{id}", h.account(h.handleGetAPIToken))
		add(http.MethodDelete, p.APITokens+"/{id}", h.account(h.handleDeleteAPIToken))
	}
}

// Routes returns every enabled endpoint as a Route, for routers that mount
// handlers per method and path (chi, gin, echo). GET routes answer HEAD as
// well when mounted through ServeHTTP.
func (h *Handler) Routes() []Route { return append([]Route(nil), h.routes...) }

// Paths returns the distinct paths of the enabled endpoints, in Routes'
// order, with "{id}" standing for an item's ID. The framework adapters
// register each of them for every method and serve it with ServeAt, so
// that a wrong method gets this handler's 405 on every framework. It
// panics on a nil or zero Handler (one NewHandler did not make).
func (h *Handler) Paths() []string {
	if h == nil || h.iss == nil {
		// Every adapter's Mount starts here: a nil or zero Handler would
		// register nothing, or crash on a nil pointer (found by review).
		panic("httpauth: Paths of a nil or zero *httpauth.Handler: make it with httpauth.NewHandler and check its error")
	}
	var out []string
	for _, rt := range h.routes {
		if !slices.Contains(out, rt.Path) {
			out = append(out, rt.Path)
		}
	}
	return out
}

// ServeAt serves r as if its URL path were path (one of Paths, with the ID
// filled in), as http.StripPrefix does: for routers that mount the
// endpoints under a prefix of their own. r itself is not modified.
func (h *Handler) ServeAt(w http.ResponseWriter, r *http.Request, path string) {
	r2 := new(http.Request)
	*r2 = *r
	r2.URL = new(url.URL)
	*r2.URL = *r.URL
	r2.URL.Path, r2.URL.RawPath = path, ""
	h.ServeHTTP(w, r2)
}

// refreshCookiePath is the Path of the refresh cookie in the response to
// r: Cookies.RefreshPath when it was given; otherwise the token endpoint's
// path under the prefix r arrived with — its request-target's path less
// the path the Handler routed (a router's http.StripPrefix, or an
// adapter's Mount) — so that a Handler mounted under /auth sets and clears
// the cookie on /auth/token, where the browser will send it. Without a
// prefix that can be told apart, the configured path.
func (h *Handler) refreshCookiePath(r *http.Request) string {
	if h.fixedRefreshPath || r.RequestURI == "" || r.URL == nil {
		return h.refreshPath
	}
	u, err := url.ParseRequestURI(r.RequestURI)
	if err != nil {
		return h.refreshPath
	}
	prefix, ok := strings.CutSuffix(u.Path, r.URL.Path)
	if !ok || prefix == "" || h.refreshPath == "/" {
		return h.refreshPath
	}
	p := prefix + h.refreshPath
	if checkPath("", p) != nil {
		return h.refreshPath
	}
	return p
}

// hintMount logs a warning, once, when path is not an endpoint's but ends
// with one's ("/auth/token" for "/token"): the Handler is most likely
// mounted under a prefix the router did not strip, and every endpoint
// answers 404.
func (h *Handler) hintMount(path string) {
	if h.warnedMount.Load() || len(path) > 512 {
		return
	}
	for p := range h.exact {
		if p != "/" && len(path) > len(p) && strings.HasSuffix(path, p) {
			if h.warnedMount.CompareAndSwap(false, true) {
				h.log.Warn("authkit: a request for " + strconv.Quote(path) + " reached the endpoints, which serve " + strconv.Quote(p) + ": is the Handler mounted under a prefix the router does not strip? Use http.StripPrefix, chiauth.Mount, ginauth.Mount or echoauth.Mount (this warning is logged once)")
			}
			return
		}
	}
}

// ServeHTTP routes a request to its endpoint by exact path (r.URL.Path):
// an unknown path is answered 404 and a method the endpoint does not serve
// 405 with Allow, both with a JSON body.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	ep := h.exact[r.URL.Path]
	if ep == nil {
		for _, it := range h.items {
			if rest, ok := strings.CutPrefix(r.URL.Path, it.prefix); ok && rest != "" && !strings.Contains(rest, "/") {
				ep = it.ep
				break
			}
		}
	}
	if ep == nil {
		h.hintMount(r.URL.Path)
		h.fail(w, r, errNoEndpoint)
		return
	}
	if h.cors(w, r) {
		return
	}
	hd := ep.methods[r.Method]
	if hd == nil && r.Method == http.MethodHead {
		hd = ep.methods[http.MethodGet]
	}
	if hd == nil {
		w.Header().Set("Allow", ep.allow)
		h.fail(w, r, errMethod)
		return
	}
	hd.ServeHTTP(w, r)
}

// checkPath checks one configured path.
func checkPath(name, p string) error {
	if len(p) > 256 || !strings.HasPrefix(p, "/") {
		return invalid("%s %q: must start with / and be at most 256 bytes", name, p)
	}
	for i := 0; i < len(p); i++ {
		// ':' and '*' start a parameter or a wildcard in gin's and
		// echo's patterns, '{' in chi's: the adapters register these
		// paths as routes.
		if c := p[i]; c <= 0x20 || c >= 0x7f || strings.IndexByte(`"%*:;,?#{}\`, c) >= 0 {
			return invalid("%s %q: has a character paths may not hold", name, p)
		}
	}
	if p != "/" && (strings.HasSuffix(p, "/") || strings.Contains(p, "//") || strings.Contains(p+"/", "/./") || strings.Contains(p+"/", "/../")) {
		return invalid("%s %q: not a clean path", name, p)
	}
	return nil
}

func checkPaths(p Paths) error {
	named := []struct{ name, path string }{
		{"Paths.Token", p.Token}, {"Paths.Authorize", p.Authorize}, {"Paths.Revoke", p.Revoke}, {"Paths.Introspect", p.Introspect},
		{"Paths.JWKS", p.JWKS}, {"Paths.LogoutAll", p.LogoutAll}, {"Paths.Sessions", p.Sessions},
		{"Paths.APITokens", p.APITokens},
	}
	for i, a := range named {
		if a.path == "" {
			continue
		}
		if err := checkPath(a.name, a.path); err != nil {
			return err
		}
		for _, b := range named[:i] {
			if b.path == a.path {
				return invalid("%s and %s are both %q", b.name, a.name, a.path)
			}
		}
	}
	for _, coll := range []string{p.Sessions, p.APITokens} {
		if coll == "" {
			continue
		}
		if coll == "/" {
			return invalid("Paths: a collection (Sessions, APITokens) cannot be \"/\"")
		}
		for _, a := range named {
			if strings.HasPrefix(a.path, coll+"/") {
				return invalid("%s %q lies under the collection %q", a.name, a.path, coll)
			}
		}
	}
	return nil
}

// writeJSON writes v as the JSON body with status.
func (h *Handler) writeJSON(w http.ResponseWriter, r *http.Request, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		h.log.LogAttrs(r.Context(), slog.LevelError, "httpauth: encoding a response failed", slog.Any("error", err))
		status, b = http.StatusInternalServerError, []byte(`{"error":"server_error","error_description":"internal error"}`)
	}
	hdr := w.Header()
	hdr.Set("Content-Type", "application/json")
	hdr.Set("X-Content-Type-Options", "nosniff")
	hdr.Set("Content-Length", strconv.Itoa(len(b)))
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

// fail answers e with the RFC 6749 §5.2 JSON body and no-store.
func (h *Handler) fail(w http.ResponseWriter, r *http.Request, e *httpError) {
	hdr := w.Header()
	hdr.Set("Cache-Control", "no-store")
	if e.status == http.StatusServiceUnavailable {
		hdr.Set("Retry-After", h.auth.retryAfter)
	}
	h.writeJSON(w, r, e.status, errorBody{Error: e.code, Description: e.desc})
}

// outageLogInterval is the least time between two warnings that requests
// were refused because a store (or a password checker) could not answer.
// During an outage every request is refused, and a line each would flood
// the log, and slow the server, at the request rate: one line per interval
// says how many it stands for.
const outageLogInterval = time.Second

// warnUnavailable logs that a store (or a password checker: passwords.ErrBusy)
// could not answer for op, at most once per outageLogInterval: during an
// outage or a login flood every request comes here. The line says how many
// refusals went unlogged since the one before.
func (h *Handler) warnUnavailable(ctx context.Context, op string, err error) {
	if ok, held := h.outages.Allow(h.now()); ok {
		h.log.LogAttrs(ctx, slog.LevelWarn, "httpauth: store unavailable", slog.String("op", op), slog.Any("error", err),
			slog.Int("refused_unlogged", held))
	}
}

// failErr answers an error of the issuer or of an application callback
// that fits no endpoint-specific case: 503 when a store could not answer,
// else 500 (logged: the error text never holds a token).
func (h *Handler) failErr(w http.ResponseWriter, r *http.Request, what string, err error) {
	if isUnavailable(err) {
		h.warnUnavailable(r.Context(), what, err)
		h.fail(w, r, errUnavailable)
		return
	}
	h.log.LogAttrs(r.Context(), slog.LevelError, "httpauth: endpoint failed", slog.String("op", what), slog.Any("error", err))
	h.fail(w, r, errServer)
}
