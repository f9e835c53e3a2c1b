package httpauth_test

import (
	"context"
	"encoding/base64"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/authkit-go/authkit"
	"github.com/authkit-go/authkit/adapters/httpauth"
)

// A tab after the scheme makes a malformed credential of that scheme (400),
// not a header of no scheme: a revoked token so sent passed Optional as
// anonymous, and a cookie was used in its place (found by review). Scheme
// names compare as ASCII: "Baſic" (long s) is no scheme of ours.
func TestAuthorizationSchemeSyntax(t *testing.T) {
	f := newFx(t, fxOptions{
		verifier: []authkit.Option{authkit.WithBasicAuth(basicAlice), authkit.WithSchemes(authkit.SchemeBearer, authkit.SchemeBasic)},
		auth:     []httpauth.Option{httpauth.WithCookies(httpauth.Cookies{})},
	})
	tok := f.login("alice", "read").AccessToken
	if err := f.iss.Revoke(context.Background(), tok); err != nil {
		t.Fatal(err)
	}
	bob, _ := cookieLogin(t, f)
	basic := base64.StdEncoding.EncodeToString([]byte("alice:wonderland"))
	for _, c := range []struct {
		path   string
		hdr    []string
		status int
		body   string
	}{
		{"/api/opt", []string{"Authorization", "Bearer\t" + tok}, 400, ""},
		{"/api/opt", []string{"Authorization", "Bearer \t" + tok}, 400, ""},
		{"/api/me", []string{"Authorization", "Bearer\t" + tok, "Cookie", "authkit_access=" + bob.access}, 400, ""},
		{"/api/me", []string{"Authorization", "Basic\t" + basic}, 400, ""},
		{"/api/me", []string{"Authorization", "Ba\u017Fic " + basic}, 401, ""},
		{"/api/opt", []string{"Authorization", "Ba\u017Fic " + basic}, 200, "anonymous"},
		{"/api/me", []string{"Authorization", "basic " + basic}, 200, "alice basic [read]"},
	} {
		r := f.do("GET", c.path, "", c.hdr...)
		if r.status != c.status || c.body != "" && r.body != c.body {
			t.Errorf("%s with %q: %d %s, want %d %s", c.path, c.hdr[1][:10], r.status, r.body, c.status, c.body)
		}
	}
}

// An application's check that refuses a credential with an error wrapping
// ErrNoCredentials still refuses it: Optional does not admit the request
// as anonymous (found by review). And a route requiring a scope no token
// can hold ("") denies a principal whose scopes list holds "" (a Basic
// check's strings.Split("", " ")).
func TestRefusalsStayRefusals(t *testing.T) {
	check := func(_ context.Context, p *authkit.Principal) error {
		if p.Subject == "bob" {
			return fmt.Errorf("disabled: %w", authkit.ErrNoCredentials)
		}
		return nil
	}
	f := newFx(t, fxOptions{verifier: []authkit.Option{authkit.WithPrincipalCheck(check)}})
	bob := f.login("bob", "read").AccessToken
	if r := f.do("GET", "/api/opt", "", bearer(bob)...); r.status != 401 {
		t.Errorf("a credential the principal check refuses, on Optional: %d %s, want 401", r.status, r.body)
	}

	basic := func(_ context.Context, u, p string) (*authkit.Principal, error) {
		if u == "mallory" {
			return nil, fmt.Errorf("locked: %w", authkit.ErrNoCredentials)
		}
		return &authkit.Principal{Subject: u, Scopes: strings.Split("", " ")}, nil
	}
	g := newFx(t, fxOptions{verifier: []authkit.Option{authkit.WithBasicAuth(basic), authkit.WithSchemes(authkit.SchemeBearer, authkit.SchemeBasic)}})
	ok := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { fmt.Fprint(w, "admitted") })
	hdr := "Basic " + base64.StdEncoding.EncodeToString([]byte("eve:x"))
	for name, h := range map[string]http.Handler{
		`RequireScopes("")`:   g.auth.RequireScopes("")(ok),
		`RequireAnyScope("")`: g.auth.RequireAnyScope("")(ok),
	} {
		rec := httptest.NewRecorder()
		req := httptest.NewRequest("GET", "/", nil)
		req.Header.Set("Authorization", hdr)
		h.ServeHTTP(rec, req)
		if rec.Code != 403 {
			t.Errorf("%s for a principal holding [\"\"]: %d %s, want 403", name, rec.Code, rec.Body)
		}
	}
	req := httptest.NewRequest("GET", "/", nil)
	req.Header.Set("Authorization", "Basic "+base64.StdEncoding.EncodeToString([]byte("mallory:x")))
	rec := httptest.NewRecorder()
	g.auth.Optional(ok).ServeHTTP(rec, req)
	if rec.Code != 401 {
		t.Errorf("Basic credentials refused with an error wrapping ErrNoCredentials, on Optional: %d %s, want 401", rec.Code, rec.Body)
	}
}
