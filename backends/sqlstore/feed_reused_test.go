package sqlstore_test

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/authkit-go/authkit"
	"github.com/authkit-go/authkit/backends/sqlstore"
	"github.com/authkit-go/authkit/internal/revmirror"
)

// gatedFeed is a Store whose FollowRevocations fails as an unreachable
// store while down is set: the primary is failing over.
type gatedFeed struct {
	*sqlstore.Store
	down atomic.Bool
}

func (g *gatedFeed) FollowRevocations(ctx context.Context, after authkit.FeedPosition, heartbeat time.Duration, fn func([]authkit.Revocation, authkit.FeedPosition) error) error {
	if g.down.Load() {
		return fmt.Errorf("gatedFeed: %w", authkit.ErrStoreUnavailable)
	}
	return g.Store.FollowRevocations(ctx, after, heartbeat, fn)
}

// loseNewest makes the database look like a replica promoted without its
// last changes after keep: the log rows, the revocations they wrote and
// the counter go back, under the same epoch.
func loseNewest(t *testing.T, s *sqlstore.Store, keep int64, idents ...string) {
	t.Helper()
	db := s.DB()
	for _, q := range []struct {
		q    string
		args []any
	}{
		{"DELETE FROM authkit_revocation_log WHERE id > ?", []any{keep}},
		{"UPDATE authkit_revocation_feed SET seq = ? WHERE k = 1", []any{keep}},
	} {
		if _, err := db.ExecContext(t.Context(), db.Rebind(q.q), q.args...); err != nil {
			t.Fatal(err)
		}
	}
	for _, id := range idents {
		if _, err := db.ExecContext(t.Context(), db.Rebind("DELETE FROM authkit_revocations WHERE ident = ?"), id); err != nil {
			t.Fatal(err)
		}
	}
}

// TestFeedReusedIDs: a database that lost its newest log changes and took
// new ones under the same ids (a failover to a replica that missed them,
// a restore) keeps its epoch, so ids alone cannot tell it from the log a
// position was read from. A mirror that reconnects from its position once
// the new changes have caught up with it must not skip them: the position
// carries its change's written_at, the store finds another change there
// and answers ErrFeedPositionLost, and the mirror takes a snapshot (found
// by review: the mirror stayed fresh and answered "not revoked" for the
// new revocations until they expired). A follower that polls across the
// swap stops the same way.
func TestFeedReusedIDs(t *testing.T) {
	t.Parallel()
	for _, b := range allBackends {
		t.Run(b.name, func(t *testing.T) {
			ctx := t.Context()
			w, dsn := newStore(t, b)
			r, err := sqlstore.New(openDB(t, b, dsn))
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = r.Close() })
			g := &gatedFeed{Store: r}
			m, err := revmirror.New(g, revmirror.Options{MaxLag: 2 * time.Second, MinBackoff: 10 * time.Millisecond, MaxBackoff: 50 * time.Millisecond})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = m.Close() })
			until := time.Now().Add(time.Hour)
			for i := 1; i <= 5; i++ {
				if err := w.RevokeToken(ctx, "alice", fmt.Sprint("old-", i), until); err != nil {
					t.Fatal(err)
				}
			}
			revoked := func(subject, jti string) bool {
				t.Helper()
				ok, err := m.IsRevoked(ctx, authkit.RevocationQuery{TokenID: jti, Subject: subject, IssuedAt: time.Now()}, time.Now()) // issued after the schema was made (its epoch)
				if err != nil {
					t.Fatal(err)
				}
				return ok
			}
			eventually(t, "the mirror to hold old-5 and be fresh", func() bool { return m.Stats().Fresh && revoked("alice", "old-5") })

			// The failover: the new primary missed changes 3 to 5, then
			// takes five new ones, ids 3 to 7.
			g.down.Store(true)
			loseNewest(t, w, 2, "old-3", "old-4", "old-5")
			for i := 1; i <= 5; i++ {
				if err := w.RevokeToken(ctx, "bob", fmt.Sprint("new-", i), until); err != nil {
					t.Fatal(err)
				}
			}
			g.down.Store(false)
			eventually(t, "the mirror to hold bob's new revocations", func() bool {
				if !m.Stats().Fresh {
					return false
				}
				for i := 1; i <= 5; i++ {
					if !revoked("bob", fmt.Sprint("new-", i)) {
						return false
					}
				}
				return true
			})

			// A follower polling across the swap (no reconnect).
			pos := snapshotPos(t, r)
			f := follow(t, r, pos)
			f.until(t, "a heartbeat", func(_ []authkit.Revocation, calls int) bool { return calls > 0 })
			loseNewest(t, w, 5, "new-3", "new-4", "new-5")
			for i := 1; i <= 3; i++ {
				if err := w.RevokeToken(ctx, "carol", fmt.Sprint("swap-", i), until); err != nil {
					t.Fatal(err)
				}
			}
			if err := f.ended(t); !errors.Is(err, authkit.ErrFeedPositionLost) {
				t.Errorf("a follower whose log lost its newest changes and took new ones under their ids: %v, want ErrFeedPositionLost", err)
			}
		})
	}
}
