package authkit

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/netip"
	"net/url"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/authkit-go/authkit/keys"
)

// Default values of the options below.
const (
	DefaultIssuer              = "authkit"
	DefaultAudience            = "authkit"
	DefaultClientID            = "authkit"
	DefaultAccessTTL           = 5 * time.Minute
	DefaultRefreshTTL          = 14 * 24 * time.Hour
	DefaultSessionLifetime     = 90 * 24 * time.Hour
	DefaultLeeway              = 30 * time.Second
	DefaultTokenPrefix         = "ak"
	DefaultLastUsedInterval    = time.Minute
	DefaultJWKSRefreshInterval = time.Minute
	DefaultVerifyCacheEntries  = 1024
	DefaultStoreTimeout        = 5 * time.Second
)

// Bounds of WithAccessTTL and WithRefreshTTL: a command-line tool or a
// configuration loader can check a lifetime against them before it builds
// an issuer.
const (
	MinAccessTTL  = time.Second
	MaxAccessTTL  = 24 * time.Hour
	MinRefreshTTL = time.Minute
	MaxRefreshTTL = 366 * 24 * time.Hour
)

// Bounds of WithStoreTimeout.
const (
	MinStoreTimeout = 10 * time.Millisecond
	MaxStoreTimeout = time.Minute
)

// MaxVerifyCacheEntries is the largest size WithVerifyCache accepts.
const MaxVerifyCacheEntries = 1 << 20

// Authentication schemes tried by verifier.Verifier.Authenticate, named in
// WithSchemes.
const (
	// SchemeBearer is "Authorization: Bearer <token>" (RFC 6750): a JWT or
	// an API token, told apart by form.
	SchemeBearer = "bearer"
	// SchemeToken is "Authorization: Token <token>", the scheme of Django
	// REST framework's TokenAuthentication.
	SchemeToken = "token"
	// SchemeBasic is HTTP Basic (RFC 7617), checked by the function given
	// to WithBasicAuth.
	SchemeBasic = "basic"
)

// Role says which constructor a Config is built for.
type Role int

// Roles passed to BuildConfig.
const (
	RoleIssuer Role = iota + 1
	RoleVerifier
)

// String names the constructor the role stands for.
func (r Role) String() string {
	switch r {
	case RoleIssuer:
		return "issuer.New"
	case RoleVerifier:
		return "verifier.New"
	}
	return "unknown constructor"
}

// Option configures an issuer.Issuer or a verifier.Verifier. Options apply
// in order; a later option of the same kind replaces an earlier one. Each
// With… function documents its default, its valid range and which
// constructor accepts it: giving an option to a constructor it does not
// apply to is an error, never silently ignored.
type Option func(*Config) error

// Config is the configuration Options build. issuer.New and verifier.New
// make one with BuildConfig and copy what they need; application code sets
// it only through With… options and never holds one after New returns.
type Config struct {
	RefreshStore        RefreshStore
	RevocationStore     RevocationStore
	RevocationMirror    time.Duration // WithRevocationMirror's maxLag; 0 is off
	StoreTimeout        time.Duration // WithStoreTimeout; always > 0
	APITokenStore       APITokenStore
	Keys                *keys.Set
	JWKSURL             string
	JWKSRefreshInterval time.Duration
	JWKSDefaultAlg      keys.Algorithm
	VerifyCacheEntries  int
	HTTPClient          *http.Client
	Issuer              string
	Audience            []string
	ClientID            string
	AccessTTL           time.Duration
	RefreshTTL          time.Duration
	SessionLifetime     time.Duration
	Leeway              time.Duration
	MaxTokenLifetime    time.Duration
	RevocationRetention time.Duration
	Clock               func() time.Time
	ReuseGrace          time.Duration
	UnnamedRefresh      bool
	TokenPrefix         string
	TokenHashKey        []byte
	EventHook           func(context.Context, Event)
	Logger              *slog.Logger
	APITokenLimit       int
	SessionLimit        int
	LastUsedInterval    time.Duration
	PrincipalCheck      func(context.Context, *Principal) error
	BasicAuth           func(ctx context.Context, username, password string) (*Principal, error)
	Schemes             []string
	Profile             *Profile        // WithProfile; nil is RFC9068Profile
	TrustedIssuers      []TrustedIssuer // WithTrustedIssuer, in order

	applied map[string]Role // option name → the only role it applies to (0: both)
}

func (c *Config) mark(name string, only Role) {
	if c.applied == nil {
		c.applied = make(map[string]Role)
	}
	c.applied[name] = only
}

