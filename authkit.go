// Package authkit is an embeddable SDK for API authentication: short-lived
// JWT access tokens with rotating refresh tokens and reuse detection, opaque
// API tokens stored hashed, revocation that works for stateless tokens (one
// token, one session, or every session of a subject), key rotation and JWKS,
// and scopes.
//
// This root package holds what every part shares: the [Principal] an
// authenticated request carries, the credential records, the three store
// interfaces a backend implements ([RefreshStore], [RevocationStore],
// [APITokenStore], united as [Store]), the sentinel errors, and the
// [Option] values that configure an issuer.Issuer and a verifier.Verifier.
// Application code mostly uses package issuer (mint, refresh, revoke),
// package verifier (check a presented credential) and one of the adapters.
//
// # Stores
//
// The store interfaces are the contract between authkit and a backend.
// Application code does not call their methods; the Issuer and Verifier do.
// They receive hashes and identities, never a token secret, and judge expiry
// against the now the caller passes. Package conformance checks that a
// backend keeps every promise written in these doc comments.
//
// # Errors
//
// Every error authkit returns matches one of the sentinel values below with
// [errors.Is]; the message adds context and, for store failures, the
// driver's cause. Programs act on the class, never on the message text:
//
//   - [ErrNoCredentials]: the request carried no credential (RFC 6750 §3.1).
//   - [ErrInvalidRequest]: a malformed header or credential (HTTP 400).
//   - [ErrInvalidToken]: the credential does not verify (HTTP 401).
//   - [ErrTokenExpired]: the credential was valid but has expired (HTTP 401).
//   - [ErrTokenRevoked]: the credential, its session or its subject was revoked.
//   - [ErrTokenReused]: an already-rotated refresh token was presented; the
//     session has been revoked. The error is a [*ReuseError].
//   - [ErrInsufficientScope]: authenticated, but a required scope is missing (HTTP 403).
//   - [ErrNotFound], [ErrConflict], [ErrLimitExceeded]: store outcomes.
//   - [ErrFeedPositionLost]: a [RevocationFeed] cannot continue from the
//     position it was given; the follower takes a new snapshot.
//   - [ErrStoreUnavailable]: a store could not answer. The request must be
//     refused (fail closed), never let through.
//   - [ErrInvalidConfig]: issuer.New or verifier.New was given options that
//     cannot work.
//
// A presented token never appears in an error message.
package authkit

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"time"
)

// Sentinel errors. Test for them with [errors.Is]; authkit wraps them with
// context and never compares errors by their text.
var (
	// ErrNoCredentials reports that the request carried no credential of any
	// configured scheme. HTTP layers answer 401 with a bare challenge
	// (RFC 6750 §3.1: no error code).
	ErrNoCredentials = errors.New("authkit: no credentials")
	// ErrInvalidRequest reports a malformed Authorization header, an
	// oversized header, or a credential that is not even well-formed enough
	// to be checked (HTTP 400, invalid_request).
	ErrInvalidRequest = errors.New("authkit: invalid request")
	// ErrInvalidToken reports a credential that does not verify: bad
	// signature, unknown key, wrong issuer or audience, malformed claims,
	// unknown token (HTTP 401, invalid_token).
	ErrInvalidToken = errors.New("authkit: invalid token")
	// ErrTokenExpired reports a credential past its expiry (or a refresh
	// token past its idle or absolute lifetime).
	ErrTokenExpired = errors.New("authkit: token expired")
	// ErrTokenRevoked reports a credential that was revoked, directly, by
	// its session, or by its subject's logout-all cutoff.
	ErrTokenRevoked = errors.New("authkit: token revoked")
	// ErrTokenReused reports that an already-rotated refresh token was
	// presented again (RFC 9700 §4.14). The whole session has been revoked.
	// The concrete error is a *ReuseError.
	ErrTokenReused = errors.New("authkit: refresh token reused")
	// ErrInsufficientScope reports an authenticated principal that lacks a
	// required scope (HTTP 403, insufficient_scope).
	ErrInsufficientScope = errors.New("authkit: insufficient scope")
	// ErrNotFound reports that a store holds no record for the key asked.
	ErrNotFound = errors.New("authkit: not found")
	// ErrConflict reports that a record with the same identity already
	// exists.
	ErrConflict = errors.New("authkit: conflict")
	// ErrLimitExceeded reports that creating one more API token would exceed
	// the subject's limit (see WithAPITokenLimit).
	ErrLimitExceeded = errors.New("authkit: limit exceeded")
	// ErrStoreUnavailable reports that a store could not be reached or did
	// not answer. The request is refused (fail closed).
	ErrStoreUnavailable = errors.New("authkit: store unavailable")
	// ErrInvalidConfig reports options that cannot work together, or a
	// value out of range, at issuer.New or verifier.New.
	ErrInvalidConfig = errors.New("authkit: invalid configuration")
)

