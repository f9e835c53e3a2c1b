package conformance_test

import (
	"context"
	"errors"
	"os"
	"slices"
	"testing"
	"time"

	"github.com/authkit-go/authkit"
	"github.com/authkit-go/authkit/conformance"
	"github.com/authkit-go/authkit/internal/revmirror/feedtest"
)

// lossHarness is feedHarness with LoseData: the reference feed loses its
// entries and epoch marker, and its log too unless keepLog.
func lossHarness(wrap func(*feedtest.Store) authkit.RevocationStore, keepLog bool) conformance.PartialHarness[authkit.RevocationStore] {
	h := feedHarness(wrap)
	h.LoseData = func(t *testing.T, s authkit.RevocationStore) {
		type loser interface{ LoseData(keepLog bool) }
		l, ok := s.(loser)
		if !ok {
			t.Fatalf("%T cannot lose data", s)
		}
		l.LoseData(keepLog)
	}
	return h
}

// The suite passes the reference store's data-loss detection, whether its
// log goes with the data (a flushed Redis) or survives (a truncated
// revocations table), alone and through Run.
func TestReferenceDataLoss(t *testing.T) {
	t.Parallel()
	t.Run("LogLost", func(t *testing.T) { conformance.RunDataLoss(t, lossHarness(nil, false)) })
	t.Run("LogKept", func(t *testing.T) { conformance.RunDataLoss(t, lossHarness(nil, true)) })
	t.Run("ViaRun", func(t *testing.T) {
		conformance.Run(t, conformance.Harness{
			InProcess: true,
			New:       func(t *testing.T) authkit.Store { return combine(feedtest.New()) },
			Peer: func(t *testing.T, s authkit.Store) authkit.Store {
				c := s.(combined)
				p := c.RevocationStore.(*feedtest.Store).Peer()
				return combined{c.RefreshStore, c.APITokenStore, p, p}
			},
			LoseData: func(t *testing.T, s authkit.Store) { s.(combined).RevocationStore.(*feedtest.Store).LoseData(false) },
		})
	})
}

// Mutants of the data-loss rules: each wraps the reference store and
// breaks one; the suite must fail it, in the named subtest, quoting the
// rule.
const lossMutantEnv = "AUTHKIT_CONFORMANCE_LOSS_MUTANT"

// lossMutant is a mutant of the data-loss rules.
type lossMutant struct {
	name    string
	run     string
	keepLog bool
	wrap    func(*feedtest.Store) authkit.RevocationStore
	want    []string
}

var lossMutants = []lossMutant{
	{
		name: "IgnoresTheEpoch",
		run:  "DataLoss/RevokedBeforeStaysDead",
		wrap: func(s *feedtest.Store) authkit.RevocationStore { return ignoresEpoch{s} },
		want: []string{"RevokedBeforeStaysDead", "after the store lost its data", "must never answer \"not revoked\""},
	},
	{
		name: "RefusesWithoutSaying",
		run:  "DataLoss/RevokedBeforeStaysDead",
		wrap: func(s *feedtest.Store) authkit.RevocationStore { return refusesSilently{s} },
		want: []string{"RevokedBeforeStaysDead", "= (true, nil) after the store lost its data"},
	},
	{
		name: "SnapshotWithoutEpoch",
		run:  "DataLoss/SnapshotNoticesFirst",
		wrap: func(s *feedtest.Store) authkit.RevocationStore { return snapshotWithoutEpoch{s} },
		want: []string{"SnapshotNoticesFirst", "holds 0 RevokedBeforeEpoch entries"},
	},
	{
		name: "EpochToTheMillisecond",
		run:  "DataLoss/RevokedBeforeStaysDead",
		wrap: func(s *feedtest.Store) authkit.RevocationStore { return epochMillis{s} },
		want: []string{"RevokedBeforeStaysDead", "half a millisecond before the call that noticed the loss"},
	},
	{
		name: "SnapshotWithoutSetUpEpoch",
		run:  "DataLoss/FreshStore",
		wrap: func(s *feedtest.Store) authkit.RevocationStore {
			return snapshotWithoutSetUpEpoch{s, time.Now()}
		},
		want: []string{"DataLoss/FreshStore", "holds 0 RevokedBeforeEpoch entries"},
	},
	{
		name:    "FollowHidesEpoch",
		run:     "DataLoss/Feed",
		keepLog: true,
		wrap:    func(s *feedtest.Store) authkit.RevocationStore { return followHidesEpoch{s} },
		want:    []string{"DataLoss/Feed", "neither got ErrFeedPositionLost nor a RevokedBeforeEpoch change"},
	},
}

