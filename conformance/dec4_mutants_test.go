package conformance_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/authkit-go/authkit"
)

// Mutants of plausible real backends that passed the whole suite until a
// review on 2026-12-04 wrote them; each now fails the subtest named.
func init() {
	mutants = append(mutants,
		mutant{
			name: "CleanupAtLastWrittenUntil",
			run:  "Revocation/DeleteExpiredRevocations/ExtendedUntil",
			wrap: func(s authkit.Store) authkit.Store { return &lastWritten{newFirstUntil(s)} },
			want: []string{"DeleteExpiredRevocations/ExtendedUntil", "base+3h and again until base+1h"},
		},
		mutant{
			name: "ConflictCheckedFirst",
			run:  "Refresh/Rotate/SuccessorConflict",
			wrap: func(s authkit.Store) authkit.Store { return conflictFirst{s} },
			want: []string{"Rotate/SuccessorConflict", "RotateRefresh of a used token to a successor hash already stored", "only then a successor hash"},
		},
		mutant{
			name: "LimitCountsRevokedAhead",
			run:  "APIToken/Limit/RevokedAndExpiredDoNotCount",
			wrap: func(s authkit.Store) authkit.Store {
				return &limitRevokedAhead{Store: s, revoked: map[string]revInfo{}}
			},
			want: []string{"Limit/RevokedAndExpiredDoNotCount", `CreateAPIToken("bob-2") with limit 1`},
		},
		mutant{
			name: "IdleNeverShortened",
			run:  "Refresh/Rotate/HappyPath",
			wrap: func(s authkit.Store) authkit.Store {
				return &idleNeverShortened{Store: s, idle: map[string]time.Time{}}
			},
			want: []string{"Rotate/HappyPath", "an earlier NextExpiresAt", "IdleExpiresAt"},
		},
		mutant{
			name: "SessionIDsCollated",
			run:  "Refresh/RevokeSession/OtherSessionsUnaffected",
			wrap: func(s authkit.Store) authkit.Store {
				return &idsCollated{Store: s, sess: map[string]string{}, tok: map[string]string{}}
			},
			want: []string{`RevokeSession("SESS-10")`, "byte for byte"},
		},
		mutant{
			name: "TokenIDsCollated",
			run:  "APIToken/Revoke/WrongSubject",
			wrap: func(s authkit.Store) authkit.Store {
				return &idsCollated{Store: s, sess: map[string]string{}, tok: map[string]string{}}
			},
			want: []string{`RevokeAPIToken(alice, "TOK-1")`, "byte for byte"},
		},
		mutant{
			name: "SuccessorKeepsCallers",
			run:  "Refresh/Rotate/HappyPath",
			wrap: func(s authkit.Store) authkit.Store {
				return &successorKeepsCallers{Store: s, kept: map[authkit.TokenHash][]byte{}}
			},
			want: []string{"Rotate/HappyPath", "after the caller changed its Successor slice"},
		},
		mutant{
			name: "RotateHandsOutSlices",
			run:  "Refresh/Rotate/HappyPath",
			wrap: func(s authkit.Store) authkit.Store {
				return &rotateHandsOut{Store: s, held: map[string]authkit.Session{}}
			},
			want: []string{"Rotate/HappyPath", "after the caller changed the slices RotateRefresh returned"},
		},
		mutant{
			name: "TokenHashUniqueAmongLive",
			run:  "APIToken/Create/DuplicateHash",
			wrap: func(s authkit.Store) authkit.Store { return hashUniqueLive{s} },
			want: []string{"Create/DuplicateHash", "a revoked token's hash"},
		},
		mutant{
			name: "SessionIDUniqueAmongLive",
			run:  "Refresh/CreateSession/DuplicateID",
			wrap: func(s authkit.Store) authkit.Store { return sessUniqueLive{s} },
			want: []string{"CreateSession/DuplicateID", "a revoked session's ID"},
		},
	)
	throttleMutants = append(throttleMutants,
		throttleMutant{
			name: "CleanupASecondEarly",
			run:  "Throttle/DeleteExpiredThrottles",
			wrap: func(s authkit.ThrottleStore) authkit.ThrottleStore { return thrCleanupEarly{s} },
			want: []string{"DeleteExpiredThrottles", "ends a millisecond after the cleanup's now"},
		},
		throttleMutant{
			name: "CleanupOverLimit",
			run:  "Throttle/DeleteExpiredThrottles",
			wrap: func(s authkit.ThrottleStore) authkit.ThrottleStore { return thrCleanupOverLimit{s} },
			want: []string{"DeleteExpiredThrottles", "reported 7 deletions in all"},
		},
	)
}

