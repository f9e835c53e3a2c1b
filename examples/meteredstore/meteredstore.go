// Package meteredstore wraps any authkit.Store and counts revocation
// checks, for a metrics endpoint.
package meteredstore

import (
	"context"
	"sync/atomic"
	"time"

	"github.com/authkit-go/authkit"
)

// Store is an authkit.Store that counts IsRevoked calls and failures.
type Store struct {
	authkit.Store // every other method is passed through unchanged

	checks, failures atomic.Int64
}

// New wraps s.
func New(s authkit.Store) *Store { return &Store{Store: s} }

// IsRevoked counts the call and asks the wrapped store. It changes
// nothing about the answer: an error stays an error (fail closed).
func (s *Store) IsRevoked(ctx context.Context, q authkit.RevocationQuery, now time.Time) (bool, error) {
	s.checks.Add(1)
	dead, err := s.Store.IsRevoked(ctx, q, now)
	if err != nil {
		s.failures.Add(1)
	}
	return dead, err
}

// Counts returns how many checks ran and how many failed.
func (s *Store) Counts() (checks, failures int64) { return s.checks.Load(), s.failures.Load() }
