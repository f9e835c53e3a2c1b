package httpauth

import (
	"errors"
	"log/slog"
	"net/http"
	"slices"
	"time"

	"github.com/authkit-go/authkit"
	"github.com/authkit-go/authkit/issuer"
)

// Token endpoint errors (RFC 6749 §5.2). The invalid_grant descriptions are
// the same whatever the reason, so that they reveal nothing.
var (
	errNoGrantType    = &httpError{http.StatusBadRequest, "invalid_request", "grant_type is required"}
	errGrantType      = &httpError{http.StatusBadRequest, "unsupported_grant_type", "unsupported grant_type"}
	errNeedCreds      = &httpError{http.StatusBadRequest, "invalid_request", "username and password are required"}
	errLongCreds      = &httpError{http.StatusBadRequest, "invalid_request", "username or password too long or malformed"}
	errBadCredentials = &httpError{http.StatusBadRequest, "invalid_grant", "invalid username or password"}
	errNeedRefresh    = &httpError{http.StatusBadRequest, "invalid_request", "refresh_token is required"}
	errBadRefresh     = &httpError{http.StatusBadRequest, "invalid_grant", "the refresh token is invalid, expired, revoked or issued to another client"}
	errInvalidScope   = &httpError{http.StatusBadRequest, "invalid_scope", "the requested scope is invalid or not granted"}
	errTooManyScopes  = &httpError{http.StatusBadRequest, "invalid_scope", "the client is registered for more scopes than one token carries: name the scopes it needs"}
	errAmbiguous      = &httpError{http.StatusBadRequest, "invalid_request", "more than one token cookie"}
)

// maxOpaqueLen bounds a refresh or revocation token before it reaches the
// issuer (real ones are far shorter; JWTs are bounded by the verifier).
const maxOpaqueLen = 16 << 10

func (h *Handler) handleToken(w http.ResponseWriter, r *http.Request) {
	hdr := w.Header()
	hdr.Set("Cache-Control", "no-store")
	hdr.Set("Pragma", "no-cache")
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
	if c := h.auth.cookies; c != nil && cc == nil && setsCookies(ps["grant_type"]) {
		// The response would set cookies: refuse a browser's request from
		// another site before the grant is tried (login CSRF; see Cookies).
		// A registered client's request never reads or sets them: the
		// cookies carry the first-party session only.
		if err := c.checkCrossSite(r); err != nil {
			h.auth.Deny(w, r, err)
			return
		}
	}
	switch ps["grant_type"] {
	case "":
		h.fail(w, r, errNoGrantType)
	case "password":
		if h.password == nil || h.noPasswordGrant {
			h.log.DebugContext(r.Context(), "authkit: grant_type=password refused: the Handler has no WithPasswordGrant or WithPasswordLogin, or has WithoutPasswordGrant")
			h.fail(w, r, errGrantType)
			return
		}
		h.passwordGrant(w, r, ps, cc)
	case "refresh_token":
		h.refreshGrant(w, r, ps, cc)
	case authkit.GrantClientCredentials:
		if h.clients == nil {
			h.log.DebugContext(r.Context(), "authkit: grant_type=client_credentials refused: the Handler has no WithClientStore")
			h.fail(w, r, errGrantType)
			return
		}
		h.clientCredentialsGrant(w, r, ps, cc)
	case authkit.GrantAuthorizationCode:
		if h.authorize == nil {
			h.log.DebugContext(r.Context(), "authkit: grant_type=authorization_code refused: the Handler has no WithAuthorizationCode")
			h.fail(w, r, errGrantType)
			return
		}
		h.authorizationCodeGrant(w, r, ps, cc)
	default:
		h.fail(w, r, errGrantType)
	}
}

