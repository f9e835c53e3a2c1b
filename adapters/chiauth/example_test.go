package chiauth_test

import (
	"context"
	"fmt"
	"log"
	"net/http"
	"net/http/httptest"

	"github.com/go-chi/chi/v5"

	"github.com/authkit-go/authkit"
	"github.com/authkit-go/authkit/adapters/chiauth"
	"github.com/authkit-go/authkit/adapters/httpauth"
	"github.com/authkit-go/authkit/backends/memory"
	"github.com/authkit-go/authkit/issuer"
	"github.com/authkit-go/authkit/keys"
	"github.com/authkit-go/authkit/verifier"
)

// Protect chi routes and serve the endpoints under /auth.
func Example() {
	key, err := keys.Generate(keys.EdDSA)
	if err != nil {
		log.Fatal(err)
	}
	set, err := keys.NewSet(key)
	if err != nil {
		log.Fatal(err)
	}
	opts := []authkit.Option{authkit.WithKeys(set), authkit.WithStore(memory.New())}
	iss, err := issuer.New(opts...)
	if err != nil {
		log.Fatal(err)
	}
	ver, err := verifier.New(opts...)
	if err != nil {
		log.Fatal(err)
	}
	auth, err := httpauth.New(ver)
	if err != nil {
		log.Fatal(err)
	}
	endpoints, err := httpauth.NewHandler(iss, auth)
	if err != nil {
		log.Fatal(err)
	}

	r := chi.NewRouter()
	r.Route("/auth", func(r chi.Router) { chiauth.Mount(r, endpoints) })
	r.Group(func(r chi.Router) {
		r.Use(chiauth.Require(auth))
		r.Get("/api/me", func(w http.ResponseWriter, r *http.Request) {
			p, _ := authkit.PrincipalFrom(r.Context())
			fmt.Fprintf(w, "hello %s", p.Subject)
		})
		r.With(chiauth.RequireScopes(auth, "admin")).Get("/api/admin", func(w http.ResponseWriter, r *http.Request) {
			fmt.Fprint(w, "welcome, admin")
		})
	})

	pair, err := iss.IssuePair(context.Background(), "alice", issuer.WithScopes("read"))
	if err != nil {
		log.Fatal(err)
	}
	call := func(method, path, token string) *httptest.ResponseRecorder {
		req := httptest.NewRequest(method, path, nil)
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		rec := httptest.NewRecorder()
		r.ServeHTTP(rec, req)
		return rec
	}
	rec := call("GET", "/api/me", "")
	fmt.Println(rec.Code, rec.Header().Get("WWW-Authenticate"))
	rec = call("GET", "/api/me", pair.AccessToken)
	fmt.Println(rec.Code, rec.Body.String())
	rec = call("GET", "/api/admin", pair.AccessToken)
	fmt.Println(rec.Code, rec.Header().Get("WWW-Authenticate"))
	rec = call("DELETE", "/auth/sessions", pair.AccessToken)
	fmt.Println(rec.Code, rec.Header().Get("Allow"))
	// Output:
	// 401 Bearer realm="authkit"
	// 200 hello alice
	// 403 Bearer realm="authkit", error="insufficient_scope", error_description="token lacks a required scope", scope="admin"
	// 405 GET, HEAD
}
