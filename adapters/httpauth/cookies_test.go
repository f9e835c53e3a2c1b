package httpauth_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/authkit-go/authkit"
	"github.com/authkit-go/authkit/adapters/httpauth"
)

func cookiesOf(r resp) map[string]*http.Cookie {
	out := map[string]*http.Cookie{}
	for _, c := range (&http.Response{Header: r.header}).Cookies() {
		out[c.Name] = c
	}
	return out
}

// jar is what a browser would send back.
type jar struct{ access, refresh, csrf string }

func (j jar) header() string {
	return "authkit_access=" + j.access + "; authkit_refresh=" + j.refresh + "; authkit_csrf=" + j.csrf
}

func cookieLogin(t *testing.T, f *fx) (jar, resp) {
	t.Helper()
	r := f.form("/token", []string{"grant_type", "password", "username", "alice", "password", "wonderland", "scope", "read"})
	if r.status != 200 {
		t.Fatalf("login: %d %s", r.status, r.body)
	}
	cs := cookiesOf(r)
	if cs["authkit_access"] == nil || cs["authkit_refresh"] == nil || cs["authkit_csrf"] == nil {
		t.Fatalf("cookies: %v", r.header["Set-Cookie"])
	}
	return jar{cs["authkit_access"].Value, cs["authkit_refresh"].Value, cs["authkit_csrf"].Value}, r
}

func TestCookieLogin(t *testing.T) {
	f := newFx(t, fxOptions{auth: []httpauth.Option{httpauth.WithCookies(httpauth.Cookies{})}})
	j, r := cookieLogin(t, f)
	cs := cookiesOf(r)
	at, rt, csrf := cs["authkit_access"], cs["authkit_refresh"], cs["authkit_csrf"]
	// The access cookie lives as long as the refresh cookie, so that a
	// browser's logout after five idle minutes still finds the session
	// (found by review: it had expired with its token).
	if !at.HttpOnly || !at.Secure || at.SameSite != http.SameSiteLaxMode || at.Path != "/" || at.MaxAge != 14*24*3600 {
		t.Errorf("access cookie %+v", at)
	}
	if !rt.HttpOnly || !rt.Secure || rt.SameSite != http.SameSiteLaxMode || rt.Path != "/token" || rt.MaxAge != 14*24*3600 {
		t.Errorf("refresh cookie %+v", rt)
	}
	if csrf.HttpOnly || !csrf.Secure || csrf.Path != "/" || len(csrf.Value) != 43 || csrf.MaxAge != 14*24*3600 {
		t.Errorf("CSRF cookie %+v", csrf)
	}
	m := r.json(t)
	if m["access_token"] != j.access || m["refresh_token"] != j.refresh {
		t.Errorf("by default the body still carries the tokens: %v", m)
	}
	if m["csrf_token"] != j.csrf {
		t.Errorf("the body's csrf_token %v, want the CSRF cookie's value %q", m["csrf_token"], j.csrf)
	}
	if j2, _ := cookieLogin(t, f); j2.csrf == j.csrf {
		t.Error("CSRF token reused across logins")
	}
}

