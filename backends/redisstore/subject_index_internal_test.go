package redisstore

import (
	"crypto/sha256"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/authkit-go/authkit"
)

// RevokeSubjectSessions must not prune the subject index entry of a
// session being created (CreateSession writes the entry, then the session,
// in two round trips): the session would then escape every later
// ListSessions and logout-all. Only an old entry without a session goes.
func TestRevokeSubjectSessionsKeepsYoungIndexEntries(t *testing.T) {
	s, rdb := standaloneStore(t)
	ctx := t.Context()
	now := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	subj := s.k.subjectSessions("alice")
	// The first round trip of a create racing the logout-all, and an entry
	// left long ago by a create that never finished.
	if err := rdb.ZAdd(ctx, subj, redis.Z{Score: score(now), Member: enc("racing")},
		redis.Z{Score: score(now.Add(-time.Hour)), Member: enc("stale")}).Err(); err != nil {
		t.Fatal(err)
	}
	if got, err := s.RevokeSubjectSessions(ctx, "alice", now); err != nil || len(got) != 0 {
		t.Fatalf("RevokeSubjectSessions: %q %v, want none revoked", got, err)
	}
	members, err := rdb.ZRange(ctx, subj, 0, -1).Result()
	if err != nil {
		t.Fatal(err)
	}
	if len(members) != 1 || members[0] != enc("racing") {
		t.Fatalf("index after RevokeSubjectSessions: %q, want only the racing create's entry", members)
	}
	// The create's second round trip lands: the next logout-all ends it.
	sess := authkit.Session{ID: "racing", Subject: "alice", CreatedAt: now, LastUsedAt: now, ExpiresAt: now.Add(time.Hour), IdleExpiresAt: now.Add(time.Hour)}
	first := authkit.RefreshRecord{Hash: sha256.Sum256([]byte("rt")), SessionID: "racing", Subject: "alice", IssuedAt: now, ExpiresAt: now.Add(time.Hour)}
	if err := s.CreateSession(ctx, sess, first); err != nil {
		t.Fatal(err)
	}
	if got, err := s.RevokeSubjectSessions(ctx, "alice", now.Add(time.Second)); err != nil || len(got) != 1 || got[0] != "racing" {
		t.Fatalf("the next RevokeSubjectSessions: %q %v, want the raced session", got, err)
	}
}
