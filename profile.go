package authkit

import (
	"fmt"
	"net/url"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/authkit-go/authkit/keys"
)

// ScopeShape is a set of JSON shapes a Profile accepts for its scope claim.
type ScopeShape uint8

// The scope shapes; combine them with |.
const (
	// ScopeString is a space-separated string (RFC 6749 §3.3; RFC 9068's
	// "scope", Entra ID's "scp").
	ScopeString ScopeShape = 1 << iota
	// ScopeArray is an array of strings (Okta's "scp").
	ScopeArray
)

// Profile says what a verifier requires of a JWT access token beyond its
// signature, issuer, audience and lifetime, and where it finds the
// Principal's fields: which JWS typ values are accepted, which claims must
// be present, which claim names the subject, holds the scopes (and in which
// JSON shapes) and names the client, and which claim must say the token is
// an access token. The application may fill one in for an issuer the
// built-in profiles do not fit; RFC9068Profile, OIDCProfile and
// SimpleJWTProfile return the built-in ones, to use as they are or to
// start from. Give it to the verifier with WithProfile, or in a
// TrustedIssuer.
//
// Whatever the profile, a token must have a numeric "exp", an "iss" equal
// to its trusted issuer's, an "aud" containing one of its audiences and a
// non-empty subject; and every JWS rule holds (alg bound to the key, no
// "crit", "jku", "x5u", "jwk", "x5c" or "enc"). A claim the profile reads
// with the wrong JSON type refuses the token: it is never read as absent.
// The only exceptions are the explicit opt-ins AllowMissingIssuer and
// AllowMissingAudience, which no built-in profile sets (see
// "Relaxations" below).
//
// The claims a profile reads into the Principal (subject, scopes, client,
// token type) are not application claims: they are not in
// Principal.Claims.
//
// # Revocation
//
// Revocation by token ("jti") needs a jti: a profile that does not require
// one accepts tokens that cannot be revoked one by one (Entra ID writes
// none). Revocation of a session ("sid") and a subject's cutoff (by "iat")
// still apply to such tokens when they carry those claims.
//
// # Relaxations
//
// AllowMissingIssuer and AllowMissingAudience exist for issuers that by
// default write neither "iss" nor "aud" (djangorestframework-simplejwt
// without its ISSUER and AUDIENCE settings). Each gives up a check RFC 9068
// and RFC 8725 §3.8–3.9 rely on, so each is off in every built-in profile,
// and Validate refuses both in a profile that accepts typ "at+jwt" (RFC
// 9068 §2.2 requires "iss" and "aud" of such tokens). A token that carries
// the claim is still checked exactly as without the opt-in. HeaderTypes is
// not a relaxation of the token: it adds Authorization scheme words under
// which the issuer's tokens are presented.
type Profile struct {
	// Name names the profile in errors and logs ("rfc9068"); optional.
	Name string
	// Types are the accepted JWS "typ" values ("at+jwt", "JWT"), compared
	// without regard to case and with or without "application/" (RFC 7515
	// §4.1.9).
	Types []string
	// AllowMissingType accepts a token whose header has no "typ".
	AllowMissingType bool
	// RequiredClaims names claims that must be present on top of "iss",
	// "aud", "exp" and the subject, which always are: "iat", "jti", "nbf",
	// "sid", a claim of ClientClaims or ScopeClaims, or an application
	// claim. "iss", "aud" and "sub" may be named too: they are then
	// required even where AllowMissingIssuer, AllowMissingAudience or a
	// SubjectClaim other than "sub" would let the token go without them.
	RequiredClaims []string
	// ScopeClaims names the claims that hold the scopes; the first one
	// present (in this order) is read. None: the Principal has no scopes.
	ScopeClaims []string
	// ScopeShapes are the JSON shapes the scope claims may have; a scope
	// claim of another shape refuses the token. Required with ScopeClaims.
	ScopeShapes ScopeShape
	// ClientClaims names the claims that name the OAuth client (the
	// Principal's ClientID); the first one present is read.
	ClientClaims []string
	// SubjectClaim names the claim holding the subject; "" is "sub". Its
	// value is a string, or an integer (kept as its decimal digits).
	SubjectClaim string
	// TokenTypeClaim, when set, names a claim that must be present and
	// equal TokenTypeValue: simplejwt's "token_type": "access", so that its
	// refresh tokens, signed with the same key, are refused.
	TokenTypeClaim string
	// TokenTypeValue is the value TokenTypeClaim must hold.
	TokenTypeValue string
	// Leeway is the clock skew tolerated for exp, nbf and iat; 0 means the
	// verifier's (WithLeeway, 30 seconds by default). At most 5 minutes.
	Leeway time.Duration
	// MaxTokenLifetime is the longest lifetime (exp − iat) accepted in
	// this issuer's tokens, a token without "iat" being refused; 0 means
	// the verifier's (WithMaxTokenLifetime, no limit by default). It
	// replaces the verifier's limit for this issuer, longer or shorter:
	// a verifier that limits its own issuer's tokens to their 5-minute
	// access TTL can accept another issuer's one-hour tokens. From 1
	// second to 30 days.
	MaxTokenLifetime time.Duration
	// HeaderTypes are extra Authorization scheme words under which
	// verifier.Verifier.Authenticate accepts a JWT access token of an
	// issuer with this profile, as simplejwt's AUTH_HEADER_TYPES
	// ("Authorization: JWT <token>"). They are compared without regard to
	// case (RFC 9110 §11.1). The credential is checked as a Bearer one is
	// (token68 syntax, size bounds, Django REST framework's chain rule: a
	// word that finds its credential and refuses it ends the chain), but
	// only a JWT is accepted under such a word, never an API token, and
	// only when the issuer chosen by its "iss" has the word in its own
	// profile: a word given to one issuer is no door for another's tokens.
	// The built-in schemes ("Bearer", "Token", "Basic") are chosen with
	// WithSchemes and cannot be listed here; Bearer stays accepted for this
	// issuer when WithSchemes includes it. At most 8 words of 1 to 32
	// letters, digits, "-", "." or "_". None by default.
	HeaderTypes []string
	// AllowMissingIssuer accepts a token with no "iss" claim at all as a
	// token of the issuer this profile is given to (WithProfile's, or the
	// TrustedIssuer's). A token that has an "iss" (even "" or not a
	// string) is still chosen and checked by it: it never counts as
	// missing. At most one issuer of a verifier may have this profile
	// flag, its keys must be WithKeys, WithJWKSURL or TrustedIssuer.Keys or
	// JWKSURL (never Discover: metadata vouches for tokens that name the
	// issuer), and a token without "iss" is verified with those keys only.
	//
	// What is given up: the token no longer says who issued it, so any
	// signer holding those keys (for an HS256 secret: every service that
	// shares it) can mint tokens this verifier accepts, whatever they were
	// minted for. Give such an issuer keys of its own. Off by default;
	// refused with typ "at+jwt".
	AllowMissingIssuer bool
	// AllowMissingAudience accepts a token with no "aud" claim; a token
	// that has one must still contain one of the issuer's audiences.
	//
	// What is given up: a token without "aud" names no recipient, so it
	// can be replayed at every service that trusts the same keys (for an
	// HS256 secret: every service sharing it), and this verifier cannot
	// tell a token minted for another service from one minted for it.
	// Off by default; refused with typ "at+jwt".
	AllowMissingAudience bool
}

