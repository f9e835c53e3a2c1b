// Package issuer mints and revokes authkit credentials: short-lived JWT
// access tokens, rotating refresh tokens with reuse detection, and opaque
// API tokens.
//
// An [Issuer] is built once with [New] and functional options from the root
// package (authkit.WithKeys, authkit.WithStore, …) and is then immutable and
// safe for concurrent use. Two Issuers in one process never share state.
//
// # Refresh rotation
//
// Every [Issuer.Refresh] replaces the presented refresh token by a new one
// in the same session (family), atomically in the store: of two concurrent
// refreshes with one token exactly one wins. Presenting a token that was
// already rotated is reuse (RFC 9700 §4.14): the whole session is revoked —
// its refresh token and, given a revocation store, every access token minted
// from it — and the call fails with a *authkit.ReuseError. With
// authkit.WithReuseGrace, a repeat within the window instead receives the
// same successor, so a session never forks.
//
// # Errors
//
// Errors match the root package's sentinels with errors.Is:
// authkit.ErrInvalidRequest for bad input, authkit.ErrInvalidToken for a
// token that is not one of ours, authkit.ErrTokenExpired,
// authkit.ErrTokenRevoked, authkit.ErrTokenReused, authkit.ErrNotFound,
// authkit.ErrLimitExceeded, and authkit.ErrStoreUnavailable when a store
// cannot answer. A token never appears in an error.
//
// # Store deadlines
//
// Every store call has the deadline of authkit.WithStoreTimeout (5 seconds
// by default) on top of the caller's context, and the Issuer returns at
// that deadline even if the store's driver does not, with an error
// matching authkit.ErrStoreUnavailable and context.DeadlineExceeded. A
// login (IssuePair) or an API token whose creation was cut short that way,
// or by the caller's context, may still be carried out by the store: once
// the store has answered, the Issuer revokes it again in the background,
// since its secret never reached the client (docs/security.md, "Store
// deadlines"). Stores answered in process (authkit.InProcessStore) are
// called without the deadline.
package issuer

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"reflect"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"github.com/google/uuid"

	"github.com/authkit-go/authkit"
	"github.com/authkit-go/authkit/internal/claims"
	"github.com/authkit-go/authkit/internal/jws"
	"github.com/authkit-go/authkit/internal/opaque"
	"github.com/authkit-go/authkit/internal/storecall"
	"github.com/authkit-go/authkit/internal/textsafe"
	"github.com/authkit-go/authkit/keys"
)

// maxLeeway is the largest leeway a verifier may use (authkit.WithLeeway);
// revocations of sessions and subjects are remembered for the access TTL
// plus this, so that no token they cover can still verify afterwards.
const maxLeeway = 5 * time.Minute

// clockSkewAllowance is how far apart the clocks of the processes sharing
// a store may be, as far as how long revocations are kept goes: a token
// minted where the clock runs ahead expires that much later by the
// revoker's clock, so a revocation kept only for the access TTL plus the
// leeway ended while the token still verified (found by review: 5 minutes
// of skew with the default leeway, 2 seconds with a 5-minute leeway). The
// entries cost a few bytes each for the 5 minutes more. Beyond it a
// revoked token may verify again before it expires (docs/security.md,
// "Clocks").
const clockSkewAllowance = 5 * time.Minute

// Issuer mints, refreshes and revokes credentials. Build it with New.
type Issuer struct {
	keys            *keys.Set
	refresh         authkit.RefreshStore
	revocations     authkit.RevocationStore
	revocationStore authkit.RevocationStore // as configured, not bounded
	apiTokens       authkit.APITokenStore
	codes           []authkit.ClientStore   // for Cleanup: see storesOf
	throttles       []authkit.ThrottleStore // for Cleanup: see storesOf
	storeTimeout    time.Duration
	hasher          opaque.Hasher
	now             func() time.Time
	hook            func(context.Context, authkit.Event)
	log             *slog.Logger
	iss             string
	aud             []string
	clientID        string
	prefix          string
	accessTTL       time.Duration
	retention       time.Duration // authkit.WithRevocationRetention
	refreshTTL      time.Duration
	sessionLifetime time.Duration
	reuseGrace      time.Duration
	unnamedRefresh  bool // authkit.WithRefreshTokensNamingSession(false)
	recent          *recentRevocations
	apiTokenLimit   int
	sessionLimit    int
	// signerDown: the last signature failed (an unreachable KMS), so
	// Refresh checks the signer before it spends a refresh token.
	signerDown atomic.Bool
}

// New returns an Issuer configured by opts. It needs authkit.WithKeys with
// an active signing key; a refresh store (WithStore or WithRefreshStore) is
// needed for IssuePair, Refresh and sessions, an API token store for API
// tokens, and a revocation store for revoking access tokens before they
// expire. Every error matches authkit.ErrInvalidConfig.
func New(opts ...authkit.Option) (*Issuer, error) {
	c, err := authkit.BuildConfig(authkit.RoleIssuer, opts...)
	if err != nil {
		return nil, err
	}
	if c.Keys == nil {
		return nil, fmt.Errorf("%w: issuer.New needs authkit.WithKeys", authkit.ErrInvalidConfig)
	}
	if c.Keys.Active() == nil {
		return nil, fmt.Errorf("%w: the key set has no active signing key", authkit.ErrInvalidConfig)
	}
	i := &Issuer{
		keys:            c.Keys,
		refresh:         c.RefreshStore,
		revocations:     c.RevocationStore,
		revocationStore: c.RevocationStore,
		apiTokens:       c.APITokenStore,
		hasher:          opaque.NewHasher(c.TokenHashKey),
		now:             c.Clock,
		hook:            c.EventHook,
		log:             c.Logger,
		iss:             c.Issuer,
		aud:             c.Audience,
		clientID:        c.ClientID,
		prefix:          c.TokenPrefix,
		accessTTL:       c.AccessTTL,
		retention:       c.RevocationRetention,
		refreshTTL:      c.RefreshTTL,
		sessionLifetime: c.SessionLifetime,
		reuseGrace:      c.ReuseGrace,
		unnamedRefresh:  c.UnnamedRefresh,
		recent:          &recentRevocations{},
		apiTokenLimit:   c.APITokenLimit,
		sessionLimit:    c.SessionLimit,
		storeTimeout:    c.StoreTimeout,
	}
	// Every store call gets the store timeout (authkit.WithStoreTimeout),
	// except those of stores answered in process.
	dl := storecall.New(c.StoreTimeout)
	if i.hook != nil {
		dl.ReportOutages(authkit.OutageEventInterval, i.now, i.outage)
	}
	if i.refresh != nil && !storecall.InProcess(i.refresh) {
		i.refresh = &boundedRefresh{s: i.refresh, dl: dl.For(i.refresh), now: i.now, log: i.log}
	}
	if i.revocations != nil && !storecall.InProcess(i.revocations) {
		i.revocations = &storecall.Revocations{S: i.revocations, DL: dl.For(i.revocations)}
	}
	if i.apiTokens != nil && !storecall.InProcess(i.apiTokens) {
		i.apiTokens = &boundedAPITokens{s: i.apiTokens, dl: dl.For(i.apiTokens), now: i.now, log: i.log}
	}
	for _, cs := range storesOf[authkit.ClientStore](c.RefreshStore, c.RevocationStore, c.APITokenStore) {
		i.codes = append(i.codes, storecall.BoundClients(cs, dl))
	}
	for _, ts := range storesOf[authkit.ThrottleStore](c.RefreshStore, c.RevocationStore, c.APITokenStore) {
		i.throttles = append(i.throttles, storecall.BoundThrottle(ts, dl))
	}
	return i, nil
}

func (i *Issuer) emit(ctx context.Context, e authkit.Event) {
	if i.hook != nil {
		i.hook(ctx, e)
	}
}

// refused reports a refresh token that Refresh turned down (unknown,
// expired, of a revoked session, or a store that could not answer) as
// authkit.EventAuthFailed with method "refresh", and returns err. It names
// no subject: the token was not found, or whose it is cannot be told
// (refusedIn names them for a token the store holds).
func (i *Issuer) refused(ctx context.Context, err error) error {
	return i.refusedIn(ctx, "", "", err)
}

// refusedIn is refused for a refresh token known to be ours: the event
// names its subject and session, as for any credential found in the store
// (found by review: a revoked refresh token presented again, the theft
// signal, named neither).
func (i *Issuer) refusedIn(ctx context.Context, subject, sid string, err error) error {
	i.emit(ctx, authkit.Event{Type: authkit.EventAuthFailed, Time: i.now(), Subject: subject, SessionID: sid, Method: "refresh", Err: err})
	return err
}

