package echoauth_test

import (
	"context"
	"fmt"
	"log"
	"net/http"
	"net/http/httptest"

	"github.com/labstack/echo/v4"

	"github.com/authkit-go/authkit"
	"github.com/authkit-go/authkit/adapters/echoauth"
	"github.com/authkit-go/authkit/adapters/httpauth"
	"github.com/authkit-go/authkit/backends/memory"
	"github.com/authkit-go/authkit/issuer"
	"github.com/authkit-go/authkit/keys"
	"github.com/authkit-go/authkit/verifier"
)

// Protect echo routes and serve the endpoints under /auth.
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

	e := echo.New()
	echoauth.Mount(e.Group("/auth"), endpoints)
	api := e.Group("/api", echoauth.Require(auth))
	api.GET("/me", func(c echo.Context) error {
		p, _ := echoauth.Principal(c)
		return c.String(http.StatusOK, "hello "+p.Subject)
	})
	api.GET("/admin", func(c echo.Context) error {
		return c.String(http.StatusOK, "welcome, admin")
	}, echoauth.RequireScopes(auth, "admin"))

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
		e.ServeHTTP(rec, req)
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
