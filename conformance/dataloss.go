package conformance

import (
	"errors"
	"testing"
	"time"

	"github.com/authkit-go/authkit"
)

// The data-loss rules (see authkit.ErrDataLoss), quoted in failure
// messages.
const (
	ruleLossRefused = "after a store lost its data, IsRevoked must report every token issued before the loss dead, with an error matching ErrDataLoss (a *DataLossError): the store's epoch marker is gone, so it starts a new epoch at now and refuses tokens issued at or before it — a token revoked before the loss must never answer \"not revoked\""
	ruleLossAgree   = "a new epoch must be written so that every handle on the store's data agrees on it: each reports the same DataLossError.Since"
	ruleLossSince   = "a store that finds its epoch marker gone starts the new epoch at the now of the call that noticed, never later"
	ruleLossAfter   = "after a new epoch starts, tokens issued after it are judged by the revocations written since, as on any store: not dead unless revoked, and no DataLossError"
	ruleLossFresh   = "a store set up fresh refuses nothing issued after it was set up: IsRevoked returns (false, nil) for a token issued after New returned"
	ruleLossFeed    = "a RevocationFeed of a store that keeps an epoch includes it in every snapshot as one RevokedBeforeEpoch entry (Cutoff the epoch's start, as IsRevoked reports it), and a follower from before a loss either gets ErrFeedPositionLost or is handed the new epoch as a RevokedBeforeEpoch change"
)

// RunDataLoss runs the data-loss checks (the "DataLoss/…" subtests of
// [Run]) against a backend that can lose data while the processes using
// it keep running: h.LoseData erases a store's data the way such a loss
// does (a FLUSHDB on Redis, a truncated revocations table on SQL), with
// every handle left open. The checks are those of authkit.ErrDataLoss: a
// token revoked before the loss is never answered "not revoked", every
// handle agrees on the new epoch, tokens issued after it work, and a
// RevocationFeed tells its followers. h.LoseData is required.
func RunDataLoss(t *testing.T, h PartialHarness[authkit.RevocationStore]) {
	t.Helper()
	if h.New == nil || h.LoseData == nil {
		t.Fatal("conformance: RunDataLoss needs PartialHarness.New and PartialHarness.LoseData")
	}
	t.Run("DataLoss", func(t *testing.T) { runDataLoss(t, h) })
}

