package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/authkit-go/authkit"
)

// CreateSession implements authkit.RefreshStore: the session row and its
// first token's row are inserted in one transaction. first must belong to
// s (same SessionID and Subject).
func (s *Store) CreateSession(ctx context.Context, sess authkit.Session, first authkit.RefreshRecord) error {
	const op = "create session"
	if err := ctx.Err(); err != nil {
		return deadCtx(op, err)
	}
	if first.SessionID != sess.ID || first.Subject != sess.Subject {
		return fmt.Errorf("sqlstore: %s: %w: the first token's SessionID and Subject must be the session's", op, authkit.ErrInvalidRequest)
	}
	if err := checkLen(op, "session ID", sess.ID, MaxIDLen); err != nil {
		return err
	}
	if err := checkLen(op, "subject", sess.Subject, MaxKeyLen); err != nil {
		return err
	}
	args, err := sessionArgs(sess)
	if err != nil {
		return fmt.Errorf("sqlstore: %s: %w", op, err)
	}
	return s.inTx(ctx, op, func(tx txn) error {
		if _, err := tx.ExecContext(ctx, s.q.insertSession, args...); err != nil {
			return conflictOr(op, "session ID", err)
		}
		if _, err := tx.ExecContext(ctx, s.q.insertRefresh, first.Hash[:], first.SessionID, first.Subject,
			micros(first.IssuedAt), micros(first.ExpiresAt), nullMicros(first.UsedAt), bytesOrNil(first.Successor)); err != nil {
			return conflictOr(op, "token hash", err)
		}
		return nil
	})
}

// conflictOr turns a duplicate key into the ErrConflict outcome, without
// the driver's message (MySQL's names the duplicate value).
func conflictOr(op, what string, err error) error {
	if isUniqueViolation(err) {
		return outcome{fmt.Errorf("sqlstore: %s: %s: %w", op, what, authkit.ErrConflict)}
	}
	return err
}

// RotateRefresh implements authkit.RefreshStore. It locks the presented
// record and its session, classifies them in the contract's order, then
// marks the record used, inserts the successor and moves the session's
// idle expiry, all or nothing. Concurrent rotations of one token queue on
// the record's row lock; the first commits and every later one finds the
// record used and returns a *authkit.ReuseError describing the winner.
//
// On PostgreSQL and MySQL/MariaDB this is one statement, one round trip
// (on MySQL with interpolateParams=true, which Open sets): a call of the
// routine that migration 0003 creates, <prefix>rotate_refresh, which takes
// the same locks, makes the same checks and does the same three writes
// inside one transaction (PostgreSQL: the statement's own; MySQL: one the
// procedure opens at READ COMMITTED and ends). On SQLite, whose write
// transactions hold the database's write lock (BEGIN IMMEDIATE) and have
// no network round trip to save, and on a database where the routine is
// missing (the call fails without doing anything; Open refuses such a
// database, but New does not check, and the routine may be dropped while
// the Store runs), it is a transaction of four statements, with the same
// result.
func (s *Store) RotateRefresh(ctx context.Context, r authkit.Rotation) (authkit.Session, error) {
	const op = "rotate"
	if err := ctx.Err(); err != nil {
		return authkit.Session{}, deadCtx(op, err)
	}
	if s.q.rotateCall != "" {
		sess, err := s.rotateInOne(ctx, op, r)
		if !errors.Is(err, errNoRotateRoutine) {
			return sess, err
		}
	}
	return s.rotateInTx(ctx, op, r)
}

