package sqlstore_test

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/authkit-go/authkit"
	"github.com/authkit-go/authkit/backends/sqlstore"
)

// These tests check what the conformance suite cannot reach from outside a
// store: trimming the log, a database whose log starts over, positions
// the store never made, and the log's ids under concurrent writers. Each
// runs on every dialect and driver.

// feedRecorder follows a feed in a goroutine and records what fn gets.
type feedRecorder struct {
	mu      sync.Mutex
	changes []authkit.Revocation
	pos     authkit.FeedPosition
	calls   int
	done    chan struct{}
	err     error
	cancel  context.CancelFunc
}

func follow(t *testing.T, s *sqlstore.Store, after authkit.FeedPosition) *feedRecorder {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	r := &feedRecorder{done: make(chan struct{}), cancel: cancel}
	go func() {
		defer close(r.done)
		r.err = s.FollowRevocations(ctx, after, 100*time.Millisecond, func(c []authkit.Revocation, p authkit.FeedPosition) error {
			r.mu.Lock()
			defer r.mu.Unlock()
			r.changes = append(r.changes, c...)
			r.pos = p
			r.calls++
			return nil
		})
	}()
	t.Cleanup(func() { cancel(); <-r.done })
	return r
}

// until waits up to 10 s for cond over the changes received.
func (r *feedRecorder) until(t *testing.T, what string, cond func(changes []authkit.Revocation, calls int) bool) authkit.FeedPosition {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		r.mu.Lock()
		ok, pos := cond(r.changes, r.calls), r.pos
		r.mu.Unlock()
		if ok {
			return pos
		}
		select {
		case <-r.done:
			t.Fatalf("FollowRevocations returned %v while waiting for %s", r.err, what)
		case <-time.After(10 * time.Millisecond):
		}
	}
	t.Fatalf("waited 10s for %s", what)
	return ""
}

// ended waits for FollowRevocations to return, and returns its error.
func (r *feedRecorder) ended(t *testing.T) error {
	t.Helper()
	select {
	case <-r.done:
		return r.err
	case <-time.After(10 * time.Second):
		t.Fatal("FollowRevocations did not return within 10s")
		return nil
	}
}

func snapshotPos(t *testing.T, s *sqlstore.Store) authkit.FeedPosition {
	t.Helper()
	pos, err := s.RevocationSnapshot(t.Context(), time.Now(), func(authkit.Revocation) error { return nil })
	if err != nil || pos == "" {
		t.Fatalf("RevocationSnapshot = %q, %v", pos, err)
	}
	return pos
}

// followOnce runs FollowRevocations from pos until it returns or 2 s
// pass, and returns its error (nil if it was still following) and how
// often it called fn.
func followOnce(t *testing.T, s *sqlstore.Store, pos authkit.FeedPosition) (error, int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Second)
	defer cancel()
	calls := 0
	err := s.FollowRevocations(ctx, pos, 100*time.Millisecond, func([]authkit.Revocation, authkit.FeedPosition) error {
		calls++
		return nil
	})
	if errors.Is(err, context.DeadlineExceeded) && ctx.Err() != nil {
		err = nil
	}
	return err, calls
}

// posAt is the store's position after log change id: its epoch, id and
// the change's written_at.
func posAt(t *testing.T, s *sqlstore.Store, id int64) authkit.FeedPosition {
	t.Helper()
	var epoch string
	var tag int64
	if err := s.DB().GetContext(t.Context(), &epoch, "SELECT epoch FROM authkit_revocation_feed WHERE k = 1"); err != nil {
		t.Fatal(err)
	}
	if err := s.DB().GetContext(t.Context(), &tag, s.DB().Rebind("SELECT written_at FROM authkit_revocation_log WHERE id = ?"), id); err != nil {
		t.Fatal(err)
	}
	return authkit.FeedPosition(fmt.Sprintf("%s.%d.%d", epoch, id, tag))
}

func logIDs(t *testing.T, s *sqlstore.Store) []int64 {
	t.Helper()
	var ids []int64
	if err := s.DB().SelectContext(t.Context(), &ids, "SELECT id FROM authkit_revocation_log ORDER BY id"); err != nil {
		t.Fatal(err)
	}
	return ids
}

