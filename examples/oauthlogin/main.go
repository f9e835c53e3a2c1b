// Command oauthlogin is an OAuth 2.0 authorization server for a
// single-page or mobile app: the authorization-code grant with PKCE (RFC
// 6749 §4.1, RFC 7636) for a public client registered in code, with the
// login-and-consent page that the application renders (authkit renders
// none). Everything lives in memory; the one user is a demo: alice,
// password "wonderland", role admin.
//
//	go run ./examples/oauthlogin
//
// Then, in a browser:
//
//  1. Open http://127.0.0.1:8080/. The demo app makes a PKCE verifier and
//     a state, keeps them in a cookie and sends you to /authorize.
//  2. The login page names the app and the scopes it asks for. Log in as
//     alice / wonderland and allow, or deny.
//  3. authkit redirects to /callback with a code (or with
//     error=access_denied). The app checks the state and iss, exchanges
//     the code with its verifier at /token and calls /api/me with the
//     access token.
//  4. The page shows what /api/me answered, and the access token to try
//     by hand: curl -H "Authorization: Bearer $TOKEN" http://127.0.0.1:8080/api/me
//
// The server's metadata (RFC 8414) is at
// http://127.0.0.1:8080/.well-known/oauth-authorization-server.
//
// "/" and "/callback" play the app's part in Go so that the demo needs no
// JavaScript; a single-page app does the same in the browser, and a mobile
// app in the app. The rest is what an authorization server copies: the
// client registration, the login page with its CSRF token, the password
// check against a hash (throttled by authkit, and for the page alone:
// WithoutPasswordGrant), and the Login that says what the tokens carry.
package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"html/template"
	"io"
	"log"
	"net/http"
	"strconv"
	"strings"
	"time"

	"golang.org/x/oauth2"

	"github.com/authkit-go/authkit"
	"github.com/authkit-go/authkit/adapters/httpauth"
	"github.com/authkit-go/authkit/backends/memory"
	"github.com/authkit-go/authkit/issuer"
	"github.com/authkit-go/authkit/keys"
	"github.com/authkit-go/authkit/passwords"
	"github.com/authkit-go/authkit/verifier"
)

func main() {
	const addr = "127.0.0.1:8080"
	handler, err := newServer("http://" + addr)
	if err != nil {
		log.Fatal(err)
	}
	srv := &http.Server{Addr: addr, Handler: handler, ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout: 10 * time.Second, WriteTimeout: 30 * time.Second, IdleTimeout: time.Minute}
	log.Printf("open http://%s/ and log in as alice, password wonderland", addr)
	log.Fatal(srv.ListenAndServe())
}

// The demo app: a public client (no secret: it runs on the user's device)
// allowed the authorization-code grant and refresh tokens.
const (
	appClientID = "demo-app"
	appName     = "Demo app"
)

// scopes are the scopes of the API, with what the consent page says of
// them.
var scopes = map[string]string{
	"api:read":  "read your data",
	"api:write": "change your data",
}

// newServer wires authkit, the login page, the demo app and the API, for a
// server reachable at base (its URL, without a trailing slash).
func newServer(base string) (http.Handler, error) {
	key, err := keys.Generate(keys.EdDSA)
	if err != nil {
		return nil, err
	}
	set, err := keys.NewSet(key)
	if err != nil {
		return nil, err
	}
	store := memory.New() // a ClientStore too; sqlstore and redisstore are as well
	// The issuer's identifier is its URL: the tokens' iss, the iss of the
	// authorization response (RFC 9207) and the metadata's issuer.
	opts := []authkit.Option{authkit.WithKeys(set), authkit.WithStore(store), authkit.WithIssuer(base)}
	iss, err := issuer.New(opts...)
	if err != nil {
		return nil, err
	}
	ver, err := verifier.New(opts...)
	if err != nil {
		return nil, err
	}
	auth, err := httpauth.New(ver)
	if err != nil {
		return nil, err
	}

	// Register the app. A real server registers clients once, with
	// "authkit clients add" or its own admin tooling.
	err = store.CreateClient(context.Background(), authkit.Client{
		ID:           appClientID,
		Name:         appName,
		GrantTypes:   []string{authkit.GrantAuthorizationCode, authkit.GrantRefreshToken},
		Scopes:       []string{"api:read", "api:write"},
		RedirectURIs: []string{base + "/callback"}, // compared byte for byte
		CreatedAt:    time.Now(),
	})
	if err != nil {
		return nil, err
	}

	login := &loginPage{secure: strings.EqualFold(strings.SplitN(base, ":", 2)[0], "https")}
	check, err := checkPassword(demoUsers())
	if err != nil {
		return nil, err
	}
	endpoints, err := httpauth.NewHandler(iss, auth,
		httpauth.WithClientStore(store),
		httpauth.WithAuthorizationCode(login),
		// The users' password check. The login page calls it through
		// AuthorizationRequest.CheckPassword, which throttles failed
		// attempts per user and per address. WithoutPasswordGrant keeps
		// it to the page: a user types a password only into this
		// server's page, never into an application, and no application
		// holding a password can skip /authorize and its consent.
		httpauth.WithPasswordLogin(check),
		httpauth.WithoutPasswordGrant(),
		httpauth.WithAllowedScopes("api:read", "api:write"))
	if err != nil {
		return nil, err
	}
	metadata, err := endpoints.MetadataHandler("api:read", "api:write")
	if err != nil {
		return nil, err
	}
	app := &demoApp{
		conf: &oauth2.Config{
			ClientID:    appClientID,
			RedirectURL: base + "/callback",
			Scopes:      []string{"api:read", "api:write"},
			Endpoint: oauth2.Endpoint{
				AuthURL:   base + "/authorize",
				TokenURL:  base + "/token",
				AuthStyle: oauth2.AuthStyleInParams, // a public client sends client_id alone
			},
		},
		issuer: base,
		api:    base + "/api/me",
		hc:     &http.Client{Timeout: 10 * time.Second},
		secure: login.secure,
	}

	mux := http.NewServeMux()
	// authkit's endpoints at the issuer's URL: /authorize, /token, /revoke,
	// /introspect, /.well-known/jwks.json, …
	mux.Handle("/", endpoints)
	mux.Handle("GET "+httpauth.MetadataWellKnown, metadata)
	mux.Handle("GET /api/me", auth.RequireScopes("api:read")(http.HandlerFunc(me)))
	mux.HandleFunc("GET /{$}", app.start)
	mux.HandleFunc("GET /callback", app.callback)
	return mux, nil
}