// ReuseError reports that a refresh token that had already been rotated was
// presented again. It matches [ErrTokenReused] with [errors.Is].
//
// A RefreshStore returns it from RotateRefresh with every field set; the
// Issuer revokes the session and hands callers a copy without Successor.
type ReuseError struct {
	// SessionID is the refresh family the token belongs to.
	SessionID string
	// Subject owns the session.
	Subject string
	// UsedAt is when the token was rotated (the first, winning rotation).
	UsedAt time.Time
	// Successor is the successor token sealed under a key derived from the
	// presented token's secret, as stored by the winning rotation. Only the
	// issuer can open it, and only with the presented token in hand. It is
	// nil in errors the Issuer returns to callers.
	Successor []byte
}

// Error implements error. It never includes a token. Whether the session
// could be revoked is for the error that wraps it to say: the Issuer adds
// "the session is revoked" or why revoking it failed.
func (e *ReuseError) Error() string {
	return "authkit: refresh token reused (session " + e.SessionID + ")"
}

// Is makes errors.Is(err, ErrTokenReused) true for a *ReuseError.
func (e *ReuseError) Is(target error) bool { return target == ErrTokenReused }

// Authentication methods reported in [Principal.Method].
const (
	MethodJWT      = "jwt"
	MethodAPIToken = "api_token"
	MethodBasic    = "basic"
)

// Principal is the authenticated identity behind a request.
//
// It encodes to JSON (see [Principal.MarshalJSON]) as the object that
// `authkit serve` answers at GET /me:
//
//	{"subject":"alice","scopes":["read"],"method":"jwt","token_id":"…",
//	 "session_id":"…","client_id":"authkit",
//	 "issued_at":"2030-01-02T03:04:05.123Z","expires_at":"2030-01-02T03:09:05Z",
//	 "claims":{"tenant":"acme"}}
//
// subject, scopes (an array, [] when none) and method are always present;
// token_id, session_id, client_id, issued_at, expires_at and claims are
// left out when empty or zero. Times are RFC 3339 in UTC, with a fraction
// of a second when they have one. json.Unmarshal reads the object back
// into a Principal.
type Principal struct {
	// Subject is the authenticated user or client (the JWT "sub").
	Subject string `json:"subject"`
	// Scopes are the granted scopes, in the order the token lists them.
	Scopes []string `json:"scopes"`
	// Method is how the principal authenticated: MethodJWT,
	// MethodAPIToken, MethodBasic.
	Method string `json:"method"`
	// TokenID is the access token's jti, or the API token's ID.
	TokenID string `json:"token_id,omitempty"`
	// SessionID is the refresh family the access token came from, if any.
	SessionID string `json:"session_id,omitempty"`
	// ClientID is the OAuth client the token was issued to, if any.
	ClientID string `json:"client_id,omitempty"`
	// Issuer is the issuer a JWT was verified as: the verifier's own or
	// one it trusts (WithTrustedIssuer), so that an application
	// trusting several can tell whose user Subject names. It is the
	// token's "iss", or, for a token without one that a profile allowing a
	// missing "iss" accepted, that profile's issuer. It is empty for API
	// tokens and Basic credentials.
	Issuer string `json:"issuer,omitempty"`
	// IssuedAt and ExpiresAt bound the credential; ExpiresAt is zero for a
	// credential that does not expire.
	IssuedAt  time.Time `json:"issued_at,omitzero"`
	ExpiresAt time.Time `json:"expires_at,omitzero"`
	// Claims holds the application claims of a JWT (never the registered
	// ones), or nil.
	Claims map[string]any `json:"claims,omitempty"`

	// ClaimsJSON is the verified JWT's claims set exactly as signed, which
	// DecodeClaims reads so that numbers keep their precision; empty for
	// other credentials and for a principal built by hand. The verifier
	// sets it (it shares the one copy of the payload the strings above
	// use, at no extra allocation); treat it as read-only. It is never
	// part of the principal's JSON.
	ClaimsJSON string `json:"-"`
}

