package revmirror_test

import (
	"sync/atomic"
	"testing"
	"time"
	"unsafe"

	"github.com/authkit-go/authkit/internal/revmirror"
	"github.com/authkit-go/authkit/internal/revmirror/feedtest"
)

// rawTime is time.Time's layout: a wall word (with hasMonotonic, the top
// bit, set: 33 bits of seconds since 1885 above 30 bits of nanoseconds),
// the monotonic reading, the location.
type rawTime struct {
	wall uint64
	ext  int64
	loc  *time.Location
}

const hasMonotonic = 1 << 63

// stepWall returns t with its wall clock moved by d (whole seconds) and
// its monotonic reading kept: what time.Now returns after the system
// clock is stepped (settimeofday, an NTP step), which t.Add cannot make
// (it moves both readings).
func stepWall(t *testing.T, now time.Time, d time.Duration) time.Time {
	r := *(*rawTime)(unsafe.Pointer(&now))
	if r.wall&hasMonotonic == 0 || d%time.Second != 0 {
		t.Fatalf("stepWall: %v has no monotonic reading, or %v is not whole seconds", now, d)
	}
	r.wall += uint64(int64(d/time.Second)) << 30
	got := *(*time.Time)(unsafe.Pointer(&r))
	if !got.Round(0).Equal(now.Round(0).Add(d)) || got.Sub(now) != 0 {
		t.Fatalf("stepWall: time.Time's layout is not what this test knows (%v from %v)", got, now)
	}
	return got
}

// The wall clock stepped two hours forward and back, with the monotonic
// reading (time.Now's default) running on: the copy must notice the step
// back and take a new snapshot. Found by review: the records of what the
// copy dropped kept a monotonic reading, compared with the callers' own by
// that reading alone, which a wall step does not move, so the guard never
// fired and the copy, fresh again, said "not revoked".
func TestWallClockStepWithMonotonicReading(t *testing.T) {
	var off atomic.Int64
	clock := func() time.Time { return stepWall(t, time.Now(), time.Duration(off.Load())) }
	store := feedtest.New()
	ctx := t.Context()
	m, err := revmirror.New(store, revmirror.Options{MaxLag: 400 * time.Millisecond, Heartbeat: 50 * time.Millisecond, Clock: clock,
		MinBackoff: time.Millisecond, MaxBackoff: 5 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	waitFresh(t, m)
	must(t, store.RevokeToken(ctx, "alice", "jti-1", clock().Round(0).Add(10*time.Minute)))
	waitEntries(t, m, 1)
	off.Store(int64(2 * time.Hour))
	waitEntries(t, m, 0) // swept at the stepped clock
	snaps := m.Stats().Snapshots
	off.Store(0)
	waitFor(t, "a new snapshot after the wall clock stepped back", func() bool {
		s := m.Stats()
		return s.Snapshots > snaps && s.Fresh && s.Entries == 1
	})
	store.SetUnavailable(true)
	if dead, err := m.IsRevoked(ctx, q("jti-1", "", "alice", clock()), clock()); !dead || err != nil {
		t.Errorf("IsRevoked of a token revoked before the step = (%v, %v), want (true, nil)", dead, err)
	}
}

// The wall clock stepped back while the feed is down: the copy was last
// vouched for at what is now a time in the future, and a negative age is
// not a young one, so the store answers (found by mutation testing: no
// test failed when the freshness check accepted a negative age, and the
// copy then said "not revoked" of a token revoked while the feed was
// down).
func TestClockBackWhileFeedDown(t *testing.T) {
	var off atomic.Int64
	clock := func() time.Time { return time.Now().Add(time.Duration(off.Load())) }
	store := feedtest.New()
	ctx := t.Context()
	m, err := revmirror.New(store, revmirror.Options{MaxLag: time.Second, Heartbeat: 50 * time.Millisecond, Clock: clock,
		MinBackoff: time.Second, MaxBackoff: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	waitFresh(t, m)
	// Heartbeats vouch for the copy a second past its snapshot, which
	// the step below stays after: checks at times before the snapshot go
	// to the store anyway (the copy may lack what was dropped before it).
	time.Sleep(time.Second)
	store.BreakFeed(true)
	must(t, store.RevokeToken(ctx, "alice", "jti-1", clock().Add(10*time.Minute))) // the store has it, the copy cannot
	off.Store(int64(-500 * time.Millisecond))
	if dead, err := m.IsRevoked(ctx, q("jti-1", "", "alice", time.Now()), clock()); !dead || err != nil {
		t.Errorf("IsRevoked of a token revoked while the feed was down, the clock then stepped back = (%v, %v), want (true, nil) from the store", dead, err)
	}
	if m.Stats().Fresh {
		t.Error("the copy counts as fresh with the clock stepped back before its last vouching")
	}
}