// BuildConfig returns the defaults with opts applied in order, checked as a
// whole for role. It is what issuer.New and verifier.New call; application
// code does not need it. Every error matches ErrInvalidConfig.
func BuildConfig(role Role, opts ...Option) (*Config, error) {
	c := &Config{
		JWKSRefreshInterval: DefaultJWKSRefreshInterval,
		Issuer:              DefaultIssuer,
		Audience:            []string{DefaultAudience},
		ClientID:            DefaultClientID,
		AccessTTL:           DefaultAccessTTL,
		RefreshTTL:          DefaultRefreshTTL,
		SessionLifetime:     DefaultSessionLifetime,
		Leeway:              DefaultLeeway,
		Clock:               time.Now,
		TokenPrefix:         DefaultTokenPrefix,
		LastUsedInterval:    DefaultLastUsedInterval,
		VerifyCacheEntries:  DefaultVerifyCacheEntries,
		StoreTimeout:        DefaultStoreTimeout,
	}
	for _, o := range opts {
		if o == nil {
			return nil, fmt.Errorf("%w: nil Option", ErrInvalidConfig)
		}
		if err := o(c); err != nil {
			if !errors.Is(err, ErrInvalidConfig) {
				err = fmt.Errorf("%w: %w", ErrInvalidConfig, err)
			}
			return nil, err
		}
	}
	for name, only := range c.applied {
		if only != 0 && only != role {
			return nil, fmt.Errorf("%w: %s applies to %s only, not %s", ErrInvalidConfig, name, only, role)
		}
	}
	if c.RevocationMirror > 0 {
		if c.RevocationStore == nil {
			return nil, invalid("WithRevocationMirror needs a revocation store (WithStore or WithRevocationStore)")
		}
		if _, ok := c.RevocationStore.(RevocationFeed); !ok {
			return nil, invalid("WithRevocationMirror: the revocation store %T does not implement RevocationFeed", c.RevocationStore)
		}
	}
	if err := c.checkTrustedIssuers(); err != nil {
		return nil, err
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if len(c.Schemes) == 0 {
		c.Schemes = []string{SchemeBearer, SchemeToken}
		if c.BasicAuth != nil {
			c.Schemes = append(c.Schemes, SchemeBasic)
		}
	}
	for _, s := range c.Schemes {
		if s == SchemeBasic && c.BasicAuth == nil {
			return nil, fmt.Errorf("%w: scheme %q needs WithBasicAuth", ErrInvalidConfig, s)
		}
	}
	if c.SessionLifetime < c.RefreshTTL {
		return nil, fmt.Errorf("%w: session lifetime %v is shorter than the refresh TTL %v", ErrInvalidConfig, c.SessionLifetime, c.RefreshTTL)
	}
	if c.AccessTTL > c.RefreshTTL {
		return nil, fmt.Errorf("%w: access TTL %v is longer than the refresh TTL %v", ErrInvalidConfig, c.AccessTTL, c.RefreshTTL)
	}
	if c.ReuseGrace >= c.RefreshTTL {
		return nil, fmt.Errorf("%w: reuse grace %v must be shorter than the refresh TTL %v", ErrInvalidConfig, c.ReuseGrace, c.RefreshTTL)
	}
	return c, nil
}

// isNil reports whether v is nil or holds a nil pointer, map, slice,
// func, channel or interface: a "typed nil" store from a constructor whose
// error went unchecked. (internal/nilness is the same for the other
// packages; the root package imports only keys.)
func isNil(v any) bool {
	if v == nil {
		return true
	}
	switch rv := reflect.ValueOf(v); rv.Kind() {
	case reflect.Pointer, reflect.Map, reflect.Slice, reflect.Func, reflect.Chan, reflect.Interface, reflect.UnsafePointer:
		return rv.IsNil()
	}
	return false
}

func invalid(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrInvalidConfig}, args...)...)
}

// WithStore sets all three stores to s. The default is no store: an Issuer
// can then mint access tokens only (IssueAccessToken), and a Verifier checks
// JWTs without a revocation check and refuses API tokens. Issuer and
// verifier.
func WithStore(s Store) Option {
	return func(c *Config) error {
		if isNil(s) {
			return invalid("WithStore: the store is nil (%T); was the error of its constructor checked?", s)
		}
		c.RefreshStore, c.RevocationStore, c.APITokenStore = s, s, s
		c.mark("WithStore", 0)
		return nil
	}
}

// WithRefreshStore sets where refresh-token families live (the issuer
// needs it for IssuePair, Refresh and sessions). Issuer and verifier.
func WithRefreshStore(s RefreshStore) Option {
	return func(c *Config) error {
		if isNil(s) {
			return invalid("WithRefreshStore: the store is nil (%T); was the error of its constructor checked?", s)
		}
		c.RefreshStore = s
		c.mark("WithRefreshStore", 0)
		return nil
	}
}

