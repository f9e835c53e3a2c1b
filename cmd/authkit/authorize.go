package main

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"html/template"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/authkit-go/authkit"
	"github.com/authkit-go/authkit/adapters/httpauth"
	"github.com/authkit-go/authkit/issuer"
)

// serve's login-and-consent page for the authorization-code grant
// (httpauth.WithAuthorizationCode): a user of the users file (or the demo
// user) logs in and approves, or denies, the client's request.

const (
	// csrfCookie and csrfField carry the login form's double-submit CSRF
	// token: a random value in a cookie (HttpOnly, SameSite=Strict, scoped
	// to the authorization endpoint) that the form repeats in a hidden
	// field.
	csrfCookie = "authkit_authorize_csrf"
	csrfField  = "csrf_token"
	// csrfBytes is the token's entropy; it is sent as csrfLen characters
	// of unpadded base64url.
	csrfBytes = 32
	csrfLen   = 43
	// maxLoginForm bounds the login form's body.
	maxLoginForm = 16 << 10
)

// loginStyle is the page's only style sheet, allowed by its hash in the
// Content-Security-Policy (no external assets, no script).
const loginStyle = `body{font-family:system-ui,sans-serif;max-width:28rem;margin:3rem auto;padding:0 1rem;color:#222}` +
	`h1{font-size:1.3rem}label{display:block;margin:.8rem 0}input{display:block;width:100%;padding:.4rem;box-sizing:border-box}` +
	`button{margin:1rem .5rem 0 0;padding:.5rem 1.2rem}.error{color:#a00;font-weight:bold}.small{font-size:.85rem;color:#555}`

// loginCSP forbids everything the page does not use, its framing
// included. There is no form-action: the form's answer redirects to the
// client, which form-action would block.
var loginCSP = func() string {
	sum := sha256.Sum256([]byte(loginStyle))
	return "default-src 'none'; style-src 'sha256-" + base64.StdEncoding.EncodeToString(sum[:]) +
		"'; base-uri 'none'; frame-ancestors 'none'"
}()

var loginTemplate = template.Must(template.New("login").Parse(`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Authorize {{.Client}}</title>
<style>` + loginStyle + `</style>
</head>
<body>
<main>
{{if .Message}}<h1>Authorization</h1>
<p class="error" role="alert">{{.Message}}</p>
{{else}}<h1>Authorize {{.Client}}</h1>
<p><strong>{{.Client}}</strong>{{if .ClientID}} (client ID <code>{{.ClientID}}</code>){{end}} asks to access your account
{{- if .Scopes}} with these scopes:</p>
<ul>{{range .Scopes}}<li><code>{{.}}</code></li>{{end}}</ul>
{{- else}}, without any scope.</p>{{end}}
{{if .Withheld}}<p class="small">Not granted by this server: {{range $i, $s := .Withheld}}{{if $i}}, {{end}}<code>{{$s}}</code>{{end}}.</p>{{end}}
<p class="small">You will be sent back to <code>{{.Redirect}}</code>.</p>
{{if .Error}}<p class="error" role="alert">{{.Error}}</p>{{end}}
<form method="post" action="{{.Action}}">
<input type="hidden" name="` + csrfField + `" value="{{.CSRF}}">
<label>Username <input name="username" value="{{.Username}}" autocomplete="username" maxlength="256" autofocus></label>
<label>Password <input name="password" type="password" autocomplete="current-password" maxlength="1024"></label>
<button type="submit" name="action" value="approve">Approve</button>
<button type="submit" name="action" value="deny">Deny</button>
</form>
{{end}}</main>
</body>
</html>
`))

// loginData is what loginTemplate shows.
type loginData struct {
	// Message, when set, replaces the form: the request cannot go on.
	Message string
	// Client is the client's name (its ID when it has none); ClientID its
	// ID when the name is shown.
	Client, ClientID string
	// Scopes are those an approval grants; Withheld those the client asked
	// for that serve's --scopes do not allow.
	Scopes, Withheld []string
	Redirect         string
	Error            string
	Action           string
	CSRF             string
	Username         string
}

// loginPage is serve's login-and-consent handler. Password attempts go
// through AuthorizationRequest.CheckPassword: the Handler's password
// login (the users) under the password grant's throttle, so that the page
// and the grant share one budget per user and address.
type loginPage struct {
	// scopes are serve's --scopes: what a login may hold.
	scopes []string
	// secure marks the CSRF cookie Secure even on plain HTTP: the issuer
	// is an https URL, so a TLS-terminating proxy is in front.
	secure bool
	log    *slog.Logger
}

