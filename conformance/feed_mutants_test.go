package conformance_test

import (
	"context"
	"errors"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/authkit-go/authkit"
	"github.com/authkit-go/authkit/conformance"
	"github.com/authkit-go/authkit/internal/revmirror/feedtest"
)

// The feed checks are only worth running if they fail broken feeds. Each
// mutant below wraps the reference feed (internal/revmirror/feedtest) and
// breaks one rule of authkit.RevocationFeed; TestFeedMutants runs the
// suite on it in a child process, as TestMutants does for the store
// rules, and checks that the child fails in the expected subtest with a
// message quoting the rule.

const feedMutantEnv = "AUTHKIT_CONFORMANCE_FEED_MUTANT"

type feedMutant struct {
	name   string
	run    string // subtest path below TestFeedMutants/<name>/
	viaRun bool   // run through conformance.Run on a whole Store
	// viaPartial: run through conformance.RunRevocationStore, which runs
	// the feed's checks for a store that has one (found by review: it
	// ran none, and a feed that lost changes on resuming passed).
	viaPartial bool
	wrap       func(*feedtest.Store) authkit.RevocationStore
	want       []string // substrings of the child's output
}

var feedMutants = []feedMutant{
	{
		name: "FollowsPastTrim",
		run:  "RevocationFeed/Follow/Trimmed",
		wrap: func(s *feedtest.Store) authkit.RevocationStore { return followsPastTrim{s} },
		want: []string{"Follow/Trimmed", "before changes the log has since dropped", "ErrFeedPositionLost"},
	},
	{
		name: "DropsSessionChanges",
		run:  "RevocationFeed/Follow/EveryChange",
		wrap: func(s *feedtest.Store) authkit.RevocationStore { return dropsSessions{s} },
		want: []string{"Follow/EveryChange", "were not delivered: RevokeSessionTokens", "must deliver every change after its position"},
	},
	{
		name:   "ViaRun",
		run:    "RevocationFeed/Follow/EveryChange",
		viaRun: true,
		wrap:   func(s *feedtest.Store) authkit.RevocationStore { return dropsSessions{s} },
		want:   []string{"Follow/EveryChange", "must deliver every change after its position"},
	},
	{
		name: "DeliversTwice",
		run:  "RevocationFeed/Follow/EveryChange",
		wrap: func(s *feedtest.Store) authkit.RevocationStore { return deliversTwice{s} },
		want: []string{"Follow/EveryChange", "delivered more than once", "exactly once"},
	},
	{
		name: "SnapshotMissesCutoffs",
		run:  "RevocationFeed/Snapshot/InForce",
		wrap: func(s *feedtest.Store) authkit.RevocationStore { return snapshotMissesCutoffs{s} },
		want: []string{"Snapshot/InForce", "lacks SetCutoff", "must call fn once for every entry in force"},
	},
	{
		name: "IgnoresPosition",
		run:  "RevocationFeed/Follow/CatchUp",
		wrap: func(s *feedtest.Store) authkit.RevocationStore { return ignoresPosition{s} },
		want: []string{"Follow/CatchUp", "were not delivered"},
	},
	{
		name:       "IgnoresPositionThroughRunRevocationStore",
		run:        "RevocationFeed/Follow/CatchUp",
		viaPartial: true,
		wrap:       func(s *feedtest.Store) authkit.RevocationStore { return ignoresPosition{s} },
		want:       []string{"Follow/CatchUp", "were not delivered"},
	},
	{
		name: "NoHeartbeat",
		run:  "RevocationFeed/Follow/Heartbeat",
		wrap: func(s *feedtest.Store) authkit.RevocationStore { return noHeartbeat{s} },
		want: []string{"Follow/Heartbeat", "must call fn at least every heartbeat"},
	},
	{
		name: "HeartbeatWhileBehind",
		run:  "RevocationFeed/Follow/Vouches",
		wrap: func(s *feedtest.Store) authkit.RevocationStore { return heartbeatWhileBehind{s} },
		want: []string{"Follow/Vouches", "had still not delivered it", "must vouch for the log"},
	},
	{
		name: "SplitsBacklog",
		run:  "RevocationFeed/Follow/VouchesBacklog",
		wrap: func(s *feedtest.Store) authkit.RevocationStore { return splitsBacklog{s} },
		want: []string{"Follow/VouchesBacklog", "must reach fn whole", "must vouch for the log"},
	},
	{
		name: "AcceptsForeignPosition",
		run:  "RevocationFeed/Follow/ForeignPosition",
		wrap: func(s *feedtest.Store) authkit.RevocationStore { return acceptsForeign{s} },
		want: []string{"Follow/ForeignPosition", "another store's position", "must return an error matching ErrFeedPositionLost"},
	},
	{
		name: "PositionAfterContent",
		run:  "RevocationFeed/Snapshot/WhileWriting",
		wrap: func(s *feedtest.Store) authkit.RevocationStore { return positionAfterContent{s} },
		want: []string{"Snapshot/WhileWriting", "are in neither the snapshot nor the changes after its position", "leave no gap"},
	},
	{
		name: "LogLostOnRestart",
		run:  "RevocationFeed/Reopen",
		wrap: func(s *feedtest.Store) authkit.RevocationStore { return logLostOnRestart{s} },
		want: []string{"RevocationFeed/Reopen", "must keep its log too"},
	},
	{
		name: "ListensLate",
		run:  "RevocationFeed/Listeners",
		wrap: func(s *feedtest.Store) authkit.RevocationStore { return listensLate{s} },
		want: []string{"RevocationFeed/Listeners", "had not heard of it", "before the writing call returns"},
	},
	{
		name: "ListensAfterStop",
		run:  "RevocationFeed/Listeners",
		wrap: func(s *feedtest.Store) authkit.RevocationStore { return listensAfterStop{s} },
		want: []string{"RevocationFeed/Listeners", "made after its stop returned", "must not be called again"},
	},
	{
		name: "UnavailableAsLost",
		run:  "RevocationFeed/Unavailable",
		wrap: func(s *feedtest.Store) authkit.RevocationStore { return unavailableAsLost{s} },
		want: []string{"RevocationFeed/Unavailable", "never ErrFeedPositionLost"},
	},
}