// WithRevocationStore sets where revocations live. With one, the verifier
// checks every access token against it (one store call per request) and
// refuses the request when the store cannot answer. Issuer and verifier.
func WithRevocationStore(s RevocationStore) Option {
	return func(c *Config) error {
		if isNil(s) {
			return invalid("WithRevocationStore: the store is nil (%T); was the error of its constructor checked?", s)
		}
		c.RevocationStore = s
		c.mark("WithRevocationStore", 0)
		return nil
	}
}

// WithRevocationMirror makes the verifier keep a local copy of everything
// revoked, kept current by the revocation store's feed (the store must
// implement RevocationFeed), and check access tokens against the copy
// instead of asking the store on every request. The copy is trusted only
// while it is at most maxLag behind the store, so a revocation made through
// any server takes effect on this verifier within maxLag. When the verifier
// has not heard from the feed for longer than that (the feed is down,
// silent or behind), it asks the store directly, as without this option,
// and refuses with ErrStoreUnavailable when the store cannot answer either:
// it never lets a token through on a copy older than maxLag. The copy holds
// the revocations in force and those expired less than a minute ago;
// Verifier.Close stops following the feed.
// A revocation written through the very store value the verifier was given
// (an issuer beside it in the same process, sharing the store) counts at
// once, without waiting for the feed, when the store implements
// RevocationListeners (the memory, SQL and Redis stores do).
// Default off (one store round trip per request); from 1 second to 10
// minutes. Verifier only; needs a revocation store (WithStore or
// WithRevocationStore) that implements RevocationFeed.
func WithRevocationMirror(maxLag time.Duration) Option {
	return durationOption("WithRevocationMirror", RoleVerifier, maxLag, time.Second, 10*time.Minute, func(c *Config) { c.RevocationMirror = maxLag })
}

// WithAPITokenStore sets where API tokens live. Issuer and verifier.
func WithAPITokenStore(s APITokenStore) Option {
	return func(c *Config) error {
		if isNil(s) {
			return invalid("WithAPITokenStore: the store is nil (%T); was the error of its constructor checked?", s)
		}
		c.APITokenStore = s
		c.mark("WithAPITokenStore", 0)
		return nil
	}
}

// WithKeys sets the key set: the issuer signs with its active key, the
// verifier accepts any of its keys (by kid). The set may be rotated while
// in use (see package keys). Required by issuer.New; the verifier needs it
// or WithJWKSURL.
func WithKeys(s *keys.Set) Option {
	return func(c *Config) error {
		if s == nil {
			return invalid("WithKeys(nil)")
		}
		c.Keys = s
		c.mark("WithKeys", 0)
		return nil
	}
}

// WithJWKSURL makes the verifier fetch its verification keys from a remote
// JWKS document (https, or http on a loopback address only). verifier.New
// starts fetching at once, and one background goroutine keeps the document
// fresh from then on (Verifier.Close stops it): it refetches before the
// document's lifetime ends (its Cache-Control max-age, within the bounds
// WithJWKSRefreshInterval states), so a request with a known kid never
// waits for the network. A request with an unknown kid waits for a refetch
// (one at a time, rate-limited by WithJWKSRefreshInterval), but only as long
// as its own context allows. A failed fetch keeps the last good keys
// serving; before the first good one, tokens are refused with
// ErrStoreUnavailable.
// Symmetric keys in the document are never trusted. May be combined with
// WithKeys (local keys are tried first). Verifier only.
func WithJWKSURL(rawURL string) Option {
	return func(c *Config) error {
		u, err := url.Parse(rawURL)
		if err != nil || u.Host == "" || !uriChars(rawURL) {
			return invalid("WithJWKSURL: %s is not an absolute URL (RFC 3986: no spaces, <, >, {, }, quotes; a placeholder left in?)", shownURL(u, err))
		}
		if u.Scheme != "https" && (u.Scheme != "http" || !isLoopbackHost(u.Hostname())) {
			return invalid("WithJWKSURL(%s): must be https (http only for loopback)", shownURL(u, nil))
		}
		c.JWKSURL = rawURL
		c.mark("WithJWKSURL", RoleVerifier)
		return nil
	}
}

// shownURL is a URL for an error message, quoted: its scheme, host and
// path when it parsed, without user information or query, either of which
// may hold a credential (found by review: the query of a presigned URL was
// shown); else nothing of it.
func shownURL(u *url.URL, err error) string {
	if err != nil {
		return "the URL given (it does not parse)"
	}
	v := url.URL{Scheme: u.Scheme, Host: u.Host, Path: u.Path, RawPath: u.RawPath}
	s := v.String()
	if u.RawQuery != "" || u.ForceQuery {
		s += "?…"
	}
	return strconv.Quote(s)
}

