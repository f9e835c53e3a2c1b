package authkit

import (
	"context"
	"fmt"
	"time"
)

// OAuth 2.0 client registrations and authorization codes (RFC 6749 §2,
// §4.1; RFC 7636). The HTTP layer (token endpoint client authentication,
// the client_credentials and authorization_code grants) reads them
// through a ClientStore; a backend that offers one implements it beside
// Store and the application passes the same value.

// Grant types a Client may be allowed, as RFC 6749 names them.
const (
	GrantAuthorizationCode = "authorization_code"
	GrantClientCredentials = "client_credentials"
	GrantRefreshToken      = "refresh_token"
	GrantPassword          = "password"
)

// Limits a ClientStore enforces on what it is given; more yields an error
// matching ErrInvalidRequest and stores nothing. ValidateClient and
// ValidateAuthorizationCode check them all.
const (
	// MaxClientIDLen bounds Client.ID (1 to 128 bytes).
	MaxClientIDLen = 128
	// MaxClientNameLen bounds Client.Name.
	MaxClientNameLen = 256
	// MaxClientJWKSLen bounds Client.JWKS (a JWK set document).
	MaxClientJWKSLen = 64 << 10
	// MaxRedirectURIs bounds Client.RedirectURIs; MaxRedirectURILen each.
	MaxRedirectURIs   = 32
	MaxRedirectURILen = 2048
	// MaxClientScopes bounds Client.Scopes and AuthorizationCode.Scopes.
	MaxClientScopes = 128
	// MaxCodeChallengeLen bounds AuthorizationCode.Challenge (RFC 7636 §4.2
	// allows 43 to 128 characters).
	MaxCodeChallengeLen = 128
	// MaxClientGrantTypes bounds Client.GrantTypes; each grant type, like
	// each scope of a client or a code, is 1 to MaxScopeLen bytes.
	MaxClientGrantTypes = 16
	// MaxCodeClaimsLen bounds AuthorizationCode.Claims (a JSON object).
	MaxCodeClaimsLen = 64 << 10
	// MaxCodeUserAgentLen bounds AuthorizationCode.UserAgent.
	MaxCodeUserAgentLen = 1024
	// MaxCodeIPLen bounds AuthorizationCode.IP (an IPv6 address in text
	// is at most 45 bytes).
	MaxCodeIPLen = 64
)

// Client is a registered OAuth 2.0 client. A confidential client
// authenticates with a secret (SecretHash set: client_secret_basic or
// client_secret_post) or with a key (JWKS set: private_key_jwt, RFC 7523);
// a public client (neither) cannot keep a secret and must use PKCE. The
// secret itself is never stored.
type Client struct {
	// ID is the client_id: public, 1 to MaxClientIDLen bytes of visible
	// ASCII.
	ID string
	// Name is a label for people (consent pages, listings).
	Name string
	// SecretHash identifies the client's secret; the zero value means the
	// client has none.
	SecretHash TokenHash `json:"-"`
	// JWKS is the client's public key set for private_key_jwt, as a JWK
	// set document; empty when it authenticates otherwise.
	JWKS []byte
	// GrantTypes lists the grants the client may use (Grant…).
	GrantTypes []string
	// Scopes lists the scopes the client may be granted; tokens it gets
	// carry a subset.
	Scopes []string
	// RedirectURIs lists the exact redirect URIs of the authorization-code
	// grant (compared byte for byte, RFC 9700 §2.1).
	RedirectURIs []string
	// AccessTTL and RefreshTTL shorten the server's lifetimes for the
	// client's tokens: AccessTTL every access token of the client (those
	// of its sessions' refreshes too), RefreshTTL the idle lifetime of
	// each of its refresh tokens. Zero (or more than the server's) keeps
	// the server's.
	AccessTTL  time.Duration `json:"-"`
	RefreshTTL time.Duration `json:"-"`
	// CreatedAt is when the client was registered: required, and the
	// time of the CreateClient call that registers it, never copied from
	// a removed client of the same ID (the HTTP layer refuses sessions
	// and client assertions older than it as an earlier client's).
	// SecretRotatedAt is when its secret was last set (zero: never
	// rotated).
	CreatedAt       time.Time
	SecretRotatedAt time.Time `json:"-"`
}

// Public reports whether c has no credentials of its own (no secret and
// no key set): a public client, which must use PKCE.
func (c Client) Public() bool { return c.SecretHash == (TokenHash{}) && len(c.JWKS) == 0 }