func TestCookieTransport(t *testing.T) {
	f := newFx(t, fxOptions{auth: []httpauth.Option{httpauth.WithCookies(httpauth.Cookies{})}})
	j, _ := cookieLogin(t, f)
	ck := j.header()

	if r := f.do("GET", "/api/me", "", "Cookie", ck); r.status != 200 || r.body != "alice jwt [read]" {
		t.Errorf("GET by cookie: %d %s", r.status, r.body)
	}
	for _, m := range []string{"HEAD", "OPTIONS"} {
		if r := f.do(m, "/api/me", "", "Cookie", ck); r.status != 200 {
			t.Errorf("%s by cookie without CSRF: %d", m, r.status)
		}
	}
	expect(t, f.do("GET", "/api/me?access_token="+j.access, ""), 401, chalBare, bodyNoCreds)

	csrfRefused := []struct {
		name string
		hdr  []string
	}{
		{"no CSRF header", []string{"Cookie", ck}},
		{"wrong CSRF header", []string{"Cookie", ck, "X-CSRF-Token", strings.Repeat("A", 43)}},
		{"empty CSRF header", []string{"Cookie", ck, "X-CSRF-Token", ""}},
		{"two CSRF headers", []string{"Cookie", ck, "X-CSRF-Token", j.csrf, "X-CSRF-Token", j.csrf}},
		{"no CSRF cookie", []string{"Cookie", "authkit_access=" + j.access, "X-CSRF-Token", j.csrf}},
		{"CSRF cookie twice", []string{"Cookie", ck + "; authkit_csrf=" + j.csrf, "X-CSRF-Token", j.csrf}},
		// Equal, but empty: a cookie emptied (or planted empty from a
		// sibling domain) proves nothing.
		{"empty CSRF header and cookie", []string{"Cookie", "authkit_access=" + j.access + "; authkit_csrf=", "X-CSRF-Token", ""}},
	}
	for _, c := range csrfRefused {
		for _, m := range []string{"POST", "DELETE", "PATCH", "PUT", "PROPFIND"} {
			r := f.do(m, "/api/me", "", c.hdr...)
			expect(t, r, 403, "", bodyCSRF)
			if t.Failed() {
				t.Fatalf("%s %s", c.name, m)
			}
		}
	}
	if r := f.do("POST", "/api/me", "", "Cookie", ck, "X-CSRF-Token", j.csrf); r.status != 200 {
		t.Errorf("POST with CSRF: %d %s", r.status, r.body)
	}
	if r := f.do("POST", "/api/me", "", "Cookie", ck, "x-csrf-token", j.csrf); r.status != 200 {
		t.Errorf("header names are case-insensitive: %d", r.status)
	}
	// Optional refuses a forged cookie request too; it is not "anonymous".
	expect(t, f.do("POST", "/api/opt", "", "Cookie", ck), 403, "", bodyCSRF)
	// Nor when the cookie's token is revoked: only an expired one is no
	// credential (a revoked token is not let through as anonymous).
	jr, _ := cookieLogin(t, f)
	if err := f.iss.Revoke(t.Context(), jr.access); err != nil {
		t.Fatal(err)
	}
	expect(t, f.do("POST", "/api/opt", "", "Cookie", jr.header()), 403, "", bodyCSRF)
	if r := f.do("POST", "/api/opt", ""); r.status != 200 || r.body != "anonymous" {
		t.Errorf("anonymous POST: %d %s", r.status, r.body)
	}
	// The header wins and needs no CSRF token.
	if r := f.do("POST", "/api/me", "", append(bearer(mustToken(t, f)), "Cookie", ck)...); r.status != 200 || r.body != "alice jwt []" {
		t.Errorf("header over cookie: %d %s", r.status, r.body)
	}
	// A planted duplicate is refused rather than picked.
	expect(t, f.do("GET", "/api/me", "", "Cookie", "authkit_access=x; "+ck), 400, chalMalformed, bodyMalformed)
	expect(t, f.do("GET", "/api/me", "", "Cookie", "authkit_access=not%20a%20token"), 401, chalInvalid, bodyInvalid)
	if r := f.do("GET", "/api/me", "", "Cookie", "authkit_access="); r.status != 401 || r.body != bodyNoCreds {
		t.Errorf("empty cookie: %d %s", r.status, r.body)
	}
}

