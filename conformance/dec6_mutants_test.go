package conformance_test

import (
	"context"
	"sync"
	"time"

	"github.com/authkit-go/authkit"
	"github.com/authkit-go/authkit/internal/revmirror/feedtest"
)

// Store mistakes a mutation review of the suite found passing
// (2026-12-06), now caught.
func init() {
	mutants = append(mutants,
		mutant{
			name: "EmptySIDStored",
			run:  "Revocation/IsRevoked/EmptyIDRevoked",
			wrap: func(s authkit.Store) authkit.Store { return &emptyIDStored{Store: s, subjects: &sync.Map{}} },
			peer: func(s authkit.Store) authkit.Store {
				x := s.(*emptyIDStored)
				return &emptyIDStored{Store: x.Store, subjects: x.subjects}
			},
			want: []string{"EmptyIDRevoked", "after RevokeToken and RevokeSessionTokens of empty IDs"},
		},
		mutant{
			name: "RevokeSkipsExpiredAPIToken",
			run:  "APIToken/Revoke/Expired",
			wrap: func(s authkit.Store) authkit.Store { return revokeSkipsExpired{s} },
			want: []string{"Revoke/Expired", "it is kept and not revoked"},
		},
	)
	feedMutants = append(feedMutants, feedMutant{
		name: "SnapshotSkipsEndingSoon",
		run:  "RevocationFeed/Snapshot/InForce",
		wrap: func(s *feedtest.Store) authkit.RevocationStore { return snapshotSkipsEndingSoon{s} },
		want: []string{"Snapshot/InForce", "lacks", "which is in force"},
	})
}

// emptyIDStored keeps a revocation of an empty sid as a key, as a table
// with "WHERE sid = $2" then matches it against every token that has no
// session.
type emptyIDStored struct {
	authkit.Store
	subjects *sync.Map // subject → until of its empty sid
}

func (s *emptyIDStored) RevokeSessionTokens(ctx context.Context, subject, sid string, until time.Time) error {
	if sid == "" {
		s.subjects.Store(subject, until)
		return nil
	}
	return s.Store.RevokeSessionTokens(ctx, subject, sid, until)
}

func (s *emptyIDStored) IsRevoked(ctx context.Context, q authkit.RevocationQuery, now time.Time) (bool, error) {
	if u, ok := s.subjects.Load(q.Subject); ok && q.SessionID == "" && now.Before(u.(time.Time)) {
		return true, nil
	}
	return s.Store.IsRevoked(ctx, q, now)
}

// revokeSkipsExpired answers ErrNotFound for a token past its expiry and
// keeps it, as "AND (expires_at IS NULL OR expires_at > $now)" does.
type revokeSkipsExpired struct{ authkit.Store }

func (s revokeSkipsExpired) RevokeAPIToken(ctx context.Context, subject, id string, now time.Time) error {
	toks, err := s.Store.ListAPITokens(ctx, subject, time.Time{})
	if err != nil {
		return err
	}
	for _, t := range toks {
		if t.ID == id && !t.ExpiresAt.IsZero() && !now.Before(t.ExpiresAt) {
			return authkit.ErrNotFound
		}
	}
	return s.Store.RevokeAPIToken(ctx, subject, id, now)
}

// snapshotSkipsEndingSoon leaves out of its snapshot the entries that end
// within the hour, as a snapshot that reads "until > now + slack" does.
type snapshotSkipsEndingSoon struct{ *feedtest.Store }

func (s snapshotSkipsEndingSoon) RevocationSnapshot(ctx context.Context, now time.Time, fn func(authkit.Revocation) error) (authkit.FeedPosition, error) {
	return s.Store.RevocationSnapshot(ctx, now, func(r authkit.Revocation) error {
		if r.Kind != authkit.RevokedBeforeEpoch && r.Until.Before(now.Add(time.Hour)) {
			return nil
		}
		return fn(r)
	})
}
