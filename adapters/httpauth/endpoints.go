package httpauth

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/authkit-go/authkit"
	"github.com/authkit-go/authkit/internal/strictjson"
	"github.com/authkit-go/authkit/issuer"
)

var (
	errIntrospectClient = &httpError{http.StatusForbidden, "unauthorized_client", "the client may not introspect tokens"}
	errNeedToken        = &httpError{http.StatusBadRequest, "invalid_request", "token is required"}
	errTokenType        = &httpError{http.StatusBadRequest, "unsupported_token_type", "this server cannot revoke tokens of this type"}
	errNoSession        = &httpError{http.StatusNotFound, "not_found", "no such session"}
	errNoAPIToken       = &httpError{http.StatusNotFound, "not_found", "no such API token"}
	errLimit            = &httpError{http.StatusConflict, "limit_exceeded", "the API token limit has been reached"}
	errAPITokenInput    = &httpError{http.StatusBadRequest, "invalid_request", "invalid API token request"}
	errParamInURL       = &httpError{http.StatusBadRequest, "invalid_request", "parameters must be sent in the request body, never in the URL"}
)

// Bounds of API token creation.
const (
	minAPITokenTTL = 60                   // seconds (issuer.WithTokenTTL's floor)
	maxAPITokenTTL = 10 * 366 * 24 * 3600 // seconds: ten years
)

// revocationToken returns the token parameter of a revocation request or,
// with cookies enabled and none given, the refresh cookie, or failing that
// the access cookie (then the CSRF check applies): a browser logging out.
// The browser sends the refresh cookie only where its Path allows (the
// token endpoint's, by default), so the access cookie, sent everywhere,
// stands for its session. done reports that a response has been written
// instead.
func (h *Handler) revocationToken(w http.ResponseWriter, r *http.Request, ps map[string]string) (tok string, fromCookie, access, done bool) {
	tok = ps["token"]
	if tok == "" && h.auth.cookies != nil {
		for _, name := range []string{h.auth.cookies.RefreshName, h.auth.cookies.AccessName} {
			v, err := cookieValue(r, name)
			if err != nil {
				h.fail(w, r, errAmbiguous)
				return "", false, false, true
			}
			if v != "" {
				if err := h.auth.checkCSRF(r); err != nil {
					h.auth.Deny(w, r, err)
					return "", false, false, true
				}
				return v, true, name == h.auth.cookies.AccessName, false
			}
		}
	}
	if tok == "" {
		h.fail(w, r, errNeedToken)
		return "", false, false, true
	}
	return tok, false, false, false
}

// revokeAccessCookie ends the session of the access cookie tok (a browser
// logging out whose refresh cookie /revoke does not receive), or revokes
// tok alone when it has no session. An access token of ours that no longer
// verifies (expired, revoked by its jti, refused by the principal check)
// still ends its session (found by review: the logout answered 200 and
// cleared the cookies, refresh cookie included, while the session lived
// on); a token that is not ours leaves nothing to end.
func (h *Handler) revokeAccessCookie(r *http.Request, tok string) error {
	p, err := h.auth.v.Verify(r.Context(), tok)
	switch {
	case err != nil && isUnavailable(err):
		return err
	case err != nil:
		return h.iss.RevokeAccessTokenSession(r.Context(), tok)
	case p.Method != authkit.MethodJWT:
		return nil
	case p.SessionID == "":
		return h.iss.Revoke(r.Context(), tok)
	}
	return h.iss.RevokeOwnSession(r.Context(), p.Subject, p.SessionID)
}