// RFC9068Profile returns authkit's own profile, the verifier's default:
// the JWT access-token profile of RFC 9068 that authkit's issuer writes.
// typ "at+jwt" (RFC 9068 §2.1); "iat", "jti" and "client_id" required
// (§2.2); scopes from a space-separated "scope" string; the client from
// "client_id"; the subject from "sub".
func RFC9068Profile() Profile {
	return Profile{
		Name:           "rfc9068",
		Types:          []string{"at+jwt"},
		RequiredClaims: []string{"iat", "jti", "client_id"},
		ScopeClaims:    []string{"scope"},
		ScopeShapes:    ScopeString,
		ClientClaims:   []string{"client_id"},
		SubjectClaim:   "sub",
	}
}

// OIDCProfile returns a profile for the access tokens of generic OAuth 2.0
// and OpenID Connect providers (Auth0, Keycloak, Okta, Entra ID v2 and
// others; see docs/verifying-other-issuers.md): typ "at+jwt", "JWT" or
// none; "iat" required and "jti" optional (so tokens without one cannot be
// revoked one by one; see Profile); scopes from "scope" or "scp", each a
// space-separated string or an array of strings; the client from
// "client_id", "azp" or "cid", in that order; the subject from "sub".
//
// Some providers sign ID tokens with the same keys and "typ" as access
// tokens: give every issuer the audience of your API only (never a client
// ID), so that an ID token, whose audience is the client, is refused.
func OIDCProfile() Profile {
	return Profile{
		Name:             "oidc",
		Types:            []string{"at+jwt", "JWT"},
		AllowMissingType: true,
		RequiredClaims:   []string{"iat"},
		ScopeClaims:      []string{"scope", "scp"},
		ScopeShapes:      ScopeString | ScopeArray,
		ClientClaims:     []string{"client_id", "azp", "cid"},
		SubjectClaim:     "sub",
	}
}

