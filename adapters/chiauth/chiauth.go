// Package chiauth wires authkit into go-chi/chi. chi middleware has
// net/http's own shape, func(http.Handler) http.Handler, so the middleware
// here is httpauth's, unchanged; the functions exist so that chi code reads
// like chi code, and [Mount] puts the endpoints on a chi router:
//
//	r := chi.NewRouter()
//	r.Route("/auth", func(r chi.Router) { chiauth.Mount(r, endpoints) })
//	r.Group(func(r chi.Router) {
//		r.Use(chiauth.Require(auth))
//		r.Get("/api/me", me) // authkit.PrincipalFrom(r.Context()) finds the caller
//		r.With(chiauth.RequireScopes(auth, "admin")).Get("/api/admin", admin)
//	})
//
// Every decision — which credential is valid, which status and
// WWW-Authenticate header a failure gets — is made by adapters/httpauth;
// this package only connects it, so a chi application answers exactly as a
// net/http one does (internal/httpsuite checks it).
package chiauth

import (
	"net/http"
	"strings"

	"github.com/go-chi/chi/v5"

	"github.com/authkit-go/authkit/adapters/httpauth"
	"github.com/authkit-go/authkit/internal/routeparam"
)

// Require returns chi middleware that lets only authenticated requests
// through (see httpauth.Auth.Require); it is a.Require, and r.Use(a.Require)
// works as well. The handler finds the caller with authkit.PrincipalFrom.
func Require(a *httpauth.Auth) func(http.Handler) http.Handler { return a.Require }

// Optional returns chi middleware that admits anonymous requests but never
// a bad credential (see httpauth.Auth.Optional); it is a.Optional.
func Optional(a *httpauth.Auth) func(http.Handler) http.Handler { return a.Optional }

// RequireScopes returns chi middleware that admits a principal holding
// every one of scopes and answers others 403 insufficient_scope (see
// httpauth.Auth.RequireScopes). It authenticates the request itself when
// no Require ran before it.
func RequireScopes(a *httpauth.Auth, scopes ...string) func(http.Handler) http.Handler {
	return a.RequireScopes(scopes...)
}

// RequireAnyScope returns chi middleware that admits a principal holding at
// least one of scopes (see httpauth.Auth.RequireAnyScope).
func RequireAnyScope(a *httpauth.Auth, scopes ...string) func(http.Handler) http.Handler {
	return a.RequireAnyScope(scopes...)
}

// Mount registers h's endpoints (h.Routes) on r, each path for every
// method, relative to wherever r is mounted: inside
// r.Route("/auth", …) the token endpoint is /auth/token. Item routes
// (/sessions/{id}, /api-tokens/{id}) take chi's {authkit_id} parameter, a
// name that no enclosing route's parameter shadows.
//
// Every request on an endpoint path is served by h itself, under the path h
// knows, not by a per-method chi route: so a wrong method gets h's 405 with
// its Allow header and JSON body, and HEAD works on GET endpoints, exactly
// as with net/http (chi's own 405 has no body and no HEAD fallback). Paths
// that are not endpoints stay with r: its NotFound handler answers them.
func Mount(r chi.Router, h *httpauth.Handler) {
	for _, path := range h.Paths() {
		r.Handle(strings.Replace(path, "{id}", "{authkit_id}", 1), http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
			h.ServeAt(w, req, strings.Replace(path, "{id}", routeparam.Unescape(req, chi.URLParam(req, "authkit_id")), 1))
		}))
	}
}
