package httpauth

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/authkit-go/authkit"
	"github.com/authkit-go/authkit/internal/httpsyntax"
	"github.com/authkit-go/authkit/internal/nilness"
	"github.com/authkit-go/authkit/internal/throttle"
	"github.com/authkit-go/authkit/issuer"
)

// MethodClientSecret is the Event.Method of a client authentication attempt
// with a secret (client_secret_basic or client_secret_post), and the
// Principal.Method of a client calling the introspection endpoint.
const MethodClientSecret = "client_secret"

// Bounds of client credentials, checked before any store call.
const (
	// maxClientSecretLen bounds a presented client secret (authkit's are
	// far shorter).
	maxClientSecretLen = 512
	// maxBasicClientHeader bounds an Authorization header carrying Basic
	// client credentials: base64 of a percent-encoded client_id (3 bytes
	// per byte at worst) and secret, with room to spare.
	maxBasicClientHeader = 4 << 10
)

// Client authentication errors (RFC 6749 §2.3, §5.2). invalid_client says
// nothing of why: an unknown client, a wrong secret, a deleted client and a
// missing secret read the same.
var (
	errClientAuth     = &httpError{http.StatusUnauthorized, "invalid_client", "client authentication failed"}
	errTwoMethods     = &httpError{http.StatusBadRequest, "invalid_request", "more than one client authentication method"}
	errSecretNoID     = &httpError{http.StatusBadRequest, "invalid_request", "client_secret requires client_id"}
	errManyAuthz      = &httpError{http.StatusBadRequest, "invalid_request", "more than one Authorization header"}
	errUnauthClient   = &httpError{http.StatusBadRequest, "unauthorized_client", "the client is not authorized to use this grant type"}
	errNotClientToken = &httpError{http.StatusBadRequest, "unauthorized_client", "the token was not issued to this client"}
)

// errOtherClient refuses a refresh token presented by a client other than
// the one it was issued to (answered invalid_grant, RFC 6749 §5.2).
var errOtherClient = fmt.Errorf("httpauth: %w: the refresh token was issued to another client", authkit.ErrInvalidToken)

// WithClientStore turns on OAuth 2.0 client authentication (RFC 6749 §2.3)
// on the token, revocation and introspection endpoints, and the
// client_credentials grant (RFC 6749 §4.4), with the clients registered in
// cs. It is explicit: the Handler never finds a ClientStore by itself, even
// when the issuer's store implements one, so that turning it on is a
// decision. Pass the same store the application registers clients in (the
// memory, SQL and Redis stores implement authkit.ClientStore).
//
// A client authenticates with client_secret_basic (HTTP Basic, its
// client_id and secret each form-urlencoded first, RFC 6749 §2.3.1) or
// client_secret_post (client_id and client_secret in the body); a public
// client sends client_id alone. A client registered with a key set
// (authkit.Client.JWKS) authenticates with private_key_jwt instead (RFC
// 7523 §2.2, §3): client_assertion_type ClientAssertionTypeJWT and a
// client_assertion JWT it signed, checked as the package documentation,
// "Client authentication", describes; this needs cs to implement
// authkit.ClientAssertionStore (replay protection), and private_key_jwt
// is refused otherwise. Using two methods is invalid_request. A failed
// authentication — an unknown or deleted client, a wrong secret or
// assertion, a confidential client without its credentials, a public
// client with one — is 401 invalid_client with a Basic challenge,
// whichever method was tried; a ClientStore that cannot answer is 503.
// Secrets are compared with issuer.Issuer.CheckClientSecret (hashed,
// constant time), and failures are throttled per (client_id, client
// address) and per address like password attempts, assertions' as
// secrets', but with no ceiling per client_id: a client credential (a
// 256-bit secret, a signed assertion) cannot be guessed, and a ceiling
// would let failures from any number of addresses lock the client out
// (see [ThrottlePolicy]). With a ClientStore, an Authorization header of
// the Basic scheme on these three endpoints is always client
// authentication, never a user's password. See the package documentation, "Client
// authentication", for what each endpoint then requires.
//
// Default: no client store; client credentials in a request are ignored,
// the client_credentials grant is unsupported_grant_type, and every
// endpoint behaves as for public first-party clients.
func WithClientStore(cs authkit.ClientStore) HandlerOption {
	return func(c *handlerConfig) error {
		if nilness.Is(cs) {
			return invalid("WithClientStore: the store is nil (%T)", cs)
		}
		c.clients = cs
		return nil
	}
}