// SimpleJWTProfile returns a profile for the access tokens of
// djangorestframework-simplejwt: typ "JWT" or none; "token_type" must be
// "access" (its refresh tokens are refused); "iat" and "jti" required
// (simplejwt's JTI_CLAIM default); the subject from userIDClaim (its
// USER_ID_CLAIM setting; "" is the default "user_id"), a string or an
// integer. simplejwt writes no scopes and no client.
//
// simplejwt writes "iss" and "aud" only when its ISSUER and AUDIENCE
// settings are set, and authkit requires both unless the profile says
// otherwise: set ISSUER and AUDIENCE in Django, or set AllowMissingIssuer
// and AllowMissingAudience on the returned profile, knowing what they give
// up (see Profile). Neither is set here.
//
// HeaderTypes is empty: simplejwt's default AUTH_HEADER_TYPES is
// ("Bearer",), which the verifier's default schemes already accept. A
// deployment that sends "Authorization: JWT <token>" sets
// HeaderTypes = []string{"JWT"}, mirroring its own setting, so that no
// scheme is accepted that the Django side does not itself use.
func SimpleJWTProfile(userIDClaim string) Profile {
	if userIDClaim == "" {
		userIDClaim = "user_id"
	}
	return Profile{
		Name:             "simplejwt",
		Types:            []string{"JWT"},
		AllowMissingType: true,
		RequiredClaims:   []string{"iat", "jti"},
		SubjectClaim:     userIDClaim,
		TokenTypeClaim:   "token_type",
		TokenTypeValue:   "access",
	}
}

// ProfileNamed returns the built-in profile called name: "rfc9068",
// "oidc" or "simplejwt" (with simplejwt's default USER_ID_CLAIM,
// "user_id"), as a command line or a configuration file names them. Any
// other name is an error matching ErrInvalidConfig.
func ProfileNamed(name string) (Profile, error) {
	switch name {
	case "rfc9068":
		return RFC9068Profile(), nil
	case "oidc":
		return OIDCProfile(), nil
	case "simplejwt":
		return SimpleJWTProfile(""), nil
	}
	return Profile{}, invalid("unknown profile %q: rfc9068, oidc or simplejwt", name)
}

// maxProfileNames bounds the claim names one Profile may name.
const maxProfileNames = 48

// registeredClaims are names a profile may not give another meaning.
var registeredClaims = [...]string{"iss", "sub", "aud", "exp", "nbf", "iat", "jti", "sid"}

func isRegistered(n string) bool { return slices.Contains(registeredClaims[:], n) }

// clone returns a deep copy of p, so that the caller's later changes to
// its slices change nothing.
func (p Profile) clone() Profile {
	p.Types = slices.Clone(p.Types)
	p.RequiredClaims = slices.Clone(p.RequiredClaims)
	p.ScopeClaims = slices.Clone(p.ScopeClaims)
	p.ClientClaims = slices.Clone(p.ClientClaims)
	p.HeaderTypes = slices.Clone(p.HeaderTypes)
	return p
}

