package revmirror_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/authkit-go/authkit"
	"github.com/authkit-go/authkit/conformance"
	"github.com/authkit-go/authkit/internal/revmirror"
	"github.com/authkit-go/authkit/internal/revmirror/feedtest"
)

// fakeClock is the Mirror's Options.Clock: it stands still unless a test
// moves it, so freshness is judged exactly. Reading it takes no lock, like
// time.Now, so benchmarks measure the Mirror and not the clock.
type fakeClock struct{ t atomic.Pointer[time.Time] }

func newClock() *fakeClock {
	c := &fakeClock{}
	c.Set(time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC))
	return c
}

func (c *fakeClock) Now() time.Time { return *c.t.Load() }

func (c *fakeClock) Set(t time.Time) { c.t.Store(&t) }

func (c *fakeClock) Advance(d time.Duration) { c.Set(c.Now().Add(d)) }

// Defaults for most tests: the real-time heartbeat is long, so the feed
// calls back only when something changes and the fake clock alone decides
// freshness; reconnection is quick.
const (
	testMaxLag    = 40 * time.Second
	testHeartbeat = 10 * time.Second
)

func options(clk *fakeClock) revmirror.Options {
	return revmirror.Options{
		MaxLag:     testMaxLag,
		Heartbeat:  testHeartbeat,
		Clock:      clk.Now,
		MinBackoff: time.Millisecond,
		MaxBackoff: 5 * time.Millisecond,
	}
}

// start makes a Mirror of store and closes it at the end of the test,
// checking that its follower is gone by then.
func start(t *testing.T, store *feedtest.Store, o revmirror.Options) *revmirror.Mirror {
	t.Helper()
	m, err := revmirror.New(store, o)
	if err != nil {
		t.Fatalf("revmirror.New: %v", err)
	}
	t.Cleanup(func() {
		m.Close()
		if n := store.Followers(); n != 0 {
			t.Errorf("after Close, %d FollowRevocations calls are still running; Close must stop the follower", n)
		}
	})
	return m
}

// waitFor polls cond until it holds, failing t after a generous deadline.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

func waitFresh(t *testing.T, m *revmirror.Mirror) {
	t.Helper()
	waitFor(t, "the first snapshot", func() bool { return m.Stats().Fresh })
}

// freshMirror starts a Mirror of a new store with options(clk), waits for
// its first snapshot, and returns the clock, its time at the start, the
// store and the Mirror.
func freshMirror(t *testing.T) (*fakeClock, time.Time, *feedtest.Store, *revmirror.Mirror) {
	t.Helper()
	clk := newClock()
	t0 := clk.Now()
	store := feedtest.New()
	m := start(t, store, options(clk))
	waitFresh(t, m)
	return clk, t0, store, m
}

func waitEntries(t *testing.T, m *revmirror.Mirror, n int) {
	t.Helper()
	waitFor(t, fmt.Sprintf("%d entries in the copy", n), func() bool { return m.Stats().Entries == n })
}

func q(jti, sid, subject string, iat time.Time) authkit.RevocationQuery {
	return authkit.RevocationQuery{TokenID: jti, SessionID: sid, Subject: subject, IssuedAt: iat}
}

