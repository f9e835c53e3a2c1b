package sqlstore

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
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

// txn is a transaction: a *sql.Tx or a heldTx.
type txn interface {
	querier
	Commit() error
	Rollback() error
}

// begin starts a write transaction in the dialect's way: on SQLite a
// heldTx begun with BEGIN IMMEDIATE; with held (MySQL, whose driver ends
// a statement at its ctx's deadline) a heldTx whose every statement
// carries ctx; else a *sql.Tx.
func begin(ctx context.Context, db *sql.DB, d *dialect, held bool) (txn, error) {
	if held && !d.immediate {
		return beginCtx(ctx, db, d, namedLock{})
	}
	if !d.immediate {
		return db.BeginTx(ctx, d.txOptions)
	}
	c, err := db.Conn(ctx)
	if err != nil {
		return nil, err
	}
	if _, err := c.ExecContext(ctx, "BEGIN IMMEDIATE"); err != nil {
		if isBusy(err) {
			_ = c.Close() // no transaction began: the connection is fine
		} else {
			discard(c)
		}
		return nil, err
	}
	// Not the caller's ctx for COMMIT and ROLLBACK: a transaction left open
	// on a pooled connection would hold the write lock for whoever gets the
	// connection next.
	return &heldTx{Conn: c, end: context.Background()}, nil
}

// heldTx is a transaction on a connection held for its duration, ended by
// a COMMIT or ROLLBACK statement under the context end. A connection whose
// transaction did not end cleanly is discarded, never pooled: the server
// rolls back what it has not committed when it goes.
//
// On SQLite it is begun with BEGIN IMMEDIATE: taking the write lock up
// front means two writers never both read and then deadlock upgrading
// their locks; they queue on busy_timeout instead. On MySQL its every
// statement runs under the caller's ctx, end included: database/sql's Tx
// commits without a ctx, and go-sql-driver/mysql then waits on the socket
// for as long as the network holds its COMMIT; a heldTx lets the driver
// end it at the deadline, so that the Store can claim
// authkit.DeadlineStore on MySQL.
type heldTx struct {
	*sql.Conn
	end  context.Context
	done bool
	// lock is the named lock the connection took before the transaction
	// began (see lockedTx), released once it ends; zero if none.
	lock namedLock
}

func (t *heldTx) Commit() error { return t.finish("COMMIT") }

// Rollback ends the transaction; once end is done it discards the
// connection instead, and the server rolls back.
func (t *heldTx) Rollback() error { return t.finish("ROLLBACK") }

func (t *heldTx) finish(stmt string) error {
	if t.done {
		return sql.ErrTxDone
	}
	t.done = true
	if err := t.end.Err(); err != nil {
		discard(t.Conn)
		return err
	}
	if _, err := t.ExecContext(t.end, stmt); err != nil {
		discard(t.Conn)
		return err
	}
	if t.lock.key != "" && !t.lock.release(t.end, t.Conn) {
		discard(t.Conn) // the server releases it with the connection
		return nil      // the transaction itself ended
	}
	return t.Close()
}

// isolationSQL is the SET TRANSACTION form of the levels the dialects use.
var isolationSQL = map[sql.IsolationLevel]string{
	sql.LevelReadCommitted: "SET TRANSACTION ISOLATION LEVEL READ COMMITTED",
}

// beginCtx starts a heldTx under ctx with d's isolation level, as BeginTx
// would, after taking lock on its connection when lock.key is set.
func beginCtx(ctx context.Context, db *sql.DB, d *dialect, lock namedLock) (txn, error) {
	c, err := db.Conn(ctx)
	if err != nil {
		return nil, err
	}
	if lock.key != "" {
		took, err := lock.take(ctx, c)
		if err != nil {
			discard(c)
			return nil, err
		}
		if !took {
			lock = namedLock{}
		}
	}
	if o := d.txOptions; o != nil && o.Isolation != sql.LevelDefault {
		set, ok := isolationSQL[o.Isolation]
		if !ok {
			discard(c) // not Close: it may hold lock
			return nil, fmt.Errorf("sqlstore: isolation level %v has no SET TRANSACTION form", o.Isolation)
		}
		if _, err := c.ExecContext(ctx, set); err != nil {
			discard(c)
			return nil, err
		}
	}
	if _, err := c.ExecContext(ctx, "START TRANSACTION"); err != nil {
		discard(c)
		return nil, err
	}
	return &heldTx{Conn: c, end: ctx, lock: lock}, nil
}

