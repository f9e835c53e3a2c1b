package httpauth

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"strings"

	"github.com/authkit-go/authkit"
	"github.com/authkit-go/authkit/internal/httpsyntax"
)

// ErrCSRF reports an unsafe request (any method but GET, HEAD, OPTIONS and
// TRACE) that authenticated by cookie without a CSRF header equal to the CSRF
// cookie. It is answered 403 with error "csrf_failed" and no challenge: the
// credential itself is fine, the request is refused as possibly forged. In
// cookie mode the token endpoint answers the same 403 csrf_failed, before
// the grant and setting no cookie, to a password or refresh_token request
// from another site (Sec-Fetch-Site, or an Origin not of the request's
// host; see Cookies.TrustedOrigins): login CSRF.
var ErrCSRF = errors.New("httpauth: CSRF token missing or wrong")

// ErrAPITokenNotAllowed reports an API token used on an endpoint that manages
// credentials (logout-all, sessions, API tokens), which needs a session (JWT)
// or a password (Basic) principal, so that a leaked API token can neither
// mint more tokens nor end the owner's sessions. It matches
// [authkit.ErrInsufficientScope] too and is answered 403 insufficient_scope.
var ErrAPITokenNotAllowed = fmt.Errorf("httpauth: %w: an API token cannot manage credentials", authkit.ErrInsufficientScope)

// ErrClientTokenNotAllowed reports a JWT that is not a first-party session
// of the Handler's issuer used on an account endpoint (logout-all,
// sessions, API tokens): one issued to an OAuth client (its client_id is
// neither empty nor the issuer's own, authkit.WithClientID), or one of
// another issuer the verifier trusts. Those endpoints act on the user's
// own credentials, and a client's token is delegated (authorization code)
// or the client's own (client_credentials): with them it could mint an
// API token that outlives its lifetime, the client's removal and its
// secret's rotation, or read and end the user's other sessions.
// [WithAccountClients] lets in users' sessions through named first-party
// clients, never a client's own token. It matches
// [authkit.ErrInsufficientScope] too and is answered 403
// insufficient_scope.
var ErrClientTokenNotAllowed = fmt.Errorf("httpauth: %w: only a first-party session of this issuer can manage the user's credentials", authkit.ErrInsufficientScope)

// ScopeError reports a principal that lacks required scopes. It matches
// [authkit.ErrInsufficientScope]; [Auth.Deny] answers it 403 with
// error="insufficient_scope" and a scope attribute listing Scopes (RFC 6750
// §3.1). Scopes that are not RFC 6749 §3.3 scope tokens are left out of the
// challenge.
type ScopeError struct {
	// Scopes are the scopes the request needed.
	Scopes []string
}

// Error implements error. It never includes a token.
func (e *ScopeError) Error() string { return "httpauth: insufficient scope" }

// Is makes errors.Is(err, authkit.ErrInsufficientScope) true.
func (e *ScopeError) Is(target error) bool { return target == authkit.ErrInsufficientScope }

// Denial is how one refused request is answered: what [Auth.Classify] makes
// of an error and what a deny hook (see [WithDenyHandler]) receives.
type Denial struct {
	// Status is the HTTP status: 400, 401, 403, 429 (ErrThrottled) or 503.
	Status int
	// Code is the "error" member of the JSON body. For 400, 401 with a
	// credential and 403 it is the RFC 6750 §3.1 error code that the
	// challenge of the credential's scheme carries too, unless that is
	// Basic ("invalid_request", "invalid_token",
	// "insufficient_scope"); "unauthorized" (no credential: the challenge
	// carries no error attribute, RFC 6750 §3.1), "csrf_failed" and
	// "temporarily_unavailable" appear in the body only.
	Code string
	// Description is the fixed, human-readable "error_description": never
	// derived from the error's text, and free of '"' and '\' (RFC 6750 §3).
	Description string
	// Scopes are the scopes that were required, for an insufficient_scope
	// denial; nil otherwise.
	Scopes []string
	// Err is the error that was classified. Its message never contains a
	// token, but it is meant for logs, not for response bodies.
	Err error
}

// denialRow is one row of the table.
type denialRow struct {
	err       error
	status    int
	code      string // the body's "error"
	challenge bool   // send a challenge (401, 400, 403 of RFC 6750)
	rfcCode   bool   // the challenge carries error= and error_description=
	desc      string // fixed text: no '"' or '\'
}

// Indexes of rows that code refers to.
const (
	rowUnavailable = iota
	rowDeadline
	rowCanceled
	rowThrottled
	rowCSRF
	rowNoCredentials
	rowInvalidRequest
	rowAPITokenNotAllowed
	rowClientTokenNotAllowed
	rowInsufficientScope
	rowExpired
	rowRevoked
	rowReused
	rowInvalidToken
	rowCount
)