// handleRevoke is RFC 7009 token revocation. Possession of a token is the
// proof that allows revoking it, for first-party and public clients (RFC
// 7009 §2.1 asks client authentication of confidential clients only); with
// WithClientStore, confidential clients authenticate and a client revokes
// only its own tokens (revocationAllowed). Every
// token kind is accepted: a refresh token ends its session, an access token
// is revoked by its jti, an API token by its ID. A token that is unknown,
// invalid or already dead is answered 200 like any other (§2.2).
func (h *Handler) handleRevoke(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "no-store")
	ps, herr := readParams(w, r, h.maxBody)
	if herr != nil {
		h.fail(w, r, herr)
		return
	}
	var cc *callerClient
	if h.clients != nil {
		var done bool
		if cc, done = h.authenticateClient(w, r, ps); done {
			return
		}
	}
	// token_type_hint is not read: the token is searched in every kind
	// (RFC 7009 §2.1 lets a server ignore the hint), and a hint of any
	// form is no reason to refuse (found by review: a malformed one was a
	// 400, where §2.2 answers 200 even for an invalid token).
	tok, fromCookie, accessCookie, done := h.revocationToken(w, r, ps)
	if done {
		return
	}
	if h.clients != nil && len(tok) <= maxOpaqueLen && !h.revocationAllowed(w, r, cc, tok) {
		return
	}
	if len(tok) <= maxOpaqueLen {
		var err error
		if accessCookie {
			err = h.revokeAccessCookie(r, tok)
		} else {
			err = h.iss.Revoke(r.Context(), tok)
		}
		switch {
		case err == nil:
		case isUnavailable(err):
			h.failErr(w, r, "revoke", err)
			return
		case errors.Is(err, authkit.ErrInvalidToken), errors.Is(err, authkit.ErrNotFound):
			// RFC 7009 §2.2: an invalid token is no error.
		case errors.Is(err, authkit.ErrInvalidConfig):
			// An access token, and no revocation store to record it in.
			h.fail(w, r, errTokenType)
			return
		default:
			h.failErr(w, r, "revoke", err)
			return
		}
	}
	if c := h.auth.cookies; c != nil && (fromCookie || h.isCookieToken(r, tok)) {
		c.clear(w, h.refreshCookiePath(r))
	}
	w.Header().Set("Content-Length", "0")
	w.WriteHeader(http.StatusOK)
}

// isCookieToken reports whether tok is the request's access or refresh
// cookie (a browser revoking its own tokens).
func (h *Handler) isCookieToken(r *http.Request, tok string) bool {
	for _, name := range []string{h.auth.cookies.AccessName, h.auth.cookies.RefreshName} {
		if v, err := cookieValue(r, name); err == nil && v != "" && subtle.ConstantTimeCompare([]byte(v), []byte(tok)) == 1 {
			return true
		}
	}
	return false
}

// introspection is the RFC 7662 §2.2 response. An inactive token is
// exactly {"active":false}.
type introspection struct {
	Active    bool   `json:"active"`
	Scope     string `json:"scope,omitempty"`
	ClientID  string `json:"client_id,omitempty"`
	TokenType string `json:"token_type,omitempty"`
	Exp       int64  `json:"exp,omitempty"`
	Iat       int64  `json:"iat,omitempty"`
	Nbf       int64  `json:"nbf,omitempty"`
	Sub       string `json:"sub,omitempty"`
	Aud       any    `json:"aud,omitempty"`
	Iss       string `json:"iss,omitempty"`
	Jti       string `json:"jti,omitempty"`
	Sid       string `json:"sid,omitempty"`
	// Kind is authkit's extension member (RFC 7662 §2.2 allows them):
	// "access_token", "refresh_token" or "api_token".
	Kind string `json:"authkit_token_kind,omitempty"`
}

// handleIntrospect is RFC 7662 token introspection. The caller must
// authenticate (header, or cookie with the CSRF check) and pass the
// introspection rule; a token that is invalid, expired, revoked, rotated or
// unknown is answered exactly {"active":false}, and a store that cannot
// answer 503 — never a guess either way.
func (h *Handler) handleIntrospect(w http.ResponseWriter, r *http.Request) {
	if h.clients != nil {
		h.introspectAsClient(w, r)
		return
	}
	p, err := h.auth.Authenticate(r)
	if err != nil {
		h.auth.Deny(w, r, err)
		return
	}
	if !h.introspect(p) {
		h.auth.Deny(w, r, h.introDeny)
		return
	}
	w.Header().Set("Cache-Control", "no-store")
	ps, herr := readParams(w, r, h.maxBody)
	if herr != nil {
		h.fail(w, r, herr)
		return
	}
	h.introspectToken(w, r, ps)
}

