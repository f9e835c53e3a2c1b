package memory_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/authkit-go/authkit"
	"github.com/authkit-go/authkit/backends/memory"
)

// deliveryBound bounds every wait for something the feed pushes. It is a
// correctness bound, far above what a push takes, not a measure of speed:
// the heartbeats in these tests are an hour, so a feed that only looked at
// its log on a heartbeat would miss it by far.
const deliveryBound = 5 * time.Second

// batch is one call of a FollowRevocations callback.
type batch struct {
	changes []authkit.Revocation
	pos     authkit.FeedPosition
}

// follow runs FollowRevocations from after in a goroutine, sending each
// call of fn to the returned channel, and stops it at the end of the test,
// checking that it returned an error matching context.Canceled by then.
func follow(t *testing.T, s *memory.Store, after authkit.FeedPosition, heartbeat time.Duration) <-chan batch {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	calls := make(chan batch, 1024)
	done := make(chan error, 1)
	go func() {
		done <- s.FollowRevocations(ctx, after, heartbeat, func(rs []authkit.Revocation, pos authkit.FeedPosition) error {
			calls <- batch{rs, pos}
			return nil
		})
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if !errors.Is(err, context.Canceled) {
				t.Errorf("FollowRevocations returned %v when its ctx was cancelled, want context.Canceled", err)
			}
		case <-time.After(deliveryBound):
			t.Errorf("FollowRevocations did not return within %v of its ctx being cancelled", deliveryBound)
		}
	})
	return calls
}

// next waits for the next call of a follower's fn.
func next(t *testing.T, calls <-chan batch, what string) batch {
	t.Helper()
	select {
	case b := <-calls:
		return b
	case <-time.After(deliveryBound):
		t.Fatalf("no call of fn within %v: %s", deliveryBound, what)
		return batch{}
	}
}

// waitUntilWaiting waits until a follower of s has read everything and
// waits for a write to wake it.
func waitUntilWaiting(t *testing.T, s *memory.Store) {
	t.Helper()
	deadline := time.Now().Add(deliveryBound)
	for !memory.FeedWaiting(s) {
		if time.Now().After(deadline) {
			t.Fatalf("no follower went to wait for a write within %v", deliveryBound)
		}
		time.Sleep(time.Millisecond)
	}
}

func snapshot(t *testing.T, s *memory.Store, now time.Time) ([]authkit.Revocation, authkit.FeedPosition) {
	t.Helper()
	var in []authkit.Revocation
	pos, err := s.RevocationSnapshot(context.Background(), now, func(r authkit.Revocation) error {
		in = append(in, r)
		return nil
	})
	if err != nil || pos == "" {
		t.Fatalf("RevocationSnapshot = %q, %v", pos, err)
	}
	return in, pos
}

// TestFeedPush checks that a write reaches a waiting follower at once,
// not at its next heartbeat (an hour away), and that each change carries
// the write's own arguments to the nanosecond, in UTC.
func TestFeedPush(t *testing.T) {
	s := memory.New()
	ctx := context.Background()
	_, pos := snapshot(t, s, base)
	calls := follow(t, s, pos, time.Hour)

	paris, err := time.LoadLocation("Europe/Paris")
	if err != nil {
		paris = time.FixedZone("CET", 3600)
	}
	until := base.Add(time.Hour + 123456789*time.Nanosecond).In(paris)
	cutoff := base.Add(-987654321 * time.Nanosecond).In(paris)
	writes := []struct {
		write func() error
		want  authkit.Revocation
	}{
		{func() error { return s.RevokeToken(ctx, "alice", "jti-1", until) },
			authkit.Revocation{Kind: authkit.RevokedToken, Subject: "alice", ID: "jti-1", Until: until.UTC()}},
		{func() error { return s.RevokeSessionTokens(ctx, "alice", "sid-1", until) },
			authkit.Revocation{Kind: authkit.RevokedSession, Subject: "alice", ID: "sid-1", Until: until.UTC()}},
		{func() error { return s.SetCutoff(ctx, "bob", cutoff, until) },
			authkit.Revocation{Kind: authkit.RevokedBefore, Subject: "bob", Cutoff: cutoff.UTC(), Until: until.UTC()}},
		// An earlier until changes no state, but is a change all the same.
		{func() error { return s.RevokeToken(ctx, "alice", "jti-1", base) },
			authkit.Revocation{Kind: authkit.RevokedToken, Subject: "alice", ID: "jti-1", Until: base}},
	}
	// One at a time: each write lands while the follower waits, having
	// delivered the one before.
	for i, w := range writes {
		waitUntilWaiting(t, s)
		if err := w.write(); err != nil {
			t.Fatalf("write %d: %v", i, err)
		}
		got := next(t, calls, fmt.Sprintf("write %d was not pushed to the waiting follower", i))
		if len(got.changes) != 1 || got.changes[0] != w.want {
			t.Fatalf("write %d: fn got %+v, want exactly %+v", i, got.changes, w.want)
		}
		if got.pos == pos {
			t.Errorf("write %d: the position did not move past the change", i)
		}
		pos = got.pos
	}
}