// uriChars reports whether s holds only characters a URI may (RFC 3986
// §2: unreserved, reserved and "%"), so that a documentation placeholder
// left in a URL ("https://login.example/<tenant>/v2.0"), which url.Parse
// accepts, is refused.
func uriChars(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		case strings.IndexByte("-._~:/?#[]@!$&'()*+,;=%", c) >= 0:
		default:
			return false
		}
	}
	return true
}

func isLoopbackHost(h string) bool {
	if h == "localhost" {
		return true
	}
	a, err := netip.ParseAddr(h)
	return err == nil && a.IsLoopback()
}

// WithJWKSRefreshInterval sets the pace of the remote JWKS (WithJWKSURL):
// an unknown kid triggers a fetch only if none began within the last
// interval (so made-up kids cannot make the verifier hammer the remote), a
// failed fetch is retried after an interval (before the first document,
// after 1 second, doubling up to the interval, so that a verifier started
// before its issuer serves soon after the issuer is up), and no document
// lives shorter.
// A document lives for its Cache-Control max-age (less its Age), clamped to
// between one interval and one hour (or one interval, if that is longer);
// no-cache, no-store or max-age=0 give one interval, and a response without
// max-age gets ten intervals. The background refresh runs when three
// quarters of the lifetime have passed, so keys removed remotely stop being
// trusted within about one lifetime. Default 1 minute (so 1 minute to 1
// hour, 10 minutes without max-age); at least 1 second. Verifier only.
func WithJWKSRefreshInterval(d time.Duration) Option {
	return func(c *Config) error {
		if d < time.Second {
			return invalid("WithJWKSRefreshInterval(%v): must be at least 1s", d)
		}
		c.JWKSRefreshInterval = d
		c.mark("WithJWKSRefreshInterval", RoleVerifier)
		return nil
	}
}

// WithJWKSDefaultAlgorithm binds the RSA keys of a remote JWKS document
// that carry no "alg" member to alg (RS256/384/512 or PS256/384/512), as
// some identity providers publish them. Without it such keys are skipped:
// authkit binds every key to exactly one algorithm and never takes it from
// the token (RFC 8725 §3.1). Keys that name their alg keep it. Default none.
// Verifier only.
func WithJWKSDefaultAlgorithm(alg keys.Algorithm) Option {
	return func(c *Config) error {
		switch alg {
		case keys.RS256, keys.RS384, keys.RS512, keys.PS256, keys.PS384, keys.PS512:
		default:
			return invalid("WithJWKSDefaultAlgorithm(%q): must be an RSA algorithm (RS256…PS512)", alg)
		}
		c.JWKSDefaultAlg = alg
		c.mark("WithJWKSDefaultAlgorithm", RoleVerifier)
		return nil
	}
}

// WithHTTPClient sets the client used to fetch the JWKS document. The
// default is a client with a 10 second timeout. Whatever the client, a
// fetch is abandoned after 30 seconds or when the Verifier is closed, and
// it follows a redirect only to an https URL (http only on a loopback
// host), then as the client's own CheckRedirect says. Verifier only.
func WithHTTPClient(hc *http.Client) Option {
	return func(c *Config) error {
		if hc == nil {
			return invalid("WithHTTPClient(nil)")
		}
		c.HTTPClient = hc
		c.mark("WithHTTPClient", RoleVerifier)
		return nil
	}
}

// WithVerifyCache sets how many verified JWT access tokens the verifier
// remembers, keyed by their exact bytes, so that a token presented again
// skips the signature check and claims decoding — the bulk of the cost for
// EdDSA, ECDSA and RSA tokens. Every hit still checks, as a first
// verification does, that the token's key is still in the key set (a key
// removed from the set, or dropped by the remote JWKS, refuses the token),
// exp, nbf and iat against the clock, revocation and the principal check.
// Only tokens that passed every check are stored, so invalid tokens cannot
// evict valid ones; API tokens are not cached (they need their store
// lookup anyway). The cache lives in process memory only, and never holds
// more than entries tokens: each entry keeps a copy of the token and its
// decoded claims: about 1.2 KiB for a typical 600-byte token (so about
// 1.2 MiB at the default size), more for tokens with many application
// claims, up to a few tens of KiB for tokens near the 8 KiB size limit. A
// token whose claims decode to a large tree (hundreds of objects or array
// elements; the decoded form can be 20 times its JSON) is not cached: it
// is verified in full every time.
//
// Default DefaultVerifyCacheEntries (1024); 0 turns the cache off; at most
// MaxVerifyCacheEntries. Verifier only.
func WithVerifyCache(entries int) Option {
	return func(c *Config) error {
		if entries < 0 || entries > MaxVerifyCacheEntries {
			return invalid("WithVerifyCache(%d): must be between 0 and %d", entries, MaxVerifyCacheEntries)
		}
		c.VerifyCacheEntries = entries
		c.mark("WithVerifyCache", RoleVerifier)
		return nil
	}
}

