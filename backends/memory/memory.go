// Package memory is authkit's in-process store: a complete [authkit.Store]
// kept in the process's memory, the embedded default and the reference
// implementation that
// package conformance ships beside. It needs no server and no setup, and
// its data lives as long as the process: use it for a single instance, for
// tests and for development; use a shared backend (backends/sqlstore,
// backends/redisstore) when several processes must see the same sessions
// and revocations.
//
//	store := memory.New()
//	iss, err := issuer.New(authkit.WithStore(store), authkit.WithKeys(set))
//
// # Concurrency
//
// A Store is safe for concurrent use by many goroutines. One read-write
// mutex guards it; RotateRefresh and CreateAPIToken hold it for their whole
// check-and-write, which is what makes rotation atomic (of N concurrent
// rotations of one token exactly one wins) and the API token limit exact.
// IsRevoked, called on every authenticated request, takes the read lock and
// does at most three map lookups, with no allocation.
//
// # Memory
//
// Logical expiry is judged against the time the caller passes, never the
// wall clock. The Store starts no goroutine; instead every write removes a
// bounded number of entries (see [WithSweepBudget]) that have expired at
// the latest time the Store has been given, taken from the write itself
// or, for writes that carry no time (CreateSession uses the session's
// CreatedAt; RevokeToken, RevokeSessionTokens and SetCutoff carry none),
// from earlier calls, IsRevoked included. Expired entries are kept in
// expiry order, so each write's sweep costs O(budget·log n), and since a
// write adds at most three entries while it may remove budget of them, the
// expired backlog shrinks with every write: memory does not grow without
// bound while the Store is used. The times given to a Store should
// therefore move forward, as a clock does: a time far in the future makes
// it collect everything that expires before then.
//
// What the sweep does not remove by time is garbage that has not expired:
// revoked sessions (they go when their own expiry passes) and revoked API
// tokens. The DeleteExpired… methods, which the issuer calls, and
// [Store.Cleanup] remove those too. So that a loop of creating and
// revoking API tokens (which the API token limit does not stop: it counts
// live tokens) cannot grow the store between two cleanups, the sweep also
// keeps at most 16,384 revoked API tokens, dropping those revoked the
// longest ago: LookupAPIToken then answers ErrNotFound for them, as it
// does once a cleanup has run, and a verifier calls such a token unknown
// instead of revoked (refused either way).
//
// # Footprint
//
// Sessions and refresh tokens are laid out compactly: fixed-size records
// in paged arrays, a session's strings in one allocation, times as int64
// microseconds, and hash indexes of 8-byte slots that hold no key. A live
// session with its current token, carrying a 105-byte user agent, costs
// about 500 bytes of heap: less than the same session copied into a plain
// Go map keyed by the token hash (about 660 bytes). Each rotation keeps
// the rotated token, with its sealed successor, until the token's own
// expiry, so that its reuse is recognised: about 220 bytes more. The
// arrays and indexes keep the size of the most sessions and tokens held at
// once, as Go maps do; what a removed session or token referenced (its
// strings, its successor) is freed at once. docs/backends/memory.md has
// the figures and how to reproduce them.
//
// Times are kept in whole microseconds, rounded down, the precision the
// store contract asks for: an expiry comes at most a microsecond early,
// never late.
//
// # Revocation feed
//
// A Store implements [authkit.RevocationFeed], so a verifier may keep a
// mirror of its revocations (authkit.WithRevocationMirror). Every
// successful RevokeToken, RevokeSessionTokens and SetCutoff appends its
// change to an ordered log under the same lock as the write, so the log
// and the entries never disagree. FollowRevocations is pushed: a write
// wakes every follower waiting for one, which gets the change at once;
// heartbeats come only when nothing is written. It starts no goroutine
// (it runs in its caller's), and returns when its ctx ends.
//
// The log keeps every change for at least the retention,
// [DefaultFeedRetention] (10 minutes) by default, by the wall clock, and
// drops older ones in blocks of 128 at a later write or cleanup — unless
// it holds more than its limit, [DefaultFeedLogLimit] changes by default,
// when it drops the oldest however young: memory stays bounded whatever
// the rate of revocations. A change costs 64 bytes of log, its strings
// shared with the stored entry; a dropped block is reused. Positions
// carry a random epoch drawn by [New], so a position of another Store, or
// of this process before a restart (when the log is gone), is refused
// with authkit.ErrFeedPositionLost, as is one the log no longer covers;
// the follower then takes a new snapshot.
//
// # Errors
//
// Methods return errors matching authkit's sentinels with errors.Is
// (ErrNotFound, ErrConflict, ErrTokenRevoked, ErrTokenExpired,
// ErrLimitExceeded, a *authkit.ReuseError) or ctx.Err(): each method checks
// its context first. A memory store is never unavailable.
package memory

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/authkit-go/authkit"
	"github.com/authkit-go/authkit/internal/revlisten"
)