func (h *Handler) passwordGrant(w http.ResponseWriter, r *http.Request, ps map[string]string, cc *callerClient) {
	if cc != nil && !cc.client.AllowsGrant(authkit.GrantPassword) {
		h.fail(w, r, errUnauthClient)
		return
	}
	username, password := ps["username"], ps["password"]
	if username == "" || password == "" {
		h.fail(w, r, errNeedCreds)
		return
	}
	if !validText(username, maxUsernameLen) || len(password) > maxPasswordLen {
		h.fail(w, r, errLongCreds)
		return
	}
	requested, ok := parseScope(ps["scope"])
	if !ok {
		h.fail(w, r, errInvalidScope)
		return
	}
	if cc != nil && requested != nil {
		// A client is granted a subset of its registered scopes.
		if _, ok := grantScopes(cc.client, requested); !ok {
			h.fail(w, r, errInvalidScope)
			return
		}
	}
	ctx := r.Context()
	addr, now := h.clientAddr(r), h.now()
	done, decision, err := h.guard.check(ctx, username, addr, now, MethodPassword)
	if err != nil {
		if errors.Is(err, ErrThrottled) {
			h.throttled(w, r, err)
			return
		}
		h.failErr(w, r, "throttle", err)
		return
	}
	// Until done, this pair's next attempt in this process waits: it reads
	// the counters after this one's outcome is recorded (even if the
	// checker panics).
	defer done()
	var login Login
	if h.login != nil {
		login, err = h.login(ctx, username, password)
	} else {
		login.Subject, err = h.password(ctx, username, password)
	}
	subject := login.Subject
	if err != nil {
		if isUnavailable(err) {
			h.failErr(w, r, "password check", err)
			return
		}
		if errors.Is(err, authkit.ErrInvalidConfig) {
			// The checker cannot work (a nil user table): the server's
			// fault, not the user's; never counted against the user.
			h.log.LogAttrs(ctx, slog.LevelError, "httpauth: the password checker is misconfigured", slog.String("err", err.Error()))
			h.fail(w, r, errServer)
			return
		}
		// The failure counts from when it is known, not from the check: a
		// slow password hash must not eat into the wait it starts.
		h.guard.failure(ctx, username, addr, h.now(), MethodPassword, failReason(err))
		h.fail(w, r, errBadCredentials)
		return
	}
	h.guard.success(ctx, username, addr, now, decision)
	if !validText(subject, issuer.MaxSubjectLen) {
		h.log.LogAttrs(ctx, slog.LevelError, "httpauth: the password checker returned no error and an invalid subject")
		h.fail(w, r, errServer)
		return
	}
	var granted []string
	if h.login != nil {
		if !validScopes(login.Scopes) {
			h.log.LogAttrs(ctx, slog.LevelError, "httpauth: the password login hook returned an invalid scope")
			h.fail(w, r, errServer)
			return
		}
		granted, err = h.loginScopes(ctx, subject, requested, login.Scopes)
	} else {
		granted, err = h.scopes(ctx, subject, requested)
	}
	if err != nil {
		if errors.Is(err, authkit.ErrInsufficientScope) && !isUnavailable(err) {
			h.fail(w, r, errInvalidScope)
			return
		}
		h.failErr(w, r, "scope policy", err)
		return
	}
	if !validScopes(granted) {
		h.log.LogAttrs(ctx, slog.LevelError, "httpauth: the scope policy returned an invalid scope")
		h.fail(w, r, errServer)
		return
	}
	if cc != nil {
		granted = slices.DeleteFunc(slices.Clone(granted), func(s string) bool { return !slices.Contains(cc.client.Scopes, s) })
	}
	if noneGranted(requested, granted) {
		h.fail(w, r, errInvalidScope)
		return
	}
	opts := []issuer.IssueOption{issuer.WithScopes(granted...), issuer.WithUserAgent(r.UserAgent())}
	opts = append(opts, loginOptions(&login)...)
	if cc != nil {
		opts = append(opts, issuer.WithClientID(cc.client.ID))
		opts = append(opts, clientLifetimes(cc.client, &login)...)
	}
	if addr.IsValid() {
		opts = append(opts, issuer.WithClientIP(addr.String()))
	}
	pair, err := h.iss.IssuePair(ctx, subject, opts...)
	if err != nil {
		if h.login != nil && errors.Is(err, authkit.ErrInvalidRequest) {
			h.failErr(w, r, "issue (the password login hook's claims or lifetimes)", err)
			return
		}
		h.failErr(w, r, "issue", err)
		return
	}
	if cc != nil && !cc.client.AllowsGrant(authkit.GrantRefreshToken) {
		// As for the authorization code: a client not registered for
		// refresh_token gets no refresh token (it could not use one).
		pair.RefreshToken, pair.RefreshExpiresAt = "", time.Time{}
	}
	h.tokenResponse(w, r, pair, false, cc == nil)
}

// throttled answers a throttled password grant: 429, Retry-After and the
// RFC 6749 §5.2 body with error "slow_down".
func (h *Handler) throttled(w http.ResponseWriter, r *http.Request, err error) {
	w.Header().Set("Retry-After", retryOf(err))
	h.fail(w, r, &httpError{http.StatusTooManyRequests, "slow_down", descThrottled})
}

