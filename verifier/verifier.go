// Package verifier checks the credentials a request presents — JWT access
// tokens, opaque API tokens and, optionally, HTTP Basic — and returns the
// authenticated *authkit.Principal.
//
// A [Verifier] is built with [New] from root-package options; it needs only
// verification keys (authkit.WithKeys with public keys, or
// authkit.WithJWKSURL), never a signing key. It is immutable after New and
// safe for concurrent use. [Verifier.Verify] is on the path of every
// authenticated request and is written to allocate little.
//
// # What a JWT must be
//
// At most 8 KiB (checked before any decoding); three canonical base64url
// segments; a header and claims of strict JSON (no duplicate or
// case-variant member names, valid UTF-8); typ "at+jwt"; a kid naming a
// known key whose algorithm equals the header's alg exactly (so "none" and
// algorithm confusion fail); no crit; a valid signature; the configured iss;
// an aud containing one of the configured audiences (a profile may opt in
// to tokens with no iss or no aud at all: authkit.Profile's
// AllowMissingIssuer and AllowMissingAudience); sub and jti; a numeric
// exp in the future and nbf and iat not in the future (each within the
// leeway); and, with a revocation store, not revoked by jti, session or
// subject cutoff — asked in one store call.
//
// # Verify cache
//
// A JWT access token that passed every check is remembered, keyed by its
// exact bytes, in a bounded cache (authkit.WithVerifyCache; 1024 tokens by
// default, 0 turns it off). Presented again, it skips the signature check
// and the decoding, which for EdDSA, ECDSA and RSA tokens is nearly all of
// the cost; everything that can change is still checked on every hit, in
// the same order and with the same errors as the first time: that the
// token's kid still names the very key that verified it (a key removed from
// the set, or dropped by the remote JWKS, refuses the token; a kid that now
// names another key sends the token through a full verification), exp, nbf
// and iat against the clock, revocation, and the principal check. The
// issuers, audiences and profiles cannot change: a Verifier's are fixed at
// New, and a hit is checked against its own issuer's keys and leeway. A
// hit returns a fresh Principal whose Scopes and Claims are copies.
//
// # Remote keys
//
// With authkit.WithJWKSURL (and for each trusted issuer with a JWKS URL or
// discovery), New starts one goroutine that fetches the JWKS document at
// once and refreshes it in the background before its lifetime
// (the response's Cache-Control max-age, clamped; see
// authkit.WithJWKSRefreshInterval) ends. A request whose token names a
// known key never waits for the network. A request whose token names an
// unknown kid waits for a refetch — one at a time, at most one per refresh
// interval — but only as long as its own context allows; a context that
// ends first yields its error (a 503 at the HTTP layer). A refresh that
// fails keeps the last good keys serving; before the first good fetch the
// verifier refuses with authkit.ErrStoreUnavailable. A document that was
// fetched but whose key the token names is unusable (an RSA key without
// "alg" and no authkit.WithJWKSDefaultAlgorithm, an encryption key, a key
// type authkit does not support) refuses the token with
// authkit.ErrInvalidToken and says so (JWKS key "k1" unusable: no alg),
// and each such key is logged at Warn when the document is fetched. With
// discovery, the goroutine first reads the issuer's metadata (RFC 8414,
// then OpenID Connect Discovery) from the configured issuer URL, requires
// its "issuer" to equal it exactly, and takes its https jwks_uri.
//
// # Close
//
// [Verifier.Close] stops that goroutine. Call it when the Verifier is no
// longer used, after the server has stopped serving; a Verifier without
// WithJWKSURL owns no background work and Close does nothing. After Close
// the remote keys are no longer kept fresh, so a token that needs one is
// refused with authkit.ErrStoreUnavailable (fail closed); local keys, API
// tokens and Basic credentials keep working. A token without kid of an
// asymmetric alg counts the remote keys too, so it is refused with
// ErrStoreUnavailable; one of an HMAC alg counts the local keys only (a
// remote set never holds a secret), so the remote's state never matters.
//
// # Store deadlines
//
// Every revocation check and API token lookup that reaches a store has the
// deadline of authkit.WithStoreTimeout (5 seconds by default) on top of the
// request's context, and Verify returns at that deadline even if the
// store's driver does not: a stalled store refuses the request with
// authkit.ErrStoreUnavailable (a 503 at the HTTP layer) instead of holding
// it. Stores answered in process (authkit.InProcessStore) and the
// revocation mirror while its copy is current are called without it.
//
// # Errors
//
// Verify and Authenticate return errors matching authkit.ErrNoCredentials,
// authkit.ErrInvalidRequest, authkit.ErrInvalidToken,
// authkit.ErrTokenExpired, authkit.ErrTokenRevoked or
// authkit.ErrStoreUnavailable (a store or key source that cannot answer
// refuses the request: fail closed; so does a store that does not answer
// before the store timeout or the request's deadline, and that error also
// matches context.DeadlineExceeded), or the request context's error (a
// cancelled request; a deadline that passes while waiting for a remote
// key). The presented token never appears in an error.
package verifier

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"
	"unsafe"

	"github.com/authkit-go/authkit"
	"github.com/authkit-go/authkit/internal/claims"
	"github.com/authkit-go/authkit/internal/httpsyntax"
	"github.com/authkit-go/authkit/internal/jws"
	"github.com/authkit-go/authkit/internal/opaque"
	"github.com/authkit-go/authkit/internal/revmirror"
	"github.com/authkit-go/authkit/internal/storecall"
)

// MaxHeaderLen bounds the Authorization header Authenticate accepts.
const MaxHeaderLen = jws.MaxTokenSize + 64

