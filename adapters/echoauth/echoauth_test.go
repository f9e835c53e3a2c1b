package echoauth_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/labstack/echo/v4"

	"github.com/authkit-go/authkit/adapters/echoauth"
	"github.com/authkit-go/authkit/internal/httpsuite"
	"github.com/authkit-go/authkit/issuer"
)

// mount is the suite's router built the echo way: the endpoints on a
// group, middleware per route, handlers that read the caller with
// echoauth.Principal.
func mount(_ *testing.T, env httpsuite.Env) http.Handler {
	me := func(c echo.Context) error {
		p, _ := echoauth.Principal(c)
		return c.Blob(http.StatusOK, "application/json", httpsuite.MeBody(p))
	}
	e := echo.New()
	echoauth.Mount(e.Group(httpsuite.Prefix), env.Handler)
	e.GET(httpsuite.MePath, me, echoauth.Require(env.Auth))
	e.GET(httpsuite.AdminPath, me, echoauth.Require(env.Auth), echoauth.RequireScopes(env.Auth, httpsuite.AdminScope))
	e.GET(httpsuite.AnyPath, me, echoauth.RequireAnyScope(env.Auth, httpsuite.ReadScope, httpsuite.AdminScope))
	e.GET(httpsuite.AllPath, me, echoauth.RequireScopes(env.Auth, httpsuite.ReadScope, httpsuite.AdminScope))
	e.GET(httpsuite.MaybePath, me, echoauth.Optional(env.Auth))
	return e
}

// TestHTTPSuite runs the shared scenarios on echo and holds the answers to
// the net/http mounting's, byte for byte.
func TestHTTPSuite(t *testing.T) {
	httpsuite.Run(t, mount)
}

// A refused request never reaches the handler nor the middleware after
// it; an admitted one continues with the principal on c.Request().
func TestMiddlewareStopsRefusedRequests(t *testing.T) {
	env := httpsuite.NewEnv(t)
	var trail []string
	e := echo.New()
	e.Use(func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			err := next(c)
			trail = append(trail, "outer")
			return err
		}
	})
	handler := func(c echo.Context) error {
		p, ok := echoauth.Principal(c)
		if ok {
			trail = append(trail, "handler "+p.Subject)
		} else {
			trail = append(trail, "handler anonymous")
		}
		return c.NoContent(http.StatusNoContent)
	}
	after := func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			trail = append(trail, "after")
			return next(c)
		}
	}
	e.GET("/require", handler, echoauth.Require(env.Auth), after)
	e.GET("/optional", handler, echoauth.Optional(env.Auth), after)
	e.GET("/scopes", handler, echoauth.RequireScopes(env.Auth, "admin"), after)
	e.GET("/any", handler, echoauth.RequireAnyScope(env.Auth, "admin", "read"), after)
	pair, err := env.Issuer.IssuePair(context.Background(), "alice", issuer.WithScopes("read"))
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		path, token string
		status      int
		trail       string
	}{
		{"/require", "", 401, "outer"},
		{"/require", pair.AccessToken, 204, "after,handler alice,outer"},
		{"/optional", "", 204, "after,handler anonymous,outer"},
		{"/optional", "bad", 401, "outer"},
		{"/scopes", pair.AccessToken, 403, "outer"},
		{"/any", pair.AccessToken, 204, "after,handler alice,outer"},
	} {
		trail = nil
		rec := httpsuite.Do(t, e, "GET", c.path, c.token)
		if rec.Code != c.status || strings.Join(trail, ",") != c.trail {
			t.Errorf("%s: %d, trail %q; want %d, %q", c.path, rec.Code, trail, c.status, c.trail)
		}
	}
}

// Principal without authkit middleware finds nobody.
func TestPrincipalAbsent(t *testing.T) {
	e := echo.New()
	c := e.NewContext(httptest.NewRequest("GET", "/", nil), httptest.NewRecorder())
	if p, ok := echoauth.Principal(c); ok || p != nil {
		t.Errorf("Principal = %v, %v", p, ok)
	}
}

// Mount works on *echo.Echo and under a group that has its own :id
// parameter: the item routes read their own parameter, not the enclosing
// one.
func TestMountUnderParameterisedGroup(t *testing.T) {
	env := httpsuite.NewEnv(t)
	e := echo.New()
	echoauth.Mount(e.Group("/tenants/:id/auth"), env.Handler)
	echoauth.Mount(e, env.Handler)
	pair, err := env.Issuer.IssuePair(context.Background(), "alice")
	if err != nil {
		t.Fatal(err)
	}
	rec := httpsuite.Do(t, e, "GET", "/tenants/t1/auth/sessions", pair.AccessToken)
	if rec.Code != 200 || !strings.Contains(rec.Body.String(), pair.SessionID) {
		t.Fatalf("list: %d %s", rec.Code, rec.Body)
	}
	if rec := httpsuite.Do(t, e, "DELETE", "/tenants/t1/auth/sessions/"+pair.SessionID, pair.AccessToken); rec.Code != 204 {
		t.Fatalf("delete: %d %s", rec.Code, rec.Body)
	}
	if rec := httpsuite.Do(t, e, "GET", "/sessions", pair.AccessToken); rec.Code != 401 {
		t.Errorf("after ending its own session the token is revoked: %d %s", rec.Code, rec.Body)
	}
	if rec := httpsuite.Do(t, e, "GET", "/tenants/t1/auth/nope", ""); rec.Code != 404 || strings.Contains(rec.Body.String(), "not_found") {
		t.Errorf("unknown path: %d %s", rec.Code, rec.Body)
	}
}
