package main

import (
	"bufio"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/authkit-go/authkit"
	"github.com/authkit-go/authkit/backends/memory"
	"github.com/authkit-go/authkit/internal/testservers"
	"github.com/authkit-go/authkit/internal/throttle"
	"github.com/authkit-go/authkit/issuer"
	"github.com/authkit-go/authkit/keys"
	"github.com/authkit-go/authkit/verifier"
)

// curlPath is the curl binary the flows are driven with, or the test
// skips (fails under AUTHKIT_REQUIRE_BACKENDS=1).
func curlPath(t *testing.T) string {
	t.Helper()
	if fi, err := os.Stat("/usr/bin/curl"); err == nil && !fi.IsDir() {
		return "/usr/bin/curl"
	}
	if p, err := exec.LookPath("curl"); err == nil {
		return p
	}
	if os.Getenv(testservers.RequireEnv) == "1" {
		t.Fatalf("curl is not installed (%s=1: a missing tool is a failure)", testservers.RequireEnv)
	}
	t.Skip("curl is not installed: install curl to run this test (set AUTHKIT_REQUIRE_BACKENDS=1 to make this a failure)")
	return ""
}

// curlResponse is what curl -i printed, parsed.
type curlResponse struct {
	status int
	header http.Header
	body   string
}

// json decodes the body as a JSON object.
func (r curlResponse) json(t *testing.T) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal([]byte(r.body), &m); err != nil {
		t.Fatalf("body is not JSON (%v): %d %s", err, r.status, r.body)
	}
	return m
}

func (r curlResponse) want(t *testing.T, what string, status int) curlResponse {
	t.Helper()
	if r.status != status {
		t.Fatalf("%s: status %d, want %d\n%v\n%s", what, r.status, status, r.header, r.body)
	}
	return r
}

// runCurl runs curl -sS -i ARGS… (it never follows redirects) and parses
// the response it prints.
func runCurl(t *testing.T, curl string, args ...string) curlResponse {
	t.Helper()
	cmd := exec.CommandContext(t.Context(), curl, append([]string{"-sS", "-i", "--max-time", "10"}, args...)...)
	cmd.Env = []string{"PATH=/usr/bin:/bin", "HOME=" + t.TempDir()} // no proxy, no ~/.curlrc
	out, err := cmd.Output()
	if err != nil {
		var stderr []byte
		if ee, ok := err.(*exec.ExitError); ok {
			stderr = ee.Stderr
		}
		t.Fatalf("curl %s: %v\n%s", strings.Join(args, " "), err, stderr)
	}
	res, err := http.ReadResponse(bufio.NewReader(strings.NewReader(string(out))), nil)
	if err != nil {
		t.Fatalf("curl %s printed no HTTP response (%v):\n%s", strings.Join(args, " "), err, out)
	}
	defer res.Body.Close()
	body, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	return curlResponse{status: res.StatusCode, header: res.Header, body: string(body)}
}

var csrfRE = regexp.MustCompile(`name="csrf_token" value="([A-Za-z0-9_-]{43})"`)

func str(m map[string]any, k string) string { s, _ := m[k].(string); return s }

