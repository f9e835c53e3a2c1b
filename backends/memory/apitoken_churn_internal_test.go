package memory

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/authkit-go/authkit"
)

// TestRevokedAPITokensBounded: a user who holds one live token and loops
// create + revoke (POST /api-tokens, DELETE /api-tokens/{id}) never has
// more than one live token, so the API token limit lets every creation
// through; the revoked tokens used to stay until the next Cleanup (about
// 870 bytes each, gigabytes between two of serve's cleanups). The writes'
// sweep now keeps at most maxRevokedTokens (16,384) of them, dropping
// those revoked the longest ago, so the store's size stays bounded
// without any Cleanup, while a token just revoked is still found as
// revoked.
func TestRevokedAPITokensBounded(t *testing.T) {
	const (
		n     = 40_000
		bound = 16_384 + 1 // the revoked tokens kept, and the live one
	)
	s := New()
	ctx := context.Background()
	if err := s.CreateAPIToken(ctx, authkit.APIToken{ID: "live", Hash: hashN('L', 0), Subject: "alice", CreatedAt: t0}, 5, t0); err != nil {
		t.Fatal(err)
	}
	now := t0
	for i := range n {
		now = now.Add(time.Millisecond)
		tok := authkit.APIToken{ID: fmt.Sprint("c", i), Hash: hashN('c', i), Subject: "alice", CreatedAt: now}
		if err := s.CreateAPIToken(ctx, tok, 5, now); err != nil {
			t.Fatalf("CreateAPIToken %d: %v", i, err)
		}
		if err := s.RevokeAPIToken(ctx, "alice", tok.ID, now); err != nil {
			t.Fatalf("RevokeAPIToken %d: %v", i, err)
		}
		if got := s.size(); got > bound {
			t.Fatalf("after %d create+revoke pairs the store holds %d entries, more than %d (%d revoked tokens and the live one)", i+1, got, bound, bound-1)
		}
	}
	checkInvariants(t, s)
	if _, err := s.LookupAPIToken(ctx, hashN('L', 0)); err != nil {
		t.Errorf("the live token: %v", err)
	}
	last, err := s.LookupAPIToken(ctx, hashN('c', n-1))
	if err != nil || !last.RevokedAt.Equal(now) {
		t.Errorf("the token revoked last: %+v, %v; want it found, revoked at %s", last, err, now)
	}
	if _, err := s.LookupAPIToken(ctx, hashN('c', 0)); !errors.Is(err, authkit.ErrNotFound) {
		t.Errorf("the token revoked first: %v; want ErrNotFound (dropped, revoked the longest ago)", err)
	}
	if got, err := s.ListAPITokens(ctx, "alice", now); err != nil || len(got) != 1 || got[0].ID != "live" {
		t.Errorf("ListAPITokens = %d tokens, %v; want the live one", len(got), err)
	}
}