func TestCookieRefreshRevokeLogout(t *testing.T) {
	f := newFx(t, fxOptions{auth: []httpauth.Option{httpauth.WithCookies(httpauth.Cookies{})}})
	j, _ := cookieLogin(t, f)

	r := f.form("/token", []string{"grant_type", "refresh_token"}, "Cookie", j.header())
	expect(t, r, 403, "", bodyCSRF)
	r = f.form("/token", []string{"grant_type", "refresh_token"}, "Cookie", j.header(), "X-CSRF-Token", j.csrf)
	if r.status != 200 {
		t.Fatalf("cookie refresh: %d %s", r.status, r.body)
	}
	cs := cookiesOf(r)
	j2 := jar{cs["authkit_access"].Value, cs["authkit_refresh"].Value, cs["authkit_csrf"].Value}
	if r.body != `{"token_type":"Bearer","expires_in":300,"scope":"read","csrf_token":"`+j2.csrf+`"}` {
		t.Errorf("a cookie refresh must not put tokens in the body, only the new CSRF value: %s", r.body)
	}
	if j2.refresh == j.refresh || j2.access == "" {
		t.Fatalf("cookies not rotated: %v", r.header["Set-Cookie"])
	}
	// The CSRF value is the session's, kept across refreshes: a front end
	// on another site learns it only from a token response, and another
	// tab holding it must not be locked out by this tab's refresh (found
	// by review: 403 on every request, the logout included).
	if j2.csrf != j.csrf {
		t.Errorf("a cookie refresh changed the CSRF value %q to %q", j.csrf, j2.csrf)
	}
	if again, _ := cookieLogin(t, f); again.csrf == j.csrf {
		t.Error("a new login kept another session's CSRF value")
	}
	// The old refresh cookie is now a reused token: refused, cookies cleared.
	r = f.form("/token", []string{"grant_type", "refresh_token"}, "Cookie", j.header(), "X-CSRF-Token", j.csrf)
	if r.status != 400 || r.body != bodyBadRefresh || cookiesOf(r)["authkit_access"] == nil || cookiesOf(r)["authkit_access"].MaxAge >= 0 {
		t.Errorf("reused cookie: %d %s %v", r.status, r.body, r.header["Set-Cookie"])
	}

	j3, _ := cookieLogin(t, f)
	expect(t, f.form("/revoke", nil, "Cookie", j3.header()), 403, "", bodyCSRF)
	r = f.form("/revoke", nil, "Cookie", j3.header(), "X-CSRF-Token", j3.csrf)
	cs = cookiesOf(r)
	if r.status != 200 || cs["authkit_refresh"] == nil || cs["authkit_refresh"].MaxAge >= 0 || cs["authkit_refresh"].Path != "/token" {
		t.Errorf("revoke by cookie: %d %v", r.status, r.header["Set-Cookie"])
	}
	expect(t, f.do("GET", "/api/me", "", "Cookie", j3.header()), 401, chalRevoked, bodyRevoked)

	// A browser sends the refresh cookie to its Path (/token) only: its
	// logout on /revoke carries the access and CSRF cookies, and ends the
	// access cookie's session (found by review: it was 400, the session
	// alive).
	j6, _ := cookieLogin(t, f)
	browser := "authkit_access=" + j6.access + "; authkit_csrf=" + j6.csrf
	expect(t, f.form("/revoke", nil, "Cookie", browser), 403, "", bodyCSRF)
	r = f.form("/revoke", nil, "Cookie", browser, "X-CSRF-Token", j6.csrf)
	if cs := cookiesOf(r); r.status != 200 || cs["authkit_refresh"] == nil || cs["authkit_refresh"].MaxAge >= 0 || cs["authkit_access"] == nil || cs["authkit_access"].MaxAge >= 0 {
		t.Errorf("browser logout on /revoke: %d %v", r.status, r.header["Set-Cookie"])
	}
	expect(t, f.do("GET", "/api/me", "", "Cookie", browser), 401, chalRevoked, bodyRevoked)
	if r := f.form("/token", []string{"grant_type", "refresh_token", "refresh_token", j6.refresh}); r.status != 400 {
		t.Errorf("the session outlived the browser's logout: refresh %d %s", r.status, r.body)
	}
	// The same logout as fetch sends it, as docs/frameworks/nethttp.md
	// says: no body and no Content-Type (found by review: 400, the session
	// alive).
	j7, _ := cookieLogin(t, f)
	browser7 := "authkit_access=" + j7.access + "; authkit_csrf=" + j7.csrf
	expect(t, f.do("POST", "/revoke", "", "Cookie", browser7), 403, "", bodyCSRF)
	r = f.do("POST", "/revoke", "", "Cookie", browser7, "X-CSRF-Token", j7.csrf)
	if cs := cookiesOf(r); r.status != 200 || cs["authkit_access"] == nil || cs["authkit_access"].MaxAge >= 0 {
		t.Errorf("browser logout with no body: %d %s %v", r.status, r.body, r.header["Set-Cookie"])
	}
	expect(t, f.do("GET", "/api/me", "", "Cookie", browser7), 401, chalRevoked, bodyRevoked)
	// Without cookies, no body is a request that names no token.
	if r := f.do("POST", "/revoke", ""); r.status != 400 || !strings.Contains(r.body, "invalid_request") {
		t.Errorf("/revoke with no body and no cookies: %d %s", r.status, r.body)
	}
	// An access cookie that no longer verifies leaves nothing to end.
	r = f.form("/revoke", nil, "Cookie", "authkit_access=garbage; authkit_csrf="+j6.csrf, "X-CSRF-Token", j6.csrf)
	if r.status != 200 || cookiesOf(r)["authkit_access"] == nil {
		t.Errorf("logout with a dead access cookie: %d %v", r.status, r.header["Set-Cookie"])
	}

	// Revoking one's own cookie token by value clears the cookies too.
	j4, _ := cookieLogin(t, f)
	r = f.form("/revoke", []string{"token", j4.access}, "Cookie", j4.header())
	if r.status != 200 || cookiesOf(r)["authkit_access"] == nil {
		t.Errorf("revoke own access token: %d %v", r.status, r.header["Set-Cookie"])
	}
	// …and revoking another token leaves them.
	j5, _ := cookieLogin(t, f)
	r = f.form("/revoke", []string{"token", mustToken(t, f)}, "Cookie", j5.header())
	if r.status != 200 || len(r.header["Set-Cookie"]) != 0 {
		t.Errorf("revoke another token: %d %v", r.status, r.header["Set-Cookie"])
	}

	// j2's session died with the reuse above; log out with a live one.
	expect(t, f.do("GET", "/api/me", "", "Cookie", j2.header()), 401, chalRevoked, bodyRevoked)
	expect(t, f.do("POST", "/logout-all", "", "Cookie", j5.header()), 403, "", bodyCSRF)
	r = f.do("POST", "/logout-all", "", "Cookie", j5.header(), "X-CSRF-Token", j5.csrf)
	if r.status != 204 || len(cookiesOf(r)) != 3 || cookiesOf(r)["authkit_csrf"].MaxAge >= 0 {
		t.Errorf("logout-all: %d %v", r.status, r.header["Set-Cookie"])
	}
	expect(t, f.do("GET", "/api/me", "", "Cookie", j5.header()), 401, chalRevoked, bodyRevoked)
}

