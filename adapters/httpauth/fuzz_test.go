package httpauth_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"mime"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/authkit-go/authkit"
	"github.com/authkit-go/authkit/adapters/httpauth"
	"github.com/authkit-go/authkit/backends/memory"
	"github.com/authkit-go/authkit/keys"
)

// fuzzServer is newFx with the cookie transport on, served in process (no
// network), with the refresh and access tokens it has issued so far.
type fuzzServer struct {
	f       *fx
	mux     http.Handler
	refresh map[string]string // refresh token → subject
	access  map[string]string // access token → subject
}

func newFuzzServer(tb testing.TB) *fuzzServer {
	f := newFx(tb, fxOptions{auth: []httpauth.Option{httpauth.WithCookies(httpauth.Cookies{})}})
	s := &fuzzServer{f: f, mux: f.srv.Config.Handler, refresh: map[string]string{}, access: map[string]string{}}
	tk := f.login("alice", "read")
	s.refresh[tk.RefreshToken], s.access[tk.AccessToken] = "alice", "alice"
	tk = f.login("bob", "")
	s.refresh[tk.RefreshToken], s.access[tk.AccessToken] = "bob", "bob"
	return s
}

// serve runs one request through the server's handler.
func (s *fuzzServer) serve(r *http.Request) *httptest.ResponseRecorder {
	w := httptest.NewRecorder()
	s.mux.ServeHTTP(w, r)
	return w
}

// tokenErrors are the "error" codes /token answers with when no client
// store is configured, by status (adapters/httpauth/doc.go).
var tokenErrors = map[int][]string{
	http.StatusBadRequest:            {"invalid_request", "invalid_grant", "unsupported_grant_type", "invalid_scope"},
	http.StatusForbidden:             {"csrf_failed"},
	http.StatusRequestEntityTooLarge: {"invalid_request"},
	http.StatusTooManyRequests:       {"slow_down"},
}

// referenceParams reads a token request's parameters the simple way, to
// judge whether a success was deserved: the form or JSON body by its media
// type, and the refresh cookie when the body names no refresh token.
func referenceParams(r *http.Request, ct string, body []byte) map[string]string {
	out := map[string]string{}
	mt, _, _ := mime.ParseMediaType(ct)
	switch mt {
	case "application/x-www-form-urlencoded":
		vs, _ := url.ParseQuery(string(body))
		for k, v := range vs {
			out[k] = v[len(v)-1]
		}
	case "application/json":
		var m map[string]any
		_ = json.Unmarshal(body, &m)
		for k, v := range m {
			if s, ok := v.(string); ok {
				out[k] = s
			}
		}
	}
	if out["refresh_token"] == "" {
		// From the one refresh cookie, and only with a CSRF header equal
		// to the one CSRF cookie.
		rc, cc := r.CookiesNamed(httpauth.DefaultRefreshCookie), r.CookiesNamed(httpauth.DefaultCSRFCookie)
		if len(rc) == 1 && len(cc) == 1 && cc[0].Value != "" && cc[0].Value == r.Header.Get(httpauth.DefaultCSRFHeader) {
			out["refresh_token"] = rc[0].Value
		}
	}
	return out
}

