package memory_test

import (
	"context"
	"testing"
	"time"

	"github.com/authkit-go/authkit"
	"github.com/authkit-go/authkit/backends/memory"
	"github.com/authkit-go/authkit/internal/revmirror"
)

// TestMirror runs the verifier's revocation mirror over a memory Store:
// revocations made through the Store itself, not through the mirror,
// reach the mirror's copy by the feed, within deliveryBound although the
// heartbeat is far longer, and the mirror answers from its copy without
// asking the store.
func TestMirror(t *testing.T) {
	s := memory.New()
	ctx := context.Background()
	m, err := revmirror.New(s, revmirror.Options{MaxLag: 4 * time.Minute, Heartbeat: time.Minute})
	if err != nil {
		t.Fatalf("revmirror.New over a memory Store: %v", err)
	}
	defer m.Close()

	now := time.Now()
	until := now.Add(time.Hour)
	waitFor := func(what string, cond func(revmirror.Stats) bool) {
		t.Helper()
		deadline := time.Now().Add(deliveryBound)
		for st := m.Stats(); !cond(st); st = m.Stats() {
			if time.Now().After(deadline) {
				t.Fatalf("waited %v for %s; mirror: %+v", deliveryBound, what, st)
			}
			time.Sleep(time.Millisecond)
		}
	}

	if err := s.RevokeToken(ctx, "alice", "jti-1", until); err != nil {
		t.Fatal(err)
	}
	waitFor("the first revocation in a fresh copy", func(st revmirror.Stats) bool { return st.Fresh && st.Entries == 1 })

	// The mirror follows and waits: the next writes must be pushed to it.
	waitUntilWaiting(t, s)
	if err := s.RevokeSessionTokens(ctx, "alice", "sid-1", until); err != nil {
		t.Fatal(err)
	}
	if err := s.SetCutoff(ctx, "bob", now, until); err != nil {
		t.Fatal(err)
	}
	waitFor("the session revocation and the cutoff in the copy", func(st revmirror.Stats) bool { return st.Entries == 3 })

	for _, c := range []struct {
		name string
		q    authkit.RevocationQuery
		dead bool
	}{
		{"revoked jti", authkit.RevocationQuery{TokenID: "jti-1", SessionID: "sid-x", Subject: "alice", IssuedAt: now}, true},
		{"revoked session", authkit.RevocationQuery{TokenID: "jti-x", SessionID: "sid-1", Subject: "alice", IssuedAt: now}, true},
		{"issued at the cutoff", authkit.RevocationQuery{TokenID: "jti-x", Subject: "bob", IssuedAt: now}, true},
		{"live", authkit.RevocationQuery{TokenID: "jti-x", SessionID: "sid-x", Subject: "bob", IssuedAt: now.Add(time.Second)}, false},
	} {
		dead, err := m.IsRevoked(ctx, c.q, time.Now())
		if err != nil || dead != c.dead {
			t.Errorf("%s: mirror IsRevoked = %v, %v; want %v", c.name, dead, err, c.dead)
		}
	}
	if st := m.Stats(); st.Fallbacks != 0 || st.Snapshots != 1 {
		t.Errorf("mirror %+v: want every answer from the copy (no fallback) and one snapshot", st)
	}
}

// TestMirrorOption checks that a verifier may be configured with a
// revocation mirror over a memory Store: it has the feed the option asks
// for.
func TestMirrorOption(t *testing.T) {
	c, err := authkit.BuildConfig(authkit.RoleVerifier, authkit.WithStore(memory.New()), authkit.WithRevocationMirror(time.Minute))
	if err != nil || c.RevocationMirror != time.Minute {
		t.Fatalf("BuildConfig with a memory Store and WithRevocationMirror(1m) = (%v, %v), want the mirror on", c, err)
	}
}