const descUnavailable = "the authentication service is temporarily unavailable"

// denials is the one table that turns an error into HTTP, first match by
// errors.Is. An error that matches no row is denied as rowInvalidToken:
// unknown errors never let a request through.
var denials = [rowCount]denialRow{
	rowUnavailable:        {authkit.ErrStoreUnavailable, http.StatusServiceUnavailable, "temporarily_unavailable", false, false, descUnavailable},
	rowDeadline:           {context.DeadlineExceeded, http.StatusServiceUnavailable, "temporarily_unavailable", false, false, descUnavailable},
	rowCanceled:           {context.Canceled, http.StatusServiceUnavailable, "temporarily_unavailable", false, false, descUnavailable},
	rowThrottled:          {ErrThrottled, http.StatusTooManyRequests, "slow_down", false, false, descThrottled},
	rowCSRF:               {ErrCSRF, http.StatusForbidden, "csrf_failed", false, false, "missing or invalid CSRF token"},
	rowNoCredentials:      {authkit.ErrNoCredentials, http.StatusUnauthorized, "unauthorized", true, false, "authentication required"},
	rowInvalidRequest:     {authkit.ErrInvalidRequest, http.StatusBadRequest, "invalid_request", true, true, "malformed credentials"},
	rowAPITokenNotAllowed: {ErrAPITokenNotAllowed, http.StatusForbidden, "insufficient_scope", true, true, "an API token cannot be used here"},
	rowClientTokenNotAllowed: {ErrClientTokenNotAllowed, http.StatusForbidden, "insufficient_scope", true, true,
		"only a first-party session can be used here"},
	rowInsufficientScope: {authkit.ErrInsufficientScope, http.StatusForbidden, "insufficient_scope", true, true, "token lacks a required scope"},
	rowExpired:           {authkit.ErrTokenExpired, http.StatusUnauthorized, "invalid_token", true, true, "token expired"},
	rowRevoked:           {authkit.ErrTokenRevoked, http.StatusUnauthorized, "invalid_token", true, true, "token revoked"},
	rowReused:            {authkit.ErrTokenReused, http.StatusUnauthorized, "invalid_token", true, true, "token revoked"},
	rowInvalidToken:      {authkit.ErrInvalidToken, http.StatusUnauthorized, "invalid_token", true, true, "token invalid"},
}

// rowOf returns the index of the first row err matches, or rowInvalidToken.
func rowOf(err error) int {
	if err == nil {
		return rowInvalidToken
	}
	for i := range denials {
		if errors.Is(err, denials[i].err) {
			return i
		}
	}
	return rowInvalidToken
}

// Classify turns err into the Denial that [Auth.Deny] answers with, using
// the table in the package documentation (first match by [errors.Is]). An
// error that matches no row — nil included — is a 401 invalid_token: an
// unknown error always denies.
func (a *Auth) Classify(err error) Denial {
	d, _ := classify(err)
	return d
}

func classify(err error) (Denial, int) {
	i := rowOf(err)
	row := &denials[i]
	d := Denial{Status: row.status, Code: row.code, Description: row.desc, Err: err}
	if i == rowInsufficientScope {
		if se, ok := errors.AsType[*ScopeError](err); ok && len(se.Scopes) > 0 {
			d.Scopes = append([]string(nil), se.Scopes...)
		}
	}
	return d, i
}

// challenges holds the WWW-Authenticate field values of every row, one
// field per challenge, computed once in New: byTarget[row][t] is the
// answer when the credential was presented under scheme t (an index into
// schemes), byTarget[row][len(schemes)] when under none that can carry
// the RFC 6750 error attributes. A nil list means no challenge.
type challenges struct {
	realm    string
	schemes  []string // the verifier's schemes, in order
	presents []int    // presents[i]: the target of a credential under schemes[i]
	fallback int      // the target of a credential under no scheme of ours
	byTarget [rowCount][][]string
}

func makeChallenges(schemes []string, realm string) challenges {
	c := challenges{realm: realm, schemes: schemes, presents: make([]int, len(schemes)), fallback: len(schemes)}
	for i, s := range schemes {
		c.presents[i] = i
		if s == authkit.SchemeBasic {
			c.presents[i] = len(schemes) // Basic has no error attributes (RFC 7617)
		} else if c.fallback == len(schemes) {
			c.fallback = i
		}
	}
	for i, row := range denials {
		c.byTarget[i] = make([][]string, len(schemes)+1)
		for t := range c.byTarget[i] {
			c.byTarget[i][t] = c.build(row, t, nil)
		}
	}
	return c
}