func TestCookieOptions(t *testing.T) {
	ck := httpauth.Cookies{
		AccessName:     "__Host-at",
		RefreshName:    "__Secure-rt",
		CSRFName:       "__Host-csrf",
		CSRFHeader:     "X-XSRF",
		RefreshPath:    "/auth/token",
		SameSite:       http.SameSiteStrictMode,
		OmitBodyTokens: true,
	}
	f := newFx(t, fxOptions{auth: []httpauth.Option{httpauth.WithCookies(ck)}})
	r := f.form("/token", []string{"grant_type", "password", "username", "alice", "password", "wonderland"})
	cs := cookiesOf(r)
	if r.status != 200 || cs["__Host-csrf"] == nil || r.body != `{"token_type":"Bearer","expires_in":300,"csrf_token":"`+cs["__Host-csrf"].Value+`"}` {
		t.Fatalf("%d %s", r.status, r.body)
	}
	if cs["__Host-at"] == nil || cs["__Secure-rt"].Path != "/auth/token" || cs["__Host-csrf"].SameSite != http.SameSiteStrictMode {
		t.Fatalf("cookies %v", r.header["Set-Cookie"])
	}
	cookie := "__Host-at=" + cs["__Host-at"].Value + "; __Host-csrf=" + cs["__Host-csrf"].Value
	if r := f.do("POST", "/api/me", "", "Cookie", cookie, "X-XSRF", cs["__Host-csrf"].Value); r.status != 200 {
		t.Errorf("custom header: %d %s", r.status, r.body)
	}
	expect(t, f.do("POST", "/api/me", "", "Cookie", cookie, "X-CSRF-Token", cs["__Host-csrf"].Value), 403, "", bodyCSRF)

	dev := newFx(t, fxOptions{auth: []httpauth.Option{httpauth.WithCookies(httpauth.Cookies{Insecure: true, Domain: "example.test"})}})
	r = dev.form("/token", []string{"grant_type", "password", "username", "alice", "password", "wonderland"})
	if c := cookiesOf(r)["authkit_access"]; c == nil || c.Secure || c.Domain != "example.test" {
		t.Errorf("insecure dev cookies: %v", r.header["Set-Cookie"])
	}
}

