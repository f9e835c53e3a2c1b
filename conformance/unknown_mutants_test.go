package conformance_test

import (
	"context"
	"sync"
	"time"

	"github.com/authkit-go/authkit"
)

// Mutants of stores that answer a key they do not hold from a shortcut (a
// local set of what was written, a Bloom filter) before looking at ctx:
// with a dead ctx they said "not revoked" or "not found" for an answer
// never fetched. The suite checked dead contexts on held keys only until
// 2026-12-04.
func init() {
	mutants = append(mutants,
		mutant{
			name: "IsRevokedShortcut",
			run:  "Revocation/Context",
			wrap: func(s authkit.Store) authkit.Store { return &shortcut{Store: s, subjects: map[string]bool{}} },
			want: []string{"Revocation/Context/Canceled/IsRevoked/Unknown", "IsRevoked returned (false, nil)"},
		},
		mutant{
			name: "LookupShortcut",
			run:  "APIToken/Context",
			wrap: func(s authkit.Store) authkit.Store { return &shortcut{Store: s, subjects: map[string]bool{}} },
			want: []string{"APIToken/Context/Canceled/LookupAPIToken/Unknown", "want an error matching context canceled"},
		},
	)
}

// shortcut remembers the subjects it revoked for and the API token hashes
// it stored, and answers for any other without calling the store.
type shortcut struct {
	authkit.Store
	mu       sync.Mutex
	subjects map[string]bool
	hashes   map[authkit.TokenHash]bool
}

func (s *shortcut) note(subject string) {
	s.mu.Lock()
	s.subjects[subject] = true
	s.mu.Unlock()
}

func (s *shortcut) RevokeToken(ctx context.Context, subject, jti string, until time.Time) error {
	s.note(subject)
	return s.Store.RevokeToken(ctx, subject, jti, until)
}

func (s *shortcut) RevokeSessionTokens(ctx context.Context, subject, sid string, until time.Time) error {
	s.note(subject)
	return s.Store.RevokeSessionTokens(ctx, subject, sid, until)
}

func (s *shortcut) SetCutoff(ctx context.Context, subject string, cutoff, until time.Time) error {
	s.note(subject)
	return s.Store.SetCutoff(ctx, subject, cutoff, until)
}

func (s *shortcut) IsRevoked(ctx context.Context, q authkit.RevocationQuery, now time.Time) (bool, error) {
	s.mu.Lock()
	known := s.subjects[q.Subject]
	s.mu.Unlock()
	if !known {
		return false, nil
	}
	return s.Store.IsRevoked(ctx, q, now)
}

func (s *shortcut) CreateAPIToken(ctx context.Context, t authkit.APIToken, limit int, now time.Time) error {
	err := s.Store.CreateAPIToken(ctx, t, limit, now)
	if err == nil {
		s.mu.Lock()
		if s.hashes == nil {
			s.hashes = map[authkit.TokenHash]bool{}
		}
		s.hashes[t.Hash] = true
		s.mu.Unlock()
	}
	return err
}

func (s *shortcut) LookupAPIToken(ctx context.Context, h authkit.TokenHash) (authkit.APIToken, error) {
	s.mu.Lock()
	known := s.hashes[h]
	s.mu.Unlock()
	if !known {
		return authkit.APIToken{}, authkit.ErrNotFound
	}
	return s.Store.LookupAPIToken(ctx, h)
}