// newLoginPage builds the login page of iss's authorization endpoint. The
// Handler it is given to must check passwords (WithPasswordGrant).
func newLoginPage(iss *issuer.Issuer, scopes []string, log *slog.Logger) *loginPage {
	return &loginPage{
		scopes: slices.Clone(scopes),
		secure: isHTTPS(iss.ID()),
		log:    log,
	}
}

// isHTTPS reports whether s is an https URL, its scheme in any case (RFC
// 3986 §3.1: found by review, "HTTPS://…" left the login page's CSRF
// cookie without Secure while the rest of serve took it for https).
func isHTTPS(s string) bool {
	u, err := url.Parse(s)
	return err == nil && u.Scheme == "https"
}

// ServeHTTP shows the page (GET) and handles its form (POST): the CSRF
// token first (403 without a match), then Deny, or Approve for the user
// whose password checks (401 and the page again otherwise).
func (p *loginPage) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Security-Policy", loginCSP)
	a, ok := httpauth.AuthorizationRequestFrom(r.Context())
	if !ok { // only the authorization endpoint calls the page
		p.message(w, r, nil, http.StatusInternalServerError, "Internal error.")
		return
	}
	if granted, withheld := p.grantable(a); a.Scopes != nil && len(granted) == 0 {
		// Approve would answer invalid_scope after the user typed a
		// password (found by review: the page offered an approval
		// "without any scope" that always failed).
		p.message(w, r, a, http.StatusBadRequest, "This application asks only for scopes this server does not grant ("+strings.Join(withheld, ", ")+"), so nothing can be approved. Go back to the application.")
		return
	}
	if r.Method != http.MethodPost {
		p.render(w, r, a, http.StatusOK, "", "")
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, maxLoginForm)
	if err := r.ParseForm(); err != nil {
		status := http.StatusBadRequest
		if _, ok := errors.AsType[*http.MaxBytesError](err); ok {
			status = http.StatusRequestEntityTooLarge
		}
		p.message(w, r, a, status, "The form could not be read.")
		return
	}
	if !p.csrfOK(r) {
		p.message(w, r, a, http.StatusForbidden, "This form has expired or was not sent from this page. Go back to the application and start again.")
		return
	}
	switch formValue(r.PostForm, "action") {
	case "deny":
		if err := a.Deny(w, r); err != nil {
			p.log.Warn("authorize: denying failed", "err", err)
		}
		return
	case "approve":
	default:
		p.render(w, r, a, http.StatusBadRequest, "", "Choose Approve or Deny.")
		return
	}
	username := formValue(r.PostForm, "username")
	login, err := a.CheckPassword(r, username, formValue(r.PostForm, "password"))
	if err != nil {
		if !utf8.ValidString(username) || len(username) > maxUserNameBytes {
			username = ""
		}
		switch {
		case errors.Is(err, httpauth.ErrThrottled):
			retry := time.Second
			if te, ok := errors.AsType[*httpauth.ThrottledError](err); ok && te.RetryAfter > 0 {
				retry = te.RetryAfter
			}
			w.Header().Set("Retry-After", strconv.FormatInt(int64((retry+time.Second-1)/time.Second), 10))
			p.render(w, r, a, http.StatusTooManyRequests, username, "Too many attempts. Try again later.")
		case errors.Is(err, authkit.ErrStoreUnavailable), errors.Is(err, context.DeadlineExceeded), errors.Is(err, context.Canceled):
			w.Header().Set("Retry-After", "1")
			p.render(w, r, a, http.StatusServiceUnavailable, username, "The server cannot check passwords right now. Try again in a moment.")
		case errors.Is(err, httpauth.ErrLoginFailed):
			// Never says whether the user exists.
			p.render(w, r, a, http.StatusUnauthorized, username, "Incorrect username or password.")
		default: // authkit.ErrInvalidConfig: serve's wiring is wrong
			p.log.Error("authorize: checking a password", "err", err)
			p.message(w, r, a, http.StatusInternalServerError, "Internal error.")
		}
		return
	}
	// Approve answers in every case; its error is for the log.
	if err := a.Approve(w, r, httpauth.Login{Subject: login.Subject, Scopes: p.scopes}); err != nil {
		p.log.Warn("authorize: the approval did not issue a code", "client_id", a.Client.ID, "err", err)
	}
}