// introspectAsClient is the introspection endpoint with a client store: a
// resource server may authenticate as a confidential client (RFC 7662
// §2.1; it must pass the introspection rule as the principal
// callerClient.principal makes of it), or as today with a credential the Auth
// accepts when the request presents no client credentials. A public client
// cannot introspect (invalid_client). The body is read first, since
// client_secret_post puts the credentials there.
func (h *Handler) introspectAsClient(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "no-store")
	ps, herr := readParams(w, r, h.maxBody)
	if herr != nil {
		h.fail(w, r, herr)
		return
	}
	cc, done := h.authenticateClient(w, r, ps)
	if done {
		return
	}
	var p *authkit.Principal
	if cc != nil {
		if !cc.authenticated {
			h.failClient(w, r, errClientAuth)
			return
		}
		p = cc.principal()
	} else {
		var err error
		if p, err = h.auth.Authenticate(r); err != nil {
			h.auth.Deny(w, r, err)
			return
		}
	}
	if !h.introspect(p) {
		if cc != nil {
			// No Bearer challenge: the client sent no access token for
			// it to blame (found by review: insufficient_scope, RFC 6750
			// §3.1, named a token the request did not carry).
			h.fail(w, r, errIntrospectClient)
			return
		}
		h.auth.Deny(w, r, h.introDeny)
		return
	}
	h.introspectToken(w, r, ps)
}

// introspectToken answers the introspection of the request's token for a
// caller already authorised.
func (h *Handler) introspectToken(w http.ResponseWriter, r *http.Request, ps map[string]string) {
	tok := ps["token"]
	if tok == "" {
		h.fail(w, r, errNeedToken)
		return
	}
	// A hint not of the form of a token type name (RFC 7662 §2.1 defines
	// no syntax for it) is ignored, as an unknown one is: every kind is
	// searched anyway (found by review: it was a 400).
	hint := ps["token_type_hint"]
	if len(tok) > maxOpaqueLen {
		h.writeJSON(w, r, http.StatusOK, introspection{})
		return
	}
	tries := [2]func(*http.Request, string) (introspection, error){h.introspectAccess, h.introspectRefresh}
	if hint == "refresh_token" {
		tries[0], tries[1] = tries[1], tries[0]
	}
	for _, try := range tries {
		res, err := try(r, tok)
		if err == nil {
			h.writeJSON(w, r, http.StatusOK, res)
			return
		}
		if isUnavailable(err) {
			h.failErr(w, r, "introspect", err)
			return
		}
	}
	h.writeJSON(w, r, http.StatusOK, introspection{})
}

// introspectAccess introspects a JWT access token or an API token through
// the verifier, which applies every check a protected request gets.
func (h *Handler) introspectAccess(r *http.Request, tok string) (introspection, error) {
	p, err := h.auth.v.Introspect(r.Context(), tok)
	if err != nil {
		return introspection{}, err
	}
	if p == nil {
		return introspection{}, authkit.ErrInvalidToken
	}
	// Active means within its lifetime now, by the verifier's clock and
	// without its leeway, which is for a resource server whose clock
	// differs from the issuer's: it kept a token active for up to 30
	// seconds past the exp the same answer showed (found by review; RFC
	// 7662 §2.2). Not the handler's clock (WithClock), which may differ
	// from the verifier's (found by review).
	now := h.auth.v.Now()
	if !p.ExpiresAt.IsZero() && !now.Before(p.ExpiresAt) {
		return introspection{}, authkit.ErrTokenExpired
	}
	res := introspection{
		Active:    true,
		Scope:     strings.Join(p.Scopes, " "),
		ClientID:  p.ClientID,
		TokenType: "Bearer",
		Sub:       p.Subject,
		Jti:       p.TokenID,
		Sid:       p.SessionID,
		Exp:       unix(p.ExpiresAt),
		Iat:       unix(p.IssuedAt),
		Kind:      "access_token",
	}
	if p.Method == authkit.MethodAPIToken {
		res.Kind = "api_token"
		return res, nil
	}
	// The token has verified: read the registered claims the principal does
	// not carry.
	res.Aud, res.Nbf = jwtExtras(tok)
	if res.Nbf > now.Unix() {
		return introspection{}, authkit.ErrInvalidToken // not yet valid (within the leeway)
	}
	// The issuer the verifier resolved, not the token's iss: a trusted
	// issuer's token may be accepted without one
	// (authkit.Profile.AllowMissingIssuer), and its user must not pass for
	// this issuer's (found by review).
	res.Iss = p.Issuer
	return res, nil
}

