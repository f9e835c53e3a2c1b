package httpauth_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"testing"

	"github.com/authkit-go/authkit"
	"github.com/authkit-go/authkit/adapters/httpauth"
)

// A browser's token request from another site is refused in cookie mode
// (login CSRF: a forged form POST would log the victim in as the
// attacker), before any grant is tried and without a cookie; requests
// from the same origin or site, or without browser headers, get tokens.
func TestCookieTokenCrossSite(t *testing.T) {
	f := newFx(t, fxOptions{auth: []httpauth.Option{httpauth.WithCookies(httpauth.Cookies{})}})
	host := f.srv.Listener.Addr().String()
	login := []string{"grant_type", "password", "username", "alice", "password", "wonderland"}

	refused := map[string][]string{
		"Sec-Fetch-Site cross-site":            {"Sec-Fetch-Site", "cross-site"},
		"Sec-Fetch-Site cross-site, same host": {"Sec-Fetch-Site", "cross-site", "Origin", "http://" + host},
		"Sec-Fetch-Site unknown":               {"Sec-Fetch-Site", "elsewhere"},
		"two Sec-Fetch-Site":                   {"Sec-Fetch-Site", "same-origin", "Sec-Fetch-Site", "cross-site"},
		"Origin of another host":               {"Origin", "https://evil.example"},
		"Origin of another port":               {"Origin", "http://127.0.0.1:1"},
		"Origin null":                          {"Origin", "null"},
		"Origin garbage":                       {"Origin", "http://" + host + "/path"},
		"two Origins":                          {"Origin", "http://" + host, "Origin", "https://evil.example"},
	}
	for name, hdr := range refused {
		r := f.form("/token", login, hdr...)
		if r.status != 403 || r.body != bodyCSRF || challenges(r.header) != "" {
			t.Errorf("%s: %d %s %q, want 403 %s", name, r.status, r.body, challenges(r.header), bodyCSRF)
		}
		if sc := r.header.Values("Set-Cookie"); len(sc) != 0 {
			t.Errorf("%s: cookies set on refusal: %v", name, sc)
		}
	}
	// No session was opened by the refused requests.
	if ss, err := f.store.ListSessions(context.Background(), "alice", f.clock.Now()); err != nil || len(ss) != 0 {
		t.Errorf("sessions after refused logins: %d, %v", len(ss), err)
	}

	allowed := map[string][]string{
		"no browser headers":         nil,
		"Sec-Fetch-Site same-origin": {"Sec-Fetch-Site", "same-origin", "Origin", "https://evil.example"},
		"Sec-Fetch-Site same-site":   {"Sec-Fetch-Site", "same-site"},
		"Sec-Fetch-Site none":        {"Sec-Fetch-Site", "none"},
		"Origin of this host":        {"Origin", "http://" + host},
		"Origin of this host, https": {"Origin", "https://" + host}, // behind a proxy ending TLS
	}
	for name, hdr := range allowed {
		r := f.form("/token", login, hdr...)
		if r.status != 200 || cookiesOf(r)["authkit_access"] == nil {
			t.Errorf("%s: %d %s %v", name, r.status, r.body, r.header.Values("Set-Cookie"))
		}
	}

	// The refresh grant likewise, and a refused refresh leaves the refresh
	// token unspent.
	j, _ := cookieLogin(t, f)
	refresh := []string{"grant_type", "refresh_token"}
	ck := []string{"Cookie", j.header(), "X-CSRF-Token", j.csrf}
	r := f.form("/token", refresh, append(ck, "Sec-Fetch-Site", "cross-site")...)
	expect(t, r, 403, "", bodyCSRF)
	if len(r.header.Values("Set-Cookie")) != 0 {
		t.Errorf("cookies set on a refused refresh: %v", r.header.Values("Set-Cookie"))
	}
	r = f.form("/token", []string{"grant_type", "refresh_token", "refresh_token", j.refresh}, "Origin", "https://evil.example")
	expect(t, r, 403, "", bodyCSRF)
	if r := f.form("/token", refresh, ck...); r.status != 200 {
		t.Errorf("refresh after the refused ones: %d %s", r.status, r.body)
	}
}

// Without cookies, the token endpoint sets none and does not look at
// browser headers.
func TestTokenCrossSiteWithoutCookies(t *testing.T) {
	f := newFx(t, fxOptions{})
	r := f.form("/token", []string{"grant_type", "password", "username", "alice", "password", "wonderland"}, "Sec-Fetch-Site", "cross-site", "Origin", "https://spa.example")
	if r.status != 200 {
		t.Errorf("bearer-mode token request from another site: %d %s", r.status, r.body)
	}
}

