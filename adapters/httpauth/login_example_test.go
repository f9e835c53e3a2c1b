package httpauth_test

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"log"
	"net/http"
	"net/http/httptest"
	"net/url"
	"time"

	"github.com/authkit-go/authkit"
	"github.com/authkit-go/authkit/adapters/httpauth"
	"github.com/authkit-go/authkit/backends/memory"
	"github.com/authkit-go/authkit/issuer"
	"github.com/authkit-go/authkit/keys"
	"github.com/authkit-go/authkit/verifier"
)

// A password login that puts the user's roles into the token, grants the
// scopes the user may hold, and gives a login without "remember me" an
// 8-hour session instead of the issuer's 30 days.
func ExampleWithPasswordLogin() {
	key, _ := keys.Generate(keys.EdDSA)
	set, _ := keys.NewSet(key)
	store := memory.New()
	iss, err := issuer.New(authkit.WithKeys(set), authkit.WithStore(store), authkit.WithSessionLifetime(30*24*time.Hour))
	if err != nil {
		log.Fatal(err)
	}
	ver, err := verifier.New(authkit.WithKeys(set), authkit.WithStore(store))
	if err != nil {
		log.Fatal(err)
	}
	auth, err := httpauth.New(ver)
	if err != nil {
		log.Fatal(err)
	}

	login := func(_ context.Context, username, password string) (httpauth.Login, error) {
		// A real application compares a password hash, as long for an
		// unknown user; "remember" would come from its own login form or
		// from the username and a device record.
		if subtle.ConstantTimeCompare([]byte(username+":"+password), []byte("alice:wonderland")) != 1 {
			return httpauth.Login{}, errors.New("invalid username or password")
		}
		return httpauth.Login{
			Subject:    "alice",
			Claims:     map[string]any{"roles": []string{"editor"}},
			Scopes:     []string{"articles:read", "articles:write"},
			SessionTTL: 8 * time.Hour,
		}, nil
	}
	h, err := httpauth.NewHandler(iss, auth,
		httpauth.WithPasswordLogin(login),
		httpauth.WithAllowedScopes("articles:read", "articles:write"))
	if err != nil {
		log.Fatal(err)
	}
	srv := httptest.NewServer(h)
	defer srv.Close()

	res, err := http.PostForm(srv.URL+"/token", url.Values{
		"grant_type": {"password"}, "username": {"alice"}, "password": {"wonderland"}, "scope": {"articles:read admin"},
	})
	if err != nil {
		log.Fatal(err)
	}
	defer res.Body.Close()
	var tok struct {
		AccessToken string `json:"access_token"`
		Scope       string `json:"scope"`
	}
	_ = json.NewDecoder(res.Body).Decode(&tok)
	fmt.Println(res.StatusCode, "granted:", tok.Scope)

	p, err := ver.Verify(context.Background(), tok.AccessToken)
	if err != nil {
		log.Fatal(err)
	}
	var claims struct {
		Roles []string `json:"roles"`
	}
	_ = p.DecodeClaims(&claims)
	fmt.Println("roles:", claims.Roles)
	// Output:
	// 200 granted: articles:read
	// roles: [editor]
}