func (h *Handler) refreshGrant(w http.ResponseWriter, r *http.Request, ps map[string]string, cc *callerClient) {
	if cc != nil && !cc.client.AllowsGrant(authkit.GrantRefreshToken) {
		h.fail(w, r, errUnauthClient)
		return
	}
	rt, fromCookie := ps["refresh_token"], false
	if rt == "" && h.auth.cookies != nil && cc == nil {
		v, err := cookieValue(r, h.auth.cookies.RefreshName)
		if err != nil {
			h.fail(w, r, errAmbiguous)
			return
		}
		if v != "" {
			if err := h.auth.checkCSRF(r); err != nil {
				h.auth.Deny(w, r, err)
				return
			}
			rt, fromCookie = v, true
		}
	}
	if rt == "" {
		h.fail(w, r, errNeedRefresh)
		return
	}
	if len(rt) > maxOpaqueLen {
		h.fail(w, r, errBadRefresh)
		return
	}
	opts := h.refreshOptions(cc)
	if s, ok := ps["scope"]; ok {
		scopes, ok := parseScope(s)
		if !ok {
			h.fail(w, r, errInvalidScope)
			return
		}
		opts = append(opts, issuer.WithRequestedScopes(scopes...))
	}
	pair, err := h.iss.Refresh(r.Context(), rt, opts...)
	if err != nil {
		switch {
		case isUnavailable(err):
			h.failErr(w, r, "refresh", err)
		case errors.Is(err, authkit.ErrInsufficientScope):
			h.fail(w, r, errInvalidScope)
		case errors.Is(err, authkit.ErrInvalidToken), errors.Is(err, authkit.ErrTokenExpired),
			errors.Is(err, authkit.ErrTokenRevoked), errors.Is(err, authkit.ErrTokenReused):
			if fromCookie {
				h.auth.cookies.clear(w, h.refreshCookiePath(r))
			}
			h.fail(w, r, errBadRefresh)
		default:
			h.failErr(w, r, "refresh", err)
		}
		return
	}
	h.tokenResponse(w, r, pair, fromCookie, cc == nil)
}

// cookieTokenResponse is the token response without the tokens, for
// clients that receive them in cookies.
type cookieTokenResponse struct {
	TokenType string `json:"token_type"`
	ExpiresIn int64  `json:"expires_in"`
	Scope     string `json:"scope,omitempty"`
	// CSRFToken is the value of the CSRF cookie just set, which a front
	// end on another site (Cookies.TrustedOrigins) cannot read from the
	// cookie, yet must echo in the CSRF header.
	CSRFToken string `json:"csrf_token"`
}

// cookiePairResponse is the token response with the tokens and the CSRF
// value of the cookies set with them.
type cookiePairResponse struct {
	authkit.TokenPair
	CSRFToken string `json:"csrf_token"`
}

// setsCookies reports whether a successful grant of type grant is answered
// by tokenResponse, which sets the cookies when the cookie transport is
// on: the password and refresh_token grants. The authorization_code and
// client_credentials grants answer a separate application and set none.
func setsCookies(grant string) bool {
	return grant == authkit.GrantPassword || grant == authkit.GrantRefreshToken
}

// tokenResponse answers RFC 6749 §5.1, setting the cookies when the cookie
// transport is on (for the grants of setsCookies) and the pair is the
// first-party session's (firstParty: no registered client asked). A
// registered client's tokens go in the body only: in the cookies they
// would replace the user's first-party session and be taken by the server
// as an ambient credential (found by review).
func (h *Handler) tokenResponse(w http.ResponseWriter, r *http.Request, pair authkit.TokenPair, fromCookie, firstParty bool) {
	if c := h.auth.cookies; c != nil && firstParty {
		accessAge, refreshAge := cookieAges(pair, h.iss.AccessTTL(), h.iss.RefreshTTL())
		// A refresh from the cookie keeps the session's CSRF value (its
		// request proved it: checkCSRF): a front end on another site
		// learns the value only from a token response, and when one tab's
		// refresh changed it, every other tab was refused from then on,
		// its logout included (found by review). A login gets a new one.
		keep := ""
		if fromCookie {
			if v, err := cookieValue(r, c.CSRFName); err == nil && len(v) <= maxCSRFLen {
				keep = v
			}
		}
		csrf := c.setTokens(w, pair.AccessToken, pair.RefreshToken, h.refreshCookiePath(r), accessAge, refreshAge, keep)
		if fromCookie || c.OmitBodyTokens {
			h.writeJSON(w, r, http.StatusOK, cookieTokenResponse{TokenType: pair.TokenType, ExpiresIn: pair.ExpiresIn, Scope: pair.Scope, CSRFToken: csrf})
			return
		}
		h.writeJSON(w, r, http.StatusOK, cookiePairResponse{TokenPair: pair, CSRFToken: csrf})
		return
	}
	h.writeJSON(w, r, http.StatusOK, pair)
}

// cookieAges returns the Max-Age of the access and refresh cookies of
// pair: the issuer's TTLs, or less when the tokens expire sooner (a
// per-login or per-client lifetime, a session near its end), so that no
// cookie outlives its token.
func cookieAges(pair authkit.TokenPair, accessTTL, refreshTTL time.Duration) (access, refresh int) {
	access, refresh = int(accessTTL/time.Second), int(refreshTTL/time.Second)
	if pair.ExpiresIn > 0 && pair.ExpiresIn < int64(access) {
		access = int(pair.ExpiresIn)
	}
	if !pair.RefreshExpiresAt.IsZero() && !pair.AccessExpiresAt.IsZero() {
		issued := pair.AccessExpiresAt.Add(-time.Duration(pair.ExpiresIn) * time.Second)
		if d := int(pair.RefreshExpiresAt.Sub(issued) / time.Second); d > 0 && d < refresh {
			refresh = d
		}
	}
	return access, refresh
}