// introspectRefresh introspects a refresh token without spending it. With
// WithRefreshCheck the application is asked as a refresh would ask it: a
// session it refuses (a disabled user) is inactive, and the scopes shown
// are those a refresh would grant; one it would refuse because none of
// the session's scopes is still allowed is inactive.
func (h *Handler) introspectRefresh(r *http.Request, tok string) (introspection, error) {
	s, err := h.iss.RefreshSession(r.Context(), tok)
	if err != nil {
		return introspection{}, err
	}
	cc, err := h.refreshableByItsClient(r.Context(), s)
	if err != nil {
		return introspection{}, err
	}
	if check := h.scopeCheck(cc); check != nil {
		allowed, err := check(r.Context(), s)
		switch {
		case err != nil && isUnavailable(err):
			return introspection{}, err
		case err != nil:
			return introspection{}, fmt.Errorf("httpauth: %w: the refresh check refuses the session: %w", authkit.ErrTokenRevoked, err)
		}
		kept := intersect(s.Scopes, allowed)
		if len(s.Scopes) > 0 && len(kept) == 0 {
			// A refresh would be refused with invalid_scope: active with
			// no scope member would read as the session's scopes kept.
			return introspection{}, fmt.Errorf("httpauth: %w: none of the session's scopes is still allowed", authkit.ErrInsufficientScope)
		}
		s.Scopes = kept
	}
	exp := s.IdleExpiresAt
	if s.ExpiresAt.Before(exp) {
		exp = s.ExpiresAt
	}
	res := introspection{
		Active:   true,
		Scope:    strings.Join(s.Scopes, " "),
		ClientID: s.ClientID,
		Sub:      s.Subject,
		Exp:      unix(exp),
		Iat:      unix(s.LastUsedAt),
		Sid:      s.ID,
		Kind:     "refresh_token",
	}
	switch len(s.Audience) {
	case 0:
	case 1:
		res.Aud = s.Audience[0]
	default:
		res.Aud = s.Audience
	}
	return res, nil
}

// refreshableByItsClient is, with a client store, whether a session's
// refresh token can still refresh for anyone: for a first-party session,
// or for its client as registered now (clientBinding, the refresh's own
// rule). A session of a client since removed, or removed and registered
// again, refreshes for no one and introspects as inactive (found by
// review: it introspected as active, naming its owner). A store that
// cannot answer fails the introspection.
func (h *Handler) refreshableByItsClient(ctx context.Context, s authkit.Session) (*callerClient, error) {
	if h.clients == nil || s.ClientID == "" || s.ClientID == h.iss.ClientID() {
		return nil, nil
	}
	c, err := h.getClient(ctx, s.ClientID)
	switch {
	case errors.Is(err, authkit.ErrNotFound):
		return nil, fmt.Errorf("httpauth: %w: the session's client is no longer registered", authkit.ErrTokenRevoked)
	case err != nil:
		return nil, err
	}
	cc := &callerClient{client: c}
	if err := h.clientBinding(cc)(ctx, s); err != nil {
		return nil, fmt.Errorf("httpauth: %w: %w", authkit.ErrTokenRevoked, err)
	}
	return cc, nil
}

