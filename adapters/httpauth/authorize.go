package httpauth

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/netip"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/authkit-go/authkit"
	"github.com/authkit-go/authkit/internal/httpsyntax"
	"github.com/authkit-go/authkit/internal/textsafe"
	"github.com/authkit-go/authkit/issuer"
)

// The authorization-code grant (RFC 6749 §4.1) with PKCE (RFC 7636), as
// RFC 9700 §2.1.1 requires it: the authorization endpoint validates the
// request and hands it to the application's login-and-consent handler,
// which completes it with AuthorizationRequest.Approve or Deny; the token
// endpoint exchanges the code once.

// AuthorizationCodeTTL is how long an authorization code can be exchanged
// after it is issued (RFC 6749 §4.1.2 recommends at most 10 minutes; a
// client exchanges it at once).
const AuthorizationCodeTTL = time.Minute

// MethodAuthorizationCode is the Event.Method of the events of the
// authorization-code grant (the issued tokens, a refused second use of a
// code).
const MethodAuthorizationCode = authkit.GrantAuthorizationCode

// Bounds of an authorization request, checked before any store call.
const (
	// maxAuthorizeQuery bounds the query string of an authorization
	// request.
	maxAuthorizeQuery = 8 << 10
	// maxStateLen bounds the state parameter.
	maxStateLen = 1024
	// PKCE code verifiers and challenges are 43 to 128 characters (RFC
	// 7636 §4.1, §4.2).
	minPKCELen = 43
	maxPKCELen = 128
)

// Errors of the authorization endpoint answered to the user agent (RFC
// 6749 §4.1.2.1: the client or the redirect URI cannot be trusted, so
// nothing is redirected) and of the token endpoint's code exchange.
var (
	errAuthzQuery    = &httpError{http.StatusBadRequest, "invalid_request", "malformed, repeated or oversized authorization request parameters"}
	errAuthzClient   = &httpError{http.StatusBadRequest, "invalid_request", "client_id is missing, malformed or not a registered client"}
	errAuthzRedirect = &httpError{http.StatusBadRequest, "invalid_request", "redirect_uri is missing or is not one registered for the client"}
	errNeedCode      = &httpError{http.StatusBadRequest, "invalid_request", "code, redirect_uri and code_verifier are required"}
	errBadVerifier   = &httpError{http.StatusBadRequest, "invalid_request", "code_verifier must be 43 to 128 characters of [A-Za-z0-9-._~]"}
	errBadCode       = &httpError{http.StatusBadRequest, "invalid_grant", "the authorization code is invalid, expired or used, or was issued to another client, redirect URI or code challenge"}
)

// WithAuthorizationCode enables the authorization-code grant (RFC 6749
// §4.1) with PKCE S256 required of every client (RFC 7636; RFC 9700
// §2.1.1): the authorization endpoint (Paths.Authorize, GET and POST) and
// grant_type=authorization_code at the token endpoint. It needs
// WithClientStore; the clients allowed authkit.GrantAuthorizationCode use
// it, public or confidential.
//
// authkit renders no page. The authorization endpoint validates the
// request — a registered client_id, a redirect_uri byte for byte equal to
// one the client registered, response_type=code, a state, a
// code_challenge with code_challenge_method=S256, scopes among the
// client's — and then calls login with the request's context carrying the
// validated [AuthorizationRequest] (AuthorizationRequestFrom). login
// shows its login and consent page, and completes the request by calling
// Approve (with the user who logged in, and what the tokens carry) or
// Deny, which redirect the user agent back to the client. The page's form
// posts back to the same URL (AuthorizationRequest.FormAction): the
// authorization parameters are read from the query string on GET and POST
// alike and validated again, and the form's own fields are the
// application's. A
// request with an untrustworthy client_id or redirect_uri is answered
// 400 and never redirected; any other invalid request is redirected to
// the client with an RFC 6749 §4.1.2.1 error. Every answer of the endpoint
// carries Cache-Control: no-store, Referrer-Policy: no-referrer and a
// frame-ancestors 'none' Content-Security-Policy with X-Frame-Options DENY
// (against clickjacking of the consent page), set before login runs, and
// the request body login reads is bounded by WithMaxBodyBytes.
//
// The login page is the application's to protect: against cross-site
// request forgery of its form (a CSRF token), and against password
// guessing (see the example in the package documentation). The code is
// valid for AuthorizationCodeTTL, once; it is bound to the client, the
// redirect URI and the code challenge, and stored only as a hash. A code
// presented a second time is refused and the session its first exchange
// started is revoked, with its access tokens (RFC 6749 §4.1.2), reported as
// authkit.EventReuseDetected with MethodAuthorizationCode. The redirect
// carries iss (RFC 9207), the issuer's identifier (authkit.WithIssuer).
func WithAuthorizationCode(login http.Handler) HandlerOption {
	return func(c *handlerConfig) error {
		if login == nil {
			return invalid("WithAuthorizationCode(nil)")
		}
		c.authorize = login
		return nil
	}
}