// rotateInTx is RotateRefresh as a transaction of four statements.
func (s *Store) rotateInTx(ctx context.Context, op string, r authkit.Rotation) (authkit.Session, error) {
	now := micros(r.Now)
	nextExp := micros(r.NextExpiresAt)
	var out authkit.Session
	err := s.inTx(ctx, op, func(tx txn) error {
		var (
			recExpires int64
			usedAt     sql.NullInt64
			successor  []byte
		)
		sess, err := scanSession(tx.QueryRowContext(ctx, s.q.rotateSelect, r.Old[:]), &recExpires, &usedAt, &successor)
		switch {
		case errors.Is(err, sql.ErrNoRows):
			return outcome{fmt.Errorf("sqlstore: %s: %w", op, authkit.ErrNotFound)}
		case err != nil:
			return err
		case !sess.RevokedAt.IsZero():
			return outcome{fmt.Errorf("sqlstore: %s: session: %w", op, authkit.ErrTokenRevoked)}
		case usedAt.Valid:
			return outcome{&authkit.ReuseError{
				SessionID: sess.ID,
				Subject:   sess.Subject,
				UsedAt:    timeOf(usedAt.Int64),
				Successor: successor,
			}}
		case recExpires <= now || micros(sess.ExpiresAt) <= now || micros(sess.IdleExpiresAt) <= now:
			return outcome{fmt.Errorf("sqlstore: %s: %w", op, authkit.ErrTokenExpired)}
		}
		res, err := tx.ExecContext(ctx, s.q.rotateMarkUsed, now, bytesOrNil(r.Successor), r.Old[:])
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil {
			return err
		} else if n != 1 {
			// The row lock makes this unreachable; if a database ever lets
			// it happen, refuse rather than fork the family.
			return fmt.Errorf("sqlstore: %s: the presented token changed under its row lock", op)
		}
		if _, err := tx.ExecContext(ctx, s.q.insertRefresh, r.Next[:], sess.ID, sess.Subject,
			now, nextExp, nil, nil); err != nil {
			return conflictOr(op, "successor hash", err)
		}
		gc := sessionGC(micros(sess.ExpiresAt), nextExp)
		if _, err := tx.ExecContext(ctx, s.q.rotateSession, now, nextExp, gc, sess.ID); err != nil {
			return err
		}
		sess.LastUsedAt, sess.IdleExpiresAt = timeOf(now), timeOf(nextExp)
		out = sess
		return nil
	})
	if err != nil {
		return authkit.Session{}, err
	}
	return out, nil
}

// LookupRefresh implements authkit.RefreshStore.
func (s *Store) LookupRefresh(ctx context.Context, h authkit.TokenHash) (authkit.RefreshRecord, error) {
	const op = "lookup refresh token"
	if err := ctx.Err(); err != nil {
		return authkit.RefreshRecord{}, deadCtx(op, err)
	}
	r, err := scanRecord(s.db.QueryRowContext(ctx, s.q.lookupRefresh, h[:]))
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return authkit.RefreshRecord{}, fmt.Errorf("sqlstore: %s: %w", op, authkit.ErrNotFound)
	case err != nil:
		return authkit.RefreshRecord{}, s.fail(ctx, op, err)
	}
	return r, nil
}

// Session implements authkit.RefreshStore.
func (s *Store) Session(ctx context.Context, id string) (authkit.Session, error) {
	const op = "session"
	if err := ctx.Err(); err != nil {
		return authkit.Session{}, deadCtx(op, err)
	}
	sess, err := scanSession(s.db.QueryRowContext(ctx, s.q.getSession, id))
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return authkit.Session{}, fmt.Errorf("sqlstore: %s: %w", op, authkit.ErrNotFound)
	case err != nil:
		return authkit.Session{}, s.fail(ctx, op, err)
	}
	return sess, nil
}

// ListSessions implements authkit.RefreshStore. It reads the index on
// (subject, created_at).
func (s *Store) ListSessions(ctx context.Context, subject string, now time.Time) ([]authkit.Session, error) {
	n := micros(now)
	return queryAll(ctx, s, "list sessions", s.q.listSessions, func(sc scanner) (authkit.Session, error) { return scanSession(sc) }, subject, n, n)
}

// queryAll runs a query and scans every row with scan; no row is an empty,
// non-nil result.
func queryAll[T any](ctx context.Context, s *Store, op, query string, scan func(scanner) (T, error), args ...any) ([]T, error) {
	if err := ctx.Err(); err != nil {
		return nil, deadCtx(op, err)
	}
	rows, err := s.db.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, s.fail(ctx, op, err)
	}
	defer rows.Close()
	out := []T{}
	for rows.Next() {
		v, err := scan(rows)
		if err != nil {
			return nil, s.fail(ctx, op, err)
		}
		out = append(out, v)
	}
	if err := rows.Err(); err != nil {
		return nil, s.fail(ctx, op, err)
	}
	return out, nil
}

// RevokeSession implements authkit.RefreshStore.
func (s *Store) RevokeSession(ctx context.Context, id string, now time.Time) error {
	return s.updateOrExists(ctx, "revoke session",
		s.q.revokeSession, []any{micros(now), int64(gcRevoked), id},
		s.q.sessionExists, id)
}

