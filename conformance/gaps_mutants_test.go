package conformance_test

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/authkit-go/authkit"
	"github.com/authkit-go/authkit/backends/memory"
)

// Mutants of plausible real backends that passed the whole suite until a
// review on 2026-12-03 (late) wrote them. Most are bugs of clocks that
// disagree between replicas, or of a write that keeps less than it was
// given; each now fails the subtest named.
func init() {
	mutants = append(mutants,
		mutant{
			name: "RotationWritesSessionBack",
			run:  "Refresh/Rotate/RacingRevokeSession",
			wrap: func(s authkit.Store) authkit.Store { return &sessionWriteBack{Store: s, undone: map[string]bool{}} },
			want: []string{"Refresh/Rotate/RacingRevokeSession", "after RevokeSession", "no token of it can be rotated afterwards"},
		},
		mutant{
			name: "RevokeSubjectSkipsNewer",
			run:  "Refresh/RevokeSubjectSessions/Clocks",
			wrap: func(s authkit.Store) authkit.Store { return revokeSubjectBefore{s} },
			want: []string{"Refresh/RevokeSubjectSessions/Clocks", "by a clock ahead", "must revoke every session of subject"},
		},
		mutant{
			name: "RevokeSubjectLiveOnly",
			run:  "Refresh/RevokeSubjectSessions/Clocks",
			wrap: func(s authkit.Store) authkit.Store { return revokeSubjectLive{s} },
			want: []string{"Refresh/RevokeSubjectSessions/Clocks", "revoked once expired must not rotate"},
		},
		mutant{
			name: "RevokeSessionSkipsExpired",
			run:  "Refresh/RevokeSession/ExpiredAtNow",
			wrap: func(s authkit.Store) authkit.Store { return revokeSessionLive{s} },
			want: []string{"Refresh/RevokeSession/ExpiredAtNow", "revoked once expired must not rotate"},
		},
		mutant{
			name: "ListSessionsRevokedLater",
			run:  "Refresh/ListSessions/RevokedAheadOfNow",
			wrap: func(s authkit.Store) authkit.Store { return &revokedLater{Store: s} },
			want: []string{"Refresh/ListSessions/RevokedAheadOfNow", "a revoked session is not live"},
		},
		mutant{
			name: "ListTokensRevokedLater",
			run:  "APIToken/List/RevokedAheadOfNow",
			wrap: func(s authkit.Store) authkit.Store { return &revokedLater{Store: s} },
			want: []string{"APIToken/List/RevokedAheadOfNow", "a revoked token is not live"},
		},
		mutant{
			name: "CutoffUntilOnlyAdvancing",
			run:  "Revocation/SetCutoff/EarlierKeepsLaterUntil",
			wrap: func(s authkit.Store) authkit.Store { return &cutoffOnlyAdvancing{Store: s, cutoffs: map[string]time.Time{}} },
			want: []string{"Revocation/SetCutoff/EarlierKeepsLaterUntil", "the until kept is the later"},
		},
		mutant{
			name: "CleanupAtFirstUntil",
			run:  "Revocation/DeleteExpiredRevocations/ExtendedUntil",
			wrap: func(s authkit.Store) authkit.Store { return newFirstUntil(s) },
			want: []string{"Revocation/DeleteExpiredRevocations/ExtendedUntil", "revoking twice keeps the later until"},
		},
		mutant{
			name: "TouchDropsExpiry",
			run:  "APIToken/Touch/ChangesNothingElse",
			wrap: func(s authkit.Store) authkit.Store { return &touchDropsExpiry{Store: s, touched: map[string]bool{}} },
			want: []string{"APIToken/Touch/ChangesNothingElse", "ExpiresAt", "live an hour after it expired"},
		},
		mutant{
			name: "RevokeTokenTwiceMoves",
			run:  "APIToken/Revoke/Twice",
			wrap: func(s authkit.Store) authkit.Store { return &revokeTwiceMoves{Store: s, last: map[string]time.Time{}} },
			want: []string{"APIToken/Revoke/Twice", "RevokedAt stays the first one"},
		},
		mutant{
			name: "TokenHashPerSubject",
			run:  "APIToken/Create/DuplicateHashOtherSubject",
			wrap: func(s authkit.Store) authkit.Store { return &hashPerSubject{Store: s, side: map[authkit.TokenHash]authkit.APIToken{}} },
			want: []string{"APIToken/Create/DuplicateHashOtherSubject", "must return ErrConflict for a duplicate ID or hash"},
		},
	)
	clientMutants = append(clientMutants, struct {
		name string
		run  string
		wrap func(*memory.Store) authkit.ClientStore
		want []string
	}{
		name: "RegisteredAgainKeepsCreatedAt",
		run:  "Clients/DeleteClient",
		wrap: func(s *memory.Store) authkit.ClientStore { return &keepsCreatedAt{ClientStore: s, gone: map[string]time.Time{}} },
		want: []string{"Clients/DeleteClient", "registered again under a deleted client's ID", "CreatedAt: got"},
	})
}