// wantDead fails t unless m answers want, without error.
func wantDead(t *testing.T, m authkit.RevocationStore, query authkit.RevocationQuery, now time.Time, want bool, why string) {
	t.Helper()
	dead, err := m.IsRevoked(t.Context(), query, now)
	if err != nil {
		t.Fatalf("IsRevoked(%+v): %v (%s)", query, err, why)
	}
	if dead != want {
		t.Errorf("IsRevoked(jti %q, sid %q, subject %q) = %v, want %v (%s)", query.TokenID, query.SessionID, query.Subject, dead, want, why)
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// The copy answers by itself: every kind written before the snapshot or
// delivered by the feed is seen with the store down, and no call reaches
// the store.
func TestFreshCopyAnswersWithoutTheStore(t *testing.T) {
	clk := newClock()
	now := clk.Now()
	store := feedtest.New()
	ctx := t.Context()
	must(t, store.RevokeToken(ctx, "alice", "jti-before", now.Add(time.Hour)))
	m := start(t, store, options(clk))
	waitFresh(t, m)

	other := store.Peer() // another node's handle
	must(t, other.RevokeSessionTokens(ctx, "alice", "sid-after", now.Add(time.Hour)))
	must(t, other.SetCutoff(ctx, "bob", now.Add(-time.Minute), now.Add(time.Hour)))
	waitEntries(t, m, 3)

	store.SetUnavailable(true)
	wantDead(t, m, q("jti-before", "", "alice", now), now, true, "revoked before the snapshot")
	wantDead(t, m, q("jti-x", "sid-after", "alice", now), now, true, "session revoked through the feed")
	wantDead(t, m, q("jti-y", "", "bob", now.Add(-2*time.Minute)), now, true, "issued before bob's cutoff")
	wantDead(t, m, q("jti-z", "", "bob", now), now, false, "issued after bob's cutoff")
	wantDead(t, m, q("jti-before", "", "mallory", now), now, false, "another subject")
	if s := m.Stats(); s.Fallbacks != 0 || !s.Fresh {
		t.Errorf("Stats = %+v; a fresh copy must answer without the store", s)
	}
}

// A write through the Mirror is in its copy when the write returns, before
// the feed delivers it.
func TestOwnWritesAreSeenAtOnce(t *testing.T) {
	clk := newClock()
	now := clk.Now()
	store := feedtest.New()
	m := start(t, store, options(clk))
	waitFresh(t, m)
	store.Pause(true) // the feed will not deliver them
	ctx := t.Context()
	must(t, m.RevokeToken(ctx, "alice", "jti-1", now.Add(time.Hour)))
	must(t, m.RevokeSessionTokens(ctx, "alice", "sid-1", now.Add(time.Hour)))
	must(t, m.SetCutoff(ctx, "bob", now, now.Add(time.Hour)))
	store.SetUnavailable(true)
	wantDead(t, m, q("jti-1", "", "alice", now), now, true, "revoked through the mirror")
	wantDead(t, m, q("jti-2", "sid-1", "alice", now), now, true, "session revoked through the mirror")
	wantDead(t, m, q("jti-3", "", "bob", now), now, true, "issued at bob's cutoff")
	if got := m.Stats().Fallbacks; got != 0 {
		t.Errorf("%d fallbacks; the copy should have answered", got)
	}
	// A write the store refuses is not in the copy either.
	if err := m.RevokeToken(ctx, "alice", "jti-refused", now.Add(time.Hour)); !errors.Is(err, authkit.ErrStoreUnavailable) {
		t.Fatalf("RevokeToken on a down store: %v", err)
	}
	wantDead(t, m, q("jti-refused", "", "alice", now), now, false, "the store refused the write")
}

// The heart of failing closed: a revocation that reached the store but not
// the copy (the feed is silent) is missed at most for MaxLag; after that
// the Mirror asks the store.
func TestStaleCopyNeverAnswersNotRevoked(t *testing.T) {
	clk := newClock()
	t0 := clk.Now()
	store := feedtest.New()
	m := start(t, store, options(clk))
	waitFresh(t, m)
	store.Pause(true)
	must(t, store.Peer().RevokeToken(t.Context(), "alice", "jti-late", t0.Add(time.Hour)))
	late := q("jti-late", "", "alice", t0)

	covered := m.Stats().Covered
	clk.Set(covered.Add(testMaxLag))
	wantDead(t, m, late, clk.Now(), false, "the copy is exactly MaxLag old: still trusted, and it lacks the revocation")
	if m.Stats().Fallbacks != 0 {
		t.Fatal("a copy exactly MaxLag old asked the store")
	}
	clk.Set(covered.Add(testMaxLag + time.Nanosecond))
	wantDead(t, m, late, clk.Now(), true, "the copy is older than MaxLag: the store must answer")
	if s := m.Stats(); s.Fresh || s.Fallbacks != 1 {
		t.Errorf("Stats = %+v, want a stale copy and one fallback", s)
	}
}

// Stale copy, store down: refuse, never "not revoked". A revocation the
// stale copy holds is still an answer (it cannot have come back to life).
func TestStaleCopyAndDownStoreRefuse(t *testing.T) {
	clk := newClock()
	t0 := clk.Now()
	store := feedtest.New()
	must(t, store.RevokeToken(t.Context(), "alice", "jti-known", t0.Add(time.Hour)))
	m := start(t, store, options(clk))
	waitFresh(t, m)
	store.SetUnavailable(true)
	clk.Advance(testMaxLag + time.Second)

	dead, err := m.IsRevoked(t.Context(), q("jti-other", "", "alice", t0), clk.Now())
	if !errors.Is(err, authkit.ErrStoreUnavailable) || dead {
		t.Errorf("IsRevoked with a stale copy and a down store = (%v, %v), want (false, ErrStoreUnavailable)", dead, err)
	}
	wantDead(t, m, q("jti-known", "", "alice", t0), clk.Now(), true, "the stale copy knows it is revoked")
}

// Before the first snapshot the copy vouches for nothing.
func TestNoSnapshotYetAsksTheStore(t *testing.T) {
	clk := newClock()
	now := clk.Now()
	store := feedtest.New()
	store.BreakFeed(true) // no snapshot can be taken
	must(t, store.RevokeToken(t.Context(), "alice", "jti-1", now.Add(time.Hour)))
	m := start(t, store, options(clk))
	wantDead(t, m, q("jti-1", "", "alice", now), now, true, "no snapshot yet: the store answers")
	wantDead(t, m, q("jti-2", "", "alice", now), now, false, "no snapshot yet: the store answers")
	if s := m.Stats(); s.Fresh || s.Fallbacks != 2 || s.Snapshots != 0 {
		t.Errorf("Stats = %+v, want not fresh, 2 fallbacks, no snapshot", s)
	}
	store.BreakFeed(false)
	waitFresh(t, m)
	if got := m.Stats().Snapshots; got != 1 {
		t.Errorf("%d snapshots after the feed came back, want 1", got)
	}
}

// A feed error: reconnect from the last position, catch up on what was
// written meanwhile, without a new snapshot.
func TestReconnectCatchesUpWithoutAGap(t *testing.T) {
	clk := newClock()
	now := clk.Now()
	store := feedtest.New()
	m := start(t, store, options(clk))
	waitFresh(t, m)
	waitFor(t, "the follower", func() bool { return store.Followers() == 1 })

	store.BreakFeed(true)
	waitFor(t, "the follower to drop", func() bool { return store.Followers() == 0 })
	other := store.Peer()
	for i := range 20 {
		must(t, other.RevokeToken(t.Context(), "alice", fmt.Sprint("jti-", i), now.Add(time.Hour)))
	}
	store.BreakFeed(false)
	waitEntries(t, m, 20)
	s := m.Stats()
	if s.Snapshots != 1 || s.Reconnects == 0 {
		t.Errorf("Stats = %+v, want one snapshot and at least one reconnection", s)
	}
	store.SetUnavailable(true)
	for i := range 20 {
		wantDead(t, m, q(fmt.Sprint("jti-", i), "", "alice", now), now, true, "revoked while the feed was down")
	}
}

// A lost position (the log was trimmed while the Mirror was away): a new
// snapshot brings in what the feed can no longer deliver.
func TestLostPositionTakesANewSnapshot(t *testing.T) {
	clk := newClock()
	now := clk.Now()
	store := feedtest.New()
	m := start(t, store, options(clk))
	waitFresh(t, m)
	store.BreakFeed(true)
	waitFor(t, "the follower to drop", func() bool { return store.Followers() == 0 })
	must(t, store.Peer().SetCutoff(t.Context(), "alice", now, now.Add(time.Hour)))
	store.TrimLog()
	store.BreakFeed(false)
	waitFor(t, "a second snapshot", func() bool { return m.Stats().Snapshots == 2 })
	store.SetUnavailable(true)
	wantDead(t, m, q("jti-1", "", "alice", now), now, true, "the cutoff came in with the new snapshot")
}

// A write through the Mirror while a new snapshot is being read is not
// lost when the new copy replaces the old one.
func TestOwnWriteDuringSnapshotIsKept(t *testing.T) {
	clk := newClock()
	now := clk.Now()
	store := feedtest.New()
	store.Pause(true)
	started, release := make(chan struct{}), make(chan struct{})
	store.OnSnapshot(func() {
		started <- struct{}{}
		<-release
	})
	m := start(t, store, options(clk))
	<-started
	must(t, m.RevokeToken(t.Context(), "alice", "jti-during", now.Add(time.Hour)))
	store.OnSnapshot(nil)
	close(release)
	waitFresh(t, m)
	store.SetUnavailable(true)
	wantDead(t, m, q("jti-during", "", "alice", now), now, true, "written while the snapshot was read")
}

// Expired entries leave the copy: memory follows what is in force.
func TestExpiredEntriesLeave(t *testing.T) {
	clk := newClock()
	t0 := clk.Now()
	store := feedtest.New()
	ctx := t.Context()
	for i := range 300 {
		must(t, store.RevokeToken(ctx, "alice", fmt.Sprint("short-", i), t0.Add(time.Minute)))
	}
	must(t, store.SetCutoff(ctx, "bob", t0, t0.Add(time.Minute)))
	must(t, store.RevokeSessionTokens(ctx, "alice", "long", t0.Add(time.Hour)))
	m := start(t, store, options(clk))
	waitEntries(t, m, 302)

	clk.Advance(2 * time.Minute)
	// Any call of the feed sweeps; a change is one.
	must(t, store.Peer().RevokeToken(ctx, "carol", "jti-new", t0.Add(time.Hour)))
	waitEntries(t, m, 2)
	// An entry already expired when it arrives is not kept at all.
	must(t, store.Peer().RevokeToken(ctx, "carol", "jti-old", t0.Add(time.Minute)))
	must(t, store.Peer().RevokeToken(ctx, "carol", "jti-new2", t0.Add(time.Hour)))
	waitEntries(t, m, 3)
}

// A wall clock stepped back an hour while the feed stays healthy: the
// copy used to keep the covered time from before the step, an hour ahead
// of the clock, and stay stale (every check on the store, refused with the
// store down) for the whole hour (found by review). The clock here has no
// monotonic reading, so only the wall clock can tell.
func TestClockStepsBack(t *testing.T) {
	var off atomic.Int64
	clock := func() time.Time { return time.Now().Add(time.Duration(off.Load())).Round(0) }
	store := feedtest.New()
	m, err := revmirror.New(store, revmirror.Options{MaxLag: 400 * time.Millisecond, Heartbeat: 50 * time.Millisecond, Clock: clock})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	waitFresh(t, m)
	off.Store(int64(-time.Hour))
	waitFresh(t, m)
	store.SetUnavailable(true)
	if dead, err := m.IsRevoked(t.Context(), q("j", "", "alice", time.Now()), time.Now()); dead || err != nil {
		t.Errorf("IsRevoked from a fresh copy with the store down = %v, %v; want false, nil", dead, err)
	}
}

// A feed that stays connected but silent is dropped and reconnected.
func TestSilentFeedIsReconnected(t *testing.T) {
	store := feedtest.New()
	m := start(t, store, revmirror.Options{MaxLag: 40 * time.Millisecond, MinBackoff: time.Millisecond})
	waitFresh(t, m)
	store.Pause(true)
	waitFor(t, "a reconnection", func() bool { return m.Stats().Reconnects >= 1 })
	waitFor(t, "the copy to go stale", func() bool { return !m.Stats().Fresh })
	store.Pause(false)
	waitFresh(t, m)
}

// badKind delivers a revocation of a kind the Mirror does not know, in
// its snapshot or in its feed.
type badKind struct {
	*feedtest.Store
	inSnapshot bool
	snapshots  *atomic.Int32
}

func (b badKind) RevocationSnapshot(ctx context.Context, now time.Time, fn func(authkit.Revocation) error) (authkit.FeedPosition, error) {
	b.snapshots.Add(1)
	if b.inSnapshot {
		if err := fn(authkit.Revocation{Kind: 99, Subject: "alice", Until: now.Add(time.Hour)}); err != nil {
			return "", err
		}
	}
	return b.Store.RevocationSnapshot(ctx, now, fn)
}

func (b badKind) FollowRevocations(ctx context.Context, after authkit.FeedPosition, hb time.Duration, fn func([]authkit.Revocation, authkit.FeedPosition) error) error {
	return b.Store.FollowRevocations(ctx, after, hb, func(rs []authkit.Revocation, p authkit.FeedPosition) error {
		return fn(append(rs, authkit.Revocation{Kind: 99, Subject: "alice", Until: time.Now().Add(time.Hour)}), p)
	})
}

// A change the Mirror cannot apply is never skipped: the copy stops
// being refreshed and goes stale, and the store answers.
func TestUnknownKindFailsClosed(t *testing.T) {
	for _, inSnapshot := range []bool{true, false} {
		t.Run(fmt.Sprint("inSnapshot=", inSnapshot), func(t *testing.T) {
			clk := newClock()
			now := clk.Now()
			store := feedtest.New()
			b := badKind{store, inSnapshot, new(atomic.Int32)}
			m, err := revmirror.New(b, options(clk))
			must(t, err)
			defer m.Close()
			jti1 := q("jti-1", "", "alice", now)
			if inSnapshot {
				waitFor(t, "the snapshot to be retried", func() bool { return b.snapshots.Load() >= 3 })
				if s := m.Stats(); s.Snapshots != 0 || s.Fresh {
					t.Fatalf("Stats = %+v; a snapshot with an unknown kind must not be taken", s)
				}
			} else {
				waitFresh(t, m)
				must(t, store.RevokeToken(t.Context(), "alice", "jti-1", now.Add(time.Hour)))
				waitFor(t, "the follower to fail and retry", func() bool { return m.Stats().Reconnects >= 2 })
				wantDead(t, m, jti1, now, false, "the batch with an unknown kind was not applied, and the copy is still within MaxLag")
			}
			clk.Advance(testMaxLag + time.Second)
			must(t, store.RevokeToken(t.Context(), "alice", "jti-1", now.Add(time.Hour)))
			wantDead(t, m, jti1, clk.Now(), true, "the copy is stale: the store answers")
			if s := m.Stats(); s.Fresh || s.Fallbacks == 0 {
				t.Errorf("Stats = %+v, want a stale copy that asked the store", s)
			}
		})
	}
}

// After Close the follower is gone (start's cleanup checks it) and the
// Mirror asks the store.
func TestCloseStopsTheFollower(t *testing.T) {
	clk := newClock()
	now := clk.Now()
	store := feedtest.New()
	m, err := revmirror.New(store, options(clk))
	must(t, err)
	waitFresh(t, m)
	waitFor(t, "the follower", func() bool { return store.Followers() == 1 })
	must(t, m.Close())
	if n := store.Followers(); n != 0 {
		t.Fatalf("%d followers after Close returned, want 0", n)
	}
	must(t, m.Close()) // idempotent
	must(t, store.RevokeToken(t.Context(), "alice", "jti-1", now.Add(time.Hour)))
	wantDead(t, m, q("jti-1", "", "alice", now), now, true, "closed: the store answers")
	if s := m.Stats(); s.Fresh || s.Fallbacks != 1 {
		t.Errorf("Stats after Close = %+v, want not fresh and one fallback", s)
	}
}

// Many readers while the copy changes under them, through the feed and
// through the Mirror, and the feed breaks and mends: run with -race.
func TestConcurrentUse(t *testing.T) {
	clk := newClock()
	now := clk.Now()
	store := feedtest.New()
	m := start(t, store, options(clk))
	waitFresh(t, m)
	ctx := t.Context()
	const writes = 200
	var readers, writers sync.WaitGroup
	stop := make(chan struct{})
	for r := range 6 {
		readers.Go(func() {
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				if _, err := m.IsRevoked(ctx, q(fmt.Sprint("jti-", (i+r)%writes), "sid", "alice", now), now); err != nil {
					t.Errorf("IsRevoked: %v", err)
					return
				}
			}
		})
	}
	other := store.Peer()
	for i, s := range []authkit.RevocationStore{other, m} {
		writers.Go(func() {
			for j := i; j < writes; j += 2 {
				if err := s.RevokeToken(ctx, "alice", fmt.Sprint("jti-", j), now.Add(time.Hour)); err != nil {
					t.Errorf("RevokeToken: %v", err)
				}
			}
		})
	}
	writers.Go(func() {
		for range 5 {
			store.BreakFeed(true)
			time.Sleep(time.Millisecond)
			store.BreakFeed(false)
			time.Sleep(2 * time.Millisecond)
		}
	})
	writers.Wait()
	waitEntries(t, m, writes)
	close(stop)
	readers.Wait()
	store.SetUnavailable(true)
	for i := range writes {
		wantDead(t, m, q(fmt.Sprint("jti-", i), "", "alice", now), now, true, "every write reached the copy")
	}
}

func TestNewRejects(t *testing.T) {
	plain := struct{ authkit.RevocationStore }{feedtest.New()}
	for _, c := range []struct {
		name  string
		store authkit.RevocationStore
		o     revmirror.Options
	}{
		{"nil store", nil, revmirror.Options{MaxLag: time.Second}},
		{"no feed", plain, revmirror.Options{MaxLag: time.Second}},
		{"no MaxLag", feedtest.New(), revmirror.Options{}},
		{"negative MaxLag", feedtest.New(), revmirror.Options{MaxLag: -time.Second}},
		{"heartbeat not shorter", feedtest.New(), revmirror.Options{MaxLag: time.Second, Heartbeat: time.Second}},
		{"negative heartbeat", feedtest.New(), revmirror.Options{MaxLag: time.Second, Heartbeat: -1}},
	} {
		m, err := revmirror.New(c.store, c.o)
		if !errors.Is(err, authkit.ErrInvalidConfig) || m != nil {
			t.Errorf("%s: New = (%v, %v), want ErrInvalidConfig", c.name, m, err)
		}
	}
}

// The Mirror is a RevocationStore decorator, so it passes the store
// contract on top of the store, with one relaxation: a write through
// another handle reaches it within MaxLag, not at once, so the harness
// has no Peer (the Mirror sees its own writes at once), and says it is
// in-process, as the reference feed under it is.
func TestConformance(t *testing.T) {
	mirror := func(t *testing.T, store *feedtest.Store) *revmirror.Mirror {
		return start(t, store, revmirror.Options{MaxLag: time.Minute, MinBackoff: time.Millisecond})
	}
	conformance.RunRevocationStore(t, conformance.PartialHarness[authkit.RevocationStore]{
		InProcess: true,
		New: func(t *testing.T) authkit.RevocationStore {
			m := mirror(t, feedtest.New())
			waitFresh(t, m)
			return m
		},
		Unavailable: func(t *testing.T) authkit.RevocationStore {
			store := feedtest.New()
			store.SetUnavailable(true)
			return mirror(t, store)
		},
	})
}

// A new snapshot that lacks what the old copy held (a store restored from
// a backup that holds its epoch marker: a loss it cannot see) does not
// un-revoke it: the copy keeps its entries until they expire.
func TestNewSnapshotKeepsWhatTheCopyHeld(t *testing.T) {
	clk := newClock()
	now := clk.Now()
	store := feedtest.New()
	ctx := t.Context()
	must(t, store.RevokeToken(ctx, "alice", "jti-1", now.Add(time.Hour)))
	must(t, store.RevokeSessionTokens(ctx, "bob", "sid-1", now.Add(time.Hour)))
	must(t, store.SetCutoff(ctx, "carol", now, now.Add(time.Hour)))
	must(t, store.RevokeToken(ctx, "dave", "jti-short", now.Add(time.Minute)))
	m := start(t, store, options(clk))
	waitFresh(t, m)
	store.RestoreBackup()
	waitFor(t, "a second snapshot", func() bool { return m.Stats().Snapshots == 2 })
	store.SetUnavailable(true)
	wantDead(t, m, q("jti-1", "", "alice", now), now, true, "revoked before the store lost it")
	wantDead(t, m, q("jti-2", "sid-1", "bob", now), now, true, "its session revoked before the store lost it")
	wantDead(t, m, q("jti-3", "", "carol", now), now, true, "cut off before the store lost it")
	wantDead(t, m, q("jti-short", "", "dave", now), now.Add(2*time.Minute), false, "its revocation expired")
	clk.Advance(2 * time.Hour)
	waitFor(t, "the carried entries to expire", func() bool { return m.Stats().Entries == 0 })
}

// The entry clock stepped two hours forward, then back: the step forward
// swept a revocation still in force by the corrected clock. Checks at the
// corrected time ask the store, and the next feed call takes a new
// snapshot that brings the revocation back (found by review: the copy,
// fresh again, said "not revoked" until the token expired). A check whose
// now was read before a sweep asks the store too.
func TestClockStepForwardAndBack(t *testing.T) {
	clk := newClock()
	t0 := clk.Now()
	store := feedtest.New()
	ctx := t.Context()
	must(t, store.RevokeToken(ctx, "alice", "jti-1", t0.Add(10*time.Minute)))
	m := start(t, store, options(clk))
	waitEntries(t, m, 1)

	clk.Advance(2 * time.Hour)
	must(t, store.Peer().RevokeToken(ctx, "carol", "jti-2", t0.Add(3*time.Hour))) // a feed call: it sweeps
	waitFor(t, "jti-1 swept and jti-2 in", func() bool {
		s := m.Stats()
		return s.Entries == 1 && s.Covered.After(t0.Add(time.Hour))
	})
	snaps := m.Stats().Snapshots

	clk.Set(t0)
	wantDead(t, m, q("jti-1", "", "alice", t0), t0, true, "revoked, checked at the corrected time")
	must(t, store.Peer().RevokeToken(ctx, "carol", "jti-3", t0.Add(time.Hour))) // a feed call
	waitFor(t, "a new snapshot after the step back", func() bool {
		s := m.Stats()
		return s.Snapshots > snaps && s.Fresh && s.Entries == 3
	})
	store.SetUnavailable(true)
	fallbacks := m.Stats().Fallbacks
	wantDead(t, m, q("jti-1", "", "alice", t0), t0, true, "revoked, from the new snapshot with the store down")
	wantDead(t, m, q("jti-4", "", "alice", t0), t0, false, "never revoked, from the copy")
	if s := m.Stats(); s.Fallbacks != fallbacks {
		t.Errorf("after the new snapshot, checks went to the store (%d fallbacks, was %d)", s.Fallbacks, fallbacks)
	}
	store.SetUnavailable(false)

	// A check whose now was read before a sweep that removed what it
	// asks about.
	must(t, store.RevokeToken(ctx, "dave", "jti-5", t0.Add(time.Minute)))
	waitFor(t, "jti-5 in", func() bool { return m.Stats().Entries == 4 })
	clk.Advance(5 * time.Minute)
	must(t, store.Peer().RevokeToken(ctx, "carol", "jti-6", t0.Add(time.Hour))) // a feed call: it sweeps jti-5
	waitFor(t, "jti-5 swept", func() bool {
		s := m.Stats()
		return s.Entries == 4 && s.Covered.After(t0.Add(4*time.Minute))
	})
	wantDead(t, m, q("jti-5", "", "dave", t0), t0.Add(30*time.Second), true, "a check whose now is before the sweep")
}

// A check whose now was read before a new snapshot, which the store built
// without what had expired by the snapshot's time, asks the store.
func TestCheckOlderThanTheSnapshot(t *testing.T) {
	clk, t0, store, m := freshMirror(t)
	ctx := t.Context()
	store.Pause(true)
	must(t, store.Peer().RevokeToken(ctx, "erin", "jti-e", t0.Add(90*time.Second)))
	clk.Advance(2 * time.Minute)
	store.TrimLog() // the follower's position is gone: a new snapshot
	store.Pause(false)
	waitFor(t, "a second snapshot", func() bool { return m.Stats().Snapshots == 2 })
	wantDead(t, m, q("jti-e", "", "erin", t0), t0.Add(80*time.Second), true, "a check whose now is before the snapshot")
}

// A later cutoff whose own until has passed still moves the cutoff of an
// entry in force, as the store merges it (found by review: it was left
// out, and tokens issued between the two cutoffs passed the copy).
func TestLaterCutoffWithPastUntil(t *testing.T) {
	_, t0, store, m := freshMirror(t)
	ctx := t.Context()
	must(t, store.Peer().SetCutoff(ctx, "bob", t0.Add(-time.Hour), t0.Add(time.Hour)))
	waitEntries(t, m, 1)
	for name, write := range map[string]authkit.RevocationStore{"the feed": store.Peer(), "the Mirror": m} {
		cutoff := t0.Add(-30 * time.Minute)
		if name == "the Mirror" {
			cutoff = t0.Add(-10 * time.Minute)
		}
		must(t, write.SetCutoff(ctx, "bob", cutoff, t0.Add(-time.Second)))
		query := q("j", "", "bob", cutoff.Add(-time.Minute))
		waitFor(t, "the later cutoff through "+name, func() bool {
			dead, err := m.IsRevoked(ctx, query, t0)
			return dead && err == nil
		})
		store.SetUnavailable(true)
		wantDead(t, m, query, t0, true, "issued before the later cutoff, through "+name)
		store.SetUnavailable(false)
	}
}

// A clock that steps back a little (less than the grace) right after a
// snapshot takes no new snapshot: checks at the earlier times go to the
// store until the clock catches up, and the feed goes on.
func TestSmallStepBackTakesNoSnapshot(t *testing.T) {
	clk, t0, store, m := freshMirror(t)
	ctx := t.Context()
	clk.Set(t0.Add(-10 * time.Second))
	must(t, store.Peer().RevokeToken(ctx, "alice", "jti-1", t0.Add(time.Hour)))
	waitEntries(t, m, 1)
	if s := m.Stats(); s.Snapshots != 1 {
		t.Errorf("Stats = %+v after a 10 s step back, want 1 snapshot", s)
	}
	wantDead(t, m, q("jti-1", "", "alice", clk.Now()), clk.Now(), true, "revoked through the feed after the step")
	wantDead(t, m, q("jti-2", "", "alice", clk.Now()), clk.Now(), false, "never revoked")
}

// TestMirrorCompacts: the Mirror's sweep compacts a copy whose entries
// have mostly expired (see TestStateCompact).
func TestMirrorCompacts(t *testing.T) {
	t.Parallel()
	clk, t0, _, m := freshMirror(t)
	for i := range 5000 {
		m.Apply(authkit.Revocation{Kind: authkit.RevokedToken, Subject: "alice", ID: fmt.Sprint("jti-", i), Until: t0.Add(time.Minute)})
	}
	m.Apply(authkit.Revocation{Kind: authkit.RevokedToken, Subject: "alice", ID: "kept", Until: t0.Add(time.Hour)})
	if n, peak := m.Held(); n != 5001 || peak != 5001 {
		t.Fatalf("held %d, peak %d; want 5001 and 5001", n, peak)
	}
	// A write that comes after the compacted copy was built is kept. (Set
	// before the clock moves: the follower sweeps too, and whichever sweep
	// compacts makes the write.)
	m.AfterCompactCopy(func() {
		m.Apply(authkit.Revocation{Kind: authkit.RevokedToken, Subject: "bob", ID: "late", Until: t0.Add(time.Hour)})
	})
	clk.Set(t0.Add(2 * time.Minute))
	m.Sweep()
	if n, peak := m.Held(); n != 2 || peak != 2 {
		t.Errorf("after the sweep: held %d, peak %d; want 2 and 2 (compacted, with the write made meanwhile)", n, peak)
	}
	// From the copy itself: with the clock moved on, IsRevoked may find
	// the copy stale and ask the store, which holds none of these.
	if !m.CopyDead(authkit.RevocationQuery{Subject: "bob", TokenID: "late", IssuedAt: t0}, clk.Now()) {
		t.Error("the write made while the copy was compacted is not in the copy")
	}
}

// TestMirrorCompactsUnderWrites: writes made through the Mirror while it
// compacts are kept, and do not make it give the compacted copy up (found
// by review: under a steady stream of writes every sweep copied the whole
// copy again and threw it away).
func TestMirrorCompactsUnderWrites(t *testing.T) {
	t.Parallel()
	clk, t0, _, m := freshMirror(t)
	const peak, kept = 100000, 20000
	for i := range peak {
		until := t0.Add(time.Minute)
		if i < kept {
			until = t0.Add(time.Hour)
		}
		m.Apply(authkit.Revocation{Kind: authkit.RevokedToken, Subject: "alice", ID: fmt.Sprint("jti-", i), Until: until})
	}
	clk.Set(t0.Add(2 * time.Minute))
	stop := make(chan struct{})
	started := make(chan struct{})
	wrote := make(chan int)
	go func() {
		n := 0
		for ; n < peak/4-kept; n++ { // so that the copy stays small enough to compact
			select {
			case <-stop:
				wrote <- n
				return
			default:
			}
			m.Apply(authkit.Revocation{Kind: authkit.RevokedToken, Subject: "bob", ID: fmt.Sprint("w-", n), Until: t0.Add(time.Hour)})
			if n == 10 {
				close(started)
			}
			runtime.Gosched()
		}
		<-stop
		wrote <- n
	}()
	<-started
	m.Sweep()
	close(stop)
	n := <-wrote
	held, p := m.Held()
	if held != kept+n || p >= peak {
		t.Errorf("after a sweep under %d writes: held %d, peak %d; want %d held and the copy compacted", n, held, p, kept+n)
	}
	now := clk.Now()
	for i := range n {
		if !m.CopyDead(authkit.RevocationQuery{Subject: "bob", TokenID: fmt.Sprint("w-", i), IssuedAt: t0}, now) {
			t.Fatalf("write %d of %d made during the compaction is not in the copy", i, n)
		}
	}
}

// TestMirrorCompactKeepsHeap: a write that moves an entry's until while
// the compacted copy waits to replace the copy leaves the compacted
// copy's expiry order intact (found by review: the entries were shared,
// the write reordered the old copy's heap only, and the compacted copy's
// sweep then stopped at the moved entry, or a later write panicked).
func TestMirrorCompactKeepsHeap(t *testing.T) {
	t.Parallel()
	clk, t0, _, m := freshMirror(t)
	for i := range 5000 {
		m.Apply(authkit.Revocation{Kind: authkit.RevokedToken, Subject: "alice", ID: fmt.Sprint("jti-", i), Until: t0.Add(time.Minute)})
	}
	for i, d := range []time.Duration{10 * time.Minute, 20 * time.Minute, 30 * time.Minute} {
		m.Apply(authkit.Revocation{Kind: authkit.RevokedToken, Subject: "alice", ID: fmt.Sprint("k", i+1), Until: t0.Add(d)})
	}
	m.AfterCompactCopy(func() {
		m.Apply(authkit.Revocation{Kind: authkit.RevokedToken, Subject: "alice", ID: "k1", Until: t0.Add(5 * time.Hour)})
	})
	clk.Set(t0.Add(2 * time.Minute))
	m.Sweep()
	if n, peak := m.Held(); n != 3 || peak != 3 {
		t.Fatalf("after the compacting sweep: held %d, peak %d; want 3 and 3", n, peak)
	}
	// k2 and k3 expire; k1, moved on, stays.
	clk.Set(t0.Add(time.Hour))
	m.Sweep()
	if n, _ := m.Held(); n != 1 {
		t.Errorf("at 1 h: held %d, want 1 (k1)", n)
	}
	if !m.CopyDead(authkit.RevocationQuery{Subject: "alice", TokenID: "k1", IssuedAt: t0}, clk.Now()) {
		t.Error("k1, revoked until 5 h, is not in the copy at 1 h")
	}
	// More writes that move entries must not panic.
	for i := range 100 {
		m.Apply(authkit.Revocation{Kind: authkit.RevokedToken, Subject: "alice", ID: "k1", Until: t0.Add(5*time.Hour + time.Duration(i)*time.Second)})
		m.Apply(authkit.Revocation{Kind: authkit.RevokedToken, Subject: "bob", ID: fmt.Sprint("n", i), Until: t0.Add(2 * time.Hour)})
	}
}

// lockedLog is a log's output, written by the follower's goroutine and
// read by the test.
type lockedLog struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *lockedLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *lockedLog) count(s string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return strings.Count(l.buf.String(), s)
}

