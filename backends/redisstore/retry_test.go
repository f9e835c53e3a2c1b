package redisstore_test

import (
	"context"
	"crypto/sha256"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/authkit-go/authkit"
	"github.com/authkit-go/authkit/internal/testservers"
)

// replayHook sends every command and pipeline twice and keeps the second
// reply: what Redis sees when go-redis resends a command whose first reply
// was lost (it retries on a reset connection or a read timeout).
type replayHook struct{}

func (replayHook) DialHook(next redis.DialHook) redis.DialHook { return next }

func (replayHook) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		_ = next(ctx, cmd)
		return next(ctx, cmd)
	}
}

func (replayHook) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		_ = next(ctx, cmds)
		return next(ctx, cmds)
	}
}

// TestRetriedCommands checks that a write Redis executes twice — once for
// the lost reply, once for go-redis's retry — takes effect once and reports
// the first execution's outcome: a retried rotation is not reuse, a
// retried create is not a conflict, a retried logout-all still reports
// what it revoked.
func TestRetriedCommands(t *testing.T) {
	addr := testservers.Redis(t)
	plain := standalone(t, addr)
	prefix := testservers.RedisPrefix(t, plain)
	replayed := standalone(t, addr)
	replayed.AddHook(replayHook{})
	s, ref := newStore(t, replayed, prefix), newStore(t, plain, prefix)
	ctx := t.Context()
	base := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	hash := func(s string) authkit.TokenHash { return sha256.Sum256([]byte(s)) }

	sess := authkit.Session{ID: "sess-1", Subject: "alice", CreatedAt: base, LastUsedAt: base, ExpiresAt: base.Add(24 * time.Hour), IdleExpiresAt: base.Add(time.Hour)}
	first := authkit.RefreshRecord{Hash: hash("rt-1"), SessionID: sess.ID, Subject: sess.Subject, IssuedAt: base, ExpiresAt: sess.IdleExpiresAt}
	if err := s.CreateSession(ctx, sess, first); err != nil {
		t.Fatalf("a replayed CreateSession: %v, want nil", err)
	}
	if err := ref.CreateSession(ctx, sess, first); !errors.Is(err, authkit.ErrConflict) {
		t.Errorf("a second CreateSession of the same session: %v, want ErrConflict", err)
	}
	rot := authkit.Rotation{Old: hash("rt-1"), Next: hash("rt-2"), NextExpiresAt: base.Add(2 * time.Hour), Successor: []byte("sealed"), Now: base.Add(time.Minute)}
	got, err := s.RotateRefresh(ctx, rot)
	if err != nil {
		t.Fatalf("a replayed RotateRefresh: %v, want nil (a retry is not reuse)", err)
	}
	if !got.LastUsedAt.Equal(rot.Now) {
		t.Errorf("the replayed rotation returned LastUsedAt %v, want %v", got.LastUsedAt, rot.Now)
	}
	// A later call with the very same rotation is reuse.
	if _, err := ref.RotateRefresh(ctx, rot); !errors.Is(err, authkit.ErrTokenReused) {
		t.Errorf("a second RotateRefresh of the same token: %v, want ErrTokenReused", err)
	}
	if _, err := ref.LookupRefresh(ctx, hash("rt-2")); err != nil {
		t.Errorf("the successor of the replayed rotation: %v", err)
	}

	tok := authkit.APIToken{ID: "tok-1", Hash: hash("tok-1"), Subject: "alice", Name: "ci", CreatedAt: base}
	if err := s.CreateAPIToken(ctx, tok, 1, base); err != nil {
		t.Fatalf("a replayed CreateAPIToken with limit 1: %v, want nil (its retry must not count itself)", err)
	}
	if err := ref.CreateAPIToken(ctx, tok, 0, base); !errors.Is(err, authkit.ErrConflict) {
		t.Errorf("a second CreateAPIToken of the same token: %v, want ErrConflict", err)
	}

	sess2 := sess
	sess2.ID = "sess-2"
	second := first
	second.SessionID, second.Hash = sess2.ID, hash("rt-b")
	if err := ref.CreateSession(ctx, sess2, second); err != nil {
		t.Fatal(err)
	}
	ids, err := s.RevokeSubjectSessions(ctx, "alice", base.Add(2*time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"sess-1", "sess-2"}; !slices.Equal(ids, want) {
		t.Errorf("a replayed RevokeSubjectSessions returned %q, want %q", ids, want)
	}
	if err := s.RevokeSession(ctx, "sess-1", base.Add(3*time.Minute)); err != nil {
		t.Errorf("a replayed RevokeSession of a revoked session: %v", err)
	}
}
