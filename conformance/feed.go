package conformance

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/authkit-go/authkit"
)

// The rules of authkit.RevocationFeed, quoted in failure messages.
const (
	ruleFeedSnapshot    = "RevocationFeed.RevocationSnapshot must call fn once for every entry in force at now (until after now) with its merged state (the latest until; for a cutoff, the latest cutoff), at most once per key, and never for a key that was not written"
	ruleFeedSnapshotPos = "RevocationFeed.RevocationSnapshot must return a position that every change whose write returned before the call is at or before, with entries that reflect every change at or before it: FollowRevocations from it delivers exactly the changes made after, and snapshot plus changes leave no gap"
	ruleFeedEvery       = "RevocationFeed.FollowRevocations must deliver every change after its position (each successful RevokeToken, RevokeSessionTokens or SetCutoff, through any handle) exactly once, carrying the write's own arguments"
	ruleFeedOrder       = "RevocationFeed.FollowRevocations must deliver the changes of one subject in the order their writes were made"
	ruleFeedCatchUp     = "RevocationFeed.FollowRevocations from a position it passed to fn must deliver exactly the changes after it: a follower that reconnects catches up without a gap and without a repeat"
	ruleFeedHeartbeat   = "RevocationFeed.FollowRevocations must call fn at least every heartbeat, with an empty batch when nothing changed"
	ruleFeedVouch       = "every call of a FollowRevocations callback must vouch for the log: its position covers every change whose write returned at least heartbeat before the call (checked with a 3x allowance)"
	ruleFeedLost        = "RevocationFeed.FollowRevocations must return an error matching ErrFeedPositionLost, without calling fn, for a position it cannot continue from without a gap: empty, malformed, from another store, or before changes its log no longer holds"
	ruleFeedFnErr       = "RevocationFeed.FollowRevocations must stop and return fn's error (matching it with errors.Is) when fn fails"
	ruleSnapshotFnErr   = "RevocationFeed.RevocationSnapshot must stop and return fn's error (matching it with errors.Is) when fn fails"
	ruleFeedCallbacks   = "a RevocationFeed never calls fn concurrently, nor after the method that was given it has returned"
	ruleFeedPosition    = "a RevocationFeed never returns an empty position"
	ruleFeedDurable     = "a RevocationFeed whose store keeps its data across a restart must keep its log too: positions taken before the restart stay valid, and the snapshot holds every entry"
	ruleFeedContext     = "RevocationFeed methods must honour ctx: a cancelled or expired ctx, before or during the call, yields an error matching ctx.Err()"
	ruleFeedCut         = "a RevocationFeed whose connection to its backend drops while it follows must, once it can reach the backend again, deliver every change made meanwhile before it vouches for anything after them, or end with an error: never resume past changes it missed"
	ruleFeedUnavailable = "a RevocationFeed whose backend cannot be reached must return an error matching ErrStoreUnavailable, never ErrFeedPositionLost and never a position"
	ruleListen          = "RevocationListeners.ListenRevocations must call fn with every revocation written through the store value (each RevokeToken, RevokeSessionTokens and SetCutoff that returns nil), carrying the write's arguments as the feed delivers them, before the writing call returns"
	ruleListenRefused   = "RevocationListeners.ListenRevocations must not pass fn a write the store refused"
	ruleListenStop      = "after the stop function of RevocationListeners.ListenRevocations has returned, fn must not be called again"
)

const (
	// feedHeartbeat is the heartbeat the suite asks of FollowRevocations.
	feedHeartbeat = 100 * time.Millisecond
	// feedSettle is how long after the last write the suite waits for a
	// heartbeat before it takes what a follower received as complete: a
	// heartbeat vouches for changes one heartbeat old, and the rest is
	// allowance for a loaded machine.
	feedSettle = 3 * feedHeartbeat
	// feedWait bounds every wait for something a feed promises.
	feedWait = 10 * time.Second
	// feedBacklog is how many changes Follow/VouchesBacklog writes before
	// a follower starts: more than a backend reads from its log at once
	// (512 for the SQL and Redis stores), since a call of fn vouches for
	// the whole log, not for one read of it.
	feedBacklog = 600
)

// RunRevocationFeed runs the checks of authkit.RevocationFeed (the
// "RevocationFeed/…" subtests of [Run]) against a backend whose
// RevocationStore implements it; New must return such a store.
// [RunRevocationStore] runs them too: call one or the other. The checks
// run through two handles on the same data when h.Peer is set: one writes,
// the other follows. They wait on real time for heartbeats (the suite asks
// for one every 100ms), so they take a few seconds.
func RunRevocationFeed(t *testing.T, h PartialHarness[authkit.RevocationStore]) {
	t.Helper()
	if h.New == nil {
		t.Fatal("conformance: PartialHarness.New is nil; RunRevocationFeed needs it to make stores")
	}
	t.Run("RevocationFeed", func(t *testing.T) { runRevocationFeed(t, h, true) })
}