// AuthorizationRequest is an authorization request the authorization
// endpoint validated, handed to the application's login-and-consent
// handler (WithAuthorizationCode) in the request's context. Its exported
// fields are for the consent page; the handler completes the request with
// exactly one call of Approve or Deny.
type AuthorizationRequest struct {
	// Client is the registered client asking for authorization (without
	// its secret hash): show Client.Name on the consent page.
	Client authkit.Client
	// RedirectURI is where the user agent returns, one of the client's
	// registered redirect URIs.
	RedirectURI string
	// State is the client's state parameter, returned to it unchanged.
	State string
	// Scopes are the scopes the client asked for, every one of them among
	// the client's registered scopes; nil when it asked for none. Approve
	// then grants every scope of Client.Scopes the user may grant: a
	// consent page shows Client.Scopes in that case, not an empty list.
	Scopes []string

	h         *Handler
	challenge string
	action    string
	mu        sync.Mutex
	answered  bool
}

// FormAction is the URL the login page's form posts back to: the path and
// query of the authorization request as the user agent sent it
// (r.RequestURI), which keeps a prefix the application's router strips
// (http.StripPrefix, a framework's route group), unlike r.URL.
func (a *AuthorizationRequest) FormAction() string { return a.action }

// formAction is the path and query of the request-target r arrived with.
// A path starting with "//" (which a router that does not clean paths may
// pass on) loses its extra slashes: as a form's action it would be a
// network-path reference, posting the user's password to the host it names.
func formAction(r *http.Request) string {
	action := r.URL.RequestURI()
	if r.RequestURI != "" {
		if u, err := url.ParseRequestURI(r.RequestURI); err == nil && u.Path != "" {
			u.Scheme, u.Host, u.User = "", "", nil
			action = u.RequestURI()
		}
	}
	if strings.HasPrefix(action, "//") {
		action = "/" + strings.TrimLeft(action, "/")
	}
	return action
}

type authzKey struct{}

// AuthorizationRequestFrom returns the validated authorization request of
// a request the authorization endpoint passed to the application's
// login-and-consent handler, and false for any other request.
func AuthorizationRequestFrom(ctx context.Context) (*AuthorizationRequest, bool) {
	a, ok := ctx.Value(authzKey{}).(*AuthorizationRequest)
	return a, ok && a != nil
}

// ErrAuthorizationAnswered is returned by Approve and Deny when the
// authorization request was already answered: the second call writes
// nothing.
var ErrAuthorizationAnswered = errors.New("httpauth: the authorization request was already answered")

// Approve completes the authorization for the user who logged in: it
// stores a fresh authorization code for login.Subject and redirects the
// user agent to the client's redirect URI with the code, the state and
// iss (303 See Other after a POST, 302 Found after a GET). login says what
// the tokens carry, as for WithPasswordLogin: Claims, the Scopes the user
// may hold (the code grants those the client asked for among them — all
// of them when it asked for none — bounded by the scope policy and the
// client's registered scopes), and per-login SessionTTL and AccessTTL
// within the issuer's.
//
// Approve always answers the request. It returns nil when it redirected
// with a code, and otherwise the reason it answered with an error (for the
// application's log; the answer is already written): a Login the issuer
// would refuse (500, logged; nothing is stored), a scope the policy
// refuses (redirect with invalid_scope), a store that cannot answer
// (redirect with temporarily_unavailable), a client deleted meanwhile
// (400), or ErrAuthorizationAnswered.
func (a *AuthorizationRequest) Approve(w http.ResponseWriter, r *http.Request, login Login) error {
	if !a.answer() {
		return ErrAuthorizationAnswered
	}
	return a.h.approve(w, r, a, &login)
}

