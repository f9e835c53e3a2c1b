package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/authkit-go/authkit"
)

// The results of the rotation routine (its o_status column).
const (
	rotated         = 0
	rotateNotFound  = 1
	rotateRevoked   = 2
	rotateReused    = 3
	rotateExpired   = 4
	rotateConflict  = 5
	pgUndefinedFunc = "42883" // undefined_function
	myNoSuchRoutine = 1305    // ER_SP_DOES_NOT_EXIST
)

// errNoRotateRoutine reports a database without the rotation routine of
// migration 0003: the statement failed before doing anything, and the
// caller rotates with a transaction instead.
var errNoRotateRoutine = errors.New("sqlstore: the rotation routine (migration 0003) is missing")

// rotateRow is the row the rotation routine returns: its verdict, the
// spent token's use when it was reused, and the session as it was before
// the call (all NULL when there is no such token).
type rotateRow struct {
	status    int64
	usedAt    sql.NullInt64
	successor []byte
	id        sql.NullString
	subject   sql.NullString
	clientID  sql.NullString
	scopes    sql.NullString
	audience  sql.NullString
	claims    []byte
	userAgent sql.NullString
	ip        sql.NullString
	name      sql.NullString
	created   sql.NullInt64
	lastUsed  sql.NullInt64
	expires   sql.NullInt64
	idle      sql.NullInt64
	revoked   sql.NullInt64
}

func (w *rotateRow) scan(sc scanner) error {
	return sc.Scan(&w.status, &w.usedAt, &w.successor, &w.id, &w.subject, &w.clientID, &w.scopes, &w.audience,
		&w.claims, &w.userAgent, &w.ip, &w.name, &w.created, &w.lastUsed, &w.expires, &w.idle, &w.revoked)
}

// session is the session the row describes.
func (w *rotateRow) session() (authkit.Session, error) {
	if !w.id.Valid || !w.subject.Valid || !w.created.Valid || !w.lastUsed.Valid || !w.expires.Valid || !w.idle.Valid {
		return authkit.Session{}, errors.New("sqlstore: the rotation routine returned a session without its identity or times")
	}
	s := authkit.Session{
		ID:            w.id.String,
		Subject:       w.subject.String,
		ClientID:      w.clientID.String,
		Claims:        w.claims,
		UserAgent:     w.userAgent.String,
		IP:            w.ip.String,
		Name:          w.name.String,
		CreatedAt:     timeOf(w.created.Int64),
		LastUsedAt:    timeOf(w.lastUsed.Int64),
		ExpiresAt:     timeOf(w.expires.Int64),
		IdleExpiresAt: timeOf(w.idle.Int64),
		RevokedAt:     nullTime(w.revoked),
	}
	var err error
	if s.Scopes, err = decodeList(w.scopes); err != nil {
		return authkit.Session{}, err
	}
	if s.Audience, err = decodeList(w.audience); err != nil {
		return authkit.Session{}, err
	}
	return s, nil
}

// rotateInOne is RotateRefresh in one statement: a call of the dialect's
// rotation routine, in the statement's implicit transaction (one round
// trip once the driver has the statement prepared). The routine writes
// nothing unless it rotated, and a deadlock or serialization failure
// aborts the whole call, which retry then runs again. A database without
// the routine yields errNoRotateRoutine.
func (s *Store) rotateInOne(ctx context.Context, op string, r authkit.Rotation) (authkit.Session, error) {
	var out authkit.Session
	err := s.retry(ctx, op, func() error {
		var w rotateRow
		err := w.scan(s.db.QueryRowContext(ctx, s.q.rotateCall,
			r.Old[:], r.Next[:], micros(r.Now), micros(r.NextExpiresAt), bytesOrNil(r.Successor)))
		if err != nil {
			if c := codes(err); c.pg == pgUndefinedFunc || c.mysql == myNoSuchRoutine {
				return outcome{errNoRotateRoutine}
			}
			return err
		}
		if w.status == rotateNotFound {
			return outcome{fmt.Errorf("sqlstore: %s: %w", op, authkit.ErrNotFound)}
		}
		sess, err := w.session()
		if err != nil {
			return err
		}
		switch w.status {
		case rotated:
			sess.LastUsedAt, sess.IdleExpiresAt = timeOf(micros(r.Now)), timeOf(micros(r.NextExpiresAt))
			out = sess
			return nil
		case rotateRevoked:
			return outcome{fmt.Errorf("sqlstore: %s: session: %w", op, authkit.ErrTokenRevoked)}
		case rotateReused:
			if !w.usedAt.Valid {
				return errors.New("sqlstore: the rotation routine reported a reuse without its time")
			}
			return outcome{&authkit.ReuseError{
				SessionID: sess.ID,
				Subject:   sess.Subject,
				UsedAt:    timeOf(w.usedAt.Int64),
				Successor: w.successor,
			}}
		case rotateExpired:
			return outcome{fmt.Errorf("sqlstore: %s: %w", op, authkit.ErrTokenExpired)}
		case rotateConflict:
			return outcome{fmt.Errorf("sqlstore: %s: successor hash: %w", op, authkit.ErrConflict)}
		}
		return fmt.Errorf("sqlstore: the rotation routine returned status %d, want 0 to 5", w.status)
	})
	if err != nil {
		return authkit.Session{}, err
	}
	return out, nil
}