var (
	_ authkit.Store  = (*Store)(nil)
	_ authkit.Pinger = (*Store)(nil)
)

// DefaultSweepBudget is how many expired entries of each kind (sessions and
// refresh tokens, revocations, API tokens) a write may remove by default.
const DefaultSweepBudget = 32

// Option configures a Store made by [New].
type Option func(*Store)

// WithSweepBudget sets how many expired entries of each kind every write
// may remove (see the package doc). The default is [DefaultSweepBudget];
// values below 4 are raised to 4, so that the sweep always outpaces the
// writes that add entries.
func WithSweepBudget(n int) Option {
	return func(s *Store) { s.budget = max(n, 4) }
}

// WithEpoch makes the store refuse every access token issued at or before
// start, as a store that lost its data does (authkit.ErrDataLoss):
// IsRevoked returns true and an *authkit.DataLossError, and the feed
// hands the epoch to mirrors. It is for a process whose signing keys
// outlive it while its revocations do not: pass the time the process
// started, so that a token revoked before a restart is not accepted again
// after it. authkit serve does so when its keys come from a file.
// Without it the store keeps no epoch (the default: a verifier whose
// memory store holds no revocations of its own loses nothing on a
// restart).
func WithEpoch(start time.Time) Option {
	return func(s *Store) { s.epoch, s.hasEpoch = start, true }
}

// Store is an in-process authkit.Store. Make one with [New]; the zero value
// is not usable.
type Store struct {
	budget int
	// listeners hear of each revocation written (ListenRevocations).
	listeners revlisten.Listeners
	// seen is the latest time (Unix seconds) the Store has been given by
	// any call; the sweep of a write that carries no time uses it.
	seen atomic.Int64

	mu sync.RWMutex

	// f holds the sessions and refresh tokens (layout.go).
	f families

	jti     map[revKey]*revocation
	sid     map[revKey]*revocation
	cutoffs map[string]*cutoff
	revExp  expiryHeap
	// dropped remembers the revocations the sweeps dropped (dropped.go).
	dropped droppedSet

	// API tokens: tokensBySubject holds those not revoked, revokedTokens
	// the others, earliest RevokedAt first.
	tokensByHash    map[authkit.TokenHash]*apiToken
	tokensByID      map[string]*apiToken
	tokensBySubject map[string]map[string]*apiToken
	revokedTokens   expiryHeap
	tokenExp        expiryHeap // tokens that have an ExpiresAt

	// feed is the log of revocation writes (feed.go).
	feed feedLog

	// clients and codes are the OAuth 2.0 client registrations and
	// authorization codes (clients.go); codeExp orders every code by its
	// ExpiresAt.
	clients map[string]*client
	codes   map[authkit.TokenHash]*authCode
	// assertions are the client assertions used, by client and hash; they
	// outlive their client (see DeleteClient).
	assertions map[assertionKey]*assertion
	codeExp    expiryHeap

	// epoch is WithEpoch's start, if hasEpoch.
	epoch    time.Time
	hasEpoch bool
}

type revocation struct {
	key   revKey
	isSID bool
	exp   expiry // until
}

type cutoff struct {
	subject string
	cutoff  time.Time
	exp     expiry // until
}

type apiToken struct {
	t   authkit.APIToken
	exp expiry  // ExpiresAt, when set
	rev *expiry // RevokedAt, once revoked: its place in revokedTokens
}

// maxRevokedTokens is how many revoked API tokens a Store holds at most
// after a write: beyond it, the write's sweep drops those revoked the
// longest ago (see the package doc).
const maxRevokedTokens = 16_384