// TestAuthorizeCurl runs, with the curl binary against authkit serve on a
// SQLite store, a confidential client's client_credentials grant and a
// public client's authorization-code flow with PKCE through serve's login
// page: the page's CSRF protection, a wrong password (counted in the
// password grant's throttle counters), the approval's redirect (code,
// state, iss), the code exchange, a protected route, a refresh, a second
// exchange of the code (refused, and the session it started revoked), a
// denial, and a throttled login.
func TestAuthorizeCurl(t *testing.T) {
	t.Parallel()
	curl := curlPath(t)
	store := migratedSQLite(t)
	const redirect = "http://127.0.0.1:1/cb"
	const appName = `Shop <b>"&'`

	var public struct {
		ID     string `json:"client_id"`
		Secret string `json:"client_secret"`
	}
	r := clientsCLI(t, store, "add", appName, "--id", "shop", "--grant", "authorization_code", "--grant", "refresh_token",
		"--redirect-uri", redirect, "--public", "--scope", "read", "--scope", "write", "--json")
	r.must(t, exitOK, nil, nil)
	if err := json.Unmarshal([]byte(r.stdout), &public); err != nil || public.ID != "shop" || public.Secret != "" {
		t.Fatalf("add --public --json: %v\n%s", err, r.stdout)
	}
	var conf struct {
		ID     string `json:"client_id"`
		Secret string `json:"client_secret"`
	}
	r = clientsCLI(t, store, "add", "Billing", "--id", "billing", "--grant", "client_credentials", "--scope", "read", "--json")
	r.must(t, exitOK, nil, nil)
	if err := json.Unmarshal([]byte(r.stdout), &conf); err != nil || conf.Secret == "" {
		t.Fatalf("add --json: %v\n%s", err, r.stdout)
	}

	// Revocations are checked in the store at once (no mirror lag).
	s := startServe(t, "", "--store", store, "--scopes", "read,write", "--revocation-mirror", "off")
	m := passwordRE.FindStringSubmatch(s.stdout.String())
	if m == nil {
		t.Fatalf("no demo password in:\n%s", s.stdout)
	}
	password := m[1]
	me := func(access string) curlResponse {
		return runCurl(t, curl, "-H", "Authorization: Bearer "+access, s.base+"/me")
	}

	// client_credentials, as docs/cli.md shows it.
	tok := runCurl(t, curl, "-u", conf.ID+":"+conf.Secret, "-d", "grant_type=client_credentials", s.base+"/token").
		want(t, "client_credentials", 200).json(t)
	if str(tok, "access_token") == "" || str(tok, "refresh_token") != "" || str(tok, "scope") != "read" {
		t.Fatalf("client_credentials: %v", tok)
	}
	if p := me(str(tok, "access_token")).want(t, "/me with the client's token", 200).json(t); str(p, "subject") != "billing" {
		t.Errorf("/me: %v", p)
	}

	// The authorization request, with PKCE.
	vb := make([]byte, 32)
	rand.Read(vb)
	verifier := base64.RawURLEncoding.EncodeToString(vb)
	sum := sha256.Sum256([]byte(verifier))
	challenge := base64.RawURLEncoding.EncodeToString(sum[:])
	state := "st-" + rand.Text()
	authorize := s.base + "/authorize?" + url.Values{
		"response_type": {"code"}, "client_id": {public.ID}, "redirect_uri": {redirect}, "state": {state},
		"code_challenge": {challenge}, "code_challenge_method": {"S256"}, "scope": {"read"},
	}.Encode()
	jar := filepath.Join(t.TempDir(), "cookies.txt")

	page := runCurl(t, curl, "-c", jar, "-b", jar, authorize).want(t, "GET /authorize", 200)
	for k, v := range map[string]string{"Content-Type": "text/html; charset=utf-8", "Cache-Control": "no-store", "X-Frame-Options": "DENY"} {
		if page.header.Get(k) != v {
			t.Errorf("login page %s: %q, want %q", k, page.header.Get(k), v)
		}
	}
	if csp := page.header.Get("Content-Security-Policy"); !strings.Contains(csp, "default-src 'none'") || !strings.Contains(csp, "frame-ancestors 'none'") {
		t.Errorf("login page CSP %q", csp)
	}
	cookie := page.header.Get("Set-Cookie")
	for _, want := range []string{csrfCookie + "=", "Path=/authorize", "HttpOnly", "SameSite=Strict"} {
		if !strings.Contains(cookie, want) {
			t.Errorf("CSRF cookie %q lacks %s", cookie, want)
		}
	}
	if strings.Contains(cookie, "Secure") {
		t.Errorf("CSRF cookie %q is Secure on plain HTTP with an http issuer", cookie)
	}
	// The client's name is escaped, and the scope asked for is named.
	if !strings.Contains(page.body, `Shop &lt;b&gt;&#34;&amp;&#39;`) || strings.Contains(page.body, appName) ||
		!strings.Contains(page.body, "<code>read</code>") || strings.Contains(page.body, "<code>write</code>") {
		t.Errorf("login page does not name the client (escaped) and the scope read:\n%s", page.body)
	}
	cm := csrfRE.FindStringSubmatch(page.body)
	if cm == nil {
		t.Fatalf("no CSRF field in the login page:\n%s", page.body)
	}
	csrf := cm[1]
	post := func(withJar bool, token, action, user, pass string) curlResponse {
		t.Helper()
		args := []string{"--data-urlencode", "csrf_token=" + token, "-d", "action=" + action,
			"--data-urlencode", "username=" + user, "--data-urlencode", "password=" + pass}
		if withJar {
			args = append(args, "-b", jar, "-c", jar)
		}
		return runCurl(t, curl, append(args, authorize)...)
	}

	// CSRF: a wrong token, or the right one without the cookie, is refused
	// before the password is looked at.
	wrong := csrf[:len(csrf)-1] + "A"
	if csrf[len(csrf)-1] == 'A' {
		wrong = csrf[:len(csrf)-1] + "B"
	}
	for what, res := range map[string]curlResponse{
		"a wrong CSRF token":    post(true, wrong, "approve", "demo", password),
		"no CSRF token":         post(true, "", "approve", "demo", password),
		"no CSRF cookie":        post(false, csrf, "approve", "demo", password),
		"deny with a bad token": post(true, wrong, "deny", "", ""),
	} {
		if res.status != http.StatusForbidden || res.header.Get("Location") != "" || csrfRE.MatchString(res.body) {
			t.Errorf("%s: %d, Location %q\n%s", what, res.status, res.header.Get("Location"), res.body)
		}
	}
	// A form over the 16 KiB the page reads (cli.md) is refused unread.
	if res := post(true, csrf, "approve", "demo", strings.Repeat("p", 17<<10)); res.status != http.StatusRequestEntityTooLarge || res.header.Get("Location") != "" {
		t.Errorf("a 17 KiB login form: %d, Location %q; want 413", res.status, res.header.Get("Location"))
	}

	// The page counts password failures where the password grant does:
	// in the store's throttle counters, under the same keys.
	st, err := openStore(t.Context(), store, false, discardLog)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.close() })
	lim, err := throttle.New(st.store.(authkit.ThrottleStore), throttle.DefaultPolicy())
	if err != nil {
		t.Fatal(err)
	}
	demo := throttle.Attempt{User: "demo", Addr: netip.MustParseAddr("127.0.0.1")}
	pairFailures := func() int64 {
		t.Helper()
		d, err := lim.Check(t.Context(), demo, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		return d.PairFailures
	}

	// A wrong password and an unknown user get the same page again, 401.
	bad := post(true, csrf, "approve", "demo", password+"x").want(t, "a wrong password", 401)
	unknown := post(true, csrf, "approve", "nobody", password).want(t, "an unknown user", 401)
	for _, res := range []curlResponse{bad, unknown} {
		if !strings.Contains(res.body, "Incorrect username or password.") || res.header.Get("Location") != "" || csrfRE.FindStringSubmatch(res.body)[1] != csrf {
			t.Errorf("a refused login:\n%s", res.body)
		}
	}
	if strings.ReplaceAll(bad.body, `value="demo"`, "") != strings.ReplaceAll(unknown.body, `value="nobody"`, "") {
		t.Errorf("a wrong password and an unknown user answer differently:\n%s\n----\n%s", bad.body, unknown.body)
	}

	if n := pairFailures(); n != 1 {
		t.Errorf("after one wrong password the (demo, 127.0.0.1) throttle counter is %d, want 1", n)
	}
	// The failures are audited as the page's, by httpauth.
	if !regexp.MustCompile(`event=login_failed subject=demo method=authorize_login`).MatchString(s.stderr.String()) {
		t.Errorf("no login_failed audit record of the page for demo:\n%s", s.stderr)
	}

	// The right password: a redirect to the client with the code, the
	// state and iss, not followed.
	ok := post(true, csrf, "approve", "demo", password).want(t, "approve", http.StatusSeeOther)
	loc, err := url.Parse(ok.header.Get("Location"))
	if err != nil || loc.Scheme+"://"+loc.Host+loc.Path != redirect {
		t.Fatalf("approve: Location %q (%v)", ok.header.Get("Location"), err)
	}
	q := loc.Query()
	code := q.Get("code")
	if code == "" || q.Get("state") != state || q.Get("iss") != "authkit" || q.Get("error") != "" {
		t.Fatalf("approve: redirect query %v", q)
	}

	// A success clears no counter (another account whose name folds
	// alike would clear this one's too; see internal/throttle).
	if n := pairFailures(); n != 1 {
		t.Errorf("after the right password the pair's counter is %d, want 1", n)
	}

	// The exchange, as a public client: client_id, no secret.
	exchange := func() curlResponse {
		return runCurl(t, curl, "-d", "grant_type=authorization_code", "--data-urlencode", "code="+code,
			"-d", "code_verifier="+verifier, "--data-urlencode", "redirect_uri="+redirect, "-d", "client_id="+public.ID, s.base+"/token")
	}
	pair := exchange().want(t, "the code exchange", 200).json(t)
	if str(pair, "access_token") == "" || str(pair, "refresh_token") == "" || str(pair, "scope") != "read" || str(pair, "token_type") != "Bearer" {
		t.Fatalf("code exchange: %v", pair)
	}
	p := me(str(pair, "access_token")).want(t, "/me with the code's token", 200).json(t)
	if str(p, "subject") != "demo" || str(p, "client_id") != public.ID || p["scopes"] == nil || len(p["scopes"].([]any)) != 1 || p["scopes"].([]any)[0] != "read" {
		t.Errorf("/me: %v", p)
	}

	// Refresh, as the public client.
	refreshed := runCurl(t, curl, "-d", "grant_type=refresh_token", "--data-urlencode", "refresh_token="+str(pair, "refresh_token"),
		"-d", "client_id="+public.ID, s.base+"/token").want(t, "refresh", 200).json(t)
	if str(refreshed, "access_token") == "" || str(refreshed, "refresh_token") == "" || str(refreshed, "refresh_token") == str(pair, "refresh_token") {
		t.Fatalf("refresh: %v", refreshed)
	}
	me(str(refreshed, "access_token")).want(t, "/me with the refreshed token", 200)

	// A second exchange of the code is refused, and ends the session its
	// first exchange started.
	if e := exchange().want(t, "a second exchange", 400).json(t); str(e, "error") != "invalid_grant" {
		t.Errorf("a second exchange: %v", e)
	}
	me(str(refreshed, "access_token")).want(t, "/me after the code's reuse", 401)
	runCurl(t, curl, "-d", "grant_type=refresh_token", "--data-urlencode", "refresh_token="+str(refreshed, "refresh_token"),
		"-d", "client_id="+public.ID, s.base+"/token").want(t, "refresh after the code's reuse", 400)

	// Deny: back to the client with access_denied and the state.
	page = runCurl(t, curl, "-c", jar, "-b", jar, authorize).want(t, "GET /authorize again", 200)
	if cm = csrfRE.FindStringSubmatch(page.body); cm == nil || cm[1] != csrf || page.header.Get("Set-Cookie") != "" {
		t.Errorf("the page does not reuse its CSRF cookie: %v, Set-Cookie %q", cm, page.header.Get("Set-Cookie"))
	}
	denied := post(true, csrf, "deny", "", "").want(t, "deny", http.StatusSeeOther)
	if loc, err := url.Parse(denied.header.Get("Location")); err != nil || loc.Query().Get("error") != "access_denied" ||
		loc.Query().Get("state") != state || loc.Query().Get("code") != "" {
		t.Errorf("deny: Location %q", denied.header.Get("Location"))
	}

	// A throttled user: the page refuses the right password unchecked (429
	// with Retry-After), as the password grant does over the same counters.
	for range 10 {
		if err := lim.Failure(t.Context(), demo, time.Now()); err != nil {
			t.Fatal(err)
		}
	}
	throttled := post(true, csrf, "approve", "demo", password).want(t, "a throttled login", http.StatusTooManyRequests)
	if throttled.header.Get("Retry-After") == "" || throttled.header.Get("Location") != "" || !strings.Contains(throttled.body, "Too many attempts") {
		t.Errorf("a throttled login: %v\n%s", throttled.header, throttled.body)
	}
	runCurl(t, curl, "-d", "grant_type=password", "-d", "username=demo", "--data-urlencode", "password="+password, s.base+"/token").
		want(t, "the password grant of a user throttled by the page's counters", http.StatusTooManyRequests)
	if !regexp.MustCompile(`event=throttled subject=demo method=authorize_login`).MatchString(s.stderr.String()) {
		t.Errorf("no throttled audit record of the page for demo:\n%s", s.stderr)
	}
}

