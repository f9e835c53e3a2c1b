package httpauth

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/authkit-go/authkit"
	"github.com/authkit-go/authkit/internal/claims"
	"github.com/authkit-go/authkit/internal/jws"
	"github.com/authkit-go/authkit/internal/throttle"
	"github.com/authkit-go/authkit/keys"
)

// MethodPrivateKeyJWT is the Event.Method of a client authentication
// attempt with a signed JWT (private_key_jwt: RFC 7523 §2.2 and §3, as
// OpenID Connect Core §9 uses it), and the Principal.Method of a client
// that authenticates that way calling the introspection endpoint.
const MethodPrivateKeyJWT = "private_key_jwt"

// ClientAssertionTypeJWT is the client_assertion_type of private_key_jwt
// (RFC 7523 §2.2): the client_assertion parameter is then a JWT.
const ClientAssertionTypeJWT = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"

// Bounds of a client assertion (private_key_jwt). An assertion outside
// them is refused as invalid_client.
const (
	// MaxClientAssertionLen bounds the client_assertion parameter, checked
	// before any decoding.
	MaxClientAssertionLen = jws.MaxTokenSize
	// MaxClientAssertionLifetime bounds how far ahead an assertion's exp
	// may be, and how long ago its iat (when present) may be: assertions
	// are made for one request, and a long-lived one would be a bearer
	// credential. Replay protection keeps each jti only this long plus
	// ClientAssertionLeeway.
	MaxClientAssertionLifetime = 10 * time.Minute
	// ClientAssertionLeeway is the clock skew allowed between the client
	// and the server: exp may be this far in the past, nbf and iat this
	// far in the future.
	ClientAssertionLeeway = time.Minute
	// maxAssertionJTILen bounds the jti claim.
	maxAssertionJTILen = 256
	// maxClientKeySets bounds the parsed client key sets a Handler caches.
	maxClientKeySets = 256
)

// assertionRules read an assertion's claims: sub as the subject, nothing
// else profile-specific (a scope or client_id claim is only type-checked).
var assertionRules = claims.NewRules(claims.RuleSpec{Subject: "sub"})

// clientState is the private_key_jwt state of a Handler with a client
// store: onces for the errors that say the store records no assertions
// and that a client has no registration time, and the cache of parsed
// client key sets.
type clientState struct {
	noAssertions sync.Once
	noCreatedAt  sync.Once
	keys         clientKeyCache
}

// clientKeyCache holds parsed client key sets, keyed by client ID and
// checked against the SHA-256 of the JWKS bytes they came from, so that a
// client whose key set changed is parsed anew at once. It holds at most
// maxClientKeySets sets; beyond that an arbitrary one is dropped.
type clientKeyCache struct {
	mu sync.Mutex
	m  map[string]clientKeys
}

type clientKeys struct {
	sum [sha256.Size]byte
	set *keys.Set
}

// get returns the verification keys of c's JWKS, parsing it unless a set
// parsed from the same bytes is cached.
func (kc *clientKeyCache) get(c authkit.Client) (*keys.Set, error) {
	sum := sha256.Sum256(c.JWKS)
	kc.mu.Lock()
	e, ok := kc.m[c.ID]
	kc.mu.Unlock()
	if ok && e.sum == sum {
		return e.set, nil
	}
	set, err := parseClientJWKS(c.JWKS)
	if err != nil {
		return nil, err
	}
	kc.mu.Lock()
	if kc.m == nil {
		kc.m = make(map[string]clientKeys)
	}
	if _, ok := kc.m[c.ID]; !ok && len(kc.m) >= maxClientKeySets {
		for id := range kc.m {
			delete(kc.m, id)
			break
		}
	}
	kc.m[c.ID] = clientKeys{sum: sum, set: set}
	kc.mu.Unlock()
	return set, nil
}

// parseClientJWKS parses a client's JWK set with package keys and checks
// that it holds only public asymmetric keys: a set with an HMAC key or a
// private key is not a client's published key set, and is unusable.
func parseClientJWKS(doc []byte) (*keys.Set, error) {
	if len(doc) == 0 {
		return nil, errors.New("no key set")
	}
	if len(doc) > authkit.MaxClientJWKSLen {
		return nil, fmt.Errorf("key set of %d bytes, at most %d", len(doc), authkit.MaxClientJWKSLen)
	}
	set, err := keys.ParseJWKS(doc)
	if err != nil {
		return nil, err
	}
	for _, k := range set.Keys() {
		if k.Symmetric() || k.CanSign() {
			return nil, errors.New("key set holds a secret or private key")
		}
	}
	return set, nil
}