// Verifier checks credentials. Build it with New; call Close when done
// with a Verifier that uses a remote JWKS.
type Verifier struct {
	issuers      []*trusted          // every trusted issuer, in configuration order
	single       *trusted            // the only one, when there is one
	byIssuer     map[string]*trusted // by identifier, when there are several
	noIss        *trusted            // the one whose profile allows a missing iss, or nil
	words        []string            // every issuer's HeaderTypes, lower-cased, each once
	cache        *verifyCache
	revocations  authkit.RevocationStore
	revStore     authkit.RevocationStore // as configured, neither bounded nor mirrored
	mirror       *revmirror.Mirror       // with authkit.WithRevocationMirror; revocations is then this
	apiTokens    authkit.APITokenStore
	external     authkit.ExternalAPITokens // the API token store's, if it accepts tokens authkit did not make
	hasher       opaque.Hasher
	now          func() time.Time
	hook         func(context.Context, authkit.Event)
	log          *slog.Logger
	check        func(context.Context, *authkit.Principal) error
	basic        func(ctx context.Context, username, password string) (*authkit.Principal, error)
	schemes      []string
	prefix       string
	lastUsedStep time.Duration
	storeTimeout time.Duration
	// touching holds the IDs of the API tokens whose last-used write is
	// in flight, so that a burst of requests with one token, which all
	// read the same stale time, writes it once, not once each.
	touching sync.Map
	// lossSeen is the start (Unix µs) of the latest store epoch this
	// Verifier has reported (authkit.EventDataLoss): one report per epoch.
	lossSeen atomic.Int64
}

// New returns a Verifier configured by opts. It needs authkit.WithKeys or
// authkit.WithJWKSURL (or both). With a revocation store every access token
// is checked against it; with an API token store API tokens are accepted.
// With authkit.WithJWKSURL it starts fetching the keys in the background
// before it returns; with authkit.WithRevocationMirror it starts following
// the revocation store's feed, and answers revocation checks from its local
// copy once that is current (see Close). Every error matches
// authkit.ErrInvalidConfig.
func New(opts ...authkit.Option) (*Verifier, error) {
	c, err := authkit.BuildConfig(authkit.RoleVerifier, opts...)
	if err != nil {
		return nil, err
	}
	if c.Keys == nil && c.JWKSURL == "" && len(c.TrustedIssuers) == 0 {
		return nil, fmt.Errorf("%w: verifier.New needs authkit.WithKeys, authkit.WithJWKSURL or authkit.WithTrustedIssuer", authkit.ErrInvalidConfig)
	}
	v := &Verifier{
		revocations:  c.RevocationStore,
		revStore:     c.RevocationStore,
		apiTokens:    c.APITokenStore,
		hasher:       opaque.NewHasher(c.TokenHashKey),
		now:          c.Clock,
		hook:         c.EventHook,
		log:          c.Logger,
		check:        c.PrincipalCheck,
		basic:        c.BasicAuth,
		schemes:      c.Schemes,
		prefix:       c.TokenPrefix,
		lastUsedStep: c.LastUsedInterval,
		cache:        newVerifyCache(c.VerifyCacheEntries),
	}
	v.issuers = newIssuers(c)
	for _, ti := range v.issuers {
		if ti.noIss {
			v.noIss = ti // BuildConfig allows one at most
		}
		for _, w := range ti.words {
			if !slices.Contains(v.words, w) {
				v.words = append(v.words, w)
			}
		}
	}
	if len(v.issuers) == 1 {
		v.single = v.issuers[0]
	} else {
		v.byIssuer = make(map[string]*trusted, len(v.issuers))
		for _, ti := range v.issuers {
			v.byIssuer[ti.iss] = ti
		}
	}
	// Every store call gets the store timeout (authkit.WithStoreTimeout),
	// except those answered in process: by an in-process store, or by the
	// revocation mirror while its copy is current (it gives the calls it
	// passes to the store the deadline).
	v.storeTimeout = c.StoreTimeout
	dl := storecall.New(c.StoreTimeout)
	if v.hook != nil {
		dl.ReportOutages(authkit.OutageEventInterval, v.now, func(ctx context.Context, err error) {
			v.hook(ctx, authkit.Event{Type: authkit.EventStoreUnavailable, Time: v.now(), Err: err})
		})
	}
	if v.revocations != nil && !storecall.InProcess(v.revocations) {
		v.revocations = &storecall.Revocations{S: v.revocations, DL: dl.For(v.revocations)}
	}
	if ext, ok := v.apiTokens.(authkit.ExternalAPITokens); ok {
		v.external = ext
		if !storecall.InProcess(v.apiTokens) {
			v.external = &boundedExternal{ExternalAPITokens: ext, dl: dl.For(v.apiTokens)}
		}
	}
	if v.apiTokens != nil && !storecall.InProcess(v.apiTokens) {
		v.apiTokens = &boundedAPITokens{APITokenStore: v.apiTokens, dl: dl.For(v.apiTokens)}
	}
	if c.RevocationMirror > 0 {
		// BuildConfig has checked that the store implements
		// authkit.RevocationFeed. Until the first snapshot arrives, and
		// whenever the copy is older than maxLag, the mirror asks the
		// store itself. Its freshness is judged by the wall clock, never
		// by WithClock: a frozen test clock must not keep a copy whose
		// feed has died looking current.
		store := c.RevocationStore
		if b, ok := v.revocations.(*storecall.Revocations); ok {
			store = &boundedFeed{Revocations: *b, RevocationFeed: c.RevocationStore.(authkit.RevocationFeed)}
		}
		// The entries' expiry is judged by the clock the verifier asks
		// with: a test clock behind the wall clock must not see every
		// entry as expired.
		o := revmirror.Options{MaxLag: c.RevocationMirror, Logger: c.Logger, EntryClock: c.Clock}
		// Revocations written through the same store value in this
		// process (an issuer beside this verifier) count at once, not
		// when the feed brings them. The mirror listens before its first
		// snapshot, so that a write the snapshot missed is heard.
		if l, ok := c.RevocationStore.(authkit.RevocationListeners); ok {
			o.Listen = l.ListenRevocations
		}
		m, err := revmirror.New(store, o)
		if err != nil {
			v.Close()
			return nil, err
		}
		v.mirror, v.revocations = m, m
	}
	return v, nil
}