// MarshalJSON encodes p as the JSON object described on [Principal]: the
// fields under their json tags, Scopes as [] rather than null when there
// are none, and IssuedAt and ExpiresAt in UTC. It fails only when Claims
// holds a value encoding/json cannot encode.
func (p Principal) MarshalJSON() ([]byte, error) {
	type fields Principal // the same fields and tags, without this method
	f := fields(p)
	if f.Scopes == nil {
		f.Scopes = []string{}
	}
	f.IssuedAt, f.ExpiresAt = f.IssuedAt.UTC(), f.ExpiresAt.UTC()
	return json.Marshal(f)
}

// HasScope reports whether p was granted scope.
func (p *Principal) HasScope(scope string) bool {
	if p == nil {
		return false
	}
	for _, s := range p.Scopes {
		if s == scope {
			return true
		}
	}
	return false
}

type principalKey struct{}

// WithPrincipal returns a copy of ctx that carries p.
func WithPrincipal(ctx context.Context, p *Principal) context.Context {
	return context.WithValue(ctx, principalKey{}, p)
}

// PrincipalFrom returns the Principal stored in ctx by the authkit
// middleware (or WithPrincipal), and whether there was one.
func PrincipalFrom(ctx context.Context) (*Principal, bool) {
	p, ok := ctx.Value(principalKey{}).(*Principal)
	return p, ok && p != nil
}

// TokenPair is what a login or a refresh returns. It marshals to the
// RFC 6749 §5.1 access token response.
type TokenPair struct {
	// AccessToken is the signed JWT.
	AccessToken string `json:"access_token"`
	// TokenType is always "Bearer".
	TokenType string `json:"token_type"`
	// ExpiresIn is the access token's lifetime in seconds.
	ExpiresIn int64 `json:"expires_in"`
	// RefreshToken is the opaque refresh token; empty when none was issued.
	RefreshToken string `json:"refresh_token,omitempty"`
	// Scope is the space-separated granted scope (RFC 6749 §3.3).
	Scope string `json:"scope,omitempty"`

	// AccessExpiresAt is when the access token expires.
	AccessExpiresAt time.Time `json:"-"`
	// RefreshExpiresAt is when the refresh token expires if unused.
	RefreshExpiresAt time.Time `json:"-"`
	// SessionID is the refresh family (the access token's "sid").
	SessionID string `json:"-"`
	// TokenID is the access token's jti.
	TokenID string `json:"-"`
}

// TokenHash is the SHA-256 (or keyed HMAC-SHA-256) of an opaque token. It is
// all a store ever sees of a refresh or API token.
type TokenHash [32]byte

// String returns the hash in lower-case hex.
func (h TokenHash) String() string { return hex.EncodeToString(h[:]) }

// IsZero reports whether h is the zero hash.
func (h TokenHash) IsZero() bool { return h == TokenHash{} }

// Session is one refresh-token family: a login on one device, from which
// every refreshed access token inherits its scopes, audience and claims.
type Session struct {
	// ID identifies the family; access tokens carry it as "sid".
	ID string `json:"id"`
	// Subject owns the session.
	Subject string `json:"subject"`
	// ClientID is the client the session was issued to.
	ClientID string `json:"client_id,omitempty"`
	// Scopes granted at login; a refresh never widens them.
	Scopes []string `json:"scopes,omitempty"`
	// Audience of the access tokens minted in this session.
	Audience []string `json:"audience,omitempty"`
	// Claims is the JSON object of application claims copied into every
	// access token of the session, or nil.
	Claims []byte `json:"-"`
	// UserAgent, IP and Name describe the device (metadata for listings).
	UserAgent string `json:"user_agent,omitempty"`
	IP        string `json:"ip,omitempty"`
	Name      string `json:"name,omitempty"`
	// CreatedAt is the login time; LastUsedAt the last refresh.
	CreatedAt  time.Time `json:"created_at"`
	LastUsedAt time.Time `json:"last_used_at"`
	// ExpiresAt is the absolute end of the family: no refresh after it.
	ExpiresAt time.Time `json:"expires_at"`
	// IdleExpiresAt is when the current refresh token expires unused.
	IdleExpiresAt time.Time `json:"idle_expires_at"`
	// RevokedAt is when the session was revoked; zero while live.
	RevokedAt time.Time `json:"-"`
}