// runRevocationFeed runs the feed checks. Unless required, a store that
// does not implement the feed is logged and skipped (Run calls it for
// every store).
func runRevocationFeed(t *testing.T, h PartialHarness[authkit.RevocationStore], required bool) {
	probe := h.New(t)
	if _, ok := probe.(authkit.RevocationFeed); !ok {
		if required {
			t.Fatalf("%T does not implement authkit.RevocationFeed; RunRevocationFeed needs a store that does", probe)
		}
		t.Logf("%T does not implement authkit.RevocationFeed: nothing to check", probe)
		return
	}

	if _, ok := probe.(authkit.RevocationListeners); ok {
		t.Run("Listeners", func(t *testing.T) { feedListeners(t, h) })
	}

	t.Run("Snapshot/Empty", func(t *testing.T) {
		_, _, fb := openFeed(t, h)
		entries, pos := feedSnapshot(t, fb, at(minute))
		if entries = withoutEpoch(entries); len(entries) != 0 {
			t.Errorf("the snapshot of an empty store holds %d entries: %s; %s", len(entries), fmtChanges(entries), ruleFeedSnapshot)
		}
		f := startFollower(t, fb, pos)
		got := f.settle(t, time.Now(), ruleFeedEvery)
		checkChanges(t, got, nil, "following an empty store")
	})

	t.Run("Snapshot/InForce", func(t *testing.T) {
		a, _, fb := openFeed(t, h)
		w := &feedWriter{s: a}
		w.token(t, "alice", "jti-1", at(hour))
		w.token(t, "alice", "jti-1", at(2*hour)) // a later until wins
		w.token(t, "alice", "jti-2", at(2*hour))
		w.token(t, "alice", "jti-2", at(hour)) // an earlier until changes nothing
		w.session(t, "alice", "sid-1", at(hour))
		w.cutoff(t, "alice", msAt(10*minute), at(70*minute))
		w.cutoff(t, "alice", msAt(0), at(90*minute)) // the cutoff stays, the until grows
		w.cutoff(t, "bob", msAt(0), at(hour))
		for i, subj := range oddSubjects {
			w.token(t, subj, subj, at(hour+time.Duration(i)*micro))
			w.session(t, "nobody", subj, at(hour))
		}
		w.token(t, "carol", "jti-expired", at(30*time.Second))
		w.session(t, "carol", "sid-until-now", at(minute))
		now := at(minute)
		// In force however soon they end (found by review: a snapshot
		// leaving out what ended within the hour passed, and a jti's until
		// is its token's exp plus the leeway, minutes away).
		w.token(t, "dave", "jti-soon", now.Add(micro))
		w.session(t, "dave", "sid-soon", now.Add(time.Second))
		w.cutoff(t, "erin", msAt(0), now.Add(15*minute))
		entries, _ := feedSnapshot(t, fb, now)
		checkSnapshot(t, entries, w.log, now)
	})

	t.Run("Snapshot/ThenFollow", func(t *testing.T) {
		a, _, fb := openFeed(t, h)
		before := &feedWriter{s: a}
		before.token(t, "alice", "jti-before", at(hour))
		before.cutoff(t, "bob", msAt(0), at(hour))
		_, pos := feedSnapshot(t, fb, at(minute))
		after := &feedWriter{s: a}
		after.token(t, "alice", "jti-after", at(hour))
		after.session(t, "alice", "sid-after", at(hour))
		after.cutoff(t, "bob", msAt(minute), at(hour))
		f := startFollower(t, fb, pos)
		got := f.settle(t, time.Now(), ruleFeedEvery)
		checkChanges(t, got, after.log, "following from a snapshot taken between two sets of writes (only the later set is after its position); "+ruleFeedSnapshotPos)
	})

	t.Run("Snapshot/WhileWriting", func(t *testing.T) { feedWhileWriting(t, h) })

	t.Run("Follow/EveryChange", func(t *testing.T) {
		a, _, fb := openFeed(t, h)
		_, pos := feedSnapshot(t, fb, at(minute))
		f := startFollower(t, fb, pos)
		w := &feedWriter{s: a}
		everyKind(t, w)
		got := f.settle(t, time.Now(), ruleFeedEvery)
		checkChanges(t, got, w.log, "the writes made through the other handle")
	})

	t.Run("Follow/CatchUp", func(t *testing.T) { feedCatchUp(t, h) })

	t.Run("Follow/Concurrent", func(t *testing.T) {
		a, b, fb := openFeed(t, h)
		_, pos := feedSnapshot(t, fb, at(minute))
		f := startFollower(t, fb, pos)
		const writers, each = 8, 25
		logs := make([][]authkit.Revocation, writers)
		var wg sync.WaitGroup
		for g := range writers {
			w := &feedWriter{s: a}
			if g%2 == 1 {
				w.s = b
			}
			wg.Go(func() {
				subj := fmt.Sprint("writer-", g)
				for i := range each {
					var err error
					until := at(hour + time.Duration(i)*micro)
					switch i % 3 {
					case 0:
						err = w.try(t, authkit.Revocation{Kind: authkit.RevokedToken, Subject: subj, ID: fmt.Sprint("jti-", i), Until: until})
					case 1:
						err = w.try(t, authkit.Revocation{Kind: authkit.RevokedSession, Subject: subj, ID: fmt.Sprint("sid-", i), Until: until})
					default:
						err = w.try(t, authkit.Revocation{Kind: authkit.RevokedBefore, Subject: subj, Cutoff: msAt(time.Duration(i) * ms), Until: until})
					}
					if err != nil {
						t.Errorf("writer %d: %v; %s", g, err, ruleFeedEvery)
						return
					}
				}
				logs[g] = w.log
			})
		}
		wg.Wait()
		got := f.settle(t, time.Now(), ruleFeedEvery)
		checkChanges(t, got, slices.Concat(logs...), fmt.Sprintf("%d goroutines writing concurrently through both handles", writers))
	})

	t.Run("Follow/Heartbeat", func(t *testing.T) {
		_, _, fb := openFeed(t, h)
		_, pos := feedSnapshot(t, fb, at(minute))
		f := startFollower(t, fb, pos)
		const want = 5
		window := 20 * feedHeartbeat
		start := time.Now()
		f.untilWithin(t, window+time.Second, fmt.Sprintf("%d heartbeats within %v of following a quiet store", want, window), ruleFeedHeartbeat, func(calls []feedCall, _ []authkit.Revocation) bool {
			n := 0
			for _, c := range calls {
				if c.n == 0 && c.at.Sub(start) <= window {
					n++
				}
			}
			return n >= want
		})
	})

	t.Run("Follow/Vouches", func(t *testing.T) {
		a, _, fb := openFeed(t, h)
		_, pos := feedSnapshot(t, fb, at(minute))
		f := startFollower(t, fb, pos)
		f.untilWithin(t, feedWait, "the first call of fn", ruleFeedHeartbeat, func(calls []feedCall, _ []authkit.Revocation) bool { return len(calls) > 0 })
		w := &feedWriter{s: a}
		w.session(t, "alice", "sid-1", at(hour))
		written := time.Now()
		var delivered []authkit.Revocation
		f.untilWithin(t, feedWait, "a call of fn 3 heartbeats after a write", ruleFeedHeartbeat, func(calls []feedCall, changes []authkit.Revocation) bool {
			for _, c := range calls {
				if c.at.Sub(written) >= feedSettle {
					delivered = slices.Clone(changes[:c.before+c.n])
					return true
				}
			}
			return false
		})
		if !slices.ContainsFunc(delivered, func(r authkit.Revocation) bool { return changeKey(r) == changeKey(w.log[0]) }) {
			t.Errorf("a call of fn %v after %s returned had still not delivered it; %s", feedSettle, fmtChange(w.log[0]), ruleFeedVouch)
		}
	})

	t.Run("Follow/VouchesBacklog", func(t *testing.T) {
		a, _, fb := openFeed(t, h)
		_, pos := feedSnapshot(t, fb, at(minute))
		w := &feedWriter{s: a}
		for i := range feedBacklog {
			w.token(t, fmt.Sprint("user-", i%7), fmt.Sprint("jti-", i), at(hour))
		}
		time.Sleep(feedSettle)
		f := startFollower(t, fb, pos)
		f.untilWithin(t, feedWait, "the first call of fn", ruleFeedHeartbeat, func(calls []feedCall, _ []authkit.Revocation) bool { return len(calls) > 0 })
		calls := f.stop(t)
		if calls[0].n != len(w.log) {
			t.Errorf("the first call of fn of a follower started %v after %d writes delivered %d of them (a backlog longer than one read of the log must reach fn whole); %s",
				feedSettle, len(w.log), calls[0].n, ruleFeedVouch)
		}
	})

	t.Run("Follow/ForeignPosition", func(t *testing.T) {
		a, _, fb := openFeed(t, h)
		// This store's log runs further than the other's, so that the
		// other's position also names a change of this log: a position
		// that is a bare sequence number, without the store's identity,
		// would pass for one of this store's own.
		own := &feedWriter{s: a}
		for i := range 5 {
			own.token(t, "carol", fmt.Sprint("own-", i), at(hour))
		}
		_, ownPos := feedSnapshot(t, fb, at(minute))
		other := h.New(t)
		w := &feedWriter{s: other}
		w.token(t, "alice", "jti-1", at(hour))
		w.token(t, "alice", "jti-2", at(hour))
		_, foreign := feedSnapshot(t, feedOf(t, other), at(minute))
		cases := []struct {
			name string
			pos  authkit.FeedPosition
		}{
			{"another store's position", foreign},
			{"an empty position", ""},
			{"a malformed position", "not a position \x00"},
			{"a mangled position of another store", foreign + "9"},
			{"a position past the end of this store's log", ownPos + "9"},
		}
		// Concurrently: a store that wrongly follows from such a position
		// is only stopped by the deadline.
		var wg sync.WaitGroup
		for _, c := range cases {
			wg.Go(func() {
				ctx, cancel := context.WithTimeout(t.Context(), 2*time.Second)
				defer cancel()
				var calls atomic.Int32
				err := fb.FollowRevocations(ctx, c.pos, feedHeartbeat, func([]authkit.Revocation, authkit.FeedPosition) error {
					calls.Add(1)
					return nil
				})
				if !errors.Is(err, authkit.ErrFeedPositionLost) || calls.Load() != 0 {
					t.Errorf("FollowRevocations from %s (%q) returned %v after %d calls of fn, want an error matching ErrFeedPositionLost and no call; %s", c.name, c.pos, errOrNil(err), calls.Load(), ruleFeedLost)
				}
			})
		}
		wg.Wait()
	})

	// A follower whose position the log no longer covers is told so
	// (found by review: a store whose log kept the last 1,000 changes
	// and followed silently from the oldest it held passed, since
	// Follow/VouchesBacklog catches only a log shorter than its backlog).
	t.Run("Follow/Trimmed", func(t *testing.T) {
		if h.TrimFeed == nil {
			t.Log("Harness.TrimFeed is nil: a follower from a position the log no longer covers is not checked")
			return
		}
		// With a write after the trim, and without one: a log trimmed to
		// nothing, followed from before its first change (found by
		// mutation testing: a SQL store that took an empty read past its
		// position for "nothing new" passed with the write after, and
		// vouched for the log without the changes).
		for _, after := range []bool{true, false} {
			a, _, fb := openFeed(t, h)
			_, pos := feedSnapshot(t, fb, at(minute))
			w := &feedWriter{s: a}
			for i := range 3 {
				w.token(t, "alice", fmt.Sprint("jti-", i), at(hour))
			}
			h.TrimFeed(t, a)
			what := "a position before changes the log has since dropped (Harness.TrimFeed)"
			if after {
				w.token(t, "alice", "jti-after", at(hour))
				what += ", with a change after the trim"
			}
			ctx, cancel := context.WithTimeout(t.Context(), feedWait)
			var calls atomic.Int32
			err := fb.FollowRevocations(ctx, pos, feedHeartbeat, func([]authkit.Revocation, authkit.FeedPosition) error {
				calls.Add(1)
				return errors.New("conformance: fn called for a trimmed position") // the first call already fails the check
			})
			cancel()
			if !errors.Is(err, authkit.ErrFeedPositionLost) || calls.Load() != 0 {
				t.Errorf("FollowRevocations from %s returned %v after %d calls of fn, want an error matching ErrFeedPositionLost and no call; %s", what, errOrNil(err), calls.Load(), ruleFeedLost)
			}
		}
	})

	// The log trimmed past a follower while it follows: the follower
	// either delivers every change or ends with ErrFeedPositionLost, never
	// skips to the oldest change the log still holds (found by review: a
	// follow loop that jumped over the trimmed part passed, since
	// Follow/Trimmed trims before the follow starts; Redis's XREAD after a
	// MAXLEN trim behaves so).
	t.Run("Follow/TrimmedWhileFollowing", func(t *testing.T) {
		if h.TrimFeed == nil {
			t.Log("Harness.TrimFeed is nil: a log trimmed past a following follower is not checked")
			return
		}
		a, _, fb := openFeed(t, h)
		_, pos := feedSnapshot(t, fb, at(minute))
		w := &feedWriter{s: a}
		ctx, cancel := context.WithTimeout(t.Context(), 3*feedWait)
		defer cancel()
		var (
			mu   sync.Mutex
			got  = map[string]bool{}
			once sync.Once
		)
		blocked, release := make(chan struct{}), make(chan struct{})
		errc := make(chan error, 1)
		go func() {
			errc <- fb.FollowRevocations(ctx, pos, feedHeartbeat, func(rs []authkit.Revocation, _ authkit.FeedPosition) error {
				once.Do(func() {
					close(blocked)
					<-release
				})
				mu.Lock()
				for _, r := range rs {
					got[r.ID] = true
				}
				mu.Unlock()
				return nil
			})
		}()
		select {
		case <-blocked:
		case err := <-errc:
			t.Fatalf("FollowRevocations returned %v before its first call of fn; %s", errOrNil(err), ruleFeedHeartbeat)
		}
		w.token(t, "alice", "trimmed-while-following-1", at(hour))
		h.TrimFeed(t, a)
		w.token(t, "alice", "trimmed-while-following-2", at(hour))
		close(release)
		wait := time.After(feedWait)
		for {
			mu.Lock()
			before, after := got["trimmed-while-following-1"], got["trimmed-while-following-2"]
			mu.Unlock()
			switch {
			case before && after:
				return
			case after:
				t.Errorf("FollowRevocations, its log trimmed past the follower while fn was blocked, delivered the change written after the trim and not the one before it: it must end with ErrFeedPositionLost; %s", ruleFeedLost)
				return
			}
			select {
			case err := <-errc:
				if !errors.Is(err, authkit.ErrFeedPositionLost) {
					t.Errorf("FollowRevocations, its log trimmed past the follower while fn was blocked, returned %v, want every change delivered or an error matching ErrFeedPositionLost; %s", errOrNil(err), ruleFeedLost)
				}
				return
			case <-time.After(feedHeartbeat / 4):
			case <-wait:
				t.Errorf("FollowRevocations, its log trimmed past the follower while fn was blocked, neither delivered the changes nor ended within %v of fn's return; %s", feedWait, ruleFeedLost)
				return
			}
		}
	})

	t.Run("Follow/ConnectionCut", func(t *testing.T) { feedConnectionCut(t, h) })

	t.Run("Follow/FnError", func(t *testing.T) {
		a, _, fb := openFeed(t, h)
		_, pos := feedSnapshot(t, fb, at(minute))
		(&feedWriter{s: a}).token(t, "alice", "jti-1", at(hour))
		stop := errors.New("conformance: the callback's own error")
		var calls, after atomic.Int32
		var returned atomic.Bool
		errc := make(chan error, 1)
		go func() {
			err := fb.FollowRevocations(t.Context(), pos, feedHeartbeat, func([]authkit.Revocation, authkit.FeedPosition) error {
				if returned.Load() {
					after.Add(1)
				}
				calls.Add(1)
				return stop
			})
			returned.Store(true)
			errc <- err
		}()
		select {
		case err := <-errc:
			if !errors.Is(err, stop) {
				t.Errorf("FollowRevocations returned %v when fn failed, want fn's error; %s", errOrNil(err), ruleFeedFnErr)
			}
			if n := calls.Load(); n != 1 {
				t.Errorf("fn was called %d times, though it failed the first time; %s", n, ruleFeedFnErr)
			}
		case <-time.After(feedWait):
			t.Fatalf("FollowRevocations did not return within %v of fn failing; %s", feedWait, ruleFeedFnErr)
		}
		time.Sleep(2 * feedHeartbeat)
		if n := after.Load(); n != 0 {
			t.Errorf("fn was called %d times after FollowRevocations returned; %s", n, ruleFeedCallbacks)
		}
	})

	// Found by review: only FollowRevocations was held to fn's error.
	t.Run("Snapshot/FnError", func(t *testing.T) {
		a, _, fb := openFeed(t, h)
		w := &feedWriter{s: a}
		w.token(t, "alice", "jti-1", at(hour))
		w.token(t, "bob", "jti-2", at(hour))
		stop := errors.New("conformance: the callback's own error")
		calls := 0
		_, err := fb.RevocationSnapshot(t.Context(), at(minute), func(authkit.Revocation) error {
			calls++
			return stop
		})
		if !errors.Is(err, stop) {
			t.Errorf("RevocationSnapshot returned %v when fn failed, want fn's error; %s", errOrNil(err), ruleSnapshotFnErr)
		}
		if calls != 1 {
			t.Errorf("fn was called %d times, though it failed the first time; %s", calls, ruleSnapshotFnErr)
		}
	})

	t.Run("Context", func(t *testing.T) { feedContext(t, h) })
	t.Run("Reopen", func(t *testing.T) { feedReopen(t, h) })
	t.Run("Unavailable", func(t *testing.T) { feedUnavailable(t, h) })
	// A store that reports HonorsDeadlines answers its snapshot by the
	// deadline too (found by review: only the RevocationStore methods
	// were held to it).
	t.Run("Stalled", func(t *testing.T) { runStalled(t, h, feedStallCalls()) })
}