// downThrottle is a throttle store that cannot answer.
type downThrottle struct{}

var errThrottleDown = fmt.Errorf("test: %w", authkit.ErrStoreUnavailable)

func (downThrottle) AddFailure(context.Context, string, time.Time, time.Duration) (authkit.ThrottleState, error) {
	return authkit.ThrottleState{}, errThrottleDown
}
func (downThrottle) ThrottleStates(context.Context, time.Time, ...string) ([]authkit.ThrottleState, error) {
	return nil, errThrottleDown
}
func (downThrottle) ClearThrottle(context.Context, string) error { return errThrottleDown }
func (downThrottle) DeleteExpiredThrottles(context.Context, time.Time, int) (int, error) {
	return 0, errThrottleDown
}

// TestAuthorizeThrottleUnavailable checks that the login page fails
// closed: when the throttle store cannot answer, even the right password
// is answered 503 with Retry-After, and no code is issued.
func TestAuthorizeThrottleUnavailable(t *testing.T) {
	t.Parallel()
	const redirect = "http://127.0.0.1:1/cb"
	h, password := authorizeServer(t, authkit.Client{ID: "app", GrantTypes: []string{authkit.GrantAuthorizationCode},
		RedirectURIs: []string{redirect}, CreatedAt: time.Now()}, nil, wiring{store: downThrottle{}})
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	browser := &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	sum := sha256.Sum256([]byte(strings.Repeat("v", 43)))
	authorize := srv.URL + "/authorize?" + url.Values{"response_type": {"code"}, "client_id": {"app"}, "redirect_uri": {redirect},
		"state": {"s"}, "code_challenge": {base64.RawURLEncoding.EncodeToString(sum[:])}, "code_challenge_method": {"S256"}}.Encode()
	_, csrf := getLoginPage(t, browser, authorize)
	res, err := browser.PostForm(authorize, url.Values{"csrf_token": {csrf}, "action": {"approve"}, "username": {"demo"}, "password": {password}})
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != http.StatusServiceUnavailable || res.Header.Get("Retry-After") != "1" || res.Header.Get("Location") != "" ||
		!strings.Contains(string(body), "cannot check passwords") {
		t.Errorf("the right password with the throttle store down: %d %v\n%s\nwant 503 with Retry-After and no redirect", res.StatusCode, res.Header, body)
	}
}