// Live reports whether s can still be refreshed at now.
func (s Session) Live(now time.Time) bool {
	return s.RevokedAt.IsZero() && now.Before(s.ExpiresAt) && now.Before(s.IdleExpiresAt)
}

// RefreshRecord is the stored form of one refresh token.
type RefreshRecord struct {
	// Hash identifies the token.
	Hash TokenHash
	// SessionID is the family the token belongs to.
	SessionID string
	// Subject owns the family.
	Subject string
	// IssuedAt and ExpiresAt bound the token; ExpiresAt is the idle expiry.
	IssuedAt  time.Time
	ExpiresAt time.Time
	// UsedAt is when the token was rotated; zero while it is current.
	UsedAt time.Time
	// Successor is the sealed successor stored by the rotation (see
	// ReuseError.Successor); nil while the token is current.
	Successor []byte
}

// Rotation describes one refresh-token rotation for RefreshStore.RotateRefresh.
type Rotation struct {
	// Old is the hash of the presented token.
	Old TokenHash
	// Next is the hash of its successor.
	Next TokenHash
	// NextExpiresAt is the successor's idle expiry.
	NextExpiresAt time.Time
	// Successor is the successor sealed under the presented token's secret.
	// The store keeps it with the old record and returns it in a ReuseError.
	Successor []byte
	// Now is the issuer's clock. Expiry is judged against it.
	Now time.Time
	// SessionID, when not empty, is the session the presented token was
	// issued in, as the token itself says: the issuer's refresh tokens
	// name their session, and a token's hash covers that name, so Old and
	// Next are hashes of tokens of this session. A store may use it to
	// find the record without a lookup by hash first (a Redis Cluster
	// rotates in one round trip with it), and may then check that Next
	// is not already stored within this session only. A store that uses
	// it never rotates a record of another session: r.Old outside it is
	// ErrNotFound. A store may also ignore it. Empty for tokens made
	// before tokens named their session.
	SessionID string
}

// RefreshStore persists refresh-token families (sessions). Application code
// does not call it; issuer.Issuer does.
//
// Rules shared by the three store interfaces (package conformance checks
// each of them):
//   - Implementations are safe for concurrent use by many goroutines and by
//     many processes sharing the same data.
//   - Every method honours ctx: a cancelled or expired ctx yields an error
//     matching ctx.Err(). An unreachable backend yields an error matching
//     ErrStoreUnavailable; "not found" is never reported for a failure.
//   - A call that returns an error changes nothing.
//   - Times round-trip as the same instant to at least microsecond
//     precision, whatever their location (returning them in UTC is fine).
//     Expiry is judged only against the now passed in, never the store's
//     or the database's clock. Once a call has passed a now at which an
//     entry is expired, the store may drop that entry (native TTLs).
//   - Subjects, IDs and names compare byte for byte: no case folding,
//     Unicode normalisation or trimming. Byte slices (Claims, Successor)
//     round-trip exactly.
//   - An in-process store copies slices on the way in and out; callers may
//     reuse theirs.
//   - Stores never see a token secret: only TokenHash values and identities.
type RefreshStore interface {
	// CreateSession stores s and its first token as one step. s.ID and
	// first.Hash are fresh; a session with the same ID, or a token with the
	// same hash, already present yields ErrConflict and stores nothing.
	CreateSession(ctx context.Context, s Session, first RefreshRecord) error

	// RotateRefresh marks the record r.Old as used (UsedAt = r.Now,
	// Successor = r.Successor) and stores its successor r.Next in the same
	// session, with IssuedAt = r.Now and ExpiresAt = r.NextExpiresAt, as one
	// atomic step; it sets the session's LastUsedAt to r.Now and its
	// IdleExpiresAt to r.NextExpiresAt, and returns the updated session;
	// the session's ExpiresAt (its absolute end) stays as it was, even when
	// r.NextExpiresAt is later. Checks, in order: no record r.Old →
	// ErrNotFound; the session revoked →
	// ErrTokenRevoked; the record already used → a *ReuseError with every
	// field set (this takes precedence over expiry); the record or the
	// session expired at r.Now (record ExpiresAt, session ExpiresAt or
	// IdleExpiresAt <= r.Now) → ErrTokenExpired; a record with hash r.Next
	// already stored → ErrConflict (with r.SessionID set, a store may look
	// within that session only: see Rotation). Of N concurrent calls with the same
	// r.Old, exactly one returns nil; every other call, and any later one,
	// returns a *ReuseError (or ErrTokenRevoked once the session has been
	// revoked). It does not revoke anything itself.
	RotateRefresh(ctx context.Context, r Rotation) (Session, error)

	// LookupRefresh returns the record with hash h, used or not, expired or
	// not, or ErrNotFound.
	LookupRefresh(ctx context.Context, h TokenHash) (RefreshRecord, error)

	// Session returns the session with ID id, live or not, or ErrNotFound.
	Session(ctx context.Context, id string) (Session, error)

	// ListSessions returns subject's live sessions at now (see Session.Live),
	// newest first. No sessions is an empty result, not an error.
	ListSessions(ctx context.Context, subject string, now time.Time) ([]Session, error)

	// RevokeSession marks session id revoked at now; no token of it can be
	// rotated afterwards. ErrNotFound if there is no such session; revoking
	// a revoked session is not an error (its RevokedAt stays the first one).
	RevokeSession(ctx context.Context, id string, now time.Time) error

	// RevokeSubjectSessions revokes every session of subject at now and
	// returns the IDs of those it revoked (those not already revoked). No
	// sessions is not an error.
	RevokeSubjectSessions(ctx context.Context, subject string, now time.Time) ([]string, error)

	// DeleteExpiredSessions deletes at most limit garbage records at now:
	// refresh records with ExpiresAt <= now, and sessions that are revoked or
	// past ExpiresAt or IdleExpiresAt, with their records. It returns how
	// many records (of either kind) it deleted; the caller repeats while the
	// result equals limit. limit > 0.
	DeleteExpiredSessions(ctx context.Context, now time.Time, limit int) (int, error)
}