// WithIssuer sets the "iss" the issuer writes and the verifier requires
// (compared exactly) of tokens checked with WithKeys or WithJWKSURL; see
// WithTrustedIssuer for more issuers. Default "authkit"; set it to your
// service's URL in production. Issuer and verifier.
func WithIssuer(iss string) Option {
	return func(c *Config) error {
		if err := checkText("WithIssuer", iss, 1024); err != nil {
			return err
		}
		c.Issuer = iss
		c.mark("WithIssuer", 0)
		return nil
	}
}

// WithAudience sets the audience. The issuer writes all of them as "aud"
// unless a call overrides it; the verifier requires a token's "aud" to
// contain at least one of them (RFC 7519 §4.1.3). Default ["authkit"]. At
// least one non-empty value. Issuer and verifier.
func WithAudience(aud ...string) Option {
	aud = append([]string(nil), aud...)
	return func(c *Config) error {
		if len(aud) == 0 {
			return invalid("WithAudience(): at least one audience")
		}
		for _, a := range aud {
			if err := checkText("WithAudience", a, 1024); err != nil {
				return err
			}
		}
		c.Audience = aud
		c.mark("WithAudience", 0)
		return nil
	}
}

// WithClientID sets the "client_id" claim (RFC 9068 §2.2) written when a
// call names none. Default "authkit". Issuer only.
func WithClientID(id string) Option {
	return func(c *Config) error {
		if err := checkText("WithClientID", id, 256); err != nil {
			return err
		}
		c.ClientID = id
		c.mark("WithClientID", RoleIssuer)
		return nil
	}
}

// WithAccessTTL sets how long access tokens live. Default 5 minutes; from
// 1 second to 24 hours, and no longer than the refresh TTL. Revocation of
// a session or subject is remembered this long plus the leeway. Issuer only.
func WithAccessTTL(d time.Duration) Option {
	return durationOption("WithAccessTTL", RoleIssuer, d, MinAccessTTL, MaxAccessTTL, func(c *Config) { c.AccessTTL = d })
}

// WithRefreshTTL sets the idle lifetime of a refresh token: a session not
// refreshed for this long ends. Default 14 days; from 1 minute to 1 year.
// Issuer only.
func WithRefreshTTL(d time.Duration) Option {
	return durationOption("WithRefreshTTL", RoleIssuer, d, MinRefreshTTL, MaxRefreshTTL, func(c *Config) { c.RefreshTTL = d })
}

// WithSessionLifetime sets the absolute lifetime of a session (refresh
// family), however often it is refreshed. Default 90 days; from 1 minute to
// 5 years, and at least the refresh TTL. Issuer only.
func WithSessionLifetime(d time.Duration) Option {
	return durationOption("WithSessionLifetime", RoleIssuer, d, time.Minute, 5*366*24*time.Hour, func(c *Config) { c.SessionLifetime = d })
}

// WithLeeway sets the clock skew tolerated when checking exp, nbf and iat.
// Default 30 seconds; from 0 to 5 minutes. Verifier only.
func WithLeeway(d time.Duration) Option {
	return durationOption("WithLeeway", RoleVerifier, d, 0, 5*time.Minute, func(c *Config) { c.Leeway = d })
}

// WithRevocationRetention makes the issuer remember a session or subject
// revocation (RevokeSession, RevokeSubject, reuse detection) for at least
// d, instead of its own access TTL: set it to the longest lifetime of the
// tokens any verifier sharing the store accepts from another issuer (the
// largest Profile.MaxTokenLifetime of WithTrustedIssuer), so that a
// logout-all also refuses those tokens until they expire. Without it a
// RevokeSubject covered another issuer's 24-hour tokens for the revoking
// issuer's access TTL and about ten minutes, and they verified again
// (found by review). From 1 second to 30 days; the access TTL when
// shorter. Issuer only.
func WithRevocationRetention(d time.Duration) Option {
	return durationOption("WithRevocationRetention", RoleIssuer, d, time.Second, 30*24*time.Hour, func(c *Config) { c.RevocationRetention = d })
}

