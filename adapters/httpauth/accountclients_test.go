package httpauth_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/authkit-go/authkit"
	"github.com/authkit-go/authkit/adapters/httpauth"
	"github.com/authkit-go/authkit/backends/memory"
	"github.com/authkit-go/authkit/issuer"
	"github.com/authkit-go/authkit/keys"
)

// TestAccountEndpointsRefuseClientTokens checks that a token issued to a
// registered OAuth client — its own (client_credentials) or a user's
// through it (here a password grant with client authentication) — cannot
// use the account endpoints: with them a five-minute machine or delegated
// token minted an API token that never expired and outlived the client's
// removal, and read the user's sessions. First-party tokens still can, and
// WithAccountClients lets a named client's tokens in.
func TestAccountEndpointsRefuseClientTokens(t *testing.T) {
	const refused = `{"error":"insufficient_scope","error_description":"only a first-party session can be used here"}`
	tokenOf := func(f *clientFx, kv []string, hdr []string) string {
		t.Helper()
		r := f.form("/token", kv, hdr...)
		if r.status != 200 {
			t.Fatalf("token %v: %d %s", kv[:2], r.status, r.body)
		}
		return r.json(t)["access_token"].(string)
	}
	calls := []struct{ method, path, body string }{
		{"POST", "/api-tokens", "name=ci&scope=read"},
		{"GET", "/api-tokens", ""},
		{"GET", "/sessions", ""},
		{"POST", "/logout-all", ""},
	}
	do := func(f *clientFx, c struct{ method, path, body string }, tok string) resp {
		t.Helper()
		hdr := bearer(tok)
		if c.body != "" {
			hdr = append(hdr, "Content-Type", formType)
		}
		return f.do(c.method, c.path, c.body, hdr...)
	}

	f := newClientFx(t)
	svc := tokenOf(f, []string{"grant_type", "client_credentials"}, clientBasic("svc+1", f.secrets["svc+1"]))
	web := tokenOf(f, []string{"grant_type", "password", "username", "alice", "password", users["alice"], "scope", "read"},
		clientBasic("web", f.secrets["web"]))
	for _, c := range calls {
		for name, tok := range map[string]string{"client_credentials (svc+1)": svc, "password through client web": web} {
			r := do(f, c, tok)
			if r.status != 403 || r.body != refused ||
				!strings.Contains(r.header.Get("WWW-Authenticate"), `error="insufficient_scope"`) {
				t.Errorf("%s %s with a token of %s: %d %s %q, want 403 %s", c.method, c.path, name, r.status, r.body,
					r.header.Get("WWW-Authenticate"), refused)
			}
		}
	}
	// A first-party session (no client authentication) still manages its
	// credentials (logout-all last: it ends the session).
	own := f.login("alice", "read").AccessToken
	for _, c := range calls {
		if r := do(f, c, own); r.status/100 != 2 {
			t.Errorf("%s %s with a first-party token: %d %s, want 2xx", c.method, c.path, r.status, r.body)
		}
	}

	// WithAccountClients names web: its tokens are let in, svc+1's are not.
	g := newClientFx(t, httpauth.WithAccountClients("web"))
	svc = tokenOf(g, []string{"grant_type", "client_credentials"}, clientBasic("svc+1", g.secrets["svc+1"]))
	web = tokenOf(g, []string{"grant_type", "password", "username", "alice", "password", users["alice"], "scope", "read"},
		clientBasic("web", g.secrets["web"]))
	if r := do(g, calls[0], web); r.status != 201 {
		t.Errorf("POST /api-tokens with a token of a client WithAccountClients names: %d %s, want 201", r.status, r.body)
	}
	if r := do(g, calls[0], svc); r.status != 403 || r.body != refused {
		t.Errorf("POST /api-tokens with a token of another client: %d %s, want 403", r.status, r.body)
	}
	// Naming a client lets in users' sessions through it, never the
	// client's own token: app may use both grants, and its
	// client_credentials token stays out.
	h := newClientFx(t, httpauth.WithAccountClients("app"))
	secret, hash, err := h.iss.NewClientSecret()
	if err != nil {
		t.Fatal(err)
	}
	if err := h.clients.CreateClient(t.Context(), authkit.Client{ID: "app", SecretHash: hash, CreatedAt: base, Scopes: []string{"read"},
		GrantTypes: []string{authkit.GrantPassword, authkit.GrantClientCredentials}}); err != nil {
		t.Fatal(err)
	}
	appOwn := tokenOf(h, []string{"grant_type", "client_credentials"}, clientBasic("app", secret))
	appUser := tokenOf(h, []string{"grant_type", "password", "username", "alice", "password", users["alice"], "scope", "read"},
		clientBasic("app", secret))
	if r := do(h, calls[0], appOwn); r.status != 403 || r.body != refused {
		t.Errorf("POST /api-tokens with the named client's own client_credentials token: %d %s, want 403", r.status, r.body)
	}
	if r := do(h, calls[0], appUser); r.status != 201 {
		t.Errorf("POST /api-tokens with a user's token through the named client: %d %s, want 201", r.status, r.body)
	}
	if _, err := httpauth.NewHandler(g.iss, g.auth, httpauth.WithAccountClients("")); err == nil {
		t.Error("WithAccountClients(\"\") accepted")
	}
}

