package httpsuite

import (
	"context"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/authkit-go/authkit"
)

// errDown is what every store call answers while the store is down, as a
// backend whose server cannot be reached would.
var errDown = fmt.Errorf("httpsuite: connection refused: %w", authkit.ErrStoreUnavailable)

// failingStore is a store with a switch that makes every call fail with
// authkit.ErrStoreUnavailable.
type failingStore struct {
	authkit.Store
	down atomic.Bool
}

var _ authkit.Store = (*failingStore)(nil)

func (s *failingStore) err() error {
	if s.down.Load() {
		return errDown
	}
	return nil
}

func (s *failingStore) CreateSession(ctx context.Context, x authkit.Session, r authkit.RefreshRecord) error {
	if err := s.err(); err != nil {
		return err
	}
	return s.Store.CreateSession(ctx, x, r)
}

func (s *failingStore) RotateRefresh(ctx context.Context, r authkit.Rotation) (authkit.Session, error) {
	if err := s.err(); err != nil {
		return authkit.Session{}, err
	}
	return s.Store.RotateRefresh(ctx, r)
}

func (s *failingStore) LookupRefresh(ctx context.Context, h authkit.TokenHash) (authkit.RefreshRecord, error) {
	if err := s.err(); err != nil {
		return authkit.RefreshRecord{}, err
	}
	return s.Store.LookupRefresh(ctx, h)
}

func (s *failingStore) Session(ctx context.Context, id string) (authkit.Session, error) {
	if err := s.err(); err != nil {
		return authkit.Session{}, err
	}
	return s.Store.Session(ctx, id)
}

func (s *failingStore) ListSessions(ctx context.Context, sub string, now time.Time) ([]authkit.Session, error) {
	if err := s.err(); err != nil {
		return nil, err
	}
	return s.Store.ListSessions(ctx, sub, now)
}

func (s *failingStore) RevokeSession(ctx context.Context, id string, now time.Time) error {
	if err := s.err(); err != nil {
		return err
	}
	return s.Store.RevokeSession(ctx, id, now)
}

func (s *failingStore) RevokeSubjectSessions(ctx context.Context, sub string, now time.Time) ([]string, error) {
	if err := s.err(); err != nil {
		return nil, err
	}
	return s.Store.RevokeSubjectSessions(ctx, sub, now)
}

func (s *failingStore) DeleteExpiredSessions(ctx context.Context, now time.Time, limit int) (int, error) {
	if err := s.err(); err != nil {
		return 0, err
	}
	return s.Store.DeleteExpiredSessions(ctx, now, limit)
}

func (s *failingStore) RevokeToken(ctx context.Context, sub, jti string, until time.Time) error {
	if err := s.err(); err != nil {
		return err
	}
	return s.Store.RevokeToken(ctx, sub, jti, until)
}

func (s *failingStore) RevokeSessionTokens(ctx context.Context, sub, sid string, until time.Time) error {
	if err := s.err(); err != nil {
		return err
	}
	return s.Store.RevokeSessionTokens(ctx, sub, sid, until)
}

func (s *failingStore) SetCutoff(ctx context.Context, sub string, cutoff, until time.Time) error {
	if err := s.err(); err != nil {
		return err
	}
	return s.Store.SetCutoff(ctx, sub, cutoff, until)
}

func (s *failingStore) IsRevoked(ctx context.Context, q authkit.RevocationQuery, now time.Time) (bool, error) {
	if err := s.err(); err != nil {
		return false, err
	}
	return s.Store.IsRevoked(ctx, q, now)
}

func (s *failingStore) DeleteExpiredRevocations(ctx context.Context, now time.Time, limit int) (int, error) {
	if err := s.err(); err != nil {
		return 0, err
	}
	return s.Store.DeleteExpiredRevocations(ctx, now, limit)
}

func (s *failingStore) CreateAPIToken(ctx context.Context, t authkit.APIToken, limit int, now time.Time) error {
	if err := s.err(); err != nil {
		return err
	}
	return s.Store.CreateAPIToken(ctx, t, limit, now)
}

func (s *failingStore) LookupAPIToken(ctx context.Context, h authkit.TokenHash) (authkit.APIToken, error) {
	if err := s.err(); err != nil {
		return authkit.APIToken{}, err
	}
	return s.Store.LookupAPIToken(ctx, h)
}

func (s *failingStore) ListAPITokens(ctx context.Context, sub string, now time.Time) ([]authkit.APIToken, error) {
	if err := s.err(); err != nil {
		return nil, err
	}
	return s.Store.ListAPITokens(ctx, sub, now)
}

func (s *failingStore) RevokeAPIToken(ctx context.Context, sub, id string, now time.Time) error {
	if err := s.err(); err != nil {
		return err
	}
	return s.Store.RevokeAPIToken(ctx, sub, id, now)
}

func (s *failingStore) TouchAPIToken(ctx context.Context, id string, at time.Time) error {
	if err := s.err(); err != nil {
		return err
	}
	return s.Store.TouchAPIToken(ctx, id, at)
}

func (s *failingStore) DeleteExpiredAPITokens(ctx context.Context, now time.Time, limit int) (int, error) {
	if err := s.err(); err != nil {
		return 0, err
	}
	return s.Store.DeleteExpiredAPITokens(ctx, now, limit)
}
