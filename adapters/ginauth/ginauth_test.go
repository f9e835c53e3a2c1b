package ginauth_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"testing"

	"github.com/gin-gonic/gin"

	"github.com/authkit-go/authkit/adapters/ginauth"
	"github.com/authkit-go/authkit/internal/httpsuite"
	"github.com/authkit-go/authkit/issuer"
)

func TestMain(m *testing.M) {
	gin.SetMode(gin.ReleaseMode) // no debug route listing on stdout
	os.Exit(m.Run())
}

// mount is the suite's router built the gin way: the endpoints on a group,
// Require on a group, scope middleware per route, handlers that read the
// caller with ginauth.Principal.
func mount(_ *testing.T, env httpsuite.Env) http.Handler {
	me := func(c *gin.Context) {
		p, _ := ginauth.Principal(c)
		c.Data(http.StatusOK, "application/json", httpsuite.MeBody(p))
	}
	r := gin.New()
	ginauth.Mount(r.Group(httpsuite.Prefix), env.Handler)
	api := r.Group("/", ginauth.Require(env.Auth))
	api.GET(httpsuite.MePath, me)
	api.GET(httpsuite.AdminPath, ginauth.RequireScopes(env.Auth, httpsuite.AdminScope), me)
	r.GET(httpsuite.AnyPath, ginauth.RequireAnyScope(env.Auth, httpsuite.ReadScope, httpsuite.AdminScope), me)
	r.GET(httpsuite.AllPath, ginauth.RequireScopes(env.Auth, httpsuite.ReadScope, httpsuite.AdminScope), me)
	r.GET(httpsuite.MaybePath, ginauth.Optional(env.Auth), me)
	return r
}

// TestHTTPSuite runs the shared scenarios on gin and holds the answers to
// the net/http mounting's, byte for byte.
func TestHTTPSuite(t *testing.T) {
	httpsuite.Run(t, mount)
}

// A refused request aborts the gin chain — the handlers after the
// middleware never run, while enclosing middleware finishes as usual — and
// an admitted one continues with the principal on c.Request.
func TestMiddlewareAbortsRefusedRequests(t *testing.T) {
	env := httpsuite.NewEnv(t)
	var trail []string
	r := gin.New()
	r.Use(func(c *gin.Context) {
		c.Next()
		trail = append(trail, "outer")
	})
	handler := func(c *gin.Context) {
		p, ok := ginauth.Principal(c)
		if ok {
			trail = append(trail, "handler "+p.Subject)
		} else {
			trail = append(trail, "handler anonymous")
		}
		c.Status(http.StatusNoContent)
	}
	after := func(*gin.Context) { trail = append(trail, "after") }
	r.GET("/require", ginauth.Require(env.Auth), handler, after)
	r.GET("/optional", ginauth.Optional(env.Auth), handler, after)
	r.GET("/scopes", ginauth.RequireScopes(env.Auth, "admin"), handler, after)
	r.GET("/any", ginauth.RequireAnyScope(env.Auth, "admin", "read"), handler, after)
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
		{"/require", pair.AccessToken, 204, "handler alice,after,outer"},
		{"/optional", "", 204, "handler anonymous,after,outer"},
		{"/optional", "bad", 401, "outer"},
		{"/scopes", pair.AccessToken, 403, "outer"},
		{"/any", pair.AccessToken, 204, "handler alice,after,outer"},
	} {
		trail = nil
		rec := httpsuite.Do(t, r, "GET", c.path, c.token)
		if rec.Code != c.status || strings.Join(trail, ",") != c.trail {
			t.Errorf("%s: %d, trail %q; want %d, %q", c.path, rec.Code, trail, c.status, c.trail)
		}
	}
}