// user is an account. A real application reads it from its user table.
type user struct {
	hash   string   // bcrypt or argon2id hash of the password, never the password
	roles  []string // put into the access token as the "roles" claim
	scopes []string // the scopes the user may grant an app
}

func demoUsers() map[string]user {
	return map[string]user{
		"alice": {
			hash:   "$2a$10$z6aIpp5.IkGyVhKubvI5W.pronhmsfou2c2AOf1NsKXcLrmraOOW6", // "wonderland"
			roles:  []string{"admin"},
			scopes: []string{"api:read", "api:write"},
		},
	}
}

// Bounds of the login form.
const (
	maxFormBytes = 4 << 10
	csrfCookie   = "oauthlogin_csrf"
	// hostCSRFCookie is its name over HTTPS: a "__Host-" cookie is
	// Secure, has Path "/" and no Domain, so no subdomain can plant one.
	hostCSRFCookie = "__Host-" + csrfCookie
)

// loginPage is the login-and-consent page: WithAuthorizationCode hands it
// every authorization request that authkit validated. It shows the form
// on GET; the form posts back to the same URL, and the POST approves or
// denies. Passwords are checked with CheckPassword, which throttles
// failed logins per user and per address.
type loginPage struct {
	secure bool // mark the CSRF cookie Secure (served over HTTPS)
}

func (p *loginPage) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	req, ok := httpauth.AuthorizationRequestFrom(r.Context())
	if !ok {
		http.Error(w, "not an authorization request", http.StatusInternalServerError)
		return
	}
	if r.Method != http.MethodPost {
		p.show(w, r, req, http.StatusOK, "")
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, maxFormBytes)
	if !p.validCSRF(r) {
		http.Error(w, "This form has expired or was not sent from this page: go back, reload it and try again.", http.StatusForbidden)
		return
	}
	if r.PostFormValue("action") == "deny" {
		_ = req.Deny(w, r) // redirects to the app with error=access_denied
		return
	}
	// CheckPassword runs WithPasswordLogin's check under the throttle: a
	// user or an address with too many recent failures is refused
	// unchecked until RetryAfter.
	login, err := req.CheckPassword(r, r.PostFormValue("username"), r.PostFormValue("password"))
	switch {
	case err == nil:
	case errors.Is(err, httpauth.ErrThrottled):
		retry := time.Second
		if te, ok := errors.AsType[*httpauth.ThrottledError](err); ok && te.RetryAfter > 0 {
			retry = te.RetryAfter
		}
		w.Header().Set("Retry-After", strconv.Itoa(int((retry+time.Second-1)/time.Second)))
		p.show(w, r, req, http.StatusTooManyRequests, "Too many failed attempts: try again later.")
		return
	case errors.Is(err, httpauth.ErrLoginFailed):
		// The same answer for a wrong password and an unknown user.
		p.show(w, r, req, http.StatusOK, "Invalid username or password.")
		return
	default: // authkit.ErrStoreUnavailable (or a misconfiguration)
		log.Printf("oauthlogin: password check: %v", err)
		w.Header().Set("Retry-After", "1")
		p.show(w, r, req, http.StatusServiceUnavailable, "The password cannot be checked now: try again in a moment.")
		return
	}
	// Approve issues the code for the Login checkPassword returned. The
	// scopes granted are those the app asked for among the user's (all of
	// the user's when it asked for none), within WithAllowedScopes and the
	// client's.
	if err := req.Approve(w, r, login); err != nil {
		// Approve has answered (a redirect with an error, or a 500).
		log.Printf("oauthlogin: authorization not approved: %v", err)
	}
}

