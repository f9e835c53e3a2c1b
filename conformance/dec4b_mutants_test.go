package conformance_test

import (
	"context"
	"errors"
	"fmt"
	"math"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/authkit-go/authkit"
	"github.com/authkit-go/authkit/backends/memory"
	"github.com/authkit-go/authkit/conformance"
	"github.com/authkit-go/authkit/internal/revmirror/feedtest"
)

// Mutants of the feed and the client store that passed the suite until a
// second review on 2026-12-04 wrote them; each now fails the subtest
// named.
func init() {
	feedMutants = append(feedMutants,
		feedMutant{
			name: "SnapshotIgnoresFnError",
			run:  "RevocationFeed/Snapshot/FnError",
			wrap: func(s *feedtest.Store) authkit.RevocationStore { return snapIgnoresFnErr{s} },
			want: []string{"Snapshot/FnError", "RevocationSnapshot must stop and return fn's error"},
		},
		feedMutant{
			name: "ListensToRefusedWrites",
			run:  "RevocationFeed/Listeners",
			wrap: func(s *feedtest.Store) authkit.RevocationStore { return newListensEarly(s) },
			want: []string{"Listeners", "an unreachable backend refused"},
		},
	)
	mark := func(f func(c *authkit.Client)) func(s *memory.Store) authkit.ClientStore {
		return func(s *memory.Store) authkit.ClientStore { return lenientClients{Store: s, fix: f} }
	}
	clientMutants = append(clientMutants,
		clientMutant{
			name: "CodeCleanupZeroAnyError",
			run:  "Clients/DeleteExpiredAuthorizationCodes",
			wrap: func(s *memory.Store) authkit.ClientStore { return cleanupZero{s} },
			want: []string{"DeleteExpiredAuthorizationCodes with limit 0", "ErrInvalidRequest"},
		},
		clientMutant{
			name: "CodeCleanupNegativeUnbounded",
			run:  "Clients/DeleteExpiredAuthorizationCodes",
			wrap: func(s *memory.Store) authkit.ClientStore { return cleanupNeg{s} },
			want: []string{"DeleteExpiredAuthorizationCodes with limit -1"},
		},
		clientMutant{
			name: "ClientNegativeTTLClamped",
			run:  "Clients/Client/Limits",
			wrap: mark(func(c *authkit.Client) { c.AccessTTL, c.RefreshTTL = max(c.AccessTTL, 0), max(c.RefreshTTL, 0) }),
			want: []string{"a negative AccessTTL"},
		},
		clientMutant{
			name: "GrantTypesCut",
			run:  "Clients/Client/Limits",
			wrap: mark(func(c *authkit.Client) {
				c.GrantTypes = c.GrantTypes[:min(len(c.GrantTypes), authkit.MaxClientGrantTypes)]
			}),
			want: []string{fmt.Sprintf("%d grant types", authkit.MaxClientGrantTypes+1)},
		},
		clientMutant{
			name: "EmptyScopeDropped",
			run:  "Clients/Client/Limits",
			wrap: mark(func(c *authkit.Client) {
				c.Scopes = slicesDeleteEmpty(c.Scopes)
			}),
			want: []string{"an empty scope"},
		},
		clientMutant{
			name: "ClientIDTrimmed",
			run:  "Clients/Client/Limits",
			wrap: mark(func(c *authkit.Client) { c.ID = strings.TrimSpace(c.ID) }),
			want: []string{"an ID with a trailing space"},
		},
		clientMutant{
			name: "CodeFieldsTruncated",
			run:  "Clients/Client/Limits",
			wrap: func(s *memory.Store) authkit.ClientStore { return codeTrunc{s} },
			want: []string{fmt.Sprintf("a %d-byte RedirectURI", authkit.MaxRedirectURILen+1), fmt.Sprintf("%d bytes of Claims", authkit.MaxCodeClaimsLen+1)},
		},
		clientMutant{
			name: "DeadContextNotFound",
			run:  "Clients/Context",
			wrap: func(s *memory.Store) authkit.ClientStore { return deadNotFound{s} },
			want: []string{"with a dead ctx", "not ErrNotFound"},
		},
	)
}

