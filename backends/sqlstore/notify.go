package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"math/rand/v2"
	"strings"
	"sync"
	"time"
)

// PostgreSQL pushes: every revocation write on PostgreSQL also sends a
// NOTIFY, in its own statement and so in its own transaction (PostgreSQL
// delivers it at the commit, and only if the statement wrote), on the
// channel NotifyChannel names. A Store given WithNotifications keeps one
// LISTEN connection on that channel for all its followers, and a
// notification wakes them: each reads the log after its position at once,
// as a poll would. The log stays the only source of truth: a notification
// carries nothing the followers read (a write's payload is empty; a
// Listener may send one of its own to check that its LISTEN delivers),
// one that is lost costs the time until the next poll, and one that comes
// for nothing costs one poll.

// Listener holds a PostgreSQL LISTEN connection for a Store given
// WithNotifications. The package links no driver, so the Listener is the
// driver's part: backends/sqlstore/pgxlisten implements it over pgx.
//
// Listen listens on channel on one connection: it runs LISTEN channel,
// calls ready once the LISTEN is in effect (a NOTIFY committed after that
// reaches it: pgxlisten and pqlisten prove it with a test notification sent
// through db, since through a transaction-pooling proxy a LISTEN succeeds
// and delivers nothing), then calls notify for every notification on
// channel, until ctx is done or the connection fails, and returns: ctx's
// error, or the connection's. It never calls ready or notify after it returned, nor
// concurrently. ready and notify return at once. db is the Store's pool,
// for a Listener that takes its connection from it (the connection must
// then not go back to the pool while it listens).
//
// The Store calls Listen again after it returns, after a pause that grows
// from 100ms to 5s while the attempts keep failing; while no Listen is in
// effect, the followers poll every WithFeedPollInterval. To log a dropped
// LISTEN connection, wrap the Listener: its Listen returns the error.
type Listener interface {
	Listen(ctx context.Context, db *sql.DB, channel string, ready, notify func()) error
}

// WithNotifications has a Store on PostgreSQL keep one LISTEN connection
// through l, so that a revocation written through any handle on the
// database reaches this Store's followers (FollowRevocations) at once
// rather than at their next poll. While the LISTEN is in effect a follower
// polls only every half heartbeat, to vouch for the log; while it is not
// (connecting, or reconnecting after the connection dropped), every
// WithFeedPollInterval as without it. The connection is opened when the
// first follower starts and closed when the last one returns, or by Close.
//
// It has no effect on MySQL and SQLite, which poll, nor on Migrate and
// OpenDB. Every revocation written on PostgreSQL sends its NOTIFY whether
// or not the writing Store listens.
func WithNotifications(l Listener) Option {
	return func(c *config) error {
		if l == nil {
			return errors.New("sqlstore: WithNotifications(nil)")
		}
		c.listener = l
		return nil
	}
}

// NotifyChannel returns the PostgreSQL channel a Store with table prefix
// prefix notifies on, and listens on: "<prefix>revocation_feed". Stores
// with different prefixes on one database never wake each other's
// followers; stores with the same prefix in different schemas of one
// database do (each follower then polls once for nothing).
func NotifyChannel(prefix string) string { return prefix + "revocation_feed" }

// notifyMarker is where the PostgreSQL revocation write (the dialect's
// revokeLogged) returns the log id it took; the NOTIFY goes beside it, so
// that it is sent once, and only when the feed row was there to take an
// id from.
const notifyMarker = "RETURNING seq)"

// withNotify returns the one-statement revocation write stmt, with a
// pg_notify on channel in it; "" if stmt has no notifyMarker. The channel
// is a literal: it is made of the table prefix, which WithTablePrefix
// limits to [a-z_][a-z0-9_]*.
func withNotify(stmt, channel string) string {
	if !strings.Contains(stmt, notifyMarker) {
		return ""
	}
	return strings.Replace(stmt, notifyMarker, "RETURNING seq, pg_notify('"+channel+"', '') AS notified)", 1)
}

// push is a Store's part of the notifications: the revocation write that
// notifies, and the LISTEN connection's hub when WithNotifications set one.
type push struct {
	// revoke is the revocation write with its NOTIFY (PostgreSQL), or "".
	revoke string
	// notify is a statement that sends the NOTIFY alone, in the
	// transaction of a log row that revoke does not write (a new epoch),
	// or "".
	notify string
	hub    *notifyHub
}

// newPush sets up the notifications of a Store over db.
func newPush(d *dialect, q queries, c config, db *sql.DB) push {
	if d != dialectPostgres {
		return push{}
	}
	channel := NotifyChannel(c.prefix)
	p := push{revoke: withNotify(q.revokeLogged, channel), notify: "SELECT pg_notify('" + channel + "', '')"}
	if c.listener != nil {
		p.hub = &notifyHub{l: c.listener, db: db, channel: channel, subs: map[*follower]struct{}{}}
	}
	return p
}

// Pauses between attempts to (re)open the LISTEN connection.
const (
	minListenBackoff = 100 * time.Millisecond
	maxListenBackoff = 5 * time.Second
)

