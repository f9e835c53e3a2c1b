package httpauth_test

import (
	"context"
	"errors"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/authkit-go/authkit"
	"github.com/authkit-go/authkit/adapters/httpauth"
)

// loginHook is the WithPasswordLogin hook of the tests: alice is an admin
// who may hold read, write and admin; carol logs in without "remember me"
// (a 1-hour session, 1-minute first access token); bob's record is broken
// (a registered claim); dave's directory is down.
func loginHook(ctx context.Context, username, password string) (httpauth.Login, error) {
	switch username {
	case "dave":
		return httpauth.Login{}, errDown
	}
	subject, err := checkPassword(ctx, username, password)
	if err != nil {
		return httpauth.Login{}, err
	}
	l := httpauth.Login{Subject: subject, Scopes: []string{"read", "write", "admin"}}
	switch subject {
	case "alice":
		l.Claims = map[string]any{"roles": []string{"admin", "staff"}}
	case "bob":
		l.Claims = map[string]any{"Sub": "root"}
	case "carol":
		l.SessionTTL, l.AccessTTL = time.Hour, time.Minute
	}
	return l, nil
}

func loginFx(t *testing.T, opts ...httpauth.HandlerOption) *fx {
	return newFx(t, fxOptions{noGrant: true, handler: append([]httpauth.HandlerOption{httpauth.WithPasswordLogin(loginHook)}, opts...)})
}

func TestPasswordLoginScopesAndClaims(t *testing.T) {
	f := loginFx(t)
	for _, c := range []struct{ ask, want string }{
		{"", "read write"},     // the login's scopes, bounded by WithAllowedScopes (no admin)
		{"read admin", "read"}, // requested ∩ the login's ∩ allowed
		{"write read", "write read"},
	} {
		tk := f.login("alice", c.ask)
		if tk.Scope != c.want {
			t.Errorf("alice asking %q: scope %q, want %q", c.ask, tk.Scope, c.want)
		}
	}
	// Allowed, but not the user's: none of the request is granted, which
	// the response's scope member cannot say.
	r := f.form("/token", []string{"grant_type", "password", "username", "alice", "password", users["alice"], "scope", "a"})
	if r.status != 400 || r.body != bodyBadScope {
		t.Errorf("alice asking for a scope she may not hold: %d %s, want 400 invalid_scope", r.status, r.body)
	}
	tk := f.login("alice", "")
	p, err := f.ver.Verify(context.Background(), tk.AccessToken)
	if err != nil {
		t.Fatal(err)
	}
	var claims struct{ Roles []string }
	if err := p.DecodeClaims(&claims); err != nil || !slices.Equal(claims.Roles, []string{"admin", "staff"}) {
		t.Fatalf("roles %v (%v), want the hook's", claims.Roles, err)
	}
	// A refresh keeps the claims.
	r = f.form("/token", []string{"grant_type", "refresh_token", "refresh_token", tk.RefreshToken})
	if r.status != 200 {
		t.Fatalf("refresh: %d %s", r.status, r.body)
	}
	p, err = f.ver.Verify(context.Background(), r.json(t)["access_token"].(string))
	claims.Roles = nil
	if err != nil || p.DecodeClaims(&claims) != nil || len(claims.Roles) != 2 {
		t.Errorf("refreshed token: %v, roles %v", err, claims.Roles)
	}
}