// Deny answers the authorization request with the user's refusal: a
// redirect to the client with error=access_denied (RFC 6749 §4.1.2.1).
// It returns ErrAuthorizationAnswered, writing nothing, when the request
// was already answered.
func (a *AuthorizationRequest) Deny(w http.ResponseWriter, r *http.Request) error {
	if !a.answer() {
		return ErrAuthorizationAnswered
	}
	a.h.redirectError(w, r, a.RedirectURI, a.State, "access_denied", "the user denied the request")
	return nil
}

func (a *AuthorizationRequest) answer() bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.answered || a.h == nil {
		return false
	}
	a.answered = true
	return true
}

// MethodAuthorizeLogin is the Event.Method of the password checks a
// login-and-consent page makes with AuthorizationRequest.CheckPassword
// (EventLoginFailed, EventThrottled).
const MethodAuthorizeLogin = "authorize_login"

// ErrLoginFailed is matched by the error of CheckPassword for a wrong
// password or an unknown user (which it does not tell apart).
var ErrLoginFailed = errors.New("httpauth: wrong username or password")

// CheckPassword checks a username and password that the login page
// received, with the Handler's password login (WithPasswordLogin, or
// WithPasswordGrant's checker) and its throttle: the same counters, keys
// and policy as the password grant, so that guesses spread over the page
// and the token endpoint share one budget. It returns the Login to pass to
// Approve (with WithPasswordGrant, only its Subject is set), or an error:
// matching ErrThrottled (a *ThrottledError saying when to retry: answer
// 429 without checking anything), ErrLoginFailed (a wrong password or an
// unknown user: show the page again, saying only that the pair was
// wrong), authkit.ErrStoreUnavailable (the checker or the throttle store
// could not answer: 503), or authkit.ErrInvalidConfig (the Handler has no
// password login, or its checker reports itself misconfigured: 500, logged,
// not counted). Failures are reported as authkit.EventLoginFailed with
// Method MethodAuthorizeLogin. A username longer than the password
// grant's bound, or a password over its bound, fails as a wrong pair.
func (a *AuthorizationRequest) CheckPassword(r *http.Request, username, password string) (Login, error) {
	h := a.h
	if h == nil || h.password == nil {
		return Login{}, fmt.Errorf("httpauth: %w: CheckPassword needs WithPasswordLogin or WithPasswordGrant", authkit.ErrInvalidConfig)
	}
	if username == "" || password == "" || !validText(username, maxUsernameLen) || len(password) > maxPasswordLen {
		return Login{}, ErrLoginFailed
	}
	ctx := r.Context()
	addr, now := h.clientAddr(r), h.now()
	done, decision, err := h.guard.check(ctx, username, addr, now, MethodAuthorizeLogin)
	if err != nil {
		if errors.Is(err, ErrThrottled) {
			return Login{}, err
		}
		return Login{}, fmt.Errorf("httpauth: %w: throttle: %w", authkit.ErrStoreUnavailable, err)
	}
	defer done()
	var login Login
	if h.login != nil {
		login, err = h.login(ctx, username, password)
	} else {
		login.Subject, err = h.password(ctx, username, password)
	}
	if err != nil {
		if isUnavailable(err) {
			return Login{}, fmt.Errorf("httpauth: %w: password check: %w", authkit.ErrStoreUnavailable, err)
		}
		if errors.Is(err, authkit.ErrInvalidConfig) {
			h.log.LogAttrs(ctx, slog.LevelError, "httpauth: the password checker is misconfigured", slog.String("err", err.Error()))
			return Login{}, fmt.Errorf("httpauth: password check: %w", err)
		}
		h.guard.failure(ctx, username, addr, h.now(), MethodAuthorizeLogin, failReason(err))
		return Login{}, ErrLoginFailed
	}
	h.guard.success(ctx, username, addr, now, decision)
	return login, nil
}

// authorizeHeaders are set on every answer of the authorization endpoint.
func authorizeHeaders(w http.ResponseWriter) {
	hdr := w.Header()
	hdr.Set("Cache-Control", "no-store")
	hdr.Set("Pragma", "no-cache")
	hdr.Set("Referrer-Policy", "no-referrer")
	hdr.Set("X-Frame-Options", "DENY")
	hdr.Set("Content-Security-Policy", "frame-ancestors 'none'")
}