// outage reports a store that could not answer (rate-limited by the
// store deadline, see authkit.EventStoreUnavailable).
func (i *Issuer) outage(ctx context.Context, err error) {
	i.emit(ctx, authkit.Event{Type: authkit.EventStoreUnavailable, Time: i.now(), Err: err})
}

func (i *Issuer) params(subject string, opts []IssueOption) (*issueParams, error) {
	if err := checkSubject(subject); err != nil {
		return nil, err
	}
	p := &issueParams{}
	for _, o := range opts {
		if o == nil {
			return nil, fmt.Errorf("issuer: %w: nil IssueOption", authkit.ErrInvalidRequest)
		}
		if err := o(p); err != nil {
			return nil, err
		}
	}
	if p.audience == nil {
		p.audience = i.aud
	}
	if p.clientID == "" {
		p.clientID = i.clientID
	}
	return p, nil
}

// errUnbuilt is what an Issuer that New did not make (a zero Issuer)
// returns from every call, instead of panicking on the fields New sets
// (found by review: a zero Issuer's RevokeSubject crashed the process from
// a goroutine of its own, where no recover of the caller's could catch it).
var errUnbuilt = fmt.Errorf("issuer: %w: an Issuer must be made by issuer.New", authkit.ErrInvalidConfig)

// ready returns errUnbuilt for an Issuer that New did not make.
func (i *Issuer) ready() error {
	if i == nil || i.now == nil || i.log == nil {
		return errUnbuilt
	}
	return nil
}

var errNoRefreshStore = fmt.Errorf("issuer: %w: no refresh store configured (authkit.WithStore or WithRefreshStore)", authkit.ErrInvalidConfig)

// IssueAccessToken mints an access token alone, with no refresh token and
// no store call (simplejwt's stateless mode). It lives for the access TTL
// and can be revoked only by its jti (Revoke) or its subject's cutoff
// (RevokeSubject), and only where a revocation store is configured.
func (i *Issuer) IssueAccessToken(ctx context.Context, subject string, opts ...IssueOption) (authkit.TokenPair, error) {
	if err := i.ready(); err != nil {
		return authkit.TokenPair{}, err
	}
	if err := ctx.Err(); err != nil {
		return authkit.TokenPair{}, err
	}
	p, err := i.params(subject, opts)
	if err != nil {
		return authkit.TokenPair{}, err
	}
	now := i.now()
	pair, err := i.mintTTL(now, p.accessTTL(i.accessTTL), subject, "", p.clientID, p.scopes, p.audience, p.claims)
	if err != nil {
		return authkit.TokenPair{}, err
	}
	i.emit(ctx, authkit.Event{Type: authkit.EventIssued, Time: now, Subject: subject, TokenID: pair.TokenID, Method: p.eventMethod()})
	return pair, nil
}

// IssuePair starts a session for subject (a login) and returns its first
// access and refresh tokens. It needs a refresh store.
func (i *Issuer) IssuePair(ctx context.Context, subject string, opts ...IssueOption) (authkit.TokenPair, error) {
	if err := i.ready(); err != nil {
		return authkit.TokenPair{}, err
	}
	if i.refresh == nil {
		return authkit.TokenPair{}, errNoRefreshStore
	}
	if err := ctx.Err(); err != nil {
		return authkit.TokenPair{}, err
	}
	p, err := i.params(subject, opts)
	if err != nil {
		return authkit.TokenPair{}, err
	}
	now := i.now()
	sid := uuid.NewString()
	rt, err := i.newRefresh(sid)
	if err != nil {
		return authkit.TokenPair{}, fmt.Errorf("issuer: generating a refresh token: %w", err)
	}
	s := authkit.Session{
		ID:         sid,
		Subject:    subject,
		ClientID:   p.clientID,
		Scopes:     p.scopes,
		Audience:   p.audience,
		Claims:     p.claims,
		UserAgent:  p.userAgent,
		IP:         p.ip,
		Name:       p.name,
		CreatedAt:  now,
		LastUsedAt: now,
		ExpiresAt:  now.Add(p.sessionLifetime(i.sessionLifetime)),
	}
	s.IdleExpiresAt = earliest(now.Add(shorter(p.rtTTL, i.refreshTTL)), s.ExpiresAt)
	rec := authkit.RefreshRecord{
		Hash:      i.hasher.Hash(rt),
		SessionID: s.ID,
		Subject:   subject,
		IssuedAt:  now,
		ExpiresAt: s.IdleExpiresAt,
	}
	// Sign first: a signer that is down (a KMS outage) then leaves no
	// session behind that nobody received.
	pair, err := i.mintTTL(now, p.accessTTL(i.accessTTL), subject, s.ID, s.ClientID, s.Scopes, s.Audience, s.Claims)
	if err != nil {
		return authkit.TokenPair{}, err
	}
	evict, err := i.overLimit(ctx, subject, now)
	if err != nil {
		return authkit.TokenPair{}, err
	}
	if err := i.refresh.CreateSession(ctx, s, rec); err != nil {
		return authkit.TokenPair{}, fmt.Errorf("issuer: creating session: %w", err)
	}
	if p.created != nil {
		if err := p.created(ctx, s.ID); err != nil {
			i.abandon(ctx, s.ID, now)
			return authkit.TokenPair{}, err
		}
	}
	if err := i.endSessions(ctx, subject, evict, now); err != nil {
		i.abandon(ctx, s.ID, now)
		return authkit.TokenPair{}, err
	}
	pair.RefreshToken = rt
	pair.RefreshExpiresAt = s.IdleExpiresAt
	i.emit(ctx, authkit.Event{Type: authkit.EventIssued, Time: now, Subject: subject, SessionID: s.ID, TokenID: pair.TokenID, Method: p.eventMethod()})
	return pair, nil
}

func earliest(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}

// mint signs an access token with the active key.
func (i *Issuer) mint(now time.Time, subject, sid, clientID string, scopes, aud []string, extra []byte) (authkit.TokenPair, error) {
	return i.mintTTL(now, i.accessTTL, subject, sid, clientID, scopes, aud, extra)
}

// mintTTL is mint with a lifetime of ttl (at most the access TTL).
func (i *Issuer) mintTTL(now time.Time, ttl time.Duration, subject, sid, clientID string, scopes, aud []string, extra []byte) (authkit.TokenPair, error) {
	k := i.keys.Active()
	if k == nil {
		return authkit.TokenPair{}, fmt.Errorf("issuer: %w: the key set has no active signing key", authkit.ErrInvalidConfig)
	}
	jti := uuid.NewString()
	exp := now.Add(ttl)
	payload := claims.Append(make([]byte, 0, 320+len(extra)), claims.Fields{
		Issuer:    i.iss,
		Subject:   subject,
		Audience:  aud,
		ExpiresAt: exp,
		IssuedAt:  now,
		TokenID:   jti,
		ClientID:  clientID,
		Scopes:    scopes,
		SessionID: sid,
		Extra:     extra,
	})
	tok, err := jws.Sign(k, claims.TypeAccessToken, payload)
	if err != nil {
		i.signerDown.Store(true)
		return authkit.TokenPair{}, fmt.Errorf("issuer: signing: %w", err)
	}
	if i.signerDown.Load() {
		i.signerDown.Store(false)
	}
	return authkit.TokenPair{
		AccessToken:     tok,
		TokenType:       "Bearer",
		ExpiresIn:       int64(ttl / time.Second),
		Scope:           joinScopes(scopes),
		AccessExpiresAt: time.Unix(exp.Unix(), 0),
		SessionID:       sid,
		TokenID:         jti,
	}, nil
}

// signerProbeType is the "typ" of the signature signerReady makes: a JWS
// no verifier accepts as a token (no claims, not an access token's type),
// and one that never leaves the process.
const signerProbeType = "authkit-signer-probe"

// signerReady checks, after a signature has failed (signerDown), that the
// signer works again before Refresh spends a refresh token: it signs an
// empty payload and discards the result. Without the check, every refresh
// during a signer outage (a KMS that is down or throttling) would rotate
// the token and then fail to sign, and the client's retry with the token
// it still holds would be taken for reuse and revoke the session; with it,
// only the refreshes that met the outage's first failure are spent, and
// the others are refused with their token still current.
func (i *Issuer) signerReady() error {
	if !i.signerDown.Load() {
		return nil
	}
	k := i.keys.Active()
	if k == nil {
		return fmt.Errorf("issuer: %w: the key set has no active signing key", authkit.ErrInvalidConfig)
	}
	if _, err := jws.Sign(k, signerProbeType, []byte("{}")); err != nil {
		return fmt.Errorf("issuer: refresh: the signing key still fails, so the refresh token was not rotated: %w", err)
	}
	i.signerDown.Store(false)
	return nil
}