func TestPasswordLoginFailsClosed(t *testing.T) {
	f := loginFx(t)
	// A registered claim from the hook: nothing is issued.
	r := f.form("/token", []string{"grant_type", "password", "username", "bob", "password", "builder"})
	expect(t, r, 500, "", `{"error":"server_error","error_description":"internal error"}`)
	if ss, _ := f.iss.Sessions(context.Background(), "bob"); len(ss) != 0 {
		t.Errorf("bob has %d sessions after a refused login", len(ss))
	}
	// A hook that cannot answer: 503.
	r = f.form("/token", []string{"grant_type", "password", "username", "dave", "password", "x"})
	if r.status != 503 {
		t.Errorf("hook down: %d %s, want 503", r.status, r.body)
	}
	r = f.form("/token", []string{"grant_type", "password", "username", "alice", "password", "nope"})
	expect(t, r, 400, "", `{"error":"invalid_grant","error_description":"invalid username or password"}`)

	bad := func(l httpauth.Login) func(context.Context, string, string) (httpauth.Login, error) {
		return func(context.Context, string, string) (httpauth.Login, error) { return l, nil }
	}
	for name, hook := range map[string]func(context.Context, string, string) (httpauth.Login, error){
		"no subject":         bad(httpauth.Login{Scopes: []string{"read"}}),
		"invalid scope":      bad(httpauth.Login{Subject: "x", Scopes: []string{"bad scope"}}),
		"negative session":   bad(httpauth.Login{Subject: "x", SessionTTL: -time.Hour}),
		"tiny session":       bad(httpauth.Login{Subject: "x", SessionTTL: time.Second}),
		"negative access":    bad(httpauth.Login{Subject: "x", AccessTTL: -time.Second}),
		"case-variant scope": bad(httpauth.Login{Subject: "x", Claims: map[string]any{"SCOPE": "admin"}}),
	} {
		g := newFx(t, fxOptions{noGrant: true, handler: []httpauth.HandlerOption{httpauth.WithPasswordLogin(hook)}})
		r := g.form("/token", []string{"grant_type", "password", "username", "x", "password", "y"})
		if r.status != 500 {
			t.Errorf("%s: %d %s, want 500", name, r.status, r.body)
		}
	}
	if _, err := httpauth.NewHandler(f.iss, f.auth, httpauth.WithPasswordLogin(nil)); !errors.Is(err, authkit.ErrInvalidConfig) {
		t.Errorf("WithPasswordLogin(nil): %v", err)
	}
}

func TestPasswordLoginLifetimes(t *testing.T) {
	f := loginFx(t)
	carol := f.login("carol", "")
	if carol.ExpiresIn != 60 {
		t.Errorf("carol's access token lives %ds, want 60", carol.ExpiresIn)
	}
	alice := f.login("alice", "")
	if want := int64(f.iss.AccessTTL() / time.Second); alice.ExpiresIn != want {
		t.Errorf("alice's access token lives %ds, want %d", alice.ExpiresIn, want)
	}
	f.clock.Add(50 * time.Minute)
	r := f.form("/token", []string{"grant_type", "refresh_token", "refresh_token", carol.RefreshToken})
	if r.status != 200 {
		t.Fatalf("carol's refresh within her session: %d %s", r.status, r.body)
	}
	next := r.json(t)["refresh_token"].(string)
	f.clock.Add(11 * time.Minute)
	r = f.form("/token", []string{"grant_type", "refresh_token", "refresh_token", next})
	expect(t, r, 400, "", `{"error":"invalid_grant","error_description":"the refresh token is invalid, expired, revoked or issued to another client"}`)
	r = f.form("/token", []string{"grant_type", "refresh_token", "refresh_token", alice.RefreshToken})
	if r.status != 200 {
		t.Errorf("alice's remembered session: %d %s", r.status, r.body)
	}
}