// namedLock is a MySQL named lock (GET_LOCK) of a Store's tables: key
// says what it serialises, prefix is the Store's table prefix. Its name
// on the server is derived from both and the connection's database, as
// the migration lock's is, so that Stores of other databases or prefixes
// on the same server do not share it.
type namedLock struct{ key, prefix string }

// lockName is the SQL expression of a namedLock's name, from its key and
// prefix (in that order): at most 64 characters, as MySQL requires.
const lockName = "LEFT(CONCAT('authkit-', ?, ':', SHA2(CONCAT(COALESCE(DATABASE(), ''), ':', ?), 256)), 64)"

// maxLockWait bounds how long a transaction waits for its named lock when
// ctx has no deadline (or a later one).
const maxLockWait = 10 * time.Second

// take waits for the lock on c, for at most what is left of ctx (whole
// seconds, which both servers take) or maxLockWait, and reports whether c
// holds it. A wait that ended without it (another holder for that long),
// or a server that refuses GET_LOCK (a Galera node may), is not an error:
// the transaction then runs without the lock, as it would have without
// this, and its deadlock, if any, is retried. Any other error leaves c's
// state unknown and is returned.
func (l namedLock) take(ctx context.Context, c *sql.Conn) (bool, error) {
	wait := maxLockWait
	if dl, ok := ctx.Deadline(); ok {
		wait = min(wait, time.Until(dl))
	}
	var got sql.NullInt64
	err := c.QueryRowContext(ctx, "SELECT GET_LOCK("+lockName+", ?)", l.key, l.prefix, max(0, int(wait/time.Second))).Scan(&got)
	if err != nil {
		if codes(err).mysql != 0 && ctx.Err() == nil {
			return false, nil // the server answered: no lock taken, c is fine
		}
		return false, err
	}
	return got.Valid && got.Int64 == 1, nil
}

