package ginauth_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/gin-gonic/gin"

	"github.com/authkit-go/authkit"
	"github.com/authkit-go/authkit/adapters/ginauth"
	"github.com/authkit-go/authkit/adapters/httpauth"
	"github.com/authkit-go/authkit/backends/memory"
	"github.com/authkit-go/authkit/issuer"
	"github.com/authkit-go/authkit/keys"
	"github.com/authkit-go/authkit/verifier"
)

// A deny hook cannot strip the decision's headers on gin, whose
// ResponseWriter sends the header at the first Write, as it cannot on
// net/http (found by review: the hook's changes after WriteHeader reached
// the client, a 401 without WWW-Authenticate and cacheable for an hour).
func TestDenyHookCannotChangeHeaders(t *testing.T) {
	key, err := keys.Generate(keys.EdDSA)
	if err != nil {
		t.Fatal(err)
	}
	set, err := keys.NewSet(key)
	if err != nil {
		t.Fatal(err)
	}
	store := memory.New()
	iss, err := issuer.New(authkit.WithKeys(set), authkit.WithStore(store))
	if err != nil {
		t.Fatal(err)
	}
	ver, err := verifier.New(authkit.WithKeys(set), authkit.WithStore(store))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ver.Close() })
	auth, err := httpauth.New(ver, httpauth.WithDenyHandler(func(w http.ResponseWriter, _ *http.Request, _ httpauth.Denial) {
		w.WriteHeader(http.StatusOK)
		w.Header().Del("WWW-Authenticate")
		w.Header().Set("Cache-Control", "public, max-age=3600")
		_, _ = w.Write([]byte("<h1>please log in</h1>"))
	}))
	if err != nil {
		t.Fatal(err)
	}
	h, err := httpauth.NewHandler(iss, auth)
	if err != nil {
		t.Fatal(err)
	}
	g := gin.New()
	g.GET("/p", ginauth.Require(auth), func(*gin.Context) { t.Error("the protected handler ran") })
	ginauth.Mount(g.Group("/auth"), h)
	for _, path := range []string{"/p", "/auth/sessions"} {
		rec := httptest.NewRecorder()
		g.ServeHTTP(rec, httptest.NewRequestWithContext(context.Background(), "GET", path, nil))
		res := rec.Result()
		if cc, chal := res.Header.Get("Cache-Control"), res.Header.Values("Www-Authenticate"); res.StatusCode != http.StatusUnauthorized || cc != "no-store" || len(chal) == 0 {
			t.Errorf("GET %s: %d, Cache-Control %q, WWW-Authenticate %q; want 401, no-store and a challenge", path, res.StatusCode, cc, chal)
		}
	}
}