// hasAssertion reports whether the request uses a client assertion: it
// carries client_assertion or client_assertion_type.
func hasAssertion(ps map[string]string) bool {
	_, a := ps["client_assertion"]
	_, t := ps["client_assertion_type"]
	return a || t
}

// assertionClaimedID parses an assertion into tok and c and returns the
// client it claims to be from: its sub, read before any verification (the
// signature is checked next, against that client's keys; iss and the
// client_id parameter are compared with it then). ok is false when the
// assertion is malformed or its sub names no valid client.
func assertionClaimedID(tok *jws.Token, c *claims.Claims, assertion string) (id string, ok bool) {
	if err := jws.Parse(assertion, tok); err != nil {
		return "", false
	}
	payload, err := tok.AppendPayload(nil)
	if err != nil {
		return "", false
	}
	if err := claims.ParseWith(payload, c, assertionRules); err != nil {
		return "", false
	}
	if !authkit.ValidClientID(c.Subject) {
		return "", false
	}
	return c.Subject, true
}

// authenticateAssertion authenticates a client with private_key_jwt (the
// request carries client_assertion or client_assertion_type, and no other
// client credentials). See authenticateClient for its results.
func (h *Handler) authenticateAssertion(w http.ResponseWriter, r *http.Request, ps map[string]string) (cc *callerClient, done bool) {
	ctx := r.Context()
	assertion := ps["client_assertion"]
	if ps["client_assertion_type"] != ClientAssertionTypeJWT || assertion == "" || len(assertion) > MaxClientAssertionLen {
		h.assertionFailure(ctx, nil, ps["client_id"], authkit.ErrInvalidRequest)
		h.failClient(w, r, errClientAuth)
		return nil, true
	}
	var tok jws.Token
	var cl claims.Claims
	id, ok := assertionClaimedID(&tok, &cl, assertion)
	if !ok {
		h.assertionFailure(ctx, nil, ps["client_id"], authkit.ErrInvalidToken)
		h.failClient(w, r, errClientAuth)
		return nil, true
	}
	attempt := throttle.Attempt{User: clientThrottleUser(id), Addr: h.clientAddr(r)}
	pairFailures, done := h.checkClientThrottle(w, r, attempt, id, MethodPrivateKeyJWT)
	if done {
		return nil, true
	}
	// From here on every failure counts against (id, address).
	refuse := func(reason error) (*callerClient, bool) {
		h.assertionFailure(ctx, &attempt, id, reason)
		h.failClient(w, r, errClientAuth)
		return nil, true
	}
	if cl.Issuer != id {
		return refuse(authkit.ErrInvalidToken)
	}
	if pid, ok := ps["client_id"]; ok && pid != id {
		return refuse(authkit.ErrInvalidToken)
	}
	c, err := h.getClient(ctx, id)
	switch {
	case err == nil:
	case isUnavailable(err):
		h.failErr(w, r, "client lookup", err)
		return nil, true
	case errors.Is(err, authkit.ErrNotFound):
		return refuse(authkit.ErrNotFound)
	default:
		h.failErr(w, r, "client lookup", err)
		return nil, true
	}
	if len(c.JWKS) == 0 {
		// A public client, or one with a secret only.
		return refuse(authkit.ErrNoCredentials)
	}
	// The Handler's store is bounded by the deadline and implements
	// ClientAssertionStore exactly when the application's store does.
	as, ok := h.clients.(authkit.ClientAssertionStore)
	if !ok {
		h.clientSt.noAssertions.Do(func() {
			h.log.LogAttrs(ctx, slog.LevelError, "httpauth: private_key_jwt refused: the client store does not implement authkit.ClientAssertionStore, so assertions could be replayed")
		})
		h.assertionFailure(ctx, nil, id, authkit.ErrInvalidConfig)
		h.failClient(w, r, errClientAuth)
		return nil, true
	}
	set, err := h.clientSt.keys.get(c)
	if err != nil {
		h.log.LogAttrs(ctx, slog.LevelWarn, "httpauth: a registered client has an unusable key set (JWKS)",
			slog.String("client_id", c.ID), slog.String("error", err.Error()))
		h.assertionFailure(ctx, nil, id, authkit.ErrInvalidConfig)
		h.failClient(w, r, errClientAuth)
		return nil, true
	}
	k := assertionKey(set, tok.Header)
	if k == nil || tok.Verify(k) != nil {
		return refuse(authkit.ErrInvalidToken)
	}
	now := h.now()
	exp, reason := h.checkAssertionClaims(r, &cl, now)
	if reason != nil {
		return refuse(reason)
	}
	// An assertion that may have been used before this client was
	// registered was made for an earlier client of the same ID (removed,
	// then added again with the same keys, as changing a client takes):
	// its use record may have gone with that client (authkit's stores
	// keep it until it expires, but a custom store, or a SQL schema before
	// migration 0008, may drop it with the client), so it must not
	// authenticate this one.
	// Without a registration time there is nothing to tell the two apart:
	// refused, as a store that breaks ValidateClient is misconfigured.
	if c.CreatedAt.IsZero() {
		h.noCreatedAt(ctx, c.ID)
		h.assertionFailure(ctx, nil, id, authkit.ErrInvalidConfig)
		h.failClient(w, r, errClientAuth)
		return nil, true
	}
	if assertionMayPredate(&cl, c.CreatedAt) {
		// A signature that verified is no guess: not counted against the
		// pair, so a client that omits iat is refused (401) in its first
		// minutes, never held off (429) past them.
		h.assertionFailure(ctx, nil, id, errAssertionPredates)
		h.failClient(w, r, errClientAuth)
		return nil, true
	}
	// The record must outlive the last instant the assertion passes.
	err = as.UseClientAssertion(ctx, id, assertionHash(id, cl.TokenID), exp.Add(ClientAssertionLeeway), now)
	switch {
	case err == nil:
	case isUnavailable(err):
		h.failErr(w, r, "client assertion", err)
		return nil, true
	case errors.Is(err, authkit.ErrTokenReused):
		return refuse(authkit.ErrTokenReused)
	case errors.Is(err, authkit.ErrNotFound):
		return refuse(authkit.ErrNotFound)
	default:
		h.failErr(w, r, "client assertion", err)
		return nil, true
	}
	h.guard.clearLocal(ctx, h.guard.localClients, attempt, h.now())
	if pairFailures > 0 {
		if err := h.guard.clients.Success(ctx, attempt, h.now(), throttle.Decision{PairFailures: pairFailures}); err != nil {
			h.log.LogAttrs(ctx, slog.LevelWarn, "httpauth: clearing a throttle counter failed", slog.Any("error", err))
		}
	}
	return &callerClient{client: c, authenticated: true, method: MethodPrivateKeyJWT}, false
}