func TestDataLossMutants(t *testing.T) {
	t.Parallel()
	child := os.Getenv(lossMutantEnv)
	for _, m := range lossMutants {
		t.Run(m.name, func(t *testing.T) {
			if child == m.name {
				conformance.RunDataLoss(t, lossHarness(m.wrap, m.keepLog))
				return
			}
			expectSuiteFails(t, lossMutantEnv, "TestDataLossMutants", m.name, m.run, "store", m.want)
		})
	}
}

// ignoresEpoch answers as if the store had no epoch: a lost revocation
// reads "not revoked".
type ignoresEpoch struct{ *feedtest.Store }

func (s ignoresEpoch) IsRevoked(ctx context.Context, q authkit.RevocationQuery, now time.Time) (bool, error) {
	dead, err := s.Store.IsRevoked(ctx, q, now)
	if errors.Is(err, authkit.ErrDataLoss) {
		return false, nil
	}
	return dead, err
}

// refusesSilently refuses a token issued before the loss but does not say
// why.
type refusesSilently struct{ *feedtest.Store }

func (s refusesSilently) IsRevoked(ctx context.Context, q authkit.RevocationQuery, now time.Time) (bool, error) {
	dead, err := s.Store.IsRevoked(ctx, q, now)
	if errors.Is(err, authkit.ErrDataLoss) {
		return true, nil
	}
	return dead, err
}

// snapshotWithoutEpoch leaves the epoch out of its snapshots.
type snapshotWithoutEpoch struct{ *feedtest.Store }

func (s snapshotWithoutEpoch) RevocationSnapshot(ctx context.Context, now time.Time, fn func(authkit.Revocation) error) (authkit.FeedPosition, error) {
	return s.Store.RevocationSnapshot(ctx, now, func(r authkit.Revocation) error {
		if r.Kind == authkit.RevokedBeforeEpoch {
			return nil
		}
		return fn(r)
	})
}

// snapshotWithoutSetUpEpoch leaves out of its snapshots the epoch the
// store was set up with (as one reading only what a loss wrote would), and
// sends the epochs begun after a loss.
type snapshotWithoutSetUpEpoch struct {
	*feedtest.Store
	made time.Time
}

func (s snapshotWithoutSetUpEpoch) RevocationSnapshot(ctx context.Context, now time.Time, fn func(authkit.Revocation) error) (authkit.FeedPosition, error) {
	return s.Store.RevocationSnapshot(ctx, now, func(r authkit.Revocation) error {
		if r.Kind == authkit.RevokedBeforeEpoch && !r.Cutoff.After(s.made) {
			return nil
		}
		return fn(r)
	})
}

// followHidesEpoch never hands a follower a new epoch.
type followHidesEpoch struct{ *feedtest.Store }

func (s followHidesEpoch) FollowRevocations(ctx context.Context, after authkit.FeedPosition, heartbeat time.Duration, fn func([]authkit.Revocation, authkit.FeedPosition) error) error {
	return s.Store.FollowRevocations(ctx, after, heartbeat, func(rs []authkit.Revocation, pos authkit.FeedPosition) error {
		return fn(slices.DeleteFunc(slices.Clone(rs), func(r authkit.Revocation) bool { return r.Kind == authkit.RevokedBeforeEpoch }), pos)
	})
}

// epochMillis keeps its epoch to the millisecond, cut down (a marker
// written with a millisecond clock): a token issued in the last
// millisecond before the loss was noticed passes as issued after it.
type epochMillis struct{ *feedtest.Store }

func (s epochMillis) IsRevoked(ctx context.Context, q authkit.RevocationQuery, now time.Time) (bool, error) {
	dead, err := s.Store.IsRevoked(ctx, q, now)
	var dl *authkit.DataLossError
	if !errors.As(err, &dl) {
		return dead, err
	}
	since := dl.Since.Truncate(time.Millisecond)
	if q.IssuedAt.After(since) {
		return false, nil
	}
	return true, &authkit.DataLossError{Since: since}
}