// TestFeedFnMayCallTheStore checks that neither method holds the Store's
// lock while it calls fn: a callback that writes does not deadlock, and
// its write is delivered next.
func TestFeedFnMayCallTheStore(t *testing.T) {
	s := memory.New()
	ctx, cancel := context.WithTimeout(context.Background(), deliveryBound)
	defer cancel()
	if err := s.RevokeToken(ctx, "alice", "jti-1", base.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	pos, err := s.RevocationSnapshot(ctx, base, func(authkit.Revocation) error {
		return s.RevokeToken(ctx, "alice", "jti-from-snapshot", base.Add(time.Hour))
	})
	if err != nil {
		t.Fatalf("RevocationSnapshot with a callback that writes: %v", err)
	}
	var got []string
	err = s.FollowRevocations(ctx, pos, time.Hour, func(rs []authkit.Revocation, _ authkit.FeedPosition) error {
		for _, r := range rs {
			got = append(got, r.ID)
		}
		if len(got) == 1 {
			return s.RevokeToken(ctx, "alice", "jti-from-follow", base.Add(time.Hour))
		}
		return errStop
	})
	if !errors.Is(err, errStop) {
		t.Fatalf("FollowRevocations returned %v, want the callback's error", err)
	}
	if want := []string{"jti-from-snapshot", "jti-from-follow"}; strings.Join(got, ",") != strings.Join(want, ",") {
		t.Errorf("delivered %q, want %q", got, want)
	}
}

var errStop = errors.New("stop")

// TestFeedPositions checks that only this Store's own positions, in the
// form it gives them, are followed: a position of another Store (as after
// a restart of the process) or any variation of an own one is lost.
func TestFeedPositions(t *testing.T) {
	ctx := context.Background()
	s := memory.New()
	for i := range 12 {
		if err := s.RevokeToken(ctx, "alice", fmt.Sprint("jti-", i), base.Add(time.Hour)); err != nil {
			t.Fatal(err)
		}
	}
	_, pos := snapshot(t, s, base)
	_, other := snapshot(t, memory.New(), base)
	epoch, num, ok := strings.Cut(string(pos), ".")
	if !ok || num != "12" {
		t.Fatalf("position after 12 changes is %q; this test expects epoch.count", pos)
	}
	for _, bad := range []authkit.FeedPosition{
		other,                               // another store, or before a restart
		authkit.FeedPosition(epoch + ".13"), // past the end
		authkit.FeedPosition(epoch + ".012"),
		authkit.FeedPosition(epoch + ".+12"),
		authkit.FeedPosition(epoch + ".12 "),
		authkit.FeedPosition(epoch + ".-1"),
		authkit.FeedPosition(epoch + "."),
		authkit.FeedPosition(epoch + ".18446744073709551616"),
		authkit.FeedPosition(strings.ToLower(epoch) + ".12"),
		authkit.FeedPosition(epoch),
		"",
	} {
		called := false
		err := s.FollowRevocations(ctx, bad, time.Millisecond, func([]authkit.Revocation, authkit.FeedPosition) error {
			called = true
			return errStop
		})
		if !errors.Is(err, authkit.ErrFeedPositionLost) || called {
			t.Errorf("FollowRevocations(%q) = %v, called fn %v; want ErrFeedPositionLost without a call", bad, err, called)
		}
	}
	// Every position from 0 to the end is good.
	for _, good := range []string{"0", "5", "12"} {
		err := s.FollowRevocations(ctx, authkit.FeedPosition(epoch+"."+good), time.Millisecond, func([]authkit.Revocation, authkit.FeedPosition) error { return errStop })
		if !errors.Is(err, errStop) {
			t.Errorf("FollowRevocations(%q) = %v, want it to follow (and return fn's error)", epoch+"."+good, err)
		}
	}
	err := s.FollowRevocations(ctx, pos, 0, func([]authkit.Revocation, authkit.FeedPosition) error { return nil })
	if err == nil || errors.Is(err, authkit.ErrFeedPositionLost) {
		t.Errorf("FollowRevocations with heartbeat 0 = %v, want an error other than ErrFeedPositionLost", err)
	}
}

// TestFeedLogLimit checks that the log keeps at least its limit and drops
// what lies beyond: a position it no longer covers is lost, before
// following and while following.
func TestFeedLogLimit(t *testing.T) {
	const limit = 1024
	// A feed that failed to trim would follow for ever: the deadline
	// turns that into a failure.
	ctx, cancel := context.WithTimeout(context.Background(), 2*deliveryBound)
	defer cancel()
	s := memory.New(memory.WithFeedLogLimit(limit), memory.WithFeedRetention(time.Hour))
	write := func(n int, prefix string) {
		t.Helper()
		for i := range n {
			if err := s.RevokeToken(ctx, "alice", fmt.Sprint(prefix, i), base.Add(time.Hour)); err != nil {
				t.Fatal(err)
			}
		}
	}
	_, p0 := snapshot(t, s, base)

	t.Run("KeepsTheLimit", func(t *testing.T) {
		write(limit, "a-")
		got := 0
		err := s.FollowRevocations(ctx, p0, time.Hour, func(rs []authkit.Revocation, _ authkit.FeedPosition) error {
			got += len(rs)
			return errStop
		})
		if !errors.Is(err, errStop) || got != limit {
			t.Fatalf("following from the start after %d writes: %v, %d changes; want all of them (the limit)", limit, err, got)
		}
	})

	t.Run("DropsBeyond", func(t *testing.T) {
		_, p1 := snapshot(t, s, base)
		write(2*limit, "b-")
		err := s.FollowRevocations(ctx, p0, time.Hour, func([]authkit.Revocation, authkit.FeedPosition) error {
			t.Error("fn was called for a trimmed position")
			return errStop
		})
		if !errors.Is(err, authkit.ErrFeedPositionLost) {
			t.Errorf("following from %d changes before the end, with a limit of %d: %v, want ErrFeedPositionLost", 3*limit, limit, err)
		}
		if err := s.FollowRevocations(ctx, p1, time.Hour, func([]authkit.Revocation, authkit.FeedPosition) error { return errStop }); !errors.Is(err, authkit.ErrFeedPositionLost) {
			t.Errorf("following from %d changes before the end, with a limit of %d: %v, want ErrFeedPositionLost", 2*limit, limit, err)
		}
		// The snapshot stays whole: the entries do not depend on the log.
		in, p2 := snapshot(t, s, base)
		if len(in) != 3*limit {
			t.Errorf("the snapshot holds %d entries, want %d", len(in), 3*limit)
		}
		if err := s.FollowRevocations(ctx, p2, time.Millisecond, func([]authkit.Revocation, authkit.FeedPosition) error { return errStop }); !errors.Is(err, errStop) {
			t.Errorf("following from a fresh snapshot: %v, want it to follow", err)
		}
	})

	t.Run("LostWhileFollowing", func(t *testing.T) {
		_, p := snapshot(t, s, base)
		write(1, "c-")
		// The follower takes the first change, and while its fn is busy
		// the log moves on by more than the limit.
		calls := 0
		err := s.FollowRevocations(ctx, p, time.Hour, func(rs []authkit.Revocation, _ authkit.FeedPosition) error {
			calls++
			if calls == 1 {
				write(2*limit, "d-")
			}
			return nil
		})
		if !errors.Is(err, authkit.ErrFeedPositionLost) || calls != 1 {
			t.Errorf("a follower left behind by the limit: %v after %d calls, want ErrFeedPositionLost after 1", err, calls)
		}
	})
}

// TestFeedContext checks that a snapshot taken with a ctx that ends
// midway stops with ctx's error rather than call fn for every entry.
func TestFeedContext(t *testing.T) {
	s := memory.New()
	for i := range 2000 {
		if err := s.RevokeToken(context.Background(), "alice", fmt.Sprint("jti-", i), base.Add(time.Hour)); err != nil {
			t.Fatal(err)
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	calls := 0
	_, err := s.RevocationSnapshot(ctx, base, func(authkit.Revocation) error {
		calls++
		if calls == 10 {
			cancel()
		}
		return nil
	})
	if !errors.Is(err, context.Canceled) || calls >= 2000 {
		t.Errorf("RevocationSnapshot cancelled after 10 entries: %v after %d calls, want context.Canceled well before 2000", err, calls)
	}
}
