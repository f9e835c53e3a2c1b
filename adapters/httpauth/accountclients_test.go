package httpauth_test

import (
	"strings"
	"testing"

	"github.com/authkit-go/authkit/adapters/httpauth"
)

// TestAccountEndpointsRefuseClientTokens checks that a token issued to a
// registered OAuth client — its own (client_credentials) or a user's
// through it (here a password grant with client authentication) — cannot
// use the account endpoints: with them a five-minute machine or delegated
// token minted an API token that never expired and outlived the client's
// removal, and read the user's sessions. First-party tokens still can, and
// WithAccountClients lets a named client's tokens in.
func TestAccountEndpointsRefuseClientTokens(t *testing.T) {
	const refused = `{"error":"insufficient_scope","error_description":"a token issued to an OAuth client cannot be used here"}`
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