// A middleware mounted after the handler (echo's order, not gin's) finds
// the response written: it panics, saying so, rather than append its 401
// to the handler's answer as if the route were protected.
func TestMiddlewareAfterHandler(t *testing.T) {
	env := httpsuite.NewEnv(t)
	r := gin.New()
	var recovered any
	r.Use(func(c *gin.Context) {
		defer func() { recovered = recover() }()
		c.Next()
	})
	r.POST("/orders", func(c *gin.Context) { c.String(http.StatusCreated, "created") }, ginauth.RequireScopes(env.Auth, "orders:write"))
	r.DELETE("/orders", func(c *gin.Context) { c.Status(http.StatusNoContent) }, ginauth.Require(env.Auth))
	rec0 := httpsuite.Do(t, r, "DELETE", "/orders", "")
	if msg, _ := recovered.(string); !strings.Contains(msg, "DELETE /orders") || rec0.Code == http.StatusUnauthorized {
		t.Errorf("a handler that only set its status, then the middleware: %d, panic %v", rec0.Code, recovered)
	}
	recovered = nil
	// Only the middleware: an authentication check endpoint, still fine.
	r.GET("/check", ginauth.Require(env.Auth))
	rec := httpsuite.Do(t, r, "POST", "/orders", "")
	if msg, _ := recovered.(string); !strings.Contains(msg, "ran after a handler") || !strings.Contains(msg, "POST /orders") {
		t.Errorf("panic %v", recovered)
	}
	if strings.Contains(rec.Body.String(), "unauthorized") {
		t.Errorf("the middleware wrote after the handler: %q", rec.Body.String())
	}
	recovered = nil
	if rec := httpsuite.Do(t, r, "GET", "/check", ""); rec.Code != http.StatusUnauthorized || recovered != nil {
		t.Errorf("/check: %d, panic %v", rec.Code, recovered)
	}
	// A NoRoute handler dispatching again into a protected route (gin
	// keeps its 404 status) is no misplaced middleware either.
	r.GET("/v2/orders", ginauth.Require(env.Auth), func(c *gin.Context) { c.String(http.StatusOK, "orders") })
	r.NoRoute(func(c *gin.Context) {
		if c.Request.URL.Path == "/v1/orders" {
			c.Request.URL.Path = "/v2/orders"
			r.HandleContext(c)
		}
	})
	recovered = nil
	if rec := httpsuite.Do(t, r, "GET", "/v1/orders", ""); rec.Code != http.StatusUnauthorized || recovered != nil {
		t.Errorf("a NoRoute redirect into a protected route: %d, panic %v", rec.Code, recovered)
	}
	// Unknown paths run the global middleware only; a Require there is
	// not misplaced either.
	g := gin.New()
	g.Use(ginauth.Require(env.Auth))
	if rec := httpsuite.Do(t, g, "GET", "/nowhere", ""); rec.Code != http.StatusUnauthorized {
		t.Errorf("unknown path behind a global Require: %d", rec.Code)
	}
}

// Principal without authkit middleware finds nobody.
func TestPrincipalAbsent(t *testing.T) {
	c, _ := gin.CreateTestContext(httptest.NewRecorder())
	c.Request = httptest.NewRequest("GET", "/", nil)
	if p, ok := ginauth.Principal(c); ok || p != nil {
		t.Errorf("Principal = %v, %v", p, ok)
	}
}

// Mount works under a group that has its own :id parameter: the item
// routes read their own parameter, not the enclosing one.
func TestMountUnderParameterisedGroup(t *testing.T) {
	env := httpsuite.NewEnv(t)
	r := gin.New()
	ginauth.Mount(r.Group("/tenants/:id/auth"), env.Handler)
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
	if rec := httpsuite.Do(t, r, "GET", "/tenants/t1/auth/nope", ""); rec.Code != 404 || strings.Contains(rec.Body.String(), "not_found") {
		t.Errorf("unknown path: %d %s", rec.Code, rec.Body)
	}
}

// The middleware reuses its net/http chain across requests: concurrent
// requests through one middleware value each see their own principal, the
// same middleware nested in one chain works, and a handler that panics
// (recovered by gin) leaves later requests unaffected.
func TestMiddlewareReusedAcrossRequests(t *testing.T) {
	env := httpsuite.NewEnv(t)
	require := ginauth.Require(env.Auth)
	r := gin.New()
	r.Use(gin.CustomRecoveryWithWriter(io.Discard, func(c *gin.Context, _ any) { c.AbortWithStatus(http.StatusTeapot) }))
	who := func(c *gin.Context) {
		p, ok := ginauth.Principal(c)
		if !ok {
			c.String(http.StatusInternalServerError, "no principal")
			return
		}
		c.String(http.StatusOK, p.Subject)
	}
	r.GET("/me", require, who)
	r.GET("/twice", require, require, who)
	r.GET("/panic", require, func(*gin.Context) { panic("handler failed") })

	const n = 8
	tokens := make([]string, n)
	for i := range tokens {
		pair, err := env.Issuer.IssuePair(context.Background(), "user-"+string(rune('a'+i)))
		if err != nil {
			t.Fatal(err)
		}
		tokens[i] = pair.AccessToken
	}
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			for j := range 50 {
				path := []string{"/me", "/twice", "/panic"}[j%3]
				tok := tokens[i]
				if j%5 == 4 {
					tok = "" // refused: the chain is aborted
				}
				rec := httptest.NewRecorder()
				req := httptest.NewRequest(http.MethodGet, path, nil)
				if tok != "" {
					req.Header.Set("Authorization", "Bearer "+tok)
				}
				r.ServeHTTP(rec, req)
				want, body := http.StatusOK, "user-"+string(rune('a'+i))
				switch {
				case tok == "":
					want, body = http.StatusUnauthorized, ""
				case path == "/panic":
					want, body = http.StatusTeapot, ""
				}
				if rec.Code != want || (body != "" && rec.Body.String() != body) {
					t.Errorf("%s as user %d: %d %q, want %d %q", path, i, rec.Code, rec.Body, want, body)
					return
				}
			}
		})
	}
	wg.Wait()
}
