// Package feedtest is a reference [authkit.RevocationStore] that also
// implements [authkit.RevocationFeed], kept in memory, with knobs that
// break it on purpose: an unreachable backend, a broken or silent feed, a
// trimmed or restarted log. The revocation mirror (internal/revmirror) and
// the conformance suite's own proof are tested against it.
//
// It is for tests only; no non-test code imports it. It keeps every change
// in its log until TrimLog is called, so it is not meant for long runs.
package feedtest

import (
	"context"
	"crypto/rand"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/authkit-go/authkit"
	"github.com/authkit-go/authkit/internal/revlisten"
)

var (
	_ authkit.RevocationStore = (*Store)(nil)
	_ authkit.RevocationFeed  = (*Store)(nil)
)

// Store is one handle on a set of revocations and their log. Handles made
// with Peer and Reopen share the data, the knobs and the log.
type Store struct {
	d      *data
	closed atomic.Bool
	// l hears of the writes made through this handle
	// (authkit.RevocationListeners).
	l revlisten.Listeners
}

type key struct{ subject, id string }

type data struct {
	mu    sync.Mutex
	epoch string
	jti   map[key]authkit.Revocation
	sid   map[key]authkit.Revocation
	cut   map[string]authkit.Revocation
	// log[i] is the change with sequence number first+1+i; positions are
	// epoch.seq, seq being the last change before the position.
	log   []authkit.Revocation
	first uint64
	// wake is closed and replaced whenever followers should look again.
	wake chan struct{}

	unavailable bool // every call fails with ErrStoreUnavailable
	feedBroken  bool // feed calls fail with ErrStoreUnavailable
	paused      bool // followers stay connected but never call fn
	followers   int
	onSnapshot  func()

	// since is the start of the store's epoch (authkit.ErrDataLoss);
	// hasSince is false after LoseData until a read notices.
	since    time.Time
	hasSince bool
}

// New returns an empty Store.
func New() *Store {
	return &Store{d: &data{
		epoch: rand.Text()[:12],
		jti:   map[key]authkit.Revocation{},
		sid:   map[key]authkit.Revocation{},
		cut:   map[string]authkit.Revocation{},
		wake:  make(chan struct{}),
		// A fresh store's epoch starts when it is made: it refuses nothing
		// issued after.
		since:    time.Now().UTC(),
		hasSince: true,
	}}
}

// LoseData forgets every entry and the epoch marker, as a backend that
// lost its data while its users keep running (authkit.ErrDataLoss). With
// keepLog the log survives (a truncated revocations table beside an
// intact log: followers go on, and are handed the new epoch as a change);
// without, the log restarts as RestartLog does (followers lose their
// position).
func (s *Store) LoseData(keepLog bool) {
	s.knob(func(d *data) {
		clear(d.jti)
		clear(d.sid)
		clear(d.cut)
		d.since, d.hasSince = time.Time{}, false
		if !keepLog {
			d.log, d.first = nil, 0
			d.epoch = rand.Text()[:12]
		}
	})
}

// epochAt returns the start of the store's epoch, starting a new one at
// now (and logging it) if the marker was lost. The caller holds d.mu.
func (d *data) epochAt(now time.Time) time.Time {
	if !d.hasSince {
		d.since, d.hasSince = now.UTC(), true
		d.log = append(d.log, authkit.Revocation{Kind: authkit.RevokedBeforeEpoch, Cutoff: d.since})
		d.kick()
	}
	return d.since
}

// SetUpEpoch writes the epoch marker at at if there is none, without
// logging it, as a store's set-up may (mutants of the conformance suite
// use it).
func (s *Store) SetUpEpoch(at time.Time) {
	s.knob(func(d *data) {
		if !d.hasSince {
			d.since, d.hasSince = at, true
		}
	})
}

// Peer returns another handle on the same data.
func (s *Store) Peer() *Store { return &Store{d: s.d} }

// Reopen closes s (its calls fail with ErrStoreUnavailable from now on,
// and its followers stop) and returns a new handle on the same data, as a
// restart of a persistent store would: entries, log and positions survive.
func (s *Store) Reopen() *Store {
	s.closed.Store(true)
	s.d.mu.Lock()
	s.d.kick()
	s.d.mu.Unlock()
	return &Store{d: s.d}
}

