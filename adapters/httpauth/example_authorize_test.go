package httpauth_test

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"log"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"time"

	"github.com/authkit-go/authkit"
	"github.com/authkit-go/authkit/adapters/httpauth"
	"github.com/authkit-go/authkit/backends/memory"
	"github.com/authkit-go/authkit/issuer"
	"github.com/authkit-go/authkit/keys"
	"github.com/authkit-go/authkit/verifier"
)

// The authorization-code grant with PKCE: authkit validates the request at
// /authorize and hands it to the application's login-and-consent page,
// which approves it for the user who logged in; the client then exchanges
// the code, with its PKCE verifier, at /token. (A real page renders HTML
// with a CSRF token and checks the password with a.CheckPassword, which
// hashes and throttles as the password grant does: see
// examples/oauthlogin.)
func ExampleWithAuthorizationCode() {
	key, err := keys.Generate(keys.EdDSA)
	if err != nil {
		log.Fatal(err)
	}
	set, err := keys.NewSet(key)
	if err != nil {
		log.Fatal(err)
	}
	store := memory.New() // also an authkit.ClientStore
	opts := []authkit.Option{authkit.WithKeys(set), authkit.WithStore(store), authkit.WithIssuer("https://auth.example")}
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

	// The login-and-consent page: GET shows it, POST logs in and approves.
	page := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		a, _ := httpauth.AuthorizationRequestFrom(r.Context())
		if r.Method == http.MethodGet {
			fmt.Fprintf(w, "Log in to %s", a.Client.Name) // a form posting to a.FormAction()
			return
		}
		if r.PostFormValue("username") != "alice" || r.PostFormValue("password") != "wonderland" {
			http.Error(w, "wrong username or password", http.StatusUnauthorized)
			return
		}
		_ = a.Approve(w, r, httpauth.Login{Subject: "alice", Scopes: []string{"read"}})
	})
	h, err := httpauth.NewHandler(iss, auth,
		httpauth.WithClientStore(store),
		httpauth.WithAuthorizationCode(page),
		httpauth.WithAllowedScopes("read"))
	if err != nil {
		log.Fatal(err)
	}
	err = store.CreateClient(context.Background(), authkit.Client{
		ID:           "spa",
		Name:         "The SPA",
		GrantTypes:   []string{authkit.GrantAuthorizationCode, authkit.GrantRefreshToken},
		Scopes:       []string{"read"},
		RedirectURIs: []string{"https://app.example/callback"},
		CreatedAt:    time.Now(),
	})
	if err != nil {
		log.Fatal(err)
	}

	// The client's side: a PKCE verifier and its S256 challenge.
	verifier := "a-long-random-verifier-of-at-least-43-characters-xyz"
	sum := sha256.Sum256([]byte(verifier))
	authorize := "/authorize?" + url.Values{
		"response_type":         {"code"},
		"client_id":             {"spa"},
		"redirect_uri":          {"https://app.example/callback"},
		"scope":                 {"read"},
		"state":                 {"af0ifjsldkj"},
		"code_challenge":        {base64.RawURLEncoding.EncodeToString(sum[:])},
		"code_challenge_method": {"S256"},
	}.Encode()

	w := httptest.NewRecorder()
	h.ServeHTTP(w, httptest.NewRequest("GET", authorize, nil))
	fmt.Println(w.Code, w.Body.String())

	login := httptest.NewRequest("POST", authorize, strings.NewReader("username=alice&password=wonderland"))
	login.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	w = httptest.NewRecorder()
	h.ServeHTTP(w, login)
	back, _ := url.Parse(w.Header().Get("Location"))
	fmt.Println(w.Code, back.Host+back.Path, back.Query().Get("state"), back.Query().Get("iss"))

	exchange := httptest.NewRequest("POST", "/token", strings.NewReader(url.Values{
		"grant_type":    {"authorization_code"},
		"code":          {back.Query().Get("code")},
		"redirect_uri":  {"https://app.example/callback"},
		"code_verifier": {verifier},
		"client_id":     {"spa"},
	}.Encode()))
	exchange.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	w = httptest.NewRecorder()
	h.ServeHTTP(w, exchange)
	fmt.Println(w.Code, strings.Contains(w.Body.String(), `"refresh_token"`), strings.Contains(w.Body.String(), `"scope":"read"`))
	// Output:
	// 200 Log in to The SPA
	// 303 app.example/callback af0ifjsldkj https://auth.example
	// 200 true true
}