// Once the feed is followed again after failing, the Mirror says so, once
// per run of failures (found by review: the warnings stopped and nothing
// told an operator the outage had ended); a Mirror that never failed says
// nothing of the kind.
func TestLogsRecovery(t *testing.T) {
	const again = "following the feed again"
	var out lockedLog
	store := feedtest.New()
	o := options(newClock())
	o.Logger = slog.New(slog.NewTextHandler(&out, nil))
	o.Heartbeat = 10 * time.Millisecond // a feed call every 10 ms
	m := start(t, store, o)
	waitFresh(t, m)
	waitFor(t, "the follower", func() bool { return store.Followers() == 1 })
	time.Sleep(10 * o.Heartbeat)
	if n := out.count(again); n != 0 {
		t.Fatalf("a Mirror that never failed logged %q %d times:\n%s", again, n, out.buf.String())
	}
	for round := 1; round <= 2; round++ {
		store.BreakFeed(true)
		waitFor(t, "warnings", func() bool { return out.count("feed failed") >= 2*round })
		store.BreakFeed(false)
		waitFor(t, "the recovery's line", func() bool { return out.count(again) == round })
		time.Sleep(10 * o.Heartbeat) // heartbeats, each a feed call
		if n := out.count(again); n != round {
			t.Fatalf("after %d outages, %q logged %d times:\n%s", round, again, n, out.buf.String())
		}
	}
}

