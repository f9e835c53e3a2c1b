package conformance

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/authkit-go/authkit"
)

// The rules of authkit.ThrottleStore, quoted in failure messages.
const (
	ruleThrAdd      = "ThrottleStore.AddFailure must record one failure at now and return the state after it: a key without state, or whose window has ended (ExpiresAt <= now), opens a new window {Failures: 1, Last: now, ExpiresAt: now+window}; otherwise Failures grows by one, Last becomes the later of Last and now, and ExpiresAt stays"
	ruleThrStates   = "ThrottleStore.ThrottleStates must return each key's state at now, in the order of keys, without counting anything: the zero state for a key without state or whose window has ended (ExpiresAt <= now)"
	ruleThrClear    = "ThrottleStore.ClearThrottle must forget the key's state, and only that key's; clearing a key without state is not an error"
	ruleThrKeys     = "ThrottleStore keys are 1 to MaxThrottleKeyLen bytes of any value, compared byte for byte; a key out of bounds, or a ThrottleStates call with no keys or more than MaxThrottleKeys, yields an error matching ErrInvalidRequest and changes nothing"
	ruleThrConc     = "ThrottleStore.AddFailure is one atomic step: N concurrent calls on one key, through any handles on the same data, count N, and each returns a different count"
	ruleThrVisible  = "ThrottleStore implementations must be safe for use by many processes sharing the same data: a failure recorded through one handle is counted at once through another"
	ruleThrDelete   = "ThrottleStore.DeleteExpiredThrottles must delete at most limit keys whose window has ended at now and return how many it deleted; keys whose window has not ended keep their state"
	ruleThrDurable  = "a ThrottleStore whose data survives a restart must keep its counts across a reopen"
	ruleThrTimeKept = "ThrottleStore times must round-trip as the same instant to the microsecond, whatever their location"
)

// RunThrottle runs the checks of authkit.ThrottleStore (the "Throttle/…"
// subtests of [Run] for a Store that implements it) against a backend's
// throttle store, which may be a type of its own.
func RunThrottle(t *testing.T, h PartialHarness[authkit.ThrottleStore]) {
	t.Helper()
	if h.New == nil {
		t.Fatal("conformance: PartialHarness.New is nil; RunThrottle needs it to make stores")
	}
	t.Run("Throttle", func(t *testing.T) { runThrottle(t, h) })
}

// runThrottleOf runs the throttle checks from Run, when the store
// implements authkit.ThrottleStore.
func runThrottleOf(t *testing.T, h Harness) {
	probe := h.New(t)
	if _, ok := probe.(authkit.ThrottleStore); !ok {
		t.Logf("%T does not implement authkit.ThrottleStore: nothing to check", probe)
		return
	}
	runThrottle(t, narrow[authkit.ThrottleStore](h))
}

// wantThrottle fails t unless got matches want (times to the microsecond).
func wantThrottle(t *testing.T, what string, got, want authkit.ThrottleState, rule string) {
	t.Helper()
	var d fieldDiffs
	if got.Failures != want.Failures {
		d = append(d, fmt.Sprintf("Failures: got %d, want %d", got.Failures, want.Failures))
	}
	d.time("Last", got.Last, want.Last)
	d.time("ExpiresAt", got.ExpiresAt, want.ExpiresAt)
	d.report(t, what, rule)
}

func thrState(n int64, last, exp time.Time) authkit.ThrottleState {
	return authkit.ThrottleState{Failures: n, Last: last, ExpiresAt: exp}
}

// states reads keys at now and fails t on an error.
func states(t *testing.T, s authkit.ThrottleStore, now time.Time, keys ...string) []authkit.ThrottleState {
	t.Helper()
	got, err := s.ThrottleStates(t.Context(), now, keys...)
	mustOK(t, "ThrottleStates", err, ruleThrStates)
	if len(got) != len(keys) {
		t.Fatalf("ThrottleStates of %d keys returned %d states; %s", len(keys), len(got), ruleThrStates)
	}
	return got
}

func addFailure(t *testing.T, s authkit.ThrottleStore, key string, now time.Time, window time.Duration) authkit.ThrottleState {
	t.Helper()
	st, err := s.AddFailure(t.Context(), key, now, window)
	mustOK(t, "AddFailure", err, ruleThrAdd)
	return st
}