func unix(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.Unix()
}

// jwtExtras reads aud and nbf from a JWT that has already verified.
func jwtExtras(tok string) (aud any, nbf int64) {
	parts := strings.SplitN(tok, ".", 3)
	if len(parts) != 3 {
		return nil, 0
	}
	payload, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		return nil, 0
	}
	o, err := strictjson.NewObject(payload)
	if err != nil {
		return nil, 0
	}
	for o.Next() {
		v := o.Value()
		switch string(o.Name()) {
		case "aud":
			if v.Kind() == strictjson.KindString {
				if s, err := v.Text(); err == nil {
					aud = s
				}
			} else if ss, err := v.Strings(nil); err == nil && len(ss) > 0 {
				aud = ss
			}
		case "nbf":
			if f, err := v.Float(); err == nil && f > 0 && f < 253402300800 {
				nbf = int64(f)
			}
		}
	}
	return aud, nbf
}

// handleJWKS serves the issuer's public keys (RFC 7517) with caching
// headers and an ETag.
func (h *Handler) handleJWKS(w http.ResponseWriter, r *http.Request) {
	body, err := h.iss.JWKS()
	if err != nil {
		h.failErr(w, r, "jwks", err)
		return
	}
	sum := sha256.Sum256(body)
	etag := `"` + base64.RawURLEncoding.EncodeToString(sum[:16]) + `"`
	hdr := w.Header()
	hdr.Set("Cache-Control", h.jwksCache)
	hdr.Set("ETag", etag)
	if etagMatch(r.Header.Values("If-None-Match"), etag) {
		w.WriteHeader(http.StatusNotModified)
		return
	}
	hdr.Set("Content-Type", "application/jwk-set+json")
	hdr.Set("X-Content-Type-Options", "nosniff")
	hdr.Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(body)
}

// etagMatch applies If-None-Match (weak comparison, RFC 9110 §13.1.2).
func etagMatch(vals []string, etag string) bool {
	for _, v := range vals {
		for _, t := range strings.Split(v, ",") {
			t = strings.TrimSpace(t)
			if t == "*" || strings.TrimPrefix(t, "W/") == etag {
				return true
			}
		}
	}
	return false
}

// account wraps an endpoint that manages the caller's own credentials: the
// caller must authenticate, with a session (JWT) or a password (Basic) —
// never an API token (ErrAPITokenNotAllowed).
func (h *Handler) account(fn func(http.ResponseWriter, *http.Request, *authkit.Principal)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		p, err := h.auth.Authenticate(r)
		if err != nil {
			h.auth.Deny(w, r, err)
			return
		}
		if p.Method != authkit.MethodJWT && p.Method != authkit.MethodBasic {
			h.auth.Deny(w, r, ErrAPITokenNotAllowed)
			return
		}
		if p.Method == authkit.MethodJWT && !h.accountJWT(p) {
			h.auth.Deny(w, r, ErrClientTokenNotAllowed)
			return
		}
		w.Header().Set("Cache-Control", "no-store")
		fn(w, r.WithContext(h.auth.withPrincipal(r.Context(), p)), p)
	}
}

// accountJWT reports whether a verified JWT may use the account
// endpoints: one this Handler's issuer issued (a token of another issuer
// the verifier trusts names a user of that issuer, and its client_id means
// nothing here), and first-party (no client_id, or the issuer's own), or
// a user's session through a client WithAccountClients names — never that
// client's own token (client_credentials: no session).
// grantedHere reports whether p's scopes were granted by iss: a client,
// an API token, or a JWT iss minted (found by review: the default
// introspection rule took a trusted issuer's "introspect" scope).
func grantedHere(iss *issuer.Issuer, p *authkit.Principal) bool {
	return p.Method != authkit.MethodJWT || p.Issuer != "" && p.Issuer == iss.ID()
}