// Bounds of Profile.HeaderTypes.
const (
	maxHeaderTypes   = 8
	maxHeaderTypeLen = 32
)

// headerTypeOK reports whether w is a scheme word HeaderTypes accepts: a
// token (RFC 9110 §5.6.2) of letters, digits, "-", "." and "_".
func headerTypeOK(w string) bool {
	if w == "" || len(w) > maxHeaderTypeLen {
		return false
	}
	for i := 0; i < len(w); i++ {
		c := w[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '.' || c == '_') {
			return false
		}
	}
	return true
}

// acceptsAccessTokenType reports whether p accepts typ "at+jwt".
func (p Profile) acceptsAccessTokenType() bool {
	for _, t := range p.Types {
		t = strings.ToLower(t)
		if t == "at+jwt" || t == "application/at+jwt" {
			return true
		}
	}
	return false
}

// Validate reports what is wrong with p, with an error matching
// ErrInvalidConfig; WithProfile and WithTrustedIssuer call it.
func (p Profile) Validate() error {
	bad := func(format string, args ...any) error {
		return invalid("profile %q: "+format, append([]any{p.Name}, args...)...)
	}
	name := func(what, n string) error {
		if n == "" || len(n) > 256 || !utf8.ValidString(n) {
			return bad("%s %q: must be non-empty valid UTF-8 of at most 256 bytes", what, n)
		}
		return nil
	}
	list := func(what string, l []string) error {
		for i, n := range l {
			if err := name(what, n); err != nil {
				return err
			}
			if slices.Contains(l[:i], n) {
				return bad("%s %q twice", what, n)
			}
		}
		return nil
	}
	if len(p.Types) == 0 && !p.AllowMissingType {
		return bad("no Types and AllowMissingType false: no token could be accepted")
	}
	if err := list("type", p.Types); err != nil {
		return err
	}
	for _, l := range []struct {
		what string
		l    []string
	}{{"required claim", p.RequiredClaims}, {"scope claim", p.ScopeClaims}, {"client claim", p.ClientClaims}} {
		if err := list(l.what, l.l); err != nil {
			return err
		}
	}
	if len(p.ScopeClaims) > 0 && p.ScopeShapes&(ScopeString|ScopeArray) == 0 {
		return bad("ScopeClaims without ScopeShapes")
	}
	if p.ScopeShapes&^(ScopeString|ScopeArray) != 0 {
		return bad("unknown ScopeShapes %d", p.ScopeShapes)
	}
	subject := p.SubjectClaim
	if subject == "" {
		subject = "sub"
	}
	if err := name("subject claim", subject); err != nil {
		return err
	}
	if subject != "sub" && isRegistered(subject) {
		return bad("subject claim %q is a registered claim with another meaning", subject)
	}
	if (p.TokenTypeClaim == "") != (p.TokenTypeValue == "") {
		return bad("TokenTypeClaim and TokenTypeValue go together")
	}
	if p.TokenTypeClaim != "" {
		if err := name("token type claim", p.TokenTypeClaim); err != nil {
			return err
		}
	}
	// Each claim name has one role.
	roles := map[string]string{subject: "subject"}
	if p.TokenTypeClaim != "" {
		if _, dup := roles[p.TokenTypeClaim]; dup {
			return bad("claim %q has two roles", p.TokenTypeClaim)
		}
		roles[p.TokenTypeClaim] = "token type"
	}
	for _, l := range [][]string{p.ScopeClaims, p.ClientClaims} {
		for _, n := range l {
			if _, dup := roles[n]; dup || isRegistered(n) {
				return bad("claim %q has two roles", n)
			}
			roles[n] = "scope or client"
		}
	}
	if len(roles)+len(p.RequiredClaims) > maxProfileNames {
		return bad("names more than %d claims", maxProfileNames)
	}
	if p.Leeway < 0 || p.Leeway > 5*time.Minute {
		return bad("Leeway %v: must be between 0 and 5m", p.Leeway)
	}
	if p.MaxTokenLifetime != 0 && (p.MaxTokenLifetime < time.Second || p.MaxTokenLifetime > 30*24*time.Hour) {
		return bad("MaxTokenLifetime %v: must be 0 (the verifier's) or between 1s and 720h", p.MaxTokenLifetime)
	}
	if len(p.HeaderTypes) > maxHeaderTypes {
		return bad("more than %d HeaderTypes", maxHeaderTypes)
	}
	for i, w := range p.HeaderTypes {
		if !headerTypeOK(w) {
			return bad("header type %q: 1 to %d letters, digits, '-', '.' or '_'", w, maxHeaderTypeLen)
		}
		switch strings.ToLower(w) {
		case SchemeBearer, SchemeToken, SchemeBasic:
			return bad("header type %q is a built-in scheme: choose it with WithSchemes", w)
		}
		for _, x := range p.HeaderTypes[:i] {
			if strings.EqualFold(x, w) {
				return bad("header type %q twice", w)
			}
		}
	}
	if (p.AllowMissingIssuer || p.AllowMissingAudience) && p.acceptsAccessTokenType() {
		return bad("AllowMissingIssuer and AllowMissingAudience cannot go with typ at+jwt: RFC 9068 §2.2 requires iss and aud")
	}
	return nil
}

