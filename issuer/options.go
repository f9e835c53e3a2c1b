package issuer

import (
	"context"
	"encoding/json"
	"fmt"
	"net/netip"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/authkit-go/authkit"
	"github.com/authkit-go/authkit/internal/strictjson"
	"github.com/authkit-go/authkit/internal/textsafe"
)

// Limits on per-call input. Longer values are refused, except the User-Agent,
// which is cut at a character boundary (it is informational).
const (
	MaxSubjectLen   = 1024
	MaxScopes       = authkit.MaxScopes
	MaxScopeLen     = authkit.MaxScopeLen
	MaxClaimsSize   = 4 << 10 // application claims, as JSON
	MaxUserAgentLen = 1024
	MaxNameLen      = 256
)

// registered holds the claim names authkit writes itself; application
// claims may not use them, in any letter case.
var registered = [...]string{"iss", "sub", "aud", "exp", "nbf", "iat", "jti", "client_id", "scope", "sid", "typ",
	// Read as scopes or the client by authkit.OIDCProfile: a verifier
	// reading our tokens with it would take an application's "scp" for
	// the scopes of a token issued without any.
	"scp", "azp", "cid"}

// IssueOption configures one IssuePair or IssueAccessToken call.
type IssueOption func(*issueParams) error

type issueParams struct {
	scopes    []string
	claims    []byte // JSON object or nil
	audience  []string
	clientID  string
	userAgent string
	ip        string
	name      string
	ttl       time.Duration // 0: the issuer's access TTL
	lifetime  time.Duration // 0: the issuer's session lifetime
	rtTTL     time.Duration // 0: the issuer's refresh TTL
	method    string        // Event.Method of EventIssued; "": MethodJWT
	created   func(ctx context.Context, sessionID string) error
}

// WithScopes sets the granted scopes (RFC 6749 §3.3 scope tokens, at most
// 64, each at most 128 bytes). Duplicates are dropped; order is kept. A
// refresh keeps them and never widens them.
func WithScopes(scopes ...string) IssueOption {
	scopes = append([]string(nil), scopes...)
	return func(p *issueParams) error {
		s, err := checkScopes(scopes)
		p.scopes = s
		return err
	}
}

func checkScopes(scopes []string) ([]string, error) {
	if len(scopes) > MaxScopes {
		return nil, fmt.Errorf("issuer: %w: more than %d scopes", authkit.ErrInvalidRequest, MaxScopes)
	}
	out := make([]string, 0, len(scopes))
	for _, s := range scopes {
		if !authkit.ValidScope(s) {
			return nil, fmt.Errorf("issuer: %w: scope %q is not an RFC 6749 §3.3 scope token of 1 to %d bytes", authkit.ErrInvalidRequest, textsafe.Clip(s, MaxScopeLen), MaxScopeLen)
		}
		dup := false
		for _, o := range out {
			if o == s {
				dup = true
				break
			}
		}
		if !dup {
			out = append(out, s)
		}
	}
	return out, nil
}

// WithClaims adds application claims to the access token (and, for a pair,
// to every token refreshed from it). Names authkit writes itself (iss, sub,
// aud, exp, nbf, iat, jti, client_id, scope, sid, typ) and those
// authkit.OIDCProfile reads as scopes or the client (scp, azp, cid) are
// refused in any letter case, as are names differing only in case; values
// must marshal to JSON, at most 4 KiB in all.
func WithClaims(claims map[string]any) IssueOption {
	return func(p *issueParams) error {
		if len(claims) == 0 {
			p.claims = nil
			return nil
		}
		names := make([]string, 0, len(claims))
		for k := range claims {
			if k == "" || !utf8.ValidString(k) {
				return fmt.Errorf("issuer: %w: claim names must be non-empty UTF-8", authkit.ErrInvalidRequest)
			}
			for _, r := range registered {
				if strings.EqualFold(k, r) {
					return fmt.Errorf("issuer: %w: claim %q is registered; authkit sets it", authkit.ErrInvalidRequest, k)
				}
			}
			for _, n := range names {
				if strings.EqualFold(k, n) {
					return fmt.Errorf("issuer: %w: claims %q and %q differ only in case", authkit.ErrInvalidRequest, k, n)
				}
			}
			names = append(names, k)
		}
		b, err := json.Marshal(claims)
		if err != nil {
			return fmt.Errorf("issuer: %w: claims do not marshal to JSON: %w", authkit.ErrInvalidRequest, err)
		}
		if len(b) > MaxClaimsSize {
			return fmt.Errorf("issuer: %w: claims are %d bytes, more than %d", authkit.ErrInvalidRequest, len(b), MaxClaimsSize)
		}
		if err := checkStrictJSON(b); err != nil {
			return fmt.Errorf("issuer: %w: claims would not pass a strict verifier: %w", authkit.ErrInvalidRequest, err)
		}
		p.claims = b
		return nil
	}
}

