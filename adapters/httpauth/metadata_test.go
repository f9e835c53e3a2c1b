package httpauth_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/authkit-go/authkit"
	"github.com/authkit-go/authkit/adapters/httpauth"
	"github.com/authkit-go/authkit/backends/memory"
	"github.com/authkit-go/authkit/issuer"
	"github.com/authkit-go/authkit/keys"
	"github.com/authkit-go/authkit/verifier"
)

// metadataHandler builds a Handler over a memory store for the issuer iss
// with opts, and its metadata handler.
func metadataHandler(t *testing.T, iss string, opts ...httpauth.HandlerOption) (http.Handler, error) {
	t.Helper()
	return newHandler(t, iss, opts...).MetadataHandler("read", "write")
}

// newHandler is a Handler with opts over a fresh memory store, issuing as
// iss.
func newHandler(t *testing.T, iss string, opts ...httpauth.HandlerOption) *httpauth.Handler {
	t.Helper()
	k, _ := keys.Generate(keys.EdDSA)
	set, _ := keys.NewSet(k)
	store := memory.New()
	common := []authkit.Option{authkit.WithKeys(set), authkit.WithStore(store), authkit.WithIssuer(iss)}
	is, err := issuer.New(common...)
	if err != nil {
		t.Fatal(err)
	}
	v, err := verifier.New(common...)
	if err != nil {
		t.Fatal(err)
	}
	auth, err := httpauth.New(v)
	if err != nil {
		t.Fatal(err)
	}
	h, err := httpauth.NewHandler(is, auth, opts...)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

func metadataOf(t *testing.T, h http.Handler) map[string]any {
	t.Helper()
	w := httptest.NewRecorder()
	h.ServeHTTP(w, httptest.NewRequest("GET", httpauth.MetadataWellKnown, nil))
	var doc map[string]any
	if w.Code != http.StatusOK || w.Header().Get("Content-Type") != "application/json" || json.Unmarshal(w.Body.Bytes(), &doc) != nil {
		t.Fatalf("metadata: %d %q %s", w.Code, w.Header().Get("Content-Type"), w.Body)
	}
	return doc
}

func strs(v any) []string {
	var out []string
	for _, x := range v.([]any) {
		out = append(out, x.(string))
	}
	return out
}

// The RFC 8414 document says exactly what the handler has enabled.
func TestMetadata(t *testing.T) {
	check := func(_ context.Context, u, p string) (string, error) { return u, nil }
	withAll, err := metadataHandler(t, "https://auth.example", httpauth.WithPasswordGrant(check), httpauth.WithClientStore(memory.New()),
		httpauth.WithAuthorizationCode(http.NotFoundHandler()))
	if err != nil {
		t.Fatal(err)
	}
	doc := metadataOf(t, withAll)
	for k, want := range map[string]string{
		"issuer":                 "https://auth.example",
		"token_endpoint":         "https://auth.example/token",
		"jwks_uri":               "https://auth.example/.well-known/jwks.json",
		"revocation_endpoint":    "https://auth.example/revoke",
		"introspection_endpoint": "https://auth.example/introspect",
		"authorization_endpoint": "https://auth.example/authorize",
	} {
		if doc[k] != want {
			t.Errorf("%s = %v, want %s", k, doc[k], want)
		}
	}
	if g := strs(doc["grant_types_supported"]); !slices.Equal(g, []string{"refresh_token", "password", "authorization_code", "client_credentials"}) {
		t.Errorf("grant_types_supported %v", g)
	}
	if m := strs(doc["token_endpoint_auth_methods_supported"]); !slices.Equal(m, []string{"client_secret_basic", "client_secret_post", "private_key_jwt", "none"}) {
		t.Errorf("token_endpoint_auth_methods_supported %v", m)
	}
	if !slices.Equal(strs(doc["response_types_supported"]), []string{"code"}) || !slices.Equal(strs(doc["code_challenge_methods_supported"]), []string{"S256"}) ||
		doc["authorization_response_iss_parameter_supported"] != true || !slices.Contains(strs(doc["token_endpoint_auth_signing_alg_values_supported"]), "EdDSA") {
		t.Errorf("authorization-code members: %v", doc)
	}
	if s := strs(doc["scopes_supported"]); !slices.Equal(s, []string{"read", "write"}) {
		t.Errorf("scopes_supported %v", s)
	}

	// Without the password grant and the client store: neither is claimed.
	plain, err := metadataHandler(t, "http://127.0.0.1:8080/tenant")
	if err != nil {
		t.Fatal(err)
	}
	doc = metadataOf(t, plain)
	if g := strs(doc["grant_types_supported"]); !slices.Equal(g, []string{"refresh_token"}) {
		t.Errorf("plain grant_types_supported %v", g)
	}
	if m := strs(doc["token_endpoint_auth_methods_supported"]); !slices.Equal(m, []string{"none"}) {
		t.Errorf("plain auth methods %v", m)
	}
	// No claim with zero elements (RFC 8414 §3.2): response_types_supported
	// is left out without an authorization endpoint.
	_, responseTypes := doc["response_types_supported"]
	if doc["token_endpoint"] != "http://127.0.0.1:8080/tenant/token" || fmt.Sprint(doc["introspection_endpoint_auth_methods_supported"]) != "[Bearer]" ||
		doc["authorization_endpoint"] != nil || responseTypes || doc["code_challenge_methods_supported"] != nil {
		t.Errorf("plain document %v", doc)
	}
	w := httptest.NewRecorder()
	plain.ServeHTTP(w, httptest.NewRequest("POST", httpauth.MetadataWellKnown, nil))
	if w.Code != http.StatusMethodNotAllowed || w.Header().Get("Allow") != "GET, HEAD" {
		t.Errorf("POST: %d %q", w.Code, w.Header().Get("Allow"))
	}

	// An issuer that is not the server's URL cannot have metadata.
	for _, iss := range []string{"authkit", "http://auth.example", "https://auth.example/?x=1", "https://auth.example/#f"} {
		if _, err := metadataHandler(t, iss); !errors.Is(err, authkit.ErrInvalidConfig) {
			t.Errorf("issuer %q: %v, want ErrInvalidConfig", iss, err)
		}
	}
	for iss, want := range map[string]string{
		"https://auth.example":         "/.well-known/oauth-authorization-server",
		"https://auth.example/":        "/.well-known/oauth-authorization-server",
		"https://auth.example/tenant1": "/.well-known/oauth-authorization-server/tenant1",
		"https://auth.example/a/b/":    "/.well-known/oauth-authorization-server/a/b",
	} {
		if got, err := httpauth.MetadataPath(iss); err != nil || got != want {
			t.Errorf("MetadataPath(%q) = %q, %v; want %q", iss, got, err, want)
		}
	}
}

// ExampleHandler_MetadataHandler serves RFC 8414 metadata beside the
// endpoints.
func ExampleHandler_MetadataHandler() {
	k, _ := keys.Generate(keys.EdDSA)
	set, _ := keys.NewSet(k)
	store := memory.New()
	opts := []authkit.Option{authkit.WithKeys(set), authkit.WithStore(store), authkit.WithIssuer("https://auth.example")}
	iss, _ := issuer.New(opts...)
	v, _ := verifier.New(opts...)
	auth, _ := httpauth.New(v)
	h, _ := httpauth.NewHandler(iss, auth, httpauth.WithClientStore(store))
	meta, err := h.MetadataHandler("orders:read")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return
	}
	path, _ := httpauth.MetadataPath(iss.ID())
	mux := http.NewServeMux()
	mux.Handle(path, meta)
	mux.Handle("/", h)

	w := httptest.NewRecorder()
	mux.ServeHTTP(w, httptest.NewRequest("GET", path, nil))
	var doc struct {
		Token  string   `json:"token_endpoint"`
		Grants []string `json:"grant_types_supported"`
	}
	_ = json.Unmarshal(w.Body.Bytes(), &doc)
	fmt.Println(path)
	fmt.Println(doc.Token, doc.Grants)
	// Output:
	// /.well-known/oauth-authorization-server
	// https://auth.example/token [refresh_token client_credentials]
}