// feedStallCalls are the feed calls a stalled backend must answer by
// their deadline: the snapshot (FollowRevocations runs until its ctx ends
// by design, and needs a position a stalled backend cannot give).
func feedStallCalls() []call[authkit.RevocationStore] {
	return []call[authkit.RevocationStore]{
		{"RevocationSnapshot", func(ctx context.Context, s authkit.RevocationStore) error {
			f, ok := s.(authkit.RevocationFeed)
			if !ok {
				return fmt.Errorf("conformance: %T does not implement authkit.RevocationFeed", s)
			}
			_, err := f.RevocationSnapshot(ctx, at(minute), func(authkit.Revocation) error { return nil })
			return err
		}, nil},
	}
}

// everyKind writes every kind of change, including writes that change no
// state and an entry that is already expired, over odd subjects.
func everyKind(t *testing.T, w *feedWriter) {
	t.Helper()
	w.token(t, "alice", "jti-1", at(hour))
	w.session(t, "alice", "sid-1", at(hour)) // what reuse detection writes, too
	w.cutoff(t, "alice", msAt(minute), at(hour))
	w.token(t, "alice", "jti-1", at(30*minute))     // an earlier until: no new state, still a change
	w.cutoff(t, "alice", msAt(-minute), at(2*hour)) // an earlier cutoff with a later until
	w.token(t, "bob", "jti-expired", at(-hour))     // expired before it was written
	for i, subj := range oddSubjects {
		until := at(hour + time.Duration(i)*micro)
		switch i % 3 {
		case 0:
			w.token(t, subj, subj, until)
		case 1:
			w.session(t, subj, subj, until)
		default:
			w.cutoff(t, subj, msAt(time.Duration(i)*ms), until)
		}
	}
}