func runDataLoss(t *testing.T, h PartialHarness[authkit.RevocationStore]) {
	if h.LoseData == nil {
		t.Log("Harness.LoseData is nil: detection of data loss is not checked (a store whose data lives and dies with its process has nothing to detect)")
		return
	}

	t.Run("FreshStore", func(t *testing.T) {
		a, b := open(t, h)
		time.Sleep(2 * time.Millisecond) // a token issued strictly after New
		now := time.Now()
		for _, s := range []authkit.RevocationStore{a, b} {
			wantDead(t, s, query("jti-1", "sid-1", "alice", now), now, false, "a fresh store, a token issued after it was set up", ruleLossFresh)
			wantDead(t, s, query("jti-1", "sid-1", "alice", base), base, false, "a fresh store, a token issued after it was set up", ruleLossFresh)
		}
		// A store that dates its set-up as an epoch hands that epoch to a
		// mirror too: the snapshot must refuse what IsRevoked refuses
		// (found by review: a snapshot that left out the set-up epoch,
		// sending only epochs begun after a loss, passed, and a mirror on
		// it accepted tokens issued before the store was set up).
		fb, ok := b.(authkit.RevocationFeed)
		if !ok {
			return
		}
		iat := now.Add(-24 * hour)
		_, err := b.IsRevoked(t.Context(), query("jti-old", "", "alice", iat), now)
		epochs := epochEntries(func() []authkit.Revocation { e, _ := feedSnapshot(t, fb, now); return e }())
		var dl *authkit.DataLossError
		switch {
		case errors.As(err, &dl):
			if len(epochs) != 1 || !sameInstant(epochs[0].Cutoff, dl.Since) {
				var cut []string
				for _, e := range epochs {
					cut = append(cut, fmtTime(e.Cutoff))
				}
				t.Errorf("a fresh store refuses a token issued before it was set up (DataLossError.Since %s), and its snapshot holds %d RevokedBeforeEpoch entries (cutoffs %q), want one at %s; %s", fmtTime(dl.Since), len(epochs), cut, fmtTime(dl.Since), ruleLossFeed)
			}
		case err != nil:
			mustOK(t, "IsRevoked of a token issued a day before a fresh store was set up", err, ruleIsRevoked)
		default:
			for _, e := range epochs {
				if !e.Cutoff.Before(iat) {
					t.Errorf("a fresh store accepts a token issued at %s, and its snapshot's RevokedBeforeEpoch entry (cutoff %s) refuses it; %s", fmtTime(iat), fmtTime(e.Cutoff), ruleLossFeed)
				}
			}
		}
	})

	t.Run("RevokedBeforeStaysDead", func(t *testing.T) {
		a, b := open(t, h)
		iat := at(-2 * minute)
		mustOK(t, "RevokeToken", a.RevokeToken(t.Context(), "alice", "jti-1", at(hour)), ruleRevokeJTI)
		mustOK(t, "RevokeSessionTokens", a.RevokeSessionTokens(t.Context(), "carol", "sid-1", at(hour)), ruleRevokeSID)
		mustOK(t, "SetCutoff", a.SetCutoff(t.Context(), "bob", base, at(hour)), ruleCutoff)
		wantDead(t, b, query("jti-1", "", "alice", iat), base, true, "revoked", ruleRevokeJTI)
		wantDead(t, b, query("jti-9", "sid-9", "dave", iat), base, false, "never revoked", ruleIsRevoked)

		h.LoseData(t, a)

		// The first check after the loss, through the other handle, at a
		// now between two milliseconds.
		now := at(minute).Add(1500 * time.Microsecond)
		since := wantLoss(t, "handle B, the first check after the loss", b, query("jti-1", "", "alice", iat), now)
		if since.After(now) {
			t.Errorf("DataLossError.Since = %s, after the now (%s) of the call that noticed the loss; %s", fmtTime(since), fmtTime(now), ruleLossSince)
		}
		// A token issued half a millisecond before that call, before the
		// loss was noticed, is dead too: an epoch dated at the now cut to
		// the millisecond would take it for one issued after (and a
		// revocation of it, lost, would be forgotten).
		wantLoss(t, "handle B, a token issued half a millisecond before the call that noticed the loss", b, query("jti-8", "sid-8", "frank", now.Add(-500*time.Microsecond)), now)
		for _, c := range []struct {
			what string
			s    authkit.RevocationStore
			q    authkit.RevocationQuery
		}{
			{"handle A, the token revoked by jti", a, query("jti-1", "", "alice", iat)},
			{"handle B, a token of the revoked session", b, query("jti-2", "sid-1", "carol", iat)},
			{"handle A, a token under the lost cutoff", a, query("jti-3", "", "bob", iat)},
			{"handle B, a token never revoked, issued before the loss", b, query("jti-9", "sid-9", "dave", iat)},
		} {
			if got := wantLoss(t, c.what, c.s, c.q, at(2*minute)); !got.Equal(since) && !sameInstant(got, since) {
				t.Errorf("%s: DataLossError.Since = %s, but handle B reported %s; %s", c.what, fmtTime(got), fmtTime(since), ruleLossAgree)
			}
		}

		// Tokens issued after the new epoch began: the store works again.
		after := since.Add(ms)
		later := at(3 * minute)
		for _, s := range []authkit.RevocationStore{a, b} {
			wantDead(t, s, query("jti-4", "sid-4", "alice", after), later, false, "issued after the new epoch began, never revoked", ruleLossAfter)
		}
		mustOK(t, "RevokeToken", a.RevokeToken(t.Context(), "alice", "jti-4", at(hour)), ruleRevokeJTI)
		mustOK(t, "SetCutoff", a.SetCutoff(t.Context(), "erin", after.Add(ms), at(hour)), ruleCutoff)
		wantDead(t, b, query("jti-4", "sid-4", "alice", after), later, true, "revoked after the new epoch began", ruleLossAfter)
		wantDead(t, b, query("jti-5", "", "erin", after), later, true, "under a cutoff set after the new epoch began", ruleLossAfter)
		wantDead(t, b, query("jti-5", "", "erin", after.Add(2*ms)), later, false, "issued after erin's cutoff", ruleLossAfter)
	})

	t.Run("SecondLoss", func(t *testing.T) {
		a, b := open(t, h)
		h.LoseData(t, a)
		first := wantLoss(t, "the first loss", b, query("jti-1", "", "alice", at(-minute)), base)
		mustOK(t, "RevokeToken", a.RevokeToken(t.Context(), "alice", "jti-2", at(hour)), ruleRevokeJTI)
		h.LoseData(t, a)
		now := at(10 * minute)
		second := wantLoss(t, "the second loss, a token issued between the two", a, query("jti-2", "", "alice", first.Add(ms)), now)
		if !second.After(first) {
			t.Errorf("after a second loss DataLossError.Since = %s, not after the first epoch's start %s; %s", fmtTime(second), fmtTime(first), ruleLossRefused)
		}
		// Through B too, which noticed the first loss: a handle reads the
		// marker on every check, never trusts the epoch it started.
		wantLoss(t, "the second loss, through the handle that noticed the first", b, query("jti-2", "", "alice", first.Add(ms)), now)
		// At or before: a token issued exactly at the epoch's start is dead.
		wantLoss(t, "a token issued exactly at the epoch's start", b, query("jti-3", "", "carol", second), now)
	})

	// A loss that nobody noticed before a restart (a cache restarted
	// without persistence together with the application) is noticed after
	// it: the restart must not set the store up afresh with an epoch
	// before the loss. Real times: a store may start its epoch at its own
	// start.
	t.Run("LossThenRestart", func(t *testing.T) {
		a := h.New(t)
		mustOK(t, "RevokeToken", a.RevokeToken(t.Context(), "alice", "jti-1", time.Now().Add(hour)), ruleRevokeJTI)
		iat := time.Now().Truncate(ms)
		time.Sleep(3 * time.Millisecond)
		h.LoseData(t, a)
		r, ok := reopen(t, h, a)
		if !ok {
			return
		}
		wantLoss(t, "the first check after a loss and a restart (nothing checked in between)", r, query("jti-1", "", "alice", iat), time.Now())
	})

	t.Run("Feed", func(t *testing.T) {
		a, b := open(t, h)
		fb, ok := b.(authkit.RevocationFeed)
		if !ok {
			t.Logf("%T does not implement authkit.RevocationFeed: nothing to check", b)
			return
		}
		entries, pos := feedSnapshot(t, fb, base)
		if n := epochEntries(entries); len(n) > 1 {
			t.Errorf("a snapshot holds %d RevokedBeforeEpoch entries, want at most one; %s", len(n), ruleLossFeed)
		}
		fl := startFollower(t, fb, pos)
		mustOK(t, "RevokeToken", a.RevokeToken(t.Context(), "alice", "jti-1", at(hour)), ruleRevokeJTI)
		fl.untilWithin(t, feedWait, "the revocation before the loss", ruleFeedEvery, func(_ []feedCall, got []authkit.Revocation) bool {
			return len(got) > 0
		})

		h.LoseData(t, a)
		now := at(minute)
		since := wantLoss(t, "the first check after the loss", b, query("jti-1", "", "alice", at(-minute)), now)

		// The follower from before the loss: told, one way or the other.
		wantToldOfLoss(t, fl, since, "the follower from before the loss")

		// A snapshot after the loss carries the epoch IsRevoked reports.
		for _, s := range []authkit.RevocationStore{a, b} {
			entries, _ := feedSnapshot(t, feedOf(t, s), at(2*minute))
			ep := epochEntries(entries)
			if len(ep) != 1 {
				t.Errorf("a snapshot after the loss holds %d RevokedBeforeEpoch entries, want one with Cutoff %s; %s", len(ep), fmtTime(since), ruleLossFeed)
				continue
			}
			if !sameInstant(ep[0].Cutoff, since) {
				t.Errorf("a snapshot after the loss holds the epoch %s, but IsRevoked reports %s; %s", fmtTime(ep[0].Cutoff), fmtTime(since), ruleLossFeed)
			}
			if ep[0].Subject != "" || ep[0].ID != "" {
				t.Errorf("a RevokedBeforeEpoch entry carries subject %q and ID %q, want both empty; %s", ep[0].Subject, ep[0].ID, ruleLossFeed)
			}
		}
	})

	// A follower that saved its position before the loss and resumes from
	// it after the loss and a later write is told of the loss too, not
	// handed the later write alone (found by mutation testing: a store
	// whose check of a position's epoch at the start of a follow was
	// removed passed, on a position taken before any change).
	t.Run("ResumeSavedPosition", func(t *testing.T) {
		a, b := open(t, h)
		fb, ok := b.(authkit.RevocationFeed)
		if !ok {
			t.Logf("%T does not implement authkit.RevocationFeed: nothing to check", b)
			return
		}
		_, pos := feedSnapshot(t, fb, base)
		mustOK(t, "RevokeToken", a.RevokeToken(t.Context(), "alice", "jti-1", at(hour)), ruleRevokeJTI)
		h.LoseData(t, a)
		since := wantLoss(t, "the first check after the loss", b, query("jti-1", "", "alice", at(-minute)), at(minute))
		mustOK(t, "RevokeToken", a.RevokeToken(t.Context(), "bob", "jti-2", at(hour)), ruleRevokeJTI)
		wantToldOfLoss(t, startFollower(t, fb, pos), since, "a follower resuming from a position saved before the loss")
	})

	t.Run("SnapshotNoticesFirst", func(t *testing.T) {
		a, b := open(t, h)
		fb, ok := b.(authkit.RevocationFeed)
		if !ok {
			t.Logf("%T does not implement authkit.RevocationFeed: nothing to check", b)
			return
		}
		mustOK(t, "RevokeToken", a.RevokeToken(t.Context(), "alice", "jti-1", at(hour)), ruleRevokeJTI)
		h.LoseData(t, a)
		now := at(minute)
		entries, _ := feedSnapshot(t, fb, now)
		ep := epochEntries(entries)
		if len(ep) != 1 {
			t.Fatalf("the first snapshot after the loss holds %d RevokedBeforeEpoch entries, want one (the new epoch, started at its now); %s", len(ep), ruleLossFeed)
		}
		if !ep[0].Cutoff.After(at(-minute)) || ep[0].Cutoff.After(now) {
			t.Errorf("the first snapshot after the loss holds the epoch %s, want one after the tokens issued before the loss (%s) and not after its now (%s); %s", fmtTime(ep[0].Cutoff), fmtTime(at(-minute)), fmtTime(now), ruleLossFeed+"; "+ruleLossSince)
		}
		since := wantLoss(t, "a check after the snapshot noticed the loss", a, query("jti-1", "", "alice", at(-minute)), at(2*minute))
		if !sameInstant(since, ep[0].Cutoff) {
			t.Errorf("IsRevoked reports the epoch %s, but the snapshot that noticed the loss holds %s; %s", fmtTime(since), fmtTime(ep[0].Cutoff), ruleLossAgree)
		}
	})
}

