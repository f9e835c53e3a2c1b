package sqlstore

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"math/rand/v2"
	"time"
)

// querier is what a statement runs on: the pool, a *sql.Tx or a dedicated
// *sql.Conn.
type querier interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// txn is a transaction: a *sql.Tx, or an immediateTx on SQLite.
type txn interface {
	querier
	Commit() error
	Rollback() error
}

// begin starts a write transaction in the dialect's way.
func begin(ctx context.Context, db *sql.DB, d *dialect) (txn, error) {
	if !d.immediate {
		return db.BeginTx(ctx, d.txOptions)
	}
	c, err := db.Conn(ctx)
	if err != nil {
		return nil, err
	}
	if _, err := c.ExecContext(ctx, "BEGIN IMMEDIATE"); err != nil {
		discard(c)
		return nil, err
	}
	return &immediateTx{Conn: c}, nil
}

// immediateTx is a SQLite write transaction begun with BEGIN IMMEDIATE on
// a connection held for its duration. Taking the write lock up front means
// two writers never both read and then deadlock upgrading their locks;
// they queue on busy_timeout instead.
type immediateTx struct {
	*sql.Conn
	done bool
}

func (t *immediateTx) Commit() error { return t.end("COMMIT") }

func (t *immediateTx) Rollback() error { return t.end("ROLLBACK") }

func (t *immediateTx) end(stmt string) error {
	if t.done {
		return sql.ErrTxDone
	}
	t.done = true
	// Not the caller's ctx: a transaction left open on a pooled connection
	// would hold the write lock for whoever gets the connection next.
	if _, err := t.ExecContext(context.Background(), stmt); err != nil {
		discard(t.Conn)
		return err
	}
	return t.Close()
}

// discard closes c instead of returning it to the pool, for a connection
// whose transaction state is unknown.
func discard(c *sql.Conn) {
	_ = c.Raw(func(any) error { return driver.ErrBadConn })
	_ = c.Close()
}

// outcome marks an error that is a method's answer (not found, reuse,
// conflict, …) rather than a failure of the database: inTx returns it as
// it is, after rolling back.
type outcome struct{ err error }

func (o outcome) Error() string { return o.err.Error() }
func (o outcome) Unwrap() error { return o.err }

// maxAttempts bounds how often inTx runs a transaction that a deadlock or
// serialization failure aborted.
const maxAttempts = 8

// inTx runs fn in a write transaction and commits it. An outcome fn
// returns is returned unwrapped; any other error rolls the transaction
// back and is classified by fail. A deadlock or serialization failure runs
// fn again (with a short, jittered pause), at most maxAttempts times in
// all: fn must therefore do nothing outside the transaction.
func (s *Store) inTx(ctx context.Context, op string, fn func(tx txn) error) error {
	for attempt := 1; ; attempt++ {
		err := s.tryTx(ctx, fn)
		if err == nil {
			return nil
		}
		if o, ok := errors.AsType[outcome](err); ok {
			return o.err
		}
		if attempt < maxAttempts && isRetryable(err) && ctx.Err() == nil {
			pause := time.Duration(attempt) * (time.Millisecond + rand.N(4*time.Millisecond))
			t := time.NewTimer(pause)
			select {
			case <-ctx.Done():
				t.Stop()
				return s.fail(ctx, op, err)
			case <-t.C:
			}
			continue
		}
		return s.fail(ctx, op, err)
	}
}

func (s *Store) tryTx(ctx context.Context, fn func(tx txn) error) error {
	tx, err := begin(ctx, s.db.DB, s.d)
	if err != nil {
		return err
	}
	if err := fn(tx); err != nil {
		_ = tx.Rollback()
		return err
	}
	if err := ctx.Err(); err != nil {
		_ = tx.Rollback()
		return err
	}
	return tx.Commit()
}
