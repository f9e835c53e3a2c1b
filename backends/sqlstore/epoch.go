package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"time"
)

// Data loss (authkit.ErrDataLoss). The store's epoch marker is a row of
// the revocations table itself, kind 4 with subject and ident empty:
// whatever empties that table (a TRUNCATE, a restore of an older or empty
// backup, a failover to a replica that missed writes) takes the marker
// with it. Its cutoff_at is the start of the epoch, in microseconds; its
// expires_at is epochExpires, so no cleanup deletes it. Migration 0005
// writes it with cutoff_at 0: the data is intact when the migration runs,
// so an upgrade refuses no token. Migrate, making a schema from nothing,
// writes it first, at its own now, right after 0001 (which 0005 then
// keeps): a database wiped and migrated again must not vouch for
// revocations it never held (found by review, 2026-12-03).
//
// IsRevoked reads the marker's cutoff_at in its one SELECT. A token
// issued at or before it is refused with a *DataLossError; a missing
// marker means the table lost its data, and the first call that notices
// starts a new epoch at its now (startEpoch): the marker is written once,
// and every handle, and every later check, reads that one back.

// errEpochFound ends startEpoch's transaction (rolled back, nothing
// written) when a marker was there after all.
var errEpochFound = errors.New("the epoch marker is there")

// errEpochNoTime reports a marker whose cutoff_at is NULL: the store
// cannot tell when its data begins, and refuses to answer.
var errEpochNoTime error = &rowError{"the epoch marker has no time (cutoff_at is NULL): delete that row so that the next check starts a new epoch"}

// startEpoch writes the epoch marker with cutoff_at now (microseconds)
// unless there is one, and returns the marker's cutoff_at: now, or that
// of the marker another handle wrote first. A marker it writes is also
// logged, as a change of kind 4, for the followers of the revocation feed
// (on PostgreSQL with the NOTIFY that wakes them), in the same
// transaction.
//
// The transaction takes the feed's counter row first, as every writer of
// the log does: the handles that notice the loss at once queue there, and
// each finds the marker of the one before. A marker written without that
// lock (by migration 0005, racing) is read back too.
func (s *Store) startEpoch(ctx context.Context, op string, now int64) (int64, error) {
	var since int64
	err := s.inTx(ctx, op, func(tx txn) error {
		id, err := s.nextLogID(ctx, tx)
		if err != nil {
			return err
		}
		if since, err = readEpoch(ctx, tx, s.q.readEpoch); err == nil {
			return outcome{errEpochFound} // rolled back: the counter too
		} else if !errors.Is(err, sql.ErrNoRows) {
			return err
		}
		if _, err := tx.ExecContext(ctx, s.q.insertEpoch, now); err != nil {
			return err
		}
		if since, err = readEpoch(ctx, tx, s.q.readEpoch); err != nil {
			return err
		}
		if since != now {
			return outcome{errEpochFound}
		}
		if _, err := tx.ExecContext(ctx, s.q.appendLog, id, kindEpoch, "", "", now, int64(epochExpires), time.Now().UnixMicro()); err != nil {
			return err
		}
		if s.push.notify != "" {
			if _, err := tx.ExecContext(ctx, s.push.notify); err != nil {
				return err
			}
		}
		return nil
	})
	if errors.Is(err, errEpochFound) {
		return since, nil
	}
	return since, err // classified by inTx
}

// readEpoch reads the marker's cutoff_at: sql.ErrNoRows when there is no
// marker, errEpochNoTime when it has no time.
func readEpoch(ctx context.Context, q querier, query string) (int64, error) {
	var c sql.NullInt64
	if err := q.QueryRowContext(ctx, query).Scan(&c); err != nil {
		return 0, err
	}
	if !c.Valid {
		return 0, errEpochNoTime
	}
	return c.Int64, nil
}