// POST /api-tokens refuses a query string that does not parse, as the
// token endpoint does: ParseQuery would drop the segment holding ';'.
func TestAPITokenUnparsableQuery(t *testing.T) {
	f := newFx(t, fxOptions{})
	tok := f.login("alice", "read").AccessToken
	hdr := append(bearer(tok), "Content-Type", formType)
	for _, q := range []string{"name=x;", "scope=read%zz", "password=secret;"} {
		if r := f.do("POST", "/api-tokens?"+q, "name=ci", hdr...); r.status != 400 || r.body != bodyBadQuery {
			t.Errorf("POST /api-tokens?%s: %d %s, want 400 %s", q, r.status, r.body, bodyBadQuery)
		}
	}
	if r := f.do("POST", "/api-tokens?utm_source=x", "name=ci", hdr...); r.status != 201 {
		t.Errorf("POST /api-tokens with a harmless query: %d %s, want 201", r.status, r.body)
	}
}

// TestAccountEndpointsRefuseOtherIssuers checks that a token of another
// issuer the verifier trusts — whose client_id is the default one, as
// every authkit issuer's is — cannot use the account endpoints: it names
// a user of that issuer, and would mint an API token of this one.
func TestAccountEndpointsRefuseOtherIssuers(t *testing.T) {
	f, issB := newFxTrustingOther(t)
	pair, err := issB.IssuePair(t.Context(), "alice")
	if err != nil {
		t.Fatal(err)
	}
	if r := f.do("GET", "/api/me", "", bearer(pair.AccessToken)...); r.status != 200 {
		t.Fatalf("the other issuer's token on a protected route: %d %s (the verifier should trust it)", r.status, r.body)
	}
	for _, path := range []string{"/api-tokens", "/sessions"} {
		if r := f.do("GET", path, "", bearer(pair.AccessToken)...); r.status != 403 {
			t.Errorf("GET %s with another issuer's token: %d %s, want 403", path, r.status, r.body)
		}
	}
	if r := f.do("POST", "/api-tokens", "name=ci", append(bearer(pair.AccessToken), "Content-Type", formType)...); r.status != 403 {
		t.Errorf("POST /api-tokens with another issuer's token: %d %s, want 403", r.status, r.body)
	}
}

// otherIssuer is the identifier of newFxTrustingOther's second issuer.
const otherIssuer = "https://other.example"

