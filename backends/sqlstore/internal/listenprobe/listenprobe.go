// Package listenprobe is what sqlstore's Listener implementations
// (pgxlisten, pqlisten) share to prove that a LISTEN delivers before they
// call ready: through a transaction-pooling proxy (PgBouncer in
// transaction mode) a LISTEN succeeds and nothing ever reaches it.
package listenprobe

import (
	"context"
	"crypto/rand"
	"database/sql"
	"fmt"
	"time"
)

// Timeout is how long a Listener waits, after its LISTEN, for its own
// test notification.
const Timeout = 3 * time.Second

// Query sends a notification: its parameters are the channel and the
// payload.
const Query = "SELECT pg_notify($1, $2)"

// Nonce returns a test notification's payload, random so that a Listener
// knows its own from anyone else's.
func Nonce() string { return "probe:" + rand.Text() }

// Send sends the test notification nonce on channel through db, another
// connection than the listener's, as every writer's is.
func Send(ctx context.Context, db *sql.DB, channel, nonce string) error {
	_, err := db.ExecContext(ctx, Query, channel, nonce)
	return err
}

// NotDelivered is the error of Listener pkg whose test notification did
// not come back; instead says what to use for a LISTEN behind a proxy.
// Its text names no server (pkg and instead are constants of the
// callers), so a log that redacts errors shows it (redact.Plain).
func NotDelivered(pkg, instead string) error {
	return plainError(fmt.Sprintf("%s: LISTEN is in effect but a notification sent through the Store's pool did not reach it within %v; "+
		"is the connection behind a transaction-pooling proxy (PgBouncer in transaction mode cannot carry a LISTEN: %s), "+
		"or on another database than the pool? Followers poll instead", pkg, Timeout, instead))
}

// plainError is an error of this package's own words (redact.Plain).
type plainError string

func (e plainError) Error() string { return string(e) }

// PlainText marks the error's text as naming no server (redact.Plain).
func (plainError) PlainText() {}