// WithMaxTokenLifetime refuses a JWT whose lifetime, exp − iat, is longer
// than d, and a JWT without iat. Set it to the issuer's access TTL
// (WithAccessTTL) where the verifier knows it, as authkit serve does: a
// session or logout-all revocation is remembered for the revoking
// issuer's access TTL, so an access token minted under a longer TTL —
// before the TTL was lowered, or by a replica still running the old value
// during a rolling deploy — would verify again once the revocation is
// forgotten. With this option such a token is refused outright, and its
// client refreshes. Raising the issuer's TTL needs the verifiers raised
// first. A token may read up to a millisecond over d (exp keeps whole
// seconds, iat milliseconds, both rounded down). Without this option there
// is no limit; d is from 1 second to 30 days. A trusted issuer whose
// Profile sets MaxTokenLifetime has that limit instead. Verifier only.
func WithMaxTokenLifetime(d time.Duration) Option {
	return durationOption("WithMaxTokenLifetime", RoleVerifier, d, time.Second, 30*24*time.Hour, func(c *Config) { c.MaxTokenLifetime = d })
}

// WithReuseGrace sets a window after a rotation in which presenting the
// just-rotated refresh token again is taken for a benign race (two tabs
// refreshing at once): it gets the same successor refresh token and a fresh
// access token, so a session never forks. A repeat inside the window that
// meets a store, a refresh check or a signer that cannot answer gets that
// failure and revokes nothing. Outside the window, reuse revokes the
// session. Default 0 (any reuse revokes); from 0 to 1 minute. Issuer only.
func WithReuseGrace(d time.Duration) Option {
	return durationOption("WithReuseGrace", RoleIssuer, d, 0, time.Minute, func(c *Config) { c.ReuseGrace = d })
}

// WithRefreshTokensNamingSession(false) has the issuer hand out refresh
// tokens in the format of authkit versions from before 2026-12-05, which
// do not carry their session's ID, for a rolling upgrade from such a
// version: those versions refuse a token that names its session (a
// refresh there is answered invalid_grant and a revocation there revokes
// nothing), so turn it off on the new version's instances until no
// instance of an older one serves the same store, then remove it. Tokens of
// either format are accepted either way. Without session names a refresh
// on a Redis Cluster takes three round trips, not one, and a refresh
// whose token names no session looks its session up first everywhere.
// Default true (tokens name their session). Issuer only.
func WithRefreshTokensNamingSession(on bool) Option {
	return func(c *Config) error {
		c.UnnamedRefresh = !on
		c.mark("WithRefreshTokensNamingSession", RoleIssuer)
		return nil
	}
}

// WithLastUsedInterval sets how stale an API token's last-used time may get
// before the verifier writes it again (knox's MIN_REFRESH_INTERVAL): a token
// used continuously costs one store write per interval, not one per
// request, and a burst of concurrent requests with it one write per
// verifier (each replica may write once). Default 1 minute; from 1 second
// to 1 day. Verifier only.
func WithLastUsedInterval(d time.Duration) Option {
	return durationOption("WithLastUsedInterval", RoleVerifier, d, time.Second, 24*time.Hour, func(c *Config) { c.LastUsedInterval = d })
}

// WithStoreTimeout bounds every store call the issuer and the verifier
// make: each is given a context that ends d after the call starts, or
// earlier if the caller's own context ends first. A call the store has not
// answered by then returns at once with an error matching
// ErrStoreUnavailable (and context.DeadlineExceeded), so the request is
// refused (fail closed; 503 with Retry-After at the HTTP layer), even when
// the driver does not honour its context (lib/pq through a network
// partition): the caller never waits for it, and the abandoned call ends
// in the background when the driver gives up. A caller's context that is
// cancelled yields its own error instead.
//
// While 256 abandoned calls of one Issuer or Verifier are still waiting
// on a store that does not answer, further calls are refused at once with
// ErrStoreUnavailable instead of piling up.
//
// A call cut short may still have been carried out by the store: see
// docs/security.md for what that means for a login and a refresh (a
// session the issuer created for a client that was told 503 is revoked
// again as soon as the store answers).
//
// Stores that answer from the process's own memory (InProcessStore: the
// memory backend; the verifier's revocation mirror while it is current)
// are called without a deadline, so they cost no timer; a mirror that
// falls back to its store gives that call the deadline. Stores that end
// every call at its context's deadline themselves (DeadlineStore: the SQL
// store over pgx or go-sql-driver/mysql, the Redis store) are called on
// the caller's goroutine with the deadline in the context, which spares a
// goroutine hand-off per call.
//
// Default DefaultStoreTimeout (5 seconds): far above a healthy store's
// answer, even one that must first open a TLS connection or wait for a
// lock, yet well below the 30 seconds after which load balancers and
// clients commonly give up on their own, so the client gets a 503 it can
// retry rather than a gateway timeout. From MinStoreTimeout (10 ms) to
// MaxStoreTimeout (1 minute). Issuer and verifier.
func WithStoreTimeout(d time.Duration) Option {
	return durationOption("WithStoreTimeout", 0, d, MinStoreTimeout, MaxStoreTimeout, func(c *Config) { c.StoreTimeout = d })
}