// ---- writing ----

// msAt is a whole millisecond near base, for cutoffs: a store may keep
// cutoffs to the millisecond only (rounding up), and the feed checks
// compare cutoffs exactly.
func msAt(d time.Duration) time.Time { return base.Truncate(ms).Add(d) }

// feedWriter writes through one handle and keeps the log of what it
// wrote, as the changes a feed must deliver.
type feedWriter struct {
	s   authkit.RevocationStore
	log []authkit.Revocation
	// wrote, if set, is called after each write the store took, with it.
	wrote func(authkit.Revocation)
}

// try makes the write r describes.
func (w *feedWriter) try(t *testing.T, r authkit.Revocation) error {
	ctx := t.Context()
	var err error
	switch r.Kind {
	case authkit.RevokedToken:
		err = w.s.RevokeToken(ctx, r.Subject, r.ID, r.Until)
	case authkit.RevokedSession:
		err = w.s.RevokeSessionTokens(ctx, r.Subject, r.ID, r.Until)
	case authkit.RevokedBefore:
		err = w.s.SetCutoff(ctx, r.Subject, r.Cutoff, r.Until)
	}
	if err == nil {
		w.log = append(w.log, r)
		if w.wrote != nil {
			w.wrote(r)
		}
	}
	return err
}

func (w *feedWriter) must(t *testing.T, r authkit.Revocation) {
	t.Helper()
	mustOK(t, fmtChange(r), w.try(t, r), ruleFeedEvery)
}

func (w *feedWriter) token(t *testing.T, subject, jti string, until time.Time) {
	t.Helper()
	w.must(t, authkit.Revocation{Kind: authkit.RevokedToken, Subject: subject, ID: jti, Until: until})
}

func (w *feedWriter) session(t *testing.T, subject, sid string, until time.Time) {
	t.Helper()
	w.must(t, authkit.Revocation{Kind: authkit.RevokedSession, Subject: subject, ID: sid, Until: until})
}

func (w *feedWriter) cutoff(t *testing.T, subject string, cutoff, until time.Time) {
	t.Helper()
	w.must(t, authkit.Revocation{Kind: authkit.RevokedBefore, Subject: subject, Cutoff: cutoff, Until: until})
}

// ---- opening ----

func feedOf(t *testing.T, s authkit.RevocationStore) authkit.RevocationFeed {
	t.Helper()
	f, ok := s.(authkit.RevocationFeed)
	if !ok {
		t.Fatalf("conformance: %T does not implement authkit.RevocationFeed", s)
	}
	return f
}

// openFeed makes a fresh store, its peer, and the peer's feed: a writes,
// fb follows, as two application servers would.
func openFeed(t *testing.T, h PartialHarness[authkit.RevocationStore]) (a, b authkit.RevocationStore, fb authkit.RevocationFeed) {
	t.Helper()
	a, b = open(t, h)
	if h.Peer == nil {
		t.Log("Harness.Peer is nil: the feed is followed through the handle that writes")
	}
	return a, b, feedOf(t, b)
}

// feedSnapshot takes a snapshot and checks the position and the calls.
func feedSnapshot(t *testing.T, f authkit.RevocationFeed, now time.Time) ([]authkit.Revocation, authkit.FeedPosition) {
	t.Helper()
	var (
		entries  []authkit.Revocation
		returned atomic.Bool
		inFn     atomic.Bool
	)
	pos, err := f.RevocationSnapshot(t.Context(), now, func(r authkit.Revocation) error {
		if returned.Load() || !inFn.CompareAndSwap(false, true) {
			t.Errorf("RevocationSnapshot called fn concurrently or after returning; %s", ruleFeedCallbacks)
			return nil
		}
		entries = append(entries, r)
		inFn.Store(false)
		return nil
	})
	returned.Store(true)
	mustOK(t, "RevocationSnapshot", err, ruleFeedSnapshot)
	if pos == "" {
		t.Fatalf("RevocationSnapshot returned an empty position; %s", ruleFeedPosition)
	}
	return entries, pos
}

// ---- following ----

// feedCall is one call of a follower's fn.
type feedCall struct {
	at     time.Time // wall clock
	before int       // changes delivered by earlier calls
	n      int       // changes in this call
	pos    authkit.FeedPosition
}

// follower runs FollowRevocations in a goroutine and records every call.
type follower struct {
	mu      sync.Mutex
	calls   []feedCall
	changes []authkit.Revocation
	kick    chan struct{}
	inFn    atomic.Bool
	ended   atomic.Bool
	bad     atomic.Pointer[string]
	cancel  context.CancelFunc
	done    chan struct{}
	err     error
}

func startFollower(t *testing.T, f authkit.RevocationFeed, after authkit.FeedPosition) *follower {
	t.Helper()
	ctx, cancel := context.WithCancel(t.Context())
	fl := &follower{kick: make(chan struct{}, 1), cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(fl.done)
		fl.err = f.FollowRevocations(ctx, after, feedHeartbeat, fl.fn)
		fl.ended.Store(true)
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case <-fl.done:
		case <-time.After(feedWait):
			t.Errorf("FollowRevocations did not return within %v of its ctx being cancelled; %s", feedWait, ruleFeedContext)
		}
		if msg := fl.bad.Load(); msg != nil {
			t.Errorf("%s; %s", *msg, ruleFeedCallbacks)
		}
	})
	return fl
}