// Mounted under a prefix the router strips, the Handler sets, rotates and
// clears the refresh cookie on the token endpoint's URL as the browser
// sees it (/auth/token), not on the path it routes (/token).
func TestCookieRefreshPathUnderPrefix(t *testing.T) {
	f := newFx(t, fxOptions{auth: []httpauth.Option{httpauth.WithCookies(httpauth.Cookies{})}})
	mounted := http.StripPrefix("/auth", f.h)
	post := func(path, body string, hdr ...string) *httptest.ResponseRecorder {
		r := httptest.NewRequest("POST", path, strings.NewReader(body))
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		for i := 0; i+1 < len(hdr); i += 2 {
			r.Header.Set(hdr[i], hdr[i+1])
		}
		w := httptest.NewRecorder()
		mounted.ServeHTTP(w, r)
		return w
	}
	refreshCookie := func(what string, w *httptest.ResponseRecorder) *http.Cookie {
		t.Helper()
		for _, c := range w.Result().Cookies() {
			if c.Name == "authkit_refresh" {
				if c.Path != "/auth/token" {
					t.Errorf("%s: the refresh cookie's Path is %q, want /auth/token", what, c.Path)
				}
				return c
			}
		}
		t.Fatalf("%s: no refresh cookie: %d %s %v", what, w.Code, w.Body, w.Header()["Set-Cookie"])
		return nil
	}
	w := post("/auth/token", "grant_type=password&username=alice&password=wonderland&scope=read")
	rt := refreshCookie("login", w)
	var csrf string
	for _, c := range w.Result().Cookies() {
		if c.Name == "authkit_csrf" {
			csrf = c.Value
		}
	}
	w = post("/auth/token", "grant_type=refresh_token", "Cookie", "authkit_refresh="+rt.Value+"; authkit_csrf="+csrf, "X-CSRF-Token", csrf)
	if w.Code != 200 {
		t.Fatalf("refresh by cookie under /auth: %d %s", w.Code, w.Body)
	}
	rt = refreshCookie("refresh", w)
	w = post("/auth/revoke", "", "Cookie", "authkit_refresh="+rt.Value+"; authkit_csrf="+csrf, "X-CSRF-Token", csrf)
	if c := refreshCookie("revoke", w); w.Code != 200 || c.MaxAge >= 0 {
		t.Errorf("revoke by cookie under /auth: %d, cookie %+v; want 200 and the cookie cleared", w.Code, c)
	}
}

// A browser's logout with an access cookie that no longer verifies —
// revoked by its jti, or expired past the leeway — still ends the
// cookie's session, since it clears the refresh cookie too (found by
// review: 200 and cleared cookies, while the session refreshed on).
func TestCookieLogoutWithDeadAccessCookie(t *testing.T) {
	f := newFx(t, fxOptions{auth: []httpauth.Option{httpauth.WithCookies(httpauth.Cookies{})}})
	logout := func(j jar) {
		t.Helper()
		r := f.form("/revoke", nil, "Cookie", "authkit_access="+j.access+"; authkit_csrf="+j.csrf, "X-CSRF-Token", j.csrf)
		if r.status != 200 || cookiesOf(r)["authkit_refresh"] == nil {
			t.Fatalf("logout: %d %s %v", r.status, r.body, r.header["Set-Cookie"])
		}
		if r := f.form("/token", []string{"grant_type", "refresh_token", "refresh_token", j.refresh}); r.status != 400 {
			t.Errorf("the session outlived a logout that answered 200: refresh %d %s", r.status, r.body)
		}
	}
	j, _ := cookieLogin(t, f)
	if err := f.iss.Revoke(context.Background(), j.access); err != nil {
		t.Fatal(err)
	}
	logout(j)

	j, _ = cookieLogin(t, f)
	f.clock.Add(10 * time.Minute) // the access token expired; the session is live
	logout(j)

	// Another issuer's token (or garbage) still ends nothing, and is 200.
	j, _ = cookieLogin(t, f)
	forged := j.access[:len(j.access)-4] + "AAAA"
	r := f.form("/revoke", nil, "Cookie", "authkit_access="+forged+"; authkit_csrf="+j.csrf, "X-CSRF-Token", j.csrf)
	if r.status != 200 {
		t.Errorf("logout with a forged access cookie: %d %s", r.status, r.body)
	}
	if r := f.form("/token", []string{"grant_type", "refresh_token", "refresh_token", j.refresh}); r.status != 200 {
		t.Errorf("a forged access cookie ended its session: refresh %d %s", r.status, r.body)
	}
}

