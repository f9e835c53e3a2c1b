package conformance_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/authkit-go/authkit"
	"github.com/authkit-go/authkit/backends/memory"
	"github.com/authkit-go/authkit/conformance"
	"github.com/authkit-go/authkit/internal/revmirror/feedtest"
)

// Mutants that passed the suite until a third review on 2026-12-04 wrote
// them (throttle reads, client assertions, a restart that rewrites the
// epoch); each now fails the subtest named.
func init() {
	throttleMutants = append(throttleMutants,
		throttleMutant{
			name: "StatesFirstThree",
			run:  "Throttle/Keys/OutOfBounds",
			wrap: func(s authkit.ThrottleStore) authkit.ThrottleStore { return statesFirstThree{s} },
			want: []string{"read at once", "has 0 failures"},
		},
		throttleMutant{
			name: "StatesOncePerKey",
			run:  "Throttle/Keys/OutOfBounds",
			wrap: func(s authkit.ThrottleStore) authkit.ThrottleStore { return statesDedup{s} },
			want: []string{"ThrottleStates of 3 keys returned 2 states"},
		},
	)
	clientMutants = append(clientMutants,
		clientMutant{
			name: "PastExpiryRecorded",
			run:  "Clients/Assertion/ExpiryNotAfterNow",
			wrap: func(s *memory.Store) authkit.ClientStore { return pastRecorded{s} },
			want: []string{"ExpiryNotAfterNow", "records nothing"},
		},
		clientMutant{
			name: "RefusedReuseExtendsExpiry",
			run:  "Clients/Assertion/Use",
			wrap: func(s *memory.Store) authkit.ClientStore { return &reuseExtends{Store: s, ext: map[string]time.Time{}} },
			want: []string{"Assertion/Use", "after a refused use that presented a later expiresAt"},
		},
	)
}

// A restart that loses nothing starts no new epoch.
func TestReopenRewritesEpochMutant(t *testing.T) {
	t.Parallel()
	const name = "ReopenRewritesEpoch"
	t.Run(name, func(t *testing.T) {
		if os.Getenv(lossMutantEnv) == name {
			conformance.RunRevocationStore(t, lossHarness(func(s *feedtest.Store) authkit.RevocationStore { return reopenRewrites{s} }, false))
			return
		}
		expectSuiteFails(t, lossMutantEnv, "TestReopenRewritesEpochMutant", name, "Revocation/Reopen", "store", []string{"Revocation/Reopen", "IsRevoked: unexpected error", "data begins at"})
	})
}

// statesFirstThree reads the first three keys (a pipeline sized for the
// HTTP layer's three) and reports the rest as empty.
type statesFirstThree struct{ authkit.ThrottleStore }

func (s statesFirstThree) ThrottleStates(ctx context.Context, now time.Time, keys ...string) ([]authkit.ThrottleState, error) {
	if len(keys) <= 3 {
		return s.ThrottleStore.ThrottleStates(ctx, now, keys...)
	}
	if len(keys) > authkit.MaxThrottleKeys {
		return s.ThrottleStore.ThrottleStates(ctx, now, keys...)
	}
	for _, k := range keys[3:] { // validate as the store would
		if _, err := s.ThrottleStore.ThrottleStates(ctx, now, k); err != nil {
			return nil, err
		}
	}
	got, err := s.ThrottleStore.ThrottleStates(ctx, now, keys[:3]...)
	if err != nil {
		return nil, err
	}
	return append(got, make([]authkit.ThrottleState, len(keys)-3)...), nil
}

// statesDedup reads each distinct key once (MGET of a set) and returns
// one state per distinct key.
type statesDedup struct{ authkit.ThrottleStore }

func (s statesDedup) ThrottleStates(ctx context.Context, now time.Time, keys ...string) ([]authkit.ThrottleState, error) {
	var uniq []string
	seen := map[string]bool{}
	for _, k := range keys {
		if !seen[k] {
			seen[k] = true
			uniq = append(uniq, k)
		}
	}
	return s.ThrottleStore.ThrottleStates(ctx, now, uniq...)
}

// pastRecorded records an assertion whose expiresAt is at or before now
// (the insert before the check) and then refuses it.
type pastRecorded struct{ *memory.Store }

func (s pastRecorded) UseClientAssertion(ctx context.Context, id string, h authkit.TokenHash, exp, now time.Time) error {
	if !exp.After(now) {
		if err := s.Store.UseClientAssertion(ctx, id, h, exp, exp.Add(-time.Microsecond)); errors.Is(err, authkit.ErrNotFound) {
			return err
		}
		return fmt.Errorf("m3: %w", authkit.ErrInvalidRequest)
	}
	return s.Store.UseClientAssertion(ctx, id, h, exp, now)
}

// reuseExtends moves a record's expiry to the later expiresAt a refused
// reuse presents.
type reuseExtends struct {
	*memory.Store
	mu  sync.Mutex
	ext map[string]time.Time
}

func (s *reuseExtends) UseClientAssertion(ctx context.Context, id string, h authkit.TokenHash, exp, now time.Time) error {
	k := id + "\x00" + fmt.Sprint(h)
	s.mu.Lock()
	if e, ok := s.ext[k]; ok && e.After(now) && exp.After(now) {
		if exp.After(e) {
			s.ext[k] = exp
		}
		s.mu.Unlock()
		return fmt.Errorf("m3: %w", authkit.ErrTokenReused)
	}
	s.mu.Unlock()
	err := s.Store.UseClientAssertion(ctx, id, h, exp, now)
	if errors.Is(err, authkit.ErrTokenReused) {
		s.mu.Lock()
		if e := s.ext[k]; exp.After(e) {
			s.ext[k] = exp
		}
		s.mu.Unlock()
	}
	return err
}

// reopenRewrites: every restart writes the epoch marker afresh at its
// own start (SET marker NOW() on boot, not NX), though no data was lost.
var reopened sync.Map // *feedtest.Store -> time.Time

type reopenRewrites struct{ *feedtest.Store }

func (s reopenRewrites) Reopen() *feedtest.Store {
	r := s.Store.Reopen()
	reopened.Store(r, time.Now())
	return r
}

func (s reopenRewrites) IsRevoked(ctx context.Context, q authkit.RevocationQuery, now time.Time) (bool, error) {
	if v, ok := reopened.Load(s.Store); ok && !q.IssuedAt.After(v.(time.Time)) {
		return true, &authkit.DataLossError{Since: v.(time.Time)}
	}
	return s.Store.IsRevoked(ctx, q, now)
}

func init() {
	extMutants = append(extMutants, struct {
		name, run string
		wrap      func(*extStore) authkit.ExternalAPITokens
		want      []string
	}{"HidesExpiredByOwnClock", "External/Expiry",
		func(s *extStore) authkit.ExternalAPITokens { return hidesExpired{s} },
		[]string{"External/Expiry"}})
}

// hidesExpired looks tokens up as "WHERE expires IS NULL OR expires >
// NOW()": by the store's clock, not the verifier's.
type hidesExpired struct{ *extStore }

func (s hidesExpired) LookupExternalAPIToken(ctx context.Context, tok string) (authkit.APIToken, error) {
	rec, err := s.extStore.LookupExternalAPIToken(ctx, tok)
	if err == nil && !rec.ExpiresAt.IsZero() && !rec.ExpiresAt.After(time.Now()) {
		return authkit.APIToken{}, authkit.ErrNotFound
	}
	return rec, err
}