// RefreshSessionLookup is an optional interface of a RefreshStore that
// can find a refresh record by its session as well as by its hash alone:
// a store sharded by session, whose lookup by hash goes through an index
// of its own (the Redis store on a cluster or a ring, where that index
// lives on another node). The issuer uses it for the refresh tokens that
// name their session (see Rotation.SessionID): introspection, revocation
// by refresh token, and the reuse grace then do not depend on that index.
type RefreshSessionLookup interface {
	// LookupRefreshInSession returns the record with hash h if it belongs
	// to session sessionID, used or not, expired or not; otherwise (no
	// such record, or a record of another session) ErrNotFound. It
	// follows the rules of RefreshStore.
	LookupRefreshInSession(ctx context.Context, sessionID string, h TokenHash) (RefreshRecord, error)
}

// RevocationQuery names an access token's identities for
// RevocationStore.IsRevoked.
type RevocationQuery struct {
	// TokenID is the jti.
	TokenID string
	// SessionID is the sid; empty for a token outside any session.
	SessionID string
	// Subject is the sub.
	Subject string
	// IssuedAt is the iat, with the sub-second precision the token carries.
	// The zero time (a token without iat, which a verifier profile may
	// allow) is before every cutoff: SetCutoff revokes such a token.
	IssuedAt time.Time
}

