package main

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"testing"

	"golang.org/x/oauth2"
)

// fixture is the program served by httptest, and a browser: a client
// with a cookie jar that does not follow redirects.
type fixture struct {
	t       *testing.T
	base    string
	srv     *httptest.Server
	browser *http.Client
}

func newFixture(t *testing.T) *fixture { return newServedFixture(t, false) }

// newServedFixture is newFixture over HTTPS when tls is set; its browser
// then trusts the test server's certificate.
func newServedFixture(t *testing.T, tls bool) *fixture {
	t.Helper()
	srv := httptest.NewUnstartedServer(nil)
	scheme := "http://"
	if tls {
		scheme = "https://"
	}
	base := scheme + srv.Listener.Addr().String()
	h, err := newServer(base)
	if err != nil {
		t.Fatal(err)
	}
	srv.Config.Handler = h
	browser := newBrowser(t)
	if tls {
		srv.StartTLS()
		browser.Transport = srv.Client().Transport
	} else {
		srv.Start()
	}
	t.Cleanup(srv.Close)
	return &fixture{t: t, base: base, srv: srv, browser: browser}
}

func newBrowser(t *testing.T) *http.Client {
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	return &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

// config is the app's OAuth 2.0 client configuration.
func (f *fixture) config(scopes ...string) *oauth2.Config {
	return &oauth2.Config{
		ClientID:    appClientID,
		RedirectURL: f.base + "/callback",
		Scopes:      scopes,
		Endpoint: oauth2.Endpoint{
			AuthURL:   f.base + "/authorize",
			TokenURL:  f.base + "/token",
			AuthStyle: oauth2.AuthStyleInParams,
		},
	}
}

// do sends a request with the browser and returns the status, the
// Location header and the body.
func (f *fixture) do(c *http.Client, method, u string, form url.Values) (int, string, string) {
	f.t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequest(method, u, body)
	if err != nil {
		f.t.Fatal(err)
	}
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	res, err := c.Do(req)
	if err != nil {
		f.t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, res.Header.Get("Location"), string(b)
}

// loginPage GETs the authorization URL and returns the page and the CSRF
// token the browser holds in its cookie jar.
func (f *fixture) loginPage(authURL string) (page, csrf string) {
	f.t.Helper()
	st, _, page := f.do(f.browser, "GET", authURL, nil)
	if st != 200 {
		f.t.Fatalf("login page: %d %s", st, page)
	}
	return page, f.csrf(authURL, page)
}

// csrf returns the CSRF token of the browser's cookie jar, checking that
// it is the hidden field of the page.
func (f *fixture) csrf(authURL, page string) string {
	f.t.Helper()
	u, _ := url.Parse(authURL)
	var csrf string
	for _, c := range f.browser.Jar.Cookies(u) {
		if c.Name == csrfCookie || c.Name == hostCSRFCookie {
			csrf = c.Value
		}
	}
	if csrf == "" || !strings.Contains(page, `name="csrf" value="`+csrf+`"`) {
		f.t.Fatalf("login page: no CSRF cookie, or its token is not the form's hidden field:\n%s", page)
	}
	return csrf
}

// redirectQuery checks an answer of do for a redirect to the app's
// callback, and returns the redirect's query.
func (f *fixture) redirectQuery(st int, loc, body string) url.Values {
	f.t.Helper()
	if st != http.StatusSeeOther || !strings.HasPrefix(loc, f.base+"/callback?") {
		f.t.Fatalf("answer %d to %q, want 303 to the callback:\n%s", st, loc, body)
	}
	u, err := url.Parse(loc)
	if err != nil {
		f.t.Fatal(err)
	}
	q := u.Query()
	if q.Get("iss") != f.base {
		f.t.Errorf("iss %q, want %q (RFC 9207)", q.Get("iss"), f.base)
	}
	return q
}

// TestAuthorizationCodeFlow drives the flow as a client library does:
// AuthCodeURL with the S256 challenge, the login page, the form posted with
// the CSRF token, the redirect, Exchange with the verifier, the protected
// API; then the code's second use is refused and revokes the tokens.
func TestAuthorizationCodeFlow(t *testing.T) {
	f := newFixture(t)
	conf := f.config("api:read")
	verifier := oauth2.GenerateVerifier()
	authURL := conf.AuthCodeURL("state-1", oauth2.S256ChallengeOption(verifier))

	page, csrf := f.loginPage(authURL)
	if !strings.Contains(page, "Log in to allow Demo app") || !strings.Contains(page, "read your data (api:read)") || strings.Contains(page, "api:write") {
		t.Errorf("the login page names neither the app nor exactly the scope asked for:\n%s", page)
	}
	form := url.Values{"csrf": {csrf}, "username": {"alice"}, "password": {"wonderland"}, "action": {"approve"}}
	q := f.redirectQuery(f.do(f.browser, "POST", authURL, form))
	if q.Get("state") != "state-1" || q.Get("code") == "" {
		t.Fatalf("redirect query %v: want the state and a code", q)
	}

	ctx := context.WithValue(context.Background(), oauth2.HTTPClient, f.srv.Client())
	tok, err := conf.Exchange(ctx, q.Get("code"), oauth2.VerifierOption(verifier))
	if err != nil {
		t.Fatal(err)
	}
	if tok.AccessToken == "" || tok.RefreshToken == "" || tok.Extra("scope") != "api:read" {
		t.Fatalf("token %+v, scope %v: want both tokens and scope api:read", tok, tok.Extra("scope"))
	}

	api := func(token string) (int, map[string]any) {
		t.Helper()
		req, _ := http.NewRequest("GET", f.base+"/api/me", nil)
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		res, err := f.srv.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		var m map[string]any
		_ = json.NewDecoder(res.Body).Decode(&m)
		return res.StatusCode, m
	}
	if st, _ := api(""); st != 401 {
		t.Errorf("/api/me without a token: %d, want 401", st)
	}
	st, me := api(tok.AccessToken)
	roles, _ := me["roles"].([]any)
	if st != 200 || me["subject"] != "alice" || me["client_id"] != appClientID || len(roles) != 1 || roles[0] != "admin" {
		t.Fatalf("/api/me: %d %v, want alice of %s with role admin", st, me, appClientID)
	}

	// A code is single use: the second exchange fails and revokes what the
	// first issued.
	if _, err := conf.Exchange(ctx, q.Get("code"), oauth2.VerifierOption(verifier)); err == nil || !strings.Contains(err.Error(), "invalid_grant") {
		t.Errorf("second exchange: %v, want invalid_grant", err)
	}
	if st, _ := api(tok.AccessToken); st != 401 {
		t.Errorf("/api/me after the code's reuse: %d, want 401", st)
	}
}

// TestLoginPageRefuses checks the login page's refusals: a POST without
// the CSRF cookie or with another token is 403 and issues nothing, a wrong
// password shows the form again, and Deny redirects with access_denied.
func TestLoginPageRefuses(t *testing.T) {
	f := newFixture(t)
	conf := f.config()
	authURL := conf.AuthCodeURL("state-2", oauth2.S256ChallengeOption(oauth2.GenerateVerifier()))
	page, csrf := f.loginPage(authURL)
	if !strings.Contains(page, "(api:read)") || !strings.Contains(page, "(api:write)") {
		t.Errorf("no scope asked: the page should list the app's scopes:\n%s", page)
	}

	good := url.Values{"csrf": {csrf}, "username": {"alice"}, "password": {"wonderland"}, "action": {"approve"}}
	bad := url.Values{"csrf": {"not-the-token"}, "username": {"alice"}, "password": {"wonderland"}, "action": {"approve"}}
	if st, loc, _ := f.do(f.browser, "POST", authURL, bad); st != 403 || loc != "" {
		t.Errorf("wrong CSRF token: %d to %q, want 403", st, loc)
	}
	// One of the right length, and a denial: the token is compared, not
	// its length, and before any action is taken.
	sameLength := url.Values{"csrf": {strings.Repeat("A", len(csrf))}, "username": {"alice"}, "password": {"wonderland"}, "action": {"approve"}}
	if st, loc, _ := f.do(f.browser, "POST", authURL, sameLength); st != 403 || loc != "" {
		t.Errorf("a wrong CSRF token of the right length: %d to %q, want 403", st, loc)
	}
	if st, loc, _ := f.do(f.browser, "POST", authURL, url.Values{"csrf": {"not-the-token"}, "action": {"deny"}}); st != 403 || loc != "" {
		t.Errorf("a denial with a wrong CSRF token: %d to %q, want 403", st, loc)
	}
	// Another site's forged form: the right-looking field, but the browser
	// sends no cookie with it.
	if st, loc, _ := f.do(newBrowser(t), "POST", authURL, good); st != 403 || loc != "" {
		t.Errorf("no CSRF cookie: %d to %q, want 403", st, loc)
	}

	// A wrong password or an unknown user shows the form again, with a
	// fresh token.
	wrong := url.Values{"csrf": {csrf}, "username": {"alice"}, "password": {"nope"}, "action": {"approve"}}
	st, loc, body := f.do(f.browser, "POST", authURL, wrong)
	if st != 200 || loc != "" || !strings.Contains(body, "Invalid username or password.") {
		t.Fatalf("wrong password: %d to %q, want the form again with an error:\n%s", st, loc, body)
	}
	csrf = f.csrf(authURL, body)
	st, loc, body = f.do(f.browser, "POST", authURL, url.Values{"csrf": {csrf}, "username": {"mallory"}, "password": {"wonderland"}})
	if st != 200 || loc != "" || !strings.Contains(body, "Invalid username or password.") {
		t.Fatalf("unknown user: %d to %q, want the form again with an error:\n%s", st, loc, body)
	}
	csrf = f.csrf(authURL, body)
	q := f.redirectQuery(f.do(f.browser, "POST", authURL, url.Values{"csrf": {csrf}, "action": {"deny"}}))
	if q.Get("error") != "access_denied" || q.Get("state") != "state-2" || q.Get("code") != "" {
		t.Errorf("deny: redirect query %v, want error=access_denied with the state and no code", q)
	}
}

// TestBrowserFlow follows the steps of the program's documentation: "/"
// starts the login, the login page approves, and "/callback" exchanges the
// code and shows what the API answered; a denial shows on the callback
// page, and a callback whose state is not the browser's is refused.
func TestBrowserFlow(t *testing.T) {
	f := newFixture(t)

	login := func(action string) (int, string) {
		t.Helper()
		st, authURL, _ := f.do(f.browser, "GET", f.base+"/", nil)
		if st != http.StatusFound || !strings.HasPrefix(authURL, f.base+"/authorize?") || !strings.Contains(authURL, "code_challenge_method=S256") {
			t.Fatalf("/: %d to %q, want a redirect to /authorize with an S256 challenge", st, authURL)
		}
		_, csrf := f.loginPage(authURL)
		form := url.Values{"csrf": {csrf}, "username": {"alice"}, "password": {"wonderland"}, "action": {action}}
		st, callback, body := f.do(f.browser, "POST", authURL, form)
		f.redirectQuery(st, callback, body)
		st, _, page := f.do(f.browser, "GET", callback, nil)
		return st, page
	}

	st, page := login("approve")
	if st != 200 || !strings.Contains(page, "Logged in") || !strings.Contains(page, "200 OK") ||
		!strings.Contains(page, "&#34;subject&#34;:&#34;alice&#34;") || !strings.Contains(page, "&#34;roles&#34;:[&#34;admin&#34;]") {
		t.Fatalf("callback page: %d\n%s", st, page)
	}
	if st, page := login("deny"); st != 200 || !strings.Contains(page, "Not logged in") || !strings.Contains(page, "access_denied") {
		t.Errorf("denied callback page: %d\n%s", st, page)
	}

	// A callback this browser did not start (a forged or replayed link).
	st, authURL, _ := f.do(f.browser, "GET", f.base+"/", nil)
	if st != http.StatusFound {
		t.Fatalf("/: %d", st)
	}
	_, csrf := f.loginPage(authURL)
	_, callback, _ := f.do(f.browser, "POST", authURL, url.Values{"csrf": {csrf}, "username": {"alice"}, "password": {"wonderland"}, "action": {"approve"}})
	forged := strings.Replace(callback, "state=", "state=x", 1)
	if st, _, page := f.do(f.browser, "GET", forged, nil); st != 400 || !strings.Contains(page, "state does not match") {
		t.Errorf("callback with another state: %d\n%s", st, page)
	}

	// A callback that names another authorization server as its issuer
	// (RFC 9207: a mix-up attack) is refused before its code is used.
	st, authURL, _ = f.do(f.browser, "GET", f.base+"/", nil)
	if st != http.StatusFound {
		t.Fatalf("/: %d", st)
	}
	_, csrf = f.loginPage(authURL)
	_, callback, _ = f.do(f.browser, "POST", authURL, url.Values{"csrf": {csrf}, "username": {"alice"}, "password": {"wonderland"}, "action": {"approve"}})
	u, err := url.Parse(callback)
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	q.Set("iss", "https://evil.example")
	u.RawQuery = q.Encode()
	if st, _, page := f.do(f.browser, "GET", u.String(), nil); st != 400 || !strings.Contains(page, "another authorization server") {
		t.Errorf("callback naming another issuer: %d\n%s", st, page)
	}

	// Each login starts with a state of its own.
	_, first, _ := f.do(f.browser, "GET", f.base+"/", nil)
	_, second, _ := f.do(f.browser, "GET", f.base+"/", nil)
	state := func(s string) string {
		u, err := url.Parse(s)
		if err != nil {
			t.Fatal(err)
		}
		return u.Query().Get("state")
	}
	if a, b := state(first), state(second); a == "" || a == b {
		t.Errorf("two logins started with states %q and %q, want two different ones", a, b)
	}

	// The metadata describes the authorization endpoint.
	st, _, body := f.do(f.srv.Client(), "GET", f.base+"/.well-known/oauth-authorization-server", nil)
	var md map[string]any
	if err := json.Unmarshal([]byte(body), &md); st != 200 || err != nil || md["issuer"] != f.base || md["authorization_endpoint"] != f.base+"/authorize" {
		t.Errorf("metadata: %d %s", st, body)
	}
}

// TestLoginPageThrottles checks that the page's password checks are
// throttled (CheckPassword): repeated wrong passwords for a user end in 429
// with Retry-After and the form again, and then even the right password
// is refused unchecked; the password grant is not offered at all.
func TestLoginPageThrottles(t *testing.T) {
	f := newFixture(t)
	authURL := f.config().AuthCodeURL("state-3", oauth2.S256ChallengeOption(oauth2.GenerateVerifier()))
	page, csrf := f.loginPage(authURL)
	post := func(password string) (*http.Response, string) {
		t.Helper()
		form := url.Values{"csrf": {csrf}, "username": {"alice"}, "password": {password}, "action": {"approve"}}
		res, err := f.browser.PostForm(authURL, form)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		page = string(b)
		if res.StatusCode != http.StatusSeeOther {
			csrf = f.csrf(authURL, page) // each form carries a fresh token
		}
		return res, page
	}
	var res *http.Response
	for i := 0; i < 10; i++ {
		if res, page = post("wrong"); res.StatusCode != http.StatusOK {
			break
		}
	}
	if res.StatusCode != http.StatusTooManyRequests || res.Header.Get("Location") != "" || !strings.Contains(page, "Too many failed attempts") {
		t.Fatalf("ten wrong passwords: last answer %d %v, want 429 and the form again:\n%s", res.StatusCode, res.Header, page)
	}
	if ra, err := strconv.Atoi(res.Header.Get("Retry-After")); err != nil || ra < 1 {
		t.Errorf("Retry-After %q, want a positive number of seconds", res.Header.Get("Retry-After"))
	}
	if res, _ = post("wonderland"); res.StatusCode != http.StatusTooManyRequests {
		t.Errorf("the right password of a throttled user: %d, want 429", res.StatusCode)
	}
	// The password grant is off (WithoutPasswordGrant): a user's password
	// goes only into the page, never straight to /token (found by review:
	// it issued tokens for alice to anyone who had her password).
	res, err := f.srv.Client().PostForm(f.base+"/token", url.Values{"grant_type": {"password"}, "username": {"alice"}, "password": {"wonderland"}})
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != http.StatusBadRequest || !strings.Contains(string(b), "unsupported_grant_type") {
		t.Errorf("the password grant: %d %s, want 400 unsupported_grant_type", res.StatusCode, b)
	}
}

// TestLoginPageOverHTTPS: served over HTTPS, the CSRF cookie is a
// "__Host-" one (Secure, Path "/"), which no subdomain can plant, and the
// form's POST is checked against it (found by review: the comment said so
// and the code did not).
func TestLoginPageOverHTTPS(t *testing.T) {
	f := newServedFixture(t, true)
	browser := f.browser
	authURL := f.config().AuthCodeURL("state-tls", oauth2.S256ChallengeOption(oauth2.GenerateVerifier()))
	res, err := browser.Get(authURL)
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(res.Body)
	res.Body.Close()
	var cookie *http.Cookie
	for _, c := range res.Cookies() {
		if strings.Contains(c.Name, csrfCookie) {
			cookie = c
		}
	}
	if cookie == nil || cookie.Name != hostCSRFCookie || cookie.Path != "/" || !cookie.Secure || !cookie.HttpOnly || cookie.Domain != "" || cookie.SameSite != http.SameSiteStrictMode {
		t.Fatalf("CSRF cookie over HTTPS: %+v, want %s, Path /, Secure, HttpOnly, SameSite=Strict, no Domain", cookie, hostCSRFCookie)
	}
	csrf := f.csrf(authURL, string(page))
	wrong := url.Values{"csrf": {csrf}, "username": {"alice"}, "password": {"nope"}, "action": {"approve"}}
	if st, loc, body := f.do(browser, "POST", authURL, wrong); st != 200 || loc != "" || !strings.Contains(body, "Invalid username or password.") {
		t.Fatalf("wrong password with the __Host- cookie: %d to %q, want the form again with an error:\n%s", st, loc, body)
	}
	// A plain-named cookie, as a subdomain could plant, is not read.
	planted := url.Values{"csrf": {"planted"}, "username": {"alice"}, "password": {"wonderland"}, "action": {"approve"}}
	req, _ := http.NewRequest("POST", authURL, strings.NewReader(planted.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.AddCookie(&http.Cookie{Name: csrfCookie, Value: "planted"})
	plain := &http.Client{Transport: browser.Transport, CheckRedirect: browser.CheckRedirect}
	res, err = plain.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != 403 {
		t.Errorf("a planted %s cookie over HTTPS: %d, want 403", csrfCookie, res.StatusCode)
	}
}