// checkPassword is the WithPasswordLogin hook: passwords.Users checks the
// password (against a dummy hash for an unknown user, so that the answer
// takes as long as for a wrong password, and a few at a time), and the
// hook returns the Login that says what the tokens carry. A refusal is
// passwords.ErrBadCredentials, which CheckPassword answers as
// ErrLoginFailed and counts against the throttle.
func checkPassword(users map[string]user) (func(ctx context.Context, name, password string) (httpauth.Login, error), error) {
	hashes := make(map[string]string, len(users))
	for name, u := range users {
		hashes[name] = u.hash
	}
	table, err := passwords.NewUsers(hashes)
	if err != nil {
		return nil, err
	}
	return func(ctx context.Context, name, password string) (httpauth.Login, error) {
		subject, err := table.Check(ctx, name, password)
		if err != nil {
			return httpauth.Login{}, err
		}
		u := users[subject]
		return httpauth.Login{
			Subject: subject,
			Scopes:  u.scopes,
			Claims:  map[string]any{"roles": u.roles},
		}, nil
	}, nil
}

// validCSRF checks the double-submit token: the hidden field must equal
// the cookie, which another site can neither read nor set.
func (p *loginPage) validCSRF(r *http.Request) bool {
	c, err := r.Cookie(p.csrfName())
	sent := r.PostFormValue("csrf")
	return err == nil && c.Value != "" && subtle.ConstantTimeCompare([]byte(c.Value), []byte(sent)) == 1
}

// csrfName is the CSRF cookie's name: "__Host-" over HTTPS.
func (p *loginPage) csrfName() string {
	if p.secure {
		return hostCSRFCookie
	}
	return csrfCookie
}

// formPath is the path the form posts to (FormAction without its query),
// where the CSRF cookie is sent back.
func formPath(req *httpauth.AuthorizationRequest) string {
	path, _, _ := strings.Cut(req.FormAction(), "?")
	return path
}

// show renders the form with status and a fresh CSRF token.
func (p *loginPage) show(w http.ResponseWriter, r *http.Request, req *httpauth.AuthorizationRequest, status int, problem string) {
	token := rand.Text()
	// HttpOnly and SameSite=Strict: the browser sends it back only with
	// the form's own POST. Over HTTPS it is Secure too, and its "__Host-"
	// name (which needs Path "/") keeps subdomains from setting it; over
	// plain HTTP (localhost) it is scoped to the form's path.
	path := formPath(req)
	if p.secure {
		path = "/"
	}
	http.SetCookie(w, &http.Cookie{
		Name: p.csrfName(), Value: token, Path: path, MaxAge: 600,
		HttpOnly: true, Secure: p.secure, SameSite: http.SameSiteStrictMode,
	})
	asked := req.Scopes
	if asked == nil { // none asked: the app gets all of its scopes the user has
		asked = req.Client.Scopes
	}
	var items []scopeItem
	for _, s := range asked {
		items = append(items, scopeItem{s, scopes[s]})
	}
	render(w, loginTmpl, status, loginData{
		App:    req.Client.Name,
		Scopes: items,
		Action: req.FormAction(), // the authorization request, read again on POST
		CSRF:   token,
		Error:  problem,
	})
}

type scopeItem struct{ Name, Text string }

type loginData struct {
	App, Action, CSRF, Error string
	Scopes                   []scopeItem
}