func (fl *follower) fn(changes []authkit.Revocation, pos authkit.FeedPosition) error {
	if !fl.inFn.CompareAndSwap(false, true) {
		msg := "fn was called concurrently"
		fl.bad.Store(&msg)
		return nil
	}
	defer fl.inFn.Store(false)
	if fl.ended.Load() {
		msg := "fn was called after FollowRevocations returned"
		fl.bad.Store(&msg)
	}
	if pos == "" {
		msg := "fn was given an empty position; " + ruleFeedPosition
		fl.bad.Store(&msg)
	}
	fl.mu.Lock()
	fl.calls = append(fl.calls, feedCall{at: time.Now(), before: len(fl.changes), n: len(changes), pos: pos})
	fl.changes = append(fl.changes, changes...)
	fl.mu.Unlock()
	select {
	case fl.kick <- struct{}{}:
	default:
	}
	return nil
}

// untilWithin waits at most limit until cond holds over what the follower
// has received, checking after every call; it fails t if the time runs
// out or FollowRevocations returns.
func (fl *follower) untilWithin(t *testing.T, limit time.Duration, what, rule string, cond func([]feedCall, []authkit.Revocation) bool) {
	t.Helper()
	deadline := time.NewTimer(limit)
	defer deadline.Stop()
	for {
		fl.mu.Lock()
		ok := cond(fl.calls, fl.changes)
		fl.mu.Unlock()
		if ok {
			return
		}
		select {
		case <-fl.kick:
		case <-fl.done:
			t.Fatalf("FollowRevocations returned %v while the suite waited for %s; it must keep following until ctx ends; %s", errOrNil(fl.err), what, rule)
		case <-deadline.C:
			t.Fatalf("waited %v for %s; %s", limit, what, rule)
		}
	}
}

// settle waits for an empty call of fn (a heartbeat) made at least
// feedSettle after since, when everything written before since must have
// been delivered, and returns every change received.
func (fl *follower) settle(t *testing.T, since time.Time, rule string) []authkit.Revocation {
	t.Helper()
	fl.untilWithin(t, feedWait, fmt.Sprintf("a heartbeat %v after the last write", feedSettle), ruleFeedHeartbeat+"; "+rule, func(calls []feedCall, _ []authkit.Revocation) bool {
		for _, c := range calls {
			if c.n == 0 && c.at.Sub(since) >= feedSettle {
				return true
			}
		}
		return false
	})
	fl.mu.Lock()
	defer fl.mu.Unlock()
	return slices.Clone(fl.changes)
}

// stop cancels the follower and checks that FollowRevocations returns an
// error matching context.Canceled.
func (fl *follower) stop(t *testing.T) []feedCall {
	t.Helper()
	fl.cancel()
	select {
	case <-fl.done:
	case <-time.After(feedWait):
		t.Fatalf("FollowRevocations did not return within %v of its ctx being cancelled; %s", feedWait, ruleFeedContext)
	}
	if !errors.Is(fl.err, context.Canceled) {
		t.Errorf("FollowRevocations returned %v when its ctx was cancelled; %s", errOrNil(fl.err), ruleFeedContext)
	}
	fl.mu.Lock()
	defer fl.mu.Unlock()
	return slices.Clone(fl.calls)
}

// ---- comparing ----

func fmtMicro(t time.Time) string {
	if t.IsZero() {
		return "zero"
	}
	return strconv.FormatInt(t.UnixMicro(), 10)
}

// changeKey identifies a change exactly: the suite makes every write of a
// test distinct, so a delivered change maps to one write.
func changeKey(r authkit.Revocation) string {
	return fmt.Sprintf("%d|%q|%q|%s|%s", r.Kind, r.Subject, r.ID, fmtMicro(r.Cutoff), fmtMicro(r.Until))
}

func fmtChange(r authkit.Revocation) string {
	switch r.Kind {
	case authkit.RevokedToken:
		return fmt.Sprintf("RevokeToken(%q, %q, until %s)", r.Subject, r.ID, fmtTime(r.Until))
	case authkit.RevokedSession:
		return fmt.Sprintf("RevokeSessionTokens(%q, %q, until %s)", r.Subject, r.ID, fmtTime(r.Until))
	case authkit.RevokedBefore:
		return fmt.Sprintf("SetCutoff(%q, %s, until %s)", r.Subject, fmtTime(r.Cutoff), fmtTime(r.Until))
	}
	return fmt.Sprintf("%+v", r)
}

func fmtChanges(rs []authkit.Revocation) string {
	if len(rs) > 12 {
		return fmtChanges(rs[:12]) + fmt.Sprintf(" … (%d in all)", len(rs))
	}
	parts := make([]string, len(rs))
	for i, r := range rs {
		parts[i] = fmtChange(r)
	}
	return strings.Join(parts, ", ")
}

// checkChanges fails t unless got holds each change of want exactly once
// and nothing else, and each subject's changes in want's order.
func checkChanges(t *testing.T, got, want []authkit.Revocation, what string) {
	t.Helper()
	count := map[string]int{}
	for _, r := range want {
		count[changeKey(r)]++
	}
	var missing, extra, twice []authkit.Revocation
	seen := map[string]int{}
	for _, r := range got {
		k := changeKey(r)
		seen[k]++
		switch {
		case count[k] == 0:
			extra = append(extra, r)
		case seen[k] > count[k]:
			twice = append(twice, r)
		}
	}
	for _, r := range want {
		if k := changeKey(r); seen[k] < count[k] {
			missing = append(missing, r)
			seen[k]++ // report each missing write once
		}
	}
	if len(missing) > 0 {
		t.Errorf("%s: %d of %d changes were not delivered: %s; %s", what, len(missing), len(want), fmtChanges(missing), ruleFeedEvery)
	}
	if len(twice) > 0 {
		t.Errorf("%s: %d changes were delivered more than once: %s; %s", what, len(twice), fmtChanges(twice), ruleFeedEvery)
	}
	if len(extra) > 0 {
		t.Errorf("%s: %d changes were delivered that are not among the writes after the position (or do not carry the write's arguments): %s; %s", what, len(extra), fmtChanges(extra), ruleFeedEvery)
	}
	if len(missing)+len(twice)+len(extra) > 0 {
		return
	}
	order := func(rs []authkit.Revocation) map[string][]string {
		m := map[string][]string{}
		for _, r := range rs {
			m[r.Subject] = append(m[r.Subject], changeKey(r))
		}
		return m
	}
	g, w := order(got), order(want)
	for subj, keys := range w {
		if !slices.Equal(g[subj], keys) {
			t.Errorf("%s: subject %q's changes came in another order than they were written; %s", what, subj, ruleFeedOrder)
		}
	}
}

// feedKey names an entry: kind, subject and (for a jti or sid) ID.
type feedKey struct {
	kind    authkit.RevocationKind
	subject string
	id      string
}

// feedModel is the state a copy reaches by applying changes with the
// RevocationStore merge rules.
type feedModel map[feedKey]authkit.Revocation

func (m feedModel) apply(r authkit.Revocation) {
	k := feedKey{r.Kind, r.Subject, r.ID}
	if r.Kind == authkit.RevokedBefore {
		k.id = ""
	}
	old, ok := m[k]
	if !ok {
		m[k] = r
		return
	}
	if r.Until.After(old.Until) {
		old.Until = r.Until
	}
	if r.Cutoff.After(old.Cutoff) {
		old.Cutoff = r.Cutoff
	}
	m[k] = old
}

func modelOf(rs ...[]authkit.Revocation) feedModel {
	m := feedModel{}
	for _, l := range rs {
		for _, r := range l {
			m.apply(r)
		}
	}
	return m
}

// withoutEpoch returns rs without its RevokedBeforeEpoch entry: the
// store's epoch (authkit.ErrDataLoss), which RunDataLoss checks.
func withoutEpoch(rs []authkit.Revocation) []authkit.Revocation {
	return slices.DeleteFunc(slices.Clone(rs), func(r authkit.Revocation) bool { return r.Kind == authkit.RevokedBeforeEpoch })
}