// FuzzTokenEndpoint posts any body, Content-Type, cookies and CSRF header
// to /token. It never panics; it answers with no-store and one of the
// documented statuses and error codes (never a 5xx: the store is up); and
// it answers 200 only for a password grant with a user's real password or
// a refresh grant with a refresh token it issued, with an access token
// that verifies as that user.
func FuzzTokenEndpoint(f *testing.F) {
	s := newFuzzServer(f)
	// rt goes in bodies, rc in cookies: each refreshes once.
	var rt, rc string
	for tok, sub := range s.refresh {
		if sub == "alice" {
			rt = tok
		} else {
			rc = tok
		}
	}
	const form = "application/x-www-form-urlencoded"
	for _, c := range []struct {
		ct, body, cookie, csrf string
	}{
		{form, "grant_type=password&username=alice&password=wonderland&scope=read", "", ""},
		{form, "grant_type=password&username=alice&password=wonderland&scope=read+admin", "", ""},
		{form, "grant_type=password&username=alice&password=x", "", ""},
		{form, "grant_type=password&username=alice&username=bob&password=builder", "", ""},
		{form + "; charset=UTF-8", "grant_type=refresh_token&refresh_token=" + url.QueryEscape(rt), "", ""},
		{form, "grant_type=refresh_token", "authkit_refresh=" + rc + "; authkit_csrf=c", "c"},
		{form, "grant_type=refresh_token", "authkit_refresh=" + rt + "; authkit_refresh=x; authkit_csrf=c", "c"},
		{form, "grant_type=refresh_token", "authkit_refresh=" + rt, ""},
		{form, "grant_type=refresh_token&refresh_token=akrt_x&scope=%00", "", ""},
		{form, "grant_type=%zz", "", ""},
		{form, "grant_type=password&username=\xff&password=p", "", ""},
		{form + "; charset=latin1", "grant_type=password", "", ""},
		{"application/json", `{"grant_type":"password","username":"bob","password":"builder"}`, "", ""},
		{"application/json", `{"grant_type":"refresh_token","refresh_token":"` + rt + `"}`, "", ""},
		{"application/json", `{"grant_type":"password","GRANT_TYPE":"password"}`, "", ""},
		{"application/json", `{"grant_type":1}`, "", ""},
		{"application/json", `{"grant_type":"\ud800"}`, "", ""},
		{"application/json", `["grant_type"]`, "", ""},
		{"text/plain", "grant_type=password", "", ""},
		{"", "", "", ""},
		{form, strings.Repeat("a=b&", 40), "", ""},
		{form, "x=" + strings.Repeat("a", 70<<10), "", ""},
	} {
		f.Add(c.ct, []byte(c.body), c.cookie, c.csrf)
	}
	f.Fuzz(func(t *testing.T, ct string, body []byte, cookie, csrf string) {
		r := httptest.NewRequest("POST", "/token", bytes.NewReader(body))
		if ct != "" {
			r.Header.Set("Content-Type", ct)
		}
		if cookie != "" {
			r.Header.Set("Cookie", cookie)
		}
		if csrf != "" {
			r.Header.Set(httpauth.DefaultCSRFHeader, csrf)
		}
		w := s.serve(r)
		if w.Header().Get("Cache-Control") != "no-store" {
			t.Fatalf("status %d without Cache-Control: no-store", w.Code)
		}
		if w.Code != http.StatusOK {
			var e struct {
				Error string `json:"error"`
			}
			if err := json.Unmarshal(w.Body.Bytes(), &e); err != nil {
				t.Fatalf("status %d with a body that is not JSON: %q", w.Code, w.Body)
			}
			codes, ok := tokenErrors[w.Code]
			if !ok || !strings.Contains(" "+strings.Join(codes, " ")+" ", " "+e.Error+" ") {
				t.Fatalf("status %d, error %q: not a documented answer of /token", w.Code, e.Error)
			}
			return
		}
		ps := referenceParams(r, ct, body)
		var sub string
		switch ps["grant_type"] {
		case "password":
			if pw, ok := users[ps["username"]]; !ok || pw != ps["password"] {
				t.Fatalf("200 for a password grant without the password: %q", body)
			}
			sub = ps["username"]
		case "refresh_token":
			var ok bool
			if sub, ok = s.refresh[ps["refresh_token"]]; !ok {
				t.Fatalf("200 for a refresh grant with a refresh token never issued: %q", body)
			}
		default:
			t.Fatalf("200 for grant_type %q", ps["grant_type"])
		}
		// The new tokens: in the body or, for a refresh by cookie, only in
		// the cookies.
		res := w.Result()
		var tk tokens
		if err := json.Unmarshal(w.Body.Bytes(), &tk); err != nil {
			t.Fatalf("token response is not JSON: %v", err)
		}
		for _, c := range res.Cookies() {
			switch c.Name {
			case httpauth.DefaultAccessCookie:
				if tk.AccessToken != "" && c.Value != tk.AccessToken {
					t.Fatal("the access cookie and the body's access token differ")
				}
				tk.AccessToken = c.Value
			case httpauth.DefaultRefreshCookie:
				if tk.RefreshToken != "" && c.Value != tk.RefreshToken {
					t.Fatal("the refresh cookie and the body's refresh token differ")
				}
				tk.RefreshToken = c.Value
			}
		}
		p, err := s.f.ver.Verify(context.Background(), tk.AccessToken)
		if err != nil || p.Subject != sub {
			t.Fatalf("the issued access token does not verify as %q: %v", sub, err)
		}
		s.access[tk.AccessToken] = sub
		if tk.RefreshToken != "" {
			s.refresh[tk.RefreshToken] = sub
		}
	})
}