var loginTmpl = template.Must(template.New("login").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Log in</title></head><body>
<h1>Log in to allow {{.App}}</h1>
<p>{{.App}} asks to:</p>
<ul>{{range .Scopes}}<li>{{.Text}} ({{.Name}})</li>{{end}}</ul>
{{with .Error}}<p role="alert"><strong>{{.}}</strong></p>{{end}}
<form method="post" action="{{.Action}}">
<input type="hidden" name="csrf" value="{{.CSRF}}">
<p><label>Username <input name="username" autocomplete="username" required></label></p>
<p><label>Password <input name="password" type="password" autocomplete="current-password" required></label></p>
<p><button name="action" value="approve">Log in and allow</button>
<button name="action" value="deny" formnovalidate>Deny</button></p>
</form></body></html>
`))

// demoApp plays the public client: it starts the flow and handles the
// redirect back, as a single-page app would in the browser.
type demoApp struct {
	conf   *oauth2.Config
	issuer string       // the iss the authorization response must carry
	api    string       // the URL of /api/me
	hc     *http.Client // for the token endpoint and the API
	secure bool
}

const flowCookie = "oauthlogin_flow"

// start makes a fresh state and PKCE verifier, keeps them for the
// callback, and sends the browser to the authorization endpoint with the
// S256 challenge of the verifier.
func (d *demoApp) start(w http.ResponseWriter, r *http.Request) {
	state, verifier := rand.Text(), oauth2.GenerateVerifier()
	http.SetCookie(w, &http.Cookie{
		Name: flowCookie, Value: state + "." + verifier, Path: "/callback", MaxAge: 600,
		HttpOnly: true, Secure: d.secure, SameSite: http.SameSiteLaxMode,
	})
	http.Redirect(w, r, d.conf.AuthCodeURL(state, oauth2.S256ChallengeOption(verifier)), http.StatusFound)
}

// callback is the redirect URI: it checks the state and the issuer,
// exchanges the code and calls the API with the access token.
func (d *demoApp) callback(w http.ResponseWriter, r *http.Request) {
	fail := func(status int, msg string) {
		render(w, callbackTmpl, status, callbackData{Error: msg})
	}
	c, err := r.Cookie(flowCookie)
	http.SetCookie(w, &http.Cookie{Name: flowCookie, Path: "/callback", MaxAge: -1}) // one use
	if err != nil {
		fail(http.StatusBadRequest, "No login in progress: start again.")
		return
	}
	state, verifier, _ := strings.Cut(c.Value, ".")
	q := r.URL.Query()
	if state == "" || subtle.ConstantTimeCompare([]byte(q.Get("state")), []byte(state)) != 1 {
		fail(http.StatusBadRequest, "The state does not match the login this browser started.")
		return
	}
	if q.Get("iss") != d.issuer { // RFC 9207: the answer is from the server the app asked
		fail(http.StatusBadRequest, "The response comes from another authorization server.")
		return
	}
	if e := q.Get("error"); e != "" {
		fail(http.StatusOK, "The authorization server answered "+e+": "+q.Get("error_description"))
		return
	}
	ctx := context.WithValue(r.Context(), oauth2.HTTPClient, d.hc)
	tok, err := d.conf.Exchange(ctx, q.Get("code"), oauth2.VerifierOption(verifier))
	if err != nil {
		log.Printf("oauthlogin: code exchange: %v", err)
		fail(http.StatusBadGateway, "The code could not be exchanged for tokens.")
		return
	}
	req, err := http.NewRequestWithContext(r.Context(), http.MethodGet, d.api, nil)
	if err != nil {
		fail(http.StatusInternalServerError, err.Error())
		return
	}
	req.Header.Set("Authorization", "Bearer "+tok.AccessToken)
	res, err := d.hc.Do(req)
	if err != nil {
		fail(http.StatusBadGateway, "The API could not be reached.")
		return
	}
	defer res.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(res.Body, 64<<10))
	render(w, callbackTmpl, http.StatusOK, callbackData{
		API: d.api, Status: res.Status, Answer: string(body), AccessToken: tok.AccessToken,
		Scope: tok.Extra("scope"), Expiry: tok.Expiry.Format(time.TimeOnly),
	})
}

type callbackData struct {
	Error                                    string
	API, Status, Answer, AccessToken, Expiry string
	Scope                                    any
}

var callbackTmpl = template.Must(template.New("callback").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Demo app</title></head><body>
{{if .Error}}<h1>Not logged in</h1><p>{{.Error}}</p>{{else}}
<h1>Logged in</h1>
<p>GET {{.API}} with the access token (scope {{.Scope}}) answered {{.Status}}:</p>
<pre>{{.Answer}}</pre>
<p>The access token, valid until {{.Expiry}}:</p>
<pre>{{.AccessToken}}</pre>
{{end}}<p><a href="/">Log in again</a></p></body></html>
`))

// render executes t into a buffer first, so that a template error never
// sends half a page.
func render(w http.ResponseWriter, t *template.Template, status int, data any) {
	var buf bytes.Buffer
	if err := t.Execute(&buf, data); err != nil {
		log.Printf("oauthlogin: template %s: %v", t.Name(), err)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store") // the callback page shows a token
	w.WriteHeader(status)
	w.Write(buf.Bytes())
}

// me is the protected API: who the caller is, from the verified token.
func me(w http.ResponseWriter, r *http.Request) {
	p, _ := authkit.PrincipalFrom(r.Context()) // always there behind RequireScopes
	var claims struct {
		Roles []string `json:"roles"`
	}
	_ = p.DecodeClaims(&claims)
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(map[string]any{
		"subject": p.Subject, "client_id": p.ClientID, "roles": claims.Roles, "scopes": p.Scopes,
	})
}
