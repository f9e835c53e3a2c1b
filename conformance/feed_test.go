package conformance_test

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/authkit-go/authkit"
	"github.com/authkit-go/authkit/backends/memory"
	"github.com/authkit-go/authkit/conformance"
	"github.com/authkit-go/authkit/internal/revmirror/feedtest"
)

// feedHarness makes feedtest stores, each wrapped by wrap: the reference
// feed when wrap is nil, a mutant otherwise. Peer and Reopen give new
// handles on the same data (Reopen closes the old one, as a restart
// would); Unavailable gives a store whose every call fails.
func feedHarness(wrap func(*feedtest.Store) authkit.RevocationStore) conformance.PartialHarness[authkit.RevocationStore] {
	if wrap == nil {
		wrap = func(s *feedtest.Store) authkit.RevocationStore { return s }
	}
	type handles interface {
		Peer() *feedtest.Store
		Reopen() *feedtest.Store
	}
	return conformance.PartialHarness[authkit.RevocationStore]{
		InProcess: true,
		New:       func(t *testing.T) authkit.RevocationStore { return wrap(feedtest.New()) },
		Peer:      func(t *testing.T, s authkit.RevocationStore) authkit.RevocationStore { return wrap(s.(handles).Peer()) },
		Reopen: func(t *testing.T, s authkit.RevocationStore) authkit.RevocationStore {
			return wrap(s.(handles).Reopen())
		},
		Unavailable: func(t *testing.T) authkit.RevocationStore {
			s := feedtest.New()
			s.SetUnavailable(true)
			return wrap(s)
		},
		TrimFeed: func(t *testing.T, s authkit.RevocationStore) {
			tr, ok := s.(interface{ TrimLog() })
			if !ok {
				t.Fatalf("%T cannot trim its log", s)
			}
			tr.TrimLog()
		},
	}
}

// The suite passes the reference feed, as a RevocationStore and as a
// RevocationFeed (RunRevocationStore runs the feed's checks too).
func TestReferenceFeed(t *testing.T) {
	t.Parallel()
	conformance.RunRevocationStore(t, feedHarness(nil))
}

// combined is a whole Store whose revocations live in a feed store: what
// Run sees for a backend that implements the feed.
type combined struct {
	authkit.RefreshStore
	authkit.APITokenStore
	authkit.RevocationStore
	authkit.RevocationFeed
}

func combine(rev authkit.RevocationStore) authkit.Store {
	m := memory.New()
	return combined{m, m, rev, rev.(authkit.RevocationFeed)}
}

// counting counts the snapshots taken of its store.
type counting struct {
	*feedtest.Store
	n *atomic.Int32
}

func (c counting) RevocationSnapshot(ctx context.Context, now time.Time, fn func(authkit.Revocation) error) (authkit.FeedPosition, error) {
	c.n.Add(1)
	return c.Store.RevocationSnapshot(ctx, now, fn)
}

// Run runs the feed checks for a Store that implements the feed (and
// TestFeedMutants/ViaRun shows that they fail a broken one).
func TestRunIncludesTheFeed(t *testing.T) {
	t.Parallel()
	var snapshots atomic.Int32
	conformance.Run(t, conformance.Harness{
		InProcess: true,
		New:       func(t *testing.T) authkit.Store { return combine(counting{feedtest.New(), &snapshots}) },
	})
	if snapshots.Load() == 0 {
		t.Error("Run took no snapshot of a store that implements authkit.RevocationFeed: it must run the feed checks")
	}
}