// handleAuthorize is the authorization endpoint (RFC 6749 §3.1, §4.1.1).
func (h *Handler) handleAuthorize(w http.ResponseWriter, r *http.Request) {
	authorizeHeaders(w)
	if len(r.URL.RawQuery) > maxAuthorizeQuery {
		h.fail(w, r, errAuthzQuery)
		return
	}
	q, err := url.ParseQuery(r.URL.RawQuery)
	if err != nil || len(q) > maxParams {
		h.fail(w, r, errAuthzQuery)
		return
	}
	ps := make(map[string]string, len(q))
	for k, v := range q {
		// RFC 6749 §3.1: a parameter MUST NOT be included more than once.
		if len(v) != 1 {
			h.fail(w, r, errAuthzQuery)
			return
		}
		if v[0] != "" {
			ps[k] = v[0]
		}
	}
	id := ps["client_id"]
	if !authkit.ValidClientID(id) {
		h.fail(w, r, errAuthzClient)
		return
	}
	ctx := r.Context()
	c, err := h.getClient(ctx, id)
	switch {
	case err == nil:
	case errors.Is(err, authkit.ErrNotFound) && !isUnavailable(err):
		h.fail(w, r, errAuthzClient)
		return
	default:
		h.failErr(w, r, "client lookup", err)
		return
	}
	redirect := ps["redirect_uri"]
	if redirect == "" || !redirectRegistered(c.RedirectURIs, redirect) {
		h.fail(w, r, errAuthzRedirect)
		return
	}
	// From here on the redirect URI is trusted: errors go to the client.
	state := ps["state"]
	fail := func(code, desc string) {
		h.redirectError(w, r, redirect, state, code, desc)
	}
	if !validState(state) {
		state = ""
		fail("invalid_request", "state is required: 1 to 1024 characters of printable ASCII")
		return
	}
	switch ps["response_type"] {
	case "code":
	case "":
		fail("invalid_request", "response_type is required")
		return
	default:
		fail("unsupported_response_type", "only response_type=code is supported")
		return
	}
	if !c.AllowsGrant(authkit.GrantAuthorizationCode) {
		fail("unauthorized_client", "the client is not authorized to use the authorization code grant")
		return
	}
	challenge := ps["code_challenge"]
	if ps["code_challenge_method"] != "S256" || !validS256Challenge(challenge) {
		fail("invalid_request", "PKCE is required: code_challenge (the 43-character base64url SHA-256 of the code verifier) with code_challenge_method=S256")
		return
	}
	requested, ok := parseScope(ps["scope"])
	if ok && requested != nil {
		_, ok = grantScopes(c, requested)
	}
	if !ok {
		fail("invalid_scope", "the requested scope is invalid or not allowed for the client")
		return
	}
	c.SecretHash = authkit.TokenHash{}
	a := &AuthorizationRequest{
		Client:      c,
		RedirectURI: redirect,
		State:       state,
		Scopes:      requested,
		h:           h,
		challenge:   challenge,
		action:      formAction(r),
	}
	r2 := r.WithContext(context.WithValue(ctx, authzKey{}, a))
	if r2.Body != nil && r2.Body != http.NoBody {
		// The login form is bounded like the endpoints' bodies.
		r2.Body = http.MaxBytesReader(w, r2.Body, h.maxBody)
	}
	h.authorize.ServeHTTP(w, r2)
}