// sessionWriteBack rotates, then writes the session back as it read it
// before the rotation (a read-modify-write of the session row): a
// revocation that landed in between is undone, and the session's tokens
// rotate again.
type sessionWriteBack struct {
	authkit.Store
	mu     sync.Mutex
	undone map[string]bool
}

func (s *sessionWriteBack) isUndone(id string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.undone[id]
}

func (s *sessionWriteBack) RotateRefresh(ctx context.Context, r authkit.Rotation) (authkit.Session, error) {
	rec, err := s.Store.LookupRefresh(ctx, r.Old)
	if err != nil {
		return s.Store.RotateRefresh(ctx, r)
	}
	before, err := s.Store.Session(ctx, rec.SessionID)
	if err != nil {
		return authkit.Session{}, err
	}
	sess, err := s.Store.RotateRefresh(ctx, r)
	if errors.Is(err, authkit.ErrTokenRevoked) && s.isUndone(rec.SessionID) {
		before.RevokedAt = time.Time{}
		return before, nil
	}
	if err != nil || !before.RevokedAt.IsZero() {
		return sess, err
	}
	// Between the read and the write back, as long as it takes for a
	// racing revocation to land (up to 50 ms, so that a loaded machine
	// cannot schedule the race apart and pass the mutant).
	for deadline := time.Now().Add(50 * time.Millisecond); time.Now().Before(deadline); time.Sleep(100 * time.Microsecond) {
		if after, err := s.Store.Session(ctx, rec.SessionID); err == nil && !after.RevokedAt.IsZero() {
			s.mu.Lock()
			s.undone[rec.SessionID] = true
			s.mu.Unlock()
			break
		}
	}
	return sess, nil
}

func (s *sessionWriteBack) Session(ctx context.Context, id string) (authkit.Session, error) {
	sess, err := s.Store.Session(ctx, id)
	if err == nil && s.isUndone(id) {
		sess.RevokedAt = time.Time{}
	}
	return sess, err
}

// revokeSubjectBefore revokes only the sessions created before now
// (WHERE created_at < $now): one created by a replica whose clock is ahead
// escapes.
type revokeSubjectBefore struct{ authkit.Store }

func (s revokeSubjectBefore) RevokeSubjectSessions(ctx context.Context, subject string, now time.Time) ([]string, error) {
	live, err := s.Store.ListSessions(ctx, subject, now)
	if err != nil {
		return nil, err
	}
	ids := []string{}
	for _, x := range live {
		if !x.CreatedAt.Before(now) {
			continue
		}
		if err := s.Store.RevokeSession(ctx, x.ID, now); err != nil {
			return nil, err
		}
		ids = append(ids, x.ID)
	}
	return ids, nil
}

// revokeSubjectLive revokes only the sessions live at now (a logout-all
// built on ListSessions): one expired by the revoker's clock stays
// unrevoked, and a replica whose clock is behind rotates it.
type revokeSubjectLive struct{ authkit.Store }

func (s revokeSubjectLive) RevokeSubjectSessions(ctx context.Context, subject string, now time.Time) ([]string, error) {
	live, err := s.Store.ListSessions(ctx, subject, now)
	if err != nil {
		return nil, err
	}
	ids := []string{}
	for _, x := range live {
		if err := s.Store.RevokeSession(ctx, x.ID, now); err != nil {
			return nil, err
		}
		ids = append(ids, x.ID)
	}
	return ids, nil
}

// revokeSessionLive leaves a session already expired at now as it is,
// reporting success.
type revokeSessionLive struct{ authkit.Store }

func (s revokeSessionLive) RevokeSession(ctx context.Context, id string, now time.Time) error {
	if x, err := s.Store.Session(ctx, id); err == nil && x.RevokedAt.IsZero() && !x.Live(now) {
		return nil
	}
	return s.Store.RevokeSession(ctx, id, now)
}

// revokedLater lists sessions and API tokens revoked after now as live
// (revoked_at IS NULL OR revoked_at > $now).
type revokedLater struct {
	authkit.Store
	mu       sync.Mutex
	sessions []string          // IDs revoked through RevokeSession
	tokens   []authkit.APIToken // tokens revoked through RevokeAPIToken
}

func (s *revokedLater) RevokeSession(ctx context.Context, id string, now time.Time) error {
	err := s.Store.RevokeSession(ctx, id, now)
	if err == nil {
		s.mu.Lock()
		s.sessions = append(s.sessions, id)
		s.mu.Unlock()
	}
	return err
}