// WithEndpointAssertionAudiences lets a private_key_jwt assertion name the
// token endpoint's URL, or the URL of the endpoint it is sent to (the
// issuer identifier followed by the endpoint's path), as its audience,
// besides the issuer identifier. It is for clients that cannot be changed:
// RFC 7523 §3 allows the token endpoint URL, but a client that also talks
// to a malicious authorization server can be led to sign an assertion for
// this server's token endpoint and hand it to that server, which replays
// it here (the audience injection of the OpenID Foundation's January 2025
// advisory, CVE-2025-27370). Whatever the option, aud must hold a single
// value: a string, or an array of one.
//
// Default: only the issuer identifier, as draft-ietf-oauth-rfc7523bis
// requires.
func WithEndpointAssertionAudiences() HandlerOption {
	return func(c *handlerConfig) error {
		c.endpointAud = true
		return nil
	}
}

// callerClient is the client a request presented: authenticated when it
// proved its secret or signed an assertion (private_key_jwt), merely
// identified when it is public and sent its client_id alone.
type callerClient struct {
	client        authkit.Client
	authenticated bool
	// method is how it authenticated: MethodClientSecret or
	// MethodPrivateKeyJWT ("" when it did not).
	method string
}

// clientCreds are the client credentials found in a request.
type clientCreds struct {
	id, secret string
	basic      bool // sent with client_secret_basic
}

// basicClientCreds reads client_secret_basic credentials: ok is false when
// the request carries no Authorization header of the Basic scheme; herr is
// set when it carries a malformed one (or several headers).
func basicClientCreds(r *http.Request) (cr clientCreds, ok bool, herr *httpError) {
	vals := r.Header["Authorization"]
	if len(vals) == 0 {
		return clientCreds{}, false, nil
	}
	if len(vals) > 1 {
		return clientCreds{}, false, errManyAuthz
	}
	v := vals[0]
	scheme, cred, tab := httpsyntax.Credentials(v)
	if !httpsyntax.SchemeIs(scheme, authkit.SchemeBasic) {
		return clientCreds{}, false, nil
	}
	cr.basic = true
	if tab || len(v) > maxBasicClientHeader {
		return cr, true, errClientAuth
	}
	raw, err := base64.StdEncoding.Strict().DecodeString(strings.Trim(cred, " "))
	if err != nil {
		return cr, true, errClientAuth
	}
	id, secret, found := strings.Cut(string(raw), ":")
	if !found {
		return cr, true, errClientAuth
	}
	// RFC 6749 §2.3.1: both are encoded with application/x-www-form-urlencoded
	// (Appendix B) before Basic encodes them.
	if cr.id, err = url.QueryUnescape(id); err != nil {
		return cr, true, errClientAuth
	}
	if cr.secret, err = url.QueryUnescape(secret); err != nil {
		return cr, true, errClientAuth
	}
	return cr, true, nil
}

// clientThrottleUser is the throttle's user key of a client: apart from
// every user name the password grant accepts (which holds no control
// character), case kept.
func clientThrottleUser(id string) string { return "\x00client\x00" + id }

