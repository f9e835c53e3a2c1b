package sqlstore

import (
	"context"
	"fmt"
	"math"
	"strings"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/authkit-go/authkit"
)

var _ authkit.ThrottleStore = (*Store)(nil)

// Throttle counters (authkit.ThrottleStore) are the rows of the table
// migration 0004 creates, {p}throttle: k (the key's bytes, binary), n (the
// failures), last_at (the latest failure, µs) and expires_at (the window's
// end, µs), with an index on expires_at for the cleanup.
//
// AddFailure is one upsert that opens a new window when the row's has
// ended and counts otherwise; on PostgreSQL and SQLite it returns the row
// (RETURNING), one round trip; on MySQL and MariaDB it runs in a
// transaction with the SELECT of the row it wrote. The upsert locks the
// row, so N concurrent calls count N. ThrottleStates is one SELECT … IN.

// throttleSQL holds the dialect's statements, with the table prefix and
// the bind style applied.
type throttleSQL struct {
	add, get, states, clear, gc string
}

func (s *Store) throttleSQL() throttleSQL {
	q := func(text string) string {
		return sqlx.Rebind(s.d.bind, strings.ReplaceAll(text, "{p}", s.cfg.prefix))
	}
	var add string
	switch s.d.name {
	case "mysql":
		// The assignments run left to right, each seeing the ones before:
		// expires_at, which the conditions read, is assigned last.
		add = `INSERT INTO {p}throttle (k, n, last_at, expires_at) VALUES (?, 1, ?, ?)
			ON DUPLICATE KEY UPDATE
			n = IF(expires_at <= VALUES(last_at), 1, n + 1),
			last_at = IF(expires_at <= VALUES(last_at), VALUES(last_at), GREATEST(last_at, VALUES(last_at))),
			expires_at = IF(expires_at <= VALUES(last_at), VALUES(expires_at), expires_at)`
	default:
		// PostgreSQL and SQLite: every SET expression reads the old row.
		add = `INSERT INTO {p}throttle AS t (k, n, last_at, expires_at) VALUES (?, 1, ?, ?)
			ON CONFLICT (k) DO UPDATE SET
			n = CASE WHEN t.expires_at <= excluded.last_at THEN 1 ELSE t.n + 1 END,
			last_at = CASE WHEN t.expires_at <= excluded.last_at OR t.last_at < excluded.last_at THEN excluded.last_at ELSE t.last_at END,
			expires_at = CASE WHEN t.expires_at <= excluded.last_at THEN excluded.expires_at ELSE t.expires_at END
			RETURNING n, last_at, expires_at`
	}
	return throttleSQL{
		add:    q(add),
		get:    q(`SELECT n, last_at, expires_at FROM {p}throttle WHERE k = ?`),
		states: `SELECT k, n, last_at, expires_at FROM ` + s.cfg.prefix + `throttle WHERE expires_at > ? AND k IN `,
		clear:  q(`DELETE FROM {p}throttle WHERE k = ?`),
		gc:     q(s.d.deleteBatch("{p}throttle", "k", `{t}expires_at <= ?`, `{t}expires_at`)),
	}
}

func checkThrottleKey(op, key string) error {
	return checkLen(op, "throttle key", key, authkit.MaxThrottleKeyLen)
}

// AddFailure implements authkit.ThrottleStore.
func (s *Store) AddFailure(ctx context.Context, key string, now time.Time, window time.Duration) (authkit.ThrottleState, error) {
	const op = "add failure"
	if err := ctx.Err(); err != nil {
		return authkit.ThrottleState{}, deadCtx(op, err)
	}
	if err := checkThrottleKey(op, key); err != nil {
		return authkit.ThrottleState{}, err
	}
	if window <= 0 {
		return authkit.ThrottleState{}, fmt.Errorf("sqlstore: %s: %w: window %v must be positive", op, authkit.ErrInvalidRequest, window)
	}
	us := micros(now)
	end := us + window.Microseconds()
	if w := window.Microseconds(); us > math.MaxInt64-w {
		end = math.MaxInt64
	}
	q := s.throttleSQL()
	var n, last, exp int64
	var err error
	if s.d.name == "mysql" {
		err = s.inTx(ctx, op, func(tx txn) error {
			if _, err := tx.ExecContext(ctx, q.add, []byte(key), us, end); err != nil {
				return err
			}
			return tx.QueryRowContext(ctx, q.get, []byte(key)).Scan(&n, &last, &exp)
		})
	} else {
		err = s.retry(ctx, op, func() error {
			return s.write(ctx, func() error {
				return s.db.QueryRowContext(ctx, q.add, []byte(key), us, end).Scan(&n, &last, &exp)
			})
		})
	}
	if err != nil {
		return authkit.ThrottleState{}, err // classified by retry
	}
	return authkit.ThrottleState{Failures: n, Last: time.UnixMicro(last).UTC(), ExpiresAt: time.UnixMicro(exp).UTC()}, nil
}

// ThrottleStates implements authkit.ThrottleStore: one SELECT.
func (s *Store) ThrottleStates(ctx context.Context, now time.Time, keys ...string) ([]authkit.ThrottleState, error) {
	const op = "throttle states"
	if err := ctx.Err(); err != nil {
		return nil, deadCtx(op, err)
	}
	if len(keys) == 0 || len(keys) > authkit.MaxThrottleKeys {
		return nil, fmt.Errorf("sqlstore: %s: %w: %d keys (1 to %d)", op, authkit.ErrInvalidRequest, len(keys), authkit.MaxThrottleKeys)
	}
	args := make([]any, 0, len(keys)+1)
	args = append(args, micros(now))
	for _, k := range keys {
		if err := checkThrottleKey(op, k); err != nil {
			return nil, err
		}
		args = append(args, []byte(k))
	}
	query := sqlx.Rebind(s.d.bind, s.throttleSQL().states+"("+strings.TrimSuffix(strings.Repeat("?, ", len(keys)), ", ")+")")
	rows, err := s.db.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, s.fail(ctx, op, err)
	}
	defer rows.Close()
	found := make(map[string]authkit.ThrottleState, len(keys))
	for rows.Next() {
		var (
			k            []byte
			n, last, exp int64
		)
		if err := rows.Scan(&k, &n, &last, &exp); err != nil {
			return nil, s.fail(ctx, op, err)
		}
		found[string(k)] = authkit.ThrottleState{Failures: n, Last: time.UnixMicro(last).UTC(), ExpiresAt: time.UnixMicro(exp).UTC()}
	}
	if err := rows.Err(); err != nil {
		return nil, s.fail(ctx, op, err)
	}
	out := make([]authkit.ThrottleState, len(keys))
	for i, k := range keys {
		out[i] = found[k]
	}
	return out, nil
}

// ClearThrottle implements authkit.ThrottleStore: one DELETE.
func (s *Store) ClearThrottle(ctx context.Context, key string) error {
	const op = "clear throttle"
	if err := ctx.Err(); err != nil {
		return deadCtx(op, err)
	}
	if err := checkThrottleKey(op, key); err != nil {
		return err
	}
	if _, err := s.exec(ctx, s.throttleSQL().clear, []byte(key)); err != nil {
		return s.fail(ctx, op, err)
	}
	return nil
}

// DeleteExpiredThrottles implements authkit.ThrottleStore: one bounded
// DELETE of the rows whose window has ended, oldest first.
func (s *Store) DeleteExpiredThrottles(ctx context.Context, now time.Time, limit int) (int, error) {
	return s.deleteBatch(ctx, "delete expired throttles", s.throttleSQL().gc, now, limit)
}