// build returns the challenges of row for target t (see challenges). A
// 401 or 400 carries one challenge per scheme, in the verifier's order,
// the error attributes, and scope when given, on t's alone; a 403 carries
// t's challenge only, since another scheme is no remedy for a credential
// that is valid but not allowed. Basic is challenged on 401 only, and only
// when it is the verifier's first scheme: a browser that sees a Basic
// challenge asks for a password and then sends it by itself with every
// request to the site, an ambient credential that the CSRF check does not
// cover, so Basic placed after Bearer or Token stays silent as before.
func (c *challenges) build(row denialRow, t int, scopes []string) []string {
	if !row.challenge {
		return nil
	}
	bare := row
	bare.rfcCode = false
	var out []string
	for i, s := range c.schemes {
		var v string
		switch {
		case s == authkit.SchemeBasic && i > 0:
			// Never offered to browsers unless first (see above).
		case i == t:
			v = challengeFor(s, c.realm, row, scopes)
		case row.status != http.StatusForbidden:
			v = challengeFor(s, c.realm, bare, nil)
		}
		if v != "" {
			out = append(out, v)
		}
	}
	return slices.Clip(out)
}

// target returns the index of the scheme whose challenge carries the error
// attributes for r: the scheme of its one Authorization header when that
// is one of ours; otherwise (no header or several, another word, a
// credential from the access cookie or under a profile's HeaderTypes word,
// which are bearer tokens too) the first of Bearer and Token that the
// verifier accepts. A Basic credential has none: RFC 7617 defines no error
// attributes, and a Bearer error would blame a token the client never
// sent. It does not allocate.
func (c *challenges) target(r *http.Request) int {
	if vals := r.Header["Authorization"]; len(vals) == 1 {
		word, _, _ := httpsyntax.Credentials(vals[0])
		for i, s := range c.schemes {
			if httpsyntax.SchemeIs(word, s) {
				return c.presents[i]
			}
		}
	}
	return c.fallback
}

// challengeFor builds one challenge for scheme. Bearer and Token challenges
// carry the RFC 6750 §3 attributes; a Basic challenge (RFC 7617) carries
// only realm and charset and is sent with 401 only ("" otherwise).
func challengeFor(scheme, realm string, row denialRow, scopes []string) string {
	if !row.challenge {
		return ""
	}
	var b strings.Builder
	switch scheme {
	case authkit.SchemeBasic:
		if row.status != http.StatusUnauthorized {
			return ""
		}
		b.WriteString(`Basic realm=`)
		writeQuoted(&b, realm)
		b.WriteString(`, charset="UTF-8"`)
		return b.String()
	case authkit.SchemeToken:
		b.WriteString("Token realm=")
	default:
		b.WriteString("Bearer realm=")
	}
	writeQuoted(&b, realm)
	if row.rfcCode {
		b.WriteString(`, error="`)
		b.WriteString(row.code)
		b.WriteString(`", error_description="`)
		b.WriteString(row.desc)
		b.WriteByte('"')
	}
	if len(scopes) > 0 && validScopes(scopes) {
		b.WriteString(`, scope="`)
		for i, s := range scopes {
			if i > 0 {
				b.WriteByte(' ')
			}
			b.WriteString(s)
		}
		b.WriteByte('"')
	}
	return b.String()
}

// writeQuoted writes s as an RFC 9110 quoted-string.
func writeQuoted(b *strings.Builder, s string) {
	b.WriteByte('"')
	for i := 0; i < len(s); i++ {
		if s[i] == '"' || s[i] == '\\' {
			b.WriteByte('\\')
		}
		b.WriteByte(s[i])
	}
	b.WriteByte('"')
}

