package httpsuite_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/gin-gonic/gin"
	"github.com/go-chi/chi/v5"
	"github.com/labstack/echo/v4"

	"github.com/authkit-go/authkit"
	"github.com/authkit-go/authkit/adapters/chiauth"
	"github.com/authkit-go/authkit/adapters/echoauth"
	"github.com/authkit-go/authkit/adapters/ginauth"
	"github.com/authkit-go/authkit/adapters/httpauth"
	"github.com/authkit-go/authkit/backends/memory"
	"github.com/authkit-go/authkit/issuer"
	"github.com/authkit-go/authkit/keys"
	"github.com/authkit-go/authkit/verifier"
)

// benchAuth returns the middleware and a realistic access token: HS256,
// two-part issuer and audience URLs, three scopes, a session, and the
// memory store's revocation check on every request.
func benchAuth(b *testing.B) (*httpauth.Auth, string) {
	b.Helper()
	key, err := keys.NewHMAC(keys.HS256, []byte("0123456789abcdef0123456789abcdef"), "bench")
	if err != nil {
		b.Fatal(err)
	}
	set, err := keys.NewSet(key)
	if err != nil {
		b.Fatal(err)
	}
	opts := []authkit.Option{authkit.WithKeys(set), authkit.WithStore(memory.New()),
		authkit.WithIssuer("https://auth.example.com"), authkit.WithAudience("https://api.example.com")}
	iss, err := issuer.New(opts...)
	if err != nil {
		b.Fatal(err)
	}
	ver, err := verifier.New(opts...)
	if err != nil {
		b.Fatal(err)
	}
	auth, err := httpauth.New(ver)
	if err != nil {
		b.Fatal(err)
	}
	pair, err := iss.IssuePair(context.Background(), "alice", issuer.WithScopes("read", "write", "admin"))
	if err != nil {
		b.Fatal(err)
	}
	return auth, pair.AccessToken
}

// BenchmarkProtectedRoute serves GET /api/me end to end (router, middleware,
// handler; httptest.NewRecorder and ServeHTTP, no network) in each
// framework, with mw=none (the bare route) and mw=authkit (the route behind
// authkit's Require). Compare with
//
//	benchstat -col /mw bench.txt
//
// which prints, per framework, authkit's cost as a ratio to the bare route.
func BenchmarkProtectedRoute(b *testing.B) {
	gin.SetMode(gin.ReleaseMode)
	auth, token := benchAuth(b)
	const path = "/api/me"
	body := []byte(`{"ok":true}`)

	stdHandler := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(body)
	})
	ginHandler := func(c *gin.Context) { c.Data(http.StatusOK, "application/json", body) }
	echoHandler := func(c echo.Context) error { return c.Blob(http.StatusOK, "application/json", body) }

	nethttp := func(protect bool) http.Handler {
		mux := http.NewServeMux()
		if protect {
			mux.Handle("GET "+path, auth.Require(stdHandler))
		} else {
			mux.Handle("GET "+path, stdHandler)
		}
		return mux
	}
	chiRouter := func(protect bool) http.Handler {
		r := chi.NewRouter()
		if protect {
			r.Use(chiauth.Require(auth))
		}
		r.Get(path, stdHandler)
		return r
	}
	ginRouter := func(protect bool) http.Handler {
		r := gin.New()
		if protect {
			r.Use(ginauth.Require(auth))
		}
		r.GET(path, ginHandler)
		return r
	}
	echoRouter := func(protect bool) http.Handler {
		e := echo.New()
		if protect {
			e.Use(echoauth.Require(auth))
		}
		e.GET(path, echoHandler)
		return e
	}

	for _, fw := range []struct {
		name  string
		build func(protect bool) http.Handler
	}{
		{"nethttp", nethttp}, {"chi", chiRouter}, {"gin", ginRouter}, {"echo", echoRouter},
	} {
		for _, mw := range []string{"none", "authkit"} {
			h := fw.build(mw == "authkit")
			req := httptest.NewRequest(http.MethodGet, path, nil)
			req.Header.Set("Authorization", "Bearer "+token)
			b.Run("fw="+fw.name+"/mw="+mw, func(b *testing.B) {
				rec := httptest.NewRecorder()
				h.ServeHTTP(rec, req)
				if rec.Code != http.StatusOK || rec.Body.String() != string(body) {
					b.Fatalf("%d %s", rec.Code, rec.Body)
				}
				b.ReportAllocs()
				for b.Loop() {
					h.ServeHTTP(httptest.NewRecorder(), req)
				}
			})
		}
	}
}
