package conformance_test

import (
	"context"
	"errors"
	"slices"
	"sync"
	"time"

	"github.com/authkit-go/authkit"
)

// Mutants of plausible hand-written backends that passed the whole suite
// until a review on 2026-12-05 wrote one from the docs alone: each now
// fails the subtest named.
func init() {
	mutants = append(mutants,
		mutant{
			name: "CutoffAsText",
			run:  "Revocation/TextTimes",
			wrap: func(s authkit.Store) authkit.Store { return newTextCutoffs(s, rfc3339UTC) },
			want: []string{"Revocation/TextTimes", "issued at a whole second, 150ms before the cutoff"},
		},
		mutant{
			name: "CutoffAsWallClock",
			run:  "Revocation/TextTimes",
			wrap: func(s authkit.Store) authkit.Store { return newTextCutoffs(s, wallClock) },
			want: []string{"Revocation/TextTimes", "a cutoff given in UTC-3"},
		},
		mutant{
			name: "UntilAsText",
			run:  "Revocation/TextTimes",
			wrap: func(s authkit.Store) authkit.Store { return &textUntils{Store: s, until: map[[2]string]string{}} },
			want: []string{"Revocation/TextTimes", "100ms before the until"},
		},
		mutant{
			name: "RefreshHashPrefix",
			run:  "Refresh/NearMissHash",
			wrap: func(s authkit.Store) authkit.Store { return newHashPrefix(s) },
			want: []string{"Refresh/NearMissHash", "differs from a stored one in byte 31"},
		},
		mutant{
			name: "APITokenHashPrefix",
			run:  "APIToken/Lookup/NearMiss",
			wrap: func(s authkit.Store) authkit.Store { return newHashPrefix(s) },
			want: []string{"APIToken/Lookup/NearMiss", "differs from a stored one in byte 31"},
		},
		mutant{
			name: "SuccessorHandedOut",
			run:  "Refresh/Rotate/Reuse",
			wrap: func(s authkit.Store) authkit.Store {
				return &successorHandedOut{Store: s, kept: map[authkit.TokenHash][]byte{}}
			},
			want: []string{"Refresh/Rotate/Reuse", "after the caller changed the Successor"},
		},
		mutant{
			name: "CreatedAtForAll",
			run:  "Refresh/CreateSession/RoundTrip",
			wrap: func(s authkit.Store) authkit.Store { return createdAtForAll{s} },
			want: []string{"Refresh/CreateSession/RoundTrip", "LastUsedAt", "IssuedAt"},
		},
		mutant{
			name: "SessionsByLastUse",
			run:  "Refresh/ListSessions/NewestFirst",
			wrap: func(s authkit.Store) authkit.Store { return sessionsByLastUse{s} },
			want: []string{"Refresh/ListSessions/NewestFirst", "not LastUsedAt"},
		},
	)
	if raceEnabled {
		// Only the race detector sees a read that skips the lock every
		// time; without it the runtime catches one now and then.
		mutants = append(mutants,
			mutant{
				name: "UnlockedIsRevoked",
				run:  "Revocation/ReadersDuringWrites",
				wrap: func(s authkit.Store) authkit.Store { return &unlockedReads{Store: s} },
				want: []string{"Revocation/ReadersDuringWrites", "DATA RACE"},
			},
			mutant{
				name: "UnlockedLookupAPIToken",
				run:  "APIToken/ReadersDuringWrites",
				wrap: func(s authkit.Store) authkit.Store { return &unlockedReads{Store: s} },
				want: []string{"APIToken/ReadersDuringWrites", "DATA RACE"},
			},
			mutant{
				name: "UnlockedLookupRefresh",
				run:  "Refresh/ReadersDuringWrites",
				wrap: func(s authkit.Store) authkit.Store { return &unlockedReads{Store: s} },
				want: []string{"Refresh/ReadersDuringWrites", "DATA RACE"},
			},
		)
	}
}

// rfc3339UTC and wallClock are how a store might write an instant as
// text: RFC 3339 in UTC with the fraction's trailing zeros dropped, and
// the wall clock in the time's own zone, without it.
func rfc3339UTC(t time.Time) string { return t.UTC().Format(time.RFC3339Nano) }
func wallClock(t time.Time) string  { return t.Format("2006-01-02T15:04:05.000000") }

// textCutoffs keeps cutoffs as text and compares them as text.
type textCutoffs struct {
	authkit.Store
	text    func(time.Time) string
	mu      sync.Mutex
	cutoffs map[string][2]string // subject → cutoff, until
}

func newTextCutoffs(s authkit.Store, text func(time.Time) string) *textCutoffs {
	return &textCutoffs{Store: s, text: text, cutoffs: map[string][2]string{}}
}