func joinScopes(s []string) string {
	n := 0
	for _, x := range s {
		n += len(x) + 1
	}
	b := make([]byte, 0, n)
	for j, x := range s {
		if j > 0 {
			b = append(b, ' ')
		}
		b = append(b, x...)
	}
	return string(b)
}

// Refresh rotates refreshToken: it returns a new access token and a new
// refresh token in the same session, with the session's scopes (never
// wider). The presented token is spent. Errors: authkit.ErrInvalidToken
// (not a refresh token of ours), authkit.ErrTokenExpired (idle TTL or
// session lifetime passed), authkit.ErrTokenRevoked (session revoked),
// *authkit.ReuseError (the token had already been rotated: the session is
// now revoked).
//
// With WithRequestedScopes the new access token carries only the scopes
// asked for (RFC 6749 §6); asking for one the session was not granted fails
// with authkit.ErrInsufficientScope before anything is rotated, as does a
// WithRefreshCheck that allows none of a session's scopes. A token
// that was already rotated is reuse whatever scopes it asks for, as
// without the option (a repeat inside WithReuseGrace asking for a scope
// that was not granted fails with ErrInsufficientScope and revokes
// nothing).
//
// The token is rotated before the access token is signed (the claims come
// from the rotation). After a signature has failed (a KMS that is down,
// keys.ErrSignerFailed), Refresh first checks that the signer works again
// and, while it does not, fails without rotating, so that the token stays
// current for the client's retry; see docs/security.md.
func (i *Issuer) Refresh(ctx context.Context, refreshToken string, opts ...RefreshOption) (authkit.TokenPair, error) {
	if err := i.ready(); err != nil {
		return authkit.TokenPair{}, err
	}
	if i.refresh == nil {
		return authkit.TokenPair{}, errNoRefreshStore
	}
	if err := ctx.Err(); err != nil {
		return authkit.TokenPair{}, err
	}
	if err := opaque.Check(refreshToken, i.prefix, opaque.KindRefresh); err != nil {
		return authkit.TokenPair{}, i.refused(ctx, fmt.Errorf("issuer: refresh: %w: not a refresh token", authkit.ErrInvalidToken))
	}
	var rp refreshParams
	for _, o := range opts {
		if o == nil {
			return authkit.TokenPair{}, fmt.Errorf("issuer: %w: nil RefreshOption", authkit.ErrInvalidRequest)
		}
		if err := o(&rp); err != nil {
			return authkit.TokenPair{}, err
		}
	}
	var allowed []string // the scopes rp.app still allows; with rp.app only
	checked := false     // rp.run and rp.granted passed on the current session
	// The session the token names (tokens made before they named theirs
	// name none: found below). The successor names it too, and a store
	// may find the token through it in one step (authkit.Rotation).
	sid := opaque.SessionOf(refreshToken, i.prefix)
	if rp.check != nil || rp.app != nil || rp.narrow {
		// A token that is not current may be a rotated one: leave it to
		// the rotation below, so that its reuse is detected (a pre-check
		// that refused it would let a thief's successor live on); the
		// checks apply again to a grace-window successor.
		cur, rec, err := i.refreshSession(ctx, refreshToken)
		switch {
		case err == nil:
			if allowed, err = rp.run(ctx, cur); err != nil {
				return authkit.TokenPair{}, i.refusedIn(ctx, cur.Subject, cur.ID, err)
			}
			if err := rp.granted(cur); err != nil {
				return authkit.TokenPair{}, err
			}
			if _, err := rp.scopesFor(cur, allowed); err != nil {
				return authkit.TokenPair{}, err // before the token is spent
			}
			checked = true
			if sid == "" {
				sid = cur.ID
			}
		case !errors.Is(err, authkit.ErrInvalidToken):
			// rec is the token's record when the store holds it (revoked,
			// expired): the event names its subject and session (found
			// by review: the HTTP refresh grant, which always checks
			// first, named neither).
			return authkit.TokenPair{}, i.refusedIn(ctx, rec.Subject, rec.SessionID, err)
		}
	}
	if err := i.signerReady(); err != nil {
		return authkit.TokenPair{}, i.refused(ctx, err)
	}
	old := i.hasher.Hash(refreshToken)
	if sid == "" {
		// A token that does not name its session (one made before
		// tokens did): one lookup finds it, so that the successor names
		// it and the family rotates in one step from then on. Used and
		// expired records are found too, and go on to the rotation,
		// which tells reuse from expiry.
		rec, err := i.refresh.LookupRefresh(ctx, old)
		switch {
		case errors.Is(err, authkit.ErrNotFound) || err == nil && !opaque.Equal(rec.Hash, old):
			return authkit.TokenPair{}, i.refused(ctx, fmt.Errorf("issuer: refresh: %w: unknown refresh token", authkit.ErrInvalidToken))
		case err != nil:
			return authkit.TokenPair{}, i.refused(ctx, fmt.Errorf("issuer: refresh: %w", err))
		}
		sid = rec.SessionID
	}
	now := i.now()
	next, err := i.newRefresh(sid)
	if err != nil {
		return authkit.TokenPair{}, fmt.Errorf("issuer: generating a refresh token: %w", err)
	}
	sealed, err := opaque.Seal(refreshToken, next)
	if err != nil {
		return authkit.TokenPair{}, fmt.Errorf("issuer: sealing successor: %w", err)
	}
	s, err := i.refresh.RotateRefresh(ctx, authkit.Rotation{
		Old:           old,
		Next:          i.hasher.Hash(next),
		NextExpiresAt: now.Add(shorter(rp.rtTTL, i.refreshTTL)),
		Successor:     sealed,
		Now:           now,
		SessionID:     sid,
	})
	if err != nil {
		if re, ok := errors.AsType[*authkit.ReuseError](err); ok {
			return i.reused(ctx, refreshToken, re, now, &rp)
		}
		if errors.Is(err, authkit.ErrNotFound) {
			return authkit.TokenPair{}, i.refused(ctx, fmt.Errorf("issuer: refresh: %w: unknown refresh token", authkit.ErrInvalidToken))
		}
		if errors.Is(err, authkit.ErrTokenRevoked) || errors.Is(err, authkit.ErrTokenExpired) {
			// The store found the token in session sid: name its subject
			// too (one read, on this refusal only).
			if s, serr := i.refresh.Session(ctx, sid); serr == nil && s.ID == sid {
				return authkit.TokenPair{}, i.refusedIn(ctx, s.Subject, sid, fmt.Errorf("issuer: refresh: %w", err))
			}
		}
		return authkit.TokenPair{}, i.refused(ctx, fmt.Errorf("issuer: refresh: %w", err))
	}
	if s.ID != sid {
		// The successor names sid; a store that rotated a record of
		// another session is broken, and the pair is not handed out.
		return authkit.TokenPair{}, i.refused(ctx, fmt.Errorf("issuer: refresh: %w: the store rotated a token of another session than the one it names", authkit.ErrStoreUnavailable))
	}
	// A token the pre-check did not find current, yet rotated (a store
	// whose two reads disagreed): the checks run on the rotation's
	// session, failing closed. Narrowing never widens either way.
	if !checked && (rp.check != nil || rp.app != nil) {
		if allowed, err = rp.run(ctx, s); err != nil {
			return authkit.TokenPair{}, i.refused(ctx, err)
		}
	}
	if err := rp.granted(s); err != nil {
		return authkit.TokenPair{}, err
	}
	if s.Scopes, err = rp.scopesFor(s, allowed); err != nil {
		// Only when the pre-check did not run on this token (a store
		// whose reads disagreed): it is spent now, so not the
		// pre-check's "unspent" ErrInsufficientScope (found by review).
		return authkit.TokenPair{}, i.refused(ctx, fmt.Errorf("issuer: refresh: %w: the token was rotated, and none of the session's scopes is still allowed", authkit.ErrTokenRevoked))
	}
	return i.pairFor(ctx, s, next, earliest(now.Add(shorter(rp.rtTTL, i.refreshTTL)), s.ExpiresAt), now, rp.accessTTL)
}