// approve stores a code for a's approval and redirects with it.
func (h *Handler) approve(w http.ResponseWriter, r *http.Request, a *AuthorizationRequest, login *Login) error {
	ctx := r.Context()
	fail := func(code, desc string, err error) error {
		h.redirectError(w, r, a.RedirectURI, a.State, code, desc)
		return err
	}
	bad := func(what string, err error) error {
		h.log.LogAttrs(ctx, slog.LevelError, "httpauth: the authorization login was refused", slog.String("why", what), slog.Any("error", err))
		h.fail(w, r, errServer)
		return err
	}
	if !validText(login.Subject, issuer.MaxSubjectLen) {
		return bad("invalid subject", fmt.Errorf("httpauth: %w: the Login's subject is empty, too long or not UTF-8", authkit.ErrInvalidRequest))
	}
	if !validScopes(login.Scopes) {
		return bad("invalid scope", fmt.Errorf("httpauth: %w: the Login holds an invalid scope", authkit.ErrInvalidRequest))
	}
	granted, err := h.loginScopes(ctx, login.Subject, a.Scopes, login.Scopes)
	if err != nil {
		switch {
		case isUnavailable(err):
			return fail("temporarily_unavailable", descUnavailable, err)
		case errors.Is(err, authkit.ErrInsufficientScope):
			return fail("invalid_scope", "the requested scope is not granted", err)
		}
		return bad("scope policy", err)
	}
	if !validScopes(granted) {
		return bad("invalid scope", fmt.Errorf("httpauth: %w: the scope policy returned an invalid scope", authkit.ErrInvalidRequest))
	}
	granted = intersect(granted, a.Client.Scopes)
	if noneGranted(a.Scopes, granted) {
		return fail("invalid_scope", "the requested scope is not granted", fmt.Errorf("httpauth: %w: none of the requested scopes is granted", authkit.ErrInsufficientScope))
	}
	// Refuse what the issuer would refuse now, not at the exchange.
	opts := loginOptions(login)
	if err := h.iss.CheckIssueOptions(login.Subject, opts...); err != nil {
		return bad("claims or lifetimes", err)
	}
	var claims []byte
	if len(login.Claims) > 0 {
		if claims, err = json.Marshal(login.Claims); err != nil {
			return bad("claims", err)
		}
	}
	code, hash, err := h.iss.NewAuthorizationCode()
	if err != nil {
		return bad("code", err)
	}
	now := h.now()
	rec := authkit.AuthorizationCode{
		Hash:        hash,
		ClientID:    a.Client.ID,
		RedirectURI: a.RedirectURI,
		Subject:     login.Subject,
		Scopes:      granted,
		Challenge:   a.challenge,
		Claims:      claims,
		SessionTTL:  login.SessionTTL,
		AccessTTL:   login.AccessTTL,
		// The browser's, for the session: the exchange comes from the
		// client (a confidential one's server; found by review: every
		// session of a web app recorded its backend's address).
		UserAgent: textsafe.Clip(textsafe.Clean(r.UserAgent()), authkit.MaxCodeUserAgentLen),
		CreatedAt: now,
		ExpiresAt: now.Add(AuthorizationCodeTTL),
	}
	if addr := h.clientAddr(r); addr.IsValid() {
		rec.IP = addr.String()
	}
	if err := h.clients.CreateAuthorizationCode(ctx, rec); err != nil {
		switch {
		case isUnavailable(err):
			h.warnUnavailable(ctx, "authorization code", err)
			return fail("temporarily_unavailable", descUnavailable, err)
		case errors.Is(err, authkit.ErrNotFound):
			// The client was deleted since the request was validated.
			h.fail(w, r, errAuthzClient)
			return err
		}
		h.log.LogAttrs(ctx, slog.LevelError, "httpauth: storing an authorization code failed", slog.Any("error", err))
		return fail("server_error", "internal error", err)
	}
	h.redirect(w, r, a.RedirectURI, url.Values{"code": {code}, "state": {a.State}})
	return nil
}

// redirectError redirects to the client with an RFC 6749 §4.1.2.1 error.
func (h *Handler) redirectError(w http.ResponseWriter, r *http.Request, redirect, state, code, desc string) {
	v := url.Values{"error": {code}, "error_description": {desc}}
	if state != "" {
		v.Set("state", state)
	}
	h.redirect(w, r, redirect, v)
}

// redirect sends the user agent to redirect with params and iss (RFC 9207)
// added to its query. The registered query is kept byte for byte (RFC 6749
// §3.1.2: it "MUST be retained when adding additional query parameters")
// and the parameters follow it: parsing and re-encoding it dropped a pair
// holding ';', turned "?flag" into "flag=" and reordered the rest (found
// by review).
func (h *Handler) redirect(w http.ResponseWriter, r *http.Request, redirect string, params url.Values) {
	u, err := url.Parse(redirect)
	if err != nil {
		// Registered URIs are checked when registered; one that does not
		// parse is never followed.
		h.log.LogAttrs(r.Context(), slog.LevelError, "httpauth: a registered redirect URI does not parse", slog.Any("error", err))
		h.fail(w, r, errAuthzRedirect)
		return
	}
	if iss := h.iss.ID(); iss != "" {
		params.Set("iss", iss)
	}
	added := params.Encode()
	if u.RawQuery != "" {
		added = u.RawQuery + "&" + added
	}
	u.RawQuery, u.ForceQuery, u.Fragment, u.RawFragment = added, false, "", ""
	status := http.StatusFound
	if r.Method == http.MethodPost {
		status = http.StatusSeeOther
	}
	authorizeHeaders(w)
	w.Header().Set("Location", u.String())
	w.WriteHeader(status)
}

