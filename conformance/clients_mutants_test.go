package conformance_test

import (
	"context"
	"errors"
	"os"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/authkit-go/authkit"
	"github.com/authkit-go/authkit/backends/memory"
	"github.com/authkit-go/authkit/conformance"
)

// The client checks are only worth running if they fail broken stores:
// each mutant wraps the memory store's ClientStore and breaks one rule of
// authkit.ClientStore (see TestMutants for how a child process runs the
// suite on it).

const clientMutantEnv = "AUTHKIT_CONFORMANCE_CLIENT_MUTANT"

// clientMutant is a mutant of the ClientStore rules.
type clientMutant struct {
	name string
	run  string
	wrap func(*memory.Store) authkit.ClientStore
	want []string
}

var clientMutants = []clientMutant{
	{
		name: "ReRegisterRevivesOld",
		run:  "Clients/DeleteClient",
		// An upsert of the name and CreatedAt alone: the old secret,
		// scopes and redirect URIs come back.
		wrap: func(s *memory.Store) authkit.ClientStore {
			return newReviving(s, func(old, c authkit.Client) authkit.Client {
				old.Name, old.CreatedAt = c.Name, c.CreatedAt
				return old
			})
		},
		want: []string{"DeleteClient", "a client registered again under a deleted client's ID", "SecretHash", "RedirectURIs"},
	},
	{
		name: "CheckThenSetRedeem",
		run:  "Clients/Code/ExactlyOneWinner",
		wrap: func(s *memory.Store) authkit.ClientStore { return newCheckThenSet(s) },
		want: []string{"Code/ExactlyOneWinner", "concurrent RedeemAuthorizationCode calls of one code succeeded", "exactly one succeeds"},
	},
	{
		name: "SecondRedeemSucceeds",
		run:  "Clients/Code/Redeem",
		wrap: func(s *memory.Store) authkit.ClientStore { return secondRedeemSucceeds{s} },
		want: []string{"Code/Redeem", "a second RedeemAuthorizationCode", "returned nil, want an error matching ErrTokenReused", "a code already redeemed yields the stored record"},
	},
	{
		name: "AliasesSlices",
		run:  "Clients/Client/RoundTrip",
		wrap: func(s *memory.Store) authkit.ClientStore { return newAliasing(s) },
		want: []string{"Client/RoundTrip", "after the caller changed its slices", "Scopes: got", "(no aliasing)"},
	},
	{
		name: "ExpiryInclusive",
		run:  "Clients/Code/Expiry",
		wrap: func(s *memory.Store) authkit.ClientStore { return expiryInclusive{s} },
		want: []string{"Code/Expiry", "at its ExpiresAt (ExpiresAt == now)", "(ExpiresAt <= now) yields ErrNotFound"},
	},
	{
		name: "CodesOutliveClient",
		run:  "Clients/DeleteClient",
		wrap: func(s *memory.Store) authkit.ClientStore { return newOutliving(s) },
		want: []string{"DeleteClient", "an unredeemed code of a deleted client", "its authorization codes stop redeeming"},
	},
	{
		name: "NewestFirst",
		run:  "Clients/Client/ListOrder",
		wrap: func(s *memory.Store) authkit.ClientStore { return newestFirst{s} },
		want: []string{"Client/ListOrder", "oldest first (ties by ID"},
	},
	{
		name: "DuplicateReplaces",
		run:  "Clients/Client/Duplicate",
		wrap: func(s *memory.Store) authkit.ClientStore { return duplicateReplaces{s} },
		want: []string{"Client/Duplicate", "yields ErrConflict and stores nothing"},
	},
	{
		name: "CleanupOverLimit",
		run:  "Clients/DeleteExpiredAuthorizationCodes",
		wrap: func(s *memory.Store) authkit.ClientStore { return cleanupOverLimit{s} },
		want: []string{"DeleteExpiredAuthorizationCodes(limit 7) returned", "at most limit codes"},
	},
	{
		name: "SecretKeepsRotatedAt",
		run:  "Clients/SetClientSecret",
		wrap: func(s *memory.Store) authkit.ClientStore { return secretKeepsRotatedAt{s} },
		want: []string{"SetClientSecret", "SecretRotatedAt: got", "set SecretRotatedAt to at"},
	},
	{
		name: "AssertionAlwaysFirstUse",
		run:  "Clients/Assertion/Use",
		wrap: func(s *memory.Store) authkit.ClientStore { return assertionAlwaysFirstUse{s} },
		want: []string{"Assertion/Use", "a second use through another handle", "returned nil, want an error matching ErrTokenReused", "any later use before the record is gone"},
	},
	{
		name: "AssertionCheckThenSet",
		run:  "Clients/Assertion/ExactlyOneWinner",
		wrap: func(s *memory.Store) authkit.ClientStore { return newAssertionTable(s, false) },
		want: []string{"Assertion/ExactlyOneWinner", "concurrent UseClientAssertion calls of one assertion succeeded", "exactly one succeeds"},
	},
	{
		name: "AssertionExpiryInclusive",
		run:  "Clients/Assertion/Expired",
		wrap: func(s *memory.Store) authkit.ClientStore { return newAssertionTable(s, true) },
		want: []string{"Assertion/Expired", "unexpected error", "expiresAt == now", "counts as absent"},
	},
	{
		name: "AssertionsGoWithClient",
		run:  "Clients/Assertion/DeletedClient",
		wrap: func(s *memory.Store) authkit.ClientStore { return newCascading(s) },
		want: []string{"Assertion/DeletedClient", "registered again under the same ID, of an assertion the deleted client used", "DeleteClient does not delete a client's records"},
	},
}