// The access cookie outlives its token (it lasts as long as the refresh
// cookie, so that a logout still finds the session): once the token has
// expired, Optional takes the cookie for no credential, as it took the
// cookie browsers used to drop, on safe and unsafe methods alike (found by
// review: an idle visitor's optional routes answered 401 for 14 days).
// Require still answers 401 token expired; a revoked token in the cookie
// and a live one without the CSRF header are still refused by Optional.
func TestCookieOptionalExpiredToken(t *testing.T) {
	var failed atomic.Int32
	hook := authkit.WithEventHook(func(_ context.Context, e authkit.Event) {
		if e.Type == authkit.EventAuthFailed {
			failed.Add(1)
		}
	})
	f := newFx(t, fxOptions{auth: []httpauth.Option{httpauth.WithCookies(httpauth.Cookies{})}, verifier: []authkit.Option{hook}})
	j, _ := cookieLogin(t, f)
	cookie := []string{"Cookie", j.header()}
	if r := f.do("GET", "/api/opt", "", cookie...); r.status != 200 || r.body != "alice jwt [read]" {
		t.Fatalf("a live cookie: %d %s", r.status, r.body)
	}
	if r := f.do("POST", "/api/opt", "", cookie...); r.status != http.StatusForbidden {
		t.Errorf("a live cookie without the CSRF header: %d %s, want 403", r.status, r.body)
	}
	f.clock.Add(11 * time.Minute) // past the 5-minute token and the longest leeway
	for _, m := range []string{"GET", "POST"} {
		if r := f.do(m, "/api/opt", "", cookie...); r.status != 200 || r.body != "anonymous" {
			t.Errorf("%s with an expired token in the cookie: %d %s, want anonymous", m, r.status, r.body)
		}
	}
	if r := f.do("POST", "/api/opt", "", append(cookie, "X-CSRF-Token", j.csrf)...); r.status != 200 || r.body != "anonymous" {
		t.Errorf("POST with the CSRF header and an expired token in the cookie: %d %s, want anonymous", r.status, r.body)
	}
	// Nothing reported for a cookie past its token's expiry: an idle
	// visitor's browser sends it with every request (found by review).
	if n := failed.Load(); n != 0 {
		t.Errorf("an expired token in the cookie reported %d auth_failed events, want none", n)
	}
	if r := f.do("GET", "/api/me", "", cookie...); r.status != http.StatusUnauthorized || !strings.Contains(r.body, "expired") {
		t.Errorf("Require with an expired token in the cookie: %d %s, want 401 token expired", r.status, r.body)
	}
	// Only expiry: a revoked token in the cookie is still refused.
	g := newFx(t, fxOptions{auth: []httpauth.Option{httpauth.WithCookies(httpauth.Cookies{})}})
	k, _ := cookieLogin(t, g)
	if err := g.iss.Revoke(context.Background(), k.access); err != nil {
		t.Fatal(err)
	}
	if r := g.do("GET", "/api/opt", "", "Cookie", k.header()); r.status != http.StatusUnauthorized {
		t.Errorf("Optional with a revoked token in the cookie: %d %s, want 401", r.status, r.body)
	}
}
