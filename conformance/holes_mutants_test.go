package conformance_test

import (
	"context"
	"sync"
	"time"

	"github.com/authkit-go/authkit"
	"github.com/authkit-go/authkit/backends/memory"
)

// Mutants of plausible real backends that passed the whole suite until a
// review on 2026-12-03 wrote them: each is unsafe (a revoked or reused
// credential accepted), and each now fails the subtest named.
func init() {
	mutants = append(mutants,
		mutant{
			name: "CutoffIgnoredWithSid",
			run:  "Revocation/SetCutoff/Boundary",
			wrap: func(s authkit.Store) authkit.Store { return cutoffIgnoredWithSid{s} },
			want: []string{"Revocation/SetCutoff/Boundary", "in a session"},
		},
		mutant{
			name: "SessionCache",
			run:  "Refresh/Peer/Visibility",
			wrap: func(s authkit.Store) authkit.Store { return newSessionCache(s) },
			peer: func(s authkit.Store) authkit.Store { return newSessionCache(s.(*sessionCache).Store) },
			want: []string{"Refresh/Peer/Visibility", "shows no RevokedAt"},
		},
		mutant{
			name: "CleanupTakesUsedRecords",
			run:  "Refresh/DeleteExpiredSessions/KeepsUsedRecords",
			wrap: func(s authkit.Store) authkit.Store {
				return &cleanupTakesUsed{Store: s, used: map[authkit.TokenHash]bool{}}
			},
			want: []string{"Refresh/DeleteExpiredSessions/KeepsUsedRecords", "ErrTokenReused"},
		},
		mutant{
			name: "RevocationKeysCut",
			run:  "Revocation/LongIdentities",
			wrap: func(s authkit.Store) authkit.Store { return revocationKeysCut{s} },
			want: []string{"Revocation/LongIdentities", "1024-byte"},
		},
		mutant{
			name: "SessionSubjectCut",
			run:  "Refresh/LongSubjects",
			wrap: func(s authkit.Store) authkit.Store { return sessionSubjectCut{s} },
			want: []string{"Refresh/LongSubjects", "1024-byte subject"},
		},
		mutant{
			name: "TokenSubjectCut",
			run:  "APIToken/LongSubjects",
			wrap: func(s authkit.Store) authkit.Store { return tokenSubjectCut{s} },
			want: []string{"APIToken/LongSubjects", "1024-byte subject"},
		},
		mutant{
			name: "RevokeSubjectFirstPage",
			run:  "Refresh/RevokeSubjectSessions/Many",
			wrap: func(s authkit.Store) authkit.Store { return revokeFirstPage{s} },
			want: []string{"Refresh/RevokeSubjectSessions/Many", "still live after RevokeSubjectSessions"},
		},
		mutant{
			name: "TouchWritesBack",
			run:  "APIToken/Peer/Visibility",
			wrap: func(s authkit.Store) authkit.Store {
				return newTouchWritesBack(s, &writtenBack{ids: map[string]bool{}})
			},
			peer: func(s authkit.Store) authkit.Store {
				x := s.(*touchWritesBack)
				return newTouchWritesBack(x.Store, x.back)
			},
			want: []string{"APIToken/Peer/Visibility", "revoked and then touched"},
		},
		mutant{
			name: "ClientCache",
			run:  "Clients/SetClientSecret",
			wrap: func(s authkit.Store) authkit.Store { return newClientCache(s.(*memory.Store)) },
			peer: func(s authkit.Store) authkit.Store { return newClientCache(s.(*clientCache).Store) },
			want: []string{"Clients/SetClientSecret", "SecretHash"},
		},
		mutant{
			name: "RevocationFromItsNow",
			run:  "Refresh/Rotate/RevokedAheadOfNow",
			wrap: func(s authkit.Store) authkit.Store {
				return &revocationFromItsNow{Store: s, pending: map[string]time.Time{}}
			},
			want: []string{"Refresh/Rotate/RevokedAheadOfNow", "ErrTokenRevoked"},
		},
	)
}

