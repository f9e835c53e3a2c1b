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

// Metered is what New returns: the wrapped store with its counts.
type Metered interface {
	authkit.Store
	Counts() (checks, failures int64)
}

// New wraps s. Embedding authkit.Store hides the optional interfaces of s,
// so the one that changes what the HTTP layer does is passed on: a store
// that keeps the shared counters of failed passwords (authkit.ThrottleStore,
// as the SQL and Redis stores do) gives a Metered that keeps them too.
// Without that, httpauth would count each replica's failures apart, and N
// replicas would give a password guesser N times the attempts.
func New(s authkit.Store) Metered {
	m := &Store{Store: s}
	if ts, ok := s.(authkit.ThrottleStore); ok {
		return throttled{m, ts}
	}
	return m
}

// throttled is a Store over a store that is an authkit.ThrottleStore.
type throttled struct {
	*Store
	authkit.ThrottleStore
}

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

// InProcess passes on the wrapped store's authkit.InProcessStore report:
// the counters add no I/O and no wait.
func (s *Store) InProcess() bool {
	ip, ok := s.Store.(authkit.InProcessStore)
	return ok && ip.InProcess()
}