func (s *revokedLater) ListSessions(ctx context.Context, subject string, now time.Time) ([]authkit.Session, error) {
	list, err := s.Store.ListSessions(ctx, subject, now)
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	ids := append([]string(nil), s.sessions...)
	s.mu.Unlock()
	for _, id := range ids {
		x, err := s.Store.Session(ctx, id)
		if err == nil && x.Subject == subject && x.RevokedAt.After(now) {
			x.RevokedAt = time.Time{}
			if x.Live(now) {
				list = append(list, x)
			}
		}
	}
	return list, nil
}

func (s *revokedLater) RevokeAPIToken(ctx context.Context, subject, id string, now time.Time) error {
	var found []authkit.APIToken
	if list, err := s.Store.ListAPITokens(ctx, subject, now); err == nil {
		for _, tok := range list {
			if tok.ID == id {
				found = append(found, tok)
			}
		}
	}
	err := s.Store.RevokeAPIToken(ctx, subject, id, now)
	if err == nil {
		s.mu.Lock()
		s.tokens = append(s.tokens, found...)
		s.mu.Unlock()
	}
	return err
}

func (s *revokedLater) ListAPITokens(ctx context.Context, subject string, now time.Time) ([]authkit.APIToken, error) {
	list, err := s.Store.ListAPITokens(ctx, subject, now)
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	revoked := append([]authkit.APIToken(nil), s.tokens...)
	s.mu.Unlock()
	for _, tok := range revoked {
		x, err := s.Store.LookupAPIToken(ctx, tok.Hash)
		if err == nil && x.Subject == subject && x.RevokedAt.After(now) {
			x.RevokedAt = time.Time{}
			if x.Live(now) {
				list = append(list, x)
			}
		}
	}
	return list, nil
}

// cutoffOnlyAdvancing writes a cutoff, and its until, only when the cutoff
// advances (UPDATE … SET cutoff = $c, until = GREATEST(until, $u) WHERE
// cutoff < $c): an earlier cutoff's later until is dropped.
type cutoffOnlyAdvancing struct {
	authkit.Store
	mu      sync.Mutex
	cutoffs map[string]time.Time
}

func (s *cutoffOnlyAdvancing) SetCutoff(ctx context.Context, subject string, cutoff, until time.Time) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if last, ok := s.cutoffs[subject]; ok && !cutoff.After(last) {
		return ctx.Err()
	}
	if err := s.Store.SetCutoff(ctx, subject, cutoff, until); err != nil {
		return err
	}
	s.cutoffs[subject] = cutoff
	return nil
}

// firstUntil collects each revocation at the until it was first written
// with (an expiry index written once, ZADD NX), though a later revocation
// extended it: the entry's tokens verify again before their until.
type firstUntil struct {
	authkit.Store
	mu      sync.Mutex
	first   map[[3]string]time.Time // kind, subject, id → first until
	last    map[[3]string]time.Time // … → the until in force
	dropped map[[3]string]bool
}

func newFirstUntil(s authkit.Store) *firstUntil {
	return &firstUntil{Store: s, first: map[[3]string]time.Time{}, last: map[[3]string]time.Time{}, dropped: map[[3]string]bool{}}
}

func (s *firstUntil) note(k [3]string, until time.Time, err error) error {
	if err == nil {
		s.mu.Lock()
		if _, ok := s.first[k]; !ok {
			s.first[k] = until
		}
		if until.After(s.last[k]) {
			s.last[k] = until
		}
		s.mu.Unlock()
	}
	return err
}

func (s *firstUntil) RevokeToken(ctx context.Context, subject, jti string, until time.Time) error {
	return s.note([3]string{"jti", subject, jti}, until, s.Store.RevokeToken(ctx, subject, jti, until))
}

func (s *firstUntil) RevokeSessionTokens(ctx context.Context, subject, sid string, until time.Time) error {
	return s.note([3]string{"sid", subject, sid}, until, s.Store.RevokeSessionTokens(ctx, subject, sid, until))
}

func (s *firstUntil) SetCutoff(ctx context.Context, subject string, cutoff, until time.Time) error {
	return s.note([3]string{"cutoff", subject, ""}, until, s.Store.SetCutoff(ctx, subject, cutoff, until))
}