// WithProfile sets the verification profile of the verifier's own trusted
// issuer (the one WithIssuer, WithAudience, WithKeys and WithJWKSURL
// describe). Default RFC9068Profile. With p.AllowMissingIssuer, a token
// without "iss" counts as WithIssuer's; with p.AllowMissingAudience, a
// token without "aud" is accepted (see Profile for what each gives up).
// p is copied. Verifier only.
func WithProfile(p Profile) Option {
	p = p.clone()
	return func(c *Config) error {
		if err := p.Validate(); err != nil {
			return err
		}
		c.Profile = &p
		c.mark("WithProfile", RoleVerifier)
		return nil
	}
}

// TrustedIssuer is one issuer a verifier accepts access tokens from, with
// its own keys, audience and profile (WithTrustedIssuer).
type TrustedIssuer struct {
	// Issuer is the issuer identifier the token's "iss" must equal
	// exactly: an https URL (http only for a loopback host).
	Issuer string
	// Keys are the issuer's verification keys. Exactly one of Keys,
	// JWKSURL and Discover.
	Keys *keys.Set
	// JWKSURL is the issuer's JWKS document (https, or http on a loopback
	// host), fetched and kept fresh as WithJWKSURL's.
	JWKSURL string
	// Discover finds the JWKS URL in the issuer's metadata, fetched from
	// Issuer (RFC 8414's /.well-known/oauth-authorization-server, then
	// OpenID Connect's /.well-known/openid-configuration); the metadata's
	// "issuer" must equal Issuer exactly.
	Discover bool
	// Audience lists the audiences accepted: the token's "aud" must
	// contain one of them. At least one.
	Audience []string
	// Profile is the issuer's profile; nil is RFC9068Profile. With
	// Profile.AllowMissingIssuer, a token without "iss" is this issuer's
	// too (Keys or JWKSURL only, never Discover).
	Profile *Profile
}

func (t TrustedIssuer) clone() TrustedIssuer {
	t.Audience = slices.Clone(t.Audience)
	if t.Profile != nil {
		p := t.Profile.clone()
		t.Profile = &p
	}
	return t
}