// TestFeedTrim: DeleteExpiredRevocations trims the changes older than the
// retention, never the newest; a follower behind the trimmed point gets
// ErrFeedPositionLost without a call of fn, and one after it continues.
func TestFeedTrim(t *testing.T) {
	t.Parallel()
	for _, b := range allBackends {
		t.Run(b.name, func(t *testing.T) {
			s, _ := newStore(t, b)
			ctx := t.Context()
			p0 := snapshotPos(t, s)
			until := time.Now().Add(time.Hour)
			for i := range 5 {
				if err := s.RevokeToken(ctx, "alice", fmt.Sprint("jti-", i), until); err != nil {
					t.Fatal(err)
				}
			}
			r := follow(t, s, p0)
			r.until(t, "the 5 changes", func(c []authkit.Revocation, _ int) bool { return len(c) == 5 })
			r.cancel()
			r.ended(t)
			p2, p3 := posAt(t, s, 2), posAt(t, s, 3)

			// Nothing is old enough: the log keeps all five.
			if _, err := s.DeleteExpiredRevocations(ctx, time.Now(), 1000); err != nil {
				t.Fatal(err)
			}
			if ids := logIDs(t, s); len(ids) != 5 {
				t.Fatalf("the log holds ids %v after a cleanup with nothing old, want 1 to 5", ids)
			}
			// Changes 1 to 3 are made old: 1 and 2 go; 3, the newest old
			// one, stays (a follower at 3 was current until 4 came).
			if _, err := s.DB().ExecContext(ctx, s.DB().Rebind("UPDATE authkit_revocation_log SET written_at = 0 WHERE id <= ?"), 3); err != nil {
				t.Fatal(err)
			}
			if _, err := s.DeleteExpiredRevocations(ctx, time.Now(), 1000); err != nil {
				t.Fatal(err)
			}
			if ids := logIDs(t, s); fmt.Sprint(ids) != "[3 4 5]" {
				t.Fatalf("the log holds ids %v after trimming 1 to 3, want [3 4 5]", ids)
			}
			// A position whose own change is gone is lost too: the
			// follower cannot check that the log is still the one it
			// read (see TestFeedReusedIDs).
			for _, pos := range []authkit.FeedPosition{p0, p2} {
				if err, calls := followOnce(t, s, pos); !errors.Is(err, authkit.ErrFeedPositionLost) || calls != 0 {
					t.Errorf("following from %s, before the trimmed point: %v after %d calls of fn, want ErrFeedPositionLost and none", pos, err, calls)
				}
			}
			r = follow(t, s, posAt(t, s, 3))
			r.until(t, "changes 4 and 5", func(c []authkit.Revocation, _ int) bool { return len(c) == 2 })
			r.cancel()
			r.ended(t)
			if r.changes[0].ID != "jti-3" || r.changes[1].ID != "jti-4" {
				t.Errorf("following from the newest old change delivered %+v, want jti-3 and jti-4", r.changes)
			}

			// A quiet log (everything old), a follower at its head, then
			// two revocations and a cleanup before the follower's next
			// poll: the head it was at stays, and it goes on.
			if _, err := s.DB().ExecContext(ctx, "UPDATE authkit_revocation_log SET written_at = 0"); err != nil {
				t.Fatal(err)
			}
			if _, err := s.DeleteExpiredRevocations(ctx, time.Now(), 1000); err != nil {
				t.Fatal(err)
			}
			if ids := logIDs(t, s); fmt.Sprint(ids) != "[5]" {
				t.Fatalf("the log holds ids %v after trimming everything old, want the newest, [5]", ids)
			}
			if err, _ := followOnce(t, s, p3); !errors.Is(err, authkit.ErrFeedPositionLost) {
				t.Errorf("following from a position whose change was trimmed: %v, want ErrFeedPositionLost", err)
			}
			atHead := posAt(t, s, 5)
			for i := range 2 {
				if err := s.RevokeToken(ctx, "bob", fmt.Sprint("new-", i), until); err != nil {
					t.Fatal(err)
				}
			}
			if _, err := s.DeleteExpiredRevocations(ctx, time.Now(), 1000); err != nil {
				t.Fatal(err)
			}
			if ids := logIDs(t, s); fmt.Sprint(ids) != "[5 6 7]" {
				t.Fatalf("the log holds ids %v after two new changes and a cleanup, want [5 6 7]", ids)
			}
			r = follow(t, s, atHead)
			r.until(t, "the two new changes", func(c []authkit.Revocation, _ int) bool { return len(c) == 2 })
			r.cancel()
			if err := r.ended(t); err != nil && !errors.Is(err, context.Canceled) {
				t.Errorf("following from the old head after a cleanup: %v", err)
			}
			if err, calls := followOnce(t, s, posAt(t, s, 7)); err != nil || calls == 0 {
				t.Errorf("following from the newest position after a trim: %v after %d calls, want heartbeats", err, calls)
			}
		})
	}
}