// Close stops the background work of v and waits for it to end: with
// authkit.WithRevocationMirror, the goroutine that follows the store's
// revocation feed (afterwards every revocation check asks the store, as
// without a mirror; Close waits for it at most 5 seconds, since a driver
// that ignores cancellation — lib/pq on a stalled network — can hold it
// until its call returns, and it then ends by itself); with
// authkit.WithJWKSURL, the goroutine that keeps the
// remote key set fresh (a fetch in flight is cancelled). Afterwards the
// remote keys are no longer refreshed, so they are no longer trusted: a JWT
// that needs one is refused with an error matching
// authkit.ErrStoreUnavailable. Local keys (authkit.WithKeys), API tokens
// and Basic credentials keep working; a token without kid is refused too
// unless its alg is an HMAC one (a remote set never holds a symmetric key,
// so only the local keys can verify it). Close is idempotent, safe to call
// concurrently with Verify, and returns nil; call it after the server
// using v has stopped serving. On a nil *Verifier (what New returns with
// its error) it does nothing, so a defer written before the error check
// does not panic.
func (v *Verifier) Close() error {
	if v == nil {
		return nil
	}
	for _, ti := range v.issuers {
		if ti.remote != nil {
			ti.remote.close()
		}
	}
	if v.mirror != nil {
		_ = v.mirror.Close()
	}
	return nil
}

// StoreTimeout returns the deadline every store call of the verifier has
// (authkit.WithStoreTimeout), so that an adapter calling a store of its
// own beside the verifier's (httpauth's throttle store) bounds it the
// same way.
func (v *Verifier) StoreTimeout() time.Duration { return v.storeTimeout }

// ChecksRevocation reports whether Verify asks a revocation store (given
// with authkit.WithStore or WithRevocationStore, directly or through
// WithRevocationMirror) whether a token was revoked. Without one, a
// revoked token verifies until it expires; httpauth.NewHandler refuses
// such a verifier beside an issuer that records revocations.
func (v *Verifier) ChecksRevocation() bool { return v.revocations != nil }

// RevocationStore returns the revocation store the verifier was
// configured with (authkit.WithStore or WithRevocationStore), not the
// revocation mirror in front of it, or nil.
func (v *Verifier) RevocationStore() authkit.RevocationStore { return v.revStore }

// Schemes returns the built-in Authorization schemes (WithSchemes)
// Authenticate tries, in order. httpauth answers a 401 with a challenge
// for each of them, in this order ("Basic" only when it is first; see the
// httpauth package documentation). The words of the profiles'
// HeaderTypes, tried after them, are not listed.
func (v *Verifier) Schemes() []string { return append([]string(nil), v.schemes...) }

func (v *Verifier) fail(ctx context.Context, method string, err error) error {
	if v.hook != nil && !inspecting(ctx) {
		v.hook(ctx, authkit.Event{Type: authkit.EventAuthFailed, Time: v.now(), Method: method, Err: err})
	}
	return err
}

// failAs is fail for a credential whose identities are known to be ours —
// a JWT whose signature verified, an API token found in the store — so
// that the event names the subject, session and token refused (an expired
// or revoked one). Identities read from a token that did not verify are
// never reported: they are whatever the sender wrote.
func (v *Verifier) failAs(ctx context.Context, method, sub, sid, tokenID string, err error) error {
	if v.hook != nil && !inspecting(ctx) {
		v.hook(ctx, authkit.Event{Type: authkit.EventAuthFailed, Time: v.now(), Subject: sub, SessionID: sid, TokenID: tokenID, Method: method, Err: err})
	}
	return err
}

// externalLookalike reports whether token has the prefix of an authkit
// API or refresh token but not its form (checksum included), and the
// external API token store owns it.
func (v *Verifier) externalLookalike(token string) bool {
	for _, kind := range [...]string{opaque.KindAPI, opaque.KindRefresh} {
		if opaque.Looks(token, v.prefix, kind) {
			return opaque.Check(token, v.prefix, kind) != nil && v.external.OwnsToken(token)
		}
	}
	return false
}

// Introspect checks token as Verify does, every check included (the
// principal check too), for a caller that inspects a token someone else
// holds, such as an introspection endpoint answering a resource server:
// it is not the token's use, so no authenticated or auth-failed event is
// reported for it (a revoked token introspected is not a theft alarm) and
// an API token's LastUsedAt is not moved. Its times are judged as
// Verify's, with the leeway: an introspection endpoint that answers
// whether a token is active now (RFC 7662 §2.2) compares the principal's
// ExpiresAt, and a JWT's nbf claim (which Principal does not carry), with
// Now itself, as httpauth's does.
func (v *Verifier) Introspect(ctx context.Context, token string) (*authkit.Principal, error) {
	return v.Verify(context.WithValue(ctx, inspectingKey{}, true), token)
}

// Now is the time by the verifier's clock (authkit.WithClock; time.Now by
// default), for a caller that judges a token's times as the verifier
// does, such as an introspection endpoint answering without the leeway.
func (v *Verifier) Now() time.Time {
	if v == nil || v.now == nil {
		return time.Now()
	}
	return v.now()
}

// inspectingKey marks the context of an Introspect call.
type inspectingKey struct{}

// inspecting reports whether ctx is an Introspect call's.
func inspecting(ctx context.Context) bool { return ctx.Value(inspectingKey{}) != nil }