// successorKeepsCallers keeps the caller's r.Successor slice (no copy in)
// and hands that same slice out of LookupRefresh and ReuseError.
type successorKeepsCallers struct {
	authkit.Store
	mu   sync.Mutex
	kept map[authkit.TokenHash][]byte
}

func (s *successorKeepsCallers) RotateRefresh(ctx context.Context, r authkit.Rotation) (authkit.Session, error) {
	sess, err := s.Store.RotateRefresh(ctx, r)
	s.mu.Lock()
	defer s.mu.Unlock()
	if err == nil {
		s.kept[r.Old] = r.Successor
	}
	if re, ok := errors.AsType[*authkit.ReuseError](err); ok {
		if k, ok := s.kept[r.Old]; ok {
			re.Successor = k
		}
	}
	return sess, err
}

func (s *successorKeepsCallers) LookupRefresh(ctx context.Context, h authkit.TokenHash) (authkit.RefreshRecord, error) {
	rec, err := s.Store.LookupRefresh(ctx, h)
	s.mu.Lock()
	defer s.mu.Unlock()
	if k, ok := s.kept[h]; ok && err == nil {
		rec.Successor = k
	}
	return rec, err
}

// rotateHandsOut copies slices on create, Session and ListSessions, but
// RotateRefresh returns the session with the store's own slices.
type rotateHandsOut struct {
	authkit.Store
	mu   sync.Mutex
	held map[string]authkit.Session
}

func cloneS(x authkit.Session) authkit.Session {
	x.Scopes, x.Audience, x.Claims = slices.Clone(x.Scopes), slices.Clone(x.Audience), slices.Clone(x.Claims)
	return x
}

func (s *rotateHandsOut) fill(x authkit.Session) authkit.Session {
	if h, ok := s.held[x.ID]; ok {
		x.Scopes, x.Audience, x.Claims = h.Scopes, h.Audience, h.Claims
	}
	return x
}

func (s *rotateHandsOut) CreateSession(ctx context.Context, x authkit.Session, f authkit.RefreshRecord) error {
	err := s.Store.CreateSession(ctx, x, f)
	if err == nil {
		s.mu.Lock()
		s.held[x.ID] = cloneS(x)
		s.mu.Unlock()
	}
	return err
}

func (s *rotateHandsOut) RotateRefresh(ctx context.Context, r authkit.Rotation) (authkit.Session, error) {
	sess, err := s.Store.RotateRefresh(ctx, r)
	if err != nil {
		return sess, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.fill(sess), nil // shared, not copied
}

func (s *rotateHandsOut) Session(ctx context.Context, id string) (authkit.Session, error) {
	x, err := s.Store.Session(ctx, id)
	if err != nil {
		return x, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return cloneS(s.fill(x)), nil
}

func (s *rotateHandsOut) ListSessions(ctx context.Context, subject string, now time.Time) ([]authkit.Session, error) {
	l, err := s.Store.ListSessions(ctx, subject, now)
	s.mu.Lock()
	defer s.mu.Unlock()
	for i := range l {
		l[i] = cloneS(s.fill(l[i]))
	}
	return l, err
}

// limitRevokedAhead counts a token revoked at a time after now as live
// for the limit (SQL: revoked_at IS NULL OR revoked_at > $now).
type revInfo struct {
	subject string
	at      time.Time
	expires time.Time
}

type limitRevokedAhead struct {
	authkit.Store
	mu      sync.Mutex
	revoked map[string]revInfo
	exp     map[string]time.Time
}

func (s *limitRevokedAhead) CreateAPIToken(ctx context.Context, t authkit.APIToken, limit int, now time.Time) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.exp == nil {
		s.exp = map[string]time.Time{}
	}
	if limit > 0 {
		if err := ctx.Err(); err != nil {
			return err
		}
		live, err := s.Store.ListAPITokens(ctx, t.Subject, now)
		if err != nil {
			return err
		}
		n := len(live)
		for _, r := range s.revoked {
			if r.subject == t.Subject && r.at.After(now) && (r.expires.IsZero() || now.Before(r.expires)) {
				n++
			}
		}
		if n >= limit {
			return authkit.ErrLimitExceeded
		}
	}
	err := s.Store.CreateAPIToken(ctx, t, 0, now)
	if err == nil {
		s.exp[t.ID] = t.ExpiresAt
	}
	return err
}

func (s *limitRevokedAhead) RevokeAPIToken(ctx context.Context, subject, id string, now time.Time) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	err := s.Store.RevokeAPIToken(ctx, subject, id, now)
	if err == nil {
		if _, ok := s.revoked[id]; !ok {
			s.revoked[id] = revInfo{subject, now, s.exp[id]}
		}
	}
	return err
}