// TestFeedPositions: a position the store did not make, or made before
// its log started over, is lost (never unavailable), and fn is not called.
// A follower whose database's log starts over while it follows stops with
// ErrFeedPositionLost.
func TestFeedPositions(t *testing.T) {
	t.Parallel()
	for _, b := range allBackends {
		t.Run(b.name, func(t *testing.T) {
			s, _ := newStore(t, b)
			other, _ := newStore(t, b)
			ctx := t.Context()
			if err := s.RevokeToken(ctx, "alice", "jti-1", time.Now().Add(time.Hour)); err != nil {
				t.Fatal(err)
			}
			pos := snapshotPos(t, s)
			if pos != posAt(t, s, 1) {
				t.Fatalf("the position after one change is %q, want %q (epoch, id 1, its written_at)", pos, posAt(t, s, 1))
			}
			epoch, rest, _ := strings.Cut(string(pos), ".")
			_, tag, _ := strings.Cut(rest, ".")
			for _, p := range []string{"", "1", ".1", epoch, epoch + ".", epoch + ".x", epoch + ".-1", epoch + ".01",
				epoch + ".1", // the earlier form, without a tag
				epoch + ".1.", epoch + ".1.x", epoch + ".1.0" + tag, epoch + ".1.-" + tag, epoch + ".1." + tag + ".1",
				epoch + ".1.1", // another tag: another change 1
				// signs and spaces: not this store's
				epoch + ".+1." + tag, epoch + ".1.+" + tag, epoch + ".-0.1", epoch + ". 1." + tag,
				epoch + ".2." + tag, "XYZ.1." + tag, epoch + "0.1." + tag, string(snapshotPos(t, other))} {
				if err, calls := followOnce(t, s, authkit.FeedPosition(p)); !errors.Is(err, authkit.ErrFeedPositionLost) || errors.Is(err, authkit.ErrStoreUnavailable) || calls != 0 {
					t.Errorf("following from %q: %v after %d calls of fn, want ErrFeedPositionLost and no call", p, err, calls)
				}
			}
			if err, calls := followOnce(t, s, pos); err != nil || calls == 0 {
				t.Fatalf("following from the store's own position: %v after %d calls", err, calls)
			}

			// The log starts over under a new epoch while a follower follows.
			r := follow(t, s, pos)
			r.until(t, "a heartbeat", func(_ []authkit.Revocation, calls int) bool { return calls > 0 })
			if _, err := s.DB().ExecContext(ctx, "UPDATE authkit_revocation_feed SET epoch = 'feedfeedfeedfeed', seq = 0"); err != nil {
				t.Fatal(err)
			}
			if err := r.ended(t); !errors.Is(err, authkit.ErrFeedPositionLost) {
				t.Errorf("a follower whose log started over under a new epoch returned %v, want ErrFeedPositionLost", err)
			}
			if err, _ := followOnce(t, s, pos); !errors.Is(err, authkit.ErrFeedPositionLost) {
				t.Errorf("following from a position of the log's old epoch: %v, want ErrFeedPositionLost", err)
			}
		})
	}
}

// TestFeedLogOrder: writers on two pools revoke at once; the log's ids
// are exactly 1 to n (no gap, none twice), a follower started before the
// writes receives all n in id order, and each writer's changes in the
// order it made them.
func TestFeedLogOrder(t *testing.T) {
	t.Parallel()
	for _, b := range allBackends {
		t.Run(b.name, func(t *testing.T) {
			a, dsn := newStore(t, b)
			peer, err := sqlstore.New(openDB(t, b, dsn))
			if err != nil {
				t.Fatal(err)
			}
			r := follow(t, peer, snapshotPos(t, peer))
			const writers, each = 8, 25
			var wg sync.WaitGroup
			until := time.Now().Add(time.Hour)
			for w := range writers {
				s := a
				if w%2 == 1 {
					s = peer
				}
				wg.Go(func() {
					for i := range each {
						if err := s.RevokeToken(t.Context(), fmt.Sprint("writer-", w), fmt.Sprint(i), until); err != nil {
							t.Error(err)
							return
						}
					}
				})
			}
			wg.Wait()
			r.until(t, "every change", func(c []authkit.Revocation, _ int) bool { return len(c) >= writers*each })
			ids := logIDs(t, a)
			for i, id := range ids {
				if id != int64(i+1) {
					t.Fatalf("the log's ids are not 1 to %d without a gap: %v…", writers*each, ids[:min(len(ids), i+5)])
				}
			}
			if len(ids) != writers*each {
				t.Fatalf("the log holds %d ids, want %d", len(ids), writers*each)
			}
			r.mu.Lock()
			defer r.mu.Unlock()
			if len(r.changes) != writers*each {
				t.Fatalf("the follower received %d changes, want %d", len(r.changes), writers*each)
			}
			next := map[string]int{}
			for _, c := range r.changes {
				if c.ID != fmt.Sprint(next[c.Subject]) {
					t.Fatalf("%s's change %s came when %d was next", c.Subject, c.ID, next[c.Subject])
				}
				next[c.Subject]++
			}
		})
	}
}