// WithAudience overrides the configured audience for this token.
func WithAudience(aud ...string) IssueOption {
	aud = append([]string(nil), aud...)
	return func(p *issueParams) error {
		if len(aud) == 0 {
			return fmt.Errorf("issuer: %w: WithAudience needs at least one value", authkit.ErrInvalidRequest)
		}
		for _, a := range aud {
			if a == "" || len(a) > 1024 || !utf8.ValidString(a) {
				return fmt.Errorf("issuer: %w: audience must be 1 to 1024 bytes of UTF-8", authkit.ErrInvalidRequest)
			}
		}
		p.audience = aud
		return nil
	}
}

// WithClientID sets the token's client_id (RFC 9068 §2.2) for this call.
func WithClientID(id string) IssueOption {
	return func(p *issueParams) error {
		if id == "" || len(id) > 256 || !utf8.ValidString(id) {
			return fmt.Errorf("issuer: %w: client_id must be 1 to 256 bytes of UTF-8", authkit.ErrInvalidRequest)
		}
		p.clientID = id
		return nil
	}
}

// WithUserAgent records the device's User-Agent with the session (at most
// 1024 bytes; longer values are cut at a character boundary). Invalid
// UTF-8, control characters, bidirectional controls and line separators
// are recorded as U+FFFD, so that a session listing cannot be made to
// print them.
func WithUserAgent(ua string) IssueOption {
	return func(p *issueParams) error {
		p.userAgent = textsafe.Clip(textsafe.Clean(ua), MaxUserAgentLen)
		return nil
	}
}

// WithClientIP records the client's IP address with the session. It must
// parse as an IPv4 or IPv6 address.
func WithClientIP(ip string) IssueOption {
	return func(p *issueParams) error {
		a, err := netip.ParseAddr(ip)
		if err != nil {
			return fmt.Errorf("issuer: %w: client IP %q does not parse", authkit.ErrInvalidRequest, textsafe.Clip(ip, 64))
		}
		p.ip = a.Unmap().String()
		return nil
	}
}

// WithSessionCreated runs fn once IssuePair has created the session and
// before it ends anything (the sessions the session limit ends, see
// authkit.WithSessionLimit) or returns the tokens: the place to record the
// session ID elsewhere (an authorization code's record, a device table).
// When fn returns an error, IssuePair ends the new session, whose tokens
// were never returned, ends none of the others, and returns fn's error.
func WithSessionCreated(fn func(ctx context.Context, sessionID string) error) IssueOption {
	return func(p *issueParams) error {
		if fn == nil {
			return fmt.Errorf("issuer: %w: WithSessionCreated(nil)", authkit.ErrInvalidRequest)
		}
		p.created = fn
		return nil
	}
}

// WithDeviceName records a name for the session ("Alice's laptop"), at
// most 256 bytes of UTF-8.
func WithDeviceName(name string) IssueOption {
	return func(p *issueParams) error {
		if len(name) > MaxNameLen || !textsafe.Valid(name) {
			return fmt.Errorf("issuer: %w: device name must be at most %d bytes of UTF-8 without control characters, bidirectional controls or line separators", authkit.ErrInvalidRequest, MaxNameLen)
		}
		p.name = name
		return nil
	}
}