// InProcessStore is an optional interface of a store (found by a type
// assertion on the store given to WithStore, WithRefreshStore,
// WithRevocationStore or WithAPITokenStore) whose every call is answered
// from the process's own memory, without I/O and without waiting long for
// a lock. The issuer and verifier call a store whose InProcess reports
// true without the deadline of WithStoreTimeout, which would only add a
// timer and a goroutine to each call. A store that wraps another should
// report what the wrapped one reports.
type InProcessStore interface {
	// InProcess reports whether every call is answered in process.
	InProcess() bool
}

// DeadlineStore is an optional interface of a store (found by a type
// assertion, as InProcessStore is) whose every call returns soon after its
// ctx's deadline passes, with an error matching ctx.Err() or
// ErrStoreUnavailable, whatever the network and the server do: a
// connection that stalls mid-statement, a server that accepts and never
// answers, a pool with no free connection, a commit the network swallows.
//
// The issuer and the verifier call such a store on the caller's own
// goroutine, with the deadline of WithStoreTimeout in ctx. Any other store
// that is not in process is called in a goroutine of its own, which the
// caller abandons at the deadline: that bounds a driver that ignores its
// context, at the price of a goroutine hand-off on every call (about 40 µs
// a call on the 2-core machine of docs/performance.md, against a 30 µs
// Redis round trip).
//
// Report true only when it holds for every method, every configuration the
// store accepts and every driver it may be given; a store that wraps
// another reports what the wrapped one reports. A store that reports true
// and then blocks past its deadline holds the request with it.
type DeadlineStore interface {
	// HonorsDeadlines reports whether every call returns by its ctx's
	// deadline.
	HonorsDeadlines() bool
}

func durationOption(name string, only Role, d, min, max time.Duration, set func(*Config)) Option {
	return func(c *Config) error {
		if d < min || d > max {
			return invalid("%s(%v): must be between %v and %v", name, d, min, max)
		}
		set(c)
		c.mark(name, only)
		return nil
	}
}

// WithClock sets the time source. Default time.Now. Meant for tests; use
// WithLeeway for clock skew. Issuer and verifier.
func WithClock(now func() time.Time) Option {
	return func(c *Config) error {
		if now == nil {
			return invalid("WithClock(nil)")
		}
		c.Clock = now
		c.mark("WithClock", 0)
		return nil
	}
}

var prefixRE = regexp.MustCompile(`^[a-z][a-z0-9]{0,15}$`)

// WithTokenPrefix sets the prefix of opaque tokens: API tokens look like
// "<prefix>_…" and refresh tokens "<prefix>rt_…", so secret scanners can
// spot them. Default "ak"; 1 to 16 lower-case letters and digits, starting
// with a letter. Issuer and verifier must agree.
func WithTokenPrefix(p string) Option {
	return func(c *Config) error {
		if !prefixRE.MatchString(p) {
			return invalid("WithTokenPrefix(%q): 1-16 lower-case letters and digits, starting with a letter", p)
		}
		c.TokenPrefix = p
		c.mark("WithTokenPrefix", 0)
		return nil
	}
}

// WithTokenHashKey makes stores keep HMAC-SHA-256 of opaque tokens under
// key instead of plain SHA-256, so a stolen database cannot even confirm a
// guessed token. The key must be at least 32 bytes; issuer and verifier must
// use the same one, and changing it invalidates every refresh and API
// token. Default: plain SHA-256. Issuer and verifier.
func WithTokenHashKey(key []byte) Option {
	key = append([]byte(nil), key...)
	return func(c *Config) error {
		if len(key) < 32 {
			return invalid("WithTokenHashKey: key must be at least 32 bytes, got %d", len(key))
		}
		c.TokenHashKey = key
		c.mark("WithTokenHashKey", 0)
		return nil
	}
}

// WithEventHook sets a function told about security events (issued,
// refreshed, reuse detected, revoked, authentication failures…). It is
// called synchronously, so it must be fast; it never receives a secret.
// Default none. Issuer and verifier.
func WithEventHook(hook func(context.Context, Event)) Option {
	return func(c *Config) error {
		if hook == nil {
			return invalid("WithEventHook(nil)")
		}
		c.EventHook = hook
		c.mark("WithEventHook", 0)
		return nil
	}
}

// WithLogger sets the structured logger for operational messages (never a
// secret). Default: nothing is logged. Issuer and verifier.
func WithLogger(l *slog.Logger) Option {
	return func(c *Config) error {
		if l == nil {
			return invalid("WithLogger(nil)")
		}
		if l.Handler() == nil {
			// new(slog.Logger): it panics at its first record, in a
			// background goroutine or halfway through a revocation (found
			// by review).
			return invalid("WithLogger of a zero slog.Logger (make it with slog.New)")
		}
		c.Logger = l
		c.mark("WithLogger", 0)
		return nil
	}
}