// SetUnavailable makes every call of every handle fail with an error
// matching ErrStoreUnavailable (on) or work again (off). Followers in
// progress return.
func (s *Store) SetUnavailable(on bool) { s.knob(func(d *data) { d.unavailable = on }) }

// BreakFeed makes RevocationSnapshot and FollowRevocations fail with an
// error matching ErrStoreUnavailable, while reads and writes still work
// (on), or mends the feed (off). Followers in progress return.
func (s *Store) BreakFeed(on bool) { s.knob(func(d *data) { d.feedBroken = on }) }

// Pause makes followers stay connected without calling their callback at
// all, neither changes nor heartbeats (on), as a hung connection would, or
// lets them go on (off).
func (s *Store) Pause(on bool) { s.knob(func(d *data) { d.paused = on }) }

// TrimLog forgets every change made so far: a follower behind the current
// end of the log, and any later FollowRevocations from a position before
// it, gets ErrFeedPositionLost.
func (s *Store) TrimLog() {
	s.knob(func(d *data) {
		d.first += uint64(len(d.log))
		d.log = nil
	})
}

// RestartLog empties the log and starts its numbering over under a new
// epoch, as a backend that lost its log (but not its entries) would:
// every earlier position is lost.
func (s *Store) RestartLog() {
	s.knob(func(d *data) {
		d.log, d.first = nil, 0
		d.epoch = rand.Text()[:12]
	})
}

// RestoreBackup forgets every entry but keeps the epoch marker, and
// restarts the log, as a restore of a backup taken after the marker was
// written and before the revocations would: a loss the store itself
// cannot see (every earlier position is lost, so followers take a new
// snapshot).
func (s *Store) RestoreBackup() {
	s.knob(func(d *data) {
		clear(d.jti)
		clear(d.sid)
		clear(d.cut)
		d.log, d.first = nil, 0
		d.epoch = rand.Text()[:12]
	})
}

// OnSnapshot sets a function that RevocationSnapshot calls after it has
// read the entries and before it hands them to its callback (nil: none).
func (s *Store) OnSnapshot(f func()) { s.knob(func(d *data) { d.onSnapshot = f }) }

// Followers returns how many FollowRevocations calls are in progress on
// all handles.
func (s *Store) Followers() int {
	s.d.mu.Lock()
	defer s.d.mu.Unlock()
	return s.d.followers
}

// LogLen returns how many changes the log holds.
func (s *Store) LogLen() int {
	s.d.mu.Lock()
	defer s.d.mu.Unlock()
	return len(s.d.log)
}

func (s *Store) knob(f func(d *data)) {
	s.d.mu.Lock()
	defer s.d.mu.Unlock()
	f(s.d)
	s.d.kick()
}

// kick wakes every follower. The caller holds d.mu.
func (d *data) kick() {
	close(d.wake)
	d.wake = make(chan struct{})
}

var errDown = fmt.Errorf("feedtest: %w: backend down", authkit.ErrStoreUnavailable)

// begin checks ctx and the knobs, and locks d. feed says whether the call
// is one of the feed's.
func (s *Store) begin(ctx context.Context, op string, feed bool) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("feedtest: %s: %w", op, err)
	}
	s.d.mu.Lock()
	if err := s.down(feed); err != nil {
		s.d.mu.Unlock()
		return fmt.Errorf("feedtest: %s: %w", op, err)
	}
	return nil
}

// down reports the knob or closed handle that makes a call fail. The
// caller holds d.mu.
func (s *Store) down(feed bool) error {
	if s.closed.Load() || s.d.unavailable || feed && s.d.feedBroken {
		return errDown
	}
	return nil
}

// ---- RevocationStore ----

// RevokeToken implements authkit.RevocationStore.
func (s *Store) RevokeToken(ctx context.Context, subject, jti string, until time.Time) error {
	return s.write(ctx, "RevokeToken", authkit.Revocation{Kind: authkit.RevokedToken, Subject: subject, ID: jti, Until: until.UTC()})
}