// checkSnapshot fails t unless entries is the snapshot of the writes at
// now.
func checkSnapshot(t *testing.T, entries, writes []authkit.Revocation, now time.Time) {
	t.Helper()
	want := modelOf(writes)
	seen := map[feedKey]bool{}
	for _, r := range entries {
		if r.Kind == authkit.RevokedBeforeEpoch {
			// The store's epoch (authkit.ErrDataLoss): checked by
			// RunDataLoss, never a write of these checks.
			continue
		}
		k := feedKey{r.Kind, r.Subject, r.ID}
		w, ok := want[k]
		switch {
		case !ok:
			t.Errorf("the snapshot holds %s, which was never written; %s", fmtChange(r), ruleFeedSnapshot)
		case seen[k]:
			t.Errorf("the snapshot holds %s twice; %s", fmtChange(r), ruleFeedSnapshot)
		case changeKey(r) != changeKey(w) && now.Before(w.Until):
			t.Errorf("the snapshot holds %s, want the merged entry %s; %s", fmtChange(r), fmtChange(w), ruleFeedSnapshot)
		}
		seen[k] = true
	}
	for k, w := range want {
		if now.Before(w.Until) && !seen[k] {
			t.Errorf("the snapshot at %s lacks %s, which is in force; %s", fmtTime(now), fmtChange(w), ruleFeedSnapshot)
		}
	}
}

// ---- the longer checks ----

// feedCatchUp follows, then reconnects from the positions it was given.
func feedCatchUp(t *testing.T, h PartialHarness[authkit.RevocationStore]) {
	a, _, fb := openFeed(t, h)
	_, p0 := feedSnapshot(t, fb, at(minute))
	first := &feedWriter{s: a}
	// Three rounds of writes, each delivered before the next is written,
	// so that the follower passes positions in between to reconnect from.
	f := startFollower(t, fb, p0)
	for i := range 3 * 8 {
		subj := fmt.Sprint("user-", i%5)
		switch i % 3 {
		case 0:
			first.token(t, subj, fmt.Sprint("jti-", i), at(hour))
		case 1:
			first.session(t, subj, fmt.Sprint("sid-", i), at(hour))
		default:
			first.cutoff(t, subj, msAt(time.Duration(i)*ms), at(hour))
		}
		if i == 7 || i == 15 {
			f.settle(t, time.Now(), ruleFeedEvery)
		}
	}
	got := f.settle(t, time.Now(), ruleFeedEvery)
	calls := f.stop(t)
	checkChanges(t, got, first.log, "following from a snapshot")
	if t.Failed() {
		return
	}
	second := &feedWriter{s: a}
	second.token(t, "user-1", "jti-late", at(hour))
	second.session(t, "user-2", "sid-late", at(hour))
	second.cutoff(t, "user-1", msAt(hour), at(2*hour))
	all := slices.Concat(first.log, second.log)

	// The positions to reconnect from: the snapshot's, the last one, and
	// a few in between.
	type resume struct {
		pos  authkit.FeedPosition
		done int // changes at or before pos
	}
	points := []resume{{p0, 0}}
	var moved []feedCall
	for _, c := range calls {
		if c.n > 0 {
			moved = append(moved, c)
		}
	}
	for i, c := range moved {
		if i == 0 || i == len(moved)/2 || i == len(moved)-1 {
			points = append(points, resume{c.pos, c.before + c.n})
		}
	}
	if last := calls[len(calls)-1]; last.pos != points[len(points)-1].pos {
		points = append(points, resume{last.pos, last.before + last.n})
	}
	// And every empty call (a heartbeat) just before a call with changes:
	// its position is just after what was delivered before it, not after
	// the batch that follows (a heartbeat that reads the log's end while
	// the batch is still on its way would skip that batch on a resume).
	for i, c := range calls[:len(calls)-1] {
		if c.n == 0 && calls[i+1].n > 0 && !slices.Contains(points, resume{c.pos, c.before}) {
			points = append(points, resume{c.pos, c.before})
		}
	}
	for _, p := range points {
		f := startFollower(t, fb, p.pos)
		again := f.settle(t, time.Now(), ruleFeedCatchUp)
		f.stop(t)
		want := remove(all, got[:p.done])
		checkChanges(t, again, want, fmt.Sprintf("reconnecting from a position given after %d of %d changes (%d written since); %s", p.done, len(first.log), len(second.log), ruleFeedCatchUp))
	}
}

// remove returns all without one occurrence of each change in done.
func remove(all, done []authkit.Revocation) []authkit.Revocation {
	left := map[string]int{}
	for _, r := range done {
		left[changeKey(r)]++
	}
	var out []authkit.Revocation
	for _, r := range all {
		if k := changeKey(r); left[k] > 0 {
			left[k]--
			continue
		}
		out = append(out, r)
	}
	return out
}

// feedWhileWriting takes a snapshot while writers are busy on both
// handles: the snapshot plus what follows its position must be the whole
// state, with no gap.
func feedWhileWriting(t *testing.T, h PartialHarness[authkit.RevocationStore]) {
	a, b, fb := openFeed(t, h)
	const writers = 4
	var (
		wg       sync.WaitGroup
		stop     atomic.Bool
		written  atomic.Int32
		finished atomic.Int32 // writers that have returned
		logs     = make([][]authkit.Revocation, writers)
	)
	// Writers write until told to stop, up to a bound that only a
	// snapshot taking many seconds over a fast store reaches. busy
	// reports whether a wait for more writes can still end: once every
	// writer has returned, none will come (the test hung so once), and a
	// snapshot that outlasted them all was taken while nothing was
	// written, which proves nothing: that is a failure, never a pass (a
	// review saw a store with the gap pass so).
	const bound = 500000
	busy := func() bool { return !t.Failed() && finished.Load() < writers }
	for g := range writers {
		w := &feedWriter{s: a}
		if g%2 == 1 {
			w.s = b
		}
		wg.Go(func() {
			defer finished.Add(1)
			subj := fmt.Sprint("writer-", g)
			for i := 0; !stop.Load() && i < bound; i++ {
				r := authkit.Revocation{Kind: authkit.RevokedToken, Subject: subj, ID: fmt.Sprint("jti-", i), Until: at(hour)}
				if i%2 == 1 {
					r.Kind = authkit.RevokedSession
				}
				if err := w.try(t, r); err != nil {
					t.Errorf("writer %d: %v", g, err)
					break
				}
				written.Add(1)
			}
			logs[g] = w.log
		})
	}
	for written.Load() < 40 && busy() {
		time.Sleep(time.Millisecond)
	}
	entries, pos := feedSnapshot(t, fb, at(minute))
	atSnapshot := written.Load()
	for written.Load() < atSnapshot+40 && busy() {
		time.Sleep(time.Millisecond)
	}
	stop.Store(true)
	wg.Wait()
	if t.Failed() {
		return
	}
	if n := written.Load(); n < atSnapshot+40 {
		t.Fatalf("inconclusive: every writer made its %d writes (%d in all) before RevocationSnapshot returned, so no write overlapped it; a snapshot must not take that long; %s", bound, n, ruleFeedSnapshotPos)
	}
	f := startFollower(t, fb, pos)
	changes := f.settle(t, time.Now(), ruleFeedSnapshotPos)
	got, want := modelOf(withoutEpoch(entries), changes), modelOf(logs...)
	var lost []authkit.Revocation
	for k, w := range want {
		if g, ok := got[k]; !ok || changeKey(g) != changeKey(w) {
			lost = append(lost, w)
		}
	}
	if len(lost) > 0 {
		slices.SortFunc(lost, func(x, y authkit.Revocation) int { return strings.Compare(changeKey(x), changeKey(y)) })
		t.Errorf("of %d writes made while a snapshot was taken, %d are in neither the snapshot nor the changes after its position: %s; %s", int(written.Load()), len(lost), fmtChanges(lost), ruleFeedSnapshotPos)
	}
}

