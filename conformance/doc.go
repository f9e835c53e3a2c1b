// Package conformance checks that an authkit store keeps every promise the
// store interfaces of package authkit make in their doc comments:
// [authkit.RefreshStore], [authkit.RevocationStore] and
// [authkit.APITokenStore]. Every backend in this module runs it from its own
// tests, and so should a custom backend: a store that passes it can be given
// to issuer.New and verifier.New without further review of its semantics.
//
// The suite plays the role testing/fstest.TestFS plays for fs.FS
// implementations and gocloud.dev's drivertest plays for blob drivers:
// backends/memory is the reference implementation it ships beside.
//
// # Using it
//
// A backend's package adds one test that tells [Run] how to make a fresh,
// empty store:
//
//	func TestConformance(t *testing.T) {
//		conformance.Run(t, conformance.Harness{
//			New: func(t *testing.T) authkit.Store {
//				s, err := mystore.Open(dsnForAFreshSchema(t))
//				if err != nil {
//					t.Fatal(err)
//				}
//				t.Cleanup(func() { s.Close() })
//				return s
//			},
//			// A second handle on the same data, with its own
//			// connections, as a second application server holds
//			// (required, unless the store has no backend outside the
//			// process).
//			Peer: func(t *testing.T, s authkit.Store) authkit.Store {
//				p, err := mystore.Open(s.(*mystore.Store).DSN())
//				if err != nil {
//					t.Fatal(err)
//				}
//				t.Cleanup(func() { p.Close() })
//				return p
//			},
//			// A client pointed at a port nothing listens on: every
//			// method must fail closed (required, unless the store has
//			// no backend outside the process).
//			Unavailable: func(t *testing.T) authkit.Store {
//				s, err := mystore.Open("postgres://127.0.0.1:1/none?connect_timeout=1")
//				if err != nil {
//					t.Fatal(err)
//				}
//				t.Cleanup(func() { s.Close() })
//				return s
//			},
//		})
//	}
//
//	func BenchmarkStore(b *testing.B) {
//		conformance.Bench(b, func(b *testing.B) authkit.Store { return openFresh(b) })
//	}
//
// A backend that implements only one of the interfaces (an application may
// keep sessions in PostgreSQL and revocations in Redis) runs
// [RunRefreshStore], [RunRevocationStore] or [RunAPITokenStore] with a
// [PartialHarness] instead; RunRevocationStore also runs the feed's checks
// for a store that implements [authkit.RevocationFeed].
//
// A store that implements the optional [authkit.RevocationFeed] (a
// snapshot of what is revoked and a stream of what changes, which a
// verifier's revocation mirror follows) is checked by [Run] as well, under
// "RevocationFeed/…", and by RunRevocationStore for a revocations-only
// backend (no need to call [RunRevocationFeed] beside it, which would run
// the same checks twice). Set Harness.Peer, so that one handle writes
// while another follows, as two application servers would, and
// Harness.Reopen for a store whose data survives a restart: its log must
// survive too.
//
// A store that implements the optional [authkit.ThrottleStore] (shared
// counters of failed password attempts) is checked by [Run] too, under
// "Throttle/…"; a throttle store of a type of its own runs [RunThrottle].
//
// A store that implements the optional [authkit.ClientStore] (OAuth 2.0
// client registrations and single-use authorization codes) is checked by
// [Run] under "Clients/…"; a client store of a type of its own runs
// [RunClientStore].
//
// A store of API tokens another system issues, an
// [authkit.ExternalAPITokens] (Django REST framework's keys, knox tokens),
// runs [RunExternalAPITokens] with an [ExternalHarness] whose Mint makes
// tokens as that system does: "External/…" checks that a lookup finds
// exactly the token presented (never a near miss a case-insensitive or
// space-padding collation would match, nor one a LIKE, GLOB or regular
// expression lookup would), that a token its system removed
// is no longer live, that OwnsToken is a pure function of the token's form,
// and that dead contexts and unreachable backends fail closed.
//
// A store that implements the optional [authkit.DeadlineStore] and reports
// HonorsDeadlines is called by the issuer and the verifier on the request's
// goroutine, trusting it to return at its ctx's deadline. Every group then
// has a "…/Stalled/<Method>" check that calls each method on the store
// Harness.Stalled returns (its backend has stopped answering) with a 250ms
// deadline; a call still running 5 seconds later, or one that does not
// fail closed, fails it. Without Harness.Stalled such a store fails
// "…/Stalled". [NewProxy] makes the stalled backend: a TCP proxy the
// harness stalls once the store has a connection open.
//
// Each check is a named subtest ("Refresh/Rotate/ExactlyOneWinner",
// "Revocation/SetCutoff/Boundary", …), so one of them can be run alone with
// go test -run, and each failure message quotes the rule the store broke.
// The rotation checks run twice: as written, and again under
// "Refresh/NamedRotations/…" with every rotation naming its session
// (authkit.Rotation.SessionID), as the issuer's do, so that a store with a
// path of its own for named rotations is held to the same rules on it.
// Every subtest gets a store of its own from Harness.New (the Stalled
// checks of a group share one store from Harness.Stalled, calling all its
// methods at once). The suite never
// calls t.Parallel on the caller's behalf; it starts goroutines only inside
// the concurrency checks and waits for them.
//
// # What a store must keep
//
//   - Time: apart from the feed checks, the suite never reads the wall
//     clock for logic, and sleeps only to spread the writers of two races
//     (Refresh/Rotate/RacingRevokeSession,
//     Revocation/DeleteExpiredRevocations/RacingExtension); the race
//     checks that repeat (…Rounds) stop after about 250 ms. It passes explicit times around a
//     fixed base, 2030-01-02T03:04:05.123456Z, and offsets from it. A store must keep
//     timestamps to at least the microsecond and must keep the instant: a
//     time written in another zone, or with nanoseconds, comes back within
//     a microsecond of it, whatever its Location (a store may truncate or
//     round below the microsecond). Boundaries are exact: ExpiresAt, an
//     idle expiry or an until equal to now counts as expired, and a token
//     issued exactly at its subject's cutoff is dead. The suite checks
//     them with whole-microsecond times, so a store that keeps microseconds
//     sees them exactly; Revocation/TextTimes adds times at whole seconds
//     and in zones other than UTC, which a store comparing instants as
//     text gets wrong. Cutoffs are checked 100ms before, at, and 1ms
//     after: a store keeping cutoffs in whole seconds fails (a logout-all
//     would miss tokens issued in the same second), and one keeping less
//     than the microsecond must round cutoffs up.
//   - Garbage collection: within one subtest the times the suite passes
//     never go backwards, and a store may drop an entry once a call has
//     passed it a time at which the entry is expired (as memory does, and
//     as native TTLs may); the suite never expects such an entry to be
//     found by a later call. The call itself must still judge the entry:
//     a used refresh token presented after its expiry is reuse, not "not
//     found".
//   - Bytes: subjects, IDs and names are compared byte for byte, never case
//     folded, Unicode-normalised or trimmed ("Alice", "alice", "e\u0301" and
//     "\u00e9", "alice" and "alice " are five subjects). Session.Claims,
//     RefreshRecord.Successor and Rotation.Successor are opaque bytes and
//     must round-trip exactly (any byte value, not re-encoded as JSON).
//     A nil and an empty slice may come back as each other.
//   - Concurrency: rotation and API token creation are raced from 64 and
//     32 goroutines, spread over the store and its [Harness.Peer] when one
//     is given, and each group's ReadersDuringWrites calls its read
//     methods while other goroutines write. Run the suite under -race:
//     a read that skips the store's lock is then reported every time.
//   - Feed: the feed checks ask FollowRevocations for a heartbeat every
//     100ms and wait on real time for it: a follower's changes are taken
//     as complete at the first heartbeat 300ms after the last write (a
//     heartbeat vouches for changes one heartbeat old; the rest is
//     allowance for a loaded machine), and anything a feed promises is
//     waited for at most 10 seconds. They take a few seconds in all.
//   - Scale: listing and cleanup run over 6,000 records per interface,
//     written from a few goroutines, so the whole suite takes seconds on an
//     in-process store and well under a minute on a networked database.
package conformance