func (h *Handler) accountJWT(p *authkit.Principal) bool {
	if p.Issuer == "" || p.Issuer != h.iss.ID() {
		return false
	}
	if p.ClientID == "" || p.ClientID == h.iss.ClientID() {
		return true
	}
	return p.SessionID != "" && p.Subject != p.ClientID && slices.Contains(h.accountClients, p.ClientID)
}

// handleLogoutAll ends every session of the caller and makes every access
// token issued to it so far invalid (issuer.Issuer.RevokeSubject). API
// tokens are not touched unless WithLogoutAllAPITokens.
func (h *Handler) handleLogoutAll(w http.ResponseWriter, r *http.Request, p *authkit.Principal) {
	if err := h.revokeSubject(r.Context(), p.Subject); err != nil {
		h.failErr(w, r, "logout-all", err)
		return
	}
	if c := h.auth.cookies; c != nil {
		c.clear(w, h.refreshCookiePath(r))
	}
	w.WriteHeader(http.StatusNoContent)
}

// sessionView is one session in a listing; Current marks the caller's own.
type sessionView struct {
	authkit.Session
	Current bool `json:"current"`
}

func (h *Handler) handleSessions(w http.ResponseWriter, r *http.Request, p *authkit.Principal) {
	ss, err := h.iss.Sessions(r.Context(), p.Subject)
	if err != nil {
		h.failErr(w, r, "sessions", err)
		return
	}
	out := make([]sessionView, len(ss))
	for i, s := range ss {
		out[i] = sessionView{Session: s, Current: p.SessionID != "" && s.ID == p.SessionID}
	}
	h.writeJSON(w, r, http.StatusOK, struct {
		Sessions []sessionView `json:"sessions"`
	}{out})
}

// itemID returns the last segment of the request path, the {id} of an
// item route, if it is a plausible ID.
func itemID(r *http.Request) (string, bool) {
	p := r.URL.Path
	id := p[strings.LastIndexByte(p, '/')+1:]
	return id, validText(id, maxIDLen)
}

// handleGetSession answers one of the caller's sessions, as an element of
// the listing; another subject's, an ended one and an unknown ID are all
// 404, alike.
func (h *Handler) handleGetSession(w http.ResponseWriter, r *http.Request, p *authkit.Principal) {
	id, ok := itemID(r)
	if !ok {
		h.fail(w, r, errNoSession)
		return
	}
	ss, err := h.iss.Sessions(r.Context(), p.Subject)
	if err != nil {
		h.failErr(w, r, "sessions", err)
		return
	}
	for _, s := range ss {
		if s.ID == id {
			h.writeJSON(w, r, http.StatusOK, sessionView{Session: s, Current: p.SessionID != "" && s.ID == p.SessionID})
			return
		}
	}
	h.fail(w, r, errNoSession)
}

func (h *Handler) handleDeleteSession(w http.ResponseWriter, r *http.Request, p *authkit.Principal) {
	id, ok := itemID(r)
	if !ok {
		h.fail(w, r, errNoSession)
		return
	}
	err := h.iss.RevokeOwnSession(r.Context(), p.Subject, id)
	switch {
	case err == nil:
	case isUnavailable(err):
		h.failErr(w, r, "revoke session", err)
		return
	case errors.Is(err, authkit.ErrNotFound):
		h.fail(w, r, errNoSession)
		return
	default:
		h.failErr(w, r, "revoke session", err)
		return
	}
	if c := h.auth.cookies; c != nil && id == p.SessionID {
		c.clear(w, h.refreshCookiePath(r))
	}
	w.WriteHeader(http.StatusNoContent)
}

func (h *Handler) handleAPITokens(w http.ResponseWriter, r *http.Request, p *authkit.Principal) {
	ts, err := h.iss.APITokens(r.Context(), p.Subject)
	if err != nil {
		h.failErr(w, r, "API tokens", err)
		return
	}
	if ts == nil {
		ts = []authkit.APIToken{}
	}
	h.writeJSON(w, r, http.StatusOK, struct {
		APITokens []authkit.APIToken `json:"api_tokens"`
	}{ts})
}