// New returns an empty Store.
func New(opts ...Option) *Store {
	s := &Store{
		budget:          DefaultSweepBudget,
		f:               newFamilies(),
		jti:             map[revKey]*revocation{},
		sid:             map[revKey]*revocation{},
		cutoffs:         map[string]*cutoff{},
		tokensByHash:    map[authkit.TokenHash]*apiToken{},
		tokensByID:      map[string]*apiToken{},
		tokensBySubject: map[string]map[string]*apiToken{},
		feed:            newFeedLog(),
		clients:         map[string]*client{},
		codes:           map[authkit.TokenHash]*authCode{},
		assertions:      map[assertionKey]*assertion{},
	}
	for _, o := range opts {
		if o != nil {
			o(s)
		}
	}
	return s
}

// Ping implements authkit.Pinger. A memory store always answers; Ping
// returns an error only for a done ctx.
func (s *Store) Ping(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("memory: Ping: %w", err)
	}
	return nil
}

// Cleanup deletes every garbage entry at now — what the DeleteExpired…
// methods delete, without a limit — and returns how many it deleted. The
// issuer's periodic DeleteExpired… calls make it unnecessary; it is for
// applications that use the store without one.
func (s *Store) Cleanup(now time.Time) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.observe(now)
	const all = int(^uint(0) >> 1)
	n := s.f.collect(toMicros(now), all)
	n += s.f.collectRevoked(all - n)
	n += s.collectRevocations(now, all)
	n += s.collectTokens(now, all)
	n += s.collectRevokedTokens(all)
	n += s.collectCodes(now, all)
	s.feed.trim(s.feed.clock())
	return n
}

// ---- time ----

// norm strips the monotonic reading and the location: stored times are
// plain UTC instants.
func norm(t time.Time) time.Time { return t.UTC() }

// stepBack is how far before the latest time seen a call's time must be
// for observe to take it that the clock stepped back.
const stepBack = 60 // seconds

// observe records now as the latest time seen, at a second's granularity,
// so that an IsRevoked stream writes the shared word about once a second.
// A time more than stepBack before it replaces it too: the clock stepped
// back, and sweeps judged at the time it had reached would remove every
// revocation written since as soon as it was written (found by review).
// Moving it back only makes sweeps remove less.
func (s *Store) observe(now time.Time) {
	sec := now.Unix()
	for {
		old := s.seen.Load()
		if sec == old || sec < old && sec >= old-stepBack || s.seen.CompareAndSwap(old, sec) {
			return
		}
	}
}

// sweepTime is the time a write's sweep judges expiry at: the later of the
// write's own time (zero if it carries none) and the latest time seen.
func (s *Store) sweepTime(now time.Time) time.Time {
	if seen := time.Unix(s.seen.Load(), 0); seen.After(now) {
		return seen
	}
	return now
}

// sweep removes up to the budget of entries of each kind that expired at
// the sweep time, and of the revoked API tokens beyond maxRevokedTokens.
// The caller holds s.mu.
func (s *Store) sweep(now time.Time) {
	s.trimRevokedTokens(s.budget)
	at := s.sweepTime(now)
	if at.Unix() <= 0 {
		return // no time seen yet
	}
	s.f.collect(toMicros(at), s.budget)
	s.collectRevocations(at, s.budget)
	s.collectTokens(at, s.budget)
}

// ---- copies ----

func cloneToken(in authkit.APIToken) authkit.APIToken {
	out := in
	out.Scopes = slices.Clone(in.Scopes)
	return out
}

func storedToken(in authkit.APIToken) authkit.APIToken {
	out := cloneToken(in)
	out.CreatedAt = norm(in.CreatedAt)
	out.ExpiresAt = norm(in.ExpiresAt)
	out.LastUsedAt = norm(in.LastUsedAt)
	out.RevokedAt = norm(in.RevokedAt)
	return out
}

// errLimit reports a DeleteExpired… call with a limit the contract rules
// out; answering 0 would make a caller that repeats while the result
// equals limit spin for ever.
func errLimit(op string, limit int) error {
	return fmt.Errorf("memory: %s: %w: limit %d must be positive", op, authkit.ErrInvalidRequest, limit)
}

// ---- RevocationStore ----

// ListenRevocations implements authkit.RevocationListeners: fn hears of
// each revocation written through s, after s holds it (and after s's lock
// is released) and before the writing call returns.
func (s *Store) ListenRevocations(fn func(authkit.Revocation)) (stop func()) {
	return s.listeners.Add(fn)
}