func feedContext(t *testing.T, h PartialHarness[authkit.RevocationStore]) {
	dead := []struct {
		name string
		want error
		make func(context.Context) (context.Context, context.CancelFunc)
	}{
		{"Canceled", context.Canceled, func(p context.Context) (context.Context, context.CancelFunc) {
			ctx, cancel := context.WithCancel(p)
			cancel()
			return ctx, cancel
		}},
		{"DeadlineExceeded", context.DeadlineExceeded, func(p context.Context) (context.Context, context.CancelFunc) {
			return context.WithDeadline(p, time.Unix(0, 0))
		}},
	}
	for _, d := range dead {
		t.Run(d.name+"/RevocationSnapshot", func(t *testing.T) {
			_, _, fb := openFeed(t, h)
			ctx, cancel := d.make(t.Context())
			defer cancel()
			if _, err := fb.RevocationSnapshot(ctx, at(minute), func(authkit.Revocation) error { return nil }); !errors.Is(err, d.want) {
				t.Errorf("RevocationSnapshot with a dead ctx returned %v, want an error matching %v; %s", errOrNil(err), d.want, ruleFeedContext)
			}
		})
		t.Run(d.name+"/FollowRevocations", func(t *testing.T) {
			_, _, fb := openFeed(t, h)
			_, pos := feedSnapshot(t, fb, at(minute))
			ctx, cancel := d.make(t.Context())
			defer cancel()
			errc := make(chan error, 1)
			go func() {
				errc <- fb.FollowRevocations(ctx, pos, feedHeartbeat, func([]authkit.Revocation, authkit.FeedPosition) error { return nil })
			}()
			select {
			case err := <-errc:
				if !errors.Is(err, d.want) {
					t.Errorf("FollowRevocations with a dead ctx returned %v, want an error matching %v; %s", errOrNil(err), d.want, ruleFeedContext)
				}
			case <-time.After(feedWait):
				t.Fatalf("FollowRevocations with a dead ctx did not return within %v; %s", feedWait, ruleFeedContext)
			}
		})
	}
	t.Run("CancelWhileFollowing", func(t *testing.T) {
		_, _, fb := openFeed(t, h)
		_, pos := feedSnapshot(t, fb, at(minute))
		f := startFollower(t, fb, pos)
		f.untilWithin(t, feedWait, "the first heartbeat", ruleFeedHeartbeat, func(calls []feedCall, _ []authkit.Revocation) bool { return len(calls) > 0 })
		f.stop(t)
	})
	t.Run("DeadlineWhileFollowing", func(t *testing.T) {
		_, _, fb := openFeed(t, h)
		_, pos := feedSnapshot(t, fb, at(minute))
		ctx, cancel := context.WithTimeout(t.Context(), 3*feedHeartbeat)
		defer cancel()
		errc := make(chan error, 1)
		go func() {
			errc <- fb.FollowRevocations(ctx, pos, feedHeartbeat, func([]authkit.Revocation, authkit.FeedPosition) error { return nil })
		}()
		select {
		case err := <-errc:
			if !errors.Is(err, context.DeadlineExceeded) {
				t.Errorf("FollowRevocations returned %v when its deadline passed, want an error matching context.DeadlineExceeded; %s", errOrNil(err), ruleFeedContext)
			}
		case <-time.After(feedWait):
			t.Fatalf("FollowRevocations did not return within %v of its deadline; %s", feedWait, ruleFeedContext)
		}
	})
}

// feedReopen checks that the log and its positions survive a restart.
func feedReopen(t *testing.T, h PartialHarness[authkit.RevocationStore]) {
	if h.Reopen == nil {
		t.Log("Harness.Reopen is nil: the feed's durability across a restart is not checked")
		return
	}
	a := h.New(t)
	fa := feedOf(t, a)
	_, p0 := feedSnapshot(t, fa, at(minute))
	first := &feedWriter{s: a}
	first.token(t, "alice", "jti-1", at(hour))
	first.session(t, "alice", "sid-1", at(hour))
	first.cutoff(t, "bob", msAt(0), at(hour))
	f := startFollower(t, fa, p0)
	got := f.settle(t, time.Now(), ruleFeedEvery)
	calls := f.stop(t)
	checkChanges(t, got, first.log, "before the restart")
	p1 := calls[len(calls)-1].pos

	r, _ := reopen(t, h, a)
	fr := feedOf(t, r)
	entries, _ := feedSnapshot(t, fr, at(minute))
	checkSnapshot(t, entries, first.log, at(minute))
	second := &feedWriter{s: r}
	second.token(t, "alice", "jti-2", at(hour))
	second.cutoff(t, "alice", msAt(minute), at(hour))
	for _, c := range []struct {
		name string
		pos  authkit.FeedPosition
		want []authkit.Revocation
	}{
		{"the snapshot's position from before the restart", p0, slices.Concat(first.log, second.log)},
		{"the last position from before the restart", p1, second.log},
	} {
		f := startFollower(t, fr, c.pos)
		got := f.settle(t, time.Now(), ruleFeedDurable)
		f.stop(t)
		checkChanges(t, got, c.want, "following from "+c.name+"; "+ruleFeedDurable)
	}
}

func feedUnavailable(t *testing.T, h PartialHarness[authkit.RevocationStore]) {
	if h.Unavailable == nil {
		noUnavailable(t, h)
		return
	}
	a, _, fb := openFeed(t, h)
	(&feedWriter{s: a}).token(t, "alice", "jti-1", at(hour))
	_, pos := feedSnapshot(t, fb, at(minute)) // a well-formed position of this backend
	u := h.Unavailable(t)
	fu := feedOf(t, u)
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	p, err := fu.RevocationSnapshot(ctx, at(minute), func(authkit.Revocation) error { return nil })
	if !isUnavailable(err) || errors.Is(err, authkit.ErrFeedPositionLost) || p != "" {
		t.Errorf("RevocationSnapshot on an unreachable backend returned (%q, %v); %s", p, errOrNil(err), ruleFeedUnavailable)
	}
	var calls atomic.Int32
	err = fu.FollowRevocations(ctx, pos, feedHeartbeat, func([]authkit.Revocation, authkit.FeedPosition) error {
		calls.Add(1)
		return nil
	})
	if !isUnavailable(err) || errors.Is(err, authkit.ErrFeedPositionLost) || calls.Load() != 0 {
		t.Errorf("FollowRevocations on an unreachable backend returned %v after %d calls of fn; %s", errOrNil(err), calls.Load(), ruleFeedUnavailable)
	}
}

// ---- listeners ----

// heard collects what a RevocationListeners listener is given.
type heard struct {
	mu sync.Mutex
	rs []authkit.Revocation
}

func (h *heard) add(r authkit.Revocation) {
	h.mu.Lock()
	h.rs = append(h.rs, r)
	h.mu.Unlock()
}

func (h *heard) all() []authkit.Revocation {
	h.mu.Lock()
	defer h.mu.Unlock()
	return slices.Clone(h.rs)
}

