package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/authkit-go/authkit"
)

// CreateAPIToken implements authkit.APITokenStore. With a limit, one
// transaction takes the subject's lock row (a row of the
// api_token_subjects table, inserted on first use and locked with SELECT …
// FOR UPDATE; on SQLite the transaction holds the write lock), counts the
// subject's live tokens and inserts: creations for one subject queue on
// that row, so N concurrent ones never exceed the limit, while other
// subjects are not held up.
func (s *Store) CreateAPIToken(ctx context.Context, t authkit.APIToken, limit int, now time.Time) error {
	const op = "create API token"
	if err := ctx.Err(); err != nil {
		return deadCtx(op, err)
	}
	if err := checkLen(op, "token ID", t.ID, MaxIDLen); err != nil {
		return err
	}
	if err := checkLen(op, "subject", t.Subject, MaxKeyLen); err != nil {
		return err
	}
	scopes, err := encodeList(t.Scopes)
	if err != nil {
		return fmt.Errorf("sqlstore: %s: %w", op, err)
	}
	var gc any = nullMicros(t.ExpiresAt)
	if !t.RevokedAt.IsZero() {
		gc = int64(gcRevoked)
	}
	args := []any{t.ID, t.Hash[:], t.Subject, t.Name, scopes, micros(t.CreatedAt),
		nullMicros(t.ExpiresAt), nullMicros(t.LastUsedAt), nullMicros(t.RevokedAt), gc}
	if limit <= 0 {
		if _, err := s.exec(ctx, s.q.insertToken, args...); err != nil {
			if isUniqueViolation(err) {
				return fmt.Errorf("sqlstore: %s: ID or hash: %w", op, authkit.ErrConflict)
			}
			return s.fail(ctx, op, err)
		}
		return nil
	}
	return s.inTx(ctx, op, func(tx txn) error {
		if _, err := tx.ExecContext(ctx, s.q.lockSubject, t.Subject); err != nil {
			return err
		}
		var locked string
		if err := tx.QueryRowContext(ctx, s.q.lockSubjectRow, t.Subject).Scan(&locked); err != nil {
			return err
		}
		var live int
		if err := tx.QueryRowContext(ctx, s.q.countLive, t.Subject, micros(now)).Scan(&live); err != nil {
			return err
		}
		if live >= limit {
			return outcome{fmt.Errorf("sqlstore: %s: %w: %d live tokens, limit %d", op, authkit.ErrLimitExceeded, live, limit)}
		}
		if _, err := tx.ExecContext(ctx, s.q.insertToken, args...); err != nil {
			return conflictOr(op, "ID or hash", err)
		}
		return nil
	})
}

// LookupAPIToken implements authkit.APITokenStore: one read of the unique
// index on the hash.
func (s *Store) LookupAPIToken(ctx context.Context, h authkit.TokenHash) (authkit.APIToken, error) {
	const op = "lookup API token"
	if err := ctx.Err(); err != nil {
		return authkit.APIToken{}, deadCtx(op, err)
	}
	t, err := scanToken(s.db.QueryRowContext(ctx, s.q.lookupToken, h[:]))
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return authkit.APIToken{}, fmt.Errorf("sqlstore: %s: %w", op, authkit.ErrNotFound)
	case err != nil:
		return authkit.APIToken{}, s.fail(ctx, op, err)
	}
	return t, nil
}

// ListAPITokens implements authkit.APITokenStore. It reads the index on
// (subject, created_at).
func (s *Store) ListAPITokens(ctx context.Context, subject string, now time.Time) ([]authkit.APIToken, error) {
	return queryAll(ctx, s, "list API tokens", s.q.listTokens, scanToken, subject, micros(now))
}

// RevokeAPIToken implements authkit.APITokenStore.
func (s *Store) RevokeAPIToken(ctx context.Context, subject, id string, now time.Time) error {
	return s.updateOrExists(ctx, "revoke API token",
		s.q.revokeToken, []any{micros(now), int64(gcRevoked), id, subject},
		s.q.tokenOwned, id, subject)
}

// TouchAPIToken implements authkit.APITokenStore: a conditional UPDATE that
// never moves LastUsedAt backwards. The verifier calls it at most once per
// WithLastUsedInterval per token, not on every request.
func (s *Store) TouchAPIToken(ctx context.Context, id string, at time.Time) error {
	a := micros(at)
	return s.updateOrExists(ctx, "touch API token", s.q.touchToken, []any{a, id, a}, s.q.tokenExists, id)
}

// DeleteExpiredAPITokens implements authkit.APITokenStore with one bounded
// DELETE over the gc_at index (revoked tokens sort first).
func (s *Store) DeleteExpiredAPITokens(ctx context.Context, now time.Time, limit int) (int, error) {
	return s.deleteBatch(ctx, "delete expired API tokens", s.q.gcTokens, now, limit)
}