// cutoffIgnoredWithSid applies a subject's cutoff only to tokens outside
// any session, as a store that looked up the sid first and returned early
// would: logout-all then misses nearly every access token.
type cutoffIgnoredWithSid struct{ authkit.Store }

func (s cutoffIgnoredWithSid) IsRevoked(ctx context.Context, q authkit.RevocationQuery, now time.Time) (bool, error) {
	if q.SessionID != "" {
		q.IssuedAt = q.IssuedAt.Add(100 * 365 * 24 * time.Hour)
	}
	return s.Store.IsRevoked(ctx, q, now)
}

// sessionCache keeps each handle's Session answers until that handle
// writes: another handle's revocation goes unseen.
type sessionCache struct {
	authkit.Store
	mu   sync.Mutex
	seen map[string]authkit.Session
}

func newSessionCache(s authkit.Store) *sessionCache {
	return &sessionCache{Store: s, seen: map[string]authkit.Session{}}
}

func (s *sessionCache) forget() { s.mu.Lock(); clear(s.seen); s.mu.Unlock() }

func (s *sessionCache) Session(ctx context.Context, id string) (authkit.Session, error) {
	s.mu.Lock()
	v, ok := s.seen[id]
	s.mu.Unlock()
	if ok {
		return v, nil
	}
	v, err := s.Store.Session(ctx, id)
	if err == nil {
		s.mu.Lock()
		s.seen[id] = v
		s.mu.Unlock()
	}
	return v, err
}

func (s *sessionCache) CreateSession(ctx context.Context, x authkit.Session, f authkit.RefreshRecord) error {
	s.forget()
	return s.Store.CreateSession(ctx, x, f)
}

func (s *sessionCache) RotateRefresh(ctx context.Context, r authkit.Rotation) (authkit.Session, error) {
	s.forget()
	return s.Store.RotateRefresh(ctx, r)
}

func (s *sessionCache) RevokeSession(ctx context.Context, id string, now time.Time) error {
	s.forget()
	return s.Store.RevokeSession(ctx, id, now)
}

func (s *sessionCache) RevokeSubjectSessions(ctx context.Context, sub string, now time.Time) ([]string, error) {
	s.forget()
	return s.Store.RevokeSubjectSessions(ctx, sub, now)
}

// cleanupTakesUsed has DeleteExpiredSessions take rotated records too,
// before their ExpiresAt: a replay of a stolen token is then unknown, not
// reuse.
type cleanupTakesUsed struct {
	authkit.Store
	mu   sync.Mutex
	used map[authkit.TokenHash]bool // rotated; true once "deleted"
}

func (s *cleanupTakesUsed) gone(h authkit.TokenHash) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.used[h]
}

func (s *cleanupTakesUsed) RotateRefresh(ctx context.Context, r authkit.Rotation) (authkit.Session, error) {
	if s.gone(r.Old) {
		return authkit.Session{}, authkit.ErrNotFound
	}
	sess, err := s.Store.RotateRefresh(ctx, r)
	if err == nil {
		s.mu.Lock()
		s.used[r.Old] = false
		s.mu.Unlock()
	}
	return sess, err
}

func (s *cleanupTakesUsed) LookupRefresh(ctx context.Context, h authkit.TokenHash) (authkit.RefreshRecord, error) {
	if s.gone(h) {
		return authkit.RefreshRecord{}, authkit.ErrNotFound
	}
	return s.Store.LookupRefresh(ctx, h)
}