// Deny answers a refused request: the only place where an authentication
// error becomes HTTP. It classifies err (see [Auth.Classify]), sets the
// status, the WWW-Authenticate challenges (see the package documentation:
// on 401 and 400 one field per scheme the verifier accepts, the error
// attributes on the challenge of the scheme the request's credential was
// presented under; on 403 that scheme's challenge alone), Retry-After on
// 503, and Cache-Control: no-store, and writes the JSON body
// {"error","error_description"} — or lets the deny hook write the body,
// with the status and those headers enforced. Deny never calls a next
// handler, so nothing a hook does can turn the denial into an allow.
func (a *Auth) Deny(w http.ResponseWriter, r *http.Request, err error) {
	d, i := classify(err)
	t := a.challenges.target(r)
	chal := a.challenges.byTarget[i][t]
	if d.Scopes != nil {
		chal = a.challenges.build(denials[i], t, d.Scopes)
	}
	a.logDenial(r, i, d)
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("X-Content-Type-Options", "nosniff")
	if a.deny == nil {
		a.enforce(h, d.Status, chal, retryOf(err))
		w.WriteHeader(d.Status)
		_, _ = w.Write(a.bodies[i])
		return
	}
	dw := &denyWriter{w: w, a: a, status: d.Status, challenge: chal, retry: retryOf(err)}
	a.deny(dw, r, d)
	if !dw.wrote {
		h.Set("Content-Type", "application/json")
		dw.WriteHeader(d.Status)
		_, _ = w.Write(a.bodies[i])
		return
	}
	// Once more after the hook: a ResponseWriter that sends its header
	// late (gin's, at the first Write or at the end of the handler chain)
	// sends what the map holds then, not at WriteHeader.
	dw.enforce()
}

// enforce sets the headers that belong to the decision, replacing anything
// a hook put there. The challenges are copied, one allocation as h.Set
// makes, so that nothing done to the response's header can change the
// values New computed.
func (a *Auth) enforce(h http.Header, status int, challenges []string, retry string) {
	if len(challenges) > 0 {
		h["Www-Authenticate"] = slices.Clone(challenges)
	} else {
		h.Del("WWW-Authenticate")
	}
	h.Set("Cache-Control", "no-store")
	switch status {
	case http.StatusServiceUnavailable:
		h.Set("Retry-After", a.retryAfter)
	case http.StatusTooManyRequests:
		if retry == "" {
			retry = "1"
		}
		h.Set("Retry-After", retry)
	default:
		h.Del("Retry-After")
	}
}

func (a *Auth) logDenial(r *http.Request, row int, d Denial) {
	ctx := r.Context()
	switch {
	case errors.Is(d.Err, context.Canceled):
		a.log.LogAttrs(ctx, slog.LevelDebug, "httpauth: request cancelled during authentication",
			slog.String("path", httpsyntax.LogPath(r.URL.Path)))
	case d.Status == http.StatusServiceUnavailable:
		// Paced: during an outage every request comes here.
		if ok, held := a.outages.Allow(a.now()); ok {
			a.log.LogAttrs(ctx, slog.LevelWarn, "httpauth: authentication unavailable; request refused",
				slog.String("method", r.Method), slog.String("path", httpsyntax.LogPath(r.URL.Path)), slog.Any("error", d.Err),
				slog.Int("refused_unlogged", held))
		}
	case row == rowInvalidToken && (d.Err == nil || !errors.Is(d.Err, authkit.ErrInvalidToken)):
		a.log.LogAttrs(ctx, slog.LevelWarn, "httpauth: unclassified error; request denied as invalid_token",
			slog.String("method", r.Method), slog.String("path", httpsyntax.LogPath(r.URL.Path)), slog.Any("error", d.Err))
	default:
		// With the reason (Err never holds a token): "wrong audience" is
		// what an operator needs, and the client is told only
		// invalid_token (found by review: the line said nothing of why).
		a.log.LogAttrs(ctx, slog.LevelDebug, "httpauth: request denied",
			slog.Int("status", d.Status), slog.String("error_code", d.Code), slog.String("path", httpsyntax.LogPath(r.URL.Path)), slog.Any("error", d.Err))
	}
}

// denyWriter is what a deny hook writes to. Its first WriteHeader or Write
// sends the decision's status and enforced headers, whatever status the
// hook asks for, and every Write enforces the headers again: a
// ResponseWriter may send its header only at the first Write (gin's does),
// and a hook's changes between WriteHeader and Write would otherwise reach
// the client (found by review: on gin a hook dropped WWW-Authenticate and
// made a 401 cacheable). It offers no Flush, Hijack or Unwrap.
type denyWriter struct {
	w         http.ResponseWriter
	a         *Auth
	status    int
	challenge []string
	retry     string
	wrote     bool
}

func (d *denyWriter) Header() http.Header { return d.w.Header() }

func (d *denyWriter) WriteHeader(int) {
	if d.wrote {
		return
	}
	d.wrote = true
	d.enforce()
	d.w.WriteHeader(d.status)
}

func (d *denyWriter) Write(b []byte) (int, error) {
	if !d.wrote {
		d.WriteHeader(d.status)
	} else {
		d.enforce()
	}
	return d.w.Write(b)
}

// enforce sets the decision's headers on the response again.
func (d *denyWriter) enforce() { d.a.enforce(d.w.Header(), d.status, d.challenge, d.retry) }