// RevocationStore answers "is this stateless token dead?". Application code
// does not call it; issuer.Issuer writes and verifier.Verifier reads.
// Revocation is keyed on identities, never on a token's bytes: a revoked jti
// or sid is recorded under its subject (the token's sub), and a query
// matches it only with that same subject. Every entry of a subject can so
// live together (one Redis Cluster hash slot, one index prefix), and
// IsRevoked stays one round trip on a sharded backend. The shared rules in
// the RefreshStore doc apply.
//
// A RevocationStore may also implement [RevocationFeed], so that verifiers
// keep a local mirror of what is revoked ([WithRevocationMirror]) and answer
// from memory instead of asking the store on every request.
type RevocationStore interface {
	// RevokeToken marks subject's token jti dead until until (its exp).
	// Revoking twice keeps the later until.
	RevokeToken(ctx context.Context, subject, jti string, until time.Time) error

	// RevokeSessionTokens marks every token of subject whose sid is sid dead
	// until until. Revoking twice keeps the later until.
	RevokeSessionTokens(ctx context.Context, subject, sid string, until time.Time) error

	// SetCutoff marks every token of subject issued at or before cutoff dead
	// (logout-all), remembered until until. The cutoff keeps at least
	// millisecond precision (a store that keeps less rounds it up, never
	// down). A later cutoff replaces an earlier one; an earlier one never
	// replaces a later one; the until kept is the later of the two.
	SetCutoff(ctx context.Context, subject string, cutoff, until time.Time) error

	// IsRevoked reports whether the token q describes is dead at now: its
	// jti revoked under q.Subject, its sid revoked under q.Subject, or
	// q.IssuedAt at or before q.Subject's cutoff. An empty TokenID or
	// SessionID (a token without a jti, or outside any session) matches
	// no revoked jti or sid. Entries whose until is at
	// or before now no longer count. It answers in one round trip to the
	// backend: this is on the path of every authenticated request. A
	// backend that cannot answer returns ErrStoreUnavailable, never
	// (false, nil).
	//
	// A store that can lose data while its users keep running (see
	// [ErrDataLoss]) also reads its epoch marker in that round trip: a
	// token issued at or before the epoch's start is dead, and IsRevoked
	// returns true with a *DataLossError; a marker found missing starts a
	// new epoch at now (written so that every handle then agrees on it)
	// and reports the token the same way. A store whose data lives and
	// dies with its process (the memory store) keeps no epoch.
	IsRevoked(ctx context.Context, q RevocationQuery, now time.Time) (bool, error)

	// DeleteExpiredRevocations deletes at most limit entries whose until is
	// at or before now and returns how many it deleted. limit > 0.
	DeleteExpiredRevocations(ctx context.Context, now time.Time, limit int) (int, error)
}

// APIToken is the stored form of a long-lived opaque API token (DRF's
// Token, knox's AuthToken). The secret itself is never stored.
type APIToken struct {
	// ID identifies the token in listings and revocation; it is public.
	ID string `json:"id"`
	// Hash identifies the secret.
	Hash TokenHash `json:"-"`
	// Subject owns the token.
	Subject string `json:"subject"`
	// Name is the owner's label for it.
	Name string `json:"name"`
	// Scopes granted to the token.
	Scopes []string `json:"scopes,omitempty"`
	// CreatedAt is when it was created; ExpiresAt when it expires (zero:
	// never); LastUsedAt when it was last seen (coarse, see
	// WithLastUsedInterval); RevokedAt when it was revoked (zero: live).
	CreatedAt  time.Time `json:"created_at"`
	ExpiresAt  time.Time `json:"expires_at,omitzero"`
	LastUsedAt time.Time `json:"last_used_at,omitzero"`
	RevokedAt  time.Time `json:"-"`
}

// Live reports whether t may authenticate at now.
func (t APIToken) Live(now time.Time) bool {
	return t.RevokedAt.IsZero() && (t.ExpiresAt.IsZero() || now.Before(t.ExpiresAt))
}

// APITokenStore persists API tokens. Application code does not call it;
// the Issuer and Verifier do. The shared rules in the RefreshStore doc
// apply.
type APITokenStore interface {
	// CreateAPIToken stores t. If limit > 0 and subject t.Subject already
	// has limit or more live tokens at now, it stores nothing and returns
	// ErrLimitExceeded; the count and the insert are one atomic step, so N
	// concurrent creations never exceed the limit. A duplicate ID or hash
	// yields ErrConflict.
	CreateAPIToken(ctx context.Context, t APIToken, limit int, now time.Time) error

	// LookupAPIToken returns the token with hash h, live or not, or
	// ErrNotFound.
	LookupAPIToken(ctx context.Context, h TokenHash) (APIToken, error)

	// ListAPITokens returns subject's live tokens at now, newest first.
	ListAPITokens(ctx context.Context, subject string, now time.Time) ([]APIToken, error)

	// RevokeAPIToken revokes the token id owned by subject at now.
	// ErrNotFound if subject owns no token id (a token of another subject is
	// "not found" too); revoking twice is not an error, and RevokedAt stays
	// the first one.
	RevokeAPIToken(ctx context.Context, subject, id string, now time.Time) error

	// TouchAPIToken sets token id's LastUsedAt to at, unless it is already
	// later. ErrNotFound if there is no such token.
	TouchAPIToken(ctx context.Context, id string, at time.Time) error

	// DeleteExpiredAPITokens deletes at most limit tokens that are revoked
	// or past ExpiresAt at now and returns how many it deleted. limit > 0.
	DeleteExpiredAPITokens(ctx context.Context, now time.Time, limit int) (int, error)
}