func TestClientMutants(t *testing.T) {
	t.Parallel()
	child := os.Getenv(clientMutantEnv)
	for _, m := range clientMutants {
		t.Run(m.name, func(t *testing.T) {
			if child == m.name {
				conformance.RunClientStore(t, conformance.PartialHarness[authkit.ClientStore]{
					InProcess: true,
					New:       func(t *testing.T) authkit.ClientStore { return m.wrap(memory.New()) },
				})
				return
			}
			expectSuiteFails(t, clientMutantEnv, "TestClientMutants", m.name, m.run, "client store", m.want)
		})
	}
}

// checkThenSet redeems codes from a table of its own in two steps, a read
// and then a write, yielding in between: concurrent redemptions that all
// read before any writes all succeed.
type checkThenSet struct {
	authkit.ClientStore
	mu    sync.Mutex
	codes map[authkit.TokenHash]*authkit.AuthorizationCode
}

func newCheckThenSet(s *memory.Store) *checkThenSet {
	return &checkThenSet{ClientStore: s, codes: map[authkit.TokenHash]*authkit.AuthorizationCode{}}
}

func (s *checkThenSet) CreateAuthorizationCode(ctx context.Context, c authkit.AuthorizationCode) error {
	if err := s.ClientStore.CreateAuthorizationCode(ctx, c); err != nil {
		return err
	}
	c.Scopes, c.Claims = slices.Clone(c.Scopes), slices.Clone(c.Claims)
	s.mu.Lock()
	s.codes[c.Hash] = &c
	s.mu.Unlock()
	return nil
}

func (s *checkThenSet) RedeemAuthorizationCode(ctx context.Context, h authkit.TokenHash, now time.Time) (authkit.AuthorizationCode, error) {
	s.mu.Lock()
	c, ok := s.codes[h]
	var used bool
	var snap authkit.AuthorizationCode
	if ok {
		used, snap = !c.UsedAt.IsZero(), *c
	}
	s.mu.Unlock()
	switch {
	case !ok || !snap.ExpiresAt.After(now):
		return authkit.AuthorizationCode{}, authkit.ErrNotFound
	case used:
		return snap, authkit.ErrTokenReused
	}
	time.Sleep(50 * time.Millisecond) // the window a round trip opens, wide enough for a loaded CI machine (5 ms was missed once)
	s.mu.Lock()
	c.UsedAt = now
	snap = *c
	s.mu.Unlock()
	return snap, nil
}

// secondRedeemSucceeds lets a code be redeemed again.
type secondRedeemSucceeds struct{ authkit.ClientStore }

func (s secondRedeemSucceeds) RedeemAuthorizationCode(ctx context.Context, h authkit.TokenHash, now time.Time) (authkit.AuthorizationCode, error) {
	c, err := s.ClientStore.RedeemAuthorizationCode(ctx, h, now)
	if errors.Is(err, authkit.ErrTokenReused) {
		return c, nil
	}
	return c, err
}