// feedListeners checks authkit.RevocationListeners: a listener hears of
// every write through its store value before the write returns, not of a
// refused one, and not after stop.
func feedListeners(t *testing.T, h PartialHarness[authkit.RevocationStore]) {
	a, _ := open(t, h)
	l := a.(authkit.RevocationListeners)
	var one, two heard
	stopOne := l.ListenRevocations(one.add)
	stopTwo := l.ListenRevocations(two.add)
	t.Cleanup(func() { stopOne(); stopTwo() })

	w := &feedWriter{s: a}
	w.wrote = func(r authkit.Revocation) {
		got := one.all()
		if len(got) == 0 || changeKey(got[len(got)-1]) != changeKey(r) {
			t.Errorf("after %s returned, the listener had not heard of it (it last heard %s); %s", fmtChange(r), fmtChanges(got[max(len(got)-1, 0):]), ruleListen)
		}
	}
	everyKind(t, w)
	checkChanges(t, one.all(), w.log, "what a listener heard of the writes through its store value; "+ruleListen)
	checkChanges(t, two.all(), w.log, "what a second listener heard; "+ruleListen)

	n := len(one.all())
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if err := a.RevokeToken(ctx, "alice", "jti-cancelled", at(hour)); err == nil {
		t.Errorf("RevokeToken with a cancelled ctx returned nil; %s", ruleContext)
	}
	if got := one.all(); len(got) != n {
		t.Errorf("the listener heard of a RevokeToken refused for its cancelled ctx: %s; %s", fmtChanges(got[n:]), ruleListenRefused)
	}
	// Nor of one an unreachable backend refused (found by review: a store
	// that told its listeners before writing passed).
	if h.Unavailable != nil {
		if ul, ok := h.Unavailable(t).(authkit.RevocationListeners); ok {
			var refused heard
			stop := ul.ListenRevocations(refused.add)
			t.Cleanup(stop)
			u := ul.(authkit.RevocationStore)
			ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
			defer cancel()
			if err := u.RevokeToken(ctx, "alice", "jti-unreachable", at(hour)); err == nil {
				t.Errorf("RevokeToken on an unreachable backend returned nil; %s", ruleUnavailable)
			}
			if got := refused.all(); len(got) != 0 {
				t.Errorf("a listener heard of a RevokeToken an unreachable backend refused: %s; %s", fmtChanges(got), ruleListenRefused)
			}
		}
	}

	stopOne()
	stopOne()
	after := &feedWriter{s: a}
	after.token(t, "alice", "jti-after-stop", at(hour))
	after.cutoff(t, "alice", msAt(2*minute), at(hour))
	if got := one.all(); len(got) != n {
		t.Errorf("a listener heard of %d writes made after its stop returned: %s; %s", len(got)-n, fmtChanges(got[n:]), ruleListenStop)
	}
	if got := two.all(); len(got) != n+2 {
		t.Errorf("stopping one listener stopped another too: it heard %d of the 2 writes after; %s", len(got)-n, ruleListen)
	}
}

// feedConnectionCut follows the feed through a handle whose connections
// the suite cuts while another handle writes, then restores: a push feed
// that resubscribed without reading what it missed, its heartbeats local
// timers, passed every other check and never delivered the revocations
// written while it was cut (found by review).
func feedConnectionCut(t *testing.T, h PartialHarness[authkit.RevocationStore]) {
	if h.Severable == nil {
		t.Log("Harness.Severable is nil: a follower whose connection drops is not checked")
		return
	}
	a, _ := open(t, h)
	s, link := h.Severable(t, a)
	if s == nil || link == nil {
		t.Fatal("conformance: Harness.Severable returned a nil store or link")
	}
	fs := feedOf(t, s)
	_, pos := feedSnapshot(t, fs, at(minute))
	w := &feedWriter{s: a}
	ctx, cancel := context.WithTimeout(t.Context(), 3*feedWait)
	defer cancel()
	cutWrites := []string{"cut-while-1", "cut-while-2"}
	var (
		mu    sync.Mutex
		order []string
		// call is the number of the fn call that delivered each change.
		call  = map[string]int{}
		calls int
		// vouched are the times of the calls of fn made while the
		// changes written during the cut had not all been delivered.
		vouched []time.Time
	)
	seen := func(id string) bool {
		mu.Lock()
		defer mu.Unlock()
		return slices.Contains(order, id)
	}
	errc := make(chan error, 1)
	go func() {
		errc <- fs.FollowRevocations(ctx, pos, feedHeartbeat, func(rs []authkit.Revocation, _ authkit.FeedPosition) error {
			now := time.Now()
			mu.Lock()
			defer mu.Unlock()
			calls++
			for _, r := range rs {
				order = append(order, r.ID)
				call[r.ID] = calls
			}
			if slices.ContainsFunc(cutWrites, func(id string) bool { return !slices.Contains(order, id) }) {
				vouched = append(vouched, now)
			}
			return nil
		})
	}()
	// ended reports a follower that returned: with an error, what a
	// follower that cannot vouch for its copy does (the mirror behind it
	// then asks the store); nil before ctx ends is never right.
	ended := func(err error, when string) {
		if err == nil || ctx.Err() != nil && errors.Is(err, ctx.Err()) {
			t.Errorf("FollowRevocations returned %v %s; %s", errOrNil(err), when, ruleFeedCut)
			return
		}
		t.Logf("FollowRevocations ended with %v %s, as it may", err, when)
	}
	waitFor := func(what string, ids ...string) bool {
		t.Helper()
		deadline := time.After(feedWait)
		for {
			if !slices.ContainsFunc(ids, func(id string) bool { return !seen(id) }) {
				return true
			}
			select {
			case err := <-errc:
				ended(err, "while the suite waited for "+what)
				return false
			case <-time.After(feedHeartbeat / 4):
			case <-deadline:
				t.Errorf("FollowRevocations did not deliver %s within %v, nor end; %s", what, feedWait, ruleFeedCut)
				return false
			}
		}
	}
	w.token(t, "alice", "cut-before", at(hour))
	if !waitFor("the change written before the cut", "cut-before") {
		return
	}
	link.Cut()
	w.token(t, "alice", cutWrites[0], at(hour))
	w.session(t, "bob", cutWrites[1], at(hour))
	written := time.Now()
	time.Sleep(6 * feedHeartbeat) // heartbeats without the backend
	restored := time.Now()
	link.Restore()
	w.token(t, "alice", "cut-after", at(hour))
	waitFor("the changes written while its connection was cut, and after", append(slices.Clone(cutWrites), "cut-after")...)

	mu.Lock()
	got, vouches, callOf := slices.Clone(order), slices.Clone(vouched), maps.Clone(call)
	mu.Unlock()
	// A call of fn vouches for the changes written a heartbeat before it
	// (ruleFeedVouch): one made while cut, two heartbeats after the
	// writes, without them, vouched for a copy that lacks them (found by
	// review: heartbeats from a local timer while cut passed).
	for _, c := range vouches {
		if c.After(written.Add(2*feedHeartbeat)) && c.Before(restored) {
			t.Errorf("FollowRevocations called fn %v after the changes written while its connection was cut, before it could read them: it vouched for a copy that lacks them; %s; %s", c.Sub(written).Round(time.Millisecond), ruleFeedCut, ruleFeedVouch)
			break
		}
	}
	// A change written after the cut, delivered without those written
	// during it in the same call or an earlier one, resumed past them,
	// whether or not the follower ended afterwards (found by review: one
	// that delivered the later change and then returned an error passed).
	if j, ok := callOf["cut-after"]; ok {
		for _, id := range cutWrites {
			if i, ok := callOf[id]; !ok || i > j {
				t.Errorf("FollowRevocations delivered %v: %s, written while its connection was cut, did not come with or before a change written once it was back; %s", got, id, ruleFeedCut)
			}
		}
	}
}