// notifyHub runs a Store's LISTEN connection, while followers want it,
// and fans its notifications out to them.
type notifyHub struct {
	l       Listener
	db      *sql.DB
	channel string

	mu     sync.Mutex
	subs   map[*follower]struct{}
	closed bool // Close was called: no more LISTEN
	// run is the current LISTEN goroutine's; nil when none runs. Its
	// attempt numbers its Listen calls, so that only the current call of
	// the current run changes anything.
	run *hubRun
	up  bool // the current call's LISTEN is in effect
}

type hubRun struct {
	cancel context.CancelFunc
	done   chan struct{}
	// attempt numbers the run's Listen calls (guarded by the hub's mu).
	// It is the run's own: a run that ends late must not move the count
	// of the run after it (found by review: its callbacks were then all
	// ignored, and notifications stopped waking anyone).
	attempt uint64
}

// follower is one FollowRevocations call's link to the hub: wake holds
// one pending wake-up at most.
type follower struct {
	h    *notifyHub
	wake chan struct{}
}

// subscribe registers a follower, starting the LISTEN goroutine if it is
// the first. A nil hub gives a nil follower, whose methods do nothing.
func (h *notifyHub) subscribe() *follower {
	if h == nil {
		return nil
	}
	f := &follower{h: h, wake: make(chan struct{}, 1)}
	h.mu.Lock()
	defer h.mu.Unlock()
	h.subs[f] = struct{}{}
	if h.run == nil && !h.closed {
		ctx, cancel := context.WithCancel(context.Background())
		r := &hubRun{cancel: cancel, done: make(chan struct{})}
		h.run = r
		go h.listen(ctx, r)
	}
	return f
}

// leave unregisters f; the last follower to leave stops the LISTEN
// goroutine and waits for it.
func (f *follower) leave() {
	if f == nil {
		return
	}
	h := f.h
	h.mu.Lock()
	delete(h.subs, f)
	var r *hubRun
	if len(h.subs) == 0 {
		r = h.stopLocked()
	}
	h.mu.Unlock()
	r.wait()
}

// listening reports whether the LISTEN is in effect: a revocation
// committed now will wake f.
func (f *follower) listening() bool {
	if f == nil {
		return false
	}
	f.h.mu.Lock()
	defer f.h.mu.Unlock()
	return f.h.up
}

// woken is f's wake-up channel; nil (never ready) for a nil follower.
func (f *follower) woken() <-chan struct{} {
	if f == nil {
		return nil
	}
	return f.wake
}

// close stops the LISTEN goroutine for good (Store.Close). Followers keep
// following, by polling.
func (h *notifyHub) close() {
	if h == nil {
		return
	}
	h.mu.Lock()
	h.closed = true
	r := h.stopLocked()
	h.mu.Unlock()
	r.wait()
}

// stopLocked ends the current run, if any, and returns it to wait for.
// The followers are woken, to poll at their own interval again.
func (h *notifyHub) stopLocked() *hubRun {
	r := h.run
	if r == nil {
		return nil
	}
	h.run = nil
	h.setUpLocked(false)
	r.cancel()
	return r
}

func (r *hubRun) wait() {
	if r != nil {
		<-r.done
	}
}

// wakeAllLocked gives every follower a wake-up, unless it has one
// pending: a burst of notifications makes one poll per follower.
func (h *notifyHub) wakeAllLocked() {
	for f := range h.subs {
		select {
		case f.wake <- struct{}{}:
		default:
		}
	}
}

// setUpLocked records whether the LISTEN is in effect. Either way the
// followers are woken: when it comes up, to read what they may have
// missed while it was down; when it goes down, to poll at their own
// interval again.
func (h *notifyHub) setUpLocked(up bool) {
	if h.up != up {
		h.up = up
		h.wakeAllLocked()
	}
}

// begin numbers a new Listen call of run r.
func (h *notifyHub) begin(r *hubRun) uint64 {
	h.mu.Lock()
	defer h.mu.Unlock()
	r.attempt++
	return r.attempt
}

// event runs fn on the hub if run r and its Listen call attempt are
// still the current ones.
func (h *notifyHub) event(r *hubRun, attempt uint64, fn func()) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.run == r && r.attempt == attempt {
		fn()
	}
}

// listen is run r's goroutine: it calls the Listener until ctx ends,
// pausing between attempts.
func (h *notifyHub) listen(ctx context.Context, r *hubRun) {
	defer close(r.done)
	backoff := minListenBackoff
	for {
		began, a := time.Now(), h.begin(r)
		_ = h.l.Listen(ctx, h.db, h.channel,
			func() { h.event(r, a, func() { h.setUpLocked(true) }) },
			func() { h.event(r, a, h.wakeAllLocked) })
		h.event(r, a, func() { h.setUpLocked(false) })
		h.begin(r) // this call's callbacks, should they come late, count no more
		if ctx.Err() != nil {
			return
		}
		// A connection that held for a while starts the pauses over.
		if time.Since(began) >= 2*maxListenBackoff {
			backoff = minListenBackoff
		}
		if !sleep(ctx, backoff+rand.N(backoff/2)) {
			return
		}
		backoff = min(2*backoff, maxListenBackoff)
	}
}
