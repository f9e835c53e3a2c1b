// Package echoauth wires authkit into labstack/echo (v4): httpauth's
// middleware as echo.MiddlewareFunc values, [Principal] to read the
// caller, and [Mount] to put the endpoints on a group.
//
//	e := echo.New()
//	echoauth.Mount(e.Group("/auth"), endpoints)
//	api := e.Group("/api", echoauth.Require(auth))
//	api.GET("/me", func(c echo.Context) error {
//		p, _ := echoauth.Principal(c)
//		return c.JSON(http.StatusOK, map[string]string{"subject": p.Subject})
//	})
//	api.GET("/admin", admin, echoauth.RequireScopes(auth, "admin"))
//
// The middleware is httpauth's net/http middleware converted by
// echo.WrapMiddleware: when it lets the request through, echo continues
// with c.Request() replaced by the request that carries the principal, so
// authkit.PrincipalFrom(c.Request().Context()) works as in any net/http
// handler; [Principal] is that call. When it refuses, its RFC 6750 answer
// is the response and the next handler never runs.
//
// Every decision — which credential is valid, which status and
// WWW-Authenticate header a failure gets — is made by adapters/httpauth;
// this package only connects it, so an echo application answers exactly as
// a net/http one does (internal/httpsuite checks it). The principal is
// never put in echo's own key-value store (c.Set): there is one place to
// find it.
package echoauth

import (
	"net/http"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/authkit-go/authkit"
	"github.com/authkit-go/authkit/adapters/httpauth"
	"github.com/authkit-go/authkit/internal/routeparam"
)

// Require returns echo middleware that lets only authenticated requests
// through (see httpauth.Auth.Require).
func Require(a *httpauth.Auth) echo.MiddlewareFunc { return wrap(a.Require) }

// Optional returns echo middleware that admits anonymous requests but never
// a bad credential (see httpauth.Auth.Optional).
func Optional(a *httpauth.Auth) echo.MiddlewareFunc { return wrap(a.Optional) }

// RequireScopes returns echo middleware that admits a principal holding
// every one of scopes and answers others 403 insufficient_scope (see
// httpauth.Auth.RequireScopes). It authenticates the request itself when
// no Require ran before it.
func RequireScopes(a *httpauth.Auth, scopes ...string) echo.MiddlewareFunc {
	return wrap(a.RequireScopes(scopes...))
}

// RequireAnyScope returns echo middleware that admits a principal holding
// at least one of scopes (see httpauth.Auth.RequireAnyScope).
func RequireAnyScope(a *httpauth.Auth, scopes ...string) echo.MiddlewareFunc {
	return wrap(a.RequireAnyScope(scopes...))
}

// wrap is echo.WrapMiddleware(mw), which builds mw's chain per request,
// after building it once, so that a nil *httpauth.Auth panics with its
// message as the route is set up rather than at its first request.
func wrap(mw func(http.Handler) http.Handler) echo.MiddlewareFunc {
	mw(http.NotFoundHandler())
	return echo.WrapMiddleware(mw)
}

// Principal returns the caller that Require, Optional or a scope
// middleware authenticated, and whether there is one (an anonymous request
// through Optional has none). It is authkit.PrincipalFrom on
// c.Request()'s context.
func Principal(c echo.Context) (*authkit.Principal, bool) {
	return authkit.PrincipalFrom(c.Request().Context())
}

// Router is where Mount registers routes: *echo.Echo and *echo.Group both
// satisfy it.
type Router interface {
	Any(path string, h echo.HandlerFunc, m ...echo.MiddlewareFunc) []*echo.Route
}

// Mount registers h's endpoints (h.Routes) on g, each path for every method
// echo's Any knows, relative to g's prefix: on e.Group("/auth") the token
// endpoint is /auth/token. Item routes
// (/sessions/{id}, /api-tokens/{id}) take echo's :authkit_id parameter, a name
// that no enclosing group's parameter shadows.
//
// Every request on an endpoint path is served by h itself, under the path h
// knows, not by a per-method echo route: so a wrong method gets h's 405
// with its Allow header and JSON body, exactly as with net/http (echo's own
// 405 body is {"message":"Method Not Allowed"}). Paths that are not
// endpoints stay with echo's 404 handling. Middleware of g runs before the
// endpoints; they authenticate callers themselves.
func Mount(g Router, h *httpauth.Handler) {
	for _, path := range h.Paths() {
		g.Any(strings.Replace(path, "{id}", ":authkit_id", 1), func(c echo.Context) error {
			h.ServeAt(c.Response(), c.Request(), strings.Replace(path, "{id}", routeparam.Unescape(c.Request(), c.Param("authkit_id")), 1))
			return nil
		})
	}
}
