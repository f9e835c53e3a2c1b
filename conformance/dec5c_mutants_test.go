package conformance_test

import (
	"context"
	"sync"
	"time"

	"github.com/authkit-go/authkit"
)

// A revocation-store mistake a review found the suite passing
// (2026-12-05), now caught by Revocation/IsRevoked/EmptyTokenID.
func init() {
	mutants = append(mutants,
		mutant{
			name: "EmptyTokenIDMatches",
			run:  "Revocation/IsRevoked/EmptyTokenID",
			wrap: func(s authkit.Store) authkit.Store {
				return &emptyJTIMatches{Store: s, jtis: &revokedJTIs{until: map[string]time.Time{}}}
			},
			peer: func(s authkit.Store) authkit.Store {
				x := s.(*emptyJTIMatches)
				return &emptyJTIMatches{Store: x.Store, jtis: x.jtis}
			},
			want: []string{"Revocation/IsRevoked/EmptyTokenID", "a token without a jti is not a revoked jti"},
		},
	)
}

// revokedJTIs is the latest until of each subject's revoked jtis, shared
// by the handles of one emptyJTIMatches store.
type revokedJTIs struct {
	mu    sync.Mutex
	until map[string]time.Time
}

// emptyJTIMatches compares a query's jti with a column that an empty
// TokenID matches whenever the subject has any revoked jti in force, as a
// "jti = $1 OR $1 = ”" slip in a backend's query would.
type emptyJTIMatches struct {
	authkit.Store
	jtis *revokedJTIs
}

func (s *emptyJTIMatches) RevokeToken(ctx context.Context, subject, jti string, until time.Time) error {
	if err := s.Store.RevokeToken(ctx, subject, jti, until); err != nil {
		return err
	}
	s.jtis.mu.Lock()
	defer s.jtis.mu.Unlock()
	if until.After(s.jtis.until[subject]) {
		s.jtis.until[subject] = until
	}
	return nil
}

func (s *emptyJTIMatches) IsRevoked(ctx context.Context, q authkit.RevocationQuery, now time.Time) (bool, error) {
	if q.TokenID == "" {
		s.jtis.mu.Lock()
		u, ok := s.jtis.until[q.Subject]
		s.jtis.mu.Unlock()
		if ok && u.After(now) {
			return true, nil
		}
	}
	return s.Store.IsRevoked(ctx, q, now)
}