// authorizationCodeGrant is RFC 6749 §4.1.3 with RFC 7636 §4.6: exchange a
// code once, for the client it was issued to, with the redirect URI and
// the PKCE verifier of its request.
func (h *Handler) authorizationCodeGrant(w http.ResponseWriter, r *http.Request, ps map[string]string, cc *callerClient) {
	if cc == nil {
		// A public client identifies itself with client_id (§4.1.3); a
		// confidential one authenticates.
		h.failClient(w, r, errClientAuth)
		return
	}
	c := cc.client
	if !c.AllowsGrant(authkit.GrantAuthorizationCode) {
		h.fail(w, r, errUnauthClient)
		return
	}
	code, redirect, verifier := ps["code"], ps["redirect_uri"], ps["code_verifier"]
	if code == "" || redirect == "" || verifier == "" {
		h.fail(w, r, errNeedCode)
		return
	}
	if !validPKCE(verifier) {
		h.fail(w, r, errBadVerifier)
		return
	}
	ctx := r.Context()
	hash, ok := h.iss.AuthorizationCodeHash(code)
	if !ok {
		h.codeRefused(ctx, nil, errCodeUnknown)
		h.fail(w, r, errBadCode)
		return
	}
	rec, err := h.clients.RedeemAuthorizationCode(ctx, hash, h.now())
	switch {
	case err == nil:
	case isUnavailable(err):
		h.failErr(w, r, "authorization code", err)
		return
	case errors.Is(err, authkit.ErrTokenReused):
		// Only a replay that holds what the code's own client holds (its
		// identity, the redirect URI and the PKCE verifier) may end the
		// session the code started: that is the race of a stolen code
		// RFC 6749 §4.1.2 asks to defend against. Anyone else who saw the
		// code could otherwise name any public client and log its user
		// out (found by review).
		if codeMatches(rec, c.ID, redirect, verifier) {
			if rec.SessionID == "" {
				// One wait per code at a time: the others are refused at
				// once and leave the revocation to it, so that replays of
				// a code whose session never comes (a mismatch burned it)
				// cannot hold any number of requests for the whole wait
				// (found by review).
				if _, busy := h.codeWaits.LoadOrStore(hash, struct{}{}); busy {
					h.fail(w, r, errBadCode)
					return
				}
				// The one wait, and the revocation after it, outlive this
				// request: the replays refused meanwhile leave both to it,
				// so a client that hangs up must not call them off (found
				// by review). The wait is bounded on its own.
				ctx = context.WithoutCancel(ctx)
				rec = h.awaitCodeSession(ctx, hash, rec)
				h.codeWaits.Delete(hash)
			}
			h.codeReused(ctx, rec)
		} else {
			h.codeRefused(ctx, &rec, errCodeReplayed)
		}
		h.fail(w, r, errBadCode)
		return
	case errors.Is(err, authkit.ErrNotFound):
		h.codeRefused(ctx, nil, errCodeUnknown)
		h.fail(w, r, errBadCode)
		return
	default:
		h.failErr(w, r, "authorization code", err)
		return
	}
	// The code is spent whatever follows: a mismatch burns it.
	if !codeMatches(rec, c.ID, redirect, verifier) {
		h.codeRefused(ctx, &rec, errCodeMismatch)
		h.fail(w, r, errBadCode)
		return
	}
	login := Login{SessionTTL: rec.SessionTTL, AccessTTL: rec.AccessTTL}
	if len(rec.Claims) > 0 {
		dec := json.NewDecoder(bytes.NewReader(rec.Claims))
		dec.UseNumber()
		if err := dec.Decode(&login.Claims); err != nil {
			h.failErr(w, r, "authorization code claims", err)
			return
		}
	}
	opts := []issuer.IssueOption{
		issuer.WithScopes(rec.Scopes...),
		issuer.WithClientID(c.ID),
		issuer.WithEventMethod(MethodAuthorizationCode),
	}
	opts = append(opts, loginOptions(&login)...)
	opts = append(opts, clientLifetimes(c, &login)...)
	// The session records the browser that authorized, as the code kept
	// it; the token request's own for a code stored without them (both
	// empty: a browser that sent no User-Agent keeps none, found by
	// review).
	ua, addr := rec.UserAgent, h.clientAddr(r)
	if rec.UserAgent == "" && rec.IP == "" {
		ua = r.UserAgent()
	}
	opts = append(opts, issuer.WithUserAgent(ua))
	if a, err := netip.ParseAddr(rec.IP); err == nil {
		addr = a
	}
	if addr.IsValid() {
		opts = append(opts, issuer.WithClientIP(addr.String()))
	}
	// The code's record names the session before IssuePair returns
	// tokens or ends any session (WithSessionLimit): without the record a
	// second use could not revoke the session, so IssuePair then ends it
	// and fails, and the user's other sessions are untouched.
	op := "issue"
	opts = append(opts, issuer.WithSessionCreated(func(ctx context.Context, id string) error {
		err := h.clients.SetAuthorizationCodeSession(ctx, hash, id)
		if err != nil {
			op = "authorization code"
		}
		return err
	}))
	pair, err := h.iss.IssuePair(ctx, rec.Subject, opts...)
	if err != nil {
		h.failErr(w, r, op, err)
		return
	}
	if !c.AllowsGrant(authkit.GrantRefreshToken) {
		// The session stays (a second use of the code revokes it), but a
		// client not allowed to refresh gets no refresh token.
		pair.RefreshToken = ""
	}
	h.writeJSON(w, r, http.StatusOK, pair)
}

