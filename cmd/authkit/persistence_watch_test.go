package main

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/authkit-go/authkit/backends/redisstore"
)

// serve asks a Redis store again whether it may lose its data, and says
// so at error level while it may (found by review: eviction turned on with
// CONFIG SET after start-up brought revoked tokens back unsaid); with
// --accept-volatile-redis it says nothing more.
func TestWatchPersistence(t *testing.T) {
	t.Parallel()
	volatile := fmt.Errorf("redisstore: CheckPersistence: %w: 127.0.0.1:6379: maxmemory-policy volatile-lru", redisstore.ErrVolatile)
	for _, accept := range []bool{false, true} {
		answers := []error{nil, volatile, volatile, nil, context.DeadlineExceeded}
		var (
			mu    sync.Mutex
			calls int
		)
		done := make(chan struct{})
		check := func(context.Context) error {
			mu.Lock()
			defer mu.Unlock()
			calls++
			if calls == len(answers) {
				close(done)
			}
			if calls > len(answers) {
				return nil
			}
			return answers[calls-1]
		}
		var out syncBuffer
		ctx, cancel := context.WithCancel(context.Background())
		stopped := make(chan struct{})
		go func() {
			defer close(stopped)
			watchPersistence(ctx, check, accept, time.Millisecond, slog.New(slog.NewTextHandler(&out, nil)))
		}()
		if !accept {
			select {
			case <-done:
			case <-time.After(10 * time.Second):
				t.Fatal("watchPersistence did not check five times")
			}
		} else {
			time.Sleep(20 * time.Millisecond)
		}
		cancel()
		<-stopped
		log := out.String()
		if accept {
			if log != "" || calls != 0 {
				t.Errorf("with --accept-volatile-redis: %d checks and log %q, want none", calls, log)
			}
			continue
		}
		if n := strings.Count(log, "level=ERROR"); n != 2 || !strings.Contains(log, "may now lose revocations") || !strings.Contains(log, "volatile-lru") {
			t.Errorf("two volatile answers gave %d error lines:\n%s", n, log)
		}
		if n := strings.Count(log, "keeps its data again"); n != 1 {
			t.Errorf("the recovery was said %d times, want once:\n%s", n, log)
		}
		if strings.Contains(log, "deadline") {
			t.Errorf("an unreachable store was logged by the watch (requests fail closed on their own):\n%s", log)
		}
	}
}
