// Package pgxlisten is the pgx (github.com/jackc/pgx/v5) side of
// sqlstore's PostgreSQL notifications: a [sqlstore.Listener] that holds a
// LISTEN connection, so that a revocation reaches the followers of a
// Store's revocation feed as soon as it commits instead of at their next
// poll. Package sqlstore links no driver; a program on pgx imports this
// package beside it:
//
//	store, err := sqlstore.Open(ctx, dsn, sqlstore.WithNotifications(pgxlisten.New()))
//
// New takes the LISTEN connection from the Store's own pool (opened with
// pgx's database/sql driver, as Open does); Dedicated opens it outside
// any pool, for a pool of another driver or one behind a
// transaction-pooling proxy (PgBouncer in transaction mode cannot carry a
// LISTEN: point Dedicated at the server itself).
//
// Notifications are only a hint: sqlstore reads every change from its
// revocation log, and while the connection is down its followers poll.
package pgxlisten

import (
	"cmp"
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"

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
var errNotDelivered = listenprobe.NotDelivered("pgxlisten", "use Dedicated with the server's own address")

// Listener is a sqlstore.Listener over pgx. Make one with New or
// Dedicated; it is safe for concurrent use by several Stores.
type Listener struct {
	// config is Dedicated's; nil takes the connection from the Store's
	// pool.
	config *pgx.ConnConfig
	// pingEvery and pingWait replace PingInterval and pingTimeout when
	// set (shorter, in tests: export_test.go).
	pingEvery, pingWait time.Duration
}

var _ sqlstore.Listener = (*Listener)(nil)

// New returns a Listener that takes one connection from the pool of the
// Store it is given to, which must use pgx's database/sql driver
// (github.com/jackc/pgx/v5/stdlib: sqlstore.Open's default for
// postgres://, sql.Open("pgx", …), stdlib.OpenDB or
// stdlib.OpenDBFromPool). The connection is out of the pool while it
// listens, and closed, never returned to the pool, when it stops.
func New() *Listener { return &Listener{} }

// Dedicated returns a Listener that opens its own connection with config
// (pgx.ParseConfig of a DSN), outside any pool. The Listener keeps config
// and does not change it.
func Dedicated(config *pgx.ConnConfig) (*Listener, error) {
	if config == nil {
		return nil, errors.New("pgxlisten: Dedicated(nil)")
	}
	return &Listener{config: config}, nil
}

// Listen implements sqlstore.Listener.
func (l *Listener) Listen(ctx context.Context, db *sql.DB, channel string, ready, notify func()) error {
	if l.config != nil {
		conn, err := pgx.ConnectConfig(ctx, l.config)
		if err != nil {
			return fmt.Errorf("pgxlisten: connecting: %w", err)
		}
		defer closeNow(conn)
		return l.listen(ctx, conn, db, channel, ready, notify)
	}
	if db == nil {
		return errors.New("pgxlisten: no pool to take a connection from")
	}
	c, err := db.Conn(ctx)
	if err != nil {
		return fmt.Errorf("pgxlisten: taking a connection from the pool: %w", err)
	}
	defer c.Close()
	var listenErr error
	err = c.Raw(func(dc any) error {
		sc, ok := dc.(*stdlib.Conn)
		if !ok {
			// Not pgx's: the connection goes back to the pool untouched.
			return fmt.Errorf("pgxlisten: the Store's pool is not pgx's database/sql driver (its connections are %T); use Dedicated", dc)
		}
		conn := sc.Conn()
		listenErr = l.listen(ctx, conn, db, channel, ready, notify)
		// The connection listened: close it, and have database/sql
		// discard it, so that no one else gets its notifications.
		closeNow(conn)
		return driver.ErrBadConn
	})
	if listenErr != nil {
		return listenErr
	}
	return err
}

// closeNow closes conn without waiting for the server.
func closeNow(conn *pgx.Conn) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_ = conn.Close(ctx)
}

// listen runs LISTEN channel on conn, proves that it delivers (probe),
// calls ready, then notify for every notification on channel until ctx
// ends or the connection fails.
func (l *Listener) listen(ctx context.Context, conn *pgx.Conn, db *sql.DB, channel string, ready, notify func()) error {
	if _, err := conn.Exec(ctx, "LISTEN "+pgx.Identifier{channel}.Sanitize()); err != nil {
		return fmt.Errorf("pgxlisten: LISTEN: %w", err)
	}
	if err := probe(ctx, conn, db, channel); err != nil {
		return err
	}
	ready()
	for {
		wctx, cancel := context.WithTimeout(ctx, cmp.Or(l.pingEvery, PingInterval))
		n, err := conn.WaitForNotification(wctx)
		cancel()
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			if wctx.Err() == nil || conn.IsClosed() {
				return fmt.Errorf("pgxlisten: waiting for notifications: %w", err)
			}
			// Silent for PingInterval: is the server still there?
			pctx, cancel := context.WithTimeout(ctx, cmp.Or(l.pingWait, pingTimeout))
			err = conn.Ping(pctx)
			cancel()
			if err != nil {
				if ctx.Err() != nil {
					return ctx.Err()
				}
				return fmt.Errorf("pgxlisten: ping: %w", err)
			}
			continue
		}
		if n != nil && n.Channel == channel {
			notify()
		}
	}
}

// probe sends a notification with a random payload on channel through db
// (another connection, as every writer's is; conn itself without a pool)
// and waits up to ProbeTimeout for it to reach conn. A LISTEN can succeed
// and never deliver: behind PgBouncer in transaction mode the server
// connection that ran it goes back to the proxy's pool, and the proxy
// drops what it receives (found by review: the Store believed it was
// listening and its followers polled only every half heartbeat). Other
// notifications that come meanwhile are dropped: the Store's followers
// poll until ready, and read the log when it comes.
func probe(ctx context.Context, conn *pgx.Conn, db *sql.DB, channel string) error {
	pctx, cancel := context.WithTimeout(ctx, ProbeTimeout)
	defer cancel()
	nonce := listenprobe.Nonce()
	var err error
	if db != nil {
		err = listenprobe.Send(pctx, db, channel, nonce)
	} else {
		_, err = conn.Exec(pctx, listenprobe.Query, channel, nonce)
	}
	if err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return fmt.Errorf("pgxlisten: sending the test notification: %w", err)
	}
	for {
		n, err := conn.WaitForNotification(pctx)
		switch {
		case ctx.Err() != nil:
			return ctx.Err()
		case err != nil && pctx.Err() != nil:
			return errNotDelivered
		case err != nil:
			return fmt.Errorf("pgxlisten: waiting for the test notification: %w", err)
		case n.Channel == channel && n.Payload == nonce:
			return nil
		}
	}
}
