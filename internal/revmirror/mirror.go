// Package revmirror keeps a local copy of a revocation store, so that a
// verifier answers "is this token revoked?" from memory instead of a store
// round trip per request.
//
// A [Mirror] is an [authkit.RevocationStore] that decorates one which also
// implements [authkit.RevocationFeed]: it takes a snapshot of what is in
// force, follows the feed's changes from the snapshot's position in a
// goroutine of its own, and answers IsRevoked from its copy. Writes go to
// the store, and once the store has taken them, into the copy too. A
// verifier wraps its store in one line:
//
//	m, err := revmirror.New(store, revmirror.Options{MaxLag: maxLag, Clock: clock, Logger: log})
//	// use m as the RevocationStore; m.Close() when the verifier is done
//
// # Staleness
//
// The copy is trusted only while it is fresh: while every change made to
// the store more than MaxLag ago is known to be in it. The feed vouches for
// that (see RevocationFeed.FollowRevocations: every call of its callback
// covers the changes written at least one heartbeat before the call), and
// the Mirror asks it for a heartbeat of MaxLag/4 by default, so that the
// copy stays fresh through two missed heartbeats. When the copy is not
// fresh — before the first snapshot, while the feed is down, silent or
// behind, after Close — IsRevoked asks the store, as a verifier without a
// mirror does, and returns the store's error (ErrStoreUnavailable) when the
// store cannot answer. The Mirror never answers "not revoked" from a copy
// older than MaxLag. It may still answer "revoked" from a stale copy: an
// entry never comes back to life before its until. Freshness is judged
// with Options.Clock (the verifier's clock); the heartbeat, the
// reconnection backoff and the watchdog run on real timers.
//
// # Following
//
// The Mirror reconnects from its last position after a feed error, with
// a growing, jittered backoff, so it catches up without a gap and without
// a new snapshot; it takes a new snapshot when the feed answers
// ErrFeedPositionLost. A feed that stays connected but silent for longer
// than MaxLag is dropped and reconnected. A change of a kind the Mirror
// does not know stops it from following (it stays stale and asks the
// store) rather than be skipped.
//
// # Memory
//
// The copy holds what is in force and little more: an entry leaves a
// grace period (one minute) after EntryClock passes its until, swept after each call of
// the feed in chunks, at a cost of O(log n) per expired entry. Memory stays
// proportional to what is revoked and not yet expired.
//
// # Clock steps
//
// An entry left out or swept is gone from the copy, so the Mirror
// remembers the latest time it may have dropped entries at (EntryClock
// minus the grace; after a snapshot, the snapshot's time, since the store
// leaves out what expired before it; by the wall clock: a step of the wall
// clock moves no monotonic reading). A check whose now is before it — the
// clock stepped forward, then back; a caller that read its now long before
// asking, or just before a snapshot — is answered by the store, not the
// copy (asked at the present first, so that a store finding its epoch
// marker gone dates the loss now, not at the old now), and a feed call
// that finds EntryClock back more than the grace before it takes a new
// snapshot, which the store builds
// with everything still in force (found by review: a clock stepped two
// hours forward swept a revocation still in force, and once stepped back
// the copy, fresh again, said "not revoked").
//
// # Concurrency
//
// A Mirror is safe for concurrent use. IsRevoked on a fresh copy takes a
// read lock and does at most three map lookups, without allocating.
package revmirror

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"github.com/authkit-go/authkit"
)

var _ authkit.RevocationStore = (*Mirror)(nil)