func TestFeedMutants(t *testing.T) {
	t.Parallel()
	child := os.Getenv(feedMutantEnv)
	for _, m := range feedMutants {
		t.Run(m.name, func(t *testing.T) {
			if child == m.name {
				if m.viaRun {
					conformance.Run(t, conformance.Harness{
						InProcess: true,
						New:       func(t *testing.T) authkit.Store { return combine(m.wrap(feedtest.New())) },
					})
				} else if m.viaPartial {
					conformance.RunRevocationStore(t, feedHarness(m.wrap))
				} else {
					conformance.RunRevocationFeed(t, feedHarness(m.wrap))
				}
				return
			}
			expectSuiteFails(t, feedMutantEnv, "TestFeedMutants", m.name, m.run, "feed", m.want)
		})
	}
}

type followFunc = func([]authkit.Revocation, authkit.FeedPosition) error

// dropsSessions never delivers a session revocation: a follower misses
// every reuse detection.
type dropsSessions struct{ *feedtest.Store }

func (s dropsSessions) FollowRevocations(ctx context.Context, after authkit.FeedPosition, hb time.Duration, fn followFunc) error {
	return s.Store.FollowRevocations(ctx, after, hb, func(rs []authkit.Revocation, p authkit.FeedPosition) error {
		var kept []authkit.Revocation
		for _, r := range rs {
			if r.Kind != authkit.RevokedSession {
				kept = append(kept, r)
			}
		}
		return fn(kept, p)
	})
}

// deliversTwice hands every batch over twice, as an at-least-once queue
// that redelivers would.
type deliversTwice struct{ *feedtest.Store }

func (s deliversTwice) FollowRevocations(ctx context.Context, after authkit.FeedPosition, hb time.Duration, fn followFunc) error {
	return s.Store.FollowRevocations(ctx, after, hb, func(rs []authkit.Revocation, p authkit.FeedPosition) error {
		if err := fn(rs, p); err != nil || len(rs) == 0 {
			return err
		}
		return fn(rs, p)
	})
}

