package conformance

import (
	"context"
	"testing"

	"github.com/authkit-go/authkit"
)

// Harness tells [Run] how to make stores of the backend under test. It is a
// struct of funcs, not an interface, so that a field added later breaks no
// existing harness.
type Harness struct {
	// New returns an empty Store sharing no data with any other New call
	// (its own database, schema or key prefix). It registers any teardown
	// with t.Cleanup and fails t (t.Fatal) if it cannot make one. Required.
	New func(t *testing.T) authkit.Store

	// Peer returns another handle on the same data as s, with its own
	// connections: what a second application server would hold. The
	// concurrency and visibility checks then run across both handles.
	// Required unless the store has no backend outside the process
	// (InProcess, or authkit.InProcessStore), where nil means s itself:
	// the "…/Peer/Visibility" checks fail without it, for a store that
	// kept answers per handle would pass every check made through one.
	Peer func(t *testing.T, s authkit.Store) authkit.Store

	// Reopen, if set, closes s and returns a new handle on its data; the
	// suite then checks that what was written survives. Nil skips that
	// check (an in-process store has nothing to reopen).
	Reopen func(t *testing.T, s authkit.Store) authkit.Store

	// Unavailable, if set, returns a Store whose backend cannot be reached
	// (for example a client pointed at a closed port, so that calls fail
	// fast). The suite then checks that every method fails closed with an
	// error matching authkit.ErrStoreUnavailable, never ErrNotFound and
	// never a (false, nil) from IsRevoked. Required unless InProcess is
	// set: the "…/Unavailable" checks fail without it, for a store that
	// turned an outage into "not revoked" or "not found" would pass
	// everything else.
	Unavailable func(t *testing.T) authkit.Store

	// InProcess declares that the store keeps its data in the process
	// and reaches nothing outside it, so that no call can fail for want
	// of a backend and Unavailable may be nil. A store that reports
	// authkit.InProcessStore (the memory store) needs no declaration; a
	// wrapper that hides that report, or a test double, sets this. A
	// store that talks to a server, a file or another process leaves it
	// false and gives Unavailable.
	InProcess bool

	// Stalled, if set, returns a Store whose backend has stopped answering
	// while reachable: connections already open get no reply, new ones are
	// accepted and never answered (for example a client whose connections
	// go through a TCP proxy the harness stalls after a first call, as a
	// network partition or a hung server does). The suite then checks the
	// promise of authkit.DeadlineStore: every method of a store that
	// reports HonorsDeadlines returns soon after its ctx's deadline with an
	// error matching context.DeadlineExceeded or ErrStoreUnavailable. It is
	// required for such a store ("…/Stalled" fails without it: callers run
	// its methods on their own goroutine, so a claim nobody checked can
	// hold every request that reaches a hung backend); for any other store
	// it is not called.
	Stalled func(t *testing.T) authkit.Store

	// LoseData, if set, erases s's data the way a failure of the backend
	// does while its users keep running — a Redis restarted without
	// persistence or flushed (FLUSHDB, or every key of the store's
	// prefix), a truncated revocations table — leaving every handle open.
	// The suite then checks data-loss detection ([RunDataLoss]). Nil skips
	// it: a store whose data lives and dies with its process (the memory
	// store) has nothing to detect.
	LoseData func(t *testing.T, s authkit.Store)

	// TrimFeed, if set, makes s's revocation feed drop from its log every
	// change written so far, as its retention or length limit does with
	// old changes (the revocations themselves stay), leaving every handle
	// open. The suite then checks that a follower from a position before
	// the trim gets authkit.ErrFeedPositionLost rather than the changes
	// after it ("RevocationFeed/Follow/Trimmed"). Nil skips that check.
	TrimFeed func(t *testing.T, s authkit.Store)

	// Severable, if set, returns another handle on s's data, as Peer
	// does, whose every connection to the backend goes through link (for
	// example a [Proxy] made with NewProxy to the server's address, which
	// is a Link). The suite then cuts that handle's connections while it
	// follows the revocation feed and restores them
	// ("RevocationFeed/Follow/ConnectionCut"): every change written
	// meanwhile through s must reach the follower once it can, or
	// FollowRevocations must end with an error; a follower that resumes
	// after the changes it missed and goes on vouching for its copy
	// leaves a revoked token valid in every mirror behind it. Nil skips
	// that check (a store without a connection has nothing to cut).
	Severable func(t *testing.T, s authkit.Store) (peer authkit.Store, link Link)

	// ThrottlesExpireThemselves declares that the store's backend deletes
	// a throttle key by itself once its window has ended (a native TTL),
	// so that its DeleteExpiredThrottles may delete nothing and return 0
	// (authkit.ThrottleStore allows that). Without it, the suite requires
	// DeleteExpiredThrottles to delete every ended window: a cleanup that
	// never deletes would otherwise pass, and keys would pile up for ever.
	ThrottlesExpireThemselves bool

	// ScaleRecords is how many records each ".../Scale" check writes
	// before it lists them and deletes the expired half in batches of
	// 1,000: zero means DefaultScaleRecords (6,000); otherwise at least
	// MinScaleRecords (2,400, so that a cleanup takes more than one
	// batch), rounded up to a multiple of 6. Lower it only where the same
	// backend is checked again (a second driver for the same database) or
	// runs many times slower than in production (a pure-Go database under
	// the race detector).
	ScaleRecords int
}

