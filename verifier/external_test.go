package verifier_test

import (
	"context"
	"errors"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/authkit-go/authkit"
	"github.com/authkit-go/authkit/backends/memory"
	"github.com/authkit-go/authkit/issuer"
	"github.com/authkit-go/authkit/keys"
	"github.com/authkit-go/authkit/verifier"
)

// externalStore is an APITokenStore (authkit's own tokens, in memory)
// that also accepts tokens of another system: 40 lowercase hex digits, as
// Django REST framework's authtoken keys are.
type externalStore struct {
	*memory.Store
	tokens  map[string]authkit.APIToken
	lookups int
}

func (s *externalStore) OwnsToken(token string) bool {
	if len(token) != 40 {
		return false
	}
	for _, c := range token {
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}

func (s *externalStore) LookupExternalAPIToken(_ context.Context, token string) (authkit.APIToken, error) {
	s.lookups++
	if t, ok := s.tokens[token]; ok {
		return t, nil
	}
	return authkit.APIToken{}, authkit.ErrNotFound
}

// An API token store that implements authkit.ExternalAPITokens gets the
// tokens of its form that are neither JWTs nor authkit's own; authkit's
// own API tokens and JWTs still take their usual way.
func TestExternalAPITokens(t *testing.T) {
	ctx := context.Background()
	k, _ := keys.Generate(keys.HS256)
	set, _ := keys.NewSet(k)
	clk := &clock{t: base}
	live := "0123456789abcdef0123456789abcdef01234567"
	revoked := "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
	expired := "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"
	st := &externalStore{Store: memory.New(), tokens: map[string]authkit.APIToken{
		live:    {ID: "drf-1", Subject: "alice", CreatedAt: base.Add(-time.Hour)},
		revoked: {ID: "drf-2", Subject: "bob", RevokedAt: base.Add(-time.Minute)},
		expired: {ID: "drf-3", Subject: "carol", ExpiresAt: base.Add(-time.Second)},
	}}
	common := []authkit.Option{authkit.WithKeys(set), authkit.WithStore(st), authkit.WithClock(clk.Now)}
	is, _ := issuer.New(common...)
	v, err := verifier.New(common...)
	if err != nil {
		t.Fatal(err)
	}
	p, err := v.Verify(ctx, live)
	if err != nil || p.Subject != "alice" || p.Method != authkit.MethodAPIToken || p.TokenID != "drf-1" {
		t.Fatalf("an external token: %+v %v", p, err)
	}
	for tok, want := range map[string]error{
		revoked: authkit.ErrTokenRevoked,
		expired: authkit.ErrTokenExpired,
		"cccccccccccccccccccccccccccccccccccccccc": authkit.ErrInvalidToken,
	} {
		if _, err := v.Verify(ctx, tok); !errors.Is(err, want) {
			t.Errorf("%s…: %v, want %v", tok[:6], err, want)
		}
	}
	// DRF's own scheme.
	r := httptest.NewRequest("GET", "/", nil)
	r.Header.Set("Authorization", "Token "+live)
	if p, err := v.Authenticate(r); err != nil || p.Subject != "alice" {
		t.Errorf("Authorization: Token <key>: %+v %v", p, err)
	}
	n := st.lookups
	secret, _, err := is.CreateAPIToken(ctx, "dave", "ci")
	if err != nil {
		t.Fatal(err)
	}
	if p, err := v.Verify(ctx, secret); err != nil || p.Subject != "dave" {
		t.Errorf("authkit's own API token: %+v %v", p, err)
	}
	pair, _ := is.IssuePair(ctx, "erin")
	if p, err := v.Verify(ctx, pair.AccessToken); err != nil || p.Subject != "erin" {
		t.Errorf("a JWT: %+v %v", p, err)
	}
	if _, err := v.Verify(ctx, "not-hex-and-not-a-token"); !errors.Is(err, authkit.ErrInvalidToken) {
		t.Errorf("a token of no known form: %v", err)
	}
	if st.lookups != n {
		t.Errorf("the external store was asked about %d tokens not of its form", st.lookups-n)
	}
}