// codeMatches reports whether a redemption by client clientID, with
// redirect and the PKCE verifier, is the one the code rec was issued for:
// the same client and redirect URI, and a verifier whose S256 is the
// code's challenge (compared in constant time).
func codeMatches(rec authkit.AuthorizationCode, clientID, redirect, verifier string) bool {
	sum := sha256.Sum256([]byte(verifier))
	want := base64.RawURLEncoding.EncodeToString(sum[:])
	return subtle.ConstantTimeCompare([]byte(want), []byte(rec.Challenge)) == 1 &&
		rec.ClientID == clientID && rec.RedirectURI == redirect
}

// codeSessionWait is how long after a code's first redemption a second
// use of it waits for the first to record the session it started, so as
// to revoke it: longer than the first can take to get there, two store
// calls under the store deadline (the session's creation and its record
// on the code) and the signing, or 2 s if that is longer. A fixed 2 s let a
// first exchange on a store slower than that, well within the default 5 s
// deadline, record its session after the second had given up, and keep
// its tokens (found by review).
func (h *Handler) codeSessionWait() time.Duration {
	return max(2*time.Second, 2*h.iss.StoreTimeout()+time.Second)
}

// awaitCodeSession is the second use of a code whose first redemption has
// not recorded its session yet (the two raced: the first is still issuing
// its tokens). It reads the code again, for at most codeSessionWait after
// the first redemption and while ctx lasts, until the session is there,
// and returns the record it last read. A first redemption that issued
// nothing (a mismatch burns the code) records no session: the wait then
// runs out, and for a code redeemed longer ago there is none.
func (h *Handler) awaitCodeSession(ctx context.Context, hash authkit.TokenHash, rec authkit.AuthorizationCode) authkit.AuthorizationCode {
	wait := h.codeSessionWait()
	left := rec.UsedAt.Add(wait).Sub(h.now())
	if left <= 0 {
		return rec
	}
	ctx, cancel := context.WithTimeout(ctx, min(left, wait))
	defer cancel()
	for pause := 10 * time.Millisecond; ; pause = min(2*pause, 200*time.Millisecond) {
		t := time.NewTimer(pause)
		select {
		case <-ctx.Done():
			t.Stop()
			return rec
		case <-t.C:
		}
		again, err := h.clients.RedeemAuthorizationCode(ctx, hash, h.now())
		if !errors.Is(err, authkit.ErrTokenReused) {
			return rec // gone since (expired, its client deleted) or unreadable
		}
		if again.SessionID != "" {
			return again
		}
	}
}

// Why a redemption of an authorization code was refused, for the audit
// trail (EventAuthFailed).
var (
	errCodeUnknown  = fmt.Errorf("httpauth: %w: an unknown or expired authorization code", authkit.ErrInvalidToken)
	errCodeReplayed = fmt.Errorf("httpauth: %w: an authorization code used already, presented without its client's identity, redirect URI and PKCE verifier", authkit.ErrTokenReused)
	errCodeMismatch = fmt.Errorf("httpauth: %w: an authorization code presented with another client, redirect URI or PKCE verifier (it is spent)", authkit.ErrInvalidToken)
)

// codeRefused reports a refused redemption of an authorization code
// (EventAuthFailed, method authorization_code): with the subject and
// session of a code the store holds, none for one it does not (found by
// review: a replay of a stolen code without its verifier left no trace).
func (h *Handler) codeRefused(ctx context.Context, rec *authkit.AuthorizationCode, why error) {
	ev := authkit.Event{Type: authkit.EventAuthFailed, Time: h.now(), Method: MethodAuthorizationCode, Err: why}
	if rec != nil {
		ev.Subject, ev.SessionID = rec.Subject, rec.SessionID
	}
	h.guard.emit(ctx, ev)
}