func (s *textCutoffs) SetCutoff(ctx context.Context, subject string, cutoff, until time.Time) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	c := s.cutoffs[subject]
	c[0], c[1] = max(c[0], s.text(cutoff)), max(c[1], s.text(until))
	s.cutoffs[subject] = c
	return nil
}

func (s *textCutoffs) IsRevoked(ctx context.Context, q authkit.RevocationQuery, now time.Time) (bool, error) {
	s.mu.Lock()
	c, ok := s.cutoffs[q.Subject]
	s.mu.Unlock()
	if ok && s.text(now) < c[1] && s.text(q.IssuedAt) <= c[0] {
		return true, nil
	}
	return s.Store.IsRevoked(ctx, q, now)
}

// textUntils keeps revoked jtis' untils as RFC 3339 text.
type textUntils struct {
	authkit.Store
	mu    sync.Mutex
	until map[[2]string]string // (subject, jti) → until
}

func (s *textUntils) RevokeToken(ctx context.Context, subject, jti string, until time.Time) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	k := [2]string{subject, jti}
	s.until[k] = max(s.until[k], rfc3339UTC(until))
	return nil
}

func (s *textUntils) IsRevoked(ctx context.Context, q authkit.RevocationQuery, now time.Time) (bool, error) {
	s.mu.Lock()
	u, ok := s.until[[2]string{q.Subject, q.TokenID}]
	s.mu.Unlock()
	if ok && rfc3339UTC(now) < u {
		return true, nil
	}
	return s.Store.IsRevoked(ctx, q, now)
}

// hashPrefix finds refresh records and API tokens by the first 31 bytes
// of their hash, as a store keyed by a cut hash would.
type hashPrefix struct {
	authkit.Store
	mu   sync.Mutex
	full map[[31]byte]authkit.TokenHash
}

func newHashPrefix(s authkit.Store) *hashPrefix {
	return &hashPrefix{Store: s, full: map[[31]byte]authkit.TokenHash{}}
}

func (s *hashPrefix) keep(h authkit.TokenHash) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.full[[31]byte(h[:31])] = h
}

func (s *hashPrefix) find(h authkit.TokenHash) authkit.TokenHash {
	s.mu.Lock()
	defer s.mu.Unlock()
	if f, ok := s.full[[31]byte(h[:31])]; ok {
		return f
	}
	return h
}

func (s *hashPrefix) CreateSession(ctx context.Context, sess authkit.Session, first authkit.RefreshRecord) error {
	if s.find(first.Hash) != first.Hash {
		return authkit.ErrConflict
	}
	err := s.Store.CreateSession(ctx, sess, first)
	if err == nil {
		s.keep(first.Hash)
	}
	return err
}

func (s *hashPrefix) RotateRefresh(ctx context.Context, r authkit.Rotation) (authkit.Session, error) {
	r.Old = s.find(r.Old)
	sess, err := s.Store.RotateRefresh(ctx, r)
	if err == nil {
		s.keep(r.Next)
	}
	return sess, err
}

func (s *hashPrefix) LookupRefresh(ctx context.Context, h authkit.TokenHash) (authkit.RefreshRecord, error) {
	return s.Store.LookupRefresh(ctx, s.find(h))
}

func (s *hashPrefix) CreateAPIToken(ctx context.Context, t authkit.APIToken, limit int, now time.Time) error {
	err := s.Store.CreateAPIToken(ctx, t, limit, now)
	if err == nil {
		s.keep(t.Hash)
	}
	return err
}

func (s *hashPrefix) LookupAPIToken(ctx context.Context, h authkit.TokenHash) (authkit.APIToken, error) {
	return s.Store.LookupAPIToken(ctx, s.find(h))
}

// successorHandedOut hands out one slice per record as its Successor, in
// reads and in *ReuseErrors alike.
type successorHandedOut struct {
	authkit.Store
	mu   sync.Mutex
	kept map[authkit.TokenHash][]byte
}

func (s *successorHandedOut) shared(h authkit.TokenHash, b []byte) []byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	if k, ok := s.kept[h]; ok {
		return k
	}
	s.kept[h] = b
	return b
}

func (s *successorHandedOut) LookupRefresh(ctx context.Context, h authkit.TokenHash) (authkit.RefreshRecord, error) {
	r, err := s.Store.LookupRefresh(ctx, h)
	if err == nil && len(r.Successor) > 0 {
		r.Successor = s.shared(h, r.Successor)
	}
	return r, err
}

func (s *successorHandedOut) RotateRefresh(ctx context.Context, r authkit.Rotation) (authkit.Session, error) {
	sess, err := s.Store.RotateRefresh(ctx, r)
	if re, ok := errors.AsType[*authkit.ReuseError](err); ok {
		re.Successor = s.shared(r.Old, re.Successor)
	}
	return sess, err
}

// sessionsByLastUse lists sessions most recently used first.
type sessionsByLastUse struct{ authkit.Store }

