package revmirror_test

import (
	"errors"
	"testing"
	"time"

	"github.com/authkit-go/authkit"
	"github.com/authkit-go/authkit/internal/revmirror/feedtest"
)

// A store that lost its data hands the copy its new epoch — through a new
// snapshot when the log went with the data, as a change when the log
// survived — and the copy then refuses every token issued before it with
// a *DataLossError, from memory, even with the store down.
func TestDataLossReachesTheCopy(t *testing.T) {
	for _, keepLog := range []bool{false, true} {
		name := "LogLost"
		if keepLog {
			name = "LogKept"
		}
		t.Run(name, func(t *testing.T) {
			clk := newClock()
			t0 := clk.Now()
			store := feedtest.New()
			ctx := t.Context()
			must(t, store.RevokeToken(ctx, "alice", "jti-1", t0.Add(time.Hour)))
			m := start(t, store, options(clk))
			waitFresh(t, m)
			before := t0.Add(-time.Minute)
			wantDead(t, m, q("jti-9", "", "dave", before), t0, false, "never revoked, no loss yet")

			other := store.Peer() // another node notices the loss first
			other.LoseData(keepLog)
			if _, err := other.IsRevoked(ctx, q("jti-1", "", "alice", before), t0); !errors.Is(err, authkit.ErrDataLoss) {
				t.Fatalf("the store after the loss: %v, want ErrDataLoss", err)
			}
			waitFor(t, "the copy to learn the new epoch", func() bool {
				_, err := m.IsRevoked(ctx, q("jti-9", "", "dave", before), t0)
				return errors.Is(err, authkit.ErrDataLoss)
			})

			store.SetUnavailable(true)
			for _, c := range []authkit.RevocationQuery{q("jti-1", "", "alice", before), q("jti-9", "sid-9", "dave", before), q("jti-8", "", "erin", t0)} {
				dead, err := m.IsRevoked(ctx, c, t0)
				var lost *authkit.DataLossError
				if !dead || !errors.As(err, &lost) || !lost.Since.Equal(t0) || !errors.Is(err, authkit.ErrTokenRevoked) {
					t.Errorf("IsRevoked(%+v) from the copy = (%v, %v), want (true, a DataLossError since %v)", c, dead, err, t0)
				}
			}
			wantDead(t, m, q("jti-7", "", "dave", t0.Add(time.Millisecond)), t0, false, "issued after the new epoch")
			if s := m.Stats(); s.Fallbacks != 0 || !s.Fresh {
				t.Errorf("Stats = %+v; the copy must answer without the store", s)
			}
		})
	}
}

// A stale copy that has not heard of the loss asks the store, and passes
// its verdict on: dead, with the store's DataLossError.
func TestStaleCopyPassesTheStoresLossOn(t *testing.T) {
	clk := newClock()
	t0 := clk.Now()
	store := feedtest.New()
	m := start(t, store, options(clk))
	waitFresh(t, m)
	store.Pause(true)
	store.Peer().LoseData(true)
	covered := m.Stats().Covered
	clk.Set(covered.Add(testMaxLag + time.Nanosecond))
	now := clk.Now()
	dead, err := m.IsRevoked(t.Context(), q("jti-1", "", "alice", t0), now)
	var lost *authkit.DataLossError
	if !dead || !errors.As(err, &lost) || !lost.Since.Equal(now) {
		t.Fatalf("IsRevoked through a stale copy after the loss = (%v, %v), want (true, a DataLossError since %v)", dead, err, now)
	}
	if m.Stats().Fallbacks != 1 {
		t.Errorf("Stats = %+v, want one fallback", m.Stats())
	}
}

// When the copy's own snapshot is the first call to find the epoch marker
// gone, the new epoch starts at the current time, not before it: tokens
// issued just before the loss stay refused through every handle (found by
// review: the snapshot was asked at the copy's cut, a minute early, and
// the epoch it wrote dated the loss a minute before it happened, so a
// token revoked in that minute passed every verifier).
func TestSnapshotThatNoticesTheLossDatesItNow(t *testing.T) {
	_, t0, store, m := freshMirror(t)
	ctx := t.Context()
	store.LoseData(false) // the log goes too: the follower takes a new snapshot
	issued := t0.Add(-30 * time.Second)
	waitFor(t, "the copy to learn the new epoch", func() bool {
		_, err := m.IsRevoked(ctx, q("jti-1", "", "alice", issued), t0)
		return errors.Is(err, authkit.ErrDataLoss)
	})
	_, err := store.Peer().IsRevoked(ctx, q("jti-1", "", "alice", issued), t0)
	var lost *authkit.DataLossError
	if !errors.As(err, &lost) || !lost.Since.Equal(t0) {
		t.Errorf("the store, for a token issued 30 s before the loss: %v, want a DataLossError since %v", err, t0)
	}
}

// A check whose now is a minute or more old goes to the store, and when
// it is the first call to find the epoch marker gone, the store dates the
// loss at the present, not at that old now (found by review: a request
// that read its clock two minutes earlier dated a truncation two minutes
// early, and a token revoked in between passed every verifier).
func TestOldCheckDatesTheLossNow(t *testing.T) {
	clk, t0, store, m := freshMirror(t)
	ctx := t.Context()
	clk.Advance(5 * time.Minute)
	now := clk.Now()
	must(t, store.Peer().RevokeToken(ctx, "alice", "jti-x", now.Add(time.Hour)))
	waitFor(t, "the feed call at the new time", func() bool {
		s := m.Stats()
		return s.Entries == 1 && s.Covered.After(t0.Add(4*time.Minute))
	})
	store.LoseData(true) // the log survives: the follower goes on, no snapshot
	_, err := m.IsRevoked(ctx, q("jti-y", "", "bob", now.Add(-3*time.Minute)), now.Add(-2*time.Minute))
	if !errors.Is(err, authkit.ErrDataLoss) {
		t.Errorf("an old check after the loss: %v, want ErrDataLoss", err)
	}
	_, err = store.Peer().IsRevoked(ctx, q("jti-x", "", "alice", now.Add(-30*time.Second)), now)
	var lost *authkit.DataLossError
	if !errors.As(err, &lost) || !lost.Since.Equal(now) {
		t.Errorf("the store, for a token issued 30 s before the loss: %v, want a DataLossError since %v", err, now)
	}
}