// Verify checks token — a JWT access token or an API token, told apart by
// form — and returns its principal. An empty token is
// authkit.ErrNoCredentials; a refresh token is refused (it is not an access
// credential).
func (v *Verifier) Verify(ctx context.Context, token string) (*authkit.Principal, error) {
	switch {
	case token == "":
		return nil, authkit.ErrNoCredentials
	case len(token) > jws.MaxTokenSize:
		return nil, v.fail(ctx, "", fmt.Errorf("verifier: %w: token longer than %d bytes", authkit.ErrInvalidToken, jws.MaxTokenSize))
	case v.external != nil && v.externalLookalike(token):
		// An external store's token that begins as authkit's do (a knox
		// TOKEN_PREFIX of "ak_"): found by review, every one was refused
		// as a malformed API token.
		return v.verifyExternalAPIToken(ctx, token)
	case opaque.Looks(token, v.prefix, opaque.KindAPI):
		return v.verifyAPIToken(ctx, token)
	case opaque.Looks(token, v.prefix, opaque.KindRefresh):
		return nil, v.fail(ctx, "", fmt.Errorf("verifier: %w: a refresh token is not an access credential", authkit.ErrInvalidToken))
	case v.external != nil && strings.Count(token, ".") != 2 && v.external.OwnsToken(token):
		return v.verifyExternalAPIToken(ctx, token)
	}
	return v.verifyJWT(ctx, token, "")
}

var (
	errMalformed   = fmt.Errorf("verifier: %w: malformed token", authkit.ErrInvalidToken)
	errUnknownKey  = fmt.Errorf("verifier: %w: unknown key", authkit.ErrInvalidToken)
	errAlgorithm   = fmt.Errorf("verifier: %w: algorithm does not match the key", authkit.ErrInvalidToken)
	errSignature   = fmt.Errorf("verifier: %w: signature does not verify", authkit.ErrInvalidToken)
	errUntrusted   = fmt.Errorf("verifier: %w: issuer not trusted", authkit.ErrInvalidToken)
	errWord        = fmt.Errorf("verifier: %w: Authorization scheme not accepted for the token's issuer (its profile's HeaderTypes)", authkit.ErrInvalidToken)
	errNoSubject   = fmt.Errorf("verifier: %w: subject missing", authkit.ErrInvalidToken)
	errTokenType   = fmt.Errorf("verifier: %w: not an access token (token type claim)", authkit.ErrInvalidToken)
	errClaims      = fmt.Errorf("verifier: %w: malformed claims", authkit.ErrInvalidToken)
	errNoExp       = fmt.Errorf("verifier: %w: exp missing", authkit.ErrInvalidToken)
	errExpired     = fmt.Errorf("verifier: %w", authkit.ErrTokenExpired)
	errNotYet      = fmt.Errorf("verifier: %w: not valid yet (nbf)", authkit.ErrInvalidToken)
	errFuture      = fmt.Errorf("verifier: %w: issued in the future (iat)", authkit.ErrInvalidToken)
	errLifetime    = fmt.Errorf("verifier: %w: lifetime (exp - iat) longer than the verifier allows for the issuer, or no iat (WithMaxTokenLifetime, Profile.MaxTokenLifetime)", authkit.ErrInvalidToken)
	errIssuer      = fmt.Errorf("verifier: %w: wrong issuer", authkit.ErrInvalidToken)
	errAudience    = fmt.Errorf("verifier: %w: wrong audience", authkit.ErrInvalidToken)
	errRevoked     = fmt.Errorf("verifier: %w", authkit.ErrTokenRevoked)
	errNoAPIStore  = fmt.Errorf("verifier: %w: API tokens are not accepted (no API token store)", authkit.ErrInvalidToken)
	errUnknownAPI  = fmt.Errorf("verifier: %w: unknown API token", authkit.ErrInvalidToken)
	errRevokedAPI  = fmt.Errorf("verifier: %w: API token revoked", authkit.ErrTokenRevoked)
	errExpiredAPI  = fmt.Errorf("verifier: %w: API token expired", authkit.ErrTokenExpired)
	errMalformedAT = fmt.Errorf("verifier: %w: malformed API token", authkit.ErrInvalidToken)
)

// errHeaderMember holds, by member name, the prebuilt error refusing a
// JWS header that carries it (see jws.ErrUnsupportedHeader).
var errHeaderMember = func() map[string]error {
	m := make(map[string]error)
	for _, n := range []string{"crit", "b64", "zip", "jku", "x5u", "jwk", "x5c", "enc"} {
		m[n] = fmt.Errorf("verifier: %w: unsupported header member %s", authkit.ErrInvalidToken, n)
	}
	return m
}()

// parseError classifies a jws.Parse error.
func parseError(err error) error {
	if n := jws.UnsupportedMember(err); n != "" {
		if e, ok := errHeaderMember[n]; ok {
			return e
		}
		return fmt.Errorf("verifier: %w: unsupported header member %s", authkit.ErrInvalidToken, n)
	}
	return errMalformed
}

// missingClaim returns the error for a claim the profile requires.
func missingClaim(name string) error {
	return fmt.Errorf("verifier: %w: claim %q missing", authkit.ErrInvalidToken, name)
}

// payloadBuf is big enough for the claims of any token under the size
// limit, so that decoding never allocates.
const payloadBuf = jws.MaxTokenSize * 3 / 4