// idleNeverShortened keeps the later of the session's IdleExpiresAt and
// r.NextExpiresAt (SQL: idle_expires_at = GREATEST(idle_expires_at, $next)).
type idleNeverShortened struct {
	authkit.Store
	mu   sync.Mutex
	idle map[string]time.Time
}

func (s *idleNeverShortened) fix(x authkit.Session) authkit.Session {
	if v, ok := s.idle[x.ID]; ok && v.After(x.IdleExpiresAt) {
		x.IdleExpiresAt = v
	}
	return x
}

func (s *idleNeverShortened) RotateRefresh(ctx context.Context, r authkit.Rotation) (authkit.Session, error) {
	rec, lerr := s.Store.LookupRefresh(ctx, r.Old)
	var before authkit.Session
	if lerr == nil {
		before, _ = s.Store.Session(ctx, rec.SessionID)
	}
	sess, err := s.Store.RotateRefresh(ctx, r)
	if err != nil {
		return sess, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	prev := s.fix(before).IdleExpiresAt
	if prev.After(r.NextExpiresAt) {
		s.idle[sess.ID] = prev
	}
	return s.fix(sess), nil
}

func (s *idleNeverShortened) Session(ctx context.Context, id string) (authkit.Session, error) {
	x, err := s.Store.Session(ctx, id)
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.fix(x), err
}

// thrCleanupEarly deletes windows ending up to a second after now.
type thrCleanupEarly struct{ authkit.ThrottleStore }

func (s thrCleanupEarly) DeleteExpiredThrottles(ctx context.Context, now time.Time, limit int) (int, error) {
	return s.ThrottleStore.DeleteExpiredThrottles(ctx, now.Add(time.Second), limit)
}

// thrCleanupOverLimit deletes every ended window, reporting at most limit.
type thrCleanupOverLimit struct{ authkit.ThrottleStore }

func (s thrCleanupOverLimit) DeleteExpiredThrottles(ctx context.Context, now time.Time, limit int) (int, error) {
	if limit <= 0 {
		return s.ThrottleStore.DeleteExpiredThrottles(ctx, now, limit)
	}
	n, err := s.ThrottleStore.DeleteExpiredThrottles(ctx, now, 1<<30)
	return min(n, limit), err
}

// lastWritten indexes each revocation for cleanup at the until it was
// last written with (ZADD without GT), though IsRevoked keeps the later.
type lastWritten struct{ *firstUntil }

func (s *lastWritten) noteLast(k [3]string, until time.Time, err error) error {
	if err == nil {
		s.mu.Lock()
		s.first[k] = until
		if until.After(s.last[k]) {
			s.last[k] = until
		}
		s.mu.Unlock()
	}
	return err
}

func (s *lastWritten) RevokeToken(ctx context.Context, subject, jti string, until time.Time) error {
	return s.noteLast([3]string{"jti", subject, jti}, until, s.Store.RevokeToken(ctx, subject, jti, until))
}

func (s *lastWritten) RevokeSessionTokens(ctx context.Context, subject, sid string, until time.Time) error {
	return s.noteLast([3]string{"sid", subject, sid}, until, s.Store.RevokeSessionTokens(ctx, subject, sid, until))
}

func (s *lastWritten) SetCutoff(ctx context.Context, subject string, cutoff, until time.Time) error {
	return s.noteLast([3]string{"cutoff", subject, ""}, until, s.Store.SetCutoff(ctx, subject, cutoff, until))
}

// conflictFirst inserts the successor before it looks at the presented
// record: a taken r.Next is ErrConflict whatever the state of r.Old.
type conflictFirst struct{ authkit.Store }

func (s conflictFirst) RotateRefresh(ctx context.Context, r authkit.Rotation) (authkit.Session, error) {
	if err := ctx.Err(); err != nil {
		return authkit.Session{}, err
	}
	if _, err := s.Store.LookupRefresh(ctx, r.Next); err == nil {
		if _, err := s.Store.LookupRefresh(ctx, r.Old); err == nil {
			return authkit.Session{}, authkit.ErrConflict
		}
	}
	return s.Store.RotateRefresh(ctx, r)
}

// hashUniqueLive enforces unique hashes and IDs only among live tokens
// (a partial unique index WHERE revoked_at IS NULL): a new token whose
// hash or ID is a revoked token's is accepted (and, here, dropped).
type hashUniqueLive struct{ authkit.Store }

func (s hashUniqueLive) CreateAPIToken(ctx context.Context, t authkit.APIToken, limit int, now time.Time) error {
	err := s.Store.CreateAPIToken(ctx, t, limit, now)
	if errors.Is(err, authkit.ErrConflict) {
		if old, lerr := s.Store.LookupAPIToken(ctx, t.Hash); lerr == nil && !old.Live(now) {
			return nil
		}
	}
	return err
}

// idsCollated stores session and API token IDs as given but matches them
// as a case-insensitive, PAD SPACE collation does (MySQL's default).
type idsCollated struct {
	authkit.Store
	mu        sync.Mutex
	sess, tok map[string]string // folded → stored ID
}

func fold(id string) string { return strings.ToLower(strings.TrimRight(id, " ")) }

func (s *idsCollated) find(m map[string]string, id string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if v, ok := m[fold(id)]; ok {
		return v
	}
	return id
}

func (s *idsCollated) CreateSession(ctx context.Context, x authkit.Session, f authkit.RefreshRecord) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if s.find(s.sess, x.ID) != x.ID {
		return authkit.ErrConflict
	}
	err := s.Store.CreateSession(ctx, x, f)
	if err == nil {
		s.mu.Lock()
		s.sess[fold(x.ID)] = x.ID
		s.mu.Unlock()
	}
	return err
}

