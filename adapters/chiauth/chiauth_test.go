package chiauth_test

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/go-chi/chi/v5"

	"github.com/authkit-go/authkit"
	"github.com/authkit-go/authkit/adapters/chiauth"
	"github.com/authkit-go/authkit/internal/httpsuite"
	"github.com/authkit-go/authkit/issuer"
)

// mount is the suite's router built the chi way: the endpoints in a
// sub-router, Require on a group, scope middleware with With.
func mount(_ *testing.T, env httpsuite.Env) http.Handler {
	r := chi.NewRouter()
	r.Route(httpsuite.Prefix, func(r chi.Router) { chiauth.Mount(r, env.Handler) })
	r.Group(func(r chi.Router) {
		r.Use(chiauth.Require(env.Auth))
		r.Get(httpsuite.MePath, env.Me.ServeHTTP)
		r.With(chiauth.RequireScopes(env.Auth, httpsuite.AdminScope)).Get(httpsuite.AdminPath, env.Me.ServeHTTP)
	})
	r.With(chiauth.RequireAnyScope(env.Auth, httpsuite.ReadScope, httpsuite.AdminScope)).Get(httpsuite.AnyPath, env.Me.ServeHTTP)
	r.With(chiauth.RequireScopes(env.Auth, httpsuite.ReadScope, httpsuite.AdminScope)).Get(httpsuite.AllPath, env.Me.ServeHTTP)
	r.With(chiauth.Optional(env.Auth)).Get(httpsuite.MaybePath, env.Me.ServeHTTP)
	return r
}

// TestHTTPSuite runs the shared scenarios on chi and holds the answers to
// the net/http mounting's, byte for byte.
func TestHTTPSuite(t *testing.T) {
	httpsuite.Run(t, mount)
}

// Mount works under a route that has its own {id} parameter: the item
// routes read their own parameter, not the enclosing one.
func TestMountUnderParameterisedRoute(t *testing.T) {
	env := httpsuite.NewEnv(t)
	r := chi.NewRouter()
	r.Route("/tenants/{id}/auth", func(r chi.Router) { chiauth.Mount(r, env.Handler) })
	pair, err := env.Issuer.IssuePair(context.Background(), "alice")
	if err != nil {
		t.Fatal(err)
	}
	rec := httpsuite.Do(t, r, "GET", "/tenants/t1/auth/sessions", pair.AccessToken)
	if rec.Code != 200 || !strings.Contains(rec.Body.String(), pair.SessionID) {
		t.Fatalf("list: %d %s", rec.Code, rec.Body)
	}
	if rec := httpsuite.Do(t, r, "DELETE", "/tenants/t1/auth/sessions/"+pair.SessionID, pair.AccessToken); rec.Code != 204 {
		t.Fatalf("delete: %d %s", rec.Code, rec.Body)
	}
	if rec := httpsuite.Do(t, r, "GET", "/tenants/t1/auth/sessions", pair.AccessToken); rec.Code != 401 {
		t.Errorf("after ending its own session the token is revoked: %d %s", rec.Code, rec.Body)
	}
	// A path that is no endpoint stays with chi.
	if rec := httpsuite.Do(t, r, "GET", "/tenants/t1/auth/nope", ""); rec.Code != 404 || strings.Contains(rec.Body.String(), "not_found") {
		t.Errorf("unknown path: %d %s", rec.Code, rec.Body)
	}
}

// The middleware constructors are httpauth's, so anything chi composes
// with them behaves as in net/http: a refused request never reaches the
// handler.
func TestMiddlewareStopsRefusedRequests(t *testing.T) {
	env := httpsuite.NewEnv(t)
	reached := 0
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		reached++
		p, ok := authkit.PrincipalFrom(r.Context())
		if ok {
			w.Write([]byte(p.Subject))
		}
	})
	r := chi.NewRouter()
	r.With(chiauth.Require(env.Auth)).Get("/require", h)
	r.With(chiauth.Optional(env.Auth)).Get("/optional", h)
	r.With(chiauth.RequireScopes(env.Auth, "admin")).Get("/scopes", h)
	r.With(chiauth.RequireAnyScope(env.Auth, "admin", "read")).Get("/any", h)
	pair, err := env.Issuer.IssuePair(context.Background(), "alice", issuer.WithScopes("read"))
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		path, token string
		status      int
		body        string
	}{
		{"/require", "", 401, ""},
		{"/require", pair.AccessToken, 200, "alice"},
		{"/optional", "", 200, ""},
		{"/optional", "bad", 401, ""},
		{"/scopes", pair.AccessToken, 403, ""},
		{"/any", pair.AccessToken, 200, "alice"},
	} {
		before := reached
		rec := httpsuite.Do(t, r, "GET", c.path, c.token)
		if rec.Code != c.status || c.status == 200 && rec.Body.String() != c.body {
			t.Errorf("%s: %d %q, want %d %q", c.path, rec.Code, rec.Body, c.status, c.body)
		}
		if got := reached - before; got != map[bool]int{true: 1, false: 0}[c.status == 200] {
			t.Errorf("%s: handler ran %d times for a %d", c.path, got, rec.Code)
		}
	}
}
