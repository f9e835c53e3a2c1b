// Package ginauth wires authkit into gin-gonic/gin: httpauth's middleware
// as gin.HandlerFunc values, [Principal] to read the caller, and [Mount]
// to put the endpoints on a router group.
//
//	r := gin.New()
//	ginauth.Mount(r.Group("/auth"), endpoints)
//	api := r.Group("/api", ginauth.Require(auth))
//	api.GET("/me", func(c *gin.Context) {
//		p, _ := ginauth.Principal(c)
//		c.JSON(http.StatusOK, gin.H{"subject": p.Subject})
//	})
//	api.GET("/admin", ginauth.RequireScopes(auth, "admin"), admin)
//
// The middleware runs httpauth's net/http middleware inside gin. When it
// lets the request through, the gin chain continues with c.Request
// replaced by the request that carries the principal, so
// authkit.PrincipalFrom(c.Request.Context()) works as in any net/http
// handler; [Principal] is that call. When it refuses, its RFC 6750 answer
// stands and the chain is aborted.
//
// Every decision — which credential is valid, which status and
// WWW-Authenticate header a failure gets — is made by adapters/httpauth;
// this package only connects it, so a gin application answers exactly as a
// net/http one does (internal/httpsuite checks it). The principal is never
// put in gin's own key-value store (c.Set): there is one place to find it.
package ginauth

import (
	"net/http"
	"strings"
	"sync"

	"github.com/gin-gonic/gin"

	"github.com/authkit-go/authkit"
	"github.com/authkit-go/authkit/adapters/httpauth"
)

// Require returns gin middleware that lets only authenticated requests
// through (see httpauth.Auth.Require) and aborts the others with their
// RFC 6750 answer.
func Require(a *httpauth.Auth) gin.HandlerFunc { return wrap(a.Require) }

// Optional returns gin middleware that admits anonymous requests but never
// a bad credential (see httpauth.Auth.Optional).
func Optional(a *httpauth.Auth) gin.HandlerFunc { return wrap(a.Optional) }

// RequireScopes returns gin middleware that admits a principal holding
// every one of scopes and aborts others with 403 insufficient_scope (see
// httpauth.Auth.RequireScopes). It authenticates the request itself when
// no Require ran before it.
func RequireScopes(a *httpauth.Auth, scopes ...string) gin.HandlerFunc {
	return wrap(a.RequireScopes(scopes...))
}

// RequireAnyScope returns gin middleware that admits a principal holding at
// least one of scopes (see httpauth.Auth.RequireAnyScope).
func RequireAnyScope(a *httpauth.Auth, scopes ...string) gin.HandlerFunc {
	return wrap(a.RequireAnyScope(scopes...))
}

// Principal returns the caller that Require, Optional or a scope
// middleware authenticated, and whether there is one (an anonymous request
// through Optional has none). It is authkit.PrincipalFrom on c.Request's
// context.
func Principal(c *gin.Context) (*authkit.Principal, bool) {
	return authkit.PrincipalFrom(c.Request.Context())
}

// wrap runs net/http middleware inside gin. The gin chain continues only if
// mw called next — with mw's request, which carries the principal —
// otherwise mw's response stands and the chain stops. mw must write to the
// ResponseWriter it was given, and the handler it returns must keep no
// per-request state, since it serves many requests (httpauth's middleware
// does both).
//
// The handler mw builds around a bridge is built once per bridge, and the
// bridges are pooled, so that a request costs no allocation here (this
// middleware runs on every authenticated request; building mw's chain per
// request cost three).
func wrap(mw func(http.Handler) http.Handler) gin.HandlerFunc {
	pool := &sync.Pool{}
	pool.New = func() any {
		b := &bridge{}
		b.chain = mw(b)
		return b
	}
	// One bridge made now: mw checks what it wraps when it builds its
	// chain, so a nil *httpauth.Auth panics here, as the route is set up,
	// not at its first request.
	pool.Put(pool.New())
	return func(c *gin.Context) {
		if c.Writer.Written() || (c.FullPath() != "" && answered(c.Writer.Status())) {
			// A handler before this middleware has answered, or set its
			// status (c.Status(204) writes nothing yet): it ran without a
			// principal, so the route is not protected. A handler that did
			// neither cannot be told from middleware.
			panic(misplaced(c))
		}
		b := pool.Get().(*bridge)
		b.c, b.called = c, false
		b.chain.ServeHTTP(c.Writer, c.Request)
		called := b.called
		// Not put back if the chain panicked: it is then simply dropped.
		b.c = nil
		pool.Put(b)
		if !called {
			c.Abort()
		}
	}
}

// answered reports whether a status found before the middleware ran was
// set by a handler: not 200 (gin's default), nor the 404 and 405 gin sets
// itself before an unmatched path's middleware, which a NoRoute or NoMethod
// handler keeps when it dispatches the request again (r.HandleContext).
func answered(status int) bool {
	return status != http.StatusOK && status != http.StatusNotFound && status != http.StatusMethodNotAllowed
}

// misplaced is the panic value of a middleware that found the response
// already written: mounted after the handler it should protect, as in
// r.POST(path, handler, ginauth.Require(auth)), where gin runs handler
// first. (echo takes a route's middleware after its handler; gin before.)
func misplaced(c *gin.Context) string {
	return "ginauth: middleware ran after a handler that had already answered " + c.Request.Method + " " + c.FullPath() +
		": that handler ran unauthenticated. Put the middleware before the handler: r.POST(path, ginauth.Require(auth), handler)"
}

// bridge is the next handler of the net/http middleware wrap runs: it
// continues the gin chain of the request it is lent to. chain is the
// middleware around it.
type bridge struct {
	c      *gin.Context
	called bool
	chain  http.Handler
}

// ServeHTTP continues the gin chain with r, the middleware's request.
func (b *bridge) ServeHTTP(_ http.ResponseWriter, r *http.Request) {
	b.called = true
	b.c.Request = r
	b.c.Next()
}

// Mount registers h's endpoints (h.Routes) on g, each path for every method
// gin's Any knows, relative to g's path: on r.Group("/auth") the token
// endpoint is /auth/token. Item routes
// (/sessions/{id}, /api-tokens/{id}) take gin's :authkit_id parameter, a name
// that no enclosing group's parameter shadows.
//
// Every request on an endpoint path is served by h itself, under the path h
// knows, not by a per-method gin route: so a wrong method gets h's 405 with
// its Allow header and JSON body, and HEAD works on GET endpoints, exactly
// as with net/http (gin answers a wrong method 404 unless
// HandleMethodNotAllowed is set, and then with a text body). Paths that are
// not endpoints stay with gin's NoRoute handling. Middleware of g runs
// before the endpoints; they authenticate callers themselves.
func Mount(g gin.IRouter, h *httpauth.Handler) {
	for _, path := range h.Paths() {
		g.Any(strings.Replace(path, "{id}", ":authkit_id", 1), func(c *gin.Context) {
			h.ServeAt(c.Writer, c.Request, strings.Replace(path, "{id}", c.Param("authkit_id"), 1))
		})
	}
}