// TestFeedTrimSkewedClock: a change stamped by a clock running ahead
// protects only the change before it from the cleanup (a follower at that
// one was current until it came), not every change after it (found by
// review: one such change stopped all trimming).
func TestFeedTrimSkewedClock(t *testing.T) {
	t.Parallel()
	for _, b := range allBackends {
		t.Run(b.name, func(t *testing.T) {
			s, _ := newStore(t, b)
			ctx := t.Context()
			until := time.Now().Add(time.Hour)
			for i := range 5 {
				if err := s.RevokeToken(ctx, "alice", fmt.Sprint("jti-", i), until); err != nil {
					t.Fatal(err)
				}
			}
			ahead := time.Now().Add(time.Hour).UnixMicro()
			if _, err := s.DB().ExecContext(ctx, s.DB().Rebind("UPDATE authkit_revocation_log SET written_at = CASE WHEN id = 2 THEN "+strconv.FormatInt(ahead, 10)+" ELSE 0 END")); err != nil {
				t.Fatal(err)
			}
			if _, err := s.DeleteExpiredRevocations(ctx, time.Now(), 1000); err != nil {
				t.Fatal(err)
			}
			if ids := logIDs(t, s); fmt.Sprint(ids) != "[1 2 5]" {
				t.Errorf("the log holds ids %v after a cleanup, change 2 stamped an hour ahead, want [1 2 5]", ids)
			}
			// Once change 2 is old too, 1 and 2 go (2's next change in the
			// log is 5, 3 and 4 being gone); 5, the newest, stays.
			if _, err := s.DB().ExecContext(ctx, "UPDATE authkit_revocation_log SET written_at = 0 WHERE id = 2"); err != nil {
				t.Fatal(err)
			}
			if _, err := s.DeleteExpiredRevocations(ctx, time.Now(), 1000); err != nil {
				t.Fatal(err)
			}
			if ids := logIDs(t, s); fmt.Sprint(ids) != "[5]" {
				t.Errorf("the log holds ids %v after change 2 aged too, want [5]", ids)
			}
		})
	}
}

// One cleanup trims every old log row, batch after batch, even when the
// revocations table has nothing to delete: a key written again adds a log
// row and no revocation row (every logout-all writes its cutoff twice),
// and one batch per cleanup fell behind for good (found by review).
func TestFeedTrimCatchesUp(t *testing.T) {
	t.Parallel()
	for _, b := range allBackends {
		t.Run(b.name, func(t *testing.T) {
			s, _ := newStore(t, b)
			ctx := t.Context()
			now := time.Now()
			for i := range 30 {
				if err := s.SetCutoff(ctx, "alice", now.Add(time.Duration(i)*time.Millisecond), now.Add(time.Hour)); err != nil {
					t.Fatal(err)
				}
			}
			if _, err := s.DB().ExecContext(ctx, "UPDATE authkit_revocation_log SET written_at = 0"); err != nil {
				t.Fatal(err)
			}
			n, err := s.DeleteExpiredRevocations(ctx, now, 4)
			if err != nil || n != 0 {
				t.Fatalf("DeleteExpiredRevocations = %d, %v; want 0 revocations, nil", n, err)
			}
			if ids := logIDs(t, s); len(ids) != 1 {
				t.Errorf("one cleanup in batches of 4 left %d old log rows (%v), want only the newest", len(ids), ids)
			}
		})
	}
}

// TestFeedRowMissingNamed: with the feed's counter row gone (a TRUNCATE of
// every table but the migrations'), revoking and snapshotting fail closed
// with an error that says what is missing and what to do (found by review:
// it read "*errors.errorString (message withheld)", and running the
// migrations again does nothing while 0002 is listed as applied).
func TestFeedRowMissingNamed(t *testing.T) {
	t.Parallel()
	s, _ := newStore(t, sqliteBackend)
	if _, err := s.DB().ExecContext(t.Context(), "DELETE FROM authkit_revocation_feed"); err != nil {
		t.Fatal(err)
	}
	_, snapErr := s.RevocationSnapshot(t.Context(), time.Now(), func(authkit.Revocation) error { return nil })
	for what, err := range map[string]error{
		"RevokeToken":        s.RevokeToken(t.Context(), "alice", "jti-1", time.Now().Add(time.Hour)),
		"RevocationSnapshot": snapErr,
	} {
		if !errors.Is(err, authkit.ErrStoreUnavailable) || !strings.Contains(err.Error(), "counter row") ||
			!strings.Contains(err.Error(), "0002_revocation_feed") || strings.Contains(err.Error(), "withheld") {
			t.Errorf("%s with the feed row gone: %v", what, err)
		}
	}
}
