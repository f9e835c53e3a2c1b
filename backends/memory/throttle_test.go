package memory_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/authkit-go/authkit"
	"github.com/authkit-go/authkit/backends/memory"
	"github.com/authkit-go/authkit/conformance"
)

func TestThrottleConformance(t *testing.T) {
	conformance.RunThrottle(t, conformance.PartialHarness[authkit.ThrottleStore]{
		New: func(t *testing.T) authkit.ThrottleStore { return memory.NewThrottle() },
		// A Throttle keeps its counts in the process (it does not report
		// authkit.InProcessStore: httpauth bounds its calls like any
		// other throttle store's).
		InProcess: true,
	})
}

// TestThrottleEvictionKeepsHeavyKeys: a full table evicts ended windows
// first, then the keys with the fewest failures; a flood of one-failure
// keys never pushes out a key with more.
func TestThrottleEvictionKeepsHeavyKeys(t *testing.T) {
	ctx := context.Background()
	base := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	th := memory.NewThrottle(memory.WithThrottleKeys(16))
	for range 5 {
		if _, err := th.AddFailure(ctx, "victim", base, time.Hour); err != nil {
			t.Fatal(err)
		}
	}
	// An ended window is evicted before anything else.
	if _, err := th.AddFailure(ctx, "short", base, time.Second); err != nil {
		t.Fatal(err)
	}
	for i := range 1000 {
		if _, err := th.AddFailure(ctx, fmt.Sprint("flood-", i), base.Add(time.Minute+time.Duration(i)*time.Millisecond), time.Hour); err != nil {
			t.Fatal(err)
		}
		if n := th.Len(); n > 16 {
			t.Fatalf("after %d flood keys the throttle tracks %d keys, more than its limit of 16", i+1, n)
		}
	}
	st, err := th.ThrottleStates(ctx, base.Add(2*time.Minute), "victim", "flood-999", "flood-0")
	if err != nil {
		t.Fatal(err)
	}
	if st[0].Failures != 5 {
		t.Errorf("the key with 5 failures has %d after a flood of 1000 one-failure keys into a table of 16; eviction must take the fewest failures first", st[0].Failures)
	}
	if st[1].Failures != 1 {
		t.Errorf("the newest flood key has %d failures, want 1 (a new key is always admitted)", st[1].Failures)
	}
	if st[2].Failures != 0 {
		t.Errorf("the oldest flood key has %d failures, want 0 (evicted: fewest failures, earliest window end)", st[2].Failures)
	}
}

// TestThrottleEvictionKeepsLongWindows: among keys of equal count, a full
// table evicts the one whose window ends first, so the HTTP layer's mark of
// a known (user, address) pair — one failure in a 30-day window — outlives
// a flood of one-failure keys with hour-long windows that came after it
// (it was the oldest last failure, and the first key a flood evicted).
func TestThrottleEvictionKeepsLongWindows(t *testing.T) {
	ctx := context.Background()
	base := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	th := memory.NewThrottle(memory.WithThrottleKeys(16))
	if _, err := th.AddFailure(ctx, "known", base, 30*24*time.Hour); err != nil {
		t.Fatal(err)
	}
	at := base.Add(2 * time.Hour)
	for i := range 1000 {
		if _, err := th.AddFailure(ctx, fmt.Sprint("flood-", i), at.Add(time.Duration(i)*time.Millisecond), time.Hour); err != nil {
			t.Fatal(err)
		}
		if n := th.Len(); n > 16 {
			t.Fatalf("after %d flood keys the throttle tracks %d keys, more than its limit of 16", i+1, n)
		}
	}
	st, err := th.ThrottleStates(ctx, at.Add(time.Minute), "known", "flood-999", "flood-0")
	if err != nil {
		t.Fatal(err)
	}
	if st[0].Failures != 1 || !st[0].ExpiresAt.Equal(base.Add(30*24*time.Hour)) {
		t.Errorf("the 30-day key is %+v after a flood of 1000 one-hour keys into a table of 16; want it kept (evicted by fewest failures, then earliest window end)", st[0])
	}
	if st[1].Failures != 1 {
		t.Errorf("the newest flood key has %d failures, want 1 (a new key is always admitted)", st[1].Failures)
	}
	if st[2].Failures != 0 {
		t.Errorf("the oldest flood key has %d failures, want 0 (evicted: its window ends first)", st[2].Failures)
	}
}

// A zero Throttle works, with the default size (found by review: it
// passed WithThrottleStore, then every login panicked on its nil table).
func TestZeroThrottle(t *testing.T) {
	var th memory.Throttle
	ctx := context.Background()
	now := time.Now()
	for want := int64(1); want <= 2; want++ {
		st, err := th.AddFailure(ctx, "k", now, time.Minute)
		if err != nil || st.Failures != want {
			t.Fatalf("AddFailure on a zero Throttle: %+v, %v; want %d failures", st, err, want)
		}
	}
	if got, err := th.ThrottleStates(ctx, now, "k", "other"); err != nil || len(got) != 2 || got[0].Failures != 2 || got[1].Failures != 0 {
		t.Errorf("ThrottleStates on a zero Throttle: %+v, %v", got, err)
	}
	if th.Len() != 1 {
		t.Errorf("Len = %d, want 1", th.Len())
	}
}