// RevokeToken implements authkit.RevocationStore.
func (s *Store) RevokeToken(ctx context.Context, subject, jti string, until time.Time) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("memory: RevokeToken: %w", err)
	}
	s.mu.Lock()
	// The sweep first: never the entry this write adds, even judged at a
	// time the clock stepped back from (droppedSet).
	s.sweep(time.Time{})
	until = norm(until)
	key := s.revoke(s.jti, revKey{subject, jti}, false, until)
	s.record(authkit.RevokedToken, key.subject, key.id, time.Time{}, until)
	s.mu.Unlock()
	s.listeners.Notify(authkit.Revocation{Kind: authkit.RevokedToken, Subject: key.subject, ID: key.id, Until: until})
	return nil
}

// RevokeSessionTokens implements authkit.RevocationStore.
func (s *Store) RevokeSessionTokens(ctx context.Context, subject, sid string, until time.Time) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("memory: RevokeSessionTokens: %w", err)
	}
	s.mu.Lock()
	// The sweep first: never the entry this write adds, even judged at a
	// time the clock stepped back from (droppedSet).
	s.sweep(time.Time{})
	until = norm(until)
	key := s.revoke(s.sid, revKey{subject, sid}, true, until)
	s.record(authkit.RevokedSession, key.subject, key.id, time.Time{}, until)
	s.mu.Unlock()
	s.listeners.Notify(authkit.Revocation{Kind: authkit.RevokedSession, Subject: key.subject, ID: key.id, Until: until})
	return nil
}

// revKey keys a revoked jti or sid together with its subject.
type revKey struct{ subject, id string }

// revoke merges a revocation of key until until (normalised) into m, and
// returns the key as stored: the strings the feed's log shares.
func (s *Store) revoke(m map[revKey]*revocation, key revKey, isSID bool, until time.Time) revKey {
	if r := m[key]; r != nil {
		if until.After(r.exp.at) {
			r.exp.at = until
			s.revExp.fix(&r.exp)
		}
		return r.key
	}
	r := &revocation{key: key, isSID: isSID}
	r.exp = expiry{at: until, owner: r}
	m[key] = r
	s.revExp.push(&r.exp)
	return key
}

// SetCutoff implements authkit.RevocationStore. The stored cutoff is the
// latest ever set and the stored until the latest ever set, so a cutoff
// given with an earlier until than the one it replaces is remembered as
// long as the longer of the two (fail closed).
func (s *Store) SetCutoff(ctx context.Context, subject string, at, until time.Time) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("memory: SetCutoff: %w", err)
	}
	s.mu.Lock()
	s.sweep(time.Time{}) // first, as in RevokeToken
	at, until = norm(at), norm(until)
	c := s.cutoffs[subject]
	if c != nil {
		if at.After(c.cutoff) {
			c.cutoff = at
		}
		if until.After(c.exp.at) {
			c.exp.at = until
			s.revExp.fix(&c.exp)
		}
	} else {
		c = &cutoff{subject: subject, cutoff: at}
		c.exp = expiry{at: until, owner: c}
		s.cutoffs[subject] = c
		s.revExp.push(&c.exp)
	}
	s.record(authkit.RevokedBefore, c.subject, "", at, until)
	s.mu.Unlock()
	s.listeners.Notify(authkit.Revocation{Kind: authkit.RevokedBefore, Subject: c.subject, Cutoff: at, Until: until})
	return nil
}

// IsRevoked implements authkit.RevocationStore: a read lock and at most
// three map lookups, without allocating. An empty TokenID, SessionID or
// Subject matches nothing.
func (s *Store) IsRevoked(ctx context.Context, q authkit.RevocationQuery, now time.Time) (bool, error) {
	if err := ctx.Err(); err != nil {
		return false, fmt.Errorf("memory: IsRevoked: %w", err)
	}
	if s.hasEpoch && !q.IssuedAt.After(s.epoch) {
		return true, &authkit.DataLossError{Since: s.epoch}
	}
	s.observe(now)
	s.mu.RLock()
	dead := false
	if q.TokenID != "" {
		if r := s.jti[revKey{q.Subject, q.TokenID}]; r != nil && now.Before(r.exp.at) {
			dead = true
		}
	}
	if !dead && q.SessionID != "" {
		if r := s.sid[revKey{q.Subject, q.SessionID}]; r != nil && now.Before(r.exp.at) {
			dead = true
		}
	}
	if !dead && q.Subject != "" {
		if c := s.cutoffs[q.Subject]; c != nil && now.Before(c.exp.at) && !q.IssuedAt.After(c.cutoff) {
			dead = true
		}
	}
	if !dead && s.dropped.consulted(now) {
		// A check dated before a sweep that dropped revocations (the
		// clock stepped back) is answered as if they were still there.
		dead = s.dropped.revoked(q, now, s.cutoffs[q.Subject])
	}
	s.mu.RUnlock()
	return dead, nil
}