// TrustedOrigins admits a single-page application served from another
// site, and only it.
func TestCookieTrustedOrigins(t *testing.T) {
	f := newFx(t, fxOptions{auth: []httpauth.Option{httpauth.WithCookies(httpauth.Cookies{
		SameSite: http.SameSiteNoneMode, TrustedOrigins: []string{"https://SPA.example", "http://localhost:5173"}})}})
	login := []string{"grant_type", "password", "username", "alice", "password", "wonderland"}
	for _, o := range []string{"https://spa.example", "https://SPA.EXAMPLE", "http://localhost:5173"} {
		r := f.form("/token", login, "Sec-Fetch-Site", "cross-site", "Origin", o)
		if r.status != 200 || cookiesOf(r)["authkit_access"] == nil {
			t.Errorf("trusted origin %s: %d %s", o, r.status, r.body)
		}
	}
	for _, o := range []string{"https://spa.example.evil", "http://spa.example", "https://spa.example:444", "null"} {
		r := f.form("/token", login, "Sec-Fetch-Site", "cross-site", "Origin", o)
		expect(t, r, 403, "", bodyCSRF)
		if len(r.header.Values("Set-Cookie")) != 0 {
			t.Errorf("origin %s: cookies set on refusal", o)
		}
	}

	for _, bad := range []string{"", "spa.example", "https://spa.example/", "https://spa.example/x", "https://u@spa.example",
		"https://spa.example?x", "https://spa.example#f", "ftp://spa.example", "null", "https://", "file://host", "FILE://host",
		"data://x", "blob://x", "ws://spa.example", "wss://spa.example", "javascript://x", "capacitor://", "capacitor:localhost",
		"chrome-extension://id/", "1app://x", "https://*.spa.example", "https://bücher.example", "https://spa.example:",
		"https://spa.example:08443", "https://spa.example:65536"} {
		_, err := httpauth.New(f.ver, httpauth.WithCookies(httpauth.Cookies{TrustedOrigins: []string{bad}}))
		if !errors.Is(err, authkit.ErrInvalidConfig) {
			t.Errorf("TrustedOrigins %q: %v, want ErrInvalidConfig", bad, err)
		}
	}
	for _, good := range []string{"https://[::1]:8443", "https://xn--bcher-kva.example", "http://127.0.0.1:65535", "https://My-App_1.Example",
		"http://[2001:db8::1]:8080", "http://[::ffff:7f00:1]", "http://localhost:5173", "https://1password.example", "https://app.example.",
		"capacitor://localhost", "chrome-extension://abcdefghijklmnopabcdefghijklmnop"} {
		if _, err := httpauth.New(f.ver, httpauth.WithCookies(httpauth.Cookies{TrustedOrigins: []string{good}})); err != nil {
			t.Errorf("TrustedOrigins %q: %v", good, err)
		}
	}
}

// A front end on a trusted other site cannot read the API's CSRF cookie
// (document.cookie shows its own site's cookies only), so it takes the
// value from the token response's body, and with it refreshes and logs
// out. Found by review: it could log in, then never refresh nor log out.
func TestCookieTrustedOriginCSRFFromBody(t *testing.T) {
	f := newFx(t, fxOptions{auth: []httpauth.Option{httpauth.WithCookies(httpauth.Cookies{
		SameSite: http.SameSiteNoneMode, TrustedOrigins: []string{"https://spa.example"}, OmitBodyTokens: true})}})
	site := []string{"Sec-Fetch-Site", "cross-site", "Origin", "https://spa.example"}
	r := f.form("/token", []string{"grant_type", "password", "username", "alice", "password", "wonderland"}, site...)
	if r.status != 200 {
		t.Fatalf("login from the trusted site: %d %s", r.status, r.body)
	}
	cs := cookiesOf(r)
	j := jar{cs["authkit_access"].Value, cs["authkit_refresh"].Value, cs["authkit_csrf"].Value}
	var body struct {
		AccessToken string `json:"access_token"`
		CSRFToken   string `json:"csrf_token"`
	}
	if err := json.Unmarshal([]byte(r.body), &body); err != nil || body.CSRFToken != j.csrf || body.AccessToken != "" {
		t.Fatalf("login body %s (%v): want the CSRF cookie's value %q and no token", r.body, err, j.csrf)
	}
	// The browser sends the cookies; the script sends what the body said.
	r = f.form("/token", []string{"grant_type", "refresh_token"}, append(site, "Cookie", j.header(), "X-CSRF-Token", body.CSRFToken)...)
	if r.status != 200 {
		t.Fatalf("refresh from the trusted site with the body's CSRF value: %d %s", r.status, r.body)
	}
	cs = cookiesOf(r)
	j = jar{cs["authkit_access"].Value, cs["authkit_refresh"].Value, cs["authkit_csrf"].Value}
	if err := json.Unmarshal([]byte(r.body), &body); err != nil || body.CSRFToken != j.csrf {
		t.Fatalf("refresh body %s (%v): want the new CSRF cookie's value %q", r.body, err, j.csrf)
	}
	r = f.form("/revoke", nil, append(site, "Cookie", j.header(), "X-CSRF-Token", body.CSRFToken)...)
	if r.status != 200 {
		t.Fatalf("logout from the trusted site: %d %s", r.status, r.body)
	}
	if _, err := f.ver.Verify(t.Context(), j.access); !errors.Is(err, authkit.ErrTokenRevoked) {
		t.Errorf("the session's access token after logout: %v, want ErrTokenRevoked", err)
	}
}