// AllowsGrant reports whether c may use the grant type g.
func (c Client) AllowsGrant(g string) bool {
	for _, x := range c.GrantTypes {
		if x == g {
			return true
		}
	}
	return false
}

// AuthorizationCode is the stored form of an authorization code (RFC 6749
// §4.1.2): short-lived, single use, bound to its client, redirect URI and
// PKCE challenge. The code itself is never stored.
type AuthorizationCode struct {
	// Hash identifies the code.
	Hash TokenHash
	// ClientID and RedirectURI are those of the authorization request;
	// the token request must present the same.
	ClientID    string
	RedirectURI string
	// Subject is the user who authorized; Scopes what was granted.
	Subject string
	Scopes  []string
	// Challenge is the PKCE S256 code_challenge (RFC 7636 §4.2).
	Challenge string
	// Claims are application claims the login put into the tokens (JSON
	// object); nil for none.
	Claims []byte
	// SessionTTL and AccessTTL are the login's own lifetimes for the
	// session and the first access token the code is exchanged for (a
	// "remember me" choice, bounded by the server); zero keeps the
	// server's. Never negative.
	SessionTTL time.Duration
	AccessTTL  time.Duration
	// UserAgent and IP are the User-Agent and the client address of the
	// request that authorized (the user's browser at the login page), for
	// the session the code is exchanged for: the token request comes from
	// the client, a confidential one's server. Empty: unknown (a code
	// stored before they were kept), and the token request's are used.
	UserAgent string
	IP        string
	// CreatedAt and ExpiresAt bound the code's life.
	CreatedAt time.Time
	ExpiresAt time.Time
	// UsedAt is when the code was redeemed (zero: not yet); SessionID the
	// session that redemption created, once recorded, so that a second
	// redemption can revoke it (RFC 6749 §4.1.2).
	UsedAt    time.Time
	SessionID string
}

// ClientStore keeps OAuth 2.0 client registrations and authorization
// codes. It is optional: a backend that offers it implements it beside
// Store, and the HTTP layer finds it by a type assertion on the store it
// was given (or is given one explicitly). Application code manages clients
// through the CLI or its own admin tooling; authorization codes are the
// HTTP layer's. The shared rules in the RefreshStore doc apply (ctx,
// ErrStoreUnavailable, µs timestamps, byte-exact comparison, no aliasing:
// a store keeps copies of the slices it is given and returns fresh ones).
//
// Package conformance checks these rules with RunClientStore.
type ClientStore interface {
	// CreateClient stores c. A client with the same ID already present
	// yields ErrConflict and stores nothing. Fields over the Max… limits,
	// or no CreatedAt, yield ErrInvalidRequest (ValidateClient).
	CreateClient(ctx context.Context, c Client) error

	// GetClient returns the client id, or ErrNotFound.
	GetClient(ctx context.Context, id string) (Client, error)

	// ListClients returns every client, oldest first (ties by ID, in byte
	// order).
	ListClients(ctx context.Context) ([]Client, error)

	// SetClientSecret replaces client id's secret hash with h (the zero
	// hash removes it) and sets SecretRotatedAt to at, as one step.
	// ErrNotFound if there is no such client.
	SetClientSecret(ctx context.Context, id string, h TokenHash, at time.Time) error

	// DeleteClient deletes client id; its authorization codes stop
	// redeeming (RedeemAuthorizationCode answers ErrNotFound for them),
	// and stay dead if the same ID is registered again. ErrNotFound if
	// there is no such client.
	DeleteClient(ctx context.Context, id string) error

	// CreateAuthorizationCode stores code, unused (whatever its UsedAt). A code with the same
	// hash already present yields ErrConflict and stores nothing; a code
	// whose ClientID names no client yields ErrNotFound.
	CreateAuthorizationCode(ctx context.Context, code AuthorizationCode) error

	// RedeemAuthorizationCode marks the code with hash h used at now, as
	// one atomic step, and returns it with UsedAt set. A code never
	// stored, whose client was deleted, or expired at now (ExpiresAt <=
	// now) yields ErrNotFound. A code already redeemed yields the stored
	// record (UsedAt and SessionID of the first redemption) together with
	// an error matching ErrTokenReused: of any number of concurrent
	// redemptions through any handles, exactly one succeeds.
	RedeemAuthorizationCode(ctx context.Context, h TokenHash, now time.Time) (AuthorizationCode, error)

	// SetAuthorizationCodeSession records the session that the redemption
	// of code h created. ErrNotFound if there is no such code.
	SetAuthorizationCodeSession(ctx context.Context, h TokenHash, sessionID string) error

	// DeleteExpiredAuthorizationCodes deletes at most limit codes whose
	// ExpiresAt is at or before now, redeemed or not, and returns how many
	// it deleted. limit > 0; otherwise an error matching
	// ErrInvalidRequest.
	DeleteExpiredAuthorizationCodes(ctx context.Context, now time.Time, limit int) (int, error)
}