// Behind HTTPS the login page's CSRF cookie is a "__Host-" cookie (Secure,
// Path "/"), which no sibling subdomain can set; over plain HTTP it is
// scoped to the path the page was asked for, /authorize (or the same under
// --issuer's path). Either way the form must repeat it.
func TestAuthorizeCSRFCookie(t *testing.T) {
	for _, secure := range []bool{false, true} {
		p := &loginPage{secure: secure}
		w := httptest.NewRecorder()
		tok := p.csrfToken(w, httptest.NewRequest("GET", "/authorize?x=1", nil))
		cs := w.Result().Cookies()
		if len(cs) != 1 {
			t.Fatalf("secure=%v: %d cookies set", secure, len(cs))
		}
		c := cs[0]
		wantName, wantPath := csrfCookie, "/authorize"
		if secure {
			wantName, wantPath = "__Host-"+csrfCookie, "/"
		}
		if c.Name != wantName || c.Path != wantPath || c.Secure != secure || !c.HttpOnly || c.SameSite != http.SameSiteStrictMode || c.Value != tok {
			t.Errorf("secure=%v: cookie %+v, want %s at %s", secure, c, wantName, wantPath)
		}
		post := func(cookieName, field string) bool {
			r := httptest.NewRequest("POST", "/authorize?x=1", strings.NewReader(url.Values{csrfField: {field}}.Encode()))
			r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			r.AddCookie(&http.Cookie{Name: cookieName, Value: tok})
			if err := r.ParseForm(); err != nil {
				t.Fatal(err)
			}
			return p.csrfOK(r)
		}
		if !post(wantName, tok) {
			t.Errorf("secure=%v: the matching token was refused", secure)
		}
		other := "__Host-" + csrfCookie
		if secure {
			other = csrfCookie
		}
		if post(other, tok) || post(wantName, strings.Repeat("A", len(tok))) {
			t.Errorf("secure=%v: a token under the other cookie name, or a different token, was accepted", secure)
		}
	}
	// Over plain HTTP the path is the page's as the browser asked for it
	// (under --issuer's path), cut before a ";", which a cookie's Path
	// cannot hold (found by review: net/http dropped the byte, and the
	// cookie never came back with the form).
	for target, want := range map[string]string{
		"/auth/authorize?x=1":  "/auth/authorize",
		"/a%20b/authorize?x=1": "/a%20b/authorize",
		"/x;y/authorize?x=1":   "/",
		"/a/x;y/authorize?x=1": "/a/",
	} {
		w := httptest.NewRecorder()
		(&loginPage{}).csrfToken(w, httptest.NewRequest("GET", target, nil))
		if cs := w.Result().Cookies(); len(cs) != 1 || cs[0].Path != want {
			t.Errorf("the CSRF cookie of a page at %s: %+v, want Path %s", target, cs, want)
		}
	}
}

