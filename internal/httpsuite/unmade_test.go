package httpsuite_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/gin-gonic/gin"
	"github.com/go-chi/chi/v5"
	"github.com/labstack/echo/v4"

	"github.com/authkit-go/authkit/adapters/chiauth"
	"github.com/authkit-go/authkit/adapters/echoauth"
	"github.com/authkit-go/authkit/adapters/ginauth"
	"github.com/authkit-go/authkit/adapters/httpauth"
)

// An *httpauth.Auth or *httpauth.Handler that New or NewHandler did not
// make (its error ignored, or a zero value) is refused with a message that
// says so when a route is set up with it, on every framework, rather than
// crashing every request to the route (found by review: net/http, chi and
// echo dropped the connection, gin answered 500).
func TestUnmadeAuthPanicsAtSetup(t *testing.T) {
	ok := http.HandlerFunc(func(http.ResponseWriter, *http.Request) {})
	for _, a := range []*httpauth.Auth{nil, {}} {
		for name, setup := range map[string]func(){
			"net/http Require":    func() { a.Require(ok) },
			"net/http Optional":   func() { a.Optional(ok) },
			"net/http Scopes":     func() { a.RequireScopes("admin") },
			"net/http AnyScope":   func() { a.RequireAnyScope("admin") },
			"chi Require":         func() { r := chi.NewRouter(); r.Use(chiauth.Require(a)); r.Get("/", ok) },
			"chi RequireScopes":   func() { r := chi.NewRouter(); r.With(chiauth.RequireScopes(a, "admin")).Get("/", ok) },
			"gin Require":         func() { gin.New().GET("/", ginauth.Require(a), func(*gin.Context) {}) },
			"gin Optional":        func() { ginauth.Optional(a) },
			"gin RequireAnyScope": func() { ginauth.RequireAnyScope(a, "admin") },
			"echo Require":        func() { echo.New().GET("/", func(echo.Context) error { return nil }, echoauth.Require(a)) },
			"echo Optional":       func() { echoauth.Optional(a) },
			"echo RequireScopes":  func() { echoauth.RequireScopes(a, "admin") },
		} {
			wantPanic(t, name, "make it with httpauth.New", setup)
		}
	}
	for _, h := range []*httpauth.Handler{nil, {}} {
		for name, setup := range map[string]func(){
			"chi Mount":  func() { chiauth.Mount(chi.NewRouter(), h) },
			"gin Mount":  func() { ginauth.Mount(gin.New(), h) },
			"echo Mount": func() { echoauth.Mount(echo.New(), h) },
		} {
			wantPanic(t, name, "make it with httpauth.NewHandler", setup)
		}
	}
}

func wantPanic(t *testing.T, name, want string, f func()) {
	t.Helper()
	defer func() {
		p := recover()
		if s, _ := p.(string); !strings.Contains(s, want) {
			t.Errorf("%s: panic %v, want one that says %q", name, p, want)
		}
	}()
	f()
}