// updateOrExists runs a conditional UPDATE; if it changed no row, the row
// either exists in a state the UPDATE leaves alone (already revoked, a
// later last use: not an error) or does not exist (ErrNotFound), which the
// exists query tells apart.
func (s *Store) updateOrExists(ctx context.Context, op, update string, args []any, exists string, key ...any) error {
	if err := ctx.Err(); err != nil {
		return deadCtx(op, err)
	}
	res, err := s.exec(ctx, update, args...)
	if err != nil {
		return s.fail(ctx, op, err)
	}
	if n, err := res.RowsAffected(); err != nil {
		return s.fail(ctx, op, err)
	} else if n > 0 {
		return nil
	}
	var one int
	err = s.db.QueryRowContext(ctx, exists, key...).Scan(&one)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return fmt.Errorf("sqlstore: %s: %w", op, authkit.ErrNotFound)
	case err != nil:
		return s.fail(ctx, op, err)
	}
	return nil
}

// revokeChunk bounds the IDs of one UPDATE … WHERE id IN (…).
const revokeChunk = 500

// RevokeSubjectSessions implements authkit.RefreshStore. It locks the
// subject's unrevoked sessions, then revokes exactly those, so the IDs it
// returns are the ones it revoked even while sessions are being created.
func (s *Store) RevokeSubjectSessions(ctx context.Context, subject string, now time.Time) ([]string, error) {
	const op = "revoke subject sessions"
	if err := ctx.Err(); err != nil {
		return nil, deadCtx(op, err)
	}
	var ids []string
	err := s.inTx(ctx, op, func(tx txn) error {
		ids = ids[:0]
		rows, err := tx.QueryContext(ctx, s.q.subjectSessions, subject)
		if err != nil {
			return err
		}
		for rows.Next() {
			var id string
			if err := rows.Scan(&id); err != nil {
				rows.Close()
				return err
			}
			ids = append(ids, id)
		}
		if err := rows.Err(); err != nil {
			rows.Close()
			return err
		}
		rows.Close()
		for chunk := range slices.Chunk(ids, revokeChunk) {
			args := make([]any, 0, 2+len(chunk))
			args = append(args, micros(now), int64(gcRevoked))
			for _, id := range chunk {
				args = append(args, id)
			}
			q := s.q.revokeSessionIDs + " (" + s.placeholders(2, len(chunk)) + ")"
			if _, err := tx.ExecContext(ctx, q, args...); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	if ids == nil {
		ids = []string{}
	}
	return ids, nil
}

// placeholders returns n placeholders for the dialect, numbered from
// after+1 where numbering matters.
func (s *Store) placeholders(after, n int) string {
	var b strings.Builder
	for i := range n {
		if i > 0 {
			b.WriteString(", ")
		}
		if s.d == dialectPostgres {
			fmt.Fprintf(&b, "$%d", after+i+1)
		} else {
			b.WriteByte('?')
		}
	}
	return b.String()
}

// DeleteExpiredSessions implements authkit.RefreshStore, in one
// transaction of at most three bounded DELETEs: the records of garbage
// sessions, then expired records, then garbage sessions that have no
// record left. Each deletes no more than the limit still unspent, so the
// total never exceeds limit, and a total below limit means nothing was
// left.
func (s *Store) DeleteExpiredSessions(ctx context.Context, now time.Time, limit int) (int, error) {
	const op = "delete expired sessions"
	if err := ctx.Err(); err != nil {
		return 0, deadCtx(op, err)
	}
	if limit <= 0 {
		return 0, errLimit(op, limit)
	}
	n := micros(now)
	total := 0
	err := s.lockedTx(ctx, op, "gc-sessions", func(tx txn) error {
		total = 0
		for _, q := range []struct {
			text   string
			limits int // how many times the statement takes the limit, after now
		}{{s.q.gcSessionRecords, 2}, {s.q.gcExpiredRecords, 1}, {s.q.gcSessions, 1}} {
			if total == limit {
				break
			}
			args := []any{n}
			for range q.limits {
				args = append(args, limit-total)
			}
			res, err := tx.ExecContext(ctx, q.text, args...)
			if err != nil {
				return err
			}
			k, err := res.RowsAffected()
			if err != nil {
				return err
			}
			total += int(k)
		}
		return nil
	})
	if err != nil {
		return 0, err
	}
	return total, nil
}
