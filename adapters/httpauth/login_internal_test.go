package httpauth

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/authkit-go/authkit"
	"github.com/authkit-go/authkit/backends/memory"
	"github.com/authkit-go/authkit/issuer"
	"github.com/authkit-go/authkit/keys"
	"github.com/authkit-go/authkit/verifier"
)

// TestLogoutAllAPITokens checks what the logout-all endpoint revokes
// through revokeSubject, with and without WithLogoutAllAPITokens.
func TestLogoutAllAPITokens(t *testing.T) {
	ctx := context.Background()
	k, _ := keys.Generate(keys.EdDSA)
	set, _ := keys.NewSet(k)
	opts := []authkit.Option{authkit.WithKeys(set), authkit.WithStore(memory.New())}
	iss, err := issuer.New(opts...)
	if err != nil {
		t.Fatal(err)
	}
	ver, _ := verifier.New(opts...)
	auth, _ := New(ver)
	for _, with := range []bool{false, true} {
		var hopts []HandlerOption
		if with {
			hopts = append(hopts, WithLogoutAllAPITokens())
		}
		h, err := NewHandler(iss, auth, hopts...)
		if err != nil {
			t.Fatal(err)
		}
		if _, _, err := iss.CreateAPIToken(ctx, "alice", "ci"); err != nil {
			t.Fatal(err)
		}
		if err := h.revokeSubject(ctx, "alice"); err != nil {
			t.Fatal(err)
		}
		ts, _ := iss.APITokens(ctx, "alice")
		if with && len(ts) != 0 || !with && len(ts) != 1 {
			t.Errorf("WithLogoutAllAPITokens %v: %d API tokens left", with, len(ts))
		}
	}
	// Without an API token store the option is refused at start-up.
	noAPI, err := issuer.New(authkit.WithKeys(set), authkit.WithRefreshStore(memory.New()))
	if err != nil {
		t.Fatal(err)
	}
	p := DefaultPaths()
	p.APITokens = ""
	if _, err := NewHandler(noAPI, auth, WithPaths(p), WithLogoutAllAPITokens()); !errors.Is(err, authkit.ErrInvalidConfig) {
		t.Errorf("WithLogoutAllAPITokens without an API token store: %v", err)
	}
	if _, err := NewHandler(noAPI, auth, WithPaths(p)); err != nil {
		t.Errorf("the same without the option: %v", err)
	}
}

// formAction never returns a network-path reference ("//host/…"), which a
// login form would post the password to another host with.
func TestFormActionNeverLeavesTheHost(t *testing.T) {
	for _, c := range []struct{ target, want string }{
		{"/authorize?client_id=a", "/authorize?client_id=a"},
		{"/auth/authorize?x=1", "/auth/authorize?x=1"},
		{"//evil.example/authorize?client_id=a", "/evil.example/authorize?client_id=a"},
		{"///evil.example/authorize", "/evil.example/authorize"},
		{"https://auth.example/authorize?x=1", "/authorize?x=1"},
		{"https://auth.example//evil.example/authorize", "/evil.example/authorize"},
	} {
		r := httptest.NewRequest(http.MethodGet, c.target, nil)
		if got := formAction(r); got != c.want {
			t.Errorf("request-target %q: form action %q, want %q", c.target, got, c.want)
		}
	}
}
