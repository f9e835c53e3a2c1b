// Package pqlisten is the lib/pq (github.com/lib/pq) side of sqlstore's
// PostgreSQL notifications: a [sqlstore.Listener] that holds a LISTEN
// connection of its own, so that a revocation reaches the followers of a
// Store's revocation feed as soon as it commits instead of at their next
// poll. Package sqlstore links no driver; a program on lib/pq imports
// this package beside it:
//
//	l, err := pqlisten.New(dsn)
//	store, err := sqlstore.Open(ctx, dsn, sqlstore.WithDriver("postgres"), sqlstore.WithNotifications(l))
//
// lib/pq hands no notification to a connection of a database/sql pool
// while it is idle, so the Listener opens its own connection, outside any
// pool, with pq.NewListenerConn. It must reach the server itself: a
// transaction-pooling proxy (PgBouncer in transaction mode) cannot carry a
// LISTEN.
//
// lib/pq dials without a context: put connect_timeout in the DSN. A
// Listen cancelled while it dials returns at once, and the connection, if
// the dial still succeeds, is closed as soon as it is made.
//
// Notifications are only a hint: sqlstore reads every change from its
// revocation log, and while the connection is down its followers poll.
package pqlisten

import (
	"cmp"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/lib/pq"

	"github.com/authkit-go/authkit/backends/sqlstore"
	"github.com/authkit-go/authkit/backends/sqlstore/internal/listenprobe"
)

// PingInterval is how long a LISTEN connection may stay silent before the
// Listener pings the server, so that a connection that died without a
// word (a network partition) is found and replaced.
const PingInterval = 15 * time.Second

// pingTimeout bounds the ping.
const pingTimeout = 5 * time.Second

// ProbeTimeout is how long Listen waits, after its LISTEN, for a test
// notification it sent itself through the Store's pool: a LISTEN that
// does not deliver within it is reported as an error, not as ready.
const ProbeTimeout = listenprobe.Timeout

// errNotDelivered is Listen's error when its own test notification did
// not come back.
var errNotDelivered = listenprobe.NotDelivered("pqlisten", "give New the server's own address")

// Listener is a sqlstore.Listener over lib/pq. Make one with New; it is
// safe for concurrent use by several Stores.
type Listener struct {
	dsn string
	// pingEvery and pingWait replace PingInterval and pingTimeout when
	// set (shorter, in tests: export_test.go).
	pingEvery, pingWait time.Duration
}

var _ sqlstore.Listener = (*Listener)(nil)

// New returns a Listener that connects with dsn, in any form lib/pq takes
// (a postgres:// URL or key=value pairs). It checks that dsn parses; it
// does not connect.
func New(dsn string) (*Listener, error) {
	if _, err := pq.NewConnector(dsn); err != nil {
		// Not the DSN itself, nor lib/pq's text, which may repeat it.
		return nil, errors.New("pqlisten: the DSN does not parse")
	}
	return &Listener{dsn: dsn}, nil
}

// Listen implements sqlstore.Listener. It listens on a connection of its
// own; db, the Store's pool, sends the test notification that proves the
// LISTEN delivers before Listen calls ready.
func (l *Listener) Listen(ctx context.Context, db *sql.DB, channel string, ready, notify func()) error {
	// Buffered: lib/pq blocks its reader until each notification is taken.
	notes := make(chan *pq.Notification, 64)
	c := &conn{}
	dialed := make(chan error, 1)
	go func() {
		lc, err := pq.NewListenerConn(l.dsn, notes)
		if err == nil && !c.set(lc) {
			err = context.Canceled // Listen returned meanwhile; set closed lc
		}
		dialed <- err
	}()
	select {
	case err := <-dialed:
		if err != nil {
			return fmt.Errorf("pqlisten: connecting: %w", err)
		}
	case <-ctx.Done():
		c.close()
		return ctx.Err()
	}
	// From here lib/pq closes notes when the connection ends: drain it so
	// that its goroutine can finish.
	defer func() {
		c.close()
		for range notes {
		}
	}()
	onNote := func(n *pq.Notification) {
		if n != nil && n.Channel == channel {
			notify()
		}
	}
	if err := c.exec(ctx, "LISTEN "+pq.QuoteIdentifier(channel), notes, func(*pq.Notification) {}); err != nil {
		return fmt.Errorf("pqlisten: LISTEN: %w", err)
	}
	if err := probe(ctx, c, db, channel, notes); err != nil {
		return err
	}
	ready()
	every := cmp.Or(l.pingEvery, PingInterval)
	timer := time.NewTimer(every)
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case n, ok := <-notes:
			if !ok {
				return fmt.Errorf("pqlisten: waiting for notifications: %w", c.lc.Err())
			}
			onNote(n)
			timer.Reset(every)
		case <-timer.C:
			// Silent for PingInterval: is the server still there? The
			// notifications that come meanwhile are still delivered.
			pctx, cancel := context.WithTimeout(ctx, cmp.Or(l.pingWait, pingTimeout))
			err := c.exec(pctx, "", notes, onNote)
			cancel()
			if err != nil {
				if ctx.Err() != nil {
					return ctx.Err()
				}
				return fmt.Errorf("pqlisten: ping: %w", err)
			}
			timer.Reset(every)
		}
	}
}