// FuzzProtectedRoute sends any method, Authorization header, cookies and
// CSRF header to a route behind Auth.Require. It never panics, answers
// with a documented status, and lets the request through only with an
// access token the server issued, in the Authorization header or, with no
// credential of ours there, in the one access cookie, and then for an
// unsafe method only with a CSRF header equal to the one CSRF cookie.
func FuzzProtectedRoute(f *testing.F) {
	s := newFuzzServer(f)
	var at string
	for tok := range s.access {
		at = tok
	}
	for _, c := range []struct {
		method        uint8
		authz, cookie string
		csrf          string
	}{
		{0, "Bearer " + at, "", ""},
		{1, "token   " + at, "", ""},
		{1, "Bearer " + at + "x", "", ""},
		{0, "", "authkit_access=" + at, ""},
		{1, "", "authkit_access=" + at + "; authkit_csrf=abc", "abc"},
		{1, "", "authkit_access=" + at + "; authkit_csrf=abc", "abd"},
		{1, "", "authkit_access=" + at + "; authkit_csrf=abc; authkit_csrf=abc", "abc"},
		{0, "", "authkit_access=" + at + "; authkit_access=" + at, ""},
		{0, "Digest x", "authkit_access=" + at, ""},
		{0, "Bearer", "authkit_access=" + at, ""},
		{0, "Bearer a b", "", ""},
		{2, "Basic YWxpY2U6d29uZGVybGFuZA==", "", ""},
		{3, "", "authkit_access=\"" + at + "\"", ""},
		{0, "", "authkit_access=a b", ""},
	} {
		f.Add(c.method, c.authz, c.cookie, c.csrf)
	}
	methods := []string{"GET", "POST", "DELETE", "HEAD", "PUT", "OPTIONS", "PATCH", "TRACE"}
	f.Fuzz(func(t *testing.T, mi uint8, authz, cookie, csrf string) {
		method := methods[int(mi)%len(methods)]
		r := httptest.NewRequest(method, "/api/me", nil)
		if authz != "" {
			r.Header.Set("Authorization", authz)
		}
		if cookie != "" {
			r.Header.Set("Cookie", cookie)
		}
		if csrf != "" {
			r.Header.Set(httpauth.DefaultCSRFHeader, csrf)
		}
		w := s.serve(r)
		switch w.Code {
		case http.StatusOK:
		case http.StatusBadRequest, http.StatusUnauthorized, http.StatusForbidden:
			return
		default:
			t.Fatalf("status %d: not a documented answer of the middleware", w.Code)
		}
		// Which credential let it through?
		scheme, cred, _ := strings.Cut(authz, " ")
		cred = strings.TrimLeft(cred, " ")
		sub, ok := s.access[cred]
		if ok && (strings.EqualFold(scheme, "bearer") || strings.EqualFold(scheme, "token")) {
			// By the header.
		} else {
			cs := r.CookiesNamed(httpauth.DefaultAccessCookie)
			if len(cs) != 1 {
				t.Fatalf("%s let through with %d access cookies and header %q", method, len(cs), authz)
			}
			if sub, ok = s.access[cs[0].Value]; !ok {
				t.Fatalf("%s let through with an access cookie the server never issued", method)
			}
			switch method {
			case "GET", "HEAD", "OPTIONS", "TRACE":
			default:
				cc := r.CookiesNamed(httpauth.DefaultCSRFCookie)
				if len(cc) != 1 || cc[0].Value == "" || cc[0].Value != csrf {
					t.Fatalf("%s by cookie let through without a matching CSRF header", method)
				}
			}
		}
		if method != "HEAD" && !strings.HasPrefix(w.Body.String(), sub+" jwt ") {
			t.Fatalf("let through as %q, want %q", w.Body, sub)
		}
	})
}

