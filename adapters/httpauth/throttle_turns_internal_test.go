package httpauth

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/netip"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/authkit-go/authkit"
	"github.com/authkit-go/authkit/backends/memory"
)

// A held right password waits for the attempts checked before it, not for
// those a steady stream brings while it waits (found by review: with 25
// failures on an office's address, 8 clients logging in again and again
// kept some waiting 2 to 3 s).
func TestHeldAttemptDoesNotWaitForLaterOnes(t *testing.T) {
	g, err := newGuard(nil, false, DefaultThrottlePolicy(), nil, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	addr := netip.MustParseAddr("192.0.2.10")
	for i := range 25 {
		g.failure(ctx, fmt.Sprintf("typo%d", i), addr, time.Now(), MethodPassword, nil)
	}
	var mu sync.Mutex
	var slow, refused, attempts int
	var wg sync.WaitGroup
	end := time.Now().Add(1500 * time.Millisecond)
	for w := range 8 {
		wg.Go(func() {
			user := fmt.Sprintf("user%d", w)
			for time.Now().Before(end) {
				start := time.Now()
				done, d, err := g.check(ctx, user, addr, time.Now(), MethodPassword)
				waited := time.Since(start)
				mu.Lock()
				attempts++
				if err != nil {
					refused++
				}
				if waited >= time.Second {
					slow++
				}
				mu.Unlock()
				if err != nil {
					continue
				}
				time.Sleep(20 * time.Millisecond) // the password check
				g.success(ctx, user, addr, time.Now(), d)
				done()
			}
		})
	}
	wg.Wait()
	if slow != 0 || refused != 0 {
		t.Errorf("8 clients logging in again and again from an address with 25 failures: %d of %d attempts waited a second or more, %d refused", slow, attempts, refused)
	}
}

// cancelAfterRead is a throttle store that reads but cannot write (so the
// guard counts failures in the process) and, once armed, ends the
// request's context just after answering a read, as a client gone
// mid-request does.
type cancelAfterRead struct {
	authkit.ThrottleStore
	cancel atomic.Pointer[context.CancelFunc]
}

func (s *cancelAfterRead) AddFailure(context.Context, string, time.Time, time.Duration) (authkit.ThrottleState, error) {
	return authkit.ThrottleState{}, authkit.ErrStoreUnavailable
}

func (s *cancelAfterRead) ThrottleStates(ctx context.Context, now time.Time, keys ...string) ([]authkit.ThrottleState, error) {
	sts, err := s.ThrottleStore.ThrottleStates(ctx, now, keys...)
	if c := s.cancel.Load(); c != nil {
		(*c)()
	}
	return sts, err
}

// When the store cannot record failures, the process's own counts are the
// only limit: an attempt whose local counts cannot be read (its context
// ended after the store's read) is refused, not let through on the store's
// word alone (found by review: 20 guesses past the wait were checked).
func TestLocalCountsUnreadRefuses(t *testing.T) {
	st := &cancelAfterRead{ThrottleStore: memory.NewThrottle()}
	g, err := newGuard(st, false, DefaultThrottlePolicy(), nil, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	addr := netip.MustParseAddr("192.0.2.10")
	now := time.Now()
	for range 6 {
		done, _, err := g.check(t.Context(), "alice", addr, now, MethodPassword)
		if err != nil {
			t.Fatal(err)
		}
		g.failure(t.Context(), "alice", addr, now, MethodPassword, nil)
		done()
	}
	if _, _, err := g.check(t.Context(), "alice", addr, now, MethodPassword); err == nil {
		t.Fatal("a seventh guess, over the pair's free five counted in the process, is let through")
	}
	ctx, cancel := context.WithCancel(t.Context())
	st.cancel.Store(&cancel)
	done, _, err := g.check(ctx, "alice", addr, now, MethodPassword)
	if err == nil {
		done()
		t.Fatal("a guess whose local counts could not be read is let through")
	}
}
