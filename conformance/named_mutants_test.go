package conformance_test

import (
	"context"
	"errors"
	"strings"
	"time"

	"github.com/authkit-go/authkit"
)

// Mistakes a store could make on rotations that name their session
// (authkit.Rotation.SessionID), each caught by Refresh/Rotate/Named/….
func init() {
	mutants = append(mutants,
		mutant{
			name: "NamedForks",
			run:  "Refresh/Rotate/Named/ExactlyOneWinner",
			wrap: func(s authkit.Store) authkit.Store { return namedOnly{s, forkingRotation{s}} },
			want: []string{"Rotate/Named/ExactlyOneWinner", "concurrent RotateRefresh calls (named and not)"},
		},
		mutant{
			name: "NamedSkipsConflict",
			run:  "Refresh/Rotate/Named/Refusals",
			wrap: func(s authkit.Store) authkit.Store { return namedOnly{s, conflictIgnored{s}} },
			want: []string{"a named RotateRefresh to a successor hash its session holds", "want an error matching authkit: conflict"},
		},
		mutant{
			name: "NamedAnswersNamedSession",
			run:  "Refresh/Rotate/Named/Elsewhere",
			wrap: func(s authkit.Store) authkit.Store { return namedOnly{s, answersNamed{s}} },
			want: []string{"RotateRefresh naming session \"sess-other\" returned session \"sess-other\""},
		},
	)
}

// namedOnly sends rotations that name their session to named, the rest
// to the store.
type namedOnly struct {
	authkit.Store
	named authkit.RefreshStore
}

func (s namedOnly) RotateRefresh(ctx context.Context, r authkit.Rotation) (authkit.Session, error) {
	if r.SessionID != "" {
		return s.named.RotateRefresh(ctx, r)
	}
	return s.Store.RotateRefresh(ctx, r)
}

// conflictIgnored answers a conflicting successor with success, as a
// store that claims the successor without checking the session's records
// would (here it stores nothing).
type conflictIgnored struct{ authkit.Store }

func (s conflictIgnored) RotateRefresh(ctx context.Context, r authkit.Rotation) (authkit.Session, error) {
	sess, err := s.Store.RotateRefresh(ctx, r)
	if errors.Is(err, authkit.ErrConflict) {
		return s.Session(ctx, r.SessionID)
	}
	return sess, err
}

// answersNamed rotates r.Old where it is but answers with the session the
// rotation named, as a store that builds its reply from the name would.
type answersNamed struct{ authkit.Store }

func (s answersNamed) RotateRefresh(ctx context.Context, r authkit.Rotation) (authkit.Session, error) {
	if _, err := s.Store.RotateRefresh(ctx, r); err != nil {
		return authkit.Session{}, err
	}
	return s.Session(ctx, r.SessionID)
}

// A throttle store whose cleanup never deletes, as one written from "a
// store whose backend expires keys by itself may return 0" without such a
// backend would: caught unless the harness declares
// ThrottlesExpireThemselves.
func init() {
	throttleMutants = append(throttleMutants, throttleMutant{
		name: "CleanupNeverDeletes",
		run:  "Throttle/DeleteExpiredThrottles",
		wrap: func(s authkit.ThrottleStore) authkit.ThrottleStore { return cleanupNeverDeletes{s} },
		want: []string{"DeleteExpiredThrottles deleted nothing of 30 ended windows"},
	})
}

type cleanupNeverDeletes struct{ authkit.ThrottleStore }

func (s cleanupNeverDeletes) DeleteExpiredThrottles(ctx context.Context, now time.Time, limit int) (int, error) {
	if limit <= 0 {
		return s.ThrottleStore.DeleteExpiredThrottles(ctx, now, limit)
	}
	return 0, ctx.Err()
}

// Lookups by session that do not keep to the session.
func init() {
	mutants = append(mutants,
		mutant{
			name: "LookupInSessionIgnoresSession",
			run:  "Refresh/LookupInSession",
			wrap: func(s authkit.Store) authkit.Store {
				return lookupIn{s, func(rec authkit.RefreshRecord, sid string) bool { return sid != "" }}
			},
			want: []string{"LookupRefreshInSession of a record of another session", "want an error matching authkit: not found"},
		},
		mutant{
			name: "LookupInSessionFoldsCase",
			run:  "Refresh/LookupInSession",
			wrap: func(s authkit.Store) authkit.Store {
				return lookupIn{s, func(rec authkit.RefreshRecord, sid string) bool { return strings.EqualFold(rec.SessionID, sid) }}
			},
			want: []string{"LookupRefreshInSession of a session ID differing in case"},
		},
	)
}

// lookupIn adds authkit.RefreshSessionLookup to a store: the record by
// hash, if match says it is of the session named.
type lookupIn struct {
	authkit.Store
	match func(rec authkit.RefreshRecord, sid string) bool
}

func (s lookupIn) LookupRefreshInSession(ctx context.Context, sid string, h authkit.TokenHash) (authkit.RefreshRecord, error) {
	rec, err := s.LookupRefresh(ctx, h)
	if err == nil && !s.match(rec, sid) {
		return authkit.RefreshRecord{}, authkit.ErrNotFound
	}
	return rec, err
}