// FuzzClientAuthentication sends any Authorization header and body to
// /token on a server with a client store: "svc" (confidential,
// client_credentials) and "kjwt" (private_key_jwt, client_credentials).
// It never panics; every answer is a documented one (401 only as
// invalid_client with the Basic challenge); and an access token is issued
// to a client only for its real secret (Basic or in the body) or an
// assertion this process signed with its key, or for a user's real
// password.
func FuzzClientAuthentication(f *testing.F) {
	cs := memory.New()
	fx := newFx(f, fxOptions{handler: []httpauth.HandlerOption{httpauth.WithClientStore(cs)}})
	secret, hash, err := fx.iss.NewClientSecret()
	if err != nil {
		f.Fatal(err)
	}
	k1 := genKey(f, keys.EdDSA, "k1")
	ctx := context.Background()
	for _, c := range []authkit.Client{
		{ID: "svc", SecretHash: hash, GrantTypes: []string{authkit.GrantClientCredentials}, Scopes: []string{"read"}, CreatedAt: base},
		{ID: "kjwt", JWKS: publicJWKS(f, k1), GrantTypes: []string{authkit.GrantClientCredentials}, Scopes: []string{"read"}, CreatedAt: base},
	} {
		if err := cs.CreateClient(ctx, c); err != nil {
			f.Fatal(err)
		}
	}
	// The assertions this process signed: only these may authenticate kjwt.
	signed := map[string]bool{}
	assertion := func(aud string, jti int) string {
		now := fx.clock.Now()
		a := sign(f, k1, map[string]any{"iss": "kjwt", "sub": "kjwt", "aud": aud, "exp": now.Add(time.Minute).Unix(),
			"iat": now.Unix(), "jti": fmt.Sprintf("fuzz-%d", jti)})
		signed[a] = true
		return a
	}
	basic := func(id, secret string) string {
		return "Basic " + base64.StdEncoding.EncodeToString([]byte(url.QueryEscape(id)+":"+url.QueryEscape(secret)))
	}
	const cc = "grant_type=client_credentials"
	for _, c := range []struct{ authz, body string }{
		{basic("svc", secret), cc},
		{basic("svc", secret), cc + "&scope=read"},
		{basic("svc", secret), cc + "&client_id=other"},
		{basic("svc", secret+"x"), cc},
		{basic("svc", ""), cc},
		{basic("svc%zz", secret), cc},
		{"Basic " + base64.StdEncoding.EncodeToString([]byte("svc")), cc},
		{"Basic !!", cc},
		{"basic   " + strings.TrimPrefix(basic("svc", secret), "Basic "), cc},
		{"", cc + "&client_id=svc&client_secret=" + url.QueryEscape(secret)},
		{"", cc + "&client_secret=" + url.QueryEscape(secret)},
		{"", cc + "&client_id=kjwt"},
		{"", cc + "&client_id=" + strings.Repeat("x", 300)},
		{"", cc + "&client_assertion_type=" + url.QueryEscape(httpauth.ClientAssertionTypeJWT) + "&client_assertion=" + assertion("https://auth.example", 1)},
		{"", cc + "&client_assertion_type=" + url.QueryEscape(httpauth.ClientAssertionTypeJWT) + "&client_assertion=" + assertion("https://auth.example", 1)},
		{"", cc + "&client_assertion_type=" + url.QueryEscape(httpauth.ClientAssertionTypeJWT) + "&client_assertion=" + assertion("https://elsewhere.example", 2)},
		{"", cc + "&client_assertion_type=x&client_assertion=a.b.c"},
		{basic("svc", secret), cc + "&client_assertion_type=" + url.QueryEscape(httpauth.ClientAssertionTypeJWT) + "&client_assertion=a.b.c"},
		{"", "grant_type=password&username=alice&password=wonderland"},
		{basic("svc", secret), "grant_type=password&username=alice&password=wonderland"},
	} {
		f.Add(c.authz, []byte(c.body), false)
	}
	f.Add("", []byte(`{"grant_type":"client_credentials","client_id":"svc","client_secret":"`+secret+`"}`), true)
	f.Fuzz(func(t *testing.T, authz string, body []byte, isJSON bool) {
		ct := "application/x-www-form-urlencoded"
		if isJSON {
			ct = "application/json"
		}
		r := httptest.NewRequest("POST", "/token", bytes.NewReader(body))
		r.Header.Set("Content-Type", ct)
		if authz != "" {
			r.Header.Set("Authorization", authz)
		}
		w := httptest.NewRecorder()
		fx.srv.Config.Handler.ServeHTTP(w, r)
		if w.Code != http.StatusOK {
			var e struct {
				Error string `json:"error"`
			}
			if err := json.Unmarshal(w.Body.Bytes(), &e); err != nil {
				t.Fatalf("status %d with a body that is not JSON: %q", w.Code, w.Body)
			}
			ok := false
			switch w.Code {
			case http.StatusBadRequest:
				ok = strings.Contains(" invalid_request invalid_grant unsupported_grant_type invalid_scope unauthorized_client ", " "+e.Error+" ")
			case http.StatusUnauthorized:
				ok = e.Error == "invalid_client" && w.Header().Get("WWW-Authenticate") == `Basic realm="authkit", charset="UTF-8"`
			case http.StatusTooManyRequests:
				ok = e.Error == "slow_down"
			}
			if !ok {
				t.Fatalf("status %d, error %q, challenge %q: not a documented answer of /token", w.Code, e.Error, w.Header().Get("WWW-Authenticate"))
			}
			return
		}
		var tk tokens
		if err := json.Unmarshal(w.Body.Bytes(), &tk); err != nil {
			t.Fatalf("token response is not JSON: %v", err)
		}
		p, err := fx.ver.Verify(ctx, tk.AccessToken)
		if err != nil {
			t.Fatalf("the issued access token does not verify: %v", err)
		}
		ps := referenceParams(r, ct, body)
		switch ps["grant_type"] {
		case "password":
			if pw, ok := users[ps["username"]]; !ok || pw != ps["password"] || p.Subject != ps["username"] {
				t.Fatalf("200 as %q for a password grant without the password", p.Subject)
			}
		case authkit.GrantClientCredentials:
			switch p.Subject {
			case "svc":
				if ps["client_secret"] != secret && authz != basic("svc", secret) {
					// Basic may be written otherwise: decode it the simple way.
					_, cred, _ := strings.Cut(authz, " ")
					raw, _ := base64.StdEncoding.DecodeString(strings.TrimSpace(cred))
					id, sec, _ := strings.Cut(string(raw), ":")
					id, _ = url.QueryUnescape(id)
					sec, _ = url.QueryUnescape(sec)
					if id != "svc" || sec != secret {
						t.Fatal("an access token for svc without its secret")
					}
				}
			case "kjwt":
				if !signed[ps["client_assertion"]] {
					t.Fatal("an access token for kjwt without an assertion it signed")
				}
			default:
				t.Fatalf("client_credentials issued to %q", p.Subject)
			}
		default:
			t.Fatalf("200 for grant_type %q", ps["grant_type"])
		}
	})
}