// RefreshSession returns the session of refreshToken if the token is
// current: not rotated, not expired, its session live. It changes nothing
// (token introspection, RFC 7662). A rotated token is authkit.ErrInvalidToken
// here (no reuse handling: that is Refresh's job).
func (i *Issuer) RefreshSession(ctx context.Context, refreshToken string) (authkit.Session, error) {
	if err := i.ready(); err != nil {
		return authkit.Session{}, err
	}
	if i.refresh == nil {
		return authkit.Session{}, errNoRefreshStore
	}
	s, _, err := i.refreshSession(ctx, refreshToken)
	return s, err
}

// refreshSession is RefreshSession, with the record of the token when the
// store holds it (its subject and session name the refusal of a token
// known to be ours in the audit trail).
func (i *Issuer) refreshSession(ctx context.Context, refreshToken string) (authkit.Session, authkit.RefreshRecord, error) {
	if opaque.Check(refreshToken, i.prefix, opaque.KindRefresh) != nil {
		return authkit.Session{}, authkit.RefreshRecord{}, fmt.Errorf("issuer: %w: not a refresh token", authkit.ErrInvalidToken)
	}
	h := i.hasher.Hash(refreshToken)
	rec, err := i.lookupRefresh(ctx, opaque.SessionOf(refreshToken, i.prefix), h)
	if errors.Is(err, authkit.ErrNotFound) || err == nil && !opaque.Equal(rec.Hash, h) {
		return authkit.Session{}, authkit.RefreshRecord{}, fmt.Errorf("issuer: %w: unknown refresh token", authkit.ErrInvalidToken)
	}
	if err != nil {
		return authkit.Session{}, authkit.RefreshRecord{}, fmt.Errorf("issuer: refresh session: %w", err)
	}
	s, err := i.recordSession(ctx, rec)
	return s, rec, err
}

// recordSession is the session of rec if rec is current (refreshSession).
func (i *Issuer) recordSession(ctx context.Context, rec authkit.RefreshRecord) (authkit.Session, error) {
	now := i.now()
	if !rec.UsedAt.IsZero() {
		return authkit.Session{}, fmt.Errorf("issuer: %w: refresh token already rotated", authkit.ErrInvalidToken)
	}
	if !now.Before(rec.ExpiresAt) {
		return authkit.Session{}, fmt.Errorf("issuer: %w", authkit.ErrTokenExpired)
	}
	s, err := i.refresh.Session(ctx, rec.SessionID)
	if err != nil {
		if errors.Is(err, authkit.ErrNotFound) {
			return authkit.Session{}, fmt.Errorf("issuer: %w: session gone", authkit.ErrTokenRevoked)
		}
		return authkit.Session{}, fmt.Errorf("issuer: refresh session: %w", err)
	}
	if !s.RevokedAt.IsZero() {
		return authkit.Session{}, fmt.Errorf("issuer: %w", authkit.ErrTokenRevoked)
	}
	if !s.Live(now) {
		return authkit.Session{}, fmt.Errorf("issuer: %w", authkit.ErrTokenExpired)
	}
	return s, nil
}

// lookupRefresh finds the record with hash h of a refresh token that names
// session sid ("" for a token that names none): through the session where
// the store can look there (authkit.RefreshSessionLookup, which the
// bounded store always offers), else by hash.
func (i *Issuer) lookupRefresh(ctx context.Context, sid string, h authkit.TokenHash) (authkit.RefreshRecord, error) {
	return lookupIn(ctx, i.refresh, sid, h)
}

// JWKS returns the public JWKS document of the issuer's key set (RFC 7517),
// for serving at /.well-known/jwks.json. Symmetric keys are never included.
func (i *Issuer) JWKS() ([]byte, error) {
	if err := i.ready(); err != nil {
		return nil, err
	}
	return i.keys.JWKS()
}

// Stores reports which stores the issuer was configured with, so that a
// caller (the HTTP layer) can refuse at start-up to serve what cannot work.
func (i *Issuer) Stores() (refresh, revocation, apiTokens bool) {
	return i.refresh != nil, i.revocations != nil, i.apiTokens != nil
}

// RevocationStore returns the revocation store the issuer was configured
// with (authkit.WithStore or WithRevocationStore), or nil. httpauth checks
// with it that a verifier beside the issuer reads the same revocations.
func (i *Issuer) RevocationStore() authkit.RevocationStore { return i.revocationStore }

// AccessTTL returns the lifetime of the access tokens this issuer mints.
func (i *Issuer) AccessTTL() time.Duration { return i.accessTTL }

// RefreshTTL returns the idle lifetime of refresh tokens.
func (i *Issuer) RefreshTTL() time.Duration { return i.refreshTTL }

func (i *Issuer) pairFor(ctx context.Context, s authkit.Session, rt string, rtExp, now time.Time, accessTTL time.Duration) (authkit.TokenPair, error) {
	pair, err := i.mintTTL(now, shorter(accessTTL, i.accessTTL), s.Subject, s.ID, s.ClientID, s.Scopes, s.Audience, s.Claims)
	if err != nil {
		return authkit.TokenPair{}, err
	}
	pair.RefreshToken = rt
	pair.RefreshExpiresAt = rtExp
	i.emit(ctx, authkit.Event{Type: authkit.EventRefreshed, Time: now, Subject: s.Subject, SessionID: s.ID, TokenID: pair.TokenID, Method: "refresh"})
	return pair, nil
}

// reused handles a presentation of an already-rotated token: inside the
// grace window it hands out the same successor; otherwise it revokes the
// session.
//
// The grace is judged by two clocks: UsedAt is the rotating process's,
// now this one's. A presentation whose now is before UsedAt by more than
// the grace gets none: this clock is behind, and how long ago the
// rotation was cannot be told (found by review: every negative difference
// counted as inside the window, so a replica 2 minutes behind handed the
// successor to a token presented 90 seconds after its rotation).
func (i *Issuer) reused(ctx context.Context, presented string, re *authkit.ReuseError, now time.Time, rp *refreshParams) (authkit.TokenPair, error) {
	if i.reuseGrace > 0 && !now.After(re.UsedAt.Add(i.reuseGrace)) && !now.Before(re.UsedAt.Add(-i.reuseGrace)) && len(re.Successor) > 0 {
		pair, ok, err := i.graceSuccessor(ctx, presented, re, now, rp)
		if err != nil {
			return authkit.TokenPair{}, err
		}
		if ok {
			return pair, nil
		}
	}
	out := &authkit.ReuseError{SessionID: re.SessionID, Subject: re.Subject, UsedAt: re.UsedAt}
	// The session is revoked even if the event hook or the logger panics
	// (found by review: a hook that panicked on this event, its alerting
	// backend down, left the thief's successor refreshing), and after the
	// event, so that the hook hears of the reuse before the revocation.
	var err error
	func() {
		defer func() { err = i.revokeSession(ctx, re.Subject, re.SessionID, now, false) }()
		i.emit(ctx, authkit.Event{Type: authkit.EventReuseDetected, Time: now, Subject: re.Subject, SessionID: re.SessionID, Method: "refresh", Err: out})
		i.log.WarnContext(ctx, "authkit: refresh token reuse detected; revoking session", "session", re.SessionID, "subject", re.Subject)
	}()
	switch {
	case errors.Is(err, authkit.ErrNotFound):
		return authkit.TokenPair{}, fmt.Errorf("issuer: refresh: %w; the session had already ended", out)
	case err != nil:
		// The reuse stands; say also that the session could not be revoked.
		return authkit.TokenPair{}, fmt.Errorf("issuer: refresh: %w; revoking the session failed: %w", out, err)
	}
	return authkit.TokenPair{}, fmt.Errorf("issuer: refresh: %w; the session is revoked", out)
}