// wantToldOfLoss fails t unless fl, following from a position before a
// loss whose epoch starts at since, ends with ErrFeedPositionLost or
// receives a RevokedBeforeEpoch change with a Cutoff not before since,
// within feedWait.
func wantToldOfLoss(t *testing.T, fl *follower, since time.Time, who string) {
	t.Helper()
	deadline := time.Now().Add(feedWait)
	for {
		if fl.ended.Load() {
			if !errors.Is(fl.err, authkit.ErrFeedPositionLost) {
				t.Errorf("%s: FollowRevocations returned %v, want ErrFeedPositionLost or a RevokedBeforeEpoch change; %s", who, errOrNil(fl.err), ruleLossFeed)
			}
			return
		}
		fl.mu.Lock()
		told := false
		for _, r := range fl.changes {
			if r.Kind == authkit.RevokedBeforeEpoch && !r.Cutoff.Before(since) {
				told = true
			}
		}
		fl.mu.Unlock()
		if told {
			return
		}
		if time.Now().After(deadline) {
			t.Errorf("%s: within %v it neither got ErrFeedPositionLost nor a RevokedBeforeEpoch change with Cutoff %s; %s", who, feedWait, fmtTime(since), ruleLossFeed)
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// wantLoss fails t unless IsRevoked reports q dead with a *DataLossError,
// and returns its Since.
func wantLoss(t *testing.T, what string, s authkit.RevocationStore, q authkit.RevocationQuery, now time.Time) time.Time {
	t.Helper()
	dead, err := s.IsRevoked(t.Context(), q, now)
	var dl *authkit.DataLossError
	switch {
	case err == nil:
		t.Fatalf("%s: IsRevoked(jti %q, sid %q, subject %q, iat %s) at %s = (%v, nil) after the store lost its data; %s",
			what, q.TokenID, q.SessionID, q.Subject, fmtTime(q.IssuedAt), fmtTime(now), dead, ruleLossRefused)
	case !errors.As(err, &dl) || !errors.Is(err, authkit.ErrDataLoss):
		t.Fatalf("%s: IsRevoked returned (%v, %v) after the store lost its data, want (true, a *DataLossError); %s", what, dead, err, ruleLossRefused)
	case !dead:
		t.Errorf("%s: IsRevoked returned a DataLossError with false, want true; %s", what, ruleLossRefused)
	case dl.Since.Before(q.IssuedAt):
		t.Errorf("%s: DataLossError.Since = %s is before the token's iat %s, so the error does not explain the refusal; %s", what, fmtTime(dl.Since), fmtTime(q.IssuedAt), ruleLossRefused)
	}
	return dl.Since
}

// epochEntries returns the RevokedBeforeEpoch entries of a snapshot.
func epochEntries(rs []authkit.Revocation) []authkit.Revocation {
	var out []authkit.Revocation
	for _, r := range rs {
		if r.Kind == authkit.RevokedBeforeEpoch {
			out = append(out, r)
		}
	}
	return out
}
