package conformance_test

import (
	"testing"
	"time"

	"github.com/authkit-go/authkit"
	"github.com/authkit-go/authkit/backends/memory"
	"github.com/authkit-go/authkit/conformance"
)

// A backend's own test runs the whole suite with a harness that makes a
// fresh store per subtest. Here the backend is package memory; a
// networked one would give each New call its own schema, database or key
// prefix and close it with t.Cleanup, and would set Peer to a second
// client on the same data so that the races run across two connections.
// (This example only compiles: the body is what goes in
// func TestConformance(t *testing.T) of the backend's package.)
func Example_customBackend() {
	testConformance := func(t *testing.T) {
		conformance.Run(t, conformance.Harness{
			New: func(t *testing.T) authkit.Store {
				return memory.New()
			},
			Peer: func(t *testing.T, s authkit.Store) authkit.Store {
				return s // in-process: the same store is the only handle
			},
			// Reopen and Unavailable stay nil: an in-process store has
			// nothing to reopen and cannot be unreachable (the memory
			// store reports authkit.InProcessStore). A networked store
			// must give Unavailable, a client pointed at a closed port:
			// the "…/Unavailable" checks fail without it.
		})
	}
	_ = testConformance

	// A backend that keeps only revocations (say, in Redis, next to
	// sessions in PostgreSQL) runs its part alone.
	testRevocations := func(t *testing.T) {
		conformance.RunRevocationStore(t, conformance.PartialHarness[authkit.RevocationStore]{
			New: func(t *testing.T) authkit.RevocationStore { return memory.New() },
		})
	}
	_ = testRevocations

	// The shared benchmarks, under the same names on every backend.
	benchmarkStore := func(b *testing.B) {
		conformance.Bench(b, func(b *testing.B) authkit.Store { return memory.New() })
	}
	_ = benchmarkStore
}

// A store of API tokens another system issues (here a stand-in for a
// table an older service writes) runs the external-token checks. Mint
// writes a token the way that system does and says what the lookup must
// return; Remove deletes it as that system's logout does. (This example
// only compiles: the body goes in a test of the store's package.)
func ExampleRunExternalAPITokens() {
	testExternal := func(t *testing.T) {
		conformance.RunExternalAPITokens(t, conformance.ExternalHarness{
			New: func(t *testing.T) authkit.ExternalAPITokens { return newExtStore() },
			Mint: func(t *testing.T, s authkit.ExternalAPITokens, subject string, expires time.Time) (string, authkit.APIToken) {
				return s.(*extStore).mint(subject, expires)
			},
			Expires: true,
			Remove:  func(t *testing.T, s authkit.ExternalAPITokens, token string) { s.(*extStore).remove(token) },
			// The stand-in keeps its tokens in a map; a store on a
			// database gives Unavailable instead, a client pointed at a
			// closed port.
			InProcess: true,
		})
	}
	_ = testExternal
}