// FuzzAuthorize sends any query string, with GET or POST, to /authorize,
// whose login handler approves every request it is handed (as "alice").
// It never panics, answers with the endpoint's protective headers, with
// 400 or a redirect; and a redirect goes only to a redirect URI registered
// for the client the request names, exactly as the request gave it (its
// own query kept, no fragment), carries iss and the request's state, and
// carries a code only for a request with a registered client allowed the
// grant, response_type=code, a state and an S256 code challenge.
func FuzzAuthorize(f *testing.F) {
	const app, conf, other = "https://app.example/cb", "https://conf.example/cb?tenant=1", "https://other.example/cb"
	cs := memory.New()
	login := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		a, ok := httpauth.AuthorizationRequestFrom(r.Context())
		if !ok {
			http.Error(w, "no authorization request", http.StatusInternalServerError)
			return
		}
		_ = a.Approve(w, r, httpauth.Login{Subject: "alice", Scopes: []string{"read"}})
	})
	fx := newFx(f, fxOptions{handler: []httpauth.HandlerOption{httpauth.WithClientStore(cs), httpauth.WithAuthorizationCode(login)}})
	registered := map[string][]string{"app": {app}, "conf": {conf}, "cc": {other}}
	for _, c := range []authkit.Client{
		{ID: "app", GrantTypes: []string{authkit.GrantAuthorizationCode}, Scopes: []string{"read", "write"}, RedirectURIs: registered["app"]},
		{ID: "conf", GrantTypes: []string{authkit.GrantAuthorizationCode}, Scopes: []string{"read"}, RedirectURIs: registered["conf"]},
		{ID: "cc", GrantTypes: []string{authkit.GrantClientCredentials}, Scopes: []string{"read"}, RedirectURIs: registered["cc"]},
	} {
		c.CreatedAt = base
		if c.ID == "conf" {
			_, h, err := fx.iss.NewClientSecret()
			if err != nil {
				f.Fatal(err)
			}
			c.SecretHash = h
		}
		if err := cs.CreateClient(context.Background(), c); err != nil {
			f.Fatal(err)
		}
	}
	const challenge = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
	good := url.Values{"client_id": {"app"}, "redirect_uri": {app}, "response_type": {"code"}, "state": {"xyz"},
		"code_challenge": {challenge}, "code_challenge_method": {"S256"}, "scope": {"read"}}
	edit := func(k, v string) string {
		q := url.Values{}
		for name, vs := range good {
			q[name] = vs
		}
		if v == "" {
			delete(q, k)
		} else {
			q.Set(k, v)
		}
		return q.Encode()
	}
	for _, q := range []string{
		good.Encode(), edit("client_id", "conf") + "&redirect_uri=x", edit("redirect_uri", conf), edit("redirect_uri", app+"/"),
		edit("redirect_uri", "https://evil.example/cb"), edit("client_id", "cc"), edit("client_id", "nobody"), edit("state", ""),
		edit("state", "\x01"), edit("response_type", "token"), edit("code_challenge_method", "plain"), edit("code_challenge", "short"),
		edit("scope", "admin"), edit("scope", "read  write"), good.Encode() + "&state=again", "%zz", "", strings.Repeat("a=b&", 40),
		"client_id=conf&redirect_uri=" + url.QueryEscape(conf) + "&response_type=code&state=s&code_challenge=" + challenge + "&code_challenge_method=S256",
		edit("redirect_uri", app+"#frag"), edit("state", strings.Repeat("s", 1025)),
		"client_id=cc&redirect_uri=" + url.QueryEscape(other) + "&response_type=code&state=s&code_challenge=" + challenge + "&code_challenge_method=S256",
	} {
		f.Add(q, false)
		f.Add(q, true)
	}
	f.Fuzz(func(t *testing.T, rawQuery string, post bool) {
		method := http.MethodGet
		if post {
			method = http.MethodPost
		}
		r := httptest.NewRequest(method, "/authorize", nil)
		r.URL.RawQuery = rawQuery
		w := httptest.NewRecorder()
		fx.srv.Config.Handler.ServeHTTP(w, r)
		if w.Header().Get("Cache-Control") != "no-store" || w.Header().Get("Referrer-Policy") != "no-referrer" {
			t.Fatalf("status %d without no-store and no-referrer", w.Code)
		}
		switch w.Code {
		case http.StatusBadRequest:
			return
		case http.StatusFound, http.StatusSeeOther:
		default:
			t.Fatalf("status %d: not a documented answer of /authorize (%s)", w.Code, w.Body)
		}
		if (w.Code == http.StatusSeeOther) != post {
			t.Fatalf("status %d for %s", w.Code, method)
		}
		q, err := url.ParseQuery(rawQuery)
		if err != nil {
			t.Fatalf("redirected for a query that does not parse: %v", err)
		}
		id, redirect := q.Get("client_id"), q.Get("redirect_uri")
		if len(q["client_id"]) != 1 || len(q["redirect_uri"]) != 1 || !slices.Contains(registered[id], redirect) {
			t.Fatalf("redirected for client %q and redirect_uri %q, not registered", id, redirect)
		}
		loc, err := url.Parse(w.Header().Get("Location"))
		if err != nil {
			t.Fatalf("Location does not parse: %v", err)
		}
		reg, _ := url.Parse(redirect)
		if loc.Scheme != reg.Scheme || loc.Host != reg.Host || loc.Path != reg.Path || loc.Fragment != "" || loc.User != nil {
			t.Fatalf("redirected to %s, registered %s", loc, redirect)
		}
		got := loc.Query()
		for k, v := range reg.Query() {
			if got.Get(k) != v[0] {
				t.Fatalf("redirect lost the registered URI's parameter %s", k)
			}
		}
		if got.Get("iss") != "https://auth.example" {
			t.Fatalf("redirect without iss: %s", loc)
		}
		if s := got.Get("state"); s != "" && s != q.Get("state") {
			t.Fatalf("redirect with state %q, the request's is %q", s, q.Get("state"))
		}
		if got.Get("code") == "" {
			if got.Get("error") == "" {
				t.Fatalf("redirect with neither code nor error: %s", loc)
			}
			return
		}
		if id == "cc" || q.Get("response_type") != "code" || q.Get("code_challenge_method") != "S256" ||
			q.Get("state") == "" || got.Get("state") != q.Get("state") || len(q.Get("code_challenge")) < 43 || got.Get("error") != "" {
			t.Fatalf("a code for the request %q", rawQuery)
		}
	})
}