// PartialHarness is the [Harness] of a backend that implements only one of
// the store interfaces; S is authkit.RefreshStore, authkit.RevocationStore
// or authkit.APITokenStore. Its fields mean what Harness's do.
type PartialHarness[S any] struct {
	// New returns an empty store sharing no data with any other New call.
	// Required.
	New func(t *testing.T) S
	// Peer returns another handle on the same data as s. Required unless
	// the store has no backend outside the process; nil then means s.
	Peer func(t *testing.T, s S) S
	// Reopen closes s and returns a new handle on its data. Nil skips the
	// durability check.
	Reopen func(t *testing.T, s S) S
	// Unavailable returns a store whose backend cannot be reached.
	// Required unless InProcess is set.
	Unavailable func(t *testing.T) S
	// InProcess declares a store with no backend outside the process.
	InProcess bool
	// Stalled returns a store whose backend has stopped answering.
	// Required for a store that reports authkit.DeadlineStore's
	// HonorsDeadlines.
	Stalled func(t *testing.T) S
	// LoseData erases s's data as a backend failure does, handles left
	// open. Nil skips the data-loss checks.
	LoseData func(t *testing.T, s S)
	// TrimFeed drops every change so far from s's feed log. Nil skips the
	// trimmed-follower check.
	TrimFeed func(t *testing.T, s S)
	// Severable returns another handle on s's data whose connections go
	// through link. Nil skips the cut-connection check.
	Severable func(t *testing.T, s S) (peer S, link Link)
	// ThrottlesExpireThemselves declares that the backend deletes ended
	// throttle windows by itself, so that DeleteExpiredThrottles may
	// return 0.
	ThrottlesExpireThemselves bool
	// ScaleRecords is how many records each Scale check writes (0:
	// DefaultScaleRecords).
	ScaleRecords int
}