// A request that asks only for scopes serve does not grant gets a message
// saying so, not a form whose approval always fails with invalid_scope
// after the password was typed (found by review); one that asks for some
// that are granted gets the form, naming the others.
func TestAuthorizeNoScopeGrantable(t *testing.T) {
	t.Parallel()
	const redirect = "http://127.0.0.1:1/cb"
	h, _ := authorizeServer(t, authkit.Client{ID: "app", GrantTypes: []string{authkit.GrantAuthorizationCode},
		Scopes: []string{"read", "write"}, RedirectURIs: []string{redirect}, CreatedAt: time.Now()}, []string{"read"}, wiring{})
	sum := sha256.Sum256([]byte(strings.Repeat("v", 43)))
	get := func(scope string) (int, string) {
		target := "/authorize?" + url.Values{"response_type": {"code"}, "client_id": {"app"}, "redirect_uri": {redirect}, "scope": {scope},
			"state": {"s"}, "code_challenge": {base64.RawURLEncoding.EncodeToString(sum[:])}, "code_challenge_method": {"S256"}}.Encode()
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest("GET", target, nil))
		return rec.Code, rec.Body.String()
	}
	code, page := get("write")
	if code != http.StatusBadRequest || strings.Contains(page, "<form") || !strings.Contains(page, "does not grant (write)") {
		t.Errorf("asking only for a scope serve does not grant: %d\n%s\nwant 400 and a message without a form", code, page)
	}
	code, page = get("read write")
	if code != http.StatusOK || !strings.Contains(page, "<form") || !strings.Contains(page, "<code>write</code>") {
		t.Errorf("asking for one scope serve grants and one it does not: %d\n%s\nwant the form naming write as not granted", code, page)
	}
}