// graceSuccessor answers a repeat, inside the grace window, of a refresh
// that rotated presented: the same successor, with a new access token. ok
// is false when there is no grace for it (the reuse then stands): only a
// definite answer says so — no successor to hand out, a session that is
// not live, a check that refuses. err is set for a repeat that asks for
// scopes the session was not granted, which is refused as a first
// presentation would be, and for a failure that answers nothing (the
// store or a check could not answer, the context ended, the signer
// failed): Refresh returns it, handing out nothing and revoking nothing,
// so that a client's retry inside the window during a blip is not taken
// for reuse and its user logged out (found by review).
func (i *Issuer) graceSuccessor(ctx context.Context, presented string, re *authkit.ReuseError, now time.Time, rp *refreshParams) (pair authkit.TokenPair, ok bool, err error) {
	next, err := opaque.Open(presented, re.Successor)
	if err != nil {
		return authkit.TokenPair{}, false, nil
	}
	rec, err := i.lookupRefresh(ctx, re.SessionID, i.hasher.Hash(next))
	if err != nil && !errors.Is(err, authkit.ErrNotFound) {
		return authkit.TokenPair{}, false, fmt.Errorf("issuer: refresh: %w", err)
	}
	if err != nil || !rec.UsedAt.IsZero() || !now.Before(rec.ExpiresAt) || rec.SessionID != re.SessionID {
		return authkit.TokenPair{}, false, nil
	}
	s, err := i.refresh.Session(ctx, re.SessionID)
	if err != nil && !errors.Is(err, authkit.ErrNotFound) {
		return authkit.TokenPair{}, false, fmt.Errorf("issuer: refresh: %w", err)
	}
	if err != nil || !s.Live(now) {
		return authkit.TokenPair{}, false, nil
	}
	allowed, err := rp.run(ctx, s)
	if err != nil {
		if noAnswer(err) {
			return authkit.TokenPair{}, false, err
		}
		// Not the session's client, or the application refuses: no
		// grace; the reuse stands.
		return authkit.TokenPair{}, false, nil
	}
	if err := rp.granted(s); err != nil {
		return authkit.TokenPair{}, false, err
	}
	if s.Scopes, err = rp.scopesFor(s, allowed); err != nil {
		// The presented token was spent by the first presentation: not
		// the "unspent" ErrInsufficientScope of a first refusal, which
		// would have the client keep it and later trip reuse detection
		// (found by review). Nothing is revoked.
		return authkit.TokenPair{}, false, i.refused(ctx, fmt.Errorf("issuer: refresh: %w: the token was already rotated, and none of the session's scopes is still allowed", authkit.ErrTokenRevoked))
	}
	pair, err = i.pairFor(ctx, s, next, earliest(rec.ExpiresAt, s.ExpiresAt), now, rp.accessTTL)
	if err != nil {
		return authkit.TokenPair{}, false, err
	}
	return pair, true, nil
}

// noAnswer reports an error that says nothing of the token: a store or a
// check that could not answer, or a context that ended.
func noAnswer(err error) bool {
	return errors.Is(err, authkit.ErrStoreUnavailable) || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded)
}

// overLimit returns the sessions of subject that a login must end so
// that, with the session it is about to create, the subject holds at most
// the session limit (authkit.WithSessionLimit): the least recently used.
// It only reads; the login ends them (endSessions) once its own session
// exists, so a login that fails to create its session costs the user
// nothing (found by review: evicting first, a failed create ended a live
// session and gave nothing in its place). A store that cannot list
// refuses the login before anything is written.
func (i *Issuer) overLimit(ctx context.Context, subject string, now time.Time) ([]authkit.Session, error) {
	if i.sessionLimit == 0 {
		return nil, nil
	}
	live, err := i.refresh.ListSessions(ctx, subject, now)
	if err != nil {
		return nil, fmt.Errorf("issuer: session limit: %w", err)
	}
	over := len(live) - i.sessionLimit + 1
	if over <= 0 {
		return nil, nil
	}
	slices.SortFunc(live, func(a, b authkit.Session) int {
		if c := a.LastUsedAt.Compare(b.LastUsedAt); c != 0 {
			return c
		}
		if c := a.CreatedAt.Compare(b.CreatedAt); c != 0 {
			return c
		}
		return strings.Compare(a.ID, b.ID)
	})
	return live[:over], nil
}

// endSessions ends the sessions overLimit chose, once the login created
// its own, least recently used first, and stops at the first that cannot
// be ended: the login is then refused (IssuePair abandons its session),
// so that a store failing to end sessions cannot let logins pile them up
// past the cap (found by review). Between sessions it stops when the
// caller's ctx has ended (the login is then refused too), so that a login
// that must end many sessions stays within the caller's deadline; each
// session it begins to end is ended whatever the caller does
// (revokeSession).
func (i *Issuer) endSessions(ctx context.Context, subject string, evict []authkit.Session, now time.Time) error {
	for _, s := range evict {
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("issuer: session limit: %w", err)
		}
		if err := i.revokeSession(ctx, subject, s.ID, now, true); err != nil && !errors.Is(err, authkit.ErrNotFound) {
			return fmt.Errorf("issuer: session limit: ending session %s: %w", s.ID, err)
		}
	}
	return nil
}

// abandon ends session id, just created by a login that is refused: its
// tokens were never returned, so ending its refresh family is enough. A
// failure is logged: the session then lives on, though nobody holds its
// refresh token.
//
// It runs to its end whatever the caller does, and the refused login
// waits for it as long as its ctx allows (outlive).
func (i *Issuer) abandon(ctx context.Context, id string, now time.Time) {
	_ = i.outlive(ctx, "end of the session", func(dctx context.Context) error {
		if err := i.refresh.RevokeSession(dctx, id, now); err != nil {
			i.log.WarnContext(dctx, "authkit: could not end the session of a refused login; nobody holds its refresh token", "session", id, "error", err)
		}
		return nil
	})
}

// outlive runs f, a revocation, with a context that does not end with
// ctx, so that it runs to its end (each store call still bounded by the
// store timeout) even when its caller leaves halfway, and waits for it as
// long as ctx allows: the caller still returns at its own deadline, as
// from any store call (an error matching ErrStoreUnavailable and
// context.DeadlineExceeded, or context.Canceled), while f finishes in the
// background. f starts even if ctx has already ended. A panic in f
// reaches the caller if it still waits. what names f in that error ("the
// revocation goes on in the background"); callers add their own prefix.
func (i *Issuer) outlive(ctx context.Context, what string, f func(context.Context) error) error {
	type result struct {
		err error
		p   any
	}
	done := make(chan result, 1)
	go func() {
		var r result
		defer func() {
			if p := recover(); p != nil {
				r.p = p
				i.log.ErrorContext(ctx, "authkit: a revocation panicked", "op", what, "panic", fmt.Sprint(p))
			}
			done <- r
		}()
		r.err = f(context.WithoutCancel(ctx))
	}()
	var r result
	select {
	case r = <-done:
	case <-ctx.Done():
		select {
		case r = <-done: // it finished as the caller left: its answer
		default:
			if err := ctx.Err(); errors.Is(err, context.Canceled) {
				return err
			}
			return fmt.Errorf("%w: the store did not answer before the caller's deadline (the %s goes on in the background): %w", authkit.ErrStoreUnavailable, what, ctx.Err())
		}
	}
	if r.p != nil {
		panic(r.p)
	}
	return r.err
}

// CleanupMargin is how long after their expiry Cleanup leaves records in
// place: a bound on how fast the clock of the process that runs it may
// run without deleting anything still in force.
const CleanupMargin = time.Hour

// revokeUntil is how long a session or subject revocation must be
// remembered: until every access token it covers has expired — the
// issuer's, and those of other issuers within WithRevocationRetention —
// whatever leeway a verifier allows, and whichever process's clock minted
// it (within clockSkewAllowance).
func (i *Issuer) revokeUntil(now time.Time) time.Time {
	return now.Add(max(i.accessTTL, i.retention) + maxLeeway + clockSkewAllowance)
}

// revokeSession revokes session id of subject: its access tokens in the
// revocation store, then the family in the refresh store, which it
// revokes even when the first write failed, returning that failure. A
// family left live until something ran this again kept its holder
// refreshing for as long as nothing did: after a reuse that revoking
// failed, the owner's client, told its refresh failed, rarely presents
// the reused token again (found by review: with the revocation written
// but short of its replica acknowledgements, the thief's successor
// rotated on). Revoked, the family mints nothing more, and the access
// tokens it minted, if their revocation was lost, end at their expiry.
// An administrator's retry still completes it (the session is found
// and its access tokens revoked again); a reused token presented again
// meets "session revoked" instead (found by an earlier review: such a
// retry no longer writes the access tokens' revocation). With
// keepFamily (the session limit's eviction, whose login is refused when
// it fails) a failed first write leaves the family live instead: the
// refused login then ends nothing, and the next one tries again.
// Revoking the access tokens of a session that does not exist
// (ErrNotFound from the refresh store) is harmless. A repeat of a
// revocation of the session this issuer wrote within recentWindow writes
// nothing and reports nothing (recentRevocations).
func (i *Issuer) revokeSession(ctx context.Context, subject, id string, now time.Time, keepFamily bool) error {
	// It does not stop for the caller (each store call still has the store
	// timeout): a client that hung up between the steps, or while the
	// first write was in flight, left the family live, and once the sid's
	// entry expired its refresh tokens minted working access tokens again
	// (found by review, twice): it runs to its end (outlive). The event
	// hook gets the caller's ctx.
	caller := ctx
	key := recentKey('s', subject, id)
	if i.recent.seen(key, now) {
		return nil
	}
	return i.outlive(ctx, "revocation", func(ctx context.Context) error {
		var tokens error
		if i.revocations != nil {
			tokens = i.revocations.RevokeSessionTokens(ctx, subject, id, i.revokeUntil(now))
			if tokens != nil && keepFamily {
				return tokens
			}
		}
		err := i.refresh.RevokeSession(ctx, id, now)
		if tokens != nil {
			if err != nil && !errors.Is(err, authkit.ErrNotFound) {
				return errors.Join(tokens, err)
			}
			if err == nil {
				// Half done, and said so: the audit trail hears of the
				// family's end now, not only after a retry (found by
				// review). Not noted as recent, so a retry writes the
				// access tokens' revocation.
				i.emit(caller, authkit.Event{Type: authkit.EventRevoked, Time: now, Subject: subject, SessionID: id, Method: "session", Err: tokens})
			}
			return tokens
		}
		if err != nil && !errors.Is(err, authkit.ErrNotFound) {
			return err
		}
		i.recent.note(key, now)
		if err == nil {
			i.emit(caller, authkit.Event{Type: authkit.EventRevoked, Time: now, Subject: subject, SessionID: id, Method: "session"})
		}
		return err
	})
}