// codeReused handles a second use of an authorization code: the session
// its first exchange started is revoked (RFC 6749 §4.1.2), and the reuse
// reported.
func (h *Handler) codeReused(ctx context.Context, rec authkit.AuthorizationCode) {
	ev := authkit.Event{Type: authkit.EventReuseDetected, Time: h.now(), Subject: rec.Subject, SessionID: rec.SessionID, Method: MethodAuthorizationCode}
	h.log.LogAttrs(ctx, slog.LevelWarn, "httpauth: an authorization code was used twice; revoking what its first use issued",
		slog.String("client_id", rec.ClientID), slog.Bool("session_recorded", rec.SessionID != ""))
	if rec.SessionID != "" {
		// The replay may be an attacker's who hangs up at once: the
		// revocation does not stop for it (the store timeout applies).
		if err := h.iss.RevokeSession(context.WithoutCancel(ctx), rec.SessionID); err != nil {
			ev.Err = err
			h.log.LogAttrs(ctx, slog.LevelError, "httpauth: revoking the session of a reused authorization code failed", slog.Any("error", err))
		}
	}
	h.guard.emit(ctx, ev)
}

// clientLifetimes are the issue options of a client's registered lifetimes
// (authkit.Client.AccessTTL, RefreshTTL) for a login: the first access
// token lives the shorter of the client's and the login's AccessTTL, and
// the first refresh token the client's RefreshTTL, each under the
// issuer's (the ceiling). A refresh keeps them (refreshOptions).
func clientLifetimes(c authkit.Client, l *Login) []issuer.IssueOption {
	var opts []issuer.IssueOption
	if c.AccessTTL >= time.Second && (l.AccessTTL == 0 || c.AccessTTL < l.AccessTTL) {
		opts = append(opts, issuer.WithAccessTokenTTL(c.AccessTTL))
	}
	if c.RefreshTTL >= issuer.MinSessionLifetime {
		opts = append(opts, issuer.WithRefreshTokenTTL(c.RefreshTTL))
	}
	return opts
}

// validState reports whether s can be a state parameter: 1 to maxStateLen
// bytes of printable ASCII (RFC 6749 Appendix A.5: VSCHAR).
func validState(s string) bool {
	if s == "" || len(s) > maxStateLen {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < 0x20 || s[i] > 0x7e {
			return false
		}
	}
	return true
}

// validS256Challenge reports whether s can be an S256 code_challenge
// (RFC 7636 §4.2): the SHA-256 of a verifier in unpadded base64url, 43
// characters whose last encodes no stray bits.
func validS256Challenge(s string) bool {
	// A challenge no verifier could match would be accepted here, the user
	// would log in and consent, and the code would fail only at the token
	// endpoint (found by review: 128 characters of the verifier's alphabet
	// passed).
	if len(s) != s256ChallengeLen {
		return false
	}
	sum, err := base64.RawURLEncoding.Strict().DecodeString(s)
	return err == nil && len(sum) == sha256.Size
}

// s256ChallengeLen is the length of an S256 code_challenge: 32 bytes in
// unpadded base64url.
const s256ChallengeLen = 43

// validPKCE reports whether s is a well-formed code_verifier (RFC 7636
// §4.1: 43 to 128 unreserved characters).
func validPKCE(s string) bool {
	if len(s) < minPKCELen || len(s) > maxPKCELen {
		return false
	}
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case 'A' <= c && c <= 'Z', 'a' <= c && c <= 'z', '0' <= c && c <= '9', c == '-', c == '.', c == '_', c == '~':
		default:
			return false
		}
	}
	return true
}

// redirectRegistered reports whether redirect is one of registered: byte
// for byte, or, for a registered http URI on a loopback IP literal, the
// same URI with any port (RFC 8252 §7.3: a native app listens on a port the
// OS gives it at the time of the request; RFC 9700 §2.1 excepts exactly
// this from exact matching). Scheme, address, path and query must still be
// the registered ones, byte for byte.
func redirectRegistered(registered []string, redirect string) bool {
	if slices.Contains(registered, redirect) {
		return true
	}
	want, ok := httpsyntax.LoopbackWithoutPort(redirect)
	if !ok {
		return false
	}
	for _, r := range registered {
		if got, ok := httpsyntax.LoopbackWithoutPort(r); ok && got == want {
			return true
		}
	}
	return false
}