// authorizeServer is serve's HTTP layer on a memory store holding client,
// with the demo user (whose password it returns), --scopes scopes and w
// (its clients set to the store).
func authorizeServer(t *testing.T, client authkit.Client, scopes []string, w wiring) (http.Handler, string) {
	t.Helper()
	set, err := throwawayKeys()
	if err != nil {
		t.Fatal(err)
	}
	ms := memory.New()
	opts := []authkit.Option{authkit.WithKeys(set), authkit.WithStore(ms)}
	iss, err := issuer.New(opts...)
	if err != nil {
		t.Fatal(err)
	}
	v, err := verifier.New(opts...)
	if err != nil {
		t.Fatal(err)
	}
	users, password, err := loadUsers(cheapHashing(t.Context()), "")
	if err != nil {
		t.Fatal(err)
	}
	users.scopes = scopes
	if err := ms.CreateClient(t.Context(), client); err != nil {
		t.Fatal(err)
	}
	w.clients = ms
	_, h, err := newEndpoints(iss, v, users, discardLog, w)
	if err != nil {
		t.Fatal(err)
	}
	return h, password
}

// getLoginPage GETs the login page at url with browser (which keeps its
// cookies) and returns the answer and the page's CSRF token, failing t
// unless it is the form.
func getLoginPage(t *testing.T, browser *http.Client, url string) (*http.Response, string) {
	t.Helper()
	res, err := browser.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(res.Body)
	res.Body.Close()
	cm := csrfRE.FindSubmatch(page)
	if res.StatusCode != 200 || cm == nil {
		t.Fatalf("login page %s: %d\n%s", url, res.StatusCode, page)
	}
	return res, string(cm[1])
}

// The login page takes an issuer whose scheme is written in capitals for
// https too (found by review: "HTTPS://auth.example.com" made the CSRF
// cookie plain, while metadata and the plain-HTTP warning took it for
// https).
func TestLoginPageSecureIssuerAnyCase(t *testing.T) {
	k, err := keys.Generate(keys.EdDSA)
	if err != nil {
		t.Fatal(err)
	}
	set, _ := keys.NewSet(k)
	for id, want := range map[string]bool{"HTTPS://auth.example.com": true, "https://auth.example.com": true, "Https://a.example": true, "http://127.0.0.1:8080": false, "authkit": false} {
		iss, err := issuer.New(authkit.WithKeys(set), authkit.WithIssuer(id))
		if err != nil {
			t.Fatal(err)
		}
		if got := newLoginPage(iss, nil, slog.New(slog.DiscardHandler)).secure; got != want {
			t.Errorf("issuer %q: the login page's cookie is secure %v, want %v", id, got, want)
		}
	}
}
