// Package httpsuite is the HTTP parity suite: one set of scenarios that
// every mounting of authkit's HTTP layer — net/http, chi, gin and echo —
// must answer byte for byte the same.
//
// An adapter's test calls [Run] with a [Mount] function that builds the
// framework's router, in the framework's own style, from an [Env]:
//
//	httpsuite.Run(t, func(t *testing.T, env httpsuite.Env) http.Handler {
//		r := chi.NewRouter()
//		r.Route(httpsuite.Prefix, func(r chi.Router) { chiauth.Mount(r, env.Handler) })
//		r.With(chiauth.Require(env.Auth)).Get(httpsuite.MePath, env.Me.ServeHTTP)
//		…
//		return r
//	})
//
// Run drives every scenario (no credential, bad signature, expired,
// revoked, wrong scope, the DRF Token scheme, API tokens, the password and
// refresh grants, refresh-token reuse, revocation, introspection, JWKS,
// sessions, oversized headers, a store that is down, …) against a real
// httptest server and checks each answer against explicit expectations:
// status, WWW-Authenticate and the JSON body. It also records every
// exchange — request, status, the headers Allow, Cache-Control,
// Content-Type, ETag, Location, Pragma, Retry-After, WWW-Authenticate and
// X-Frame-Options, and the
// body, with random values (tokens, IDs) replaced by stable labels — and
// compares the record with testdata/transcript.golden, which holds what
// the net/http mounting answers. Since all four mountings are held to the
// same bytes, any difference between frameworks fails a test.
//
// Regenerate the golden file after an intended change of the HTTP layer's
// answers with
//
//	go test ./internal/httpsuite -run TestNetHTTP -update
//
// and review the diff: it is the wire-level change.
package httpsuite

import (
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/authkit-go/authkit"
	"github.com/authkit-go/authkit/adapters/httpauth"
	"github.com/authkit-go/authkit/backends/memory"
	"github.com/authkit-go/authkit/issuer"
	"github.com/authkit-go/authkit/keys"
	"github.com/authkit-go/authkit/verifier"
)

// The paths every mounting serves. Mount must wire them exactly so.
const (
	// Prefix is where Env.Handler's endpoints are mounted: /auth/token,
	// /auth/authorize, /auth/revoke, /auth/introspect, /auth/.well-known/jwks.json,
	// /auth/logout-all, /auth/sessions, /auth/sessions/{id},
	// /auth/api-tokens and /auth/api-tokens/{id}, every method of them
	// reaching the handler (it answers 405 itself).
	Prefix = "/auth"
	// MePath is GET, behind Env.Auth.Require, served by Env.Me.
	MePath = "/api/me"
	// AdminPath is GET, behind Env.Auth.Require and then
	// Env.Auth.RequireScopes(AdminScope), served by Env.Me.
	AdminPath = "/api/admin"
	// AnyPath is GET, behind Env.Auth.RequireAnyScope(ReadScope,
	// AdminScope) alone (it authenticates by itself), served by Env.Me.
	AnyPath = "/api/any"
	// AllPath is GET, behind Env.Auth.RequireScopes(ReadScope,
	// AdminScope) alone (it authenticates by itself), served by Env.Me.
	AllPath = "/api/all"
	// MaybePath is GET, behind Env.Auth.Optional, served by Env.Me.
	MaybePath = "/api/maybe"
)

// Scopes the scenarios use.
const (
	ReadScope  = "read"
	AdminScope = "admin"
)

// Env is what a Mount function wires. Every scenario gets a fresh Env: a
// new memory store, a fake clock and the suite's fixed Ed25519 key.
type Env struct {
	// Auth is the middleware.
	Auth *httpauth.Auth
	// Handler serves the endpoints; mount it under Prefix.
	Handler *httpauth.Handler
	// Issuer is the issuer behind Handler.
	Issuer *issuer.Issuer
	// Clients is the client store behind Handler (httpauth.WithClientStore),
	// empty at the start of every scenario.
	Clients authkit.ClientStore
	// Me is the protected handler: 200 with MeBody of the request's
	// principal (authkit.PrincipalFrom).
	Me http.Handler
}

// MeBody is the JSON body Me answers for p, or for an anonymous request
// when p is nil: {"subject":…,"method":…,"scopes":[…]} or
// {"anonymous":true}. A handler written in a framework's own style (a
// gin.HandlerFunc, an echo.HandlerFunc) must send exactly these bytes with
// status 200 and Content-Type "application/json", taking p from the
// adapter's Principal accessor.
func MeBody(p *authkit.Principal) []byte {
	if p == nil {
		return []byte(`{"anonymous":true}`)
	}
	scopes := p.Scopes
	if scopes == nil {
		scopes = []string{}
	}
	b, err := json.Marshal(struct {
		Subject string   `json:"subject"`
		Method  string   `json:"method"`
		Scopes  []string `json:"scopes"`
	}{p.Subject, p.Method, scopes})
	if err != nil { // cannot happen: strings only
		return []byte(`{"error":"server_error"}`)
	}
	return b
}

// Mount builds the router under test from env (see the path constants for
// what it must serve). It is called once per scenario.
type Mount func(t *testing.T, env Env) http.Handler