// authenticateClient finds and checks the client credentials of a request
// to the token, revocation or introspection endpoint (h.clients is set).
// It returns nil when the request presents none, the client otherwise;
// done reports that it answered the request instead (a malformed or failed
// authentication, a throttled client, a store that cannot answer).
func (h *Handler) authenticateClient(w http.ResponseWriter, r *http.Request, ps map[string]string) (cc *callerClient, done bool) {
	cr, basic, herr := basicClientCreds(r)
	if herr != nil {
		h.failClient(w, r, herr)
		return nil, true
	}
	if hasAssertion(ps) {
		if _, secret := ps["client_secret"]; basic || secret {
			h.fail(w, r, errTwoMethods)
			return nil, true
		}
		return h.authenticateAssertion(w, r, ps)
	}
	switch {
	case basic:
		if _, ok := ps["client_secret"]; ok {
			h.fail(w, r, errTwoMethods)
			return nil, true
		}
		if id, ok := ps["client_id"]; ok && id != cr.id {
			// RFC 6749 §2.3.1 puts client_id in the header; a different
			// one in the body is a second, conflicting identity.
			h.fail(w, r, errTwoMethods)
			return nil, true
		}
	default:
		cr.id, cr.secret = ps["client_id"], ps["client_secret"]
		if cr.id == "" {
			if cr.secret != "" {
				h.fail(w, r, errSecretNoID)
				return nil, true
			}
			return nil, false
		}
	}
	if !authkit.ValidClientID(cr.id) || len(cr.secret) > maxClientSecretLen {
		h.failClient(w, r, errClientAuth)
		return nil, true
	}
	ctx := r.Context()
	hasSecret := cr.secret != "" || cr.basic
	attempt := throttle.Attempt{User: clientThrottleUser(cr.id), Addr: h.clientAddr(r)}
	var pairFailures int64
	if hasSecret {
		var done bool
		if pairFailures, done = h.checkClientThrottle(w, r, attempt, cr.id, MethodClientSecret); done {
			return nil, true
		}
	}
	c, err := h.getClient(ctx, cr.id)
	switch {
	case err == nil:
	case isUnavailable(err):
		h.failErr(w, r, "client lookup", err)
		return nil, true
	case errors.Is(err, authkit.ErrNotFound):
		h.clientFailure(ctx, attempt, cr.id, hasSecret, authkit.ErrNotFound)
		h.failClient(w, r, errClientAuth)
		return nil, true
	default:
		h.failErr(w, r, "client lookup", err)
		return nil, true
	}
	if !hasSecret {
		if !c.Public() {
			// A confidential client MUST authenticate (RFC 6749 §3.2.1).
			h.clientFailure(ctx, attempt, cr.id, false, authkit.ErrNoCredentials)
			h.failClient(w, r, errClientAuth)
			return nil, true
		}
		return &callerClient{client: c}, false
	}
	// A public client has no secret, so CheckClientSecret refuses any; a
	// client with a key only (private_key_jwt) cannot use a secret either.
	if !h.iss.CheckClientSecret(c, cr.secret) {
		h.clientFailure(ctx, attempt, cr.id, true, authkit.ErrInvalidToken)
		h.failClient(w, r, errClientAuth)
		return nil, true
	}
	h.guard.clearLocal(ctx, h.guard.localClients, attempt, h.now())
	if pairFailures > 0 {
		if err := h.guard.clients.Success(ctx, attempt, h.now(), throttle.Decision{PairFailures: pairFailures}); err != nil {
			h.log.LogAttrs(ctx, slog.LevelWarn, "httpauth: clearing a throttle counter failed", slog.Any("error", err))
		}
	}
	return &callerClient{client: c, authenticated: true, method: MethodClientSecret}, false
}

// checkClientThrottle decides, before a client's credentials are checked,
// whether the attempt may proceed, and returns the pair's failures so far;
// done reports that it answered the request instead (throttled: 429 and
// EventThrottled with method; the throttle store failing: 503). Only the
// (client_id, address) pair and the address can hold an attempt back:
// client authentication has no per-client ceiling (clientPolicy), so
// failures from other addresses never refuse a client its own attempts.
func (h *Handler) checkClientThrottle(w http.ResponseWriter, r *http.Request, a throttle.Attempt, id, method string) (pairFailures int64, done bool) {
	ctx := r.Context()
	d, err := h.guard.clients.Check(ctx, a, h.now())
	if err != nil {
		if !isUnavailable(err) {
			err = fmt.Errorf("httpauth: %w: %w", authkit.ErrStoreUnavailable, err)
		}
		h.failErr(w, r, "throttle", err)
		return 0, true
	}
	if d, err = h.guard.checkLocal(ctx, h.guard.localClients, a, h.now(), d); err != nil {
		h.failErr(w, r, "throttle", err)
		return 0, true
	}
	if !d.Allowed {
		h.guard.log.LogAttrs(ctx, slog.LevelInfo, "httpauth: client authentication throttled",
			slog.String("method", method), slog.String("by", string(d.By)))
		h.guard.emit(ctx, authkit.Event{Type: authkit.EventThrottled, Time: h.now(), Subject: eventSubject(id), Method: method, Err: ErrThrottled})
		h.throttled(w, r, &ThrottledError{RetryAfter: d.RetryAfter})
		return 0, true
	}
	return d.PairFailures, false
}