// verifyJWT verifies a JWT access token. word is the HeaderTypes word
// (lower-cased) the token was presented under, or "" (Bearer, Verify): a
// token presented under a word is refused unless its issuer's profile
// lists it.
func (v *Verifier) verifyJWT(ctx context.Context, token, word string) (*authkit.Principal, error) {
	var h uint64
	if v.cache != nil {
		h = v.cache.hash(token)
		if e := v.cache.get(token, h); e != nil {
			if p, ok, err := v.verifyCached(ctx, e, word); ok {
				return p, err
			}
			// Its kid now names another key: verify it afresh.
		}
	}
	var t jws.Token
	if err := jws.Parse(token, &t); err != nil {
		return nil, v.fail(ctx, authkit.MethodJWT, parseError(err))
	}
	// The payload is decoded before the signature is checked, but read
	// only to choose the issuer whose keys must check it: its claims are
	// parsed after the check.
	var buf [1024]byte
	p, err := t.AppendPayload(buf[:0])
	if err != nil {
		return nil, v.fail(ctx, authkit.MethodJWT, errMalformed)
	}
	ti := v.single
	var mayFetch func() error
	if ti == nil {
		iss, ok := claims.PeekIssuer(p)
		switch {
		case ok:
			if ti = v.byIssuer[iss]; ti == nil {
				return nil, v.fail(ctx, authkit.MethodJWT, errUntrusted)
			}
		case v.noIss != nil && lacks(p, "iss"):
			// No iss at all (an empty or non-string one is not missing):
			// the one issuer whose profile allows that.
			ti = v.noIss
		default:
			return nil, v.fail(ctx, authkit.MethodJWT, errClaims)
		}
	} else if ti.remote != nil {
		// One issuer: its iss is checked after the signature, as every
		// claim; but a token that would make the verifier fetch keys must
		// name it first (or, if its profile allows, have no iss at all).
		mayFetch = func() error {
			iss, ok := claims.PeekIssuer(p)
			if ok && iss == ti.iss || !ok && ti.noIss && lacks(p, "iss") {
				return nil
			}
			return errUntrusted
		}
	}
	if word != "" && !ti.acceptsWord(word) {
		return nil, v.fail(ctx, authkit.MethodJWT, errWord)
	}
	if !ti.typeOK(t.Header.Typ) {
		return nil, v.fail(ctx, authkit.MethodJWT, ti.errType)
	}
	now := v.now()
	k, ok, err := ti.lookupKey(ctx, t.Header.Kid, t.Header.Alg, now, mayFetch)
	if err != nil {
		return nil, v.fail(ctx, authkit.MethodJWT, err)
	}
	if !ok {
		return nil, v.fail(ctx, authkit.MethodJWT, errUnknownKey)
	}
	if ti.remote != nil {
		// The lookup may have waited for a JWKS fetch (up to its 30 s
		// timeout): the claims and the revocation check take the time
		// again. A store that finds its epoch marker gone starts the new
		// epoch at the now it is asked with, and a time read before the
		// wait dated a loss during it too early, so that tokens revoked
		// in between passed every verifier (found by review). A later
		// now only makes the expiry checks stricter.
		now = v.now()
	}
	if err := t.Verify(k); err != nil {
		if errors.Is(err, jws.ErrAlgorithmMismatch) {
			return nil, v.fail(ctx, authkit.MethodJWT, errAlgorithm)
		}
		return nil, v.fail(ctx, authkit.MethodJWT, errSignature)
	}
	// One copy of the payload backs every string of the principal.
	ps, kept := v.copyPayload(p, token)
	var c claims.Claims
	if err := claims.ParseWith(unsafe.Slice(unsafe.StringData(ps), len(ps)), &c, ti.rules); err != nil {
		return nil, v.fail(ctx, authkit.MethodJWT, errClaims)
	}
	leeway := ti.leeway
	switch {
	case !c.HasExpiry:
		return nil, v.failAs(ctx, authkit.MethodJWT, c.Subject, c.SessionID, c.TokenID, errNoExp)
	case !now.Before(c.ExpiresAt.Add(leeway)):
		return nil, v.failAs(ctx, authkit.MethodJWT, c.Subject, c.SessionID, c.TokenID, errExpired)
	case c.HasNotBefore && c.NotBefore.After(now.Add(leeway)):
		return nil, v.failAs(ctx, authkit.MethodJWT, c.Subject, c.SessionID, c.TokenID, errNotYet)
	case c.Subject == "":
		return nil, v.failAs(ctx, authkit.MethodJWT, c.Subject, c.SessionID, c.TokenID, errNoSubject)
	case c.HasIssuedAt && c.IssuedAt.After(now.Add(leeway)):
		return nil, v.failAs(ctx, authkit.MethodJWT, c.Subject, c.SessionID, c.TokenID, errFuture)
	// iat keeps milliseconds and exp whole seconds, both rounded down: a
	// token of exactly the limit can read up to a millisecond longer.
	case ti.maxLifetime > 0 && (!c.HasIssuedAt || c.ExpiresAt.Sub(c.IssuedAt) > ti.maxLifetime+time.Millisecond):
		return nil, v.failAs(ctx, authkit.MethodJWT, c.Subject, c.SessionID, c.TokenID, errLifetime)
	case c.Issuer != ti.iss && !(ti.noIss && c.Issuer == "" && lacks(p, "iss")):
		return nil, v.failAs(ctx, authkit.MethodJWT, c.Subject, c.SessionID, c.TokenID, errIssuer)
	case !c.HasAudience(ti.aud) && !(ti.noAud && lacks(p, "aud")):
		return nil, v.failAs(ctx, authkit.MethodJWT, c.Subject, c.SessionID, c.TokenID, errAudience)
	case !c.TokenTypeOK:
		return nil, v.failAs(ctx, authkit.MethodJWT, c.Subject, c.SessionID, c.TokenID, errTokenType)
	}
	if m := c.Missing(ti.rules); m != "" {
		return nil, v.failAs(ctx, authkit.MethodJWT, c.Subject, c.SessionID, c.TokenID, missingClaim(m))
	}
	if err := v.checkRevoked(ctx, c.TokenID, c.SessionID, c.Subject, c.IssuedAt, now); err != nil {
		return nil, v.failAs(ctx, authkit.MethodJWT, c.Subject, c.SessionID, c.TokenID, err)
	}
	pr := &authkit.Principal{
		Subject:   c.Subject,
		Scopes:    c.Scopes(),
		Method:    authkit.MethodJWT,
		TokenID:   c.TokenID,
		SessionID: c.SessionID,
		ClientID:  c.ClientID,
		Issuer:    ti.iss, // c.Issuer, or the profile's when iss is missing
		IssuedAt:  c.IssuedAt,
		ExpiresAt: c.ExpiresAt,
		Claims:    c.Extra,
		// The one payload copy backs DecodeClaims too.
		ClaimsJSON: ps,
	}
	if v.cache == nil {
		return v.admit(ctx, pr)
	}
	// The entry copies pr before anyone (the principal check, the caller)
	// can change it, and is inserted only once pr is admitted.
	e := newCacheEntry(h, kept, t.Header.Kid, k, ti, pr, c.NotBefore, c.HasNotBefore)
	if e == nil {
		return v.admit(ctx, pr)
	}
	if _, err := v.admit(ctx, pr); err != nil {
		return nil, err
	}
	v.cache.put(e, now.Add(-leeway))
	return pr, nil
}