// Run runs every conformance check against the backend h describes, as
// subtests of t named "Refresh/…", "Revocation/…", "APIToken/…", for a
// store that implements authkit.RevocationFeed "RevocationFeed/…" (see
// [RunRevocationFeed]), for one that implements authkit.Pinger,
// "Ping/…", for one that implements authkit.ThrottleStore
// "Throttle/…" (see [RunThrottle]), for one that implements
// authkit.ClientStore "Clients/…" (see [RunClientStore]), and, when
// h.LoseData is set, "DataLoss/…" (see [RunDataLoss]).
func Run(t *testing.T, h Harness) {
	t.Helper()
	if h.New == nil {
		t.Fatal("conformance: Harness.New is nil; Run needs it to make stores")
	}
	t.Run("Refresh", func(t *testing.T) {
		runRefresh(t, narrow[authkit.RefreshStore](h))
		runRefreshNamed(t, narrow[authkit.RefreshStore](h))
		t.Run("NamedRotations", func(t *testing.T) { runRefreshAs(t, namingHarness(narrow[authkit.RefreshStore](h)), true) })
	})
	t.Run("Revocation", func(t *testing.T) { runRevocation(t, narrow[authkit.RevocationStore](h)) })
	t.Run("APIToken", func(t *testing.T) { runAPIToken(t, narrow[authkit.APITokenStore](h)) })
	t.Run("RevocationFeed", func(t *testing.T) { runRevocationFeed(t, narrow[authkit.RevocationStore](h), false) })
	t.Run("Ping", func(t *testing.T) { runPing(t, h) })
	t.Run("Throttle", func(t *testing.T) { runThrottleOf(t, h) })
	t.Run("Clients", func(t *testing.T) { runClientsOf(t, h) })
	t.Run("DataLoss", func(t *testing.T) { runDataLoss(t, narrow[authkit.RevocationStore](h)) })
}

// RunRefreshStore runs the checks of authkit.RefreshStore (the "Refresh/…"
// subtests of [Run]) against a backend that implements only that interface.
func RunRefreshStore(t *testing.T, h PartialHarness[authkit.RefreshStore]) {
	t.Helper()
	if h.New == nil {
		t.Fatal("conformance: PartialHarness.New is nil; RunRefreshStore needs it to make stores")
	}
	t.Run("Refresh", func(t *testing.T) {
		runRefresh(t, h)
		runRefreshNamed(t, h)
		t.Run("NamedRotations", func(t *testing.T) { runRefreshAs(t, namingHarness(h), true) })
	})
}

// RunRevocationStore runs the checks of authkit.RevocationStore (the
// "Revocation/…" subtests of [Run]) against a backend that implements only
// that interface, and, for a store that implements authkit.RevocationFeed,
// the feed's ("RevocationFeed/…", as [RunRevocationFeed] does: found by
// review, a feed that dropped a change on resuming passed, as this ran
// none of them, and a verifier's mirror accepted a revoked token).
func RunRevocationStore(t *testing.T, h PartialHarness[authkit.RevocationStore]) {
	t.Helper()
	if h.New == nil {
		t.Fatal("conformance: PartialHarness.New is nil; RunRevocationStore needs it to make stores")
	}
	t.Run("Revocation", func(t *testing.T) { runRevocation(t, h) })
	t.Run("RevocationFeed", func(t *testing.T) { runRevocationFeed(t, h, false) })
	if h.LoseData != nil {
		t.Run("DataLoss", func(t *testing.T) { runDataLoss(t, h) })
	}
}

// RunAPITokenStore runs the checks of authkit.APITokenStore (the
// "APIToken/…" subtests of [Run]) against a backend that implements only
// that interface.
func RunAPITokenStore(t *testing.T, h PartialHarness[authkit.APITokenStore]) {
	t.Helper()
	if h.New == nil {
		t.Fatal("conformance: PartialHarness.New is nil; RunAPITokenStore needs it to make stores")
	}
	t.Run("APIToken", func(t *testing.T) { runAPIToken(t, h) })
}

