package golangjwt

import (
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/authkit-go/authkit"
	"github.com/authkit-go/authkit/internal/claims"
)

// RegisteredClaims returns the RFC 7519 registered claims that p carries:
// Issuer (iss) from p.Issuer, Subject (sub), ID (jti) from p.TokenID,
// IssuedAt (iat) and ExpiresAt (exp), each time only when it is set (a
// zero time gives a nil NumericDate, as for a credential that does not
// expire). A nil p gives the zero value. The issuer tells whose user the
// subject names when the verifier trusts several issuers (it was left out,
// so that two issuers' users with one subject looked alike; found by
// review); it is empty for an API token.
//
// A Principal does not carry the audience (aud) or the not-before time
// (nbf): they are left empty, and a caller that mints a token from the
// result sets them (and the issuer it mints as). Nor can jwt.RegisteredClaims hold the
// rest of a Principal: its scopes, client ID and session ID (see
// [AccessTokenClaims], which keeps them), its authentication method, and
// its application claims (use a jwt.MapClaims, or a claims type of your
// own that embeds [AccessClaims], for those).
func RegisteredClaims(p *authkit.Principal) jwt.RegisteredClaims {
	if p == nil {
		return jwt.RegisteredClaims{}
	}
	return jwt.RegisteredClaims{
		Issuer:    p.Issuer,
		Subject:   p.Subject,
		ID:        p.TokenID,
		IssuedAt:  numericDate(p.IssuedAt),
		ExpiresAt: numericDate(p.ExpiresAt),
	}
}

func numericDate(t time.Time) *jwt.NumericDate {
	if t.IsZero() {
		return nil
	}
	return jwt.NewNumericDate(t)
}

// AccessClaims is a golang-jwt claims type for the RFC 9068 access-token
// claims authkit's issuer writes and its verifier reads: the registered
// claims plus client_id, scope (space-separated, RFC 9068 §2.2.3) and sid
// (the refresh family). Use it with jwt.ParseWithClaims to read an
// authkit token, or with [NewAccessToken] to write one. Application claims
// are not kept: embed AccessClaims in a struct of your own for those.
type AccessClaims struct {
	jwt.RegisteredClaims
	// ClientID is the OAuth client the token was issued to (client_id).
	ClientID string `json:"client_id,omitempty"`
	// Scope is the space-separated list of granted scopes (scope).
	Scope string `json:"scope,omitempty"`
	// SessionID is the refresh family the token came from (sid).
	SessionID string `json:"sid,omitempty"`
}

// Scopes returns the scopes of c.Scope in order, or nil when there are none.
// c.Scope is split on spaces only (RFC 6749 §3.3), and a part that is not
// an RFC 6749 scope-token — one holding a tab, a newline, a no-break space
// or another character outside printable ASCII, a quote or a backslash — is
// left out, exactly as authkit's verifier reads the scope claim. (It used
// strings.Fields, which splits on every Unicode space too, so that
// "files.read\tadmin", which the verifier leaves out, granted "admin";
// found by review.)
func (c *AccessClaims) Scopes() []string {
	if c == nil {
		return nil
	}
	if s := claims.SplitScope(c.Scope); len(s) > 0 {
		return s
	}
	return nil
}

// AccessTokenClaims returns the claims of p as [AccessClaims]: those of
// [RegisteredClaims](p) plus p's client ID, scopes (joined with spaces) and
// session ID. Like RegisteredClaims, it leaves aud and nbf empty and
// drops p's method and application claims. A nil p gives the zero value.
func AccessTokenClaims(p *authkit.Principal) AccessClaims {
	if p == nil {
		return AccessClaims{}
	}
	return AccessClaims{
		RegisteredClaims: RegisteredClaims(p),
		ClientID:         p.ClientID,
		Scope:            strings.Join(p.Scopes, " "),
		SessionID:        p.SessionID,
	}
}