// copyPayload returns an immutable copy of payload and, with the cache on,
// one of token for the cache to keep, both in one allocation.
func (v *Verifier) copyPayload(payload []byte, token string) (ps, kept string) {
	if v.cache == nil {
		return string(payload), ""
	}
	b := make([]byte, len(payload)+len(token))
	n := copy(b, payload)
	copy(b[n:], token)
	s := unsafe.String(unsafe.SliceData(b), len(b)) // b is never written again
	return s[:n], s[n:]
}

// verifyIfCached answers token from the verify cache as Verify would, if
// the cache holds it; ok is false when it does not (or when its kid now
// names another key): the caller then goes through Verify, which looks the
// token up again, a cost that is small beside the full verification that
// follows. Only a token that passed every check of verifyJWT is ever in the
// cache, so a hit is a JWT Verify would have sent to verifyJWT (Verify's
// length and opaque-token checks depend on the token's bytes alone).
func (v *Verifier) verifyIfCached(ctx context.Context, token, word string) (p *authkit.Principal, ok bool, err error) {
	if v.cache == nil || token == "" || len(token) > jws.MaxTokenSize {
		return nil, false, nil
	}
	e := v.cache.get(token, v.cache.hash(token))
	if e == nil {
		return nil, false, nil
	}
	return v.verifyCached(ctx, e, word)
}

// verifyCached answers a token found in the cache with the checks that do
// not depend on its bytes, in verifyJWT's order and with its errors. ok is
// false when the token's kid now names another key than the one that
// verified it: the caller then verifies the token afresh. word is
// verifyJWT's.
func (v *Verifier) verifyCached(ctx context.Context, e *cacheEntry, word string) (p *authkit.Principal, ok bool, err error) {
	ti := e.ti
	if word != "" && !ti.acceptsWord(word) {
		return nil, true, v.fail(ctx, authkit.MethodJWT, errWord)
	}
	now := v.now()
	leeway := ti.leeway
	k, found, err := ti.lookupKey(ctx, e.kid, e.key.Algorithm(), now, nil)
	switch {
	case err != nil:
		return nil, true, v.fail(ctx, authkit.MethodJWT, err)
	case !found:
		v.cache.remove(e)
		return nil, true, v.fail(ctx, authkit.MethodJWT, errUnknownKey)
	case k != e.key:
		return nil, false, nil
	case !now.Before(e.p.ExpiresAt.Add(leeway)):
		v.cache.remove(e)
		return nil, true, v.failAs(ctx, authkit.MethodJWT, e.p.Subject, e.p.SessionID, e.p.TokenID, errExpired)
	case e.hasNbf && e.nbf.After(now.Add(leeway)):
		return nil, true, v.failAs(ctx, authkit.MethodJWT, e.p.Subject, e.p.SessionID, e.p.TokenID, errNotYet)
	case e.p.IssuedAt.After(now.Add(leeway)):
		return nil, true, v.failAs(ctx, authkit.MethodJWT, e.p.Subject, e.p.SessionID, e.p.TokenID, errFuture)
	}
	if err := v.checkRevoked(ctx, e.p.TokenID, e.p.SessionID, e.p.Subject, e.p.IssuedAt, now); err != nil {
		return nil, true, v.failAs(ctx, authkit.MethodJWT, e.p.Subject, e.p.SessionID, e.p.TokenID, err)
	}
	p, err = v.admit(ctx, e.principal())
	return p, true, err
}

// checkRevoked asks the revocation store, if any, whether the token is dead
// (one store call); a store that cannot answer refuses.
func (v *Verifier) checkRevoked(ctx context.Context, jti, sid, sub string, iat, now time.Time) error {
	if v.revocations == nil {
		return nil
	}
	dead, err := v.revocations.IsRevoked(ctx, authkit.RevocationQuery{TokenID: jti, SessionID: sid, Subject: sub, IssuedAt: iat}, now)
	if err != nil {
		var lost *authkit.DataLossError
		if errors.As(err, &lost) {
			// Refused whatever dead says: the store cannot vouch for it.
			if iat.IsZero() {
				// A token without iat is before every epoch: nothing was
				// lost, so no data-loss alarm (found by review: the first
				// such token logged, and reported, that the store had lost
				// its data).
				return fmt.Errorf("verifier: the token has no iat, and the revocation store vouches only for tokens issued since %s: %w",
					lost.Since.UTC().Format(time.RFC3339), err)
			}
			v.reportLoss(ctx, lost, jti, sid, sub)
			return fmt.Errorf("verifier: %w", err)
		}
		return storeError("revocation check", err)
	}
	if dead {
		return errRevoked
	}
	return nil
}