// Issuer, audience and the fake clock's start of every scenario.
const (
	issuerURL = "https://auth.example"
	audience  = "api"
	keyID     = "httpsuite-ed25519"
)

var start = time.Date(2030, time.January, 2, 3, 4, 5, 0, time.UTC)

// users are the password grant's accounts: name → password.
var users = map[string]string{"alice": "wonderland", "bob": "builder", "carol": "singer"}

func checkPassword(_ context.Context, username, password string) (string, error) {
	want, ok := users[username]
	if ok && subtle.ConstantTimeCompare([]byte(password), []byte(want)) == 1 {
		return username, nil
	}
	return "", errors.New("httpsuite: invalid credentials")
}

// clock is a settable fake clock.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }

func (c *clock) advance(d time.Duration) { c.mu.Lock(); c.t = c.t.Add(d); c.mu.Unlock() }

// suiteKey is the fixed Ed25519 key of every scenario, so that the JWKS
// document is the same bytes in every run.
func suiteKey() (*keys.Key, error) {
	seed := sha256.Sum256([]byte("authkit internal/httpsuite signing key"))
	return keys.NewPrivate(keys.EdDSA, ed25519.NewKeyFromSeed(seed[:]), keyID)
}

// fixture is one scenario's server-side world.
type fixture struct {
	env   Env
	clock *clock
	store *failingStore
	srv   *httptest.Server
}

// NewEnv returns a fresh Env like the scenarios': a memory store, the
// suite's fixed Ed25519 key, the issuer https://auth.example with audience
// "api", a clock fixed at 2030-01-02T03:04:05Z, the password grant for the
// users alice, bob and carol, the grantable scopes read, admin and
// introspect, and client authentication with an empty memory client store.
// It serves an adapter's own tests.
func NewEnv(t testing.TB) Env {
	t.Helper()
	return newWorld(t, &clock{t: start}, &failingStore{Store: memory.New()}, memory.New())
}

func newWorld(t testing.TB, clk *clock, store authkit.Store, clients authkit.ClientStore) Env {
	t.Helper()
	key, err := suiteKey()
	if err != nil {
		t.Fatal(err)
	}
	set, err := keys.NewSet(key)
	if err != nil {
		t.Fatal(err)
	}
	opts := []authkit.Option{authkit.WithKeys(set), authkit.WithStore(store), authkit.WithClock(clk.now),
		authkit.WithIssuer(issuerURL), authkit.WithAudience(audience)}
	iss, err := issuer.New(opts...)
	if err != nil {
		t.Fatal(err)
	}
	ver, err := verifier.New(opts...)
	if err != nil {
		t.Fatal(err)
	}
	auth, err := httpauth.New(ver)
	if err != nil {
		t.Fatal(err)
	}
	h, err := httpauth.NewHandler(iss, auth,
		httpauth.WithPasswordGrant(checkPassword),
		httpauth.WithAllowedScopes(ReadScope, AdminScope, httpauth.IntrospectScope),
		httpauth.WithClock(clk.now),
		httpauth.WithClientStore(clients),
		httpauth.WithAuthorizationCode(http.HandlerFunc(loginPage)))
	if err != nil {
		t.Fatal(err)
	}
	return Env{Auth: auth, Handler: h, Issuer: iss, Clients: clients, Me: http.HandlerFunc(serveMe)}
}

// loginPage is the suite's login-and-consent page of the authorization
// endpoint: GET shows it (text), POST logs in with the users' passwords and
// approves the request (scope read at most), or denies it when the form
// says deny.
func loginPage(w http.ResponseWriter, r *http.Request) {
	a, ok := httpauth.AuthorizationRequestFrom(r.Context())
	if !ok {
		http.Error(w, "no authorization request", http.StatusInternalServerError)
		return
	}
	if r.Method != http.MethodPost {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		fmt.Fprintf(w, "log in to %s for [%s]\nform action: %s\n", a.Client.Name, strings.Join(a.Scopes, " "), a.FormAction())
		return
	}
	if r.PostFormValue("deny") != "" {
		_ = a.Deny(w, r)
		return
	}
	subject, err := checkPassword(r.Context(), r.PostFormValue("username"), r.PostFormValue("password"))
	if err != nil {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.WriteHeader(http.StatusUnauthorized)
		fmt.Fprintln(w, "wrong username or password")
		return
	}
	_ = a.Approve(w, r, httpauth.Login{Subject: subject, Scopes: []string{ReadScope}})
}

func newFixture(t *testing.T, mount Mount) *fixture {
	t.Helper()
	f := &fixture{clock: &clock{t: start}, store: &failingStore{Store: memory.New()}}
	f.env = newWorld(t, f.clock, f.store, memory.New())
	router := mount(t, f.env)
	if router == nil {
		t.Fatal("httpsuite: Mount returned a nil handler")
	}
	f.srv = httptest.NewServer(router)
	t.Cleanup(f.srv.Close)
	return f
}

func serveMe(w http.ResponseWriter, r *http.Request) {
	p, _ := authkit.PrincipalFrom(r.Context())
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(MeBody(p))
}

// Do serves one request on h, with a Bearer token when token is not empty,
// and returns the recorded response.
func Do(t testing.TB, h http.Handler, method, path, token string) *httptest.ResponseRecorder {
	t.Helper()
	req := httptest.NewRequest(method, path, nil)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}