// ClientAssertionStore records the client assertions (RFC 7523 JWTs) that
// clients authenticating with private_key_jwt have used, so that a
// captured assertion cannot be presented twice while it is valid (RFC 7523
// §3, item 7). A ClientStore that supports private_key_jwt implements it;
// the HTTP layer refuses private_key_jwt with a store that does not. The
// memory, SQL and Redis stores implement it. The shared rules of the
// ClientStore doc apply.
//
// Package conformance checks it with RunClientStore when the store
// implements it.
type ClientAssertionStore interface {
	// UseClientAssertion records that client clientID used the assertion
	// identified by h (a hash of its client and jti), valid until
	// expiresAt, as one atomic step: the first use of h returns nil, any
	// later use before the record is gone returns an error matching
	// ErrTokenReused — of concurrent uses through any handles, exactly
	// one succeeds. A record whose expiresAt is at or before now counts
	// as absent (the assertion itself has expired by then, so reuse
	// cannot pass). An unknown client yields ErrNotFound; an expiresAt at
	// or before now yields ErrInvalidRequest and records nothing (the
	// caller refuses an expired assertion before it asks).
	// DeleteExpiredAuthorizationCodes deletes expired records too.
	// DeleteClient does not delete a client's records: they stay until
	// they expire, so that a client registered again under the same ID
	// cannot use an assertion its predecessor used.
	UseClientAssertion(ctx context.Context, clientID string, h TokenHash, expiresAt, now time.Time) error
}

// ValidClientID reports whether id can be a Client.ID: 1 to MaxClientIDLen
// bytes of visible ASCII (0x21 to 0x7E), so that no control byte, space or
// non-ASCII text ever reaches a log line or a header as a client_id.
func ValidClientID(id string) bool {
	if id == "" || len(id) > MaxClientIDLen {
		return false
	}
	for i := 0; i < len(id); i++ {
		if id[i] < 0x21 || id[i] > 0x7e {
			return false
		}
	}
	return true
}

// invalidClientField is an error matching ErrInvalidRequest that names the
// field at fault.
func invalidClientField(field, format string, args ...any) error {
	return fmt.Errorf("%w: %s %s", ErrInvalidRequest, field, fmt.Sprintf(format, args...))
}

// checkClientFieldLen refuses a value of field outside lo to hi bytes.
func checkClientFieldLen(field string, n, lo, hi int) error {
	if n < lo || n > hi {
		if lo == 0 {
			return invalidClientField(field, "is %d bytes, over the limit of %d", n, hi)
		}
		return invalidClientField(field, "is %d bytes (%d to %d)", n, lo, hi)
	}
	return nil
}

// checkClientFieldList refuses a list of field with more than maxItems entries or
// an entry outside 1 to maxLen bytes.
func checkClientFieldList(field string, list []string, maxItems, maxLen int) error {
	if len(list) > maxItems {
		return invalidClientField(field, "has %d entries, over the limit of %d", len(list), maxItems)
	}
	for i, v := range list {
		if err := checkClientFieldLen(fmt.Sprintf("%s[%d]", field, i), len(v), 1, maxLen); err != nil {
			return err
		}
	}
	return nil
}