// render shows the login form with status and, when set, an error.
func (p *loginPage) render(w http.ResponseWriter, r *http.Request, a *httpauth.AuthorizationRequest, status int, username, errMsg string) {
	d := loginData{
		Client:   a.Client.ID,
		Redirect: a.RedirectURI,
		Error:    errMsg,
		Action:   a.FormAction(),
		CSRF:     p.csrfToken(w, r),
		Username: username,
	}
	if a.Client.Name != "" && a.Client.Name != a.Client.ID {
		d.Client, d.ClientID = a.Client.Name, a.Client.ID
	}
	d.Scopes, d.Withheld = p.grantable(a)
	p.write(w, status, &d)
}

// grantable returns what Approve grants: the scopes asked for (all the
// client's when none) that --scopes allows, among the client's; and those
// asked for that it does not.
func (p *loginPage) grantable(a *httpauth.AuthorizationRequest) (granted, withheld []string) {
	want := a.Scopes
	if want == nil {
		want = a.Client.Scopes
	}
	for _, s := range want {
		if slices.Contains(p.scopes, s) && slices.Contains(a.Client.Scopes, s) {
			granted = append(granted, s)
		} else if a.Scopes != nil {
			withheld = append(withheld, s)
		}
	}
	return granted, withheld
}

// message shows msg instead of the form.
func (p *loginPage) message(w http.ResponseWriter, _ *http.Request, a *httpauth.AuthorizationRequest, status int, msg string) {
	d := loginData{Message: msg, Client: "a client"}
	if a != nil {
		d.Client = a.Client.ID
		if a.Client.Name != "" {
			d.Client = a.Client.Name
		}
	}
	p.write(w, status, &d)
}

func (p *loginPage) write(w http.ResponseWriter, status int, d *loginData) {
	var b strings.Builder
	if err := loginTemplate.Execute(&b, d); err != nil {
		p.log.Error("authorize: rendering the login page", "err", err)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	w.Write([]byte(b.String()))
}

// csrfCookieFor is the CSRF cookie's name and path for r. Over HTTPS the
// cookie is "__Host-" prefixed (Secure, Path "/", no Domain): browsers then
// refuse it from any other host, so a sibling subdomain cannot plant a
// token of its own; over plain HTTP it is scoped to the path the browser
// asked for, which the form posts back to (/authorize, or the same under
// --issuer's path: r.URL has lost that prefix, r.RequestURI has not).
func (p *loginPage) csrfCookieFor(r *http.Request) (name, path string, secure bool) {
	if p.secure || r.TLS != nil {
		return "__Host-" + csrfCookie, "/", true
	}
	path = r.URL.EscapedPath()
	if u, err := url.ParseRequestURI(r.RequestURI); err == nil && u.Path != "" {
		path = u.EscapedPath()
	}
	// A cookie's Path cannot hold ";" (net/http drops the byte, and the
	// path no longer matches the page's): scope it to the segments before
	// the first one instead (found by review: an issuer path "/x;y" made
	// every approval fail its CSRF check).
	if i := strings.IndexByte(path, ';'); i >= 0 {
		path = path[:strings.LastIndexByte(path[:i], '/')+1]
	}
	return csrfCookie, path, false
}

// csrfToken returns the request's CSRF token, its cookie's when it holds a
// well-formed one, else a fresh one set in the cookie.
func (p *loginPage) csrfToken(w http.ResponseWriter, r *http.Request) string {
	name, path, secure := p.csrfCookieFor(r)
	if c, err := r.Cookie(name); err == nil && validCSRF(c.Value) {
		return c.Value
	}
	b := make([]byte, csrfBytes)
	rand.Read(b) // never fails (crypto/rand)
	tok := base64.RawURLEncoding.EncodeToString(b)
	http.SetCookie(w, &http.Cookie{
		Name:     name,
		Value:    tok,
		Path:     path,
		HttpOnly: true,
		Secure:   secure,
		SameSite: http.SameSiteStrictMode,
	})
	return tok
}

// csrfOK reports whether the posted form repeats the cookie's CSRF token
// (compared in constant time).
func (p *loginPage) csrfOK(r *http.Request) bool {
	name, _, _ := p.csrfCookieFor(r)
	c, err := r.Cookie(name)
	if err != nil || !validCSRF(c.Value) {
		return false
	}
	f := formValue(r.PostForm, csrfField)
	return len(f) == csrfLen && subtle.ConstantTimeCompare([]byte(f), []byte(c.Value)) == 1
}

// validCSRF reports whether s has the form of a CSRF token.
func validCSRF(s string) bool {
	if len(s) != csrfLen {
		return false
	}
	_, err := base64.RawURLEncoding.Strict().DecodeString(s)
	return err == nil
}

// formValue is the form's only value of key; "" when it is absent or
// repeated.
func formValue(f url.Values, key string) string {
	if v := f[key]; len(v) == 1 {
		return v[0]
	}
	return ""
}