func (s sessionsByLastUse) ListSessions(ctx context.Context, subject string, now time.Time) ([]authkit.Session, error) {
	ss, err := s.Store.ListSessions(ctx, subject, now)
	slices.SortStableFunc(ss, func(a, b authkit.Session) int { return b.LastUsedAt.Compare(a.LastUsedAt) })
	return ss, err
}

// unlockedReads counts its writes under its lock and reads the count
// without it: "for speed on the hot path". (A count, not a map: the
// runtime's own check of a map would sometimes end the child first.)
// Both happen after the wrapped call: done before it, the wrapped store's
// own lock, taken just after, ordered most reads after the writes for the
// race detector, and a CI run on a loaded machine saw no race.
type unlockedReads struct {
	authkit.Store
	mu     sync.Mutex
	writes int
}

func (s *unlockedReads) note() {
	s.mu.Lock()
	s.writes++
	s.mu.Unlock()
}

// peek reads the count unlocked (used, so that no compiler drops it).
func (s *unlockedReads) peek() {
	if s.writes < 0 {
		panic("negative count")
	}
}

func (s *unlockedReads) RevokeToken(ctx context.Context, subject, jti string, until time.Time) error {
	defer s.note()
	return s.Store.RevokeToken(ctx, subject, jti, until)
}

func (s *unlockedReads) IsRevoked(ctx context.Context, q authkit.RevocationQuery, now time.Time) (bool, error) {
	defer s.peek()
	return s.Store.IsRevoked(ctx, q, now)
}

func (s *unlockedReads) CreateAPIToken(ctx context.Context, t authkit.APIToken, limit int, now time.Time) error {
	defer s.note()
	return s.Store.CreateAPIToken(ctx, t, limit, now)
}

func (s *unlockedReads) LookupAPIToken(ctx context.Context, h authkit.TokenHash) (authkit.APIToken, error) {
	defer s.peek()
	return s.Store.LookupAPIToken(ctx, h)
}

func (s *unlockedReads) CreateSession(ctx context.Context, sess authkit.Session, first authkit.RefreshRecord) error {
	defer s.note()
	return s.Store.CreateSession(ctx, sess, first)
}

func (s *unlockedReads) LookupRefresh(ctx context.Context, h authkit.TokenHash) (authkit.RefreshRecord, error) {
	defer s.peek()
	return s.Store.LookupRefresh(ctx, h)
}

// The other writes and reads of the ReadersDuringWrites checks count and
// peek as well: a store that skips its lock in one read skips it in all.

func (s *unlockedReads) RevokeSessionTokens(ctx context.Context, subject, sid string, until time.Time) error {
	defer s.note()
	return s.Store.RevokeSessionTokens(ctx, subject, sid, until)
}

func (s *unlockedReads) SetCutoff(ctx context.Context, subject string, cutoff, until time.Time) error {
	defer s.note()
	return s.Store.SetCutoff(ctx, subject, cutoff, until)
}

func (s *unlockedReads) TouchAPIToken(ctx context.Context, id string, at time.Time) error {
	defer s.note()
	return s.Store.TouchAPIToken(ctx, id, at)
}

func (s *unlockedReads) RevokeAPIToken(ctx context.Context, subject, id string, now time.Time) error {
	defer s.note()
	return s.Store.RevokeAPIToken(ctx, subject, id, now)
}

func (s *unlockedReads) ListAPITokens(ctx context.Context, subject string, now time.Time) ([]authkit.APIToken, error) {
	defer s.peek()
	return s.Store.ListAPITokens(ctx, subject, now)
}

func (s *unlockedReads) RotateRefresh(ctx context.Context, r authkit.Rotation) (authkit.Session, error) {
	defer s.note()
	return s.Store.RotateRefresh(ctx, r)
}

func (s *unlockedReads) RevokeSession(ctx context.Context, id string, now time.Time) error {
	defer s.note()
	return s.Store.RevokeSession(ctx, id, now)
}

func (s *unlockedReads) Session(ctx context.Context, id string) (authkit.Session, error) {
	defer s.peek()
	return s.Store.Session(ctx, id)
}

func (s *unlockedReads) ListSessions(ctx context.Context, subject string, now time.Time) ([]authkit.Session, error) {
	defer s.peek()
	return s.Store.ListSessions(ctx, subject, now)
}

// createdAtForAll stores a new session's CreatedAt as its LastUsedAt and
// its first token's IssuedAt.
type createdAtForAll struct{ authkit.Store }

func (s createdAtForAll) CreateSession(ctx context.Context, sess authkit.Session, first authkit.RefreshRecord) error {
	sess.LastUsedAt, first.IssuedAt = sess.CreatedAt, sess.CreatedAt
	return s.Store.CreateSession(ctx, sess, first)
}