// Options configures a Mirror. MaxLag is required; the rest have defaults.
type Options struct {
	// MaxLag is how far behind the store the copy may be and still be
	// trusted. Required, > 0.
	MaxLag time.Duration
	// Heartbeat is the heartbeat asked of the feed. Default MaxLag/4; it
	// must be shorter than MaxLag. The copy is fresh while the last call
	// of the feed's callback is at most MaxLag-Heartbeat old.
	Heartbeat time.Duration
	// Clock is the time source freshness is judged with. Default
	// time.Now.
	Clock func() time.Time
	// EntryClock is the time source the entries' expiry is judged with:
	// the clock of the IsRevoked callers' now (a verifier's WithClock),
	// so that an entry leaves the copy only once the tokens it covers
	// are expired by that clock. Default Clock.
	EntryClock func() time.Time
	// Logger receives feed errors and reconnections (warnings), and, once
	// the feed is followed again after one, that it is (info). Default:
	// discard.
	Logger *slog.Logger
	// MinBackoff and MaxBackoff bound the wait before reconnecting after a
	// feed error, doubling from MinBackoff (each wait jittered down by up
	// to half). Defaults 100ms, and the shorter of MaxLag and 5 seconds
	// (at least MinBackoff).
	MinBackoff, MaxBackoff time.Duration
	// Listen, when set, registers a listener of the revocations written
	// in this process (a store's authkit.RevocationListeners): New calls
	// it with Apply before it starts taking its first snapshot, so that no
	// write falls between the snapshot and the listening, and Close calls
	// the stop function it returns.
	Listen func(fn func(authkit.Revocation)) (stop func())
}

// Stats describes a Mirror at one moment, for tests and metrics.
type Stats struct {
	// Entries is how many revocations the copy holds.
	Entries int
	// Fresh reports whether IsRevoked would answer from the copy.
	Fresh bool
	// LastHeard is when (by Options.Clock) the Mirror last took a snapshot
	// or heard from the feed; zero if never.
	LastHeard time.Time
	// Covered is the time before which every change is known to be in the
	// copy; zero if none is.
	Covered time.Time
	// Fallbacks counts IsRevoked calls answered by the store because the
	// copy was not fresh.
	Fallbacks uint64
	// Snapshots counts snapshots taken; Reconnects counts feed connections
	// after the first one.
	Snapshots, Reconnects uint64
}

// Mirror is an authkit.RevocationStore that answers IsRevoked from a local
// copy kept current by the store's RevocationFeed. Make one with [New] and
// stop it with Close.
type Mirror struct {
	store     authkit.RevocationStore
	feed      authkit.RevocationFeed
	maxLag    time.Duration
	heartbeat time.Duration
	minWait   time.Duration
	maxWait   time.Duration
	clock     func() time.Time // freshness
	entries   func() time.Time // the entries' expiry
	log       *slog.Logger

	// covered is the time before which every change is in the copy; nil
	// while the copy vouches for nothing (before the first snapshot, after
	// Close).
	covered   atomic.Pointer[time.Time]
	lastHeard atomic.Pointer[time.Time]
	fallbacks atomic.Uint64
	snapshots atomic.Uint64
	reconnect atomic.Uint64
	// troubled is when (by clock) the first warning of a run of failures
	// was logged, nil while the feed is followed: the next feed call logs
	// that it is again, so that an operator sees the outage end.
	troubled atomic.Pointer[time.Time]

	mu sync.RWMutex
	st *state
	// dropped is the latest cut (EntryClock minus dropGrace, or a
	// snapshot's own time; wall clock only) the copy has left out or
	// swept entries at, moved on by every
	// sweep, feed call and write whether or not anything was dropped:
	// every entry whose until is after it is in the copy, and a check at
	// an earlier now asks the store.
	dropped time.Time
	// pending holds the writes made through the Mirror while a snapshot is
	// being built (building), applied to the new copy when it replaces
	// the old one.
	building bool
	pending  []authkit.Revocation
	// compactPending holds, with the time each was applied at, the writes
	// made through the Mirror while sweep builds a compacted copy
	// (compacting), applied to the copy when it replaces the old one.
	compacting     bool
	compactPending []timedRevocation
	// sweeping serialises sweep: the follower is its only caller but for
	// tests. afterCompactCopy, if set (tests), runs between the build of a
	// compacted copy and its replacing the copy.
	sweeping         sync.Mutex
	afterCompactCopy atomic.Pointer[func()]
	// closed is set by Close: from then on nothing makes the copy vouch
	// again (covered stays nil), even a feed call that returns after
	// Close stopped waiting for it.
	closed bool

	stop      context.CancelFunc
	unlisten  func() // from Options.Listen; nil without
	done      chan struct{}
	closeOnce sync.Once
}