// The feed of a store that reports HonorsDeadlines answers its snapshot by
// the deadline too.
func TestFeedStallMutant(t *testing.T) {
	t.Parallel()
	const name = "SnapshotIgnoresDeadline"
	t.Run(name, func(t *testing.T) {
		if os.Getenv(feedMutantEnv) == name {
			h := feedHarness(func(s *feedtest.Store) authkit.RevocationStore { return feedStall{Store: s} })
			h.Stalled = func(t *testing.T) authkit.RevocationStore {
				never := make(chan struct{})
				t.Cleanup(func() { close(never) })
				return feedStall{Store: feedtest.New(), stalled: true, never: never}
			}
			conformance.RunRevocationFeed(t, h)
			return
		}
		expectSuiteFails(t, feedMutantEnv, "TestFeedStallMutant", name, "RevocationFeed/Stalled", "feed", []string{"RevocationSnapshot on a stalled backend"})
	})
}

// lenientClients stores a client as a lenient column would: fix edits it
// (clamps, cuts, drops, trims) before it is checked and stored.
type lenientClients struct {
	*memory.Store
	fix func(c *authkit.Client)
}

func (s lenientClients) CreateClient(ctx context.Context, c authkit.Client) error {
	s.fix(&c)
	return s.Store.CreateClient(ctx, c)
}

func slicesDeleteEmpty(in []string) []string {
	var out []string
	for _, x := range in {
		if x != "" {
			out = append(out, x)
		}
	}
	return out
}

// snapIgnoresFnErr keeps going when fn fails and returns the position with
// no error. Rule: "If fn returns an error, RevocationSnapshot stops and
// returns it."
type snapIgnoresFnErr struct{ *feedtest.Store }

func (s snapIgnoresFnErr) RevocationSnapshot(ctx context.Context, now time.Time, fn func(authkit.Revocation) error) (authkit.FeedPosition, error) {
	return s.Store.RevocationSnapshot(ctx, now, func(r authkit.Revocation) error { _ = fn(r); return nil })
}

// listensEarly tells its listeners of a write before it makes it, so a
// write the backend refuses (unreachable) is heard anyway. Rule: "A write
// the store refused (bad input, a backend that could not be reached) is
// not passed to fn."
type listensEarly struct {
	*feedtest.Store
	mu  *sync.Mutex
	fns map[int]func(authkit.Revocation)
	n   *int
}

func newListensEarly(s *feedtest.Store) *listensEarly {
	return &listensEarly{Store: s, mu: &sync.Mutex{}, fns: map[int]func(authkit.Revocation){}, n: new(int)}
}

