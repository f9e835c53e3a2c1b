package sqlstore_test

import (
	"crypto/sha256"
	"errors"
	"testing"
	"time"

	"github.com/authkit-go/authkit"
)

// TestClientsBeyondConformance checks what the store decides where the
// conformance suite leaves room, on one server of each dialect: a second
// redemption is an *authkit.ReuseError naming the session the first one
// recorded, a redeemed code past its expiry is not found (as the memory
// store answers), a list item JSON would alter (invalid UTF-8) is refused
// rather than stored changed, and a lookup by an ID no client can have is
// not found without a query.
func TestClientsBeyondConformance(t *testing.T) {
	t.Parallel()
	for _, b := range []backend{pgxBackend, mysqlBackend, sqliteBackend} {
		t.Run(b.name, func(t *testing.T) {
			s, _ := newStore(t, b)
			ctx := t.Context()
			base := time.UnixMicro(1_800_000_000_000_000).UTC()
			if err := s.CreateClient(ctx, authkit.Client{ID: "app", GrantTypes: []string{authkit.GrantAuthorizationCode}, CreatedAt: base}); err != nil {
				t.Fatalf("CreateClient: %v", err)
			}
			h := authkit.TokenHash(sha256.Sum256([]byte("code")))
			code := authkit.AuthorizationCode{Hash: h, ClientID: "app", Subject: "alice", CreatedAt: base, ExpiresAt: base.Add(time.Minute)}
			if err := s.CreateAuthorizationCode(ctx, code); err != nil {
				t.Fatalf("CreateAuthorizationCode: %v", err)
			}
			if _, err := s.RedeemAuthorizationCode(ctx, h, base.Add(time.Second)); err != nil {
				t.Fatalf("RedeemAuthorizationCode: %v", err)
			}
			if err := s.SetAuthorizationCodeSession(ctx, h, "sess-1"); err != nil {
				t.Fatalf("SetAuthorizationCodeSession: %v", err)
			}
			_, err := s.RedeemAuthorizationCode(ctx, h, base.Add(2*time.Second))
			if re, ok := errors.AsType[*authkit.ReuseError](err); !ok || re.SessionID != "sess-1" || re.Subject != "alice" || !re.UsedAt.Equal(base.Add(time.Second)) {
				t.Errorf("a second redemption returned %v, want a *authkit.ReuseError of session sess-1, subject alice, used at +1s", err)
			}
			if _, err := s.RedeemAuthorizationCode(ctx, h, base.Add(time.Minute)); !errors.Is(err, authkit.ErrNotFound) {
				t.Errorf("a redemption of a redeemed code at its expiry returned %v, want ErrNotFound", err)
			}
			bad := authkit.Client{ID: "bad", RedirectURIs: []string{"https://app.example/\xff"}, CreatedAt: base}
			if err := s.CreateClient(ctx, bad); !errors.Is(err, authkit.ErrInvalidRequest) {
				t.Errorf("CreateClient with a redirect URI that is not UTF-8 returned %v, want ErrInvalidRequest", err)
			}
			if _, err := s.GetClient(ctx, "app\x00"); !errors.Is(err, authkit.ErrNotFound) {
				t.Errorf("GetClient of an ID with a NUL byte returned %v, want ErrNotFound", err)
			}
		})
	}
}