func TestPasswordLoginUnderScopePolicy(t *testing.T) {
	var mu sync.Mutex
	var asked [][]string
	policy := httpauth.WithScopePolicy(func(_ context.Context, subject string, want []string) ([]string, error) {
		mu.Lock()
		asked = append(asked, want)
		mu.Unlock()
		return []string{"read", "introspect"}, nil // a policy cannot widen the login's
	})
	f := loginFx(t, policy)
	if tk := f.login("alice", ""); tk.Scope != "read" {
		t.Errorf("scope %q, want read", tk.Scope)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(asked) != 1 || !slices.Equal(asked[0], []string{"read", "write", "admin"}) {
		t.Errorf("policy asked %v, want the login's scopes", asked)
	}
}

func TestPasswordGrantStillWorks(t *testing.T) {
	// WithPasswordGrant after WithPasswordLogin replaces it: no claims.
	f := newFx(t, fxOptions{handler: []httpauth.HandlerOption{httpauth.WithPasswordLogin(loginHook), httpauth.WithPasswordGrant(checkPassword)}})
	tk := f.login("alice", "read")
	p, err := f.ver.Verify(context.Background(), tk.AccessToken)
	if err != nil || len(p.Claims) != 0 && p.Claims["roles"] != nil {
		t.Errorf("WithPasswordGrant: %v, claims %v", err, p.Claims)
	}
	if tk := f.login("bob", ""); tk.Scope != "" {
		t.Errorf("WithPasswordGrant without scope: %q", tk.Scope)
	}
}

func TestRefreshCheckHTTP(t *testing.T) {
	var mu sync.Mutex
	state := map[string]string{} // subject -> "disabled" | "down" | "readonly"
	set := func(sub, v string) { mu.Lock(); state[sub] = v; mu.Unlock() }
	check := httpauth.WithRefreshCheck(func(_ context.Context, s authkit.Session) ([]string, error) {
		mu.Lock()
		v := state[s.Subject]
		mu.Unlock()
		switch v {
		case "disabled":
			return nil, errors.New("account disabled")
		case "down":
			return nil, errDown
		case "readonly":
			return []string{"read"}, nil
		}
		return s.Scopes, nil
	})
	f := newFx(t, fxOptions{handler: []httpauth.HandlerOption{check}})
	tk := f.login("alice", "read write")
	refresh := func(rt string) resp {
		return f.form("/token", []string{"grant_type", "refresh_token", "refresh_token", rt})
	}
	set("alice", "disabled")
	expect(t, refresh(tk.RefreshToken), 400, "", `{"error":"invalid_grant","error_description":"the refresh token is invalid, expired, revoked or issued to another client"}`)
	set("alice", "down")
	if r := refresh(tk.RefreshToken); r.status != 503 {
		t.Errorf("check down: %d %s, want 503", r.status, r.body)
	}
	set("alice", "readonly")
	r := refresh(tk.RefreshToken) // neither refusal spent it
	if r.status != 200 || r.json(t)["scope"] != "read" {
		t.Fatalf("read-only refresh: %d %s", r.status, r.body)
	}
	set("alice", "")
	r = refresh(r.json(t)["refresh_token"].(string))
	if r.status != 200 || r.json(t)["scope"] != "read write" {
		t.Errorf("re-allowed refresh: %d %s", r.status, r.body)
	}
	// Introspection answers as a refresh would (found by review: a
	// disabled user's refresh token introspected as active).
	admin := f.login("bob", "introspect")
	rt := r.json(t)["refresh_token"].(string)
	introspect := func() map[string]any {
		res := f.form("/introspect", []string{"token", rt, "token_type_hint", "refresh_token"}, bearer(admin.AccessToken)...)
		if res.status != 200 {
			t.Fatalf("introspect: %d %s", res.status, res.body)
		}
		return res.json(t)
	}
	if got := introspect(); got["active"] != true || got["scope"] != "read write" {
		t.Errorf("introspect, allowed: %v", got)
	}
	set("alice", "readonly")
	if got := introspect(); got["active"] != true || got["scope"] != "read" {
		t.Errorf("introspect, read-only: %v, want active with scope read", got)
	}
	set("alice", "disabled")
	if got := introspect(); got["active"] != false || len(got) != 1 {
		t.Errorf("introspect, disabled: %v, want inactive", got)
	}
	set("alice", "down")
	if res := f.form("/introspect", []string{"token", rt}, bearer(admin.AccessToken)...); res.status != 503 {
		t.Errorf("introspect, check down: %d %s, want 503", res.status, res.body)
	}
	if _, err := httpauth.NewHandler(f.iss, f.auth, httpauth.WithRefreshCheck(nil)); !errors.Is(err, authkit.ErrInvalidConfig) {
		t.Errorf("WithRefreshCheck(nil): %v", err)
	}
}

func TestPasswordLoginCookieLifetimes(t *testing.T) {
	f := newFx(t, fxOptions{noGrant: true,
		auth:    []httpauth.Option{httpauth.WithCookies(httpauth.Cookies{})},
		handler: []httpauth.HandlerOption{httpauth.WithPasswordLogin(loginHook)}})
	r := f.form("/token", []string{"grant_type", "password", "username", "carol", "password", "singer"})
	if r.status != 200 {
		t.Fatalf("login: %d %s", r.status, r.body)
	}
	cs := cookiesOf(r)
	if at, rt := cs["authkit_access"], cs["authkit_refresh"]; at == nil || rt == nil || at.MaxAge != 3600 || rt.MaxAge != 3600 {
		t.Errorf("no cookie may outlive its session (the access cookie lives as long as the refresh cookie): %v", r.header["Set-Cookie"])
	}
	r = f.form("/token", []string{"grant_type", "password", "username", "alice", "password", "wonderland"})
	cs = cookiesOf(r)
	if at, rt := cs["authkit_access"], cs["authkit_refresh"]; at == nil || rt == nil || at.MaxAge != 14*24*3600 || rt.MaxAge != 14*24*3600 {
		t.Errorf("a remembered login's cookies: %v", r.header["Set-Cookie"])
	}
}