// RevokeSession ends session sessionID: its refresh token stops working
// and, given a revocation store, every access token minted in it dies at
// once. authkit.ErrNotFound if there is no such session. Once it has found
// the session it runs to its end even if ctx ends: it returns at ctx's
// deadline, and the revocation goes on in the background (each store call
// keeps the store timeout), so that a caller hanging up cannot leave it
// half done.
func (i *Issuer) RevokeSession(ctx context.Context, sessionID string) error {
	if err := i.ready(); err != nil {
		return err
	}
	if i.refresh == nil {
		return errNoRefreshStore
	}
	s, err := i.refresh.Session(ctx, sessionID)
	if err != nil {
		return fmt.Errorf("issuer: revoke session: %w", err)
	}
	now := i.now()
	if err := i.revokeSession(ctx, s.Subject, sessionID, now, false); err != nil {
		return fmt.Errorf("issuer: revoke session: %w", err)
	}
	return nil
}

// RevokeOwnSession is RevokeSession for a session that must belong to
// subject (a user ending one of their own sessions); a session of another
// subject is authkit.ErrNotFound.
func (i *Issuer) RevokeOwnSession(ctx context.Context, subject, sessionID string) error {
	if err := i.ready(); err != nil {
		return err
	}
	if i.refresh == nil {
		return errNoRefreshStore
	}
	s, err := i.refresh.Session(ctx, sessionID)
	if err != nil {
		return fmt.Errorf("issuer: revoke session: %w", err)
	}
	if s.Subject != subject {
		return fmt.Errorf("issuer: revoke session: %w", authkit.ErrNotFound)
	}
	now := i.now()
	if err := i.revokeSession(ctx, subject, sessionID, now, false); err != nil {
		return fmt.Errorf("issuer: revoke session: %w", err)
	}
	return nil
}

