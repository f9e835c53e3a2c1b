// Command echo is a complete authkit server on labstack/echo: the token
// endpoints under /auth and two protected routes. Everything lives in
// memory, and the one user, alice (password "wonderland"), is a demo.
//
//	go run ./examples/echo
package main

import (
	"context"
	"crypto/subtle"
	"errors"
	"log"
	"net/http"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/authkit-go/authkit"
	"github.com/authkit-go/authkit/adapters/echoauth"
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

	e := echo.New()
	echoauth.Mount(e.Group("/auth"), endpoints)
	api := e.Group("/api", echoauth.Require(auth))
	api.GET("/me", me)
	api.POST("/orders", createOrder, echoauth.RequireScopes(auth, "orders:write"))
	return e, nil
}

// me answers who the caller is.
func me(c echo.Context) error {
	p, _ := echoauth.Principal(c) // always there behind Require
	return c.JSON(http.StatusOK, map[string]any{"subject": p.Subject, "scopes": p.Scopes})
}

// createOrder needs the orders:write scope.
func createOrder(c echo.Context) error {
	p, _ := echoauth.Principal(c)
	return c.JSON(http.StatusCreated, map[string]any{"created_by": p.Subject})
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