// RevokeSessionTokens implements authkit.RevocationStore.
func (s *Store) RevokeSessionTokens(ctx context.Context, subject, sid string, until time.Time) error {
	return s.write(ctx, "RevokeSessionTokens", authkit.Revocation{Kind: authkit.RevokedSession, Subject: subject, ID: sid, Until: until.UTC()})
}

// SetCutoff implements authkit.RevocationStore.
func (s *Store) SetCutoff(ctx context.Context, subject string, cutoff, until time.Time) error {
	return s.write(ctx, "SetCutoff", authkit.Revocation{Kind: authkit.RevokedBefore, Subject: subject, Cutoff: cutoff.UTC(), Until: until.UTC()})
}

// write merges r into the entries and appends it to the log, as one step.
func (s *Store) write(ctx context.Context, op string, r authkit.Revocation) error {
	if err := s.begin(ctx, op, false); err != nil {
		return err
	}
	s.d.apply(r)
	s.d.log = append(s.d.log, r)
	s.d.kick()
	s.d.mu.Unlock()
	s.l.Notify(r)
	return nil
}

// ListenRevocations implements authkit.RevocationListeners: fn hears of
// the writes made through this handle (not its peers').
func (s *Store) ListenRevocations(fn func(authkit.Revocation)) (stop func()) {
	return s.l.Add(fn)
}

func (d *data) apply(r authkit.Revocation) {
	switch r.Kind {
	case authkit.RevokedToken:
		d.jti[key{r.Subject, r.ID}] = merge(d.jti[key{r.Subject, r.ID}], r)
	case authkit.RevokedSession:
		d.sid[key{r.Subject, r.ID}] = merge(d.sid[key{r.Subject, r.ID}], r)
	case authkit.RevokedBefore:
		d.cut[r.Subject] = merge(d.cut[r.Subject], r)
	}
}

// merge applies the RevocationStore rules: the later until, the later
// cutoff.
func merge(old, r authkit.Revocation) authkit.Revocation {
	if old.Kind == 0 {
		return r
	}
	if r.Until.After(old.Until) {
		old.Until = r.Until
	}
	if r.Cutoff.After(old.Cutoff) {
		old.Cutoff = r.Cutoff
	}
	return old
}

// IsRevoked implements authkit.RevocationStore.
func (s *Store) IsRevoked(ctx context.Context, q authkit.RevocationQuery, now time.Time) (bool, error) {
	if err := s.begin(ctx, "IsRevoked", false); err != nil {
		return false, err
	}
	defer s.d.mu.Unlock()
	if since := s.d.epochAt(now); !q.IssuedAt.After(since) {
		return true, &authkit.DataLossError{Since: since}
	}
	if r, ok := s.d.jti[key{q.Subject, q.TokenID}]; ok && q.TokenID != "" && now.Before(r.Until) {
		return true, nil
	}
	if r, ok := s.d.sid[key{q.Subject, q.SessionID}]; ok && q.SessionID != "" && now.Before(r.Until) {
		return true, nil
	}
	if r, ok := s.d.cut[q.Subject]; ok && now.Before(r.Until) && !q.IssuedAt.After(r.Cutoff) {
		return true, nil
	}
	return false, nil
}

// DeleteExpiredRevocations implements authkit.RevocationStore. It leaves
// the log alone.
func (s *Store) DeleteExpiredRevocations(ctx context.Context, now time.Time, limit int) (int, error) {
	if limit <= 0 {
		return 0, fmt.Errorf("feedtest: DeleteExpiredRevocations: limit %d must be positive", limit)
	}
	if err := s.begin(ctx, "DeleteExpiredRevocations", false); err != nil {
		return 0, err
	}
	defer s.d.mu.Unlock()
	n := 0
	for _, m := range []map[key]authkit.Revocation{s.d.jti, s.d.sid} {
		for k, r := range m {
			if n < limit && !now.Before(r.Until) {
				delete(m, k)
				n++
			}
		}
	}
	for k, r := range s.d.cut {
		if n < limit && !now.Before(r.Until) {
			delete(s.d.cut, k)
			n++
		}
	}
	return n, nil
}

// ---- RevocationFeed ----