// RevokeSubject logs subject out everywhere: every session is revoked and,
// given a revocation store, a cutoff makes every access token issued to
// subject up to now dead at once — up to when the sessions were ended, so
// that a refresh racing the logout (rotated before its session ended)
// keeps no access token. Tokens issued afterwards (a new login) are
// unaffected; a login completing while RevokeSubject runs keeps its
// session but may lose its first access token (it refreshes). API tokens
// are not touched unless WithAPITokens is given; otherwise revoke them by
// ID. Once begun it runs to its end even if ctx ends: it returns at ctx's
// deadline, and the revocation goes on in the background (each store call
// keeps the store timeout), so that a caller hanging up cannot leave it
// half done.
func (i *Issuer) RevokeSubject(ctx context.Context, subject string, opts ...RevokeSubjectOption) error {
	if err := i.ready(); err != nil {
		return err
	}
	if err := checkSubjectRef(subject); err != nil {
		return err
	}
	var rp revokeSubjectParams
	for _, o := range opts {
		if o == nil {
			return fmt.Errorf("issuer: %w: nil RevokeSubjectOption", authkit.ErrInvalidRequest)
		}
		if err := o(&rp); err != nil {
			return err
		}
	}
	if rp.apiTokens && i.apiTokens == nil {
		return fmt.Errorf("issuer: %w: revoking API tokens needs an API token store", authkit.ErrInvalidConfig)
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	// Once begun, it runs to its end whatever the caller does (outlive):
	// a client that hung up after the cutoff, or while its write was in
	// flight (landed, yet reported cancelled), left every session
	// refreshing, and no browser resends the POST that would finish the
	// job (found by review, twice). The event hook gets the caller's ctx.
	caller := ctx
	if err := i.outlive(ctx, "revocation", func(ctx context.Context) error {
		return i.revokeSubject(ctx, caller, subject, rp)
	}); err != nil {
		return fmt.Errorf("issuer: revoke subject: %w", err)
	}
	return nil
}

// revokeSubject is RevokeSubject's work, its store calls made with ctx and
// its event reported with caller.
func (i *Issuer) revokeSubject(ctx, caller context.Context, subject string, rp revokeSubjectParams) error {
	now := i.now()
	// The cutoff goes first: if the session step then fails, access tokens
	// are already dead and a retry finishes the job.
	if i.revocations != nil {
		if err := i.revocations.SetCutoff(ctx, subject, now, i.revokeUntil(now)); err != nil {
			return err
		}
	}
	if i.refresh != nil {
		if _, err := i.refresh.RevokeSubjectSessions(ctx, subject, now); err != nil {
			return err
		}
		// A refresh that began after the cutoff and rotated before its
		// session ended minted an access token the cutoff does not cover
		// (issued after it): a second cutoff, now that no session can
		// rotate, covers it. It is written even when this call ended no
		// session: an overlapping logout-all may have ended it, and may
		// not (yet, or ever) write its own second cutoff. A retry sets
		// both again.
		if i.revocations != nil {
			after := i.now()
			if err := i.revocations.SetCutoff(ctx, subject, after, i.revokeUntil(after)); err != nil {
				return err
			}
		}
	}
	if rp.apiTokens {
		if err := i.revokeAPITokens(ctx, subject); err != nil {
			return err
		}
	}
	i.emit(caller, authkit.Event{Type: authkit.EventRevoked, Time: now, Subject: subject, Method: "subject"})
	return nil
}

// Sessions lists subject's live sessions, newest first.
func (i *Issuer) Sessions(ctx context.Context, subject string) ([]authkit.Session, error) {
	if err := i.ready(); err != nil {
		return nil, err
	}
	if i.refresh == nil {
		return nil, errNoRefreshStore
	}
	if err := checkSubjectRef(subject); err != nil {
		return nil, err
	}
	ss, err := i.refresh.ListSessions(ctx, subject, i.now())
	if err != nil {
		return nil, fmt.Errorf("issuer: sessions: %w", err)
	}
	return ss, nil
}

// Revoke revokes any token this issuer made, told apart by form: an access
// token by its jti until it expires (it must verify against our keys and
// issuer; an expired one needs nothing), a refresh token by its whole
// session (RFC 7009 §2.1), an API token by its ID. A token that is not one
// of ours yields authkit.ErrInvalidToken (RFC 7009 endpoints answer 200
// regardless).
func (i *Issuer) Revoke(ctx context.Context, token string) error {
	if err := i.ready(); err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	now := i.now()
	switch {
	case opaque.Looks(token, i.prefix, opaque.KindRefresh):
		if i.refresh == nil || opaque.Check(token, i.prefix, opaque.KindRefresh) != nil {
			return fmt.Errorf("issuer: revoke: %w", authkit.ErrInvalidToken)
		}
		rec, err := i.lookupRefresh(ctx, opaque.SessionOf(token, i.prefix), i.hasher.Hash(token))
		if errors.Is(err, authkit.ErrNotFound) {
			return fmt.Errorf("issuer: revoke: %w", authkit.ErrInvalidToken)
		}
		if err != nil {
			return fmt.Errorf("issuer: revoke: %w", err)
		}
		if err := i.revokeSession(ctx, rec.Subject, rec.SessionID, now, false); err != nil && !errors.Is(err, authkit.ErrNotFound) {
			return fmt.Errorf("issuer: revoke: %w", err)
		}
		return nil
	case opaque.Looks(token, i.prefix, opaque.KindAPI):
		if i.apiTokens == nil || opaque.Check(token, i.prefix, opaque.KindAPI) != nil {
			return fmt.Errorf("issuer: revoke: %w", authkit.ErrInvalidToken)
		}
		h := i.hasher.Hash(token)
		t, err := i.apiTokens.LookupAPIToken(ctx, h)
		if errors.Is(err, authkit.ErrNotFound) || err == nil && !opaque.Equal(t.Hash, h) {
			return fmt.Errorf("issuer: revoke: %w", authkit.ErrInvalidToken)
		}
		if err != nil {
			return fmt.Errorf("issuer: revoke: %w", err)
		}
		return i.RevokeAPIToken(ctx, t.Subject, t.ID)
	default:
		return i.revokeJWT(ctx, token, now)
	}
}

// tokenKey returns the key of the issuer's set a JWT with header h names:
// its kid's, or for a token without a kid the set's one key of its alg,
// as the verifier accepts it (a token it accepts must be one Revoke and
// TokenClientID can read).
func (i *Issuer) tokenKey(h jws.Header) (*keys.Key, bool) {
	if h.Kid != "" {
		return i.keys.Lookup(h.Kid)
	}
	var found *keys.Key
	for _, k := range i.keys.Keys() {
		if k.Algorithm() == h.Alg {
			if found != nil {
				return nil, false // ambiguous: the verifier refuses it too
			}
			found = k
		}
	}
	return found, found != nil
}

// ownJWT returns the claims of an access token this issuer signed: its
// signature and issuer checked, with a jti and an expiry, whether or not
// it has expired or been revoked. Anything else is ErrInvalidToken.
func (i *Issuer) ownJWT(token string) (claims.Claims, error) {
	var t jws.Token
	if err := jws.Parse(token, &t); err != nil {
		return claims.Claims{}, authkit.ErrInvalidToken
	}
	k, ok := i.tokenKey(t.Header)
	if !ok || t.Verify(k) != nil {
		return claims.Claims{}, authkit.ErrInvalidToken
	}
	payload, err := t.AppendPayload(nil)
	if err != nil {
		return claims.Claims{}, authkit.ErrInvalidToken
	}
	var c claims.Claims
	if err := claims.Parse(payload, &c); err != nil || c.Issuer != i.iss || c.TokenID == "" || !c.HasExpiry {
		return claims.Claims{}, authkit.ErrInvalidToken
	}
	return c, nil
}

// RevokeAccessTokenSession ends the session an access token of this
// issuer was minted in (its sid claim), as RevokeOwnSession for the
// token's subject: a browser logging out with its access cookie. The
// token's signature and issuer are checked, not its expiry nor whether it
// was revoked: possession of any access token of a session is enough to
// end that session, as possession of its refresh token is (RFC 7009), and
// an access cookie that no longer verifies — expired, revoked by its jti,
// refused by a principal check — still ends its session instead of
// leaving it live behind a logout that reports success. As with
// RevokeSession, the session's access tokens (the one presented included)
// die at once only given a revocation store; without one they verify until
// they expire. An access token without a session is revoked by its jti
// (Revoke), which needs a revocation store. A token that is not an
// access token of ours (a refresh or API token included) yields
// authkit.ErrInvalidToken; a session the store no longer holds,
// authkit.ErrNotFound.
func (i *Issuer) RevokeAccessTokenSession(ctx context.Context, token string) error {
	if err := i.ready(); err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	if opaque.Looks(token, i.prefix, opaque.KindRefresh) || opaque.Looks(token, i.prefix, opaque.KindAPI) {
		return fmt.Errorf("issuer: revoke session: %w: not an access token", authkit.ErrInvalidToken)
	}
	c, err := i.ownJWT(token)
	if err != nil {
		return fmt.Errorf("issuer: revoke session: %w", err)
	}
	if c.SessionID == "" {
		return i.revokeTokenID(ctx, c, i.now())
	}
	return i.RevokeOwnSession(ctx, c.Subject, c.SessionID)
}

func (i *Issuer) revokeJWT(ctx context.Context, token string, now time.Time) error {
	c, err := i.ownJWT(token)
	if err != nil {
		return fmt.Errorf("issuer: revoke: %w", err)
	}
	return i.revokeTokenID(ctx, c, now)
}

// revokeTokenID revokes the access token whose claims are c (ownJWT's) by
// its jti, until it can no longer verify anywhere. A repeat of a
// revocation this issuer wrote within recentWindow writes nothing and
// reports nothing (recentRevocations).
func (i *Issuer) revokeTokenID(ctx context.Context, c claims.Claims, now time.Time) error {
	// Kept past the token's own exp by the largest leeway, and by the
	// skew allowance: this process's clock may run ahead of a verifier's
	// (found by review: a revocation on a replica 5 minutes ahead wrote
	// nothing, the token still valid elsewhere).
	keep := c.ExpiresAt.Add(maxLeeway + clockSkewAllowance)
	if !now.Before(keep) {
		return nil // it can no longer verify anywhere
	}
	if i.revocations == nil {
		return fmt.Errorf("issuer: %w: revoking an access token needs a revocation store", authkit.ErrInvalidConfig)
	}
	key := recentKey('t', c.Subject, c.TokenID)
	if i.recent.seen(key, now) {
		return nil
	}
	if err := i.revocations.RevokeToken(ctx, c.Subject, c.TokenID, keep); err != nil {
		return fmt.Errorf("issuer: revoke: %w", err)
	}
	i.recent.note(key, now)
	i.emit(ctx, authkit.Event{Type: authkit.EventRevoked, Time: now, Subject: c.Subject, SessionID: c.SessionID, TokenID: c.TokenID, Method: authkit.MethodJWT})
	return nil
}

// CreateAPIToken makes a long-lived API token for subject, labelled name
// (1 to 256 bytes). The secret is returned once and never stored: only its
// hash is. With authkit.WithAPITokenLimit, a subject already at the limit
// gets authkit.ErrLimitExceeded.
func (i *Issuer) CreateAPIToken(ctx context.Context, subject, name string, opts ...APITokenOption) (string, authkit.APIToken, error) {
	if err := i.ready(); err != nil {
		return "", authkit.APIToken{}, err
	}
	if i.apiTokens == nil {
		return "", authkit.APIToken{}, fmt.Errorf("issuer: %w: no API token store configured", authkit.ErrInvalidConfig)
	}
	if err := checkSubject(subject); err != nil {
		return "", authkit.APIToken{}, err
	}
	if name == "" || len(name) > MaxNameLen || !textsafe.Valid(name) {
		return "", authkit.APIToken{}, fmt.Errorf("issuer: %w: token name must be 1 to %d bytes of UTF-8 without control characters, bidirectional controls or line separators", authkit.ErrInvalidRequest, MaxNameLen)
	}
	var p apiParams
	for _, o := range opts {
		if o == nil {
			return "", authkit.APIToken{}, fmt.Errorf("issuer: %w: nil APITokenOption", authkit.ErrInvalidRequest)
		}
		if err := o(&p); err != nil {
			return "", authkit.APIToken{}, err
		}
	}
	if err := ctx.Err(); err != nil {
		return "", authkit.APIToken{}, err
	}
	secret, err := opaque.New(i.prefix, opaque.KindAPI)
	if err != nil {
		return "", authkit.APIToken{}, fmt.Errorf("issuer: generating an API token: %w", err)
	}
	now := i.now()
	t := authkit.APIToken{
		ID:        uuid.NewString(),
		Hash:      i.hasher.Hash(secret),
		Subject:   subject,
		Name:      name,
		Scopes:    p.scopes,
		CreatedAt: now,
	}
	if p.ttl > 0 {
		t.ExpiresAt = now.Add(p.ttl)
	}
	if p.creator != nil && p.creator.Subject != subject {
		return "", authkit.APIToken{}, fmt.Errorf("issuer: %w: WithCreator's subject %q is not the token's", authkit.ErrInvalidRequest, p.creator.Subject)
	}
	if err := i.apiTokens.CreateAPIToken(ctx, t, i.apiTokenLimit, now); err != nil {
		return "", authkit.APIToken{}, fmt.Errorf("issuer: create API token: %w", err)
	}
	if err := i.creatorLive(ctx, p.creator); err != nil {
		// Undo: the creator's revocation may have listed the subject's
		// tokens before this one was stored. Past ctx's end too (within
		// the store timeout): a check cut short by a client hanging up
		// left a live token no one holds, counted against the limit
		// (found by review).
		if rerr := i.apiTokens.RevokeAPIToken(context.WithoutCancel(ctx), subject, t.ID, i.now()); rerr != nil {
			return "", authkit.APIToken{}, fmt.Errorf("issuer: create API token: %w; revoking the new token %s again failed: %w", err, t.ID, rerr)
		}
		return "", authkit.APIToken{}, fmt.Errorf("issuer: create API token: %w", err)
	}
	i.emit(ctx, authkit.Event{Type: authkit.EventAPITokenCreated, Time: now, Subject: subject, TokenID: t.ID, Method: authkit.MethodAPIToken})
	t.Hash = authkit.TokenHash{}
	return secret, t, nil
}

// creatorLive checks, after an API token was stored, that the JWT it was
// created with (WithCreator) is not revoked, reading the revocation store
// (see WithCreator). Without a revocation store it checks the JWT's
// session in the refresh store instead: ended (logout-all, a session
// deleted) or gone, the creation is refused — an access token verified
// without revocations otherwise minted a never-expiring API token after
// its session had ended, one that outlived the logout-all meant to end
// every API token (found by review). No creator, a credential that is not
// a JWT, or neither store: nothing to check.
func (i *Issuer) creatorLive(ctx context.Context, p *authkit.Principal) error {
	if p == nil || p.Method != authkit.MethodJWT {
		return nil
	}
	if i.revocations == nil {
		if i.refresh == nil || p.SessionID == "" {
			return nil
		}
		s, err := i.refresh.Session(ctx, p.SessionID)
		switch {
		case errors.Is(err, authkit.ErrNotFound):
			return fmt.Errorf("%w: the session of the token it was created with is gone", authkit.ErrTokenRevoked)
		case err != nil:
			return err
		case !s.RevokedAt.IsZero() || s.Subject != p.Subject:
			return fmt.Errorf("%w: the session of the token it was created with has ended", authkit.ErrTokenRevoked)
		}
		return nil
	}
	dead, err := i.revocations.IsRevoked(ctx, authkit.RevocationQuery{TokenID: p.TokenID, SessionID: p.SessionID, Subject: p.Subject, IssuedAt: p.IssuedAt}, i.now())
	switch {
	case errors.Is(err, authkit.ErrDataLoss):
		return fmt.Errorf("%w: the revocation store lost data: %w", authkit.ErrTokenRevoked, err)
	case err != nil:
		return err
	case dead:
		return fmt.Errorf("%w: the token it was created with was revoked meanwhile", authkit.ErrTokenRevoked)
	}
	return nil
}

// APITokens lists subject's live API tokens, newest first (never their
// secrets).
func (i *Issuer) APITokens(ctx context.Context, subject string) ([]authkit.APIToken, error) {
	if err := i.ready(); err != nil {
		return nil, err
	}
	if i.apiTokens == nil {
		return nil, fmt.Errorf("issuer: %w: no API token store configured", authkit.ErrInvalidConfig)
	}
	ts, err := i.apiTokens.ListAPITokens(ctx, subject, i.now())
	if err != nil {
		return nil, fmt.Errorf("issuer: API tokens: %w", err)
	}
	for j := range ts {
		ts[j].Hash = authkit.TokenHash{}
	}
	return ts, nil
}

// RevokeAPIToken revokes subject's API token id. authkit.ErrNotFound if
// subject has no such token.
func (i *Issuer) RevokeAPIToken(ctx context.Context, subject, id string) error {
	if err := i.ready(); err != nil {
		return err
	}
	if i.apiTokens == nil {
		return fmt.Errorf("issuer: %w: no API token store configured", authkit.ErrInvalidConfig)
	}
	now := i.now()
	if err := i.apiTokens.RevokeAPIToken(ctx, subject, id, now); err != nil {
		return fmt.Errorf("issuer: revoke API token: %w", err)
	}
	i.emit(ctx, authkit.Event{Type: authkit.EventRevoked, Time: now, Subject: subject, TokenID: id, Method: authkit.MethodAPIToken})
	return nil
}

// Cleanup deletes expired sessions, revocations and API tokens from the
// configured stores in batches of batch records (1000 if batch <= 0) and
// returns how many it deleted. Run it periodically (hourly, say; authkit
// serve runs it every 10 minutes) with every persistent backend: SQL
// tables, and Redis's expiry indexes and revoked API tokens, which its
// native TTLs do not cover. The memory store also sweeps as it goes.
//
// A configured store that also implements authkit.ClientStore (the
// memory, SQL and Redis stores do) has its expired authorization codes
// deleted too, and with them the expired client assertions of an
// authkit.ClientAssertionStore (DeleteExpiredAuthorizationCodes; the count
// is the store's). The issuer finds it by a type assertion on the stores
// given to New, so that the one store an application configures (and
// passes to httpauth.WithClientStore) is cleaned whole by the one Cleanup
// it already runs; deleting only what has expired changes nothing any
// caller can see. A ClientStore that is not one of those stores is not
// cleaned here: call its DeleteExpiredAuthorizationCodes yourself. A
// configured store that implements authkit.ThrottleStore (the SQL and
// Redis stores) has its expired throttle counters deleted the same
// way (DeleteExpiredThrottles): a throttle store of httpauth's that is
// another value is not, as above.
//
// It deletes only what expired CleanupMargin before the issuer's clock, so
// that an issuer whose clock runs fast by less than that deletes nothing
// still in force: no revocation whose tokens other verifiers still
// accept, no live session, no replay record of a code or assertion still
// usable. Expired records are refused by every check whether or not they
// are deleted yet; they only take room until then.
//
// A step that fails does not keep the others from running (found by
// review: a sessions table that refused its deletes left every expired
// revocation, API token, code and throttle counter in place for good):
// the error returned joins every step's (errors.Is matches each), and the
// count includes what the other steps deleted. Once ctx is done, the steps
// left are not started.
func (i *Issuer) Cleanup(ctx context.Context, batch int) (int, error) {
	if err := i.ready(); err != nil {
		return 0, err
	}
	if batch <= 0 {
		batch = 1000
	}
	// Judged an hour back: one replica whose clock ran minutes fast
	// deleted revocations still in force, and their tokens verified again
	// on every other replica (found by review).
	now := i.now().Add(-CleanupMargin)
	total := 0
	run := func(del func(context.Context, time.Time, int) (int, error)) error {
		for {
			n, err := del(ctx, now, batch)
			total += n
			if err != nil {
				return fmt.Errorf("issuer: cleanup: %w", err)
			}
			if n < batch {
				return nil
			}
		}
	}
	var steps []func(context.Context, time.Time, int) (int, error)
	if i.refresh != nil {
		steps = append(steps, i.refresh.DeleteExpiredSessions)
	}
	if i.revocations != nil {
		steps = append(steps, i.revocations.DeleteExpiredRevocations)
	}
	if i.apiTokens != nil {
		steps = append(steps, i.apiTokens.DeleteExpiredAPITokens)
	}
	for _, cs := range i.codes {
		steps = append(steps, cs.DeleteExpiredAuthorizationCodes)
	}
	for _, ts := range i.throttles {
		steps = append(steps, ts.DeleteExpiredThrottles)
	}
	var errs []error
	for _, step := range steps {
		if len(errs) > 0 && ctx.Err() != nil {
			break
		}
		if err := run(step); err != nil {
			errs = append(errs, err)
		}
	}
	return total, errors.Join(errs...)
}

// storesOf returns those of stores (as given to New, not yet wrapped)
// that implement T (authkit.ClientStore, authkit.ThrottleStore), each
// once: WithStore sets one value as all three.
func storesOf[T any](stores ...any) []T {
	var out []T
	for _, s := range stores {
		t, ok := s.(T)
		if !ok || s == nil {
			continue
		}
		if !slices.ContainsFunc(out, func(o T) bool { return sameStore(o, t) }) {
			out = append(out, t)
		}
	}
	return out
}

// sameStore reports whether a and b are the same store value. A store
// value that is not comparable is never taken for another (== would
// panic): it is then swept twice, which deletes nothing more.
func sameStore(a, b any) bool {
	va, vb := reflect.ValueOf(a), reflect.ValueOf(b)
	return va.Type() == vb.Type() && va.Comparable() && a == b
}

// newRefresh makes a refresh token for session sid: one that names it,
// or with authkit.WithRefreshTokensNamingSession(false) one in the earlier
// format that names none.
func (i *Issuer) newRefresh(sid string) (string, error) {
	if i.unnamedRefresh {
		return opaque.New(i.prefix, opaque.KindRefresh)
	}
	return opaque.NewRefresh(i.prefix, sid)
}
