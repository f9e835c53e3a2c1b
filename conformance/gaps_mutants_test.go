package conformance_test

import (
	"context"
	"errors"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/authkit-go/authkit"
	"github.com/authkit-go/authkit/backends/memory"
	"github.com/authkit-go/authkit/internal/revmirror/feedtest"
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
			wrap: func(s authkit.Store) authkit.Store {
				return revokeSubjectListed{s, func(x authkit.Session, now time.Time) bool { return !x.CreatedAt.Before(now) }}
			},
			want: []string{"Refresh/RevokeSubjectSessions/Clocks", "by a clock ahead", "must revoke every session of subject"},
		},
		mutant{
			name: "RevokeSubjectLiveOnly",
			run:  "Refresh/RevokeSubjectSessions/Clocks",
			wrap: func(s authkit.Store) authkit.Store { return revokeSubjectListed{Store: s} },
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
			wrap: func(s authkit.Store) authkit.Store {
				return &cutoffOnlyAdvancing{Store: s, cutoffs: map[string]time.Time{}}
			},
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
			wrap: func(s authkit.Store) authkit.Store {
				return &hashPerSubject{Store: s, side: map[authkit.TokenHash]authkit.APIToken{}}
			},
			want: []string{"APIToken/Create/DuplicateHashOtherSubject", "must return ErrConflict for a duplicate ID or hash"},
		},
	)
	clientMutants = append(clientMutants, clientMutant{
		name: "RegisteredAgainKeepsCreatedAt",
		run:  "Clients/DeleteClient",
		wrap: func(s *memory.Store) authkit.ClientStore {
			return &keepsCreatedAt{ClientStore: s, gone: map[string]time.Time{}}
		},
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

// revokeSubjectListed is a logout-all built on ListSessions: it revokes
// only the sessions live at now, and of those only the ones skip lets
// through. A session expired by the revoker's clock stays unrevoked (a
// replica whose clock is behind rotates it); with skip, one created at or
// after now (WHERE created_at < $now: by a replica whose clock is ahead)
// escapes too.
type revokeSubjectListed struct {
	authkit.Store
	skip func(s authkit.Session, now time.Time) bool
}

func (s revokeSubjectListed) RevokeSubjectSessions(ctx context.Context, subject string, now time.Time) ([]string, error) {
	live, err := s.Store.ListSessions(ctx, subject, now)
	if err != nil {
		return nil, err
	}
	ids := []string{}
	for _, x := range live {
		if s.skip != nil && s.skip(x, now) {
			continue
		}
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
	sessions []string           // IDs revoked through RevokeSession
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

// More mutants of the second review of 2026-12-03 (late): races between
// two writers, a throttle window, and a cleanup of a deleted client's
// assertion records.
func init() {
	mutants = append(mutants,
		mutant{
			name: "CutoffReadThenWrite",
			run:  "Revocation/SetCutoff/Concurrent",
			wrap: newCutoffRMW,
			want: []string{"Revocation/SetCutoff/Concurrent", "kept the earlier one"},
		},
		mutant{
			name: "CleanupSelectThenDelete",
			run:  "Revocation/DeleteExpiredRevocations/RacingExtension",
			wrap: newCleanupRace,
			want: []string{"Revocation/DeleteExpiredRevocations/RacingExtension", "were deleted"},
		},
	)
	throttleMutants = append(throttleMutants, throttleMutant{
		name: "WindowFromOldEnd",
		run:  "Throttle/AddFailure/WindowReopensAtNow",
		wrap: func(authkit.ThrottleStore) authkit.ThrottleStore { return newWindowFromOldEnd() },
		want: []string{"AddFailure/WindowReopensAtNow", "ExpiresAt"},
	})
	clientMutants = append(clientMutants, clientMutant{
		name: "CleanupTakesDeletedClientsAssertions",
		run:  "Clients/Assertion/DeletedClientCleanup",
		wrap: func(s *memory.Store) authkit.ClientStore { return newOrphanCleanup(s) },
		want: []string{"Assertion/DeletedClientCleanup", "after a cleanup"},
	})
}

// orphanCleanup records assertions as cascading does, but keeps a
// deleted client's records, and then deletes them in the cleanup,
// expired or not (… OR client_id IS NULL).
type orphanCleanup struct{ *cascading }

func newOrphanCleanup(s *memory.Store) *orphanCleanup { return &orphanCleanup{newCascading(s)} }

func (s *orphanCleanup) DeleteClient(ctx context.Context, id string) error {
	if err := s.Store.DeleteClient(ctx, id); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for h, c := range s.by {
		if c == id {
			s.by[h] = "" // kept, as the contract says, until the cleanup
		}
	}
	return nil
}

func (s *orphanCleanup) DeleteExpiredAuthorizationCodes(ctx context.Context, now time.Time, limit int) (int, error) {
	n, err := s.Store.DeleteExpiredAuthorizationCodes(ctx, now, limit)
	if err != nil {
		return n, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for h, e := range s.exp {
		if n >= limit {
			break
		}
		if !e.After(now) || s.by[h] == "" {
			delete(s.exp, h)
			delete(s.by, h)
			n++
		}
	}
	return n, nil
}

// windowFromOldEnd is a throttle store whose new window opens at the end
// of the old one (expires_at = expires_at + window), not at now.
type windowFromOldEnd struct {
	mu sync.Mutex
	m  map[string]authkit.ThrottleState
}

func newWindowFromOldEnd() *windowFromOldEnd {
	return &windowFromOldEnd{m: map[string]authkit.ThrottleState{}}
}

func thrKeyOK(k string) error {
	if k == "" || len(k) > authkit.MaxThrottleKeyLen {
		return authkit.ErrInvalidRequest
	}
	return nil
}

func (s *windowFromOldEnd) AddFailure(ctx context.Context, key string, now time.Time, window time.Duration) (authkit.ThrottleState, error) {
	if err := ctx.Err(); err != nil {
		return authkit.ThrottleState{}, err
	}
	if err := thrKeyOK(key); err != nil {
		return authkit.ThrottleState{}, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	st, ok := s.m[key]
	switch {
	case !ok || st.Failures == 0:
		st = authkit.ThrottleState{Failures: 1, Last: now, ExpiresAt: now.Add(window)}
	case !now.Before(st.ExpiresAt):
		st = authkit.ThrottleState{Failures: 1, Last: now, ExpiresAt: st.ExpiresAt.Add(window)}
	default:
		st.Failures++
		if now.After(st.Last) {
			st.Last = now
		}
	}
	s.m[key] = st
	return st, nil
}

func (s *windowFromOldEnd) ThrottleStates(ctx context.Context, now time.Time, keys ...string) ([]authkit.ThrottleState, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if len(keys) == 0 || len(keys) > authkit.MaxThrottleKeys {
		return nil, authkit.ErrInvalidRequest
	}
	for _, k := range keys {
		if err := thrKeyOK(k); err != nil {
			return nil, err
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]authkit.ThrottleState, len(keys))
	for i, k := range keys {
		if st := s.m[k]; st.Active(now) {
			out[i] = st
		}
	}
	return out, nil
}

func (s *windowFromOldEnd) ClearThrottle(ctx context.Context, key string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := thrKeyOK(key); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.m, key)
	return nil
}

func (s *windowFromOldEnd) DeleteExpiredThrottles(ctx context.Context, now time.Time, limit int) (int, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	if limit <= 0 {
		return 0, authkit.ErrInvalidRequest
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for k, st := range s.m {
		if n < limit && !st.Active(now) {
			delete(s.m, k)
			n++
		}
	}
	return n, nil
}

// cutoffRMW writes each cutoff as the larger of what it read and its own,
// a round trip apart, with no lock: of two concurrent SetCutoffs the one
// that writes last wins, earlier or not.
type cutoffRMW struct {
	authkit.Store
	mu  *sync.Mutex
	cut map[string][2]time.Time // cutoff, until
}

func newCutoffRMW(s authkit.Store) authkit.Store {
	return cutoffRMW{Store: s, mu: &sync.Mutex{}, cut: map[string][2]time.Time{}}
}

func (s cutoffRMW) SetCutoff(ctx context.Context, subject string, cutoff, until time.Time) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.mu.Lock()
	old, ok := s.cut[subject]
	s.mu.Unlock()
	time.Sleep(2 * time.Millisecond) // the round trip between the read and the write
	if ok {
		if old[0].After(cutoff) {
			cutoff = old[0]
		}
		if old[1].After(until) {
			until = old[1]
		}
	}
	s.mu.Lock()
	s.cut[subject] = [2]time.Time{cutoff, until}
	s.mu.Unlock()
	return nil
}

func (s cutoffRMW) IsRevoked(ctx context.Context, q authkit.RevocationQuery, now time.Time) (bool, error) {
	dead, err := s.Store.IsRevoked(ctx, q, now)
	if err != nil || dead {
		return dead, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if c, ok := s.cut[q.Subject]; ok && now.Before(c[1]) && !q.IssuedAt.After(c[0]) {
		return true, nil
	}
	return false, nil
}

func (s cutoffRMW) DeleteExpiredRevocations(ctx context.Context, now time.Time, limit int) (int, error) {
	n, err := s.Store.DeleteExpiredRevocations(ctx, now, limit)
	if err != nil {
		return n, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for k, c := range s.cut {
		if n < limit && !now.Before(c[1]) {
			delete(s.cut, k)
			n++
		}
	}
	return n, nil
}

// cleanupRace deletes expired session revocations by key, a round trip
// after selecting them: an entry extended in between is deleted all the
// same.
type cleanupRace struct {
	authkit.Store
	mu  *sync.Mutex
	sid map[[2]string]time.Time
}

func newCleanupRace(s authkit.Store) authkit.Store {
	return cleanupRace{Store: s, mu: &sync.Mutex{}, sid: map[[2]string]time.Time{}}
}

func (s cleanupRace) RevokeSessionTokens(ctx context.Context, subject, sid string, until time.Time) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	k := [2]string{subject, sid}
	if u, ok := s.sid[k]; !ok || until.After(u) {
		s.sid[k] = until
	}
	return nil
}

func (s cleanupRace) IsRevoked(ctx context.Context, q authkit.RevocationQuery, now time.Time) (bool, error) {
	dead, err := s.Store.IsRevoked(ctx, q, now)
	if err != nil || dead {
		return dead, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if u, ok := s.sid[[2]string{q.Subject, q.SessionID}]; ok && q.SessionID != "" && now.Before(u) {
		return true, nil
	}
	return false, nil
}

func (s cleanupRace) DeleteExpiredRevocations(ctx context.Context, now time.Time, limit int) (int, error) {
	n, err := s.Store.DeleteExpiredRevocations(ctx, now, limit)
	if err != nil {
		return n, err
	}
	s.mu.Lock()
	var victims [][2]string
	for k, u := range s.sid {
		if n+len(victims) < limit && !now.Before(u) {
			victims = append(victims, k)
		}
	}
	s.mu.Unlock()
	// Between the SELECT and the DELETE, as long as it takes for a racing
	// extension of one of the victims to land (up to 50 ms, so that a
	// loaded machine cannot schedule the race apart and pass the mutant).
	for deadline := time.Now().Add(50 * time.Millisecond); len(victims) > 0 && time.Now().Before(deadline); time.Sleep(100 * time.Microsecond) {
		s.mu.Lock()
		extended := slices.ContainsFunc(victims, func(k [2]string) bool { return now.Before(s.sid[k]) })
		s.mu.Unlock()
		if extended {
			break
		}
	}
	s.mu.Lock()
	for _, k := range victims {
		delete(s.sid, k)
	}
	s.mu.Unlock()
	return n + len(victims), nil
}

// Mutants of the data-loss rules from the same review.
func init() {
	lossMutants = append(lossMutants,
		lossMutant{
			name: "TrustsOwnEpoch",
			run:  "DataLoss/SecondLoss",
			wrap: func(s *feedtest.Store) authkit.RevocationStore { return &trustsOwnEpoch{Store: s} },
			want: []string{"DataLoss/SecondLoss", "through the handle that noticed the first"},
		},
		lossMutant{
			name: "EpochStartExcluded",
			run:  "DataLoss/SecondLoss",
			wrap: func(s *feedtest.Store) authkit.RevocationStore { return epochStartExcluded{s} },
			want: []string{"DataLoss/SecondLoss", "exactly at the epoch's start"},
		},
		lossMutant{
			name: "SetUpAtZeroOnRestart",
			run:  "DataLoss/LossThenRestart",
			wrap: func(s *feedtest.Store) authkit.RevocationStore { return setUpAtZero{s} },
			want: []string{"DataLoss/LossThenRestart", "after a loss and a restart"},
		},
	)
}

// trustsOwnEpoch remembers the epoch it saw first and stops reading the
// marker: a later loss is never noticed through this handle.
type trustsOwnEpoch struct {
	*feedtest.Store
	mu      sync.Mutex
	started *time.Time
}

func (s *trustsOwnEpoch) IsRevoked(ctx context.Context, q authkit.RevocationQuery, now time.Time) (bool, error) {
	s.mu.Lock()
	mine := s.started
	s.mu.Unlock()
	if mine != nil {
		if !q.IssuedAt.After(*mine) {
			return true, &authkit.DataLossError{Since: *mine}
		}
		// Judged as if no loss had happened since.
		dead, err := s.Store.IsRevoked(ctx, q, now)
		if errors.Is(err, authkit.ErrDataLoss) {
			return false, nil
		}
		return dead, err
	}
	dead, err := s.Store.IsRevoked(ctx, q, now)
	if dl, ok := errors.AsType[*authkit.DataLossError](err); ok {
		s.mu.Lock()
		s.started = &dl.Since
		s.mu.Unlock()
	}
	return dead, err
}

// epochStartExcluded lets a token issued exactly at the epoch's start
// through (iat < since instead of iat <= since).
type epochStartExcluded struct{ *feedtest.Store }

func (s epochStartExcluded) IsRevoked(ctx context.Context, q authkit.RevocationQuery, now time.Time) (bool, error) {
	dead, err := s.Store.IsRevoked(ctx, q, now)
	if dl, ok := errors.AsType[*authkit.DataLossError](err); ok && q.IssuedAt.Equal(dl.Since) {
		q.IssuedAt = q.IssuedAt.Add(time.Nanosecond)
		return s.Store.IsRevoked(ctx, q, now)
	}
	return dead, err
}

// setUpAtZero sets the store up on every restart, writing a missing epoch
// marker at 0 (SET marker 0 NX): a loss nobody noticed before the restart
// goes unnoticed for ever.
type setUpAtZero struct{ *feedtest.Store }

func (s setUpAtZero) Reopen() *feedtest.Store {
	r := s.Store.Reopen()
	r.SetUpEpoch(time.Unix(0, 0))
	return r
}

func init() {
	feedMutants = append(feedMutants, feedMutant{
		name: "HeartbeatAheadOfBatch",
		run:  "RevocationFeed/Follow/CatchUp",
		wrap: func(s *feedtest.Store) authkit.RevocationStore { return heartbeatAhead{s} },
		want: []string{"Follow/CatchUp", "reconnecting from a position"},
	}, feedMutant{
		name: "PlainPositions",
		run:  "RevocationFeed/Follow/ForeignPosition",
		wrap: func(s *feedtest.Store) authkit.RevocationStore { return plainPositions{s} },
		want: []string{"Follow/ForeignPosition", "another store's position"},
	})
}

// plainPositions hands out bare sequence numbers as positions (a BIGSERIAL
// id of a log table, a stream ID without the store's identity), and
// follows such a number in its current log, whichever store or log it
// came from.
type plainPositions struct{ *feedtest.Store }

func bare(p authkit.FeedPosition) authkit.FeedPosition {
	_, n, _ := strings.Cut(string(p), ".")
	return authkit.FeedPosition(n)
}

func (s plainPositions) RevocationSnapshot(ctx context.Context, now time.Time, fn func(authkit.Revocation) error) (authkit.FeedPosition, error) {
	p, err := s.Store.RevocationSnapshot(ctx, now, fn)
	return bare(p), err
}

func (s plainPositions) FollowRevocations(ctx context.Context, after authkit.FeedPosition, heartbeat time.Duration, fn func([]authkit.Revocation, authkit.FeedPosition) error) error {
	if _, err := strconv.ParseUint(string(after), 10, 64); err == nil {
		current, err := s.Store.RevocationSnapshot(ctx, time.Now(), func(authkit.Revocation) error { return nil })
		if err != nil {
			return err
		}
		log, _, _ := strings.Cut(string(current), ".")
		after = authkit.FeedPosition(log + "." + string(after))
	}
	return s.Store.FollowRevocations(ctx, after, heartbeat, func(rs []authkit.Revocation, p authkit.FeedPosition) error {
		return fn(rs, bare(p))
	})
}

// heartbeatAhead announces each batch after the first call in an empty
// call carrying the batch's own position, before handing the batch over
// (a heartbeat timer that reads the log's end while the reader still holds
// the batch).
type heartbeatAhead struct{ *feedtest.Store }

func (s heartbeatAhead) FollowRevocations(ctx context.Context, after authkit.FeedPosition, heartbeat time.Duration, fn func([]authkit.Revocation, authkit.FeedPosition) error) error {
	first := true
	return s.Store.FollowRevocations(ctx, after, heartbeat, func(rs []authkit.Revocation, p authkit.FeedPosition) error {
		if len(rs) > 0 && !first {
			if err := fn(nil, p); err != nil {
				return err
			}
		}
		first = false
		return fn(rs, p)
	})
}

func init() {
	mutants = append(mutants,
		mutant{
			name: "ReuseMovesUsedAt",
			run:  "Refresh/Rotate/ReuseAgain",
			wrap: func(s authkit.Store) authkit.Store {
				return &reuseMovesUsedAt{Store: s, moved: map[authkit.TokenHash]time.Time{}}
			},
			want: []string{"Refresh/Rotate/ReuseAgain", "reuse number 2", "UsedAt"},
		},
		mutant{
			name: "FailedRotationTouchesSession",
			run:  "Refresh/Rotate/ReuseAgain",
			wrap: func(s authkit.Store) authkit.Store { return &failTouches{Store: s, touched: map[string][2]time.Time{}} },
			want: []string{"Refresh/Rotate/ReuseAgain", "the session after three reuses", "a call that fails must change nothing"},
		},
	)
}

// reuseMovesUsedAt moves a used record's UsedAt to each reuse's now
// (UPDATE … SET used_at = $now … RETURNING the previous row): each reuse
// reports the one before it, not the winning rotation.
type reuseMovesUsedAt struct {
	authkit.Store
	mu    sync.Mutex
	moved map[authkit.TokenHash]time.Time
}

func (s *reuseMovesUsedAt) RotateRefresh(ctx context.Context, r authkit.Rotation) (authkit.Session, error) {
	sess, err := s.Store.RotateRefresh(ctx, r)
	if re, ok := errors.AsType[*authkit.ReuseError](err); ok {
		s.mu.Lock()
		if prev, ok := s.moved[r.Old]; ok {
			re.UsedAt = prev
		}
		s.moved[r.Old] = r.Now
		s.mu.Unlock()
	}
	return sess, err
}

func (s *reuseMovesUsedAt) LookupRefresh(ctx context.Context, h authkit.TokenHash) (authkit.RefreshRecord, error) {
	rec, err := s.Store.LookupRefresh(ctx, h)
	s.mu.Lock()
	if at, ok := s.moved[h]; ok && err == nil {
		rec.UsedAt = at
	}
	s.mu.Unlock()
	return rec, err
}

// failTouches moves the session's LastUsedAt and IdleExpiresAt before it
// checks the record, in a statement of its own: a refused rotation still
// moves the session.
type failTouches struct {
	authkit.Store
	mu      sync.Mutex
	touched map[string][2]time.Time
}

func (s *failTouches) RotateRefresh(ctx context.Context, r authkit.Rotation) (authkit.Session, error) {
	sess, err := s.Store.RotateRefresh(ctx, r)
	s.mu.Lock()
	defer s.mu.Unlock()
	if err == nil {
		delete(s.touched, sess.ID)
		return sess, nil
	}
	if errors.Is(err, authkit.ErrTokenReused) || errors.Is(err, authkit.ErrTokenExpired) {
		if rec, err := s.Store.LookupRefresh(context.WithoutCancel(ctx), r.Old); err == nil {
			s.touched[rec.SessionID] = [2]time.Time{r.Now, r.NextExpiresAt}
		}
	}
	return sess, err
}

func (s *failTouches) Session(ctx context.Context, id string) (authkit.Session, error) {
	sess, err := s.Store.Session(ctx, id)
	s.mu.Lock()
	if v, ok := s.touched[id]; ok && err == nil {
		sess.LastUsedAt, sess.IdleExpiresAt = v[0], v[1]
	}
	s.mu.Unlock()
	return sess, err
}

func init() {
	mutants = append(mutants, mutant{
		name: "CleanupLeavesUsedRecords",
		run:  "Refresh/DeleteExpiredSessions/TakesUsedRecords",
		wrap: func(s authkit.Store) authkit.Store {
			return &orphaned{Store: s, used: map[authkit.TokenHash]authkit.RefreshRecord{}, orphans: map[authkit.TokenHash]authkit.RefreshRecord{}}
		},
		want: []string{"Refresh/DeleteExpiredSessions/TakesUsedRecords", "the used record of a revoked session"},
	})
}

// orphaned deletes only a dead session's current record (… AND used_at
// IS NULL): its used records stay until their own expiry.
type orphaned struct {
	authkit.Store
	mu      sync.Mutex
	used    map[authkit.TokenHash]authkit.RefreshRecord
	orphans map[authkit.TokenHash]authkit.RefreshRecord
}

func (s *orphaned) RotateRefresh(ctx context.Context, r authkit.Rotation) (authkit.Session, error) {
	sess, err := s.Store.RotateRefresh(ctx, r)
	if err == nil {
		if rec, err2 := s.Store.LookupRefresh(context.WithoutCancel(ctx), r.Old); err2 == nil {
			s.mu.Lock()
			s.used[r.Old] = rec
			s.mu.Unlock()
		}
	}
	return sess, err
}

func (s *orphaned) DeleteExpiredSessions(ctx context.Context, now time.Time, limit int) (int, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	cand := map[authkit.TokenHash]authkit.RefreshRecord{}
	for h, rec := range s.used {
		if !now.Before(rec.ExpiresAt) {
			continue
		}
		sess, err := s.Store.Session(ctx, rec.SessionID)
		if err == nil && !sess.Live(now) {
			cand[h] = rec
		}
	}
	n, err := s.Store.DeleteExpiredSessions(ctx, now, limit)
	if err != nil {
		return n, err
	}
	for h, rec := range cand {
		if _, err := s.Store.LookupRefresh(ctx, h); errors.Is(err, authkit.ErrNotFound) {
			s.orphans[h] = rec
			delete(s.used, h)
			n--
		}
	}
	for h, rec := range s.orphans {
		if !now.Before(rec.ExpiresAt) && n < limit {
			delete(s.orphans, h)
			n++
		}
	}
	return n, nil
}

func (s *orphaned) LookupRefresh(ctx context.Context, h authkit.TokenHash) (authkit.RefreshRecord, error) {
	rec, err := s.Store.LookupRefresh(ctx, h)
	if errors.Is(err, authkit.ErrNotFound) {
		s.mu.Lock()
		o, ok := s.orphans[h]
		s.mu.Unlock()
		if ok {
			return o, nil
		}
	}
	return rec, err
}
