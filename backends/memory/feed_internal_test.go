package memory

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"testing"
	"time"
	"unsafe"

	"github.com/authkit-go/authkit"
)

var feedBase = time.Date(2030, time.January, 2, 3, 4, 5, 0, time.UTC)

func revokeN(t *testing.T, s *Store, n int, prefix string) {
	t.Helper()
	for i := range n {
		if err := s.RevokeToken(context.Background(), "alice", fmt.Sprint(prefix, i), feedBase.Add(time.Hour)); err != nil {
			t.Fatal(err)
		}
	}
}

// followsFrom reports whether FollowRevocations accepts the position after
// the first p changes, or an error.
func followsFrom(s *Store, p uint64) error {
	stop := errors.New("stop")
	err := s.FollowRevocations(context.Background(), s.feed.position(p), time.Millisecond, func([]authkit.Revocation, authkit.FeedPosition) error { return stop })
	if errors.Is(err, stop) {
		return nil
	}
	return err
}

// TestFeedRetention drives the log's clock: a block of changes goes only
// once every change in it is older than the retention, at a write that
// starts a new block or at a cleanup, and positions in it are lost then.
func TestFeedRetention(t *testing.T) {
	s := New(WithFeedRetention(time.Minute))
	clock := time.Date(2029, time.May, 1, 0, 0, 0, 0, time.UTC)
	s.feed.clock = func() time.Time { return clock }

	revokeN(t, s, blockLen, "a-") // block 0, started at 0s
	clock = clock.Add(30 * time.Second)
	revokeN(t, s, blockLen, "b-") // block 1, started at 30s
	clock = clock.Add(59 * time.Second)
	revokeN(t, s, 1, "c-") // block 2, at 89s: block 0's last change may be 59s old
	if base, next, blocks := s.feedStats(); base != 0 || next != 2*blockLen+1 || blocks != 3 {
		t.Fatalf("after 89s: base %d, next %d, %d blocks; want 0, %d, 3 (nothing older than a minute for sure)", base, next, blocks, 2*blockLen+1)
	}
	if err := followsFrom(s, 0); err != nil {
		t.Errorf("following from the start after 89s with a minute's retention: %v", err)
	}

	// At 91s every change of block 0 is more than a minute old; a cleanup
	// drops it even though nothing is written.
	clock = clock.Add(2 * time.Second)
	if _, err := s.DeleteExpiredRevocations(context.Background(), feedBase, 100); err != nil {
		t.Fatal(err)
	}
	if base, _, blocks := s.feedStats(); base != blockLen || blocks != 2 {
		t.Fatalf("after 91s and a cleanup: base %d, %d blocks; want %d, 2", base, blocks, blockLen)
	}
	if err := followsFrom(s, blockLen-1); !errors.Is(err, authkit.ErrFeedPositionLost) {
		t.Errorf("following from a dropped change: %v, want ErrFeedPositionLost", err)
	}
	for _, p := range []uint64{blockLen, 2*blockLen + 1} {
		if err := followsFrom(s, p); err != nil {
			t.Errorf("following from %d, which the log keeps: %v", p, err)
		}
	}

	// Hours later, the next block's write drops all but the newest.
	clock = clock.Add(3 * time.Hour)
	revokeN(t, s, blockLen, "d-")
	if base, next, blocks := s.feedStats(); next-base > 2*blockLen || blocks > 2 {
		t.Errorf("hours later: base %d, next %d, %d blocks; want at most the newest two blocks", base, next, blocks)
	}
}

// TestFeedLogBounded writes far more than the limit: the log never holds
// more than the limit and a block, and, once full, a write allocates
// nothing for the log (a dropped block is reused) and nothing for waking
// when no follower waits.
func TestFeedLogBounded(t *testing.T) {
	const limit = 1024
	s := New(WithFeedLogLimit(limit))
	most := 0
	for i := range 40 {
		revokeN(t, s, blockLen, fmt.Sprint(i, "-"))
		base, next, blocks := s.feedStats()
		most = max(most, blocks)
		if held := next - base; held > limit+blockLen {
			t.Fatalf("after %d writes the log holds %d changes, more than the limit %d and a block", next, held, limit)
		}
	}
	if want := limit/blockLen + 1; most > want {
		t.Errorf("the log held up to %d blocks, want at most %d", most, want)
	}

	// Rewrite an entry that exists, with an earlier until: the write
	// itself allocates nothing, so what is counted is the log's.
	ctx := context.Background()
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(1))
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	const writes = 10 * blockLen
	for range writes {
		if err := s.RevokeToken(ctx, "alice", "0-0", feedBase); err != nil {
			t.Fatal(err)
		}
	}
	runtime.ReadMemStats(&after)
	if n := after.Mallocs - before.Mallocs; n != 0 {
		t.Errorf("%d writes to a full log allocated %d times, want 0 (a dropped block is reused)", writes, n)
	}
}

// TestFeedSharesStrings checks that a change holds the strings of the
// stored entry, not the caller's: a rewrite with equal but distinct
// strings adds no string to what the log keeps alive.
func TestFeedSharesStrings(t *testing.T) {
	s := New()
	ctx := context.Background()
	subject, jti := string([]byte("alice")), string([]byte("jti-1"))
	if err := s.RevokeToken(ctx, subject, jti, feedBase.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if err := s.RevokeToken(ctx, string([]byte("alice")), string([]byte("jti-1")), feedBase); err != nil {
		t.Fatal(err)
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	for k := range s.feed.next {
		c := s.feed.at(k)
		if unsafe.StringData(c.subject) != unsafe.StringData(subject) || unsafe.StringData(c.id) != unsafe.StringData(jti) {
			t.Errorf("change %d holds strings of its own, not the stored entry's", k)
		}
	}
}
