package sqlstore

import (
	"context"
	"database/sql"
	"time"

	"github.com/authkit-go/authkit"
)

// RevokeToken implements authkit.RevocationStore with one upsert, keyed on
// (subject, jti), that keeps the later until. Like the other two writes,
// it appends the change to the revocation log in the same transaction
// (see RevocationSnapshot) and, on PostgreSQL, sends a NOTIFY that wakes
// the followers of WithNotifications.
func (s *Store) RevokeToken(ctx context.Context, subject, jti string, until time.Time) error {
	if err := s.revoke(ctx, "revoke token", subject, kindJTI, "jti", jti, until, nil); err != nil {
		return err
	}
	s.listeners.Notify(authkit.Revocation{Kind: authkit.RevokedToken, Subject: subject, ID: jti, Until: timeOf(microsCeil(until))})
	return nil
}

// RevokeSessionTokens implements authkit.RevocationStore with one upsert,
// keyed on (subject, sid), that keeps the later until.
func (s *Store) RevokeSessionTokens(ctx context.Context, subject, sid string, until time.Time) error {
	if err := s.revoke(ctx, "revoke session tokens", subject, kindSID, "sid", sid, until, nil); err != nil {
		return err
	}
	s.listeners.Notify(authkit.Revocation{Kind: authkit.RevokedSession, Subject: subject, ID: sid, Until: timeOf(microsCeil(until))})
	return nil
}

// SetCutoff implements authkit.RevocationStore with one upsert that keeps
// the later cutoff and the later until. The cutoff is kept to the
// microsecond, rounded up.
func (s *Store) SetCutoff(ctx context.Context, subject string, cutoff, until time.Time) error {
	at := microsCeil(cutoff)
	if err := s.revoke(ctx, "set cutoff", subject, kindCutoff, "", "", until, at); err != nil {
		return err
	}
	s.listeners.Notify(authkit.Revocation{Kind: authkit.RevokedBefore, Subject: subject, Cutoff: timeOf(at), Until: timeOf(microsCeil(until))})
	return nil
}

// ListenRevocations implements authkit.RevocationListeners: fn hears of
// each revocation written through s once its transaction has committed,
// before the writing call returns, with the times as the feed delivers
// them (to the microsecond).
func (s *Store) ListenRevocations(fn func(authkit.Revocation)) (stop func()) {
	return s.listeners.Add(fn)
}

// revoke writes one revocations row: (subject, kind, ident), ident empty
// for a cutoff; and, in the same transaction, the log row that records the
// write for the feed.
func (s *Store) revoke(ctx context.Context, op, subject string, kind int, what, ident string, until time.Time, cutoff any) error {
	if err := ctx.Err(); err != nil {
		return deadCtx(op, err)
	}
	if err := checkLen(op, "subject", subject, MaxKeyLen); err != nil {
		return err
	}
	// An empty jti or sid is refused: an empty sid means "no session", and
	// must never match a stored entry.
	if what != "" {
		if err := checkLen(op, what, ident, MaxKeyLen); err != nil {
			return err
		}
	}
	stmt := s.q.revokeLogged
	if s.push.revoke != "" {
		stmt = s.push.revoke // with its NOTIFY (notify.go)
	}
	if stmt != "" {
		res, err := s.exec(ctx, stmt, subject, kind, ident, microsCeil(until), cutoff, time.Now().UnixMicro())
		if err == nil {
			var n int64
			if n, err = res.RowsAffected(); err == nil && n != 1 {
				err = errNoFeedRow
			}
		}
		if err != nil {
			return s.fail(ctx, op, err)
		}
		return nil
	}
	return s.inTx(ctx, op, func(tx txn) error {
		// The counter row first: it serialises the writers of the log, so
		// that ids commit in their order (see the 0002 migration).
		id, err := s.nextLogID(ctx, tx)
		if err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, s.q.appendLog, id, kind, subject, ident, cutoff, microsCeil(until), time.Now().UnixMicro()); err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, s.q.upsertRevocation, subject, kind, ident, microsCeil(until), cutoff)
		return err
	})
}

// IsRevoked implements authkit.RevocationStore: one SELECT of four
// primary-key probes, so one round trip: three under q.Subject (its jti,
// its sid, its cutoff) and the epoch marker's (see epoch.go). A token
// issued at or before the epoch's start is dead, with a
// *authkit.DataLossError. A marker found missing means the revocations
// table lost its data: the call starts a new epoch at now (startEpoch, in
// a transaction of its own: the only path with more round trips) and
// judges the token by it.
func (s *Store) IsRevoked(ctx context.Context, q authkit.RevocationQuery, now time.Time) (bool, error) {
	const op = "is revoked"
	if err := ctx.Err(); err != nil {
		return false, deadCtx(op, err)
	}
	n := micros(now)
	var (
		dead  bool
		epoch sql.NullInt64
	)
	err := s.db.QueryRowContext(ctx, s.q.isRevoked,
		q.Subject, q.TokenID, n,
		q.Subject, q.SessionID, n, // an empty sid is never stored: a token outside any session matches nothing
		q.Subject, n, micros(q.IssuedAt),
	).Scan(&dead, &epoch)
	if err != nil {
		return false, s.fail(ctx, op, err)
	}
	since := epoch.Int64
	if !epoch.Valid {
		if since, err = s.startEpoch(ctx, op, n); err != nil {
			return false, err
		}
	}
	if t := timeOf(since); !q.IssuedAt.After(t) {
		return true, &authkit.DataLossError{Since: t}
	}
	return dead, nil
}

// DeleteExpiredRevocations implements authkit.RevocationStore with one
// bounded DELETE. It then trims the revocation log, in bounded DELETEs
// until one deletes less than limit: the changes written more than the feed's retention ago
// (WithFeedRetention) by the wall clock, whatever now says, but never the
// newest. The count it returns is of revocations only.
func (s *Store) DeleteExpiredRevocations(ctx context.Context, now time.Time, limit int) (int, error) {
	const op = "delete expired revocations"
	n, err := s.deleteBatch(ctx, op, s.q.gcRevocations, now, limit)
	if err != nil {
		return n, err
	}
	if err := s.trimLog(ctx, limit); err != nil {
		return n, s.fail(ctx, op, err)
	}
	return n, nil
}

// deleteBatch runs a bounded cleanup DELETE and returns how many rows it
// removed.
func (s *Store) deleteBatch(ctx context.Context, op, query string, now time.Time, limit int) (int, error) {
	if err := ctx.Err(); err != nil {
		return 0, deadCtx(op, err)
	}
	if limit <= 0 {
		return 0, errLimit(op, limit)
	}
	res, err := s.exec(ctx, query, micros(now), limit)
	if err != nil {
		return 0, s.fail(ctx, op, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return 0, s.fail(ctx, op, err)
	}
	return int(n), nil
}
