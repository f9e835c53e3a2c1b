// Command chi is a complete authkit server on go-chi/chi: the token
// endpoints under /auth and two protected routes. Everything lives in
// memory, and the one user, alice (password "wonderland"), is a demo.
//
//	go run ./examples/chi
package main

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"log"
	"net/http"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/authkit-go/authkit"
	"github.com/authkit-go/authkit/adapters/chiauth"
	"github.com/authkit-go/authkit/adapters/httpauth"
	"github.com/authkit-go/authkit/backends/memory"
	"github.com/authkit-go/authkit/issuer"
	"github.com/authkit-go/authkit/keys"
	"github.com/authkit-go/authkit/verifier"
)

func main() {
	handler, err := newServer()
	if err != nil {
		log.Fatal(err)
	}
	srv := &http.Server{Addr: "127.0.0.1:8080", Handler: handler, ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout: 10 * time.Second, WriteTimeout: 30 * time.Second, IdleTimeout: time.Minute}
	log.Printf("listening on http://%s (demo user alice, password wonderland)", srv.Addr)
	log.Fatal(srv.ListenAndServe())
}

// newServer wires authkit and the application's routes.
func newServer() (http.Handler, error) {
	// A key of this process's own: right for one process. Replicas must
	// share one (load authkit keygen's file with keys.ParseJWKS), or each
	// refuses the others' tokens: see the README's "Several replicas".
	key, err := keys.Generate(keys.EdDSA)
	if err != nil {
		return nil, err
	}
	set, err := keys.NewSet(key)
	if err != nil {
		return nil, err
	}
	opts := []authkit.Option{authkit.WithKeys(set), authkit.WithStore(memory.New())}
	iss, err := issuer.New(opts...)
	if err != nil {
		return nil, err
	}
	ver, err := verifier.New(opts...)
	if err != nil {
		return nil, err
	}
	auth, err := httpauth.New(ver)
	if err != nil {
		return nil, err
	}
	endpoints, err := httpauth.NewHandler(iss, auth,
		httpauth.WithPasswordGrant(checkPassword),
		httpauth.WithAllowedScopes("orders:read", "orders:write"))
	if err != nil {
		return nil, err
	}

	r := chi.NewRouter()
	r.Route("/auth", func(r chi.Router) { chiauth.Mount(r, endpoints) })
	r.Route("/api", func(r chi.Router) {
		r.Use(chiauth.Require(auth))
		r.Get("/me", me)
		r.With(chiauth.RequireScopes(auth, "orders:write")).Post("/orders", createOrder)
	})
	return r, nil
}

// me answers who the caller is.
func me(w http.ResponseWriter, r *http.Request) {
	p, _ := authkit.PrincipalFrom(r.Context()) // always there behind Require
	writeJSON(w, http.StatusOK, map[string]any{"subject": p.Subject, "scopes": p.Scopes})
}

// createOrder needs the orders:write scope.
func createOrder(w http.ResponseWriter, r *http.Request) {
	p, _ := authkit.PrincipalFrom(r.Context())
	writeJSON(w, http.StatusCreated, map[string]any{"created_by": p.Subject})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// checkPassword is the application's credential check. This demo knows one
// user with a plain-text password; a real application compares an argon2id
// or bcrypt hash, and spends as long on an unknown user.
func checkPassword(_ context.Context, username, password string) (string, error) {
	userOK := subtle.ConstantTimeCompare([]byte(username), []byte("alice"))
	passOK := subtle.ConstantTimeCompare([]byte(password), []byte("wonderland"))
	if userOK&passOK == 1 {
		return "alice", nil
	}
	return "", errors.New("invalid username or password")
}