// release releases the lock c holds, under ctx, and reports whether it
// did; the caller discards c if not.
func (l namedLock) release(ctx context.Context, c *sql.Conn) bool {
	var released sql.NullInt64
	err := c.QueryRowContext(ctx, "SELECT RELEASE_LOCK("+lockName+")", l.key, l.prefix).Scan(&released)
	return err == nil && released.Valid && released.Int64 == 1
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
// fn again (see retry), and so does a SQLite database that another pool
// keeps locked (see write): fn must therefore do nothing outside the
// transaction.
func (s *Store) inTx(ctx context.Context, op string, fn func(tx txn) error) error {
	return s.retry(ctx, op, func() error {
		return s.write(ctx, func() error { return s.tryTx(ctx, fn) })
	})
}

// retry runs attempt, one transaction (explicit, or the implicit one of a
// single statement), until it neither fails nor is aborted by a deadlock
// or a serialization failure, running it again after a short, jittered
// pause at most maxAttempts times in all. An outcome attempt returns is
// returned unwrapped; any other error is classified by fail.
func (s *Store) retry(ctx context.Context, op string, attempt func() error) error {
	for n := 1; ; n++ {
		err := attempt()
		if err == nil {
			return nil
		}
		if o, ok := errors.AsType[outcome](err); ok {
			return o.err
		}
		if n < maxAttempts && isRetryable(err) && ctx.Err() == nil {
			pause := time.Duration(n) * (time.Millisecond + rand.N(4*time.Millisecond))
			if !sleep(ctx, pause) {
				return s.fail(ctx, op, err)
			}
			continue
		}
		return s.fail(ctx, op, err)
	}
}

// lockedTx runs fn as inTx does. On MySQL (through go-sql-driver/mysql,
// whose transactions are heldTx) the transaction's connection first takes
// the named lock key (see namedLock.take) and releases it once the
// transaction ends, so that the transactions of every Store on these
// tables that run under key run one at a time. Elsewhere key is unused.
//
// For DeleteExpiredSessions: its three DELETEs lock the index records of
// the sessions and the refresh tokens they read in different orders, and
// on MySQL two cleaners running at once (a cleanup on every replica, say)
// deadlocked each other more often than the retries absorbed (found by
// review).
func (s *Store) lockedTx(ctx context.Context, op, key string, fn func(tx txn) error) error {
	if !s.heldTx || s.d.immediate {
		return s.inTx(ctx, op, fn)
	}
	lock := namedLock{key: key, prefix: s.cfg.prefix}
	return s.retry(ctx, op, func() error {
		tx, err := beginCtx(ctx, s.db.DB, s.d, lock)
		if err != nil {
			return err
		}
		return s.endTx(ctx, tx, fn)
	})
}

func (s *Store) tryTx(ctx context.Context, fn func(tx txn) error) error {
	tx, err := begin(ctx, s.db.DB, s.d, s.heldTx)
	if err != nil {
		return err
	}
	return s.endTx(ctx, tx, fn)
}

// endTx runs fn in tx and commits it, or rolls it back if fn failed or
// ctx ended.
func (s *Store) endTx(ctx context.Context, tx txn, fn func(tx txn) error) error {
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

// exec runs one write statement outside a transaction, through write. Its
// error is the driver's, unclassified.
func (s *Store) exec(ctx context.Context, query string, args ...any) (sql.Result, error) {
	var res sql.Result
	err := s.write(ctx, func() error {
		var err error
		res, err = s.db.ExecContext(ctx, query, args...)
		return err
	})
	return res, err
}

// busyBudget bounds how long a write keeps retrying a SQLite database that
// other connections keep locked, when ctx has no deadline.
const busyBudget = 30 * time.Second

// write runs attempt: one write statement, or one whole write transaction.
// On PostgreSQL and MySQL it just runs it.
//
// SQLite has one writer at a time, and a connection that finds the
// database locked polls for it (busy_timeout) without queueing: under load
// a writer can lose every poll to the others until its busy_timeout runs
// out, and SQLITE_BUSY reaches the caller although the database is fine.
// So the writes of one Store queue on s.gate, in order, and only one of
// them at a time asks SQLite for the lock; and an attempt that still gets
// SQLITE_BUSY (another pool or process holding the lock past
// busy_timeout) did nothing, and runs again after a short pause until ctx
// is done — for at most busyBudget if ctx has no deadline.
func (s *Store) write(ctx context.Context, attempt func() error) error {
	if s.gate == nil {
		return attempt()
	}
	return retryBusy(ctx, func() error { return s.gated(ctx, attempt) })
}

// retryBusy runs attempt, and again after a short pause each time it gets
// SQLITE_BUSY (it did nothing), until ctx is done — for at most
// busyBudget if ctx has no deadline.
func retryBusy(ctx context.Context, attempt func() error) error {
	var since time.Time
	for n := 0; ; n++ {
		err := attempt()
		if err == nil || !isBusy(err) || ctx.Err() != nil {
			return err
		}
		if since.IsZero() {
			since = time.Now()
		}
		if _, ok := ctx.Deadline(); !ok && time.Since(since) >= busyBudget {
			return err
		}
		pause := min(time.Millisecond<<min(n, 6), 50*time.Millisecond) + rand.N(2*time.Millisecond)
		if !sleep(ctx, pause) {
			return err
		}
	}
}

// gated runs attempt holding s.gate, or returns ctx's error if ctx ends
// first.
func (s *Store) gated(ctx context.Context, attempt func() error) error {
	select {
	case s.gate <- struct{}{}:
	case <-ctx.Done():
		return ctx.Err()
	}
	defer func() { <-s.gate }()
	return attempt()
}

// sleep pauses for d, or less if ctx ends first: false then.
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}