// reportLoss logs and reports (authkit.EventDataLoss) the first refusal
// under each new epoch of the revocation store.
func (v *Verifier) reportLoss(ctx context.Context, lost *authkit.DataLossError, jti, sid, sub string) {
	us := lost.Since.UnixMicro()
	for {
		seen := v.lossSeen.Load()
		if us <= seen {
			return
		}
		if v.lossSeen.CompareAndSwap(seen, us) {
			break
		}
	}
	v.log.ErrorContext(ctx, "authkit: the revocation store lost data; access tokens issued before its new epoch are refused until they expire",
		"epoch_start", lost.Since.UTC().Format(time.RFC3339Nano))
	if v.hook != nil {
		v.hook(ctx, authkit.Event{Type: authkit.EventDataLoss, Time: v.now(), Subject: sub, SessionID: sid, TokenID: jti, Method: authkit.MethodJWT, Err: lost})
	}
}

// storeError makes sure a store failure is classed as unavailable (fail
// closed) unless it is the caller's own cancellation.
func storeError(what string, err error) error {
	if errors.Is(err, authkit.ErrStoreUnavailable) || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("verifier: %s: %w", what, err)
	}
	return fmt.Errorf("verifier: %s: %w: %w", what, authkit.ErrStoreUnavailable, err)
}

// refusal is an application check's error as the refusal wraps it: as
// it is, unless it says there were no credentials, which would have the
// HTTP layer take a refused credential for none (Optional admitting the
// request as anonymous; found by review): its text is kept, not the match.
func refusal(err error) error {
	if errors.Is(err, authkit.ErrNoCredentials) {
		return errors.New(err.Error())
	}
	return err
}

func (v *Verifier) admit(ctx context.Context, p *authkit.Principal) (*authkit.Principal, error) {
	if v.check != nil {
		if err := v.check(ctx, p); err != nil {
			return nil, v.failAs(ctx, p.Method, p.Subject, p.SessionID, p.TokenID, fmt.Errorf("verifier: %w: refused by the principal check: %w", authkit.ErrInvalidToken, refusal(err)))
		}
	}
	if v.hook != nil && !inspecting(ctx) {
		v.hook(ctx, authkit.Event{Type: authkit.EventAuthenticated, Time: v.now(), Subject: p.Subject, SessionID: p.SessionID, TokenID: p.TokenID, Method: p.Method})
	}
	return p, nil
}

func (v *Verifier) verifyAPIToken(ctx context.Context, token string) (*authkit.Principal, error) {
	if v.apiTokens == nil {
		return nil, v.fail(ctx, authkit.MethodAPIToken, errNoAPIStore)
	}
	if opaque.Check(token, v.prefix, opaque.KindAPI) != nil {
		return nil, v.fail(ctx, authkit.MethodAPIToken, errMalformedAT)
	}
	h := v.hasher.Hash(token)
	t, err := v.apiTokens.LookupAPIToken(ctx, h)
	if errors.Is(err, authkit.ErrNotFound) {
		return nil, v.fail(ctx, authkit.MethodAPIToken, errUnknownAPI)
	}
	if err != nil {
		return nil, v.fail(ctx, authkit.MethodAPIToken, storeError("API token lookup", err))
	}
	if !opaque.Equal(t.Hash, h) {
		return nil, v.fail(ctx, authkit.MethodAPIToken, errUnknownAPI)
	}
	now := v.now()
	if !t.RevokedAt.IsZero() {
		return nil, v.failAs(ctx, authkit.MethodAPIToken, t.Subject, "", t.ID, errRevokedAPI)
	}
	if !t.ExpiresAt.IsZero() && !now.Before(t.ExpiresAt) {
		return nil, v.failAs(ctx, authkit.MethodAPIToken, t.Subject, "", t.ID, errExpiredAPI)
	}
	if now.Sub(t.LastUsedAt) >= v.lastUsedStep && !inspecting(ctx) {
		v.touch(ctx, t.ID, now)
	}
	return v.admit(ctx, &authkit.Principal{
		Subject:   t.Subject,
		Scopes:    t.Scopes,
		Method:    authkit.MethodAPIToken,
		TokenID:   t.ID,
		IssuedAt:  t.CreatedAt,
		ExpiresAt: t.ExpiresAt,
	})
}

// touch records that API token id was used at now, unless this verifier
// is recording it already (a burst of requests makes one write). The
// mark is removed however the write ends, a panicking store included
// (found by review: a panic left it for good, and the token's last use
// was never written again). Bookkeeping, not a decision: the token was
// just read as live, so a failed write is logged and the request goes on.
func (v *Verifier) touch(ctx context.Context, id string, now time.Time) {
	if _, busy := v.touching.LoadOrStore(id, struct{}{}); busy {
		return
	}
	defer v.touching.Delete(id)
	if err := v.apiTokens.TouchAPIToken(ctx, id, now); err != nil {
		v.log.WarnContext(ctx, "authkit: recording API token use failed", "token_id", id, "error", err)
	}
}

// verifyExternalAPIToken checks an API token authkit did not make (see
// authkit.ExternalAPITokens) as verifyAPIToken checks one of its own. The
// store is read-only to authkit: no last-used write.
func (v *Verifier) verifyExternalAPIToken(ctx context.Context, token string) (*authkit.Principal, error) {
	t, err := v.external.LookupExternalAPIToken(ctx, token)
	if errors.Is(err, authkit.ErrNotFound) {
		return nil, v.fail(ctx, authkit.MethodAPIToken, errUnknownAPI)
	}
	if err != nil {
		return nil, v.fail(ctx, authkit.MethodAPIToken, storeError("API token lookup", err))
	}
	now := v.now()
	if !t.RevokedAt.IsZero() {
		return nil, v.failAs(ctx, authkit.MethodAPIToken, t.Subject, "", t.ID, errRevokedAPI)
	}
	if !t.ExpiresAt.IsZero() && !now.Before(t.ExpiresAt) {
		return nil, v.failAs(ctx, authkit.MethodAPIToken, t.Subject, "", t.ID, errExpiredAPI)
	}
	if t.Subject == "" {
		return nil, v.fail(ctx, authkit.MethodAPIToken, errUnknownAPI)
	}
	return v.admit(ctx, &authkit.Principal{
		Subject:   t.Subject,
		Scopes:    t.Scopes,
		Method:    authkit.MethodAPIToken,
		TokenID:   t.ID,
		IssuedAt:  t.CreatedAt,
		ExpiresAt: t.ExpiresAt,
	})
}