// validate checks t on its own; BuildConfig checks duplicates.
func (t TrustedIssuer) validate() error {
	bad := func(format string, args ...any) error {
		return invalid("WithTrustedIssuer(%q): "+format, append([]any{t.Issuer}, args...)...)
	}
	u, err := url.Parse(t.Issuer)
	switch {
	case t.Issuer == "" || len(t.Issuer) > 1024 || !utf8.ValidString(t.Issuer):
		return bad("the issuer must be non-empty valid UTF-8 of at most 1024 bytes")
	case err != nil || u.Host == "" || u.User != nil || u.RawQuery != "" || u.Fragment != "" || !uriChars(t.Issuer):
		return bad("the issuer must be an absolute URL (RFC 3986 characters only: a placeholder left in?) without user, query or fragment")
	case u.Scheme != "https" && (u.Scheme != "http" || !isLoopbackHost(u.Hostname())):
		return bad("the issuer must be https (http only for loopback)")
	}
	sources := 0
	if t.Keys != nil {
		sources++
	}
	if t.JWKSURL != "" {
		sources++
		if err := WithJWKSURL(t.JWKSURL)(&Config{}); err != nil {
			return bad("%v", err)
		}
	}
	if t.Discover {
		sources++
	}
	if sources != 1 {
		return bad("exactly one of Keys, JWKSURL and Discover")
	}
	if len(t.Audience) == 0 {
		return bad("at least one audience")
	}
	for _, a := range t.Audience {
		if err := checkText("WithTrustedIssuer audience", a, 1024); err != nil {
			return err
		}
	}
	if t.Profile != nil {
		if err := t.Profile.Validate(); err != nil {
			return fmt.Errorf("WithTrustedIssuer(%q): %w", t.Issuer, err)
		}
		if t.Profile.AllowMissingIssuer && t.Discover {
			return bad("a profile with AllowMissingIssuer needs Keys or JWKSURL, never Discover: the metadata vouches only for tokens that name the issuer")
		}
	}
	return nil
}

// WithTrustedIssuer adds an issuer the verifier accepts access tokens from,
// with its own keys, audience and profile; repeat it for several. A
// token's issuer is found by its "iss" claim, read before any key is
// looked up; the token is then verified with that issuer's keys only (a
// key of one issuer never verifies another's token), and a token whose
// "iss" is not a trusted issuer is refused before any key is fetched. A
// token without "kid" is accepted only when its issuer has exactly one key
// for the token's "alg".
//
// The issuer WithIssuer, WithAudience, WithKeys or WithJWKSURL, and
// WithProfile describe is trusted too when WithKeys or WithJWKSURL is
// given. Each remote key set (JWKSURL or Discover) has its own background
// refresh, paced by WithJWKSRefreshInterval and fetched with
// WithHTTPClient's client. t is copied. Every issuer identifier must
// differ. Verifier only.
func WithTrustedIssuer(t TrustedIssuer) Option {
	t = t.clone()
	return func(c *Config) error {
		if err := t.validate(); err != nil {
			return err
		}
		c.TrustedIssuers = append(c.TrustedIssuers, t)
		c.mark("WithTrustedIssuer", RoleVerifier)
		return nil
	}
}

// checkTrustedIssuers refuses two trusted issuers with one identifier, a
// WithProfile with no issuer of its own to apply to, and more than one
// issuer that accepts tokens without "iss".
func (c *Config) checkTrustedIssuers() error {
	if c.Profile != nil && c.Keys == nil && c.JWKSURL == "" {
		return invalid("WithProfile applies to the issuer of WithKeys or WithJWKSURL, and there is none; give each TrustedIssuer its Profile")
	}
	seen := make(map[string]bool, len(c.TrustedIssuers)+1)
	noIss := ""
	if c.Keys != nil || c.JWKSURL != "" {
		seen[c.Issuer] = true
		if c.Profile != nil && c.Profile.AllowMissingIssuer {
			noIss = c.Issuer
		}
	}
	for _, t := range c.TrustedIssuers {
		if seen[t.Issuer] {
			return invalid("WithTrustedIssuer(%q): the issuer is trusted twice", t.Issuer)
		}
		seen[t.Issuer] = true
		if t.Profile != nil && t.Profile.AllowMissingIssuer {
			if noIss != "" {
				return invalid("WithTrustedIssuer(%q): AllowMissingIssuer is already set for %q; a token without iss can belong to one issuer only", t.Issuer, noIss)
			}
			noIss = t.Issuer
		}
	}
	return nil
}