// WithoutPasswordGrant keeps the password check for the login page and
// turns the password grant off: /token answers unsupported_grant_type,
// and the metadata does not list it (found by review: an authorization
// server for other parties' applications took the grant from anyone
// holding a user's password, skipping the authorization request).
func TestWithoutPasswordGrant(t *testing.T) {
	check := func(_ context.Context, u, p string) (string, error) { return u, nil }
	for _, off := range []bool{false, true} {
		opts := []httpauth.HandlerOption{httpauth.WithPasswordGrant(check), httpauth.WithClientStore(memory.New()), httpauth.WithAuthorizationCode(http.NotFoundHandler())}
		if off {
			opts = append(opts, httpauth.WithoutPasswordGrant())
		}
		h := newHandler(t, "https://auth.example", opts...)
		md, err := h.MetadataHandler("read")
		if err != nil {
			t.Fatal(err)
		}
		if listed := slices.Contains(strs(metadataOf(t, md)["grant_types_supported"]), "password"); listed == off {
			t.Errorf("WithoutPasswordGrant %v: metadata lists password: %v", off, listed)
		}
		req := httptest.NewRequest("POST", "/token", strings.NewReader("grant_type=password&username=alice&password=x"))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		refused := rec.Code == 400 && strings.Contains(rec.Body.String(), "unsupported_grant_type")
		if refused != off {
			t.Errorf("WithoutPasswordGrant %v: POST /token password: %d %s", off, rec.Code, rec.Body.String())
		}
	}
}