var (
	errMultipleAuth = fmt.Errorf("verifier: %w: more than one Authorization header", authkit.ErrInvalidRequest)
	errLongHeader   = fmt.Errorf("verifier: %w: Authorization header longer than %d bytes", authkit.ErrInvalidRequest, MaxHeaderLen)
	errBadCred      = fmt.Errorf("verifier: %w: malformed credentials", authkit.ErrInvalidRequest)
	errBadBasic     = fmt.Errorf("verifier: %w: malformed Basic credentials", authkit.ErrInvalidRequest)
)

// Authenticate finds the request's credential in its Authorization header
// and verifies it, trying the configured schemes in order with Django REST
// framework's rules: a scheme that finds no credential of its kind passes
// to the next; one that finds its credential and rejects it ends the chain.
// After the built-in schemes come the words of the trusted issuers'
// profiles (authkit.Profile.HeaderTypes, such as simplejwt's "JWT"),
// compared without regard to case: under such a word only a JWT access
// token is accepted, with a Bearer credential's syntax and size checks,
// and only if the issuer its "iss" chooses lists the word.
// No header, or a scheme none of ours, is authkit.ErrNoCredentials; two
// Authorization headers, one over MaxHeaderLen, or a malformed credential
// is authkit.ErrInvalidRequest. Tokens are never read from the URL.
func (v *Verifier) Authenticate(r *http.Request) (*authkit.Principal, error) {
	vals := r.Header["Authorization"]
	switch {
	case len(vals) == 0:
		return nil, authkit.ErrNoCredentials
	case len(vals) > 1:
		return nil, errMultipleAuth
	case len(vals[0]) > MaxHeaderLen:
		return nil, errLongHeader
	}
	scheme, cred, tab := httpsyntax.Credentials(vals[0])
	for _, s := range v.schemes {
		if !httpsyntax.SchemeIs(scheme, s) {
			continue
		}
		if tab {
			return nil, errBadCred
		}
		ctx := r.Context()
		if s == authkit.SchemeBasic {
			return v.authenticateBasic(ctx, cred)
		}
		// A token the verify cache holds is answered at once: it passed
		// jws.Parse (three canonical base64url segments, so it is a
		// b64token) and Verify would send it to the cache too, so the
		// answer is Verify's, without first scanning every byte of the
		// token to check its syntax, which on a hit costs more than the
		// lookup.
		if p, ok, err := v.verifyIfCached(ctx, cred, ""); ok {
			return p, err
		}
		if !isB64Token(cred) {
			return nil, errBadCred
		}
		return v.Verify(ctx, cred)
	}
	for _, w := range v.words {
		if httpsyntax.SchemeIs(scheme, w) {
			if tab {
				return nil, errBadCred
			}
			return v.authenticateWord(r.Context(), cred, w)
		}
	}
	return nil, authkit.ErrNoCredentials
}

// authenticateWord checks cred, found under the HeaderTypes word w, as a
// Bearer credential is checked, except that only a JWT is accepted and
// only for an issuer whose profile lists w.
func (v *Verifier) authenticateWord(ctx context.Context, cred, w string) (*authkit.Principal, error) {
	if p, ok, err := v.verifyIfCached(ctx, cred, w); ok {
		return p, err
	}
	if !isB64Token(cred) {
		return nil, errBadCred
	}
	if len(cred) > jws.MaxTokenSize {
		return nil, v.fail(ctx, "", fmt.Errorf("verifier: %w: token longer than %d bytes", authkit.ErrInvalidToken, jws.MaxTokenSize))
	}
	return v.verifyJWT(ctx, cred, w)
}

// isB64Token is httpsyntax.IsB64Token.
func isB64Token(s string) bool { return httpsyntax.IsB64Token(s) }

const maxBasicPart = 1024

func (v *Verifier) authenticateBasic(ctx context.Context, cred string) (*authkit.Principal, error) {
	raw, err := base64.StdEncoding.Strict().DecodeString(cred)
	if err != nil || len(cred) == 0 {
		return nil, errBadBasic
	}
	user, pass, ok := strings.Cut(string(raw), ":")
	if !ok || user == "" || len(user) > maxBasicPart || len(pass) > maxBasicPart || !utf8.ValidString(user) || !utf8.ValidString(pass) {
		return nil, errBadBasic
	}
	p, err := v.basic(ctx, user, pass)
	if err != nil {
		if errors.Is(err, authkit.ErrStoreUnavailable) || errors.Is(err, authkit.ErrInvalidToken) {
			return nil, v.fail(ctx, authkit.MethodBasic, err)
		}
		return nil, v.fail(ctx, authkit.MethodBasic, fmt.Errorf("verifier: %w: Basic credentials refused: %w", authkit.ErrInvalidToken, refusal(err)))
	}
	if p == nil || p.Subject == "" {
		return nil, v.fail(ctx, authkit.MethodBasic, fmt.Errorf("verifier: %w: Basic check returned no principal", authkit.ErrInvalidToken))
	}
	if p.Method == "" {
		p.Method = authkit.MethodBasic
	}
	return v.admit(ctx, p)
}