// createdAPIToken is the creation response: the secret, shown this once,
// and the record.
type createdAPIToken struct {
	Token string `json:"token"`
	authkit.APIToken
}

// apiTokenRequest is a parsed POST /api-tokens body.
type apiTokenRequest struct {
	name   string
	scopes []string
	ttl    int64 // seconds; 0 when the token does not expire
}

// apiTokenFields are every parameter name of POST /api-tokens, in either
// encoding; none may appear in the URL.
var apiTokenFields = [...]string{"name", "scope", "scopes", "expires_in"}

// readAPITokenRequest reads the body of POST /api-tokens (see the package
// documentation): a JSON object {"name": string, "scopes": [string…],
// "expires_in": seconds}, or the same fields form-encoded as name, scope
// (space-separated, RFC 6749 §3.3) and expires_in. Both are bounded by max
// like the token endpoint's body and answer the same errors for the same
// faults (413, wrong Content-Type, malformed or repeated parameters); an
// unknown parameter or member is refused, so that a misspelt expires_in
// never yields a token that does not expire.
func readAPITokenRequest(w http.ResponseWriter, r *http.Request, max int64) (apiTokenRequest, *httpError) {
	// A query that does not parse is refused too: ParseQuery drops the
	// segment it cannot read, which could hide a credential.
	if herr := checkQuery(r.URL.RawQuery, errParamInURL, apiTokenFields[:], credentialParams[:]); herr != nil {
		return apiTokenRequest{}, herr
	}
	mt, ok := mediaType(r)
	if !ok || mt != "application/json" && mt != "application/x-www-form-urlencoded" {
		return apiTokenRequest{}, errContentType
	}
	data, herr := readBody(w, r, max)
	if herr != nil {
		return apiTokenRequest{}, herr
	}
	var req apiTokenRequest
	if mt == "application/json" {
		req, herr = parseAPITokenJSON(data)
	} else {
		req, herr = parseAPITokenForm(data)
	}
	if herr != nil {
		return apiTokenRequest{}, herr
	}
	if !validText(req.name, issuer.MaxNameLen) || req.ttl != 0 && (req.ttl < minAPITokenTTL || req.ttl > maxAPITokenTTL) {
		return apiTokenRequest{}, errAPITokenInput
	}
	return req, nil
}

// parseAPITokenJSON reads the JSON encoding. A member may appear once;
// "expires_in" is an integer.
func parseAPITokenJSON(data []byte) (apiTokenRequest, *httpError) {
	o, err := strictjson.NewObject(data)
	if err != nil {
		if errors.Is(err, strictjson.ErrDuplicateName) {
			return apiTokenRequest{}, errRepeated
		}
		return apiTokenRequest{}, errMalformedBody
	}
	var req apiTokenRequest
	hasTTL := false
	for o.Next() {
		v := o.Value()
		switch string(o.Name()) {
		case "name":
			req.name, err = v.Text()
		case "scopes":
			req.scopes, err = v.Strings(nil)
			if err == nil && !validScopes(req.scopes) {
				return apiTokenRequest{}, errInvalidScope
			}
		case "expires_in":
			req.ttl, err = v.Int()
			hasTTL = true
		default:
			err = strictjson.ErrSyntax // unknown member
		}
		if err != nil {
			return apiTokenRequest{}, errAPITokenInput
		}
	}
	if hasTTL && req.ttl == 0 {
		return apiTokenRequest{}, errAPITokenInput // 0 is not "no expiry": leave the member out for that
	}
	return req, nil
}