// clientFailure records a failed client authentication: counted by the
// throttle when a secret was tried, and reported as EventLoginFailed with
// the client_id as Subject and MethodClientSecret (reason: ErrNotFound for
// an unknown client, ErrNoCredentials for a confidential client that sent
// no secret, ErrInvalidToken for a wrong one). The secret is never logged.
func (h *Handler) clientFailure(ctx context.Context, a throttle.Attempt, id string, counted bool, reason error) {
	var counter *throttle.Attempt
	if counted {
		counter = &a
	}
	h.recordClientFailure(ctx, counter, id, MethodClientSecret, reason)
}

// recordClientFailure counts a failed client authentication against a
// (when not nil) and reports it as EventLoginFailed with Subject id and
// the method tried.
func (h *Handler) recordClientFailure(ctx context.Context, a *throttle.Attempt, id, method string, reason error) {
	now := h.now()
	if a != nil {
		if err := h.guard.recordFailure(ctx, h.guard.clients, h.guard.localClients, *a, now); err != nil {
			h.log.LogAttrs(ctx, slog.LevelWarn, "httpauth: recording a failed client authentication failed; counted in this process instead", slog.Any("error", err))
		}
	}
	h.guard.emit(ctx, authkit.Event{Type: authkit.EventLoginFailed, Time: now, Subject: eventSubject(id), Method: method, Err: reason})
}

// failClient answers a client authentication error; a 401 carries the
// Basic challenge (RFC 6749 §5.2 requires it when the client tried Basic,
// and RFC 9110 §15.5.2 a challenge with every 401).
func (h *Handler) failClient(w http.ResponseWriter, r *http.Request, e *httpError) {
	if e.status == http.StatusUnauthorized {
		w.Header().Set("WWW-Authenticate", h.clientChallenge)
	}
	h.fail(w, r, e)
}

// clientChallengeFor is the challenge of an invalid_client answer.
func clientChallengeFor(realm string) string {
	var b strings.Builder
	b.WriteString("Basic realm=")
	writeQuoted(&b, realm)
	b.WriteString(`, charset="UTF-8"`)
	return b.String()
}

// grantScopes checks requested scopes against a client's registered ones:
// every requested scope must be the client's; none requested grants all of
// them.
func grantScopes(c authkit.Client, requested []string) ([]string, bool) {
	if requested == nil {
		return slices.Clone(c.Scopes), true
	}
	for _, s := range requested {
		if !slices.Contains(c.Scopes, s) {
			return nil, false
		}
	}
	return requested, true
}

// clientCredentialsGrant is RFC 6749 §4.4: an access token for the
// authenticated confidential client itself (subject and client_id are its
// ID), with no refresh token (§4.4.3).
func (h *Handler) clientCredentialsGrant(w http.ResponseWriter, r *http.Request, ps map[string]string, cc *callerClient) {
	if cc == nil || !cc.authenticated {
		h.failClient(w, r, errClientAuth)
		return
	}
	c := cc.client
	if !c.AllowsGrant(authkit.GrantClientCredentials) {
		h.fail(w, r, errUnauthClient)
		return
	}
	requested, ok := parseScope(ps["scope"])
	if !ok {
		h.fail(w, r, errInvalidScope)
		return
	}
	granted, ok := grantScopes(c, requested)
	if !ok {
		h.fail(w, r, errInvalidScope)
		return
	}
	if requested == nil && len(granted) > maxScopes {
		// A registration may hold up to authkit.MaxClientScopes, a token
		// at most authkit.MaxScopes: such a client names the ones it wants
		// (found by review: this answered 500 for a registration the
		// library accepts).
		h.fail(w, r, errTooManyScopes)
		return
	}
	if !validScopes(granted) {
		h.log.LogAttrs(r.Context(), slog.LevelError, "httpauth: a registered client holds an invalid scope", slog.String("client_id", c.ID))
		h.fail(w, r, errServer)
		return
	}
	opts := []issuer.IssueOption{
		issuer.WithClientID(c.ID),
		issuer.WithScopes(granted...),
		issuer.WithEventMethod(authkit.GrantClientCredentials),
	}
	if c.AccessTTL >= time.Second {
		opts = append(opts, issuer.WithAccessTokenTTL(c.AccessTTL))
	}
	pair, err := h.iss.IssueAccessToken(r.Context(), c.ID, opts...)
	if err != nil {
		h.failErr(w, r, "issue", err)
		return
	}
	h.writeJSON(w, r, http.StatusOK, pair)
}