// noCreatedAt logs, once per Handler, that client id has no registration
// time and is refused for it.
func (h *Handler) noCreatedAt(ctx context.Context, id string) {
	h.clientSt.noCreatedAt.Do(func() {
		h.log.LogAttrs(ctx, slog.LevelError, "httpauth: a registered client has no CreatedAt, so it cannot be told from an earlier client of its ID: its private_key_jwt authentication and the refresh of its sessions are refused (register clients with CreatedAt set, as authkit.ValidateClient requires)",
			slog.String("client_id", id))
	})
}

// errAssertionPredates is the reason an assertion that may have been used
// before its client's registration is refused.
var errAssertionPredates = fmt.Errorf("%w: the assertion may have been used before the client was registered (an earlier client of the same ID); send iat, and wait a second after registering a client", authkit.ErrTokenReused)

// assertionMayPredate reports whether the assertion c (whose claims
// checkAssertionClaims passed) may have been made before created, the
// client's registration. With iat, that is iat before created, exactly:
// rounding created down to iat's whole second would let an assertion used
// in the second of a removal pass again for a client added back in that
// second (found by review), so an assertion made in the very second of the
// registration, its iat rounded down, is refused instead; the next second's
// passes. Without iat, an earlier acceptance at some u
// needed exp <= u+MaxClientAssertionLifetime (and nbf <= u+leeway), so
// the earliest instant it could have been used is what is compared: an
// assertion without iat therefore passes only once its exp is at least
// MaxClientAssertionLifetime past the registration (or its nbf more than
// the leeway past it).
func assertionMayPredate(c *claims.Claims, created time.Time) bool {
	if c.HasIssuedAt {
		return c.IssuedAt.Before(created)
	}
	earliest := c.ExpiresAt.Add(-MaxClientAssertionLifetime)
	if c.HasNotBefore {
		if nbf := c.NotBefore.Add(-ClientAssertionLeeway); nbf.After(earliest) {
			earliest = nbf
		}
	}
	return earliest.Before(created)
}