// sweepChunk is how many expired entries one hold of the write lock
// removes.
const sweepChunk = 256

// dropGrace is how long after its until an entry stays in the copy: a
// check whose now was read up to this long before the copy dropped it
// (a request that waited for a key set, a paused process) still finds it
// there rather than asking the store.
const dropGrace = time.Minute

// cut is the time the copy drops entries at: an entry whose until is at
// or before it is left out or swept.
//
// It carries no monotonic reading (Round(0)): the entries' untils have
// none, so the sweep judges by the wall clock, and the records of what was
// dropped must too. With one, a comparison with a caller's now (from
// time.Now, monotonic as well) would use the monotonic readings alone,
// which a step of the wall clock does not move, and miss the step that
// swept an entry (found by review).
func (m *Mirror) cut() time.Time { return m.entries().Round(0).Add(-dropGrace) }

// droppedAt records, under the write lock, that the copy dropped entries
// up to cut.
func (m *Mirror) droppedAt(cut time.Time) {
	if cut.After(m.dropped) {
		m.dropped = cut
	}
}

// errClockStepped ends a follow whose EntryClock is back more than
// dropGrace before the time the copy dropped entries at: the copy may lack
// entries in force, and a new snapshot restores them.
var errClockStepped = errors.New("revmirror: the entry clock stepped back before entries the copy dropped; taking a new snapshot")