// Store is a backend that keeps all three kinds of state.
type Store interface {
	RefreshStore
	RevocationStore
	APITokenStore
}

// Pinger is implemented by stores that can report reachability cheaply.
// Health endpoints use it when present.
type Pinger interface {
	// Ping returns nil when the backend answers, else an error matching
	// ErrStoreUnavailable.
	Ping(ctx context.Context) error
}

// EventType names an Event.
type EventType string

// Event types reported to the hook set with WithEventHook.
const (
	EventIssued          EventType = "issued"            // a token pair or access token was minted
	EventRefreshed       EventType = "refreshed"         // a refresh token was rotated
	EventReuseDetected   EventType = "reuse_detected"    // a rotated refresh token came back; its session was revoked
	EventRevoked         EventType = "revoked"           // a token, a session or a subject was revoked
	EventAPITokenCreated EventType = "api_token_created" // an API token was created
	EventAuthenticated   EventType = "authenticated"     // a credential verified (only with WithEventHook; hot path)
	EventAuthFailed      EventType = "auth_failed"       // a credential was refused
	EventLoginFailed     EventType = "login_failed"      // a password was refused (unknown user or wrong password); Subject is the user name as given
	EventThrottled       EventType = "throttled"         // a password attempt was refused unchecked: too many failures; Subject is the user name as given
)

// Event describes something security-relevant that happened. It never
// carries a token or secret.
type Event struct {
	// Type is what happened.
	Type EventType
	// Time is when it happened, by the clock of the instance that saw it.
	Time time.Time
	// Subject is the user or client concerned, when known (for
	// EventLoginFailed and EventThrottled, the user name as given).
	Subject string
	// SessionID is the refresh family concerned, if any.
	SessionID string
	// TokenID is the jti, API token ID or refresh session concerned.
	TokenID string
	// Method is the credential kind (MethodJWT, MethodAPIToken, "refresh").
	Method string
	// Err is the reason for EventAuthFailed; for EventReuseDetected the
	// *ReuseError; for EventDataLoss the *DataLossError; for an
	// EventRevoked of a session whose refresh tokens were revoked but
	// whose access tokens' revocation failed, that failure (the access
	// tokens live until they expire, or a retried revocation succeeds);
	// else nil.
	Err error
}

// Scope limits shared by the issuer and the HTTP layer.
const (
	// MaxScopes is the most scopes one token or request may carry.
	MaxScopes = 64
	// MaxScopeLen is the longest scope token, in bytes.
	MaxScopeLen = 128
)

// ValidScope reports whether s is an RFC 6749 §3.3 scope token
// (1*( %x21 / %x23-5B / %x5D-7E )) of at most MaxScopeLen bytes.
func ValidScope(s string) bool {
	if s == "" || len(s) > MaxScopeLen {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x21 || c == 0x22 || c == 0x5c || c > 0x7e {
			return false
		}
	}
	return true
}

// ExternalAPITokens is an optional interface of an APITokenStore that also
// accepts API tokens authkit did not make — a Django REST framework
// authtoken key, a django-rest-knox token — which the verifier cannot find
// by authkit's hash of the token: it hands such a store the presented
// token itself. The verifier finds it by a type assertion on the
// APITokenStore it was given, and asks it only about a token that is
// neither a JWT nor one of authkit's own API tokens.
type ExternalAPITokens interface {
	// OwnsToken reports, from the token's form alone (no I/O, no secret
	// comparison), whether token is of the store's kind. It is false for
	// the empty string and never panics, whatever it is given.
	OwnsToken(token string) bool

	// LookupExternalAPIToken returns the record of exactly token, live or
	// not, or ErrNotFound: a string that differs from a held token in any
	// byte, case or trailing space is another token, whatever the
	// backend's collation matches, and the lookup is by equality, never
	// by pattern (SQL LIKE's % and _ are characters of a token). A token its issuing system deleted or
	// revoked is ErrNotFound or comes back with RevokedAt set. It compares
	// secrets in constant time, never keeps or logs token, and returns
	// fresh slices. A dead ctx is an error matching ctx.Err(), and a
	// backend that cannot answer one matching ErrStoreUnavailable, for held
	// and unknown tokens alike: never ErrNotFound.
	// conformance.RunExternalAPITokens checks these rules.
	LookupExternalAPIToken(ctx context.Context, token string) (APIToken, error)
}