// newFxTrustingOther returns a fixture whose verifier also trusts a second
// authkit issuer (otherIssuer, audience "api", keys of its own), and that
// issuer.
func newFxTrustingOther(t *testing.T) (*fx, *issuer.Issuer) {
	t.Helper()
	kb, err := keys.Generate(keys.EdDSA)
	if err != nil {
		t.Fatal(err)
	}
	setB, err := keys.NewSet(kb)
	if err != nil {
		t.Fatal(err)
	}
	f := newFx(t, fxOptions{verifier: []authkit.Option{authkit.WithTrustedIssuer(authkit.TrustedIssuer{
		Issuer: otherIssuer, Keys: setB, Audience: []string{"api"}})}})
	issB, err := issuer.New(authkit.WithKeys(setB), authkit.WithStore(memory.New()), authkit.WithIssuer(otherIssuer),
		authkit.WithAudience("api"), authkit.WithClock(f.clock.Now))
	if err != nil {
		t.Fatal(err)
	}
	return f, issB
}

// TestClientUnderIssuersOwnID checks that a client registered under the
// issuer's own client_id ("authkit" by default) cannot authenticate: its
// tokens would pass for first-party sessions.
func TestClientUnderIssuersOwnID(t *testing.T) {
	f := newClientFx(t)
	secret, hash, err := f.iss.NewClientSecret()
	if err != nil {
		t.Fatal(err)
	}
	own := f.iss.ClientID()
	if own == "" {
		t.Fatal("the fixture's issuer has no client_id")
	}
	if err := f.clients.CreateClient(t.Context(), authkit.Client{ID: own, SecretHash: hash, CreatedAt: base, Scopes: []string{"read"},
		GrantTypes: []string{authkit.GrantClientCredentials}}); err != nil {
		t.Fatal(err)
	}
	r := f.form("/token", []string{"grant_type", "client_credentials"}, clientBasic(own, secret)...)
	if r.status != 401 || r.body != bodyBadClient {
		t.Errorf("client_credentials as a client registered under %q: %d %s, want 401 %s", own, r.status, r.body, bodyBadClient)
	}
}

// A TrustedOrigins entry with its scheme's default port would never match
// the Origin a browser sends (which leaves it out): New refuses it.
func TestTrustedOriginDefaultPortRefused(t *testing.T) {
	f := newFx(t, fxOptions{})
	for _, o := range []string{"https://front.example:443", "http://front.example:80"} {
		if _, err := httpauth.New(f.ver, httpauth.WithCookies(httpauth.Cookies{TrustedOrigins: []string{o}})); !errors.Is(err, authkit.ErrInvalidConfig) {
			t.Errorf("TrustedOrigins %q: %v, want ErrInvalidConfig", o, err)
		}
	}
	for _, o := range []string{"https://front.example:8443", "http://front.example:443", "https://front.example"} {
		if _, err := httpauth.New(f.ver, httpauth.WithCookies(httpauth.Cookies{TrustedOrigins: []string{o}})); err != nil {
			t.Errorf("TrustedOrigins %q: %v, want accepted", o, err)
		}
	}
}

// The default introspection rule takes the "introspect" scope only as this
// issuer grants it: a trusted issuer's token holding a scope of that name
// is refused (found by review: it read this issuer's refresh tokens). A
// trusted issuer's token introspects with the issuer the verifier
// resolved.
func TestIntrospectRefusesOtherIssuersScope(t *testing.T) {
	f, issB := newFxTrustingOther(t)
	foreign, err := issB.IssuePair(t.Context(), "bob", issuer.WithScopes(httpauth.IntrospectScope))
	if err != nil {
		t.Fatal(err)
	}
	victim := f.login("alice", "read write")
	r := f.form("/introspect", []string{"token", victim.RefreshToken}, bearer(foreign.AccessToken)...)
	if r.status != 403 {
		t.Errorf("introspection by another issuer's token holding %q: %d %s, want 403", httpauth.IntrospectScope, r.status, r.body)
	}

	own := f.login("carol", httpauth.IntrospectScope)
	r = f.form("/introspect", []string{"token", foreign.AccessToken}, bearer(own.AccessToken)...)
	if m := r.json(t); r.status != 200 || m["active"] != true || m["iss"] != otherIssuer || m["sub"] != "bob" {
		t.Errorf("introspecting another issuer's token: %d %s, want active with iss %q", r.status, r.body, otherIssuer)
	}
}