// WithSessionLimit caps how many live sessions (logins, each with its
// refresh token) one subject may hold: a login (issuer.IssuePair) that
// passes the cap ends the subject's least recently used sessions, as
// RevokeSession does (their refresh tokens stop working and, given a
// revocation store, their access tokens die). It ends them only once its
// own session exists (and issuer.WithSessionCreated's function has
// accepted it), so a login that fails before that costs the user nothing.
// A store that cannot list the sessions refuses the login; one that cannot
// end one, or a caller's ctx that ends meanwhile, stops the ending there
// and refuses the login too (which then ends its own session): sessions
// already ended stay ended. Without a cap a user can pile up sessions
// that each live a refresh TTL, and a listing of them (GET /sessions)
// returns them all. Concurrent logins may leave the subject over the cap
// by as many as run at once, until the next login trims it. Default 0: no
// limit. From 0 to 10000. Issuer only.
func WithSessionLimit(n int) Option {
	return func(c *Config) error {
		if n < 0 || n > 10000 {
			return invalid("WithSessionLimit(%d): must be between 0 and 10000", n)
		}
		c.SessionLimit = n
		c.mark("WithSessionLimit", RoleIssuer)
		return nil
	}
}

// WithAPITokenLimit caps how many live API tokens one subject may hold
// (knox's TOKEN_LIMIT_PER_USER); creating one more fails with
// ErrLimitExceeded. Default 0: no limit. From 0 to 10000. Issuer only.
func WithAPITokenLimit(n int) Option {
	return func(c *Config) error {
		if n < 0 || n > 10000 {
			return invalid("WithAPITokenLimit(%d): must be between 0 and 10000", n)
		}
		c.APITokenLimit = n
		c.mark("WithAPITokenLimit", RoleIssuer)
		return nil
	}
}

// WithPrincipalCheck sets a function run on every successfully verified
// principal; a non-nil error refuses the request with ErrInvalidToken (a
// disabled or deleted user: simplejwt's USER_AUTHENTICATION_RULE). It runs
// on every request, so it must be fast. The principal is the request's
// own: check may narrow it, giving p.Scopes a slice without the scopes
// the subject may no longer hold (the verify cache keeps its own copy, so
// the next request is checked afresh). Default none. Verifier only.
func WithPrincipalCheck(check func(context.Context, *Principal) error) Option {
	return func(c *Config) error {
		if check == nil {
			return invalid("WithPrincipalCheck(nil)")
		}
		c.PrincipalCheck = check
		c.mark("WithPrincipalCheck", RoleVerifier)
		return nil
	}
}

// WithBasicAuth enables HTTP Basic authentication in Authenticate, checked
// by check, which returns the principal for a valid username and password
// (and should compare in constant time and throttle). Unless WithSchemes
// says otherwise, Basic is tried after Bearer and Token. Default off.
// Verifier only.
func WithBasicAuth(check func(ctx context.Context, username, password string) (*Principal, error)) Option {
	return func(c *Config) error {
		if check == nil {
			return invalid("WithBasicAuth(nil)")
		}
		c.BasicAuth = check
		c.mark("WithBasicAuth", RoleVerifier)
		return nil
	}
}

// WithSchemes sets which Authorization schemes Authenticate tries, in
// order (SchemeBearer, SchemeToken, SchemeBasic), like DRF's
// DEFAULT_AUTHENTICATION_CLASSES: a scheme that finds no credential of its
// kind passes to the next; one that finds its credential and rejects it
// ends the chain. Default bearer, token (then basic if WithBasicAuth is
// set). Verifier only.
func WithSchemes(schemes ...string) Option {
	schemes = append([]string(nil), schemes...)
	return func(c *Config) error {
		if len(schemes) == 0 {
			return invalid("WithSchemes(): at least one scheme")
		}
		seen := map[string]bool{}
		for _, s := range schemes {
			if s != SchemeBearer && s != SchemeToken && s != SchemeBasic {
				return invalid("WithSchemes: unknown scheme %q", s)
			}
			if seen[s] {
				return invalid("WithSchemes: %q twice", s)
			}
			seen[s] = true
		}
		c.Schemes = schemes
		c.mark("WithSchemes", RoleVerifier)
		return nil
	}
}

func checkText(name, v string, max int) error {
	if v == "" || len(v) > max || !utf8.ValidString(v) {
		return invalid("%s(%q): must be non-empty valid UTF-8 of at most %d bytes", name, v, max)
	}
	return nil
}