// snapshotMissesCutoffs leaves the subject cutoffs out of its snapshot.
type snapshotMissesCutoffs struct{ *feedtest.Store }

func (s snapshotMissesCutoffs) RevocationSnapshot(ctx context.Context, now time.Time, fn func(authkit.Revocation) error) (authkit.FeedPosition, error) {
	return s.Store.RevocationSnapshot(ctx, now, func(r authkit.Revocation) error {
		if r.Kind == authkit.RevokedBefore {
			return nil
		}
		return fn(r)
	})
}

// ignoresPosition follows from the end of the log, whatever position it
// is given, as a bare publish/subscribe channel would.
type ignoresPosition struct{ *feedtest.Store }

func (s ignoresPosition) FollowRevocations(ctx context.Context, _ authkit.FeedPosition, hb time.Duration, fn followFunc) error {
	end, err := s.Store.RevocationSnapshot(ctx, time.Time{}, func(authkit.Revocation) error { return nil })
	if err != nil {
		return err
	}
	return s.Store.FollowRevocations(ctx, end, hb, fn)
}

// noHeartbeat calls back only when something changed.
type noHeartbeat struct{ *feedtest.Store }

func (s noHeartbeat) FollowRevocations(ctx context.Context, after authkit.FeedPosition, hb time.Duration, fn followFunc) error {
	return s.Store.FollowRevocations(ctx, after, hb, func(rs []authkit.Revocation, p authkit.FeedPosition) error {
		if len(rs) == 0 {
			return nil
		}
		return fn(rs, p)
	})
}

// splitsBacklog hands a batch of more than 512 changes over in two calls,
// as a store that reads its log 512 changes at a time and passes on each
// read would: the first call vouches for a log it has not read to its end.
// (The position of the first call is the one before the batch: the
// reference feed's positions cannot be made up in between.)
type splitsBacklog struct{ *feedtest.Store }

func (s splitsBacklog) FollowRevocations(ctx context.Context, after authkit.FeedPosition, hb time.Duration, fn followFunc) error {
	last := after
	return s.Store.FollowRevocations(ctx, after, hb, func(rs []authkit.Revocation, p authkit.FeedPosition) error {
		if len(rs) > 512 {
			if err := fn(rs[:512], last); err != nil {
				return err
			}
			rs = rs[512:]
		}
		last = p
		return fn(rs, p)
	})
}

// heartbeatWhileBehind holds changes back for a second but keeps sending
// heartbeats at the old position, as a lagging replica that answers
// promptly would: a mirror behind it would think itself current.
type heartbeatWhileBehind struct{ *feedtest.Store }

func (s heartbeatWhileBehind) FollowRevocations(ctx context.Context, after authkit.FeedPosition, hb time.Duration, fn followFunc) error {
	type held struct {
		rs  []authkit.Revocation
		pos authkit.FeedPosition
		due time.Time
	}
	var queue []held
	last := after
	return s.Store.FollowRevocations(ctx, after, hb, func(rs []authkit.Revocation, p authkit.FeedPosition) error {
		if len(rs) > 0 {
			queue = append(queue, held{rs, p, time.Now().Add(time.Second)})
		}
		for len(queue) > 0 && time.Now().After(queue[0].due) {
			h := queue[0]
			queue = queue[1:]
			last = h.pos
			if err := fn(h.rs, h.pos); err != nil {
				return err
			}
		}
		if len(rs) == 0 {
			return fn(nil, last)
		}
		return nil
	})
}

// acceptsForeign follows from the end of its log when it does not know
// the position, instead of saying it is lost.
type acceptsForeign struct{ *feedtest.Store }

