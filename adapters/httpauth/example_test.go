package httpauth_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"net/netip"
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

// Protect a handler: without a token the client gets the RFC 6750
// challenge; with one, the handler finds the principal in the context.
func ExampleAuth_Require() {
	key, err := keys.Generate(keys.EdDSA)
	if err != nil {
		log.Fatal(err)
	}
	set, err := keys.NewSet(key)
	if err != nil {
		log.Fatal(err)
	}
	store := memory.New()
	iss, err := issuer.New(authkit.WithKeys(set), authkit.WithStore(store))
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

	mux := http.NewServeMux()
	mux.Handle("GET /orders", auth.Require(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p, _ := authkit.PrincipalFrom(r.Context())
		fmt.Fprintf(w, "orders of %s", p.Subject)
	})))
	mux.Handle("POST /orders", auth.Require(auth.RequireScopes("orders:write")(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusCreated)
	}))))
	srv := httptest.NewServer(mux)
	defer srv.Close()

	call := func(method, token string) {
		req, _ := http.NewRequest(method, srv.URL+"/orders", nil)
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			log.Fatal(err)
		}
		defer res.Body.Close()
		body, _ := io.ReadAll(res.Body)
		fmt.Println(strings.TrimSpace(fmt.Sprint(res.StatusCode, " ", res.Header.Get("WWW-Authenticate"))))
		fmt.Println(string(body))
	}
	call("GET", "")

	pair, err := iss.IssuePair(context.Background(), "alice", issuer.WithScopes("orders:read"))
	if err != nil {
		log.Fatal(err)
	}
	call("GET", pair.AccessToken)
	call("POST", pair.AccessToken)
	// Output:
	// 401 Bearer realm="authkit"
	// {"error":"unauthorized","error_description":"authentication required"}
	// 200
	// orders of alice
	// 403 Bearer realm="authkit", error="insufficient_scope", error_description="token lacks a required scope", scope="orders:write"
	// {"error":"insufficient_scope","error_description":"token lacks a required scope"}
}