// probe sends a notification with a random payload on channel through db
// (another connection, as every writer's is; the listener's own without a
// pool) and waits up to ProbeTimeout for it on notes. A LISTEN can succeed
// and never deliver: behind PgBouncer in transaction mode the server
// connection that ran it goes back to the proxy's pool, and the proxy
// drops what it receives (found by review, with pgx). Other notifications
// that come meanwhile are dropped: the Store's followers poll until ready,
// and read the log when it comes.
func probe(ctx context.Context, c *conn, db *sql.DB, channel string, notes <-chan *pq.Notification) error {
	pctx, cancel := context.WithTimeout(ctx, ProbeTimeout)
	defer cancel()
	nonce := listenprobe.Nonce()
	seen := false
	match := func(n *pq.Notification) { seen = seen || n != nil && n.Channel == channel && n.Extra == nonce }
	var err error
	if db != nil {
		err = listenprobe.Send(pctx, db, channel, nonce)
	} else {
		err = c.exec(pctx, "SELECT pg_notify("+pq.QuoteLiteral(channel)+", "+pq.QuoteLiteral(nonce)+")", notes, match)
	}
	if err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return fmt.Errorf("pqlisten: sending the test notification: %w", err)
	}
	for !seen {
		select {
		case <-pctx.Done():
			if ctx.Err() != nil {
				return ctx.Err()
			}
			return errNotDelivered
		case n, ok := <-notes:
			if !ok {
				return fmt.Errorf("pqlisten: waiting for the test notification: %w", c.lc.Err())
			}
			match(n)
		}
	}
	return nil
}

// conn is the listener's connection, which Listen may close from another
// goroutine while the dial is still going.
type conn struct {
	mu     sync.Mutex
	lc     *pq.ListenerConn
	closed bool
}

// set records lc; false, with lc closed, if the connection was closed
// first.
func (c *conn) set(lc *pq.ListenerConn) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		_ = lc.Close()
		return false
	}
	c.lc = lc
	return true
}

func (c *conn) close() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.closed && c.lc != nil {
		_ = c.lc.Close()
	}
	c.closed = true
}

// exec runs q, with no result, on the connection until ctx ends (then
// the connection is closed: lib/pq cannot cancel it otherwise), passing
// the notifications that come meanwhile to onNote: lib/pq reads the
// reply only after it has handed them over.
func (c *conn) exec(ctx context.Context, q string, notes <-chan *pq.Notification, onNote func(*pq.Notification)) error {
	done := make(chan error, 1)
	go func() {
		executed, err := c.lc.ExecSimpleQuery(q)
		if err == nil && !executed {
			err = errors.New("not executed")
		}
		done <- err
	}()
	var cancelled error
	stop := ctx.Done()
	for {
		select {
		case err := <-done:
			if cancelled != nil {
				return cancelled
			}
			return err
		case n, ok := <-notes:
			if !ok {
				notes = nil // the connection ended: done follows
				continue
			}
			if cancelled == nil {
				onNote(n)
			}
		case <-stop:
			// Close, and keep draining notes until the query gives up.
			c.close()
			cancelled, stop = ctx.Err(), nil
		}
	}
}