// getClient looks up a registered client. A client registered under the
// issuer's own client_id (authkit.WithClientID, "authkit" by default) is
// treated as absent (ErrNotFound): its tokens would carry the client_id of
// first-party sessions, so that it could refresh them without
// authenticating and use the account endpoints. authkit serve warns about
// such a registration at start-up and `authkit clients add` refuses it.
func (h *Handler) getClient(ctx context.Context, id string) (authkit.Client, error) {
	if own := h.iss.ClientID(); own != "" && id == own {
		return authkit.Client{}, fmt.Errorf("httpauth: client %q: %w (it is the issuer's own client_id)", id, authkit.ErrNotFound)
	}
	return h.clients.GetClient(ctx, id)
}

// clientBinding is the session check of a refresh with a client store
// (RFC 6749 §6: the refresh token must have been issued to the client):
// a presented client must be the session's; a request presenting none
// refreshes only a first-party session (no client_id, or the issuer's own,
// authkit.WithClientID). Any other client_id must be presented — so the
// refresh tokens of a deleted client refresh for no one — and a session
// started before the presented client's registration (Client.CreatedAt)
// is another registration's, refused even when the ID is the same.
func (h *Handler) clientBinding(cc *callerClient) func(context.Context, authkit.Session) error {
	firstParty := h.iss.ClientID()
	return func(ctx context.Context, s authkit.Session) error {
		if cc != nil {
			if s.ClientID != cc.client.ID {
				return errOtherClient
			}
			// A session older than the registration belongs to a client
			// removed and registered again under the same ID: not this one.
			// A client without a registration time (a store that breaks
			// ValidateClient) cannot be told from an earlier one: refused.
			if cc.client.CreatedAt.IsZero() {
				h.noCreatedAt(ctx, cc.client.ID)
				return errOtherClient
			}
			if s.CreatedAt.Before(cc.client.CreatedAt) {
				return errOtherClient
			}
			return nil
		}
		if s.ClientID != "" && s.ClientID != firstParty {
			return errOtherClient
		}
		return nil
	}
}

// revocationAllowed applies RFC 7009 §2.1 with a client store: a client
// may revoke only a token issued to it; a token issued to a registered
// confidential client may be revoked only by that client, authenticated;
// one issued to a registered public client by a request presenting that
// client_id or none. A token that is not ours passes (revoking it is a
// no-op, §2.2). It answers the request itself when it refuses.
func (h *Handler) revocationAllowed(w http.ResponseWriter, r *http.Request, cc *callerClient, tok string) bool {
	ctx := r.Context()
	cid, err := h.iss.TokenClientID(ctx, tok)
	switch {
	case err == nil:
	case isUnavailable(err):
		h.failErr(w, r, "revoke", err)
		return false
	case errors.Is(err, authkit.ErrInvalidToken):
		return true
	default:
		h.failErr(w, r, "revoke", err)
		return false
	}
	if cc != nil {
		if cid != cc.client.ID {
			h.fail(w, r, errNotClientToken)
			return false
		}
		return true
	}
	if cid == "" || cid == h.iss.ClientID() {
		return true
	}
	c, err := h.getClient(ctx, cid)
	switch {
	case err == nil:
		if !c.Public() {
			h.failClient(w, r, errClientAuth)
			return false
		}
		return true
	case errors.Is(err, authkit.ErrNotFound) && !isUnavailable(err):
		return true
	default:
		h.failErr(w, r, "client lookup", err)
		return false
	}
}

// principal is the principal of an authenticated client calling the
// introspection endpoint, for the introspection rule: subject and
// client_id its ID, scopes its registered scopes, Method the way it
// authenticated (MethodClientSecret or MethodPrivateKeyJWT).
func (cc *callerClient) principal() *authkit.Principal {
	return &authkit.Principal{
		Subject:  cc.client.ID,
		ClientID: cc.client.ID,
		Scopes:   slices.Clone(cc.client.Scopes),
		Method:   cc.method,
	}
}