// Browsers apply the __Host- and __Secure- rules to a name in any letter
// case, and refuse such a cookie that breaks them: a "__host-" name with a
// Domain would never be set, so it is a configuration error like the
// canonical spelling.
func TestCookiePrefixAnyCase(t *testing.T) {
	f := newFx(t, fxOptions{})
	for name, c := range map[string]httpauth.Cookies{
		"__host- with a Domain":     {AccessName: "__host-at", Domain: "example.com"},
		"__HOST- insecure":          {CSRFName: "__HOST-csrf", Insecure: true},
		"__host- refresh path":      {RefreshName: "__host-rt", RefreshPath: "/auth/token"},
		"__secure- insecure":        {RefreshName: "__secure-rt", Insecure: true},
		"__SeCuRe- insecure access": {AccessName: "__SeCuRe-at", Insecure: true},
	} {
		if _, err := httpauth.New(f.ver, httpauth.WithCookies(c)); !errors.Is(err, authkit.ErrInvalidConfig) {
			t.Errorf("%s: %v, want ErrInvalidConfig", name, err)
		}
	}
}

// An application a browser engine serves under a scheme of its own (a
// Capacitor WebView, a browser extension) sends that scheme in Origin:
// TrustedOrigins can name it, and only the named one gets tokens.
func TestCookieTrustedAppOrigins(t *testing.T) {
	f := newFx(t, fxOptions{auth: []httpauth.Option{httpauth.WithCookies(httpauth.Cookies{
		SameSite: http.SameSiteNoneMode, TrustedOrigins: []string{"capacitor://localhost", "chrome-extension://abcdefghijklmnopabcdefghijklmnop"}})}})
	login := []string{"grant_type", "password", "username", "alice", "password", "wonderland"}
	for _, o := range []string{"capacitor://localhost", "chrome-extension://abcdefghijklmnopabcdefghijklmnop"} {
		r := f.form("/token", login, "Sec-Fetch-Site", "cross-site", "Origin", o)
		if r.status != 200 || cookiesOf(r)["authkit_access"] == nil {
			t.Errorf("trusted origin %s: %d %s", o, r.status, r.body)
		}
	}
	for _, o := range []string{"capacitor://evil", "ionic://localhost", "chrome-extension://otherextensionidotherextensionid", "https://localhost"} {
		for _, sfs := range []string{"cross-site", ""} { // without Sec-Fetch-Site, the Origin alone decides
			hdr := []string{"Origin", o}
			if sfs != "" {
				hdr = append(hdr, "Sec-Fetch-Site", sfs)
			}
			r := f.form("/token", login, hdr...)
			expect(t, r, 403, "", bodyCSRF)
			if len(r.header.Values("Set-Cookie")) != 0 {
				t.Errorf("origin %s: cookies set on refusal", o)
			}
		}
	}
}