func (s *firstUntil) DeleteExpiredRevocations(ctx context.Context, now time.Time, limit int) (int, error) {
	n, err := s.Store.DeleteExpiredRevocations(ctx, now, limit)
	if err != nil {
		return n, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for k, until := range s.first {
		// Those whose until was extended: the store collected the others.
		if n < limit && !until.After(now) && s.last[k].After(now) && !s.dropped[k] {
			s.dropped[k] = true
			n++
		}
	}
	return n, nil
}

func (s *firstUntil) IsRevoked(ctx context.Context, q authkit.RevocationQuery, now time.Time) (bool, error) {
	s.mu.Lock()
	if s.dropped[[3]string{"jti", q.Subject, q.TokenID}] {
		q.TokenID += "\x00dropped"
	}
	if q.SessionID != "" && s.dropped[[3]string{"sid", q.Subject, q.SessionID}] {
		q.SessionID += "\x00dropped"
	}
	if s.dropped[[3]string{"cutoff", q.Subject, ""}] {
		q.Subject += "\x00dropped"
	}
	s.mu.Unlock()
	return s.Store.IsRevoked(ctx, q, now)
}

// touchDropsExpiry writes a touched token back without its expiry (an
// upsert of a partial record, a SET without KEEPTTL): it never expires.
type touchDropsExpiry struct {
	authkit.Store
	mu      sync.Mutex
	touched map[string]bool
}

func (s *touchDropsExpiry) TouchAPIToken(ctx context.Context, id string, at time.Time) error {
	err := s.Store.TouchAPIToken(ctx, id, at)
	if err == nil {
		s.mu.Lock()
		s.touched[id] = true
		s.mu.Unlock()
	}
	return err
}

func (s *touchDropsExpiry) LookupAPIToken(ctx context.Context, h authkit.TokenHash) (authkit.APIToken, error) {
	tok, err := s.Store.LookupAPIToken(ctx, h)
	s.mu.Lock()
	if err == nil && s.touched[tok.ID] {
		tok.ExpiresAt = time.Time{}
	}
	s.mu.Unlock()
	return tok, err
}

// revokeTwiceMoves moves RevokedAt to each revocation's now.
type revokeTwiceMoves struct {
	authkit.Store
	mu   sync.Mutex
	last map[string]time.Time
}

func (s *revokeTwiceMoves) RevokeAPIToken(ctx context.Context, subject, id string, now time.Time) error {
	err := s.Store.RevokeAPIToken(ctx, subject, id, now)
	if err == nil {
		s.mu.Lock()
		s.last[id] = now
		s.mu.Unlock()
	}
	return err
}

func (s *revokeTwiceMoves) LookupAPIToken(ctx context.Context, h authkit.TokenHash) (authkit.APIToken, error) {
	tok, err := s.Store.LookupAPIToken(ctx, h)
	s.mu.Lock()
	if at, ok := s.last[tok.ID]; ok && err == nil {
		tok.RevokedAt = at
	}
	s.mu.Unlock()
	return tok, err
}

// hashPerSubject keeps hashes unique per subject only (a unique key on
// (subject, hash)): another subject's token with a taken hash is stored,
// and a lookup then finds the last one written.
type hashPerSubject struct {
	authkit.Store
	mu   sync.Mutex
	side map[authkit.TokenHash]authkit.APIToken
}

func (s *hashPerSubject) CreateAPIToken(ctx context.Context, t authkit.APIToken, limit int, now time.Time) error {
	if old, err := s.Store.LookupAPIToken(ctx, t.Hash); err == nil && old.Subject != t.Subject {
		s.mu.Lock()
		s.side[t.Hash] = t
		s.mu.Unlock()
		return nil
	}
	return s.Store.CreateAPIToken(ctx, t, limit, now)
}

func (s *hashPerSubject) LookupAPIToken(ctx context.Context, h authkit.TokenHash) (authkit.APIToken, error) {
	s.mu.Lock()
	tok, ok := s.side[h]
	s.mu.Unlock()
	if ok {
		return tok, nil
	}
	return s.Store.LookupAPIToken(ctx, h)
}

// keepsCreatedAt deletes clients softly and undeletes a client registered
// again under the same ID, keeping the removed client's CreatedAt (an
// upsert that does not set created_at).
type keepsCreatedAt struct {
	authkit.ClientStore
	mu   sync.Mutex
	gone map[string]time.Time
}

func (s *keepsCreatedAt) DeleteClient(ctx context.Context, id string) error {
	c, getErr := s.ClientStore.GetClient(ctx, id)
	err := s.ClientStore.DeleteClient(ctx, id)
	if err == nil && getErr == nil {
		s.mu.Lock()
		s.gone[id] = c.CreatedAt
		s.mu.Unlock()
	}
	return err
}

func (s *keepsCreatedAt) CreateClient(ctx context.Context, c authkit.Client) error {
	s.mu.Lock()
	if at, ok := s.gone[c.ID]; ok {
		c.CreatedAt = at
	}
	s.mu.Unlock()
	return s.ClientStore.CreateClient(ctx, c)
}