// narrow turns a Harness into the PartialHarness of one of the interfaces
// authkit.Store embeds. The suite only ever hands Peer and Reopen a value
// that New (or Reopen) returned, so the assertion back to Store holds.
func narrow[S any](h Harness) PartialHarness[S] {
	as := func(s authkit.Store) S {
		v, _ := any(s).(S) // a nil Store becomes a nil S, which open reports
		return v
	}
	back := func(s S) authkit.Store {
		v, _ := any(s).(authkit.Store)
		return v
	}
	p := PartialHarness[S]{
		New:                       func(t *testing.T) S { return as(h.New(t)) },
		ScaleRecords:              h.ScaleRecords,
		ThrottlesExpireThemselves: h.ThrottlesExpireThemselves,
		InProcess:                 h.InProcess,
	}
	if h.Peer != nil {
		p.Peer = func(t *testing.T, s S) S { return as(h.Peer(t, back(s))) }
	}
	if h.Reopen != nil {
		p.Reopen = func(t *testing.T, s S) S { return as(h.Reopen(t, back(s))) }
	}
	if h.Unavailable != nil {
		p.Unavailable = func(t *testing.T) S { return as(h.Unavailable(t)) }
	}
	if h.Stalled != nil {
		p.Stalled = func(t *testing.T) S { return as(h.Stalled(t)) }
	}
	if h.LoseData != nil {
		p.LoseData = func(t *testing.T, s S) { h.LoseData(t, back(s)) }
	}
	if h.Severable != nil {
		p.Severable = func(t *testing.T, s S) (S, Link) {
			peer, link := h.Severable(t, back(s))
			return as(peer), link
		}
	}
	if h.TrimFeed != nil {
		p.TrimFeed = func(t *testing.T, s S) { h.TrimFeed(t, back(s)) }
	}
	return p
}

// open makes a fresh store and its peer handle (the store itself when the
// harness has no Peer).
func open[S any](t *testing.T, h PartialHarness[S]) (a, b S) {
	t.Helper()
	a = h.New(t)
	if any(a) == nil {
		t.Fatal("conformance: Harness.New returned nil")
	}
	b = a
	if h.Peer != nil {
		b = h.Peer(t, a)
		if any(b) == nil {
			t.Fatal("conformance: Harness.Peer returned nil")
		}
	}
	return a, b
}

// reopen is h.Reopen, or a logged skip of the durability check.
func reopen[S any](t *testing.T, h PartialHarness[S], s S) (S, bool) {
	t.Helper()
	if h.Reopen == nil {
		t.Log("Harness.Reopen is nil: durability across a reopen is not checked")
		var zero S
		return zero, false
	}
	r := h.Reopen(t, s)
	if any(r) == nil {
		t.Fatal("conformance: Harness.Reopen returned nil")
	}
	return r, true
}

func runPing(t *testing.T, h Harness) {
	t.Run("Healthy", func(t *testing.T) {
		s := h.New(t)
		p, ok := s.(authkit.Pinger)
		if !ok {
			t.Logf("%T does not implement authkit.Pinger: nothing to check", s)
			return
		}
		if err := p.Ping(t.Context()); err != nil {
			t.Errorf("Ping on a healthy store: %v; authkit.Pinger.Ping must return nil when the backend answers", err)
		}
	})
	t.Run("Unavailable", func(t *testing.T) {
		if h.Unavailable == nil {
			noUnavailable(t, narrow[authkit.Store](h))
			return
		}
		s := h.Unavailable(t)
		p, ok := s.(authkit.Pinger)
		if !ok {
			t.Logf("%T does not implement authkit.Pinger: nothing to check", s)
			return
		}
		if err := p.Ping(t.Context()); !isUnavailable(err) {
			t.Errorf("Ping on an unreachable store returned %v; authkit.Pinger.Ping must return an error matching ErrStoreUnavailable when the backend does not answer", err)
		}
	})
	t.Run("Stalled", func(t *testing.T) {
		if _, ok := h.New(t).(authkit.Pinger); !ok {
			t.Log("the store does not implement authkit.Pinger: nothing to check")
			return
		}
		runStalled(t, narrow[authkit.Pinger](h), []call[authkit.Pinger]{
			{"Ping", func(ctx context.Context, p authkit.Pinger) error { return p.Ping(ctx) }, nil},
		})
	})
}