// APITokenOption configures one CreateAPIToken call.
type APITokenOption func(*apiParams) error

type apiParams struct {
	scopes  []string
	ttl     time.Duration
	creator *authkit.Principal
}

// WithCreator names the credential the API token is created with (the
// caller's principal). When it is a JWT access token and the issuer has a
// revocation store, CreateAPIToken checks, once the new token is stored,
// that the creator's token was not revoked meanwhile, reading the
// revocation store itself (never a verifier's mirror): a logout-all, a
// session's end or the token's own revocation that raced the creation may
// have listed the subject's API tokens before the new one was stored, and
// would have left it alive. Without a revocation store it reads the
// token's session in the refresh store instead: ended or gone, the
// creator counts as revoked. If it was revoked (or the check cannot be
// made), the new token is revoked again and CreateAPIToken fails with
// authkit.ErrTokenRevoked (or the store's error). The principal's Subject
// must be the token's subject. httpauth's POST /api-tokens passes it.
func WithCreator(p *authkit.Principal) APITokenOption {
	return func(a *apiParams) error {
		if p == nil {
			return fmt.Errorf("issuer: %w: WithCreator(nil)", authkit.ErrInvalidRequest)
		}
		c := *p
		a.creator = &c
		return nil
	}
}

// WithTokenScopes sets the API token's scopes (same rules as WithScopes).
func WithTokenScopes(scopes ...string) APITokenOption {
	scopes = append([]string(nil), scopes...)
	return func(p *apiParams) error {
		s, err := checkScopes(scopes)
		p.scopes = s
		return err
	}
}

// WithTokenTTL makes the API token expire after d (at least 1 minute). By
// default API tokens do not expire.
func WithTokenTTL(d time.Duration) APITokenOption {
	return func(p *apiParams) error {
		if d < time.Minute {
			return fmt.Errorf("issuer: %w: API token TTL %v is under 1 minute", authkit.ErrInvalidRequest, d)
		}
		p.ttl = d
		return nil
	}
}

// checkSubject checks a subject a token or a session is issued to: 1 to
// MaxSubjectLen bytes of UTF-8, safe to print (textsafe).
func checkSubject(subject string) error {
	if err := checkSubjectRef(subject); err != nil {
		return err
	}
	if !textsafe.Valid(subject) {
		return fmt.Errorf("issuer: %w: subject has a control character, a bidirectional control or a line separator", authkit.ErrInvalidRequest)
	}
	return nil
}

// checkSubjectRef checks a subject a call refers to without issuing
// (RevokeSubject, Sessions): only its bounds. A subject issued to before
// checkSubject refused the characters textsafe does must still be
// revocable and listable (found by review).
func checkSubjectRef(subject string) error {
	if subject == "" || len(subject) > MaxSubjectLen || !utf8.ValidString(subject) {
		return fmt.Errorf("issuer: %w: subject must be 1 to %d bytes of valid UTF-8", authkit.ErrInvalidRequest, MaxSubjectLen)
	}
	return nil
}

func checkStrictJSON(b []byte) error { return strictjson.Valid(b) }

// RefreshOption configures one Refresh call.
type RefreshOption func(*refreshParams) error

type refreshParams struct {
	scopes []string
	narrow bool
	// accessTTL and rtTTL are WithClientLifetimes' (0: the issuer's).
	accessTTL, rtTTL time.Duration
	check            func(context.Context, authkit.Session) error
	app              func(context.Context, authkit.Session) ([]string, error)
}

// WithRequestedScopes narrows the refreshed access token to scopes, which
// must all have been granted to the session (RFC 6749 §6). The session
// itself keeps its scopes, so a later refresh may ask for them again.
func WithRequestedScopes(scopes ...string) RefreshOption {
	scopes = append([]string(nil), scopes...)
	return func(p *refreshParams) error {
		s, err := checkScopes(scopes)
		p.scopes, p.narrow = s, true
		return err
	}
}