func (s *listensEarly) notify(ctx context.Context, r authkit.Revocation) {
	if ctx.Err() != nil {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, f := range s.fns {
		f(r)
	}
}

func (s *listensEarly) ListenRevocations(fn func(authkit.Revocation)) func() {
	s.mu.Lock()
	*s.n++
	id := *s.n
	s.fns[id] = fn
	s.mu.Unlock()
	return func() { s.mu.Lock(); delete(s.fns, id); s.mu.Unlock() }
}

func (s *listensEarly) RevokeToken(ctx context.Context, subject, jti string, until time.Time) error {
	s.notify(ctx, authkit.Revocation{Kind: authkit.RevokedToken, Subject: subject, ID: jti, Until: until})
	return s.Store.RevokeToken(ctx, subject, jti, until)
}

func (s *listensEarly) RevokeSessionTokens(ctx context.Context, subject, sid string, until time.Time) error {
	s.notify(ctx, authkit.Revocation{Kind: authkit.RevokedSession, Subject: subject, ID: sid, Until: until})
	return s.Store.RevokeSessionTokens(ctx, subject, sid, until)
}

func (s *listensEarly) SetCutoff(ctx context.Context, subject string, cutoff, until time.Time) error {
	s.notify(ctx, authkit.Revocation{Kind: authkit.RevokedBefore, Subject: subject, Cutoff: cutoff, Until: until})
	return s.Store.SetCutoff(ctx, subject, cutoff, until)
}

// feedStall claims DeadlineStore; while stalled, its five RevocationStore
// methods return ErrStoreUnavailable at the ctx deadline, but
// RevocationSnapshot waits for a reply that never comes. Rule
// (DeadlineStore): "Report true only when it holds for every method".
type feedStall struct {
	*feedtest.Store
	stalled bool
	never   chan struct{}
}

func (s feedStall) HonorsDeadlines() bool { return true }

func (s feedStall) wait(ctx context.Context) error {
	if !s.stalled {
		return nil
	}
	<-ctx.Done()
	return fmt.Errorf("%w: no reply: %w", authkit.ErrStoreUnavailable, ctx.Err())
}

func (s feedStall) RevokeToken(ctx context.Context, a, b string, u time.Time) error {
	if err := s.wait(ctx); err != nil {
		return err
	}
	return s.Store.RevokeToken(ctx, a, b, u)
}
func (s feedStall) RevokeSessionTokens(ctx context.Context, a, b string, u time.Time) error {
	if err := s.wait(ctx); err != nil {
		return err
	}
	return s.Store.RevokeSessionTokens(ctx, a, b, u)
}
func (s feedStall) SetCutoff(ctx context.Context, a string, c, u time.Time) error {
	if err := s.wait(ctx); err != nil {
		return err
	}
	return s.Store.SetCutoff(ctx, a, c, u)
}
func (s feedStall) IsRevoked(ctx context.Context, q authkit.RevocationQuery, now time.Time) (bool, error) {
	if err := s.wait(ctx); err != nil {
		return false, err
	}
	return s.Store.IsRevoked(ctx, q, now)
}
func (s feedStall) DeleteExpiredRevocations(ctx context.Context, now time.Time, l int) (int, error) {
	if err := s.wait(ctx); err != nil {
		return 0, err
	}
	return s.Store.DeleteExpiredRevocations(ctx, now, l)
}
func (s feedStall) RevocationSnapshot(ctx context.Context, now time.Time, fn func(authkit.Revocation) error) (authkit.FeedPosition, error) {
	if s.stalled {
		<-s.never // ignores ctx
		return "", authkit.ErrStoreUnavailable
	}
	return s.Store.RevocationSnapshot(ctx, now, fn)
}

// cleanupZero refuses limit 0 with an error that is not ErrInvalidRequest.
// Rule: "limit > 0; otherwise an error matching ErrInvalidRequest."
type cleanupZero struct{ *memory.Store }

func (s cleanupZero) DeleteExpiredAuthorizationCodes(ctx context.Context, now time.Time, limit int) (int, error) {
	if limit <= 0 {
		return 0, errors.New("bad limit")
	}
	return s.Store.DeleteExpiredAuthorizationCodes(ctx, now, limit)
}

// cleanupNeg treats a negative limit as "no limit".
type cleanupNeg struct{ *memory.Store }

func (s cleanupNeg) DeleteExpiredAuthorizationCodes(ctx context.Context, now time.Time, limit int) (int, error) {
	if limit < 0 {
		limit = math.MaxInt32
	}
	return s.Store.DeleteExpiredAuthorizationCodes(ctx, now, limit)
}

// codeTrunc accepts an over-long RedirectURI or Claims, cutting them to
// the limit (MySQL non-strict mode).
type codeTrunc struct{ *memory.Store }

func (s codeTrunc) CreateAuthorizationCode(ctx context.Context, c authkit.AuthorizationCode) error {
	if len(c.RedirectURI) > authkit.MaxRedirectURILen {
		c.RedirectURI = c.RedirectURI[:authkit.MaxRedirectURILen]
	}
	if len(c.Claims) > authkit.MaxCodeClaimsLen {
		c.Claims = c.Claims[:authkit.MaxCodeClaimsLen]
	}
	return s.Store.CreateAuthorizationCode(ctx, c)
}

// deadNotFound answers a dead ctx with an error matching both ErrNotFound
// and ctx.Err(). Rule: "'not found' is never reported for a failure".
type deadNotFound struct{ *memory.Store }

func (s deadNotFound) RedeemAuthorizationCode(ctx context.Context, h authkit.TokenHash, now time.Time) (authkit.AuthorizationCode, error) {
	if err := ctx.Err(); err != nil {
		return authkit.AuthorizationCode{}, fmt.Errorf("%w: %w", authkit.ErrNotFound, err)
	}
	return s.Store.RedeemAuthorizationCode(ctx, h, now)
}

func (s deadNotFound) GetClient(ctx context.Context, id string) (authkit.Client, error) {
	if err := ctx.Err(); err != nil {
		return authkit.Client{}, fmt.Errorf("%w: %w", authkit.ErrNotFound, err)
	}
	return s.Store.GetClient(ctx, id)
}
