package httpauth

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/netip"
	"sync"
	"testing"
	"time"
)

// A held right password waits for the attempts checked before it, not for
// those a steady stream brings while it waits (found by review: with 25
// failures on an office's address, 8 clients logging in again and again
// kept some waiting 2 to 3 s).
func TestHeldAttemptDoesNotWaitForLaterOnes(t *testing.T) {
	g, err := newGuard(nil, DefaultThrottlePolicy(), nil, slog.New(slog.NewTextHandler(io.Discard, nil)))
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