func (s acceptsForeign) FollowRevocations(ctx context.Context, after authkit.FeedPosition, hb time.Duration, fn followFunc) error {
	err := s.Store.FollowRevocations(ctx, after, hb, fn)
	if !errors.Is(err, authkit.ErrFeedPositionLost) {
		return err
	}
	end, err := s.Store.RevocationSnapshot(ctx, time.Time{}, func(authkit.Revocation) error { return nil })
	if err != nil {
		return err
	}
	return s.Store.FollowRevocations(ctx, end, hb, fn)
}

// positionAfterContent reads its entries, then takes the position a
// moment later: what was written in between is in neither.
type positionAfterContent struct{ *feedtest.Store }

func (s positionAfterContent) RevocationSnapshot(ctx context.Context, now time.Time, fn func(authkit.Revocation) error) (authkit.FeedPosition, error) {
	var entries []authkit.Revocation
	if _, err := s.Store.RevocationSnapshot(ctx, now, func(r authkit.Revocation) error {
		entries = append(entries, r)
		return nil
	}); err != nil {
		return "", err
	}
	time.Sleep(20 * time.Millisecond)
	pos, err := s.Store.RevocationSnapshot(ctx, now, func(authkit.Revocation) error { return nil })
	if err != nil {
		return "", err
	}
	for _, r := range entries {
		if err := fn(r); err != nil {
			return "", err
		}
	}
	return pos, nil
}

// logLostOnRestart keeps its entries across a restart but not its log.
type logLostOnRestart struct{ *feedtest.Store }

func (s logLostOnRestart) Reopen() *feedtest.Store {
	r := s.Store.Reopen()
	r.RestartLog()
	return r
}

// unavailableAsLost reports a backend failure as a lost position, which
// would send every mirror to take a snapshot from a store that is down.
type unavailableAsLost struct{ *feedtest.Store }

func (s unavailableAsLost) FollowRevocations(ctx context.Context, after authkit.FeedPosition, hb time.Duration, fn followFunc) error {
	err := s.Store.FollowRevocations(ctx, after, hb, fn)
	if errors.Is(err, authkit.ErrStoreUnavailable) {
		return authkit.ErrFeedPositionLost
	}
	return err
}

// listensLate tells its listeners of a write a moment after the write has
// returned, as one that went through a channel would: a verifier beside
// the writer would still accept the token.
type listensLate struct{ *feedtest.Store }

func (s listensLate) ListenRevocations(fn func(authkit.Revocation)) func() {
	return s.Store.ListenRevocations(func(r authkit.Revocation) {
		go func() { time.Sleep(20 * time.Millisecond); fn(r) }()
	})
}

// listensAfterStop ignores stop.
type listensAfterStop struct{ *feedtest.Store }

func (s listensAfterStop) ListenRevocations(fn func(authkit.Revocation)) func() {
	s.Store.ListenRevocations(fn)
	return func() {}
}

// followsPastTrim follows from the start of what its log still holds when
// a position is older than that, without a word: a log trimmed to its
// last N changes whose reader clamps the position.
type followsPastTrim struct{ *feedtest.Store }

func (s followsPastTrim) FollowRevocations(ctx context.Context, after authkit.FeedPosition, heartbeat time.Duration, fn func([]authkit.Revocation, authkit.FeedPosition) error) error {
	err := s.Store.FollowRevocations(ctx, after, heartbeat, fn)
	if !errors.Is(err, authkit.ErrFeedPositionLost) {
		return err
	}
	// Only a position of this log before its end (feedtest's are
	// "epoch.seq"): another store's, or a malformed one, is still refused.
	pos, serr := s.Store.RevocationSnapshot(ctx, time.Now(), func(authkit.Revocation) error { return nil })
	if serr != nil {
		return err
	}
	epoch, seq, ok1 := strings.Cut(string(after), ".")
	nowEpoch, nowSeq, ok2 := strings.Cut(string(pos), ".")
	a, err1 := strconv.ParseUint(seq, 10, 64)
	b, err2 := strconv.ParseUint(nowSeq, 10, 64)
	if !ok1 || !ok2 || err1 != nil || err2 != nil || epoch != nowEpoch || a >= b {
		return err
	}
	return s.Store.FollowRevocations(ctx, pos, heartbeat, fn)
}
