package conformance_test

import (
	"context"
	"sync"
	"time"

	"github.com/authkit-go/authkit"
)

// Store mistakes a mutation review of the suite's power over the memory
// store found passing (2026-12-06), now caught.
func init() {
	mutants = append(mutants,
		mutant{
			name: "RotationExtendsEnd",
			run:  "Refresh/Rotate/SessionExpired",
			wrap: func(s authkit.Store) authkit.Store { return &rotationExtendsEnd{Store: s, end: &sync.Map{}} },
			peer: func(s authkit.Store) authkit.Store {
				x := s.(*rotationExtendsEnd)
				return &rotationExtendsEnd{Store: x.Store, end: x.end}
			},
			want: []string{"Rotate/SessionExpired", "never extends a session's lifetime"},
		},
		mutant{
			name: "CollectsTokensAhead",
			run:  "APIToken/Writes/LiveTokenKept",
			wrap: func(s authkit.Store) authkit.Store { return collectsTokensAhead{s} },
			want: []string{"Writes/LiveTokenKept", "must not drop a token that is not expired at now"},
		},
	)
}

// rotationExtendsEnd moves a session's ExpiresAt to the successor's
// expiry when that is later (SQL: expires_at = GREATEST(expires_at,
// $next)): every refresh then pushes the absolute end forward.
type rotationExtendsEnd struct {
	authkit.Store
	end *sync.Map // session ID → extended ExpiresAt
}

func (s *rotationExtendsEnd) fix(x authkit.Session) authkit.Session {
	if v, ok := s.end.Load(x.ID); ok && v.(time.Time).After(x.ExpiresAt) {
		x.ExpiresAt = v.(time.Time)
	}
	return x
}

func (s *rotationExtendsEnd) RotateRefresh(ctx context.Context, r authkit.Rotation) (authkit.Session, error) {
	sess, err := s.Store.RotateRefresh(ctx, r)
	if err != nil {
		return sess, err
	}
	if r.NextExpiresAt.After(s.fix(sess).ExpiresAt) {
		s.end.Store(sess.ID, r.NextExpiresAt)
	}
	return s.fix(sess), nil
}

func (s *rotationExtendsEnd) Session(ctx context.Context, id string) (authkit.Session, error) {
	x, err := s.Store.Session(ctx, id)
	return s.fix(x), err
}

// collectsTokensAhead collects expired API tokens after every write, a
// minute ahead of the now it was passed (a clock skew allowance applied
// the wrong way).
type collectsTokensAhead struct{ authkit.Store }

func (s collectsTokensAhead) collect(ctx context.Context, now time.Time) {
	_, _ = s.Store.DeleteExpiredAPITokens(ctx, now.Add(time.Minute), 1000)
}

func (s collectsTokensAhead) CreateAPIToken(ctx context.Context, tok authkit.APIToken, limit int, now time.Time) error {
	err := s.Store.CreateAPIToken(ctx, tok, limit, now)
	s.collect(ctx, now)
	return err
}

func (s collectsTokensAhead) TouchAPIToken(ctx context.Context, id string, at time.Time) error {
	err := s.Store.TouchAPIToken(ctx, id, at)
	s.collect(ctx, at)
	return err
}

func (s collectsTokensAhead) RevokeAPIToken(ctx context.Context, subject, id string, now time.Time) error {
	err := s.Store.RevokeAPIToken(ctx, subject, id, now)
	s.collect(ctx, now)
	return err
}