// ValidateClient checks c against the limits every ClientStore enforces
// in CreateClient, and returns nil or an error matching ErrInvalidRequest
// that names the first field at fault:
//
//   - ID: ValidClientID;
//   - Name: at most MaxClientNameLen bytes;
//   - JWKS: at most MaxClientJWKSLen bytes;
//   - GrantTypes: at most MaxClientGrantTypes, each 1 to MaxScopeLen bytes;
//   - Scopes: at most MaxClientScopes, each 1 to MaxScopeLen bytes;
//   - RedirectURIs: at most MaxRedirectURIs, each 1 to MaxRedirectURILen
//     bytes;
//   - AccessTTL, RefreshTTL: not negative;
//   - CreatedAt: set. The HTTP layer tells a registration from an earlier
//     one of the same ID by it (a session or a private_key_jwt assertion
//     older than the registration is the earlier client's), so a client
//     without it could inherit what a removed client of its ID left.
//
// It checks sizes only, not content: a scope or a redirect URI is kept
// byte for byte whatever its bytes (the HTTP layer checks what it
// accepts). A backend may refuse more on top (its own key or column
// limits), never less.
func ValidateClient(c Client) error {
	if !ValidClientID(c.ID) {
		return invalidClientField("Client.ID", "must be 1 to %d bytes of visible ASCII (0x21 to 0x7E); %d bytes given", MaxClientIDLen, len(c.ID))
	}
	if err := checkClientFieldLen("Client.Name", len(c.Name), 0, MaxClientNameLen); err != nil {
		return err
	}
	if err := checkClientFieldLen("Client.JWKS", len(c.JWKS), 0, MaxClientJWKSLen); err != nil {
		return err
	}
	if err := checkClientFieldList("Client.GrantTypes", c.GrantTypes, MaxClientGrantTypes, MaxScopeLen); err != nil {
		return err
	}
	if err := checkClientFieldList("Client.Scopes", c.Scopes, MaxClientScopes, MaxScopeLen); err != nil {
		return err
	}
	if err := checkClientFieldList("Client.RedirectURIs", c.RedirectURIs, MaxRedirectURIs, MaxRedirectURILen); err != nil {
		return err
	}
	if c.AccessTTL < 0 {
		return invalidClientField("Client.AccessTTL", "is negative (%v)", c.AccessTTL)
	}
	if c.RefreshTTL < 0 {
		return invalidClientField("Client.RefreshTTL", "is negative (%v)", c.RefreshTTL)
	}
	if c.CreatedAt.IsZero() {
		return invalidClientField("Client.CreatedAt", "is not set (the registration time tells this client from an earlier one of the same ID)")
	}
	return nil
}

// ValidateAuthorizationCode checks code against the limits every
// ClientStore enforces in CreateAuthorizationCode, and returns nil or an
// error matching ErrInvalidRequest that names the first field at fault:
//
//   - ClientID: ValidClientID;
//   - RedirectURI: at most MaxRedirectURILen bytes;
//   - Scopes: at most MaxClientScopes, each 1 to MaxScopeLen bytes;
//   - Challenge: at most MaxCodeChallengeLen bytes;
//   - Claims: at most MaxCodeClaimsLen bytes;
//   - SessionTTL, AccessTTL: not negative;
//   - UserAgent: at most MaxCodeUserAgentLen bytes; IP: at most
//     MaxCodeIPLen bytes.
//
// UsedAt and SessionID are not checked: a store keeps a new code unused
// whatever they hold. A backend may refuse more on top (its own key or
// column limits, the Subject's length), never less.
func ValidateAuthorizationCode(code AuthorizationCode) error {
	if !ValidClientID(code.ClientID) {
		return invalidClientField("AuthorizationCode.ClientID", "must be 1 to %d bytes of visible ASCII (0x21 to 0x7E); %d bytes given", MaxClientIDLen, len(code.ClientID))
	}
	if err := checkClientFieldLen("AuthorizationCode.RedirectURI", len(code.RedirectURI), 0, MaxRedirectURILen); err != nil {
		return err
	}
	if err := checkClientFieldList("AuthorizationCode.Scopes", code.Scopes, MaxClientScopes, MaxScopeLen); err != nil {
		return err
	}
	if err := checkClientFieldLen("AuthorizationCode.Challenge", len(code.Challenge), 0, MaxCodeChallengeLen); err != nil {
		return err
	}
	if err := checkClientFieldLen("AuthorizationCode.Claims", len(code.Claims), 0, MaxCodeClaimsLen); err != nil {
		return err
	}
	if code.SessionTTL < 0 {
		return invalidClientField("AuthorizationCode.SessionTTL", "is negative (%v)", code.SessionTTL)
	}
	if code.AccessTTL < 0 {
		return invalidClientField("AuthorizationCode.AccessTTL", "is negative (%v)", code.AccessTTL)
	}
	if err := checkClientFieldLen("AuthorizationCode.UserAgent", len(code.UserAgent), 0, MaxCodeUserAgentLen); err != nil {
		return err
	}
	if err := checkClientFieldLen("AuthorizationCode.IP", len(code.IP), 0, MaxCodeIPLen); err != nil {
		return err
	}
	return nil
}
