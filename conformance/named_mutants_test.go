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

// Mistakes the suite catches only when it runs the rotation checks on
// named rotations too (Refresh/NamedRotations/…), as the issuer makes
// them: each breaks a rule on the named path alone.
func init() {
	mutants = append(mutants,
		mutant{
			name: "NamedReuseBeforeRevoked",
			run:  "Refresh/NamedRotations/Rotate/RevokedBeforeReuse",
			wrap: func(s authkit.Store) authkit.Store { return namedOnly{s, reuseBeforeRevoked{s}} },
			want: []string{"NamedRotations/Rotate/RevokedBeforeReuse", "RotateRefresh of a used token in a revoked session"},
		},
		mutant{
			name: "NamedConflictFirst",
			run:  "Refresh/Rotate/Named/Refusals",
			wrap: func(s authkit.Store) authkit.Store { return namedOnly{s, conflictFirst{s}} },
			want: []string{"a named RotateRefresh of a used token to a successor hash its session holds returned authkit: conflict"},
		},
		mutant{
			name: "NamedIdleNeverShortened",
			run:  "Refresh/NamedRotations/Rotate/HappyPath",
			wrap: func(s authkit.Store) authkit.Store {
				return namedOnly{s, &idleNeverShortened{Store: s, idle: map[string]time.Time{}}}
			},
			want: []string{"NamedRotations/Rotate/HappyPath", "an earlier NextExpiresAt"},
		},
		mutant{
			name: "NamedIgnoresContext",
			run:  "Refresh/NamedRotations/Context",
			wrap: func(s authkit.Store) authkit.Store { return namedOnly{s, rotateIgnoresContext{s}} },
			want: []string{"NamedRotations/Context", "RotateRefresh with a dead ctx"},
		},
	)
}

// rotateIgnoresContext rotates with a context that cannot be cancelled.
type rotateIgnoresContext struct{ authkit.Store }

func (s rotateIgnoresContext) RotateRefresh(ctx context.Context, r authkit.Rotation) (authkit.Session, error) {
	return s.Store.RotateRefresh(context.WithoutCancel(ctx), r)
}

// reuseFromName reports reuse with the named session's identity, as a
// store that builds the error from the name would.
type reuseFromName struct{ authkit.Store }

func (s reuseFromName) RotateRefresh(ctx context.Context, r authkit.Rotation) (authkit.Session, error) {
	sess, err := s.Store.RotateRefresh(ctx, r)
	if re, ok := errors.AsType[*authkit.ReuseError](err); ok {
		if named, nerr := s.Session(ctx, r.SessionID); nerr == nil {
			re.SessionID, re.Subject = named.ID, named.Subject
		}
	}
	return sess, err
}

func init() {
	mutants = append(mutants, mutant{
		name: "NamedReuseFromName",
		run:  "Refresh/Rotate/Named/Elsewhere",
		wrap: func(s authkit.Store) authkit.Store { return namedOnly{s, reuseFromName{s}} },
		want: []string{"the *ReuseError of a used token naming another session"},
	})
}
