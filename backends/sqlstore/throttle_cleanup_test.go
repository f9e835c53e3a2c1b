package sqlstore_test

import (
	"testing"
	"time"

	"github.com/authkit-go/authkit"
	"github.com/authkit-go/authkit/issuer"
	"github.com/authkit-go/authkit/keys"
)

// issuer.Cleanup deletes the expired throttle counters of a configured
// store that keeps them: only authkit serve deleted them, and a library
// user's table grew with every guessing address (found by review).
func TestIssuerCleanupDeletesThrottleCounters(t *testing.T) {
	t.Parallel()
	for _, b := range allBackends {
		t.Run(b.name, func(t *testing.T) {
			s, _ := newStore(t, b)
			k, _ := keys.Generate(keys.HS256)
			set, _ := keys.NewSet(k)
			iss, err := issuer.New(authkit.WithKeys(set), authkit.WithStore(s))
			if err != nil {
				t.Fatal(err)
			}
			old := time.Now().Add(-2 * time.Hour)
			for _, key := range []string{"a", "b", "c"} {
				if _, err := s.AddFailure(t.Context(), key, old, time.Hour); err != nil {
					t.Fatal(err)
				}
			}
			if _, err := s.AddFailure(t.Context(), "live", time.Now(), time.Hour); err != nil {
				t.Fatal(err)
			}
			n, err := iss.Cleanup(t.Context(), 0)
			if err != nil || n < 3 {
				t.Fatalf("Cleanup = %d, %v; want the three expired counters among what it deleted", n, err)
			}
			if n, err := s.DeleteExpiredThrottles(t.Context(), time.Now(), 100); err != nil || n != 0 {
				t.Errorf("expired throttle counters left after Cleanup: %d (%v)", n, err)
			}
			st, err := s.ThrottleStates(t.Context(), time.Now(), "live")
			if err != nil || len(st) != 1 || st[0].Failures != 1 {
				t.Errorf("the live counter after Cleanup: %+v, %v", st, err)
			}
		})
	}
}