func (s *cleanupTakesUsed) DeleteExpiredSessions(ctx context.Context, now time.Time, limit int) (int, error) {
	n, err := s.Store.DeleteExpiredSessions(ctx, now, limit)
	if err != nil {
		return n, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for h, gone := range s.used {
		if !gone && n < limit {
			s.used[h] = true
			n++
		}
	}
	return n, nil
}

// cut255 cuts s to 255 bytes, as a VARCHAR(255) column of a database that
// is not in strict mode would.
func cut255(s string) string { return s[:min(len(s), 255)] }

// revocationKeysCut stores subjects, jtis and sids cut to 255 bytes and
// compares them in full.
type revocationKeysCut struct{ authkit.Store }

func (s revocationKeysCut) RevokeToken(ctx context.Context, sub, jti string, until time.Time) error {
	return s.Store.RevokeToken(ctx, cut255(sub), cut255(jti), until)
}

func (s revocationKeysCut) RevokeSessionTokens(ctx context.Context, sub, sid string, until time.Time) error {
	return s.Store.RevokeSessionTokens(ctx, cut255(sub), cut255(sid), until)
}

func (s revocationKeysCut) SetCutoff(ctx context.Context, sub string, cutoff, until time.Time) error {
	return s.Store.SetCutoff(ctx, cut255(sub), cutoff, until)
}

// sessionSubjectCut stores a session's subject cut to 255 bytes.
type sessionSubjectCut struct{ authkit.Store }

func (s sessionSubjectCut) CreateSession(ctx context.Context, x authkit.Session, first authkit.RefreshRecord) error {
	x.Subject = cut255(x.Subject)
	first.Subject = x.Subject
	return s.Store.CreateSession(ctx, x, first)
}

// tokenSubjectCut stores an API token's subject cut to 255 bytes.
type tokenSubjectCut struct{ authkit.Store }

func (s tokenSubjectCut) CreateAPIToken(ctx context.Context, t authkit.APIToken, limit int, now time.Time) error {
	t.Subject = cut255(t.Subject)
	return s.Store.CreateAPIToken(ctx, t, limit, now)
}

// revokeFirstPage revokes only the first page (50) of a subject's live
// sessions, a paginated scan never continued.
type revokeFirstPage struct{ authkit.Store }

func (s revokeFirstPage) RevokeSubjectSessions(ctx context.Context, sub string, now time.Time) ([]string, error) {
	live, err := s.Store.ListSessions(ctx, sub, now)
	if err != nil || len(live) <= 50 {
		return s.Store.RevokeSubjectSessions(ctx, sub, now)
	}
	var ids []string
	for _, x := range live[:50] {
		if err := s.Store.RevokeSession(ctx, x.ID, now); err != nil {
			return ids, err
		}
		ids = append(ids, x.ID)
	}
	return ids, nil
}

// touchWritesBack has TouchAPIToken save the token as this handle last
// read it (an ORM's save of a loaded row): a revocation made in between
// through another handle is undone. writtenBack, shared by the handles,
// stands for the row written back.
type writtenBack struct {
	mu  sync.Mutex
	ids map[string]bool // live again
}

type touchWritesBack struct {
	authkit.Store
	back   *writtenBack
	mu     sync.Mutex
	loaded map[string]authkit.APIToken
}

func newTouchWritesBack(s authkit.Store, back *writtenBack) *touchWritesBack {
	return &touchWritesBack{Store: s, back: back, loaded: map[string]authkit.APIToken{}}
}

func (s *touchWritesBack) LookupAPIToken(ctx context.Context, h authkit.TokenHash) (authkit.APIToken, error) {
	v, err := s.Store.LookupAPIToken(ctx, h)
	if err != nil {
		return v, err
	}
	s.back.mu.Lock()
	if s.back.ids[v.ID] {
		v.RevokedAt = time.Time{}
	}
	s.back.mu.Unlock()
	s.mu.Lock()
	s.loaded[v.ID] = v
	s.mu.Unlock()
	return v, nil
}

func (s *touchWritesBack) RevokeAPIToken(ctx context.Context, sub, id string, now time.Time) error {
	s.back.mu.Lock()
	delete(s.back.ids, id)
	s.back.mu.Unlock()
	return s.Store.RevokeAPIToken(ctx, sub, id, now)
}

func (s *touchWritesBack) TouchAPIToken(ctx context.Context, id string, at time.Time) error {
	if err := s.Store.TouchAPIToken(ctx, id, at); err != nil {
		return err
	}
	s.mu.Lock()
	old, ok := s.loaded[id]
	s.mu.Unlock()
	if ok && old.RevokedAt.IsZero() {
		s.back.mu.Lock()
		s.back.ids[id] = true
		s.back.mu.Unlock()
	}
	return nil
}

// clientCache keeps each handle's GetClient answers until that handle
// writes: another handle's secret rotation or deletion goes unseen.
type clientCache struct {
	*memory.Store
	mu   sync.Mutex
	seen map[string]authkit.Client
}

func newClientCache(s *memory.Store) *clientCache {
	return &clientCache{Store: s, seen: map[string]authkit.Client{}}
}

func copyClient(c authkit.Client) authkit.Client {
	c.JWKS = append([]byte(nil), c.JWKS...)
	c.GrantTypes = append([]string(nil), c.GrantTypes...)
	c.Scopes = append([]string(nil), c.Scopes...)
	c.RedirectURIs = append([]string(nil), c.RedirectURIs...)
	return c
}

func (s *clientCache) forget() { s.mu.Lock(); clear(s.seen); s.mu.Unlock() }

func (s *clientCache) GetClient(ctx context.Context, id string) (authkit.Client, error) {
	s.mu.Lock()
	v, ok := s.seen[id]
	s.mu.Unlock()
	if ok {
		return copyClient(v), nil
	}
	v, err := s.Store.GetClient(ctx, id)
	if err == nil {
		s.mu.Lock()
		s.seen[id] = copyClient(v)
		s.mu.Unlock()
	}
	return v, err
}

func (s *clientCache) CreateClient(ctx context.Context, c authkit.Client) error {
	s.forget()
	return s.Store.CreateClient(ctx, c)
}

func (s *clientCache) SetClientSecret(ctx context.Context, id string, h authkit.TokenHash, at time.Time) error {
	s.forget()
	return s.Store.SetClientSecret(ctx, id, h, at)
}

func (s *clientCache) DeleteClient(ctx context.Context, id string) error {
	s.forget()
	return s.Store.DeleteClient(ctx, id)
}

// revocationFromItsNow lets a session's revocation count only for calls
// whose now has reached the revocation's (revoked_at <= $now in SQL): a
// replica with a clock behind can still rotate after a logout.
type revocationFromItsNow struct {
	authkit.Store
	mu      sync.Mutex
	pending map[string]time.Time
}

func (s *revocationFromItsNow) apply(ctx context.Context, now time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for id, at := range s.pending {
		if !at.After(now) {
			_ = s.Store.RevokeSession(ctx, id, at)
			delete(s.pending, id)
		}
	}
}

func (s *revocationFromItsNow) RevokeSession(ctx context.Context, id string, now time.Time) error {
	if _, err := s.Store.Session(ctx, id); err != nil {
		return err
	}
	s.mu.Lock()
	if _, ok := s.pending[id]; !ok {
		s.pending[id] = now
	}
	s.mu.Unlock()
	return nil
}

func (s *revocationFromItsNow) RevokeSubjectSessions(ctx context.Context, sub string, now time.Time) ([]string, error) {
	live, err := s.Store.ListSessions(ctx, sub, now)
	if err != nil {
		return nil, err
	}
	var ids []string
	s.mu.Lock()
	for _, x := range live {
		if _, ok := s.pending[x.ID]; !ok {
			s.pending[x.ID] = now
			ids = append(ids, x.ID)
		}
	}
	s.mu.Unlock()
	return ids, nil
}

func (s *revocationFromItsNow) RotateRefresh(ctx context.Context, r authkit.Rotation) (authkit.Session, error) {
	s.apply(ctx, r.Now)
	return s.Store.RotateRefresh(ctx, r)
}