func (s *idsCollated) Session(ctx context.Context, id string) (authkit.Session, error) {
	return s.Store.Session(ctx, s.find(s.sess, id))
}

func (s *idsCollated) RevokeSession(ctx context.Context, id string, now time.Time) error {
	return s.Store.RevokeSession(ctx, s.find(s.sess, id), now)
}

func (s *idsCollated) CreateAPIToken(ctx context.Context, t authkit.APIToken, limit int, now time.Time) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if s.find(s.tok, t.ID) != t.ID {
		return authkit.ErrConflict
	}
	err := s.Store.CreateAPIToken(ctx, t, limit, now)
	if err == nil {
		s.mu.Lock()
		s.tok[fold(t.ID)] = t.ID
		s.mu.Unlock()
	}
	return err
}

func (s *idsCollated) RevokeAPIToken(ctx context.Context, subject, id string, now time.Time) error {
	return s.Store.RevokeAPIToken(ctx, subject, s.find(s.tok, id), now)
}

func (s *idsCollated) TouchAPIToken(ctx context.Context, id string, at time.Time) error {
	return s.Store.TouchAPIToken(ctx, s.find(s.tok, id), at)
}

// sessUniqueLive enforces unique session IDs only among live sessions.
type sessUniqueLive struct{ authkit.Store }

func (s sessUniqueLive) CreateSession(ctx context.Context, x authkit.Session, f authkit.RefreshRecord) error {
	err := s.Store.CreateSession(ctx, x, f)
	if errors.Is(err, authkit.ErrConflict) {
		if old, serr := s.Store.Session(ctx, x.ID); serr == nil && !old.RevokedAt.IsZero() {
			return nil
		}
	}
	return err
}