func runThrottle(t *testing.T, h PartialHarness[authkit.ThrottleStore]) {
	t.Run("AddFailure/Counts", func(t *testing.T) {
		a, b := open(t, h)
		wantThrottle(t, "the first AddFailure's state", addFailure(t, a, "k", base, minute), thrState(1, base, at(minute)), ruleThrAdd)
		wantThrottle(t, "the second AddFailure's state", addFailure(t, b, "k", at(time.Second), hour), thrState(2, at(time.Second), at(minute)), ruleThrAdd+" (a later window does not move ExpiresAt)")
		wantThrottle(t, "the third AddFailure's state", addFailure(t, a, "k", at(2*time.Second), minute), thrState(3, at(2*time.Second), at(minute)), ruleThrAdd)
		wantThrottle(t, "the state read through the other handle", states(t, b, at(3*time.Second), "k")[0], thrState(3, at(2*time.Second), at(minute)), ruleThrVisible)
		// Past what a byte holds (found by review: a count kept in a
		// small integer passed).
		var last authkit.ThrottleState
		for i := range 300 {
			last = addFailure(t, []authkit.ThrottleStore{a, b}[i%2], "many", at(time.Second), hour)
		}
		wantThrottle(t, "the state after 300 failures", last, thrState(300, at(time.Second), at(time.Second+hour)), ruleThrAdd)
	})
	t.Run("AddFailure/LastIsLatest", func(t *testing.T) {
		a, b := open(t, h)
		addFailure(t, a, "k", at(10*time.Second), minute)
		got := addFailure(t, b, "k", at(5*time.Second), minute)
		wantThrottle(t, "a failure recorded with an earlier now", got, thrState(2, at(10*time.Second), at(10*time.Second+minute)), ruleThrAdd+" (Last is the later of Last and now)")
	})
	t.Run("AddFailure/WindowBoundary", func(t *testing.T) {
		a, b := open(t, h)
		addFailure(t, a, "k", base, minute)
		addFailure(t, a, "k", at(time.Second), minute)
		wantThrottle(t, "the state a microsecond before the window ends", states(t, b, at(minute-micro), "k")[0], thrState(2, at(time.Second), at(minute)), ruleThrStates)
		wantThrottle(t, "the state when the window ends (ExpiresAt == now)", states(t, b, at(minute), "k")[0], authkit.ThrottleState{}, ruleThrStates)
		wantThrottle(t, "a failure when the window has ended", addFailure(t, b, "k", at(minute), 2*minute), thrState(1, at(minute), at(3*minute)), ruleThrAdd)
	})
	// A window that ended long ago reopens at now, not at its old end plus
	// a window: otherwise each failure of a key idle for a while opens a
	// window already over, and the key never counts past 1.
	t.Run("AddFailure/WindowReopensAtNow", func(t *testing.T) {
		a, b := open(t, h)
		addFailure(t, a, "k", base, minute)
		wantThrottle(t, "a failure ten windows after the first", addFailure(t, a, "k", at(10*minute), minute), thrState(1, at(10*minute), at(11*minute)), ruleThrAdd)
		wantThrottle(t, "the next failure", addFailure(t, b, "k", at(10*minute+time.Second), minute), thrState(2, at(10*minute+time.Second), at(11*minute)), ruleThrAdd)
	})
	t.Run("AddFailure/TimesKept", func(t *testing.T) {
		a, b := open(t, h)
		zone := time.FixedZone("UTC-7", -7*3600)
		now := base.Add(987 * time.Nanosecond).In(zone)
		got := addFailure(t, a, "k", now, 90*time.Second)
		wantThrottle(t, "the state of a failure recorded in another zone, with nanoseconds", got, thrState(1, now, now.Add(90*time.Second)), ruleThrTimeKept)
		wantThrottle(t, "that state read back", states(t, b, at(time.Second), "k")[0], thrState(1, now, now.Add(90*time.Second)), ruleThrTimeKept)
	})
	t.Run("ThrottleStates/ReadDoesNotCount", func(t *testing.T) {
		a, b := open(t, h)
		addFailure(t, a, "x", base, hour)
		addFailure(t, a, "z", base, hour)
		addFailure(t, a, "z", at(time.Second), hour)
		for range 3 {
			got := states(t, b, at(2*time.Second), "z", "absent", "x")
			wantThrottle(t, "state 0 (key \"z\")", got[0], thrState(2, at(time.Second), at(hour)), ruleThrStates)
			wantThrottle(t, "state 1 (key \"absent\", never written)", got[1], authkit.ThrottleState{}, ruleThrStates)
			wantThrottle(t, "state 2 (key \"x\")", got[2], thrState(1, base, at(hour)), ruleThrStates)
		}
		wantThrottle(t, "the AddFailure after three reads", addFailure(t, a, "z", at(3*time.Second), hour), thrState(3, at(3*time.Second), at(hour)), ruleThrStates+" (a read counts nothing)")
	})
	t.Run("ClearThrottle", func(t *testing.T) {
		a, b := open(t, h)
		addFailure(t, a, "k", base, hour)
		addFailure(t, a, "k", base, hour)
		addFailure(t, a, "k2", base, hour)
		addFailure(t, a, "K", base, hour) // a key apart: keys compare byte for byte (found by review: a clear that folded case passed)
		mustOK(t, "ClearThrottle", b.ClearThrottle(t.Context(), "k"), ruleThrClear)
		mustOK(t, "ClearThrottle of a key without state", b.ClearThrottle(t.Context(), "never"), ruleThrClear)
		got := states(t, a, at(time.Second), "k", "k2", "K")
		wantThrottle(t, "the cleared key", got[0], authkit.ThrottleState{}, ruleThrClear)
		wantThrottle(t, "another key", got[1], thrState(1, base, at(hour)), ruleThrClear)
		wantThrottle(t, `the key "K", after "k" was cleared`, got[2], thrState(1, base, at(hour)), ruleThrClear+"; "+ruleThrKeys)
		wantThrottle(t, "a failure after the clear", addFailure(t, a, "k", at(2*time.Second), minute), thrState(1, at(2*time.Second), at(2*time.Second+minute)), ruleThrAdd+"; "+ruleThrClear)
	})
	t.Run("Keys/ByteForByte", func(t *testing.T) {
		a, b := open(t, h)
		long := strings.Repeat("\xff", authkit.MaxThrottleKeyLen)
		keys := []string{"k", "K", "k ", "\x00", "\x00\x01\xfe\xff", "é", "e\u0301", long, long[:len(long)-1]}
		for i, k := range keys {
			for range i + 1 {
				addFailure(t, a, k, base, hour)
			}
		}
		for i, k := range keys {
			got := states(t, b, at(time.Second), k)[0]
			if got.Failures != int64(i+1) {
				t.Errorf("key %q (%d bytes) has %d failures, want %d; %s", k, len(k), got.Failures, i+1, ruleThrKeys)
			}
		}
	})
	t.Run("Keys/OutOfBounds", func(t *testing.T) {
		a, _ := open(t, h)
		tooLong := strings.Repeat("k", authkit.MaxThrottleKeyLen+1)
		// Fewer characters than the limit, more bytes: the limit is in
		// bytes (found by review: a store counting characters, as a
		// VARCHAR(n) column does, passed).
		tooLongRunes := strings.Repeat("é", authkit.MaxThrottleKeyLen/2+1)
		for _, k := range []string{"", tooLong, tooLongRunes} {
			_, err := a.AddFailure(t.Context(), k, base, hour)
			wantErr(t, fmt.Sprintf("AddFailure of a %d-byte key", len(k)), err, authkit.ErrInvalidRequest, ruleThrKeys)
			_, err = a.ThrottleStates(t.Context(), base, "ok", k)
			wantErr(t, fmt.Sprintf("ThrottleStates with a %d-byte key", len(k)), err, authkit.ErrInvalidRequest, ruleThrKeys)
			wantErr(t, fmt.Sprintf("ClearThrottle of a %d-byte key", len(k)), a.ClearThrottle(t.Context(), k), authkit.ErrInvalidRequest, ruleThrKeys)
		}
		_, err := a.ThrottleStates(t.Context(), base)
		wantErr(t, "ThrottleStates with no keys", err, authkit.ErrInvalidRequest, ruleThrKeys)
		many := make([]string, authkit.MaxThrottleKeys+1)
		for i := range many {
			many[i] = fmt.Sprint("k", i)
		}
		_, err = a.ThrottleStates(t.Context(), base, many...)
		wantErr(t, fmt.Sprintf("ThrottleStates with %d keys", len(many)), err, authkit.ErrInvalidRequest, ruleThrKeys)
		got := states(t, a, base, many[:authkit.MaxThrottleKeys]...)
		for i, st := range got {
			wantThrottle(t, fmt.Sprintf("state %d of %d keys never written", i, len(got)), st, authkit.ThrottleState{}, ruleThrStates)
		}
		wantThrottle(t, "the 128-byte-limit key \"k…\" after refused calls", states(t, a, base, strings.Repeat("k", authkit.MaxThrottleKeyLen))[0], authkit.ThrottleState{}, ruleThrKeys)
		// Every key of a full read is read, and a key named twice is
		// answered twice (found by review: a store that read only the
		// first three, or one state per distinct key, passed).
		full := many[:authkit.MaxThrottleKeys]
		for i, k := range full {
			for range i + 1 {
				addFailure(t, a, k, base, hour)
			}
		}
		for _, read := range [][]string{full, {full[3], full[0], full[3]}} {
			got = states(t, a, base.Add(ms), read...)
			if len(got) != len(read) {
				t.Fatalf("ThrottleStates of %d keys returned %d states; %s", len(read), len(got), ruleThrStates)
			}
			for i, k := range read {
				if want := int64(slices.Index(full, k) + 1); got[i].Failures != want {
					t.Errorf("state %d of %d read at once (key %q) has %d failures, want %d; %s", i, len(read), k, got[i].Failures, want, ruleThrStates)
				}
			}
		}
	})
	t.Run("AddFailure/Concurrent", func(t *testing.T) {
		a, b := open(t, h)
		const n = 64
		var (
			wg   sync.WaitGroup
			mu   sync.Mutex
			seen []int64
			errs []error
		)
		for i := range n {
			s := a
			if i%2 == 1 {
				s = b
			}
			wg.Go(func() {
				st, err := s.AddFailure(context.Background(), "hot", at(time.Duration(i)*ms), hour)
				mu.Lock()
				defer mu.Unlock()
				if err != nil {
					errs = append(errs, err)
					return
				}
				seen = append(seen, st.Failures)
			})
		}
		wg.Wait()
		if len(errs) > 0 {
			t.Fatalf("%d of %d concurrent AddFailure calls failed, the first with %v; %s", len(errs), n, errs[0], ruleThrConc)
		}
		slices.Sort(seen)
		for i, c := range seen {
			if c != int64(i+1) {
				t.Fatalf("the counts %d concurrent AddFailure calls returned are %v, want each of 1…%d once; %s", n, seen, n, ruleThrConc)
			}
		}
		got := states(t, a, at(time.Second), "hot")[0]
		// The window opened at the now of whichever call came first.
		want := thrState(n, at((n-1)*ms), got.ExpiresAt)
		if got.ExpiresAt.Before(at(hour)) || got.ExpiresAt.After(at(hour+(n-1)*ms)) {
			want.ExpiresAt = at(hour)
		}
		wantThrottle(t, "the state after the concurrent failures", got, want, ruleThrConc+"; "+ruleThrAdd)
	})
	// Readers while writers write: password logins read states while
	// failures are recorded, and a store whose ThrottleStates skipped its
	// lock passed AddFailure/Concurrent (writers only) and crashed its
	// server with "concurrent map read and map write" (found by review).
	// Run the suite under -race to have every such read reported.
	t.Run("ReadersDuringWrites", func(t *testing.T) {
		a, b := open(t, h)
		const n, keys = 48, 8
		for j := range keys {
			addFailure(t, a, fmt.Sprint("clear-", j), base, hour)
		}
		all := make([]string, 0, 2*keys)
		for j := range keys {
			all = append(all, fmt.Sprint("hot-", j), fmt.Sprint("clear-", j))
		}
		errs := readDuringWrites(n, func(i int) error {
			if i%(n/keys) == 0 {
				if err := a.ClearThrottle(context.Background(), fmt.Sprint("clear-", i/(n/keys))); err != nil {
					return err
				}
			}
			_, err := a.AddFailure(context.Background(), fmt.Sprint("hot-", i%keys), at(time.Duration(i)*ms), hour)
			return err
		}, func(k int) error {
			_, err := b.ThrottleStates(context.Background(), at(time.Second), all[k%keys:k%keys+keys]...)
			return err
		})
		for _, err := range errs {
			mustOK(t, "an AddFailure, ClearThrottle or ThrottleStates while others wrote", err, ruleThrStates+"; "+ruleThrConc)
		}
		got := append(states(t, b, at(time.Second), all[:keys]...), states(t, b, at(time.Second), all[keys:]...)...)
		for j := range keys {
			if got[2*j].Failures != n/keys {
				t.Errorf("key %q has %d failures after %d recorded while readers read, want %d; %s", all[2*j], got[2*j].Failures, n/keys, n/keys, ruleThrConc)
			}
			wantThrottle(t, fmt.Sprintf("key %q, cleared while readers read", all[2*j+1]), got[2*j+1], authkit.ThrottleState{}, ruleThrClear)
		}
	})
	t.Run("DeleteExpiredThrottles", func(t *testing.T) {
		a, b := open(t, h)
		for i := range 30 {
			addFailure(t, a, fmt.Sprint("short-", i), base, minute)
		}
		for i := range 10 {
			addFailure(t, a, fmt.Sprint("long-", i), base, hour)
		}
		// Windows that end a millisecond after the cleanup's now (found
		// by review: a cleanup a second early passed).
		for i := range 5 {
			addFailure(t, a, fmt.Sprint("edge-", i), base.Add(ms), minute)
		}
		total := 0
		for range 40 {
			n, err := b.DeleteExpiredThrottles(t.Context(), at(minute), 7)
			mustOK(t, "DeleteExpiredThrottles", err, ruleThrDelete)
			if n < 0 || n > 7 {
				t.Fatalf("DeleteExpiredThrottles(limit 7) returned %d; %s", n, ruleThrDelete)
			}
			total += n
			if n < 7 {
				break
			}
		}
		switch {
		case total > 30:
			t.Errorf("DeleteExpiredThrottles deleted %d keys in all, but only 30 windows had ended; %s", total, ruleThrDelete)
		case total == 0 && !h.ThrottlesExpireThemselves:
			t.Errorf("DeleteExpiredThrottles deleted nothing of 30 ended windows, and the harness does not declare ThrottlesExpireThemselves (a backend that deletes ended windows by itself); %s", ruleThrDelete)
		case total != 30 && total != 0:
			// All 30, in calls of at most 7, or 0 from a backend that
			// expires keys by itself: a store that deleted more than it
			// reported (found by review) counts short.
			t.Errorf("DeleteExpiredThrottles reported %d deletions in all, calling it again while the result equalled the limit, for 30 ended windows; %s", total, ruleThrDelete)
		}
		for i := range 10 {
			wantThrottle(t, fmt.Sprintf("key long-%d after the cleanup", i), states(t, a, at(minute), fmt.Sprint("long-", i))[0], thrState(1, base, at(hour)), ruleThrDelete)
		}
		for i := range 5 {
			wantThrottle(t, fmt.Sprintf("key edge-%d (its window ends a millisecond after the cleanup's now) after the cleanup", i), states(t, a, at(minute), fmt.Sprint("edge-", i))[0], thrState(1, base.Add(ms), at(minute+ms)), ruleThrDelete)
		}
		_, err := b.DeleteExpiredThrottles(t.Context(), at(minute), 0)
		if err == nil {
			t.Errorf("DeleteExpiredThrottles with limit 0 returned nil; limit > 0 is the caller's promise, and a store refuses 0")
		}
	})
	t.Run("Reopen", func(t *testing.T) {
		a, _ := open(t, h)
		addFailure(t, a, "k", base, hour)
		addFailure(t, a, "k", at(time.Second), hour)
		r, ok := reopen(t, h, a)
		if !ok {
			return
		}
		wantThrottle(t, "the state after a reopen", states(t, r, at(2*time.Second), "k")[0], thrState(2, at(time.Second), at(hour)), ruleThrDurable)
	})

	calls := []call[authkit.ThrottleStore]{
		{"AddFailure", func(ctx context.Context, s authkit.ThrottleStore) error {
			_, err := s.AddFailure(ctx, "k", at(time.Second), hour)
			return err
		}, func(t *testing.T, s authkit.ThrottleStore) {
			wantThrottle(t, "the state after an AddFailure with a dead ctx", states(t, s, at(2*time.Second), "k")[0], thrState(1, base, at(hour)), ruleContext)
		}},
		{"ThrottleStates", func(ctx context.Context, s authkit.ThrottleStore) error {
			_, err := s.ThrottleStates(ctx, at(time.Second), "k")
			return err
		}, nil},
		{"ClearThrottle", func(ctx context.Context, s authkit.ThrottleStore) error {
			return s.ClearThrottle(ctx, "k")
		}, func(t *testing.T, s authkit.ThrottleStore) {
			wantThrottle(t, "the state after a ClearThrottle with a dead ctx", states(t, s, at(2*time.Second), "k")[0], thrState(1, base, at(hour)), ruleContext)
		}},
		{"DeleteExpiredThrottles", func(ctx context.Context, s authkit.ThrottleStore) error {
			_, err := s.DeleteExpiredThrottles(ctx, at(2*hour), 10)
			return err
		}, nil},
	}
	t.Run("Context", func(t *testing.T) {
		runDeadContext(t, h, func(t *testing.T, s authkit.ThrottleStore) { addFailure(t, s, "k", base, hour) }, calls)
	})
	// DeleteExpiredThrottles may do nothing on a backend that expires keys
	// by itself, so it need not notice an outage or a stall; the three
	// calls that decide an attempt must.
	t.Run("Unavailable", func(t *testing.T) { runUnavailable(t, h, calls[:3]) })
	t.Run("Stalled", func(t *testing.T) { runStalled(t, h, calls[:3]) })
}