// FuzzRevokeIntrospect posts any body (form or JSON) to /introspect as a
// caller allowed to introspect, then the same body, with any cookies, to
// /revoke. Neither panics; each answers a documented status; an
// introspection is exactly {"active":false} unless the body names a token
// the server issued, and then it describes that token's subject; and no
// request revokes a token it does not name: a canary session the test
// never presents stays alive.
func FuzzRevokeIntrospect(f *testing.F) {
	s := newFuzzServer(f)
	canary := s.f.login("alice", "read")
	caller := s.f.login("carol", "introspect").AccessToken
	s.access[caller] = "carol"
	var rt, at string
	for tok, sub := range s.refresh {
		if sub == "bob" {
			rt = tok
		}
	}
	for tok, sub := range s.access {
		if sub == "bob" {
			at = tok
		}
	}
	for _, c := range []struct {
		body   string
		json   bool
		cookie string
	}{
		{"token=" + at, false, ""},
		{"token=" + rt + "&token_type_hint=refresh_token", false, ""},
		{"token=" + at + "&token_type_hint=" + strings.Repeat("x", 65), false, ""},
		{"token=" + at + "&token_type_hint=a%20b", false, ""},
		{`{"token":"` + rt + `"}`, true, ""},
		{`{"token":"` + at + `","token":"x"}`, true, ""},
		{"", false, "authkit_refresh=" + rt + "; authkit_csrf=c"},
		{"token=" + strings.Repeat("a", 17<<10), false, ""},
		{"token=akrt_x", false, ""},
		{"token=ak_" + strings.Repeat("0", 49), false, ""},
		{"token=a.b.c", false, ""},
		{"token=", false, ""},
	} {
		f.Add([]byte(c.body), c.json, c.cookie)
	}
	ctx := context.Background()
	post := func(path string, body []byte, ct, cookie, authz string) *httptest.ResponseRecorder {
		r := httptest.NewRequest("POST", path, bytes.NewReader(body))
		r.Header.Set("Content-Type", ct)
		if cookie != "" {
			r.Header.Set("Cookie", cookie)
		}
		if authz != "" {
			r.Header.Set("Authorization", authz)
		}
		return s.serve(r)
	}
	f.Fuzz(func(t *testing.T, body []byte, isJSON bool, cookie string) {
		if bytes.Contains(body, []byte(caller)) || strings.Contains(cookie, caller) {
			return // it would revoke the caller's own token
		}
		ct := "application/x-www-form-urlencoded"
		if isJSON {
			ct = "application/json"
		}
		w := post("/introspect", body, ct, "", "Bearer "+caller)
		switch w.Code {
		case http.StatusOK:
			if w.Body.String() != `{"active":false}` {
				var res struct {
					Active bool   `json:"active"`
					Sub    string `json:"sub"`
				}
				if err := json.Unmarshal(w.Body.Bytes(), &res); err != nil || !res.Active {
					t.Fatalf("introspection %q", w.Body)
				}
				tok := referenceParams(httptest.NewRequest("POST", "/", nil), ct, body)["token"]
				sub, ok := s.access[tok]
				if !ok {
					sub, ok = s.refresh[tok]
				}
				if !ok && tok != canary.AccessToken && tok != canary.RefreshToken {
					t.Fatalf("an active introspection of a token never issued: %q", w.Body)
				}
				if ok && res.Sub != sub {
					t.Fatalf("introspection says %q for a token of %q", res.Sub, sub)
				}
			}
		case http.StatusBadRequest, http.StatusRequestEntityTooLarge:
		default:
			t.Fatalf("/introspect answered %d: %s", w.Code, w.Body)
		}
		w = post("/revoke", body, ct, cookie, "")
		switch w.Code {
		case http.StatusOK:
			if w.Body.Len() != 0 {
				t.Fatalf("/revoke 200 with a body: %q", w.Body)
			}
		case http.StatusBadRequest, http.StatusForbidden, http.StatusRequestEntityTooLarge:
		default:
			t.Fatalf("/revoke answered %d: %s", w.Code, w.Body)
		}
		if bytes.Contains(body, []byte(canary.AccessToken)) || bytes.Contains(body, []byte(canary.RefreshToken)) ||
			strings.Contains(cookie, canary.RefreshToken) {
			return
		}
		if _, err := s.f.ver.Verify(ctx, canary.AccessToken); err != nil {
			t.Fatalf("a request that did not name it revoked the canary access token: %v", err)
		}
		if _, err := s.f.iss.RefreshSession(ctx, canary.RefreshToken); err != nil {
			t.Fatalf("a request that did not name it ended the canary session: %v", err)
		}
		if _, err := s.f.ver.Verify(ctx, caller); err != nil {
			t.Fatalf("the caller's token was revoked: %v", err)
		}
	})
}