// DeleteExpiredRevocations implements authkit.RevocationStore.
func (s *Store) DeleteExpiredRevocations(ctx context.Context, now time.Time, limit int) (int, error) {
	if err := ctx.Err(); err != nil {
		return 0, fmt.Errorf("memory: DeleteExpiredRevocations: %w", err)
	}
	if limit <= 0 {
		return 0, errLimit("DeleteExpiredRevocations", limit)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.observe(now)
	s.feed.trim(s.feed.clock())
	return s.collectRevocations(now, limit), nil
}

func (s *Store) collectRevocations(now time.Time, budget int) int {
	n := 0
	for ; n < budget; n++ {
		e := s.revExp.min()
		if e == nil || now.Before(e.at) {
			break
		}
		s.revExp.remove(e)
		switch o := e.owner.(type) {
		case *revocation:
			if o.isSID {
				delete(s.sid, o.key)
				s.dropped.add(droppedKey{droppedSID, o.key}, o.exp.at, time.Time{}, now)
			} else {
				delete(s.jti, o.key)
				s.dropped.add(droppedKey{droppedJTI, o.key}, o.exp.at, time.Time{}, now)
			}
		case *cutoff:
			delete(s.cutoffs, o.subject)
			s.dropped.add(droppedKey{droppedCutoff, revKey{o.subject, ""}}, o.exp.at, o.cutoff, now)
		}
	}
	return n
}

// ---- APITokenStore ----

// CreateAPIToken implements authkit.APITokenStore. A duplicate ID or hash
// is reported before the limit is counted.
func (s *Store) CreateAPIToken(ctx context.Context, t authkit.APIToken, limit int, now time.Time) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("memory: CreateAPIToken: %w", err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.observe(now)
	if _, ok := s.tokensByID[t.ID]; ok {
		return fmt.Errorf("memory: CreateAPIToken: token ID: %w", authkit.ErrConflict)
	}
	if _, ok := s.tokensByHash[t.Hash]; ok {
		return fmt.Errorf("memory: CreateAPIToken: token hash: %w", authkit.ErrConflict)
	}
	bySub := s.tokensBySubject[t.Subject]
	if limit > 0 {
		live := 0
		for _, tok := range bySub {
			if tok.t.Live(now) {
				live++
			}
		}
		if live >= limit {
			return fmt.Errorf("memory: CreateAPIToken: %d live tokens: %w", live, authkit.ErrLimitExceeded)
		}
	}
	tok := &apiToken{t: storedToken(t), exp: expiry{index: -1}}
	tok.exp.owner = tok
	s.tokensByID[t.ID] = tok
	s.tokensByHash[t.Hash] = tok
	if !tok.t.ExpiresAt.IsZero() {
		tok.exp.at = tok.t.ExpiresAt
		s.tokenExp.push(&tok.exp)
	}
	if !tok.t.RevokedAt.IsZero() {
		s.markRevoked(tok)
	} else {
		if bySub == nil {
			bySub = map[string]*apiToken{}
			s.tokensBySubject[t.Subject] = bySub
		}
		bySub[t.ID] = tok
	}
	s.sweep(now)
	return nil
}

// LookupAPIToken implements authkit.APITokenStore.
func (s *Store) LookupAPIToken(ctx context.Context, h authkit.TokenHash) (authkit.APIToken, error) {
	if err := ctx.Err(); err != nil {
		return authkit.APIToken{}, fmt.Errorf("memory: LookupAPIToken: %w", err)
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	tok := s.tokensByHash[h]
	if tok == nil {
		return authkit.APIToken{}, fmt.Errorf("memory: LookupAPIToken: %w", authkit.ErrNotFound)
	}
	return cloneToken(tok.t), nil
}

// ListAPITokens implements authkit.APITokenStore. Tokens created at the
// same instant are ordered by ID.
func (s *Store) ListAPITokens(ctx context.Context, subject string, now time.Time) ([]authkit.APIToken, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("memory: ListAPITokens: %w", err)
	}
	s.observe(now)
	s.mu.RLock()
	defer s.mu.RUnlock()
	var out []authkit.APIToken
	for _, tok := range s.tokensBySubject[subject] {
		if tok.t.Live(now) {
			out = append(out, cloneToken(tok.t))
		}
	}
	slices.SortFunc(out, func(a, b authkit.APIToken) int {
		if c := b.CreatedAt.Compare(a.CreatedAt); c != 0 {
			return c
		}
		return cmp.Compare(a.ID, b.ID)
	})
	return out, nil
}

// RevokeAPIToken implements authkit.APITokenStore. Revoking twice keeps
// the first RevokedAt.
func (s *Store) RevokeAPIToken(ctx context.Context, subject, id string, now time.Time) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("memory: RevokeAPIToken: %w", err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.observe(now)
	tok := s.tokensByID[id]
	if tok == nil || tok.t.Subject != subject {
		return fmt.Errorf("memory: RevokeAPIToken: %w", authkit.ErrNotFound)
	}
	if tok.t.RevokedAt.IsZero() {
		tok.t.RevokedAt = norm(now)
		s.markRevoked(tok)
	}
	s.sweep(now)
	return nil
}

// TouchAPIToken implements authkit.APITokenStore.
func (s *Store) TouchAPIToken(ctx context.Context, id string, at time.Time) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("memory: TouchAPIToken: %w", err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.observe(at)
	tok := s.tokensByID[id]
	if tok == nil {
		return fmt.Errorf("memory: TouchAPIToken: %w", authkit.ErrNotFound)
	}
	if at.After(tok.t.LastUsedAt) {
		tok.t.LastUsedAt = norm(at)
	}
	s.sweep(at)
	return nil
}

// DeleteExpiredAPITokens implements authkit.APITokenStore.
func (s *Store) DeleteExpiredAPITokens(ctx context.Context, now time.Time, limit int) (int, error) {
	if err := ctx.Err(); err != nil {
		return 0, fmt.Errorf("memory: DeleteExpiredAPITokens: %w", err)
	}
	if limit <= 0 {
		return 0, errLimit("DeleteExpiredAPITokens", limit)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.observe(now)
	n := s.collectTokens(now, limit)
	n += s.collectRevokedTokens(limit - n)
	return n, nil
}

// collectTokens deletes up to budget tokens past their ExpiresAt at now.
func (s *Store) collectTokens(now time.Time, budget int) int {
	n := 0
	for ; n < budget; n++ {
		e := s.tokenExp.min()
		if e == nil || now.Before(e.at) {
			break
		}
		s.dropToken(e.owner.(*apiToken))
	}
	return n
}

// markRevoked files tok, just revoked, among the revoked tokens, and takes
// it out of its subject's (if there): the limit and ListAPITokens count
// and list only live tokens, and need not step over a churn's revoked
// ones.
func (s *Store) markRevoked(tok *apiToken) {
	tok.rev = &expiry{at: tok.t.RevokedAt, owner: tok}
	s.revokedTokens.push(tok.rev)
	s.unlistToken(tok)
}

// collectRevokedTokens deletes up to budget revoked tokens, those revoked
// the longest ago first.
func (s *Store) collectRevokedTokens(budget int) int {
	n := 0
	for ; n < budget; n++ {
		e := s.revokedTokens.min()
		if e == nil {
			break
		}
		s.dropToken(e.owner.(*apiToken))
	}
	return n
}

// trimRevokedTokens deletes up to budget of the revoked tokens revoked the
// longest ago while the store holds more than maxRevokedTokens.
func (s *Store) trimRevokedTokens(budget int) {
	for n := 0; n < budget && len(s.revokedTokens) > maxRevokedTokens; n++ {
		s.dropToken(s.revokedTokens.min().owner.(*apiToken))
	}
}

func (s *Store) dropToken(tok *apiToken) {
	delete(s.tokensByID, tok.t.ID)
	delete(s.tokensByHash, tok.t.Hash)
	if tok.rev != nil {
		s.revokedTokens.remove(tok.rev)
	}
	s.unlistToken(tok)
	s.tokenExp.remove(&tok.exp)
}

// unlistToken takes tok out of its subject's tokens, if it is there.
func (s *Store) unlistToken(tok *apiToken) {
	if bySub := s.tokensBySubject[tok.t.Subject]; bySub != nil {
		delete(bySub, tok.t.ID)
		if len(bySub) == 0 {
			delete(s.tokensBySubject, tok.t.Subject)
		}
	}
}

// size returns how many entries of every kind the Store holds.
func (s *Store) size() int {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.f.sess.live + s.f.toks.live + len(s.jti) + len(s.sid) + len(s.cutoffs) + len(s.tokensByID)
}
