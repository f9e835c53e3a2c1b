package conformance_test

import (
	"context"
	"os"
	"testing"
	"time"

	"github.com/authkit-go/authkit"
	"github.com/authkit-go/authkit/backends/memory"
	"github.com/authkit-go/authkit/conformance"
)

// The throttle checks, like the others, are only worth running if they
// fail broken stores: each mutant wraps memory.Throttle and breaks one rule
// of authkit.ThrottleStore (see TestMutants for how a child process runs
// the suite on it).

const throttleMutantEnv = "AUTHKIT_CONFORMANCE_THROTTLE_MUTANT"

// throttleMutant is a mutant of the ThrottleStore rules.
type throttleMutant struct {
	name string
	run  string
	wrap func(authkit.ThrottleStore) authkit.ThrottleStore
	want []string
}

var throttleMutants = []throttleMutant{
	{
		name: "ReadCounts",
		run:  "Throttle/ThrottleStates/ReadDoesNotCount",
		wrap: func(s authkit.ThrottleStore) authkit.ThrottleStore { return readCounts{s} },
		want: []string{"ThrottleStates/ReadDoesNotCount", "without counting anything"},
	},
	{
		name: "SlidingWindow",
		run:  "Throttle/AddFailure/Counts",
		wrap: func(s authkit.ThrottleStore) authkit.ThrottleStore { return slidingWindow{s} },
		want: []string{"AddFailure/Counts", "ExpiresAt: got", "ExpiresAt stays"},
	},
	{
		name: "EndInclusive",
		run:  "Throttle/AddFailure/WindowBoundary",
		wrap: func(s authkit.ThrottleStore) authkit.ThrottleStore { return endInclusive{s} },
		want: []string{"AddFailure/WindowBoundary", "ExpiresAt <= now"},
	},
	{
		name: "FoldedKeys",
		run:  "Throttle/Keys/ByteForByte",
		wrap: func(s authkit.ThrottleStore) authkit.ThrottleStore { return foldedKeys{s} },
		want: []string{"Keys/ByteForByte", "compared byte for byte"},
	},
}

func TestThrottleMutants(t *testing.T) {
	t.Parallel()
	child := os.Getenv(throttleMutantEnv)
	for _, m := range throttleMutants {
		t.Run(m.name, func(t *testing.T) {
			if child == m.name {
				conformance.RunThrottle(t, conformance.PartialHarness[authkit.ThrottleStore]{
					InProcess: true,
					New:       func(t *testing.T) authkit.ThrottleStore { return m.wrap(memory.NewThrottle()) },
				})
				return
			}
			expectSuiteFails(t, throttleMutantEnv, "TestThrottleMutants", m.name, m.run, "throttle store", m.want)
		})
	}
}

// readCounts counts a failure for every key it reads.
type readCounts struct{ authkit.ThrottleStore }

func (s readCounts) ThrottleStates(ctx context.Context, now time.Time, keys ...string) ([]authkit.ThrottleState, error) {
	for _, k := range keys {
		if _, err := s.AddFailure(ctx, k, now, time.Hour); err != nil {
			return nil, err
		}
	}
	return s.ThrottleStore.ThrottleStates(ctx, now, keys...)
}

// slidingWindow reports a window that ends a window after each failure.
type slidingWindow struct{ authkit.ThrottleStore }

func (s slidingWindow) AddFailure(ctx context.Context, key string, now time.Time, window time.Duration) (authkit.ThrottleState, error) {
	st, err := s.ThrottleStore.AddFailure(ctx, key, now, window)
	st.ExpiresAt = now.Add(window)
	return st, err
}

// endInclusive still counts a window whose end is now.
type endInclusive struct{ authkit.ThrottleStore }

func (s endInclusive) ThrottleStates(ctx context.Context, now time.Time, keys ...string) ([]authkit.ThrottleState, error) {
	return s.ThrottleStore.ThrottleStates(ctx, now.Add(-time.Microsecond), keys...)
}

// asciiLower folds A-Z only, leaving every other byte as it is.
func asciiLower(s string) string {
	b := []byte(s)
	for i, c := range b {
		if 'A' <= c && c <= 'Z' {
			b[i] = c + 'a' - 'A'
		}
	}
	return string(b)
}

// foldedKeys compares keys case-insensitively (ASCII), as a
// case-insensitive collation does.
type foldedKeys struct{ authkit.ThrottleStore }

func (s foldedKeys) AddFailure(ctx context.Context, key string, now time.Time, window time.Duration) (authkit.ThrottleState, error) {
	return s.ThrottleStore.AddFailure(ctx, asciiLower(key), now, window)
}

func (s foldedKeys) ThrottleStates(ctx context.Context, now time.Time, keys ...string) ([]authkit.ThrottleState, error) {
	folded := make([]string, len(keys))
	for i, k := range keys {
		folded[i] = asciiLower(k)
	}
	return s.ThrottleStore.ThrottleStates(ctx, now, folded...)
}