// aliasing keeps the caller's client and hands its slices back on reads,
// as a store that keeps what it is given without copying does.
type aliasing struct {
	authkit.ClientStore
	mu   sync.Mutex
	kept map[string]authkit.Client
}

func newAliasing(s *memory.Store) *aliasing {
	return &aliasing{ClientStore: s, kept: map[string]authkit.Client{}}
}

func (s *aliasing) CreateClient(ctx context.Context, c authkit.Client) error {
	if err := s.ClientStore.CreateClient(ctx, c); err != nil {
		return err
	}
	s.mu.Lock()
	s.kept[c.ID] = c
	s.mu.Unlock()
	return nil
}

func (s *aliasing) GetClient(ctx context.Context, id string) (authkit.Client, error) {
	c, err := s.ClientStore.GetClient(ctx, id)
	s.mu.Lock()
	defer s.mu.Unlock()
	if k, ok := s.kept[id]; ok && err == nil {
		c.JWKS, c.GrantTypes, c.Scopes, c.RedirectURIs = k.JWKS, k.GrantTypes, k.Scopes, k.RedirectURIs
	}
	return c, err
}

// expiryInclusive still redeems a code at its ExpiresAt.
type expiryInclusive struct{ authkit.ClientStore }

func (s expiryInclusive) RedeemAuthorizationCode(ctx context.Context, h authkit.TokenHash, now time.Time) (authkit.AuthorizationCode, error) {
	return s.ClientStore.RedeemAuthorizationCode(ctx, h, now.Add(-time.Microsecond))
}

// outliving keeps a copy of every code and redeems it from there when
// the store no longer has it, as a store that forgets to delete a deleted
// client's codes does.
type outliving struct {
	authkit.ClientStore
	mu    sync.Mutex
	codes map[authkit.TokenHash]authkit.AuthorizationCode
}

func newOutliving(s *memory.Store) *outliving {
	return &outliving{ClientStore: s, codes: map[authkit.TokenHash]authkit.AuthorizationCode{}}
}

func (s *outliving) CreateAuthorizationCode(ctx context.Context, c authkit.AuthorizationCode) error {
	if err := s.ClientStore.CreateAuthorizationCode(ctx, c); err != nil {
		return err
	}
	s.mu.Lock()
	s.codes[c.Hash] = c
	s.mu.Unlock()
	return nil
}