// The authorization_code and client_credentials grants, and every grant
// a registered client asks for, set no cookie, so a cross-site request for
// them is not refused in cookie mode (a single-page application on another
// site exchanges its code there).
func TestCookieCrossSiteOtherGrants(t *testing.T) {
	f := newClientFxWith(t, fxOptions{auth: []httpauth.Option{httpauth.WithCookies(httpauth.Cookies{})}})
	xs := []string{"Sec-Fetch-Site", "cross-site", "Origin", "https://spa.example"}
	r := f.form("/token", []string{"grant_type", authkit.GrantClientCredentials}, append(clientBasic("svc+1", f.secrets["svc+1"]), xs...)...)
	if r.status != 200 || len(r.header.Values("Set-Cookie")) != 0 {
		t.Errorf("client_credentials from another site: %d %s %v", r.status, r.body, r.header.Values("Set-Cookie"))
	}
	r = f.form("/token", []string{"grant_type", authkit.GrantAuthorizationCode, "code", "x", "client_id", "spa"}, xs...)
	if r.status == 403 || len(r.header.Values("Set-Cookie")) != 0 {
		t.Errorf("authorization_code from another site: %d %s", r.status, r.body)
	}
	// The password grant of a client sets no cookie either (until
	// 2026-12-03 it set the first-party ones, and so was refused here).
	r = f.form("/token", []string{"grant_type", "password", "username", "alice", "password", "wonderland", "client_id", "spa"}, xs...)
	if r.status != 200 || len(r.header.Values("Set-Cookie")) != 0 {
		t.Errorf("password grant of a public client from another site: %d %s", r.status, r.body)
	}
	// A first-party password grant from another site is still refused.
	r = f.form("/token", []string{"grant_type", "password", "username", "alice", "password", "wonderland"}, xs...)
	if r.status != 403 || r.body != bodyCSRF || len(r.header.Values("Set-Cookie")) != 0 {
		t.Errorf("first-party password grant from another site: %d %s", r.status, r.body)
	}
}

// A registered client's password and refresh grants never touch the
// cookies: its tokens go in the body only, a request of its from another
// site is not refused as login CSRF (no cookie is set), and it never reads
// the first-party refresh cookie. Before, a client's grants set the
// first-party cookies (replacing the user's session with the client's,
// taken by the server as an ambient credential), a cross-site SPA could
// not refresh, and a cross-site request naming the public client could
// have the first-party refresh cookie read and cleared (found by review).
func TestClientGrantsLeaveCookiesAlone(t *testing.T) {
	f := newClientFxWith(t, fxOptions{auth: []httpauth.Option{httpauth.WithCookies(httpauth.Cookies{Insecure: true})}})
	first, _ := cookieLogin(t, f.fx)
	login := f.form("/token", []string{"grant_type", "password", "username", "alice", "password", users["alice"], "client_id", "spa"},
		"Sec-Fetch-Site", "cross-site", "Origin", "https://spa.example")
	if login.status != 200 || len(login.header.Values("Set-Cookie")) != 0 {
		t.Fatalf("a public client's cross-site password grant: %d %s, Set-Cookie %q; want 200 and no cookie", login.status, login.body, login.header.Values("Set-Cookie"))
	}
	var tok tokens
	if err := json.Unmarshal([]byte(login.body), &tok); err != nil || tok.RefreshToken == "" {
		t.Fatalf("the client's tokens must be in the body: %s (%v)", login.body, err)
	}
	refresh := f.form("/token", []string{"grant_type", "refresh_token", "refresh_token", tok.RefreshToken, "client_id", "spa"},
		"Sec-Fetch-Site", "cross-site", "Origin", "https://spa.example")
	if refresh.status != 200 || len(refresh.header.Values("Set-Cookie")) != 0 || !strings.Contains(refresh.body, "refresh_token") {
		t.Fatalf("the client's cross-site refresh: %d %s, Set-Cookie %q; want 200, tokens in the body, no cookie", refresh.status, refresh.body, refresh.header.Values("Set-Cookie"))
	}
	// Naming the client without a refresh_token, with the first-party
	// cookies sent along (as a browser would on a cross-site form): the
	// cookie is neither used nor cleared.
	ambient := f.form("/token", []string{"grant_type", "refresh_token", "client_id", "spa"},
		"Cookie", first.header(), "X-CSRF-Token", first.csrf, "Sec-Fetch-Site", "cross-site", "Origin", "https://evil.example")
	if ambient.status != 400 || !strings.Contains(ambient.body, "refresh_token is required") || len(ambient.header.Values("Set-Cookie")) != 0 {
		t.Fatalf("a client's refresh without refresh_token, first-party cookies attached: %d %s, Set-Cookie %q; want 400 refresh_token is required, no cookie", ambient.status, ambient.body, ambient.header.Values("Set-Cookie"))
	}
	// The first-party session is untouched and still refreshes from its
	// cookie.
	own := f.form("/token", []string{"grant_type", "refresh_token"}, "Cookie", first.header(), "X-CSRF-Token", first.csrf)
	if own.status != 200 || cookiesOf(own)["authkit_access"] == nil {
		t.Fatalf("the first-party cookie refresh afterwards: %d %s", own.status, own.body)
	}
}