// parseAPITokenForm reads the form encoding with the token endpoint's
// rules (parseForm): a parameter may appear once and an empty one counts
// as absent. scope is a space-separated scope list, expires_in decimal
// digits.
func parseAPITokenForm(data []byte) (apiTokenRequest, *httpError) {
	ps, herr := parseForm(data)
	if herr != nil {
		return apiTokenRequest{}, herr
	}
	for name := range ps {
		if name != "name" && name != "scope" && name != "expires_in" {
			return apiTokenRequest{}, errAPITokenInput
		}
	}
	req := apiTokenRequest{name: ps["name"]}
	scopes, ok := parseScope(ps["scope"])
	if !ok {
		return apiTokenRequest{}, errInvalidScope
	}
	req.scopes = scopes
	if s, ok := ps["expires_in"]; ok {
		if len(s) > 12 || strings.Trim(s, "0123456789") != "" {
			return apiTokenRequest{}, errAPITokenInput
		}
		req.ttl, _ = strconv.ParseInt(s, 10, 64) // at most 12 digits: no overflow
		if req.ttl == 0 {
			return apiTokenRequest{}, errAPITokenInput
		}
	}
	return req, nil
}

// handleCreateAPIToken creates an API token for the caller from the body
// readAPITokenRequest reads. Scopes must be a subset of the caller's own: a
// token never grants more than its creator holds.
func (h *Handler) handleCreateAPIToken(w http.ResponseWriter, r *http.Request, p *authkit.Principal) {
	req, herr := readAPITokenRequest(w, r, h.maxBody)
	if herr != nil {
		h.fail(w, r, herr)
		return
	}
	var missing []string
	for _, s := range req.scopes {
		if !p.HasScope(s) {
			missing = append(missing, s)
		}
	}
	if missing != nil {
		h.auth.Deny(w, r, &ScopeError{Scopes: missing})
		return
	}
	// WithCreator: a logout-all (or the end of the caller's session)
	// racing this request must not leave the new token alive.
	opts := []issuer.APITokenOption{issuer.WithTokenScopes(req.scopes...), issuer.WithCreator(p)}
	if req.ttl > 0 {
		opts = append(opts, issuer.WithTokenTTL(time.Duration(req.ttl)*time.Second))
	}
	secret, rec, err := h.iss.CreateAPIToken(r.Context(), p.Subject, req.name, opts...)
	switch {
	case err == nil:
	case errors.Is(err, authkit.ErrTokenRevoked) && !isUnavailable(err):
		h.auth.Deny(w, r, err)
		return
	case isUnavailable(err):
		h.failErr(w, r, "create API token", err)
		return
	case errors.Is(err, authkit.ErrLimitExceeded):
		h.fail(w, r, errLimit)
		return
	case errors.Is(err, authkit.ErrInvalidRequest):
		h.fail(w, r, errAPITokenInput)
		return
	default:
		h.failErr(w, r, "create API token", err)
		return
	}
	h.writeJSON(w, r, http.StatusCreated, createdAPIToken{Token: secret, APIToken: rec})
}

// handleGetAPIToken answers one of the caller's API tokens, as an element
// of the listing (never its secret); another subject's, a revoked or
// expired one and an unknown ID are all 404, alike.
func (h *Handler) handleGetAPIToken(w http.ResponseWriter, r *http.Request, p *authkit.Principal) {
	id, ok := itemID(r)
	if !ok {
		h.fail(w, r, errNoAPIToken)
		return
	}
	ts, err := h.iss.APITokens(r.Context(), p.Subject)
	if err != nil {
		h.failErr(w, r, "API tokens", err)
		return
	}
	for _, t := range ts {
		if t.ID == id {
			h.writeJSON(w, r, http.StatusOK, t)
			return
		}
	}
	h.fail(w, r, errNoAPIToken)
}

func (h *Handler) handleDeleteAPIToken(w http.ResponseWriter, r *http.Request, p *authkit.Principal) {
	id, ok := itemID(r)
	if !ok {
		h.fail(w, r, errNoAPIToken)
		return
	}
	err := h.iss.RevokeAPIToken(r.Context(), p.Subject, id)
	switch {
	case err == nil:
	case isUnavailable(err):
		h.failErr(w, r, "revoke API token", err)
		return
	case errors.Is(err, authkit.ErrNotFound):
		h.fail(w, r, errNoAPIToken)
		return
	default:
		h.failErr(w, r, "revoke API token", err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}