// New returns a Mirror of store, which must implement
// authkit.RevocationFeed, and starts following the feed. It does not wait
// for the first snapshot: until it is in, IsRevoked asks the store. Every
// error matches authkit.ErrInvalidConfig.
func New(store authkit.RevocationStore, o Options) (*Mirror, error) {
	if store == nil {
		return nil, fmt.Errorf("%w: revmirror: nil store", authkit.ErrInvalidConfig)
	}
	feed, ok := store.(authkit.RevocationFeed)
	if !ok {
		return nil, fmt.Errorf("%w: revmirror: %T does not implement authkit.RevocationFeed", authkit.ErrInvalidConfig, store)
	}
	if o.MaxLag <= 0 {
		return nil, fmt.Errorf("%w: revmirror: MaxLag %v must be positive", authkit.ErrInvalidConfig, o.MaxLag)
	}
	if o.Heartbeat == 0 {
		o.Heartbeat = o.MaxLag / 4
	}
	if o.Heartbeat <= 0 || o.Heartbeat >= o.MaxLag {
		return nil, fmt.Errorf("%w: revmirror: Heartbeat %v must be positive and shorter than MaxLag %v", authkit.ErrInvalidConfig, o.Heartbeat, o.MaxLag)
	}
	if o.Clock == nil {
		o.Clock = time.Now
	}
	if o.EntryClock == nil {
		o.EntryClock = o.Clock
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.MinBackoff <= 0 {
		o.MinBackoff = 100 * time.Millisecond
	}
	if o.MaxBackoff <= 0 {
		o.MaxBackoff = min(o.MaxLag, 5*time.Second)
	}
	o.MaxBackoff = max(o.MaxBackoff, o.MinBackoff)
	ctx, stop := context.WithCancel(context.Background())
	m := &Mirror{
		store:     store,
		feed:      feed,
		maxLag:    o.MaxLag,
		heartbeat: o.Heartbeat,
		minWait:   o.MinBackoff,
		maxWait:   o.MaxBackoff,
		clock:     o.Clock,
		entries:   o.EntryClock,
		log:       o.Logger,
		st:        newState(),
		stop:      stop,
		done:      make(chan struct{}),
	}
	if o.Listen != nil {
		m.unlisten = o.Listen(m.Apply)
	}
	go m.run(ctx)
	return m, nil
}

// Close stops following the feed and waits until the goroutine New
// started has returned, for at most closeWait: a driver that does not
// end a call when its context is cancelled (lib/pq on a stalled network,
// whose cancel request stalls with it) holds that goroutine until the
// call returns, and Close then returns without it (found by review: it
// waited as long as the network stalled); the goroutine ends by itself.
// Afterwards the Mirror is a plain pass-through to the store: IsRevoked
// asks it every time, whatever that goroutine still delivers. Close is
// idempotent and always returns nil.
func (m *Mirror) Close() error {
	m.closeOnce.Do(func() {
		if m.unlisten != nil {
			m.unlisten()
		}
		m.mu.Lock()
		m.closed = true
		m.covered.Store(nil)
		m.mu.Unlock()
		m.stop()
		t := time.NewTimer(closeWait)
		defer t.Stop()
		select {
		case <-m.done:
		case <-t.C:
			m.log.Warn("authkit: revocation mirror: closed while its feed call still runs (the driver ignores cancellation); it ends when that call returns")
		}
	})
	return nil
}

// closeWait bounds how long Close waits for the goroutine to return.
var closeWait = 5 * time.Second // a var for the tests

// Stats returns the Mirror's counters and state.
func (m *Mirror) Stats() Stats {
	m.mu.RLock()
	n := m.st.len()
	m.mu.RUnlock()
	s := Stats{
		Entries:    n,
		Fresh:      m.fresh(),
		Fallbacks:  m.fallbacks.Load(),
		Snapshots:  m.snapshots.Load(),
		Reconnects: m.reconnect.Load(),
	}
	if c := m.covered.Load(); c != nil {
		s.Covered = *c
	}
	if h := m.lastHeard.Load(); h != nil {
		s.LastHeard = *h
	}
	return s
}

// fresh reports whether the copy may be trusted now: every change written
// more than maxLag ago is in it.
func (m *Mirror) fresh() bool {
	c := m.covered.Load()
	if c == nil {
		return false
	}
	// The wall clocks' difference (Round(0) drops the monotonic reading,
	// which Sub would otherwise use): Linux's monotonic clock stops while
	// the machine is suspended, so after a resume the copy would look as
	// young as before it, however much was revoked meanwhile. A wall
	// clock stepped forward makes the copy look old, one stepped back
	// makes d negative: either way the store answers, never a stale copy.
	d := m.clock().Round(0).Sub(*c)
	return d >= 0 && d <= m.maxLag
}

// IsRevoked implements authkit.RevocationStore: from the copy while it is
// fresh; else "revoked" if the copy says so, and otherwise the store's
// answer (failing closed with the store's error).
func (m *Mirror) IsRevoked(ctx context.Context, q authkit.RevocationQuery, now time.Time) (bool, error) {
	if err := ctx.Err(); err != nil {
		return false, fmt.Errorf("revmirror: IsRevoked: %w", err)
	}
	fresh := m.fresh()
	m.mu.RLock()
	dead := m.st.dead(q, now)
	since, lost := m.st.lost(q)
	// The copy may have dropped an entry in force at now.
	early := now.Before(m.dropped)
	m.mu.RUnlock()
	if lost {
		// The store lost data after q was issued; an epoch only ever
		// moves forward, so even a stale copy may say so.
		return true, &authkit.DataLossError{Since: since}
	}
	if dead || (fresh && !early) {
		// A stale copy may still say "revoked": an entry never comes
		// back to life before its until, which dead has checked.
		return dead, nil
	}
	m.fallbacks.Add(1)
	if early {
		// now is at least a minute old. A store that finds its epoch
		// marker gone starts the new epoch at the now it is asked with,
		// so it is asked at the present first: asked only at the old
		// now, it would date a loss before it happened, and tokens
		// revoked in between would pass every verifier (found by
		// review). Revoked at the present is revoked at now too.
		if cur := m.entries().Round(0); cur.After(now) {
			dead, err := m.store.IsRevoked(ctx, q, cur)
			if errors.Is(err, authkit.ErrDataLoss) {
				return true, err
			}
			if err != nil {
				return false, fmt.Errorf("revmirror: store: %w", err)
			}
			if dead {
				return true, nil
			}
		}
	}
	dead, err := m.store.IsRevoked(ctx, q, now)
	if errors.Is(err, authkit.ErrDataLoss) {
		return true, err
	}
	if err != nil {
		return false, fmt.Errorf("revmirror: mirror stale, store: %w", err)
	}
	return dead, nil
}

// RevokeToken implements authkit.RevocationStore: the store first, then
// the copy, so that the Mirror sees its own writes at once.
func (m *Mirror) RevokeToken(ctx context.Context, subject, jti string, until time.Time) error {
	if err := m.store.RevokeToken(ctx, subject, jti, until); err != nil {
		return err
	}
	m.local(authkit.Revocation{Kind: authkit.RevokedToken, Subject: subject, ID: jti, Until: until})
	return nil
}

// RevokeSessionTokens implements authkit.RevocationStore, like RevokeToken.
func (m *Mirror) RevokeSessionTokens(ctx context.Context, subject, sid string, until time.Time) error {
	if err := m.store.RevokeSessionTokens(ctx, subject, sid, until); err != nil {
		return err
	}
	m.local(authkit.Revocation{Kind: authkit.RevokedSession, Subject: subject, ID: sid, Until: until})
	return nil
}

// SetCutoff implements authkit.RevocationStore, like RevokeToken.
func (m *Mirror) SetCutoff(ctx context.Context, subject string, cutoff, until time.Time) error {
	if err := m.store.SetCutoff(ctx, subject, cutoff, until); err != nil {
		return err
	}
	m.local(authkit.Revocation{Kind: authkit.RevokedBefore, Subject: subject, Cutoff: cutoff, Until: until})
	return nil
}

// DeleteExpiredRevocations implements authkit.RevocationStore by asking
// the store; the copy sweeps itself.
func (m *Mirror) DeleteExpiredRevocations(ctx context.Context, now time.Time, limit int) (int, error) {
	return m.store.DeleteExpiredRevocations(ctx, now, limit)
}

// Apply applies r, a revocation the store has taken, to the copy at once,
// as the feed will later: for a store's authkit.RevocationListeners, so
// that writes made through the same store value in this process count
// before the feed brings them.
func (m *Mirror) Apply(r authkit.Revocation) { m.local(r) }

// local applies a write the store has taken to the copy (and to the one
// being built, if any). The feed delivers it again later; applying twice
// is harmless.
func (m *Mirror) local(r authkit.Revocation) {
	now := m.cut()
	m.mu.Lock()
	defer m.mu.Unlock()
	m.droppedAt(now)
	m.st.apply(r, now)
	if m.building {
		m.pending = append(m.pending, r)
	}
	if m.compacting {
		m.compactPending = append(m.compactPending, timedRevocation{r, now})
	}
}

// timedRevocation is a write and the time it was applied at.
type timedRevocation struct {
	r   authkit.Revocation
	now time.Time
}

// errUnknownKind stops following: a change the Mirror cannot apply must
// not be skipped.
var errUnknownKind = errors.New("revmirror: the feed delivered a revocation of an unknown kind")

// run follows the feed until ctx ends.
func (m *Mirror) run(ctx context.Context) {
	defer close(m.done)
	var (
		pos     authkit.FeedPosition
		synced  bool
		backoff = m.minWait
		first   = true
	)
	for ctx.Err() == nil {
		m.sweep()
		if !synced {
			p, err := m.snapshot(ctx)
			if err != nil {
				if ctx.Err() != nil {
					return
				}
				m.log.WarnContext(ctx, "authkit: revocation mirror: snapshot failed; the store answers meanwhile", "err", err, "retry_in", backoff)
				m.trouble()
				backoff = m.wait(ctx, backoff)
				continue
			}
			pos, synced = p, true
		}
		if !first {
			m.reconnect.Add(1)
		}
		first = false
		heard, err := m.follow(ctx, &pos)
		if heard {
			backoff = m.minWait
		}
		switch {
		case ctx.Err() != nil:
			return
		case errors.Is(err, errClockStepped):
			m.log.WarnContext(ctx, "authkit: revocation mirror: clock stepped back; taking a new snapshot, the store answers meanwhile")
			m.trouble()
			synced = false
		case errors.Is(err, authkit.ErrFeedPositionLost):
			m.log.InfoContext(ctx, "authkit: revocation mirror: feed position lost; taking a new snapshot", "err", err)
			synced = false
			if !heard {
				// Lost again before hearing anything: do not hammer the
				// store with snapshots.
				backoff = m.wait(ctx, backoff)
			}
		default:
			if err == nil {
				err = errors.New("revmirror: FollowRevocations returned nil")
			}
			m.log.WarnContext(ctx, "authkit: revocation mirror: feed failed; reconnecting", "err", err, "retry_in", backoff)
			m.trouble()
			backoff = m.wait(ctx, backoff)
		}
	}
}

// trouble notes that a warning was logged, keeping the time of the first
// of a run.
func (m *Mirror) trouble() {
	now := m.clock()
	m.troubled.CompareAndSwap(nil, &now)
}

// recovered logs, once after a run of warnings, that the feed is followed
// again, and for how long it was not (found by review: the warnings
// stopped and nothing said the outage had ended).
func (m *Mirror) recovered(ctx context.Context, now time.Time) {
	if since := m.troubled.Swap(nil); since != nil {
		m.log.InfoContext(ctx, "authkit: revocation mirror: following the feed again; the copy answers", "troubled_for", now.Sub(*since).Round(time.Millisecond))
	}
}

// snapshot builds a new copy from the feed's snapshot and puts it in place
// of the old one, which keeps answering (while fresh) in the meantime.
func (m *Mirror) snapshot(ctx context.Context) (authkit.FeedPosition, error) {
	// The store gets the current time: a snapshot that finds the epoch
	// marker gone starts the new epoch at it, and an earlier time would
	// date the loss before it happened, so that tokens revoked just before
	// it would pass every verifier (found by review: the cut, a minute
	// early, did that on Redis, PostgreSQL and MariaDB). The copy applies
	// its entries at the cut, as everywhere else.
	start, now := m.clock(), m.entries().Round(0)
	at := now.Add(-dropGrace)
	m.mu.Lock()
	m.building, m.pending = true, nil
	m.mu.Unlock()
	st := newState()
	pos, err := m.feed.RevocationSnapshot(ctx, now, func(r authkit.Revocation) error {
		if !known(r.Kind) {
			return errUnknownKind
		}
		st.apply(r, at)
		return nil
	})
	if err == nil {
		// What the old copy held stays until it expires, whatever the new
		// snapshot says: a store restored from a backup that holds its
		// epoch marker, or a failover to a replica that missed writes,
		// lost revocations without a new epoch, and this copy is the only
		// place they are still known (found by review, 2026-12-03). Under
		// the read lock, so that checks go on meanwhile; a write made in
		// the meantime is in pending.
		m.mu.RLock()
		m.st.carryInto(st, at)
		m.mu.RUnlock()
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	pending := m.pending
	m.building, m.pending = false, nil
	if err != nil {
		return "", err
	}
	for _, r := range pending {
		st.apply(r, at)
	}
	m.st = st
	// The new copy holds everything the store holds in force after now,
	// whatever the old one had dropped.
	m.dropped = now
	m.snapshots.Add(1)
	if m.closed {
		return "", errClosed
	}
	m.covered.Store(&start)
	m.lastHeard.Store(&start)
	return pos, nil
}

// follow runs one FollowRevocations from *pos, applying what it delivers,
// and reports whether the feed called back at all. A watchdog drops the
// connection, with a warning, when the feed stays silent for as long as
// the copy stays fresh after a call (MaxLag less a heartbeat: a call
// vouches for what was written a heartbeat before it), but never sooner
// than two heartbeats. It waited MaxLag, and a feed calling back a little
// less often than that kept the copy stale, every check on the store,
// with nothing logged (found by review).
func (m *Mirror) follow(ctx context.Context, pos *authkit.FeedPosition) (heard bool, err error) {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	silence := max(m.maxLag-m.heartbeat, 2*m.heartbeat)
	watchdog := time.AfterFunc(silence, func() { cancel(errSilent) })
	defer watchdog.Stop()
	err = m.feed.FollowRevocations(ctx, *pos, m.heartbeat, func(changes []authkit.Revocation, p authkit.FeedPosition) error {
		for _, r := range changes {
			if !known(r.Kind) {
				return fmt.Errorf("%w: kind %d", errUnknownKind, r.Kind)
			}
		}
		now, at := m.clock(), m.cut()
		m.mu.Lock()
		// A step back of more than the grace: until the clock catches up,
		// every check would be too old for the copy and go to the store,
		// so a new snapshot is worth it. A smaller one (a clock jittering
		// back right after a snapshot) costs at most the grace of store
		// checks, not a snapshot.
		if at.Add(2 * dropGrace).Before(m.dropped) {
			m.mu.Unlock()
			return errClockStepped
		}
		m.droppedAt(at)
		for _, r := range changes {
			m.st.apply(r, at)
			if m.compacting { // only when a test sweeps beside the follower
				m.compactPending = append(m.compactPending, timedRevocation{r, at})
			}
		}
		if m.closed {
			m.mu.Unlock()
			return errClosed
		}
		*pos, heard = p, true
		// The call vouches for every change written a heartbeat before
		// it; the snapshot (or an earlier call) may vouch for more.
		// A covered time ahead of the clock (the wall clock stepped back)
		// is replaced too: moving it back only makes the copy more
		// cautious, and keeping it would leave the copy stale, every check
		// on the store, for the length of the step. The comparison is on
		// the wall clock, with or without a monotonic reading. (Under the
		// lock: Close, which clears it, may not come between.)
		covered := now.Add(-m.heartbeat)
		if c := m.covered.Load(); c == nil || covered.After(*c) || c.UnixNano() > now.UnixNano() {
			m.covered.Store(&covered)
		}
		m.lastHeard.Store(&now)
		m.mu.Unlock()
		watchdog.Reset(silence)
		m.recovered(ctx, now)
		m.sweep()
		return nil
	})
	if context.Cause(ctx) == errSilent {
		err = errSilent
	}
	return heard, err
}

var errSilent = errors.New("revmirror: the feed stayed silent; reconnecting")

// errClosed ends a feed call or snapshot that returned after Close.
var errClosed = errors.New("revmirror: closed")

// sweep removes every expired entry, a chunk per hold of the write lock,
// then compacts the copy if it holds a quarter or less of what it once
// held. The compacted copy is built under the read lock (checks go on;
// writes wait, about 10 ms per 100,000 entries kept), and the writes made
// through the Mirror from the start of the build are applied to it before
// it replaces the copy (until a review found it, a write meanwhile made
// the copy be thrown away, and under a steady stream of writes every
// sweep copied the whole copy again and never compacted). Only the
// follower calls sweep, and the follower makes the other changes (the feed
// and snapshots), so local writes are the only ones that can come between
// (the feed's are recorded too, for a test's sweep beside the follower).
func (m *Mirror) sweep() {
	m.sweeping.Lock()
	defer m.sweeping.Unlock()
	now := m.cut()
	for {
		m.mu.Lock()
		m.droppedAt(now)
		n := m.st.sweep(now, sweepChunk)
		m.mu.Unlock()
		if n < sweepChunk {
			break
		}
	}
	m.mu.Lock()
	st := m.st
	if !st.needsCompact() {
		m.mu.Unlock()
		return
	}
	m.compacting = true
	m.mu.Unlock()
	m.mu.RLock()
	c := st.compacted()
	m.mu.RUnlock()
	if f := m.afterCompactCopy.Load(); f != nil {
		(*f)()
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	pending := m.compactPending
	m.compacting, m.compactPending = false, nil
	if m.st != st {
		return
	}
	for _, w := range pending {
		c.apply(w.r, w.now)
	}
	m.st = c
}

// wait sleeps for a jittered d (between d/2 and d) or until ctx ends, and
// returns the next backoff.
func (m *Mirror) wait(ctx context.Context, d time.Duration) time.Duration {
	t := time.NewTimer(d/2 + rand.N(d/2+1))
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
	return min(2*d, m.maxWait)
}
