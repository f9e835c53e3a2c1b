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

const unavailableEnv = "AUTHKIT_CONFORMANCE_NO_UNAVAILABLE"

// TestUnavailableRequired: a harness that gives no Unavailable, for a
// store that does not say it has no backend outside the process, fails
// the suite (found by review: the fail-closed checks were skipped, and a
// store whose IsRevoked answered every backend error with (false, nil)
// passed everything).
func TestUnavailableRequired(t *testing.T) {
	t.Parallel()
	const name = "FailOpenWithoutUnavailable"
	t.Run(name, func(t *testing.T) {
		if os.Getenv(unavailableEnv) == name {
			conformance.Run(t, conformance.Harness{
				New: func(t *testing.T) authkit.Store { return failOpen{memory.New()} },
			})
			return
		}
		expectSuiteFails(t, unavailableEnv, "TestUnavailableRequired", name, "Revocation/Unavailable", "harness",
			[]string{"Revocation/Unavailable", "Harness.Unavailable is nil and Harness.InProcess is false"})
	})
}

// failOpen answers "not revoked" whenever its backend fails, and hides
// the memory store's InProcess report, as a store of its own would.
type failOpen struct{ authkit.Store }

func (s failOpen) IsRevoked(ctx context.Context, q authkit.RevocationQuery, now time.Time) (bool, error) {
	dead, err := s.Store.IsRevoked(ctx, q, now)
	if err != nil {
		return false, nil
	}
	return dead, nil
}
