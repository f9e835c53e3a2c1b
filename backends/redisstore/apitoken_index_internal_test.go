package redisstore

import (
	"crypto/sha256"
	"fmt"
	"testing"
	"time"

	"github.com/authkit-go/authkit"
)

// A subject's index of API tokens holds no revoked token: a revocation
// takes the token out, and a count against the limit or a listing takes
// out any revoked one it meets. Otherwise a
// user creating and revoking tokens in a loop would grow the index that
// every later create and list scans inside one script, holding Redis up
// for every other client until cleanup.
func TestAPITokenIndexDropsDeadTokens(t *testing.T) {
	s, rdb := standaloneStore(t)
	ctx := t.Context()
	now := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	index := func() int64 {
		t.Helper()
		n, err := rdb.ZCard(ctx, s.k.tokens("alice")).Result()
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	create := func(i int, expires time.Time) authkit.APIToken {
		t.Helper()
		tok := authkit.APIToken{ID: fmt.Sprint("tok-", i), Hash: sha256.Sum256(fmt.Append(nil, "secret-", i)), Subject: "alice",
			Name: "n", CreatedAt: now, ExpiresAt: expires}
		if err := s.CreateAPIToken(ctx, tok, 20, now); err != nil {
			t.Fatalf("CreateAPIToken %d: %v", i, err)
		}
		return tok
	}
	for i := range 40 {
		tok := create(i, time.Time{})
		if err := s.RevokeAPIToken(ctx, "alice", tok.ID, now); err != nil {
			t.Fatal(err)
		}
	}
	if n := index(); n != 0 {
		t.Errorf("%d entries in the index after creating and revoking 40 tokens, want 0", n)
	}
	// Expired tokens leave it at a count against the limit once expired
	// for longer than the expiry margin (expiry is judged by the caller's
	// clock, which may run ahead of others'); until then they stay, and
	// are neither counted nor listed.
	for i := 100; i < 110; i++ {
		create(i, now.Add(time.Second))
	}
	now = now.Add(time.Minute)
	create(200, time.Time{})
	if n := index(); n != 11 {
		t.Errorf("%d entries in the index a minute after 10 tokens expired, want 11 (within the margin they stay)", n)
	}
	now = now.Add(s.cfg.margin)
	create(201, time.Time{})
	if n := index(); n != 2 {
		t.Errorf("%d entries in the index past the margin after 10 tokens expired, want 2 (the live ones)", n)
	}
	if l, err := s.ListAPITokens(ctx, "alice", now); err != nil || len(l) != 2 {
		t.Errorf("ListAPITokens: %d tokens, %v; want the two live ones", len(l), err)
	}
}