// assertionKey picks the key an assertion names: an asymmetric algorithm
// only; with a kid, the key of that kid; without, the one key of the
// header's algorithm (none when the set has several). jws.Token.Verify
// then requires the header's alg to be exactly the key's.
func assertionKey(set *keys.Set, hdr jws.Header) *keys.Key {
	if !hdr.Alg.Valid() || hdr.Alg.Symmetric() {
		return nil
	}
	if hdr.Kid != "" {
		k, ok := set.Lookup(hdr.Kid)
		if !ok || k.Algorithm() != hdr.Alg {
			return nil
		}
		return k
	}
	var found *keys.Key
	for _, k := range set.Keys() {
		if k.Algorithm() == hdr.Alg {
			if found != nil {
				return nil
			}
			found = k
		}
	}
	return found
}

// checkAssertionClaims checks a verified assertion's time, audience and
// jti claims (RFC 7523 §3) at now and returns its exp, or the reason it
// is refused.
func (h *Handler) checkAssertionClaims(r *http.Request, c *claims.Claims, now time.Time) (time.Time, error) {
	switch {
	case !c.HasExpiry:
		return time.Time{}, authkit.ErrInvalidToken
	case !now.Before(c.ExpiresAt.Add(ClientAssertionLeeway)):
		return time.Time{}, authkit.ErrTokenExpired
	case c.ExpiresAt.After(now.Add(MaxClientAssertionLifetime)):
		return time.Time{}, authkit.ErrInvalidToken
	case c.HasNotBefore && c.NotBefore.After(now.Add(ClientAssertionLeeway)):
		return time.Time{}, authkit.ErrInvalidToken
	case c.HasIssuedAt && (c.IssuedAt.After(now.Add(ClientAssertionLeeway)) || c.IssuedAt.Before(now.Add(-MaxClientAssertionLifetime))):
		return time.Time{}, authkit.ErrInvalidToken
	case c.TokenID == "" || len(c.TokenID) > maxAssertionJTILen:
		return time.Time{}, authkit.ErrInvalidToken
	case !c.SoleAudience(h.assertionAudiences(r)):
		return time.Time{}, authkit.ErrInvalidToken
	}
	return c.ExpiresAt, nil
}

// assertionAudiences are the aud values an assertion may carry: the
// issuer identifier alone, or, with WithEndpointAssertionAudiences, also
// the token endpoint URL and the URL of the endpoint called (the issuer URL
// followed by the endpoint's path) when the identifier is an http(s) URL.
// None when the issuer has no identifier.
func (h *Handler) assertionAudiences(r *http.Request) []string {
	iss := h.iss.ID()
	if iss == "" {
		return nil
	}
	auds := []string{iss}
	if !h.endpointAud || (!strings.HasPrefix(iss, "https://") && !strings.HasPrefix(iss, "http://")) {
		return auds
	}
	base := strings.TrimSuffix(iss, "/")
	if h.paths.Token != "" {
		auds = append(auds, base+h.paths.Token)
	}
	for _, p := range []string{h.paths.Revoke, h.paths.Introspect} {
		if p != "" && p == r.URL.Path {
			auds = append(auds, base+p)
		}
	}
	return auds
}

// assertionHash identifies an assertion for replay protection: SHA-256
// over a label and the length-prefixed client ID and jti, so that no two
// (client, jti) pairs share an encoding.
func assertionHash(clientID, jti string) authkit.TokenHash {
	h := sha256.New()
	h.Write([]byte("authkit client assertion v1\x00"))
	var n [8]byte
	binary.BigEndian.PutUint64(n[:], uint64(len(clientID)))
	h.Write(n[:])
	h.Write([]byte(clientID))
	binary.BigEndian.PutUint64(n[:], uint64(len(jti)))
	h.Write(n[:])
	h.Write([]byte(jti))
	var out authkit.TokenHash
	h.Sum(out[:0])
	return out
}

// assertionFailure records a failed private_key_jwt authentication:
// counted by the throttle when a is set, and reported as EventLoginFailed
// with Method MethodPrivateKeyJWT and the claimed client ID as Subject
// (when it is a valid one). The assertion is never logged.
func (h *Handler) assertionFailure(ctx context.Context, a *throttle.Attempt, id string, reason error) {
	if !authkit.ValidClientID(id) {
		id = ""
	}
	h.recordClientFailure(ctx, a, id, MethodPrivateKeyJWT, reason)
}