func (s *outliving) RedeemAuthorizationCode(ctx context.Context, h authkit.TokenHash, now time.Time) (authkit.AuthorizationCode, error) {
	c, err := s.ClientStore.RedeemAuthorizationCode(ctx, h, now)
	if !errors.Is(err, authkit.ErrNotFound) {
		return c, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if k, ok := s.codes[h]; ok && k.ExpiresAt.After(now) {
		delete(s.codes, h)
		k.UsedAt = now
		return k, nil
	}
	return c, err
}

// newestFirst lists clients in the reverse order.
type newestFirst struct{ authkit.ClientStore }

func (s newestFirst) ListClients(ctx context.Context) ([]authkit.Client, error) {
	cs, err := s.ClientStore.ListClients(ctx)
	slices.Reverse(cs)
	return cs, err
}

// duplicateReplaces replaces a client registered again under its ID.
type duplicateReplaces struct{ authkit.ClientStore }

func (s duplicateReplaces) CreateClient(ctx context.Context, c authkit.Client) error {
	err := s.ClientStore.CreateClient(ctx, c)
	if errors.Is(err, authkit.ErrConflict) {
		if err := s.ClientStore.DeleteClient(ctx, c.ID); err != nil {
			return err
		}
		return s.ClientStore.CreateClient(ctx, c)
	}
	return err
}

// cleanupOverLimit deletes more codes than asked.
type cleanupOverLimit struct{ authkit.ClientStore }

func (s cleanupOverLimit) DeleteExpiredAuthorizationCodes(ctx context.Context, now time.Time, limit int) (int, error) {
	return s.ClientStore.DeleteExpiredAuthorizationCodes(ctx, now, 2*limit)
}

// secretKeepsRotatedAt changes the secret but not SecretRotatedAt.
type secretKeepsRotatedAt struct{ authkit.ClientStore }

func (s secretKeepsRotatedAt) SetClientSecret(ctx context.Context, id string, h authkit.TokenHash, at time.Time) error {
	c, err := s.ClientStore.GetClient(ctx, id)
	if err != nil {
		return err
	}
	return s.ClientStore.SetClientSecret(ctx, id, h, c.SecretRotatedAt)
}

// assertionAlwaysFirstUse answers every use of a client assertion as its
// first: no replay protection at all.
type assertionAlwaysFirstUse struct{ *memory.Store }

func (s assertionAlwaysFirstUse) UseClientAssertion(ctx context.Context, clientID string, h authkit.TokenHash, expiresAt, now time.Time) error {
	if _, err := s.GetClient(ctx, clientID); err != nil {
		return err
	}
	return nil
}

// assertionTable records assertions in a table of its own. With
// inclusive false it checks and records in two steps, yielding in
// between, so that concurrent uses that all check before any records all
// succeed; with inclusive true it is atomic but treats a record as live
// at its expiresAt.
type assertionTable struct {
	*memory.Store
	inclusive bool
	mu        sync.Mutex
	exp       map[authkit.TokenHash]time.Time
}

func newAssertionTable(s *memory.Store, inclusive bool) *assertionTable {
	return &assertionTable{Store: s, inclusive: inclusive, exp: map[authkit.TokenHash]time.Time{}}
}

func (s *assertionTable) UseClientAssertion(ctx context.Context, clientID string, h authkit.TokenHash, expiresAt, now time.Time) error {
	if _, err := s.GetClient(ctx, clientID); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if e, ok := s.exp[h]; ok && (e.After(now) || s.inclusive && e.Equal(now)) {
		return authkit.ErrTokenReused
	}
	if !s.inclusive {
		s.mu.Unlock()
		time.Sleep(50 * time.Millisecond) // the window a round trip opens, wide enough for a loaded CI machine
		s.mu.Lock()
	}
	s.exp[h] = expiresAt
	return nil
}

// cascading records assertions in a table of its own, atomically, and
// deletes a client's records with the client (as a foreign key's ON
// DELETE CASCADE would).
type cascading struct {
	*memory.Store
	mu  sync.Mutex
	exp map[authkit.TokenHash]time.Time
	by  map[authkit.TokenHash]string
}

func newCascading(s *memory.Store) *cascading {
	return &cascading{Store: s, exp: map[authkit.TokenHash]time.Time{}, by: map[authkit.TokenHash]string{}}
}

func (s *cascading) UseClientAssertion(ctx context.Context, clientID string, h authkit.TokenHash, expiresAt, now time.Time) error {
	if _, err := s.GetClient(ctx, clientID); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if e, ok := s.exp[h]; ok && e.After(now) {
		return authkit.ErrTokenReused
	}
	s.exp[h], s.by[h] = expiresAt, clientID
	return nil
}

func (s *cascading) DeleteClient(ctx context.Context, id string) error {
	if err := s.Store.DeleteClient(ctx, id); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for h, c := range s.by {
		if c == id {
			delete(s.exp, h)
			delete(s.by, h)
		}
	}
	return nil
}

// reviving soft-deletes a client and, when its ID is registered again,
// registers revive(old, new) instead of the new record, as an upsert that
// keeps some of the old columns would.
type reviving struct {
	*memory.Store
	revive  func(old, c authkit.Client) authkit.Client
	mu      sync.Mutex
	deleted map[string]authkit.Client
}

func newReviving(s *memory.Store, revive func(old, c authkit.Client) authkit.Client) *reviving {
	return &reviving{Store: s, revive: revive, deleted: map[string]authkit.Client{}}
}

func (s *reviving) DeleteClient(ctx context.Context, id string) error {
	old, err := s.Store.GetClient(ctx, id)
	if err != nil {
		return s.Store.DeleteClient(ctx, id)
	}
	if err := s.Store.DeleteClient(ctx, id); err != nil {
		return err
	}
	s.mu.Lock()
	s.deleted[id] = old
	s.mu.Unlock()
	return nil
}

func (s *reviving) CreateClient(ctx context.Context, c authkit.Client) error {
	s.mu.Lock()
	old, ok := s.deleted[c.ID]
	delete(s.deleted, c.ID)
	s.mu.Unlock()
	if ok {
		c = s.revive(old, c)
	}
	return s.Store.CreateClient(ctx, c)
}