// slowFeed calls back every every, whatever heartbeat it is asked for.
type slowFeed struct {
	*feedtest.Store
	every time.Duration
}

func (f slowFeed) FollowRevocations(ctx context.Context, after authkit.FeedPosition, _ time.Duration, fn func([]authkit.Revocation, authkit.FeedPosition) error) error {
	return f.Store.FollowRevocations(ctx, after, f.every, fn)
}

// A feed that calls back less often than the copy stays fresh after a call
// (MaxLag less a heartbeat), though more often than MaxLag, is reconnected
// with a warning: before, the watchdog waited MaxLag, and the copy was
// stale much of the time, every check on the store, with nothing logged
// (found by review).
func TestSlowFeedIsWarnedOf(t *testing.T) {
	var out lockedLog
	m, err := revmirror.New(slowFeed{feedtest.New(), 330 * time.Millisecond}, revmirror.Options{
		MaxLag:     400 * time.Millisecond,
		Heartbeat:  100 * time.Millisecond, // fresh for 300 ms after a call
		MinBackoff: time.Millisecond,
		MaxBackoff: 5 * time.Millisecond,
		Logger:     slog.New(slog.NewTextHandler(&out, nil)),
	})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	waitFor(t, "a warning of the silent feed", func() bool { return out.count("stayed silent") >= 1 })
}