// position returns the position after change seq. The caller holds d.mu.
func (d *data) position(seq uint64) authkit.FeedPosition {
	return authkit.FeedPosition(d.epoch + "." + strconv.FormatUint(seq, 10))
}

// last is the sequence number of the newest change. The caller holds d.mu.
func (d *data) last() uint64 { return d.first + uint64(len(d.log)) }

var errLost = fmt.Errorf("feedtest: %w", authkit.ErrFeedPositionLost)

// parse returns the sequence number p names, or errLost. The caller holds
// d.mu.
func (d *data) parse(p authkit.FeedPosition) (uint64, error) {
	epoch, num, ok := strings.Cut(string(p), ".")
	if !ok || epoch != d.epoch {
		return 0, errLost
	}
	seq, err := strconv.ParseUint(num, 10, 64)
	if err != nil || seq < d.first || seq > d.last() {
		return 0, errLost
	}
	return seq, nil
}

// RevocationSnapshot implements authkit.RevocationFeed: it reads the
// entries in force and the position under one lock, and calls fn after
// releasing it.
func (s *Store) RevocationSnapshot(ctx context.Context, now time.Time, fn func(authkit.Revocation) error) (authkit.FeedPosition, error) {
	if err := s.begin(ctx, "RevocationSnapshot", true); err != nil {
		return "", err
	}
	in := []authkit.Revocation{{Kind: authkit.RevokedBeforeEpoch, Cutoff: s.d.epochAt(now)}}
	for _, m := range []map[key]authkit.Revocation{s.d.jti, s.d.sid} {
		for _, r := range m {
			if now.Before(r.Until) {
				in = append(in, r)
			}
		}
	}
	for _, r := range s.d.cut {
		if now.Before(r.Until) {
			in = append(in, r)
		}
	}
	pos, hook := s.d.position(s.d.last()), s.d.onSnapshot
	s.d.mu.Unlock()
	if hook != nil {
		hook()
	}
	for _, r := range in {
		if err := fn(r); err != nil {
			return "", err
		}
	}
	return pos, nil
}

// FollowRevocations implements authkit.RevocationFeed. It reads the log
// and calls fn right after, so each call vouches for the moment of the
// read; it calls fn with an empty batch when heartbeat has passed since
// its last call.
func (s *Store) FollowRevocations(ctx context.Context, after authkit.FeedPosition, heartbeat time.Duration, fn func([]authkit.Revocation, authkit.FeedPosition) error) error {
	if heartbeat <= 0 {
		return fmt.Errorf("feedtest: FollowRevocations: heartbeat %v must be positive", heartbeat)
	}
	if err := s.begin(ctx, "FollowRevocations", true); err != nil {
		return err
	}
	seq, err := s.d.parse(after)
	if err != nil {
		s.d.mu.Unlock()
		return err
	}
	s.d.followers++
	epoch := s.d.epoch
	s.d.mu.Unlock()
	defer func() {
		s.d.mu.Lock()
		s.d.followers--
		s.d.mu.Unlock()
	}()

	beat := time.NewTimer(heartbeat)
	defer beat.Stop()
	due := false
	for {
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("feedtest: FollowRevocations: %w", err)
		}
		s.d.mu.Lock()
		if err := s.down(true); err != nil {
			s.d.mu.Unlock()
			return fmt.Errorf("feedtest: FollowRevocations: %w", err)
		}
		if seq < s.d.first || seq > s.d.last() || s.d.epoch != epoch {
			s.d.mu.Unlock()
			return errLost
		}
		var batch []authkit.Revocation
		paused := s.d.paused
		if !paused {
			i := int(seq - s.d.first)
			// All there is, in one call: a call vouches for the whole log.
			batch = append(batch, s.d.log[i:]...)
		}
		pos := s.d.position(seq + uint64(len(batch)))
		wake := s.d.wake
		s.d.mu.Unlock()

		if !paused && (len(batch) > 0 || due) {
			if err := fn(batch, pos); err != nil {
				return err
			}
			seq += uint64(len(batch))
			due = false
			beat.Reset(heartbeat)
			if len(batch) > 0 {
				continue // there may be more
			}
		}
		select {
		case <-ctx.Done():
		case <-wake:
		case <-beat.C:
			due = true
		}
	}
}