// Serve the endpoints: log in with the password grant, list the session,
// and refresh.
func ExampleNewHandler() {
	key, err := keys.Generate(keys.EdDSA)
	if err != nil {
		log.Fatal(err)
	}
	set, err := keys.NewSet(key)
	if err != nil {
		log.Fatal(err)
	}
	store := memory.New()
	iss, err := issuer.New(authkit.WithKeys(set), authkit.WithStore(store))
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
	// The application checks passwords; compare hashes in constant time in
	// real code (argon2id or bcrypt).
	checkPassword := func(_ context.Context, username, password string) (string, error) {
		if username == "alice" && password == "correct horse" {
			return "user-42", nil
		}
		return "", errors.New("invalid credentials")
	}
	h, err := httpauth.NewHandler(iss, auth,
		httpauth.WithPasswordGrant(checkPassword),
		httpauth.WithAllowedScopes("orders:read", "orders:write"),
	)
	if err != nil {
		log.Fatal(err)
	}
	srv := httptest.NewServer(h)
	defer srv.Close()

	res, err := http.PostForm(srv.URL+"/token", url.Values{
		"grant_type": {"password"}, "username": {"alice"}, "password": {"correct horse"}, "scope": {"orders:read"},
	})
	if err != nil {
		log.Fatal(err)
	}
	var pair struct {
		AccessToken  string `json:"access_token"`
		TokenType    string `json:"token_type"`
		ExpiresIn    int    `json:"expires_in"`
		RefreshToken string `json:"refresh_token"`
		Scope        string `json:"scope"`
	}
	if err := json.NewDecoder(res.Body).Decode(&pair); err != nil {
		log.Fatal(err)
	}
	res.Body.Close()
	fmt.Println(res.StatusCode, res.Header.Get("Cache-Control"), pair.TokenType, pair.ExpiresIn, pair.Scope)

	req, _ := http.NewRequest("GET", srv.URL+"/sessions", nil)
	req.Header.Set("Authorization", "Bearer "+pair.AccessToken)
	res, err = http.DefaultClient.Do(req)
	if err != nil {
		log.Fatal(err)
	}
	var list struct {
		Sessions []struct {
			Subject string `json:"subject"`
			Current bool   `json:"current"`
		} `json:"sessions"`
	}
	if err := json.NewDecoder(res.Body).Decode(&list); err != nil {
		log.Fatal(err)
	}
	res.Body.Close()
	fmt.Println(len(list.Sessions), list.Sessions[0].Subject, list.Sessions[0].Current)

	res, err = http.Post(srv.URL+"/token", "application/x-www-form-urlencoded",
		strings.NewReader(url.Values{"grant_type": {"refresh_token"}, "refresh_token": {pair.RefreshToken}}.Encode()))
	if err != nil {
		log.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	fmt.Println(res.StatusCode, strings.Contains(string(body), `"refresh_token":"akrt_`))

	res, err = http.PostForm(srv.URL+"/token", url.Values{"grant_type": {"password"}, "username": {"alice"}, "password": {"wrong"}})
	if err != nil {
		log.Fatal(err)
	}
	body, _ = io.ReadAll(res.Body)
	res.Body.Close()
	fmt.Println(res.StatusCode, string(body))
	// Output:
	// 200 no-store Bearer 300 orders:read
	// 1 user-42 true
	// 200 true
	// 400 {"error":"invalid_grant","error_description":"invalid username or password"}
}

// Throttle password guessing across replicas: count failures in the shared
// store (any store implementing authkit.ThrottleStore: the SQL and Redis
// ones do; the memory throttle stands in here), believe X-Forwarded-For
// only from the load balancer's network, and watch failed and throttled
// logins in the event hook.
func ExampleWithThrottleStore() {
	key, err := keys.Generate(keys.EdDSA)
	if err != nil {
		log.Fatal(err)
	}
	set, err := keys.NewSet(key)
	if err != nil {
		log.Fatal(err)
	}
	store := memory.New()
	var shared authkit.ThrottleStore = memory.NewThrottle() // e.g. the *sqlstore.Store or *redisstore.Store
	iss, err := issuer.New(authkit.WithKeys(set), authkit.WithStore(store))
	if err != nil {
		log.Fatal(err)
	}
	ver, err := verifier.New(authkit.WithKeys(set), authkit.WithStore(store))
	if err != nil {
		log.Fatal(err)
	}
	auth, err := httpauth.New(ver,
		httpauth.WithThrottleStore(shared),
		httpauth.WithTrustedProxies(netip.MustParsePrefix("127.0.0.0/8")),
		httpauth.WithEventHook(func(_ context.Context, e authkit.Event) {
			if e.Type == authkit.EventLoginFailed || e.Type == authkit.EventThrottled {
				fmt.Println(e.Type, e.Subject, e.Method)
			}
		}))
	if err != nil {
		log.Fatal(err)
	}
	h, err := httpauth.NewHandler(iss, auth, httpauth.WithPasswordGrant(func(_ context.Context, u, p string) (string, error) {
		if u == "alice" && p == "correct horse" {
			return u, nil
		}
		return "", errors.New("bad credentials")
	}),
		// A stopped clock keeps this example's output exact; leave it out.
		httpauth.WithClock(func() time.Time { return time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC) }))
	if err != nil {
		log.Fatal(err)
	}
	srv := httptest.NewServer(h)
	defer srv.Close()

	login := func(pass, client string) {
		req, _ := http.NewRequest("POST", srv.URL+"/token", strings.NewReader(url.Values{
			"grant_type": {"password"}, "username": {"alice"}, "password": {pass}}.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("X-Forwarded-For", client)
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			log.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode == http.StatusTooManyRequests {
			fmt.Println(res.StatusCode, "Retry-After", res.Header.Get("Retry-After"))
		}
	}
	for range 7 {
		login("guess", "198.51.100.7")
	}
	login("correct horse", "203.0.113.5") // another address: not blocked
	// Output:
	// login_failed alice password
	// login_failed alice password
	// login_failed alice password
	// login_failed alice password
	// login_failed alice password
	// login_failed alice password
	// throttled alice password
	// 429 Retry-After 1
}
