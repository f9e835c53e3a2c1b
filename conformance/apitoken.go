package conformance

import (
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/authkit-go/authkit"
)

// The rules of authkit.APITokenStore, quoted in failure messages.
const (
	ruleCreateToken    = "APITokenStore.CreateAPIToken must store t"
	ruleTokenConflict  = "APITokenStore.CreateAPIToken must return ErrConflict for a duplicate ID or hash, and store nothing"
	ruleLimit          = "APITokenStore.CreateAPIToken must store nothing and return ErrLimitExceeded if limit > 0 and t.Subject already has limit or more live tokens at now (revoked and expired tokens are not live); limit 0 means no limit"
	ruleLimitAtomic    = "APITokenStore.CreateAPIToken: the count and the insert are one atomic step, so N concurrent creations never exceed the limit"
	ruleLookupToken    = "APITokenStore.LookupAPIToken must return the token with hash h, live or not, or ErrNotFound"
	ruleListTokens     = "APITokenStore.ListAPITokens must return subject's live tokens at now (see APIToken.Live), newest first; none is an empty result, not an error"
	ruleTokenNotEarly  = "APITokenStore: a call passed now must not drop a token that is not expired at now (a store may collect expired tokens as it goes, never live ones)"
	ruleRevokeAPI      = "APITokenStore.RevokeAPIToken must revoke the token id owned by subject at now (RevokedAt = now)"
	ruleRevokeAPIOwner = "APITokenStore.RevokeAPIToken must return ErrNotFound if subject owns no token id (a token of another subject is \"not found\" too), and leave that token alone"
	ruleRevokeAPITwice = "APITokenStore.RevokeAPIToken: revoking twice is not an error, and RevokedAt stays the first one"
	ruleTouch          = "APITokenStore.TouchAPIToken must set token id's LastUsedAt to at, unless it is already later; ErrNotFound if there is no such token"
	ruleDeleteTokens   = "APITokenStore.DeleteExpiredAPITokens must delete at most limit tokens that are revoked or past ExpiresAt at now and return how many it deleted"
	ruleTokenIsolated  = "a subject's API tokens must never be listed, counted against a limit or revoked through another subject (subjects are compared byte for byte)"
	ruleTokenVisible   = "APITokenStore implementations must be safe for use by many processes sharing the same data: a write through one handle is seen at once through another"
	ruleTokenDurable   = "an APITokenStore must keep its tokens across a reopen"
	ruleTokenCopies    = "an APITokenStore keeps a copy of the Scopes it is given and returns fresh ones: changing the caller's slice after CreateAPIToken, or the slice a read returned, changes nothing stored"
)

// newToken returns a live API token of subject whose hash is
// hashOf("tok-"+id).
func newToken(id, subject string, created time.Time) authkit.APIToken {
	return authkit.APIToken{
		ID:        id,
		Hash:      hashOf("tok-" + id),
		Subject:   subject,
		Name:      "ci deploy",
		Scopes:    []string{"read", "deploy:prod"},
		CreatedAt: created,
	}
}

// scribbleScopes overwrites every element of scopes in place.
func scribbleScopes(scopes []string) {
	for i := range scopes {
		scopes[i] = "scribbled"
	}
}

func createToken(t *testing.T, s authkit.APITokenStore, tok authkit.APIToken, limit int, now time.Time) {
	t.Helper()
	mustOK(t, fmt.Sprintf("CreateAPIToken(%q)", tok.ID), s.CreateAPIToken(t.Context(), tok, limit, now), ruleCreateToken)
}

// createUnderLimit is createToken where the limit must let the token in.
func createUnderLimit(t *testing.T, s authkit.APITokenStore, tok authkit.APIToken, limit int, now time.Time) {
	t.Helper()
	mustOK(t, fmt.Sprintf("CreateAPIToken(%q) with limit %d", tok.ID, limit), s.CreateAPIToken(t.Context(), tok, limit, now), ruleLimit)
}

func lookupToken(t *testing.T, s authkit.APITokenStore, h authkit.TokenHash, rule string) authkit.APIToken {
	t.Helper()
	got, err := s.LookupAPIToken(t.Context(), h)
	mustOK(t, "LookupAPIToken", err, rule)
	return got
}

func wantTokenAbsent(t *testing.T, s authkit.APITokenStore, h authkit.TokenHash, why, rule string) {
	t.Helper()
	_, err := s.LookupAPIToken(t.Context(), h)
	if !errors.Is(err, authkit.ErrNotFound) {
		t.Errorf("LookupAPIToken of %s returned %v, want ErrNotFound; %s", why, errOrNil(err), rule)
	}
}

func listTokens(t *testing.T, s authkit.APITokenStore, subject string, now time.Time) []authkit.APIToken {
	t.Helper()
	got, err := s.ListAPITokens(t.Context(), subject, now)
	mustOK(t, fmt.Sprintf("ListAPITokens(%q)", subject), err, ruleListTokens)
	return got
}

func runAPIToken(t *testing.T, h PartialHarness[authkit.APITokenStore]) {
	t.Run("Create/RoundTrip", func(t *testing.T) {
		a, b := open(t, h)
		expiring := newToken("tok-1", "alice", base)
		expiring.ExpiresAt = at(30 * day)
		used := newToken("tok-2", "alice", base.Add(ms))
		used.LastUsedAt = base.Add(2 * ms)
		used.Scopes = nil
		in := expiring
		in.Scopes = slices.Clone(expiring.Scopes)
		createToken(t, a, in, 0, base)
		createToken(t, a, used, 0, base)
		scribbleScopes(in.Scopes) // the caller reuses its slice
		for _, tok := range []authkit.APIToken{expiring, used} {
			diffAPIToken(lookupToken(t, b, tok.Hash, ruleLookupToken), tok).report(t, "LookupAPIToken of "+tok.ID+" after the caller changed its slice", ruleCreateToken+"; "+ruleTokenCopies)
		}
		scribbleScopes(lookupToken(t, b, expiring.Hash, ruleLookupToken).Scopes) // the caller changes what it read
		diffAPIToken(lookupToken(t, a, expiring.Hash, ruleLookupToken), expiring).report(t, "LookupAPIToken after the Scopes of a read were changed", ruleTokenCopies)
		list := listTokens(t, b, "alice", at(minute))
		if got := tokenIDs(list); !slices.Equal(got, []string{"tok-2", "tok-1"}) {
			t.Fatalf("ListAPITokens returned %q, want [tok-2 tok-1]; %s", got, ruleListTokens)
		}
		diffAPIToken(list[0], used).report(t, "ListAPITokens' copy of tok-2", ruleListTokens)
		diffAPIToken(list[1], expiring).report(t, "ListAPITokens' copy of tok-1", ruleListTokens)
		scribbleScopes(list[1].Scopes)
		diffAPIToken(listTokens(t, a, "alice", at(minute))[1], expiring).report(t, "the token listed after the Scopes of a listing were changed", ruleTokenCopies)
	})

	t.Run("Create/DuplicateID", func(t *testing.T) {
		a, b := open(t, h)
		tok := newToken("tok-1", "alice", base)
		createToken(t, a, tok, 0, base)
		dup := newToken("tok-1", "bob", base.Add(ms))
		dup.Hash = hashOf("another secret")
		wantErr(t, "CreateAPIToken with a taken ID", b.CreateAPIToken(t.Context(), dup, 0, base), authkit.ErrConflict, ruleTokenConflict)
		wantTokenAbsent(t, a, dup.Hash, "a token refused for a duplicate ID", ruleTokenConflict)
		diffAPIToken(lookupToken(t, a, tok.Hash, ruleLookupToken), tok).report(t, "the existing token after a conflicting CreateAPIToken", ruleTokenConflict)
		if got := listTokens(t, a, "bob", at(minute)); len(got) != 0 {
			t.Errorf("ListAPITokens(bob) lists %q after bob's CreateAPIToken was refused; %s", tokenIDs(got), ruleTokenConflict)
		}
	})

	t.Run("Create/DuplicateHash", func(t *testing.T) {
		a, b := open(t, h)
		tok := newToken("tok-1", "alice", base)
		createToken(t, a, tok, 0, base)
		dup := newToken("tok-other", "alice", base.Add(ms))
		dup.Hash = tok.Hash
		wantErr(t, "CreateAPIToken with a taken hash", b.CreateAPIToken(t.Context(), dup, 0, base), authkit.ErrConflict, ruleTokenConflict)
		if got := lookupToken(t, a, tok.Hash, ruleLookupToken); got.ID != tok.ID {
			t.Errorf("the hash now resolves to token %q, want %q; %s", got.ID, tok.ID, ruleTokenConflict)
		}
		wantErr(t, "TouchAPIToken of a token refused for a duplicate hash", a.TouchAPIToken(t.Context(), "tok-other", at(minute)), authkit.ErrNotFound, ruleTokenConflict)
		if got := tokenIDs(listTokens(t, a, "alice", at(minute))); !slices.Equal(got, []string{"tok-1"}) {
			t.Errorf("ListAPITokens returned %q, want [tok-1]; %s", got, ruleTokenConflict)
		}
		// A revoked token's hash and ID stay taken (a unique index over
		// live tokens only accepted them; found by review).
		mustOK(t, "RevokeAPIToken", a.RevokeAPIToken(t.Context(), "alice", "tok-1", at(2*minute)), ruleRevokeAPI)
		wantErr(t, "CreateAPIToken with a revoked token's hash", b.CreateAPIToken(t.Context(), dup, 0, at(3*minute)), authkit.ErrConflict, ruleTokenConflict)
		again := newToken("tok-1", "alice", at(3*minute))
		wantErr(t, "CreateAPIToken with a revoked token's ID", b.CreateAPIToken(t.Context(), again, 0, at(3*minute)), authkit.ErrConflict, ruleTokenConflict)
		if got := lookupToken(t, a, tok.Hash, ruleLookupToken); got.ID != tok.ID || got.Live(at(4*minute)) {
			t.Errorf("the revoked token's hash now resolves to token %q (live %v), want the revoked %q; %s", got.ID, got.Live(at(4*minute)), tok.ID, ruleTokenConflict)
		}
	})

	// A hash is unique across subjects, not per subject.
	t.Run("Create/DuplicateHashOtherSubject", func(t *testing.T) {
		a, b := open(t, h)
		tok := newToken("tok-1", "alice", base)
		createToken(t, a, tok, 0, base)
		dup := newToken("tok-bob", "bob", base.Add(ms))
		dup.Hash = tok.Hash
		wantErr(t, "CreateAPIToken of bob's token with alice's token's hash", b.CreateAPIToken(t.Context(), dup, 0, base), authkit.ErrConflict, ruleTokenConflict)
		if got := lookupToken(t, a, tok.Hash, ruleLookupToken); got.ID != tok.ID || got.Subject != tok.Subject {
			t.Errorf("the hash now resolves to %q's token %q, want alice's %q; %s", got.Subject, got.ID, tok.ID, ruleTokenConflict)
		}
		if got := listTokens(t, a, "bob", at(minute)); len(got) != 0 {
			t.Errorf("ListAPITokens(bob) lists %q after bob's CreateAPIToken was refused; %s", tokenIDs(got), ruleTokenConflict)
		}
	})

	t.Run("Lookup/NotFound", func(t *testing.T) {
		a, _ := open(t, h)
		_, err := a.LookupAPIToken(t.Context(), hashOf("never-stored"))
		wantErr(t, "LookupAPIToken of an unknown hash", err, authkit.ErrNotFound, ruleLookupToken)
	})

	// A hash is matched whole: one that differs from a stored hash in its
	// first or last byte finds nothing (found by review: a store keyed by
	// a prefix of the hash passed every other check).
	t.Run("Lookup/NearMiss", func(t *testing.T) {
		a, b := open(t, h)
		tok := newToken("tok-1", "alice", base)
		createToken(t, a, tok, 0, base)
		for _, i := range []int{0, len(tok.Hash) / 2, len(tok.Hash) - 1} {
			near := tok.Hash
			near[i] ^= 1
			_, err := b.LookupAPIToken(t.Context(), near)
			wantErr(t, fmt.Sprintf("LookupAPIToken of a hash that differs from a stored one in byte %d", i), err, authkit.ErrNotFound, ruleLookupToken)
		}
	})

	t.Run("ReadersDuringWrites", func(t *testing.T) {
		a, b := open(t, h)
		const n = 32
		errs := readDuringWrites(n, func(i int) error {
			tok := newToken(fmt.Sprint("tok-", i), fmt.Sprint("user-", i%4), base)
			if err := a.CreateAPIToken(t.Context(), tok, 0, base); err != nil {
				return err
			}
			if i%2 == 0 {
				return a.TouchAPIToken(t.Context(), tok.ID, at(minute))
			}
			return a.RevokeAPIToken(t.Context(), tok.Subject, tok.ID, at(minute))
		}, func(k int) error {
			if k%2 == 0 {
				_, err := b.ListAPITokens(t.Context(), fmt.Sprint("user-", k%4), at(2*minute))
				return err
			}
			_, err := b.LookupAPIToken(t.Context(), hashOf(fmt.Sprint("tok-tok-", k%n)))
			if errors.Is(err, authkit.ErrNotFound) {
				err = nil // not written yet
			}
			return err
		})
		for _, err := range errs {
			mustOK(t, "a write, LookupAPIToken or ListAPITokens while others wrote", err, ruleLookupToken)
		}
		for i := range n {
			got := lookupToken(t, b, hashOf(fmt.Sprint("tok-tok-", i)), ruleLookupToken)
			if revoked := !got.RevokedAt.IsZero(); revoked != (i%2 == 1) {
				t.Errorf("token %d written while readers read: revoked %v, want %v; %s", i, revoked, i%2 == 1, ruleRevokeAPI)
			}
		}
	})

	t.Run("Lookup/Revoked", func(t *testing.T) {
		a, b := open(t, h)
		tok := newToken("tok-1", "alice", base)
		createToken(t, a, tok, 0, base)
		mustOK(t, "RevokeAPIToken", a.RevokeAPIToken(t.Context(), "alice", "tok-1", at(minute)), ruleRevokeAPI)
		want := tok
		want.RevokedAt = at(minute)
		diffAPIToken(lookupToken(t, b, tok.Hash, ruleLookupToken), want).report(t, "LookupAPIToken of a revoked token", ruleLookupToken+"; "+ruleRevokeAPI)
	})

	t.Run("Limit/Enforced", func(t *testing.T) {
		a, b := open(t, h)
		for i := range 3 {
			createUnderLimit(t, a, newToken(fmt.Sprintf("tok-%d", i), "alice", base.Add(time.Duration(i)*ms)), 3, base)
		}
		over := newToken("tok-over", "alice", base.Add(10*ms))
		wantErr(t, "CreateAPIToken of a 4th token with limit 3", b.CreateAPIToken(t.Context(), over, 3, base), authkit.ErrLimitExceeded, ruleLimit)
		wantErr(t, "CreateAPIToken of a 4th token with limit 2", b.CreateAPIToken(t.Context(), over, 2, base), authkit.ErrLimitExceeded, ruleLimit)
		wantTokenAbsent(t, a, over.Hash, "a token refused for the limit", ruleLimit)
		if got := listTokens(t, a, "alice", at(minute)); len(got) != 3 {
			t.Errorf("ListAPITokens returned %d tokens after the limit refused one, want 3; %s", len(got), ruleLimit)
		}
		createUnderLimit(t, b, over, 4, at(minute))
	})

	t.Run("Limit/Zero", func(t *testing.T) {
		a, _ := open(t, h)
		for i := range 5 {
			createUnderLimit(t, a, newToken(fmt.Sprintf("tok-%d", i), "alice", base.Add(time.Duration(i)*ms)), 0, base)
		}
	})

	t.Run("Limit/RevokedAndExpiredDoNotCount", func(t *testing.T) {
		a, b := open(t, h)
		createUnderLimit(t, a, newToken("forever", "alice", base), 2, base)
		expiring := newToken("expiring", "alice", base.Add(ms))
		expiring.ExpiresAt = at(hour)
		createUnderLimit(t, a, expiring, 2, base)
		// At base+1h "expiring" has expired (ExpiresAt == now): one live token.
		createUnderLimit(t, b, newToken("third", "alice", at(hour)), 2, at(hour))
		wantErr(t, "CreateAPIToken with 2 live tokens and limit 2", b.CreateAPIToken(t.Context(), newToken("fourth", "alice", at(hour+minute)), 2, at(hour+minute)), authkit.ErrLimitExceeded, ruleLimit)
		mustOK(t, "RevokeAPIToken", a.RevokeAPIToken(t.Context(), "alice", "forever", at(hour+2*minute)), ruleRevokeAPI)
		createUnderLimit(t, b, newToken("fifth", "alice", at(hour+3*minute)), 2, at(hour+3*minute))
		// Revoked by a replica whose clock is ahead (RevokedAt after the
		// creation's now): a revoked token is not live at any now
		// (APIToken.Live), so it does not count (a count of "revoked_at IS
		// NULL OR revoked_at > now" refused this; found by review).
		createUnderLimit(t, a, newToken("bob-1", "bob", base), 1, base)
		mustOK(t, "RevokeAPIToken", a.RevokeAPIToken(t.Context(), "bob", "bob-1", at(2*minute)), ruleRevokeAPI)
		createUnderLimit(t, b, newToken("bob-2", "bob", at(minute)), 1, at(minute))
	})

	t.Run("Limit/PerSubject", func(t *testing.T) {
		a, b := open(t, h)
		createUnderLimit(t, a, newToken("alice-1", "alice", base), 1, base)
		for i, subj := range []string{"bob", "Alice", "alice ", "alicé"} {
			createUnderLimit(t, b, newToken(fmt.Sprintf("other-%d", i), subj, base), 1, base)
		}
		wantErr(t, "CreateAPIToken of alice's 2nd token with limit 1", a.CreateAPIToken(t.Context(), newToken("alice-2", "alice", base), 1, base), authkit.ErrLimitExceeded, ruleLimit+"; "+ruleTokenIsolated)
	})

	t.Run("Limit/Concurrent", func(t *testing.T) {
		a, b := open(t, h)
		const n, limit = 32, 5
		errs := make([]error, n)
		together(n, a, b, func(i int, s authkit.APITokenStore) func() {
			tok := newToken(fmt.Sprintf("race-%02d", i), "alice", base.Add(time.Duration(i)*ms))
			return func() { errs[i] = s.CreateAPIToken(t.Context(), tok, limit, at(minute)) }
		})
		wins := 0
		for i, err := range errs {
			switch {
			case err == nil:
				wins++
				lookupToken(t, a, hashOf(fmt.Sprintf("tok-race-%02d", i)), "a successful CreateAPIToken must store its token; "+ruleLookupToken)
			case errors.Is(err, authkit.ErrLimitExceeded):
				wantTokenAbsent(t, a, hashOf(fmt.Sprintf("tok-race-%02d", i)), "a token refused for the limit", ruleLimit)
			default:
				t.Errorf("a concurrent CreateAPIToken returned %v, want nil or ErrLimitExceeded; %s", err, ruleLimitAtomic)
			}
		}
		if wins != limit {
			t.Errorf("%d of %d concurrent CreateAPIToken calls with limit %d succeeded, want exactly %d; %s", wins, n, limit, limit, ruleLimitAtomic)
		}
		if got := listTokens(t, b, "alice", at(2*minute)); len(got) != limit {
			t.Errorf("after %d concurrent creations with limit %d, ListAPITokens returned %d tokens; %s", n, limit, len(got), ruleLimitAtomic)
		}
	})

	// The same race again, many rounds, each at a subject of its own:
	// a store that counts and inserts in two steps without latency
	// between them loses it only now and then.
	t.Run("Limit/ConcurrentRounds", func(t *testing.T) {
		a, b := open(t, h)
		const n, limit = 16, 3
		repeatRace(func(r int) bool {
			subject := fmt.Sprintf("racer-%03d", r)
			errs := make([]error, n)
			together(n, a, b, func(i int, s authkit.APITokenStore) func() {
				tok := newToken(fmt.Sprintf("round-%03d-%02d", r, i), subject, base.Add(time.Duration(i)*ms))
				return func() { errs[i] = s.CreateAPIToken(t.Context(), tok, limit, at(minute)) }
			})
			wins := 0
			for _, err := range errs {
				switch {
				case err == nil:
					wins++
				case !errors.Is(err, authkit.ErrLimitExceeded):
					t.Errorf("round %d: a concurrent CreateAPIToken returned %v, want nil or ErrLimitExceeded; %s", r, err, ruleLimitAtomic)
					return false
				}
			}
			if wins != limit {
				t.Errorf("round %d: %d of %d concurrent CreateAPIToken calls with limit %d succeeded, want exactly %d; %s", r, wins, n, limit, limit, ruleLimitAtomic)
				return false
			}
			return true
		})
	})

	t.Run("List/Empty", func(t *testing.T) {
		a, _ := open(t, h)
		got, err := a.ListAPITokens(t.Context(), "nobody", base)
		mustOK(t, "ListAPITokens of a subject with no tokens", err, ruleListTokens)
		if len(got) != 0 {
			t.Errorf("ListAPITokens of a subject with no tokens returned %q; %s", tokenIDs(got), ruleListTokens)
		}
	})

	t.Run("List/NewestFirst", func(t *testing.T) {
		a, b := open(t, h)
		for i, off := range []time.Duration{3 * ms, 1 * ms, 4 * ms, 2 * ms} {
			createToken(t, a, newToken(fmt.Sprintf("tok-%d", i), "alice", base.Add(off)), 0, base)
		}
		if got, want := tokenIDs(listTokens(t, b, "alice", at(minute))), []string{"tok-2", "tok-0", "tok-3", "tok-1"}; !slices.Equal(got, want) {
			t.Errorf("ListAPITokens returned %q, want %q (by CreatedAt); %s", got, want, ruleListTokens)
		}
	})

	t.Run("List/LiveOnly", func(t *testing.T) {
		a, b := open(t, h)
		now := at(hour)
		mk := func(id string, created time.Time, edit func(*authkit.APIToken)) {
			tok := newToken(id, "alice", created)
			edit(&tok)
			createToken(t, a, tok, 0, base)
		}
		mk("forever", at(1*ms), func(*authkit.APIToken) {})
		mk("edge", at(2*ms), func(tok *authkit.APIToken) { tok.ExpiresAt = now })
		mk("just-live", at(3*ms), func(tok *authkit.APIToken) { tok.ExpiresAt = now.Add(micro) })
		mk("revoked", at(4*ms), func(*authkit.APIToken) {})
		mk("bob", at(5*ms), func(tok *authkit.APIToken) { tok.Subject = "bob" })
		mustOK(t, "RevokeAPIToken", a.RevokeAPIToken(t.Context(), "alice", "revoked", at(minute)), ruleRevokeAPI)
		if got, want := tokenIDs(listTokens(t, b, "alice", now)), []string{"just-live", "forever"}; !slices.Equal(got, want) {
			t.Errorf("ListAPITokens at %s returned %q, want %q: a token whose ExpiresAt is <= now, or that is revoked, is not live; %s", fmtTime(now), got, want, ruleListTokens)
		}
	})

	// A token revoked by a clock that is ahead lists as revoked at any
	// now: RevokedAt after now does not make it live.
	t.Run("List/RevokedAheadOfNow", func(t *testing.T) {
		a, b := open(t, h)
		createToken(t, a, newToken("tok-1", "alice", base), 0, base)
		mustOK(t, "RevokeAPIToken", a.RevokeAPIToken(t.Context(), "alice", "tok-1", at(2*minute)), ruleRevokeAPI)
		if got := listTokens(t, b, "alice", at(minute)); len(got) != 0 {
			t.Errorf("ListAPITokens at %s lists %q, revoked at %s: a revoked token is not live, whatever the clocks (APIToken.Live); %s", fmtTime(at(minute)), tokenIDs(got), fmtTime(at(2*minute)), ruleListTokens)
		}
	})

	t.Run("Revoke/HappyPath", func(t *testing.T) {
		a, b := open(t, h)
		tok := newToken("tok-1", "alice", base)
		createToken(t, a, tok, 0, base)
		mustOK(t, "RevokeAPIToken", b.RevokeAPIToken(t.Context(), "alice", "tok-1", at(minute)), ruleRevokeAPI)
		if got := lookupToken(t, a, tok.Hash, ruleLookupToken); !sameInstant(got.RevokedAt, at(minute)) {
			t.Errorf("after RevokeAPIToken at %s the token has RevokedAt %s; %s", fmtTime(at(minute)), fmtTime(got.RevokedAt), ruleRevokeAPI)
		}
		if got := listTokens(t, a, "alice", at(2*minute)); len(got) != 0 {
			t.Errorf("ListAPITokens lists %q after it was revoked; %s", tokenIDs(got), ruleListTokens)
		}
	})

	// A token past its expiry at the revocation's now, as a verifier with
	// a slower clock may still accept it: the revocation marks it, or the
	// store has removed it (its cleanup may run at any time); never left
	// unmarked (found by review: a store answering ErrNotFound for it and
	// keeping it, as "AND expires_at > now" would, passed).
	t.Run("Revoke/Expired", func(t *testing.T) {
		a, b := open(t, h)
		tok := newToken("tok-1", "alice", base)
		tok.ExpiresAt = at(minute)
		createToken(t, a, tok, 0, base)
		if err := b.RevokeAPIToken(t.Context(), "alice", "tok-1", at(hour)); err != nil && !errors.Is(err, authkit.ErrNotFound) {
			t.Fatalf("RevokeAPIToken of a token expired at its now: %v; %s", err, ruleRevokeAPI)
		}
		got, err := a.LookupAPIToken(t.Context(), tok.Hash)
		switch {
		case errors.Is(err, authkit.ErrNotFound):
		case err != nil:
			t.Fatalf("LookupAPIToken: %v; %s", err, ruleLookupToken)
		case got.RevokedAt.IsZero():
			t.Errorf("after RevokeAPIToken at %s of a token that expired at %s, it is kept and not revoked (a verifier whose clock is behind accepts it); %s", fmtTime(at(hour)), fmtTime(at(minute)), ruleRevokeAPI)
		}
	})

	t.Run("Revoke/NotFound", func(t *testing.T) {
		a, _ := open(t, h)
		wantErr(t, "RevokeAPIToken of an unknown ID", a.RevokeAPIToken(t.Context(), "alice", "never-stored", base), authkit.ErrNotFound, ruleRevokeAPIOwner)
	})

	t.Run("Revoke/WrongSubject", func(t *testing.T) {
		a, b := open(t, h)
		tok := newToken("tok-1", "alice", base)
		createToken(t, a, tok, 0, base)
		for _, subj := range []string{"bob", "Alice", "alice ", ""} {
			wantErr(t, fmt.Sprintf("RevokeAPIToken(%q, alice's token)", subj), b.RevokeAPIToken(t.Context(), subj, "tok-1", at(minute)), authkit.ErrNotFound, ruleRevokeAPIOwner)
		}
		// IDs compare byte for byte too (found by review: a collation that
		// folds case and ignores trailing spaces revoked tok-1).
		for _, id := range []string{"TOK-1", "tok-1 ", "Tok-1"} {
			wantErr(t, fmt.Sprintf("RevokeAPIToken(alice, %q) with only tok-1 stored", id), b.RevokeAPIToken(t.Context(), "alice", id, at(minute)), authkit.ErrNotFound, ruleRevokeAPIOwner+"; "+ruleTokenIsolated)
		}
		if got := lookupToken(t, a, tok.Hash, ruleLookupToken); !got.Live(at(2 * minute)) {
			t.Errorf("alice's token is no longer live (RevokedAt %s) after other subjects tried to revoke it; %s", fmtTime(got.RevokedAt), ruleRevokeAPIOwner)
		}
	})

	t.Run("Revoke/Twice", func(t *testing.T) {
		a, b := open(t, h)
		createToken(t, a, newToken("tok-1", "alice", base), 0, base)
		mustOK(t, "RevokeAPIToken", a.RevokeAPIToken(t.Context(), "alice", "tok-1", at(minute)), ruleRevokeAPI)
		mustOK(t, "a second RevokeAPIToken", b.RevokeAPIToken(t.Context(), "alice", "tok-1", at(2*minute)), ruleRevokeAPITwice)
		if got := lookupToken(t, a, hashOf("tok-tok-1"), ruleLookupToken); !sameInstant(got.RevokedAt, at(minute)) {
			t.Errorf("after revoking twice the token has RevokedAt %s, want the first revocation's %s; %s", fmtTime(got.RevokedAt), fmtTime(at(minute)), ruleRevokeAPITwice)
		}
	})

	t.Run("Touch/NeverBackwards", func(t *testing.T) {
		a, b := open(t, h)
		tok := newToken("tok-1", "alice", base)
		createToken(t, a, tok, 0, base)
		for _, step := range []struct {
			at, want time.Time
			why      string
		}{
			{at(hour), at(hour), "the first touch"},
			{at(30 * minute), at(hour), "an older touch must not move LastUsedAt backwards"},
			{at(hour), at(hour), "the same time again"},
			{at(2 * hour), at(2 * hour), "a later touch"},
		} {
			mustOK(t, "TouchAPIToken", b.TouchAPIToken(t.Context(), "tok-1", step.at), ruleTouch)
			if got := lookupToken(t, a, tok.Hash, ruleLookupToken); !sameInstant(got.LastUsedAt, step.want) {
				t.Errorf("after TouchAPIToken at %s LastUsedAt is %s, want %s (%s); %s", fmtTime(step.at), fmtTime(got.LastUsedAt), fmtTime(step.want), step.why, ruleTouch)
			}
		}
	})

	// A touch changes LastUsedAt and nothing else: a store that writes the
	// token back without its expiry (an upsert of a partial record, a
	// Redis SET without KEEPTTL) makes every used token live for ever.
	t.Run("Touch/ChangesNothingElse", func(t *testing.T) {
		a, b := open(t, h)
		tok := newToken("tok-1", "alice", base)
		tok.ExpiresAt = at(hour)
		createToken(t, a, tok, 0, base)
		mustOK(t, "TouchAPIToken", b.TouchAPIToken(t.Context(), "tok-1", at(10*minute)), ruleTouch)
		want := tok
		want.LastUsedAt = at(10 * minute)
		got := lookupToken(t, a, tok.Hash, ruleLookupToken)
		diffAPIToken(got, want).report(t, "LookupAPIToken after TouchAPIToken", ruleTouch)
		if got.Live(at(2 * hour)) {
			t.Errorf("after TouchAPIToken the token is live an hour after it expired (ExpiresAt %s); %s", fmtTime(got.ExpiresAt), ruleTouch)
		}
	})

	// A store that collects expired tokens as it writes (memory does,
	// native TTLs may) collects only what is expired at the now it was
	// passed (found missing by mutation testing: a collection a minute
	// ahead dropped a token still live for 30 seconds).
	t.Run("Writes/LiveTokenKept", func(t *testing.T) {
		a, b := open(t, h)
		end := at(hour)
		now := end.Add(-30 * time.Second)
		tok := newToken("tok-1", "alice", base)
		tok.ExpiresAt = end
		createToken(t, a, tok, 0, base)
		createToken(t, a, newToken("tok-2", "alice", at(ms)), 0, base)
		createToken(t, b, newToken("tok-3", "bob", now), 0, now)
		mustOK(t, "TouchAPIToken", b.TouchAPIToken(t.Context(), "tok-2", now), ruleTouch)
		mustOK(t, "RevokeAPIToken", b.RevokeAPIToken(t.Context(), "alice", "tok-2", now), ruleRevokeAPI)
		if got := lookupToken(t, a, tok.Hash, ruleTokenNotEarly); got.ID != tok.ID {
			t.Errorf("LookupAPIToken 30 seconds before the token's ExpiresAt, after writes at that time, returned %q; %s", got.ID, ruleTokenNotEarly)
		}
		if got := tokenIDs(listTokens(t, a, "alice", now)); !slices.Equal(got, []string{"tok-1"}) {
			t.Errorf("ListAPITokens 30 seconds before tok-1's ExpiresAt returned %q, want [tok-1]; %s", got, ruleTokenNotEarly)
		}
	})

	t.Run("Touch/NotFound", func(t *testing.T) {
		a, _ := open(t, h)
		wantErr(t, "TouchAPIToken of an unknown ID", a.TouchAPIToken(t.Context(), "never-stored", base), authkit.ErrNotFound, ruleTouch)
	})

	t.Run("DeleteExpiredAPITokens/WhatIsGarbage", func(t *testing.T) {
		a, b := open(t, h)
		setupGarbageTokens(t, a)
		n, err := b.DeleteExpiredAPITokens(t.Context(), at(2*hour), 1000)
		mustOK(t, "DeleteExpiredAPITokens", err, ruleDeleteTokens)
		if n != 4 {
			t.Errorf("DeleteExpiredAPITokens returned %d, want 4 (expired at now, revoked, both, created revoked); %s", n, ruleDeleteTokens)
		}
		checkGarbageTokensGone(t, a)
		n, err = b.DeleteExpiredAPITokens(t.Context(), at(2*hour), 1000)
		mustOK(t, "DeleteExpiredAPITokens", err, ruleDeleteTokens)
		if n != 0 {
			t.Errorf("a second DeleteExpiredAPITokens returned %d, want 0; %s", n, ruleDeleteTokens)
		}
	})

	t.Run("DeleteExpiredAPITokens/Limit", func(t *testing.T) {
		a, b := open(t, h)
		setupGarbageTokens(t, a)
		total := drain(t, "DeleteExpiredAPITokens", 1, 4, ruleDeleteTokens, func(limit int) (int, error) {
			return b.DeleteExpiredAPITokens(t.Context(), at(2*hour), limit)
		})
		if total != 4 {
			t.Errorf("DeleteExpiredAPITokens with limit 1, repeated while it returned 1, deleted %d in all, want 4; %s", total, ruleDeleteTokens)
		}
		checkGarbageTokensGone(t, a)
	})

	t.Run("Scale", func(t *testing.T) { apiTokenScale(t, h) })

	t.Run("SubjectIsolation", func(t *testing.T) {
		a, b := open(t, h)
		for i, subj := range oddSubjects {
			createToken(t, a, newToken(fmt.Sprintf("iso-%d", i), subj, base.Add(time.Duration(i)*ms)), 1, base)
		}
		now := at(minute)
		for i, subj := range oddSubjects {
			got := listTokens(t, b, subj, now)
			if ids := tokenIDs(got); !slices.Equal(ids, []string{fmt.Sprintf("iso-%d", i)}) {
				t.Errorf("ListAPITokens(%q) returned %q, want only iso-%d; %s", subj, ids, i, ruleTokenIsolated)
				continue
			}
			if got[0].Subject != subj {
				t.Errorf("token iso-%d came back with Subject %q, want %q byte for byte; %s", i, got[0].Subject, subj, ruleTokenIsolated)
			}
			other := oddSubjects[(i+1)%len(oddSubjects)]
			wantErr(t, fmt.Sprintf("RevokeAPIToken(%q, token of %q)", other, subj), a.RevokeAPIToken(t.Context(), other, fmt.Sprintf("iso-%d", i), now), authkit.ErrNotFound, ruleRevokeAPIOwner)
		}
		for i, subj := range oddSubjects {
			wantErr(t, fmt.Sprintf("CreateAPIToken of a 2nd token for %q with limit 1", subj), b.CreateAPIToken(t.Context(), newToken(fmt.Sprintf("iso2-%d", i), subj, now), 1, now), authkit.ErrLimitExceeded, ruleLimit)
			if l := listTokens(t, a, subj, now); len(l) != 1 {
				t.Errorf("ListAPITokens(%q) returned %q, want its one token; %s", subj, tokenIDs(l), ruleTokenIsolated)
			}
		}
	})

	t.Run("OddInput", func(t *testing.T) {
		a, b := open(t, h)
		long := newToken("tok-long", "👩🏽‍💻", base)
		long.Name = utf8Text(1024)
		long.Scopes = make([]string, 100)
		for i := range long.Scopes {
			long.Scopes[i] = fmt.Sprintf("scope:%d/ü", i)
		}
		empty := newToken("tok-empty", "👩🏽‍💻", base.Add(ms))
		empty.Name, empty.Scopes = "", []string{}
		nils := newToken("tok-nil", "👩🏽‍💻", base.Add(2*ms))
		nils.Scopes = nil
		id := newToken("ünïcode id/with:odd%chars_*", "👩🏽‍💻", base.Add(3*ms))
		for _, tok := range []authkit.APIToken{long, empty, nils, id} {
			createToken(t, a, tok, 0, base)
			diffAPIToken(lookupToken(t, b, tok.Hash, ruleLookupToken), tok).report(t, "token "+tok.ID, ruleCreateToken)
		}
		mustOK(t, "TouchAPIToken", b.TouchAPIToken(t.Context(), id.ID, at(minute)), ruleTouch)
		mustOK(t, "RevokeAPIToken", b.RevokeAPIToken(t.Context(), id.Subject, id.ID, at(2*minute)), ruleRevokeAPI)
		if got := tokenIDs(listTokens(t, a, "👩🏽‍💻", at(3*minute))); !slices.Equal(got, []string{"tok-nil", "tok-empty", "tok-long"}) {
			t.Errorf("ListAPITokens returned %q, want [tok-nil tok-empty tok-long]; %s", got, ruleListTokens)
		}
	})

	t.Run("Timestamps", func(t *testing.T) {
		a, b := open(t, h)
		zone := time.FixedZone("UTC-03:30", -(3*3600 + 30*60))
		tok := newToken("tok-ts", "alice", time.Date(2030, time.January, 1, 23, 34, 5, 123456789, zone)) // base + 789ns
		tok.ExpiresAt = tok.CreatedAt.Add(30*day + 1)
		tok.LastUsedAt = tok.CreatedAt.Add(999).In(time.Local)
		createToken(t, a, tok, 0, base)
		diffAPIToken(lookupToken(t, b, tok.Hash, ruleLookupToken), tok).report(t, "a token written with nanoseconds and a -03:30 zone (compared to the microsecond)", ruleCreateToken)
		touched := time.Date(2030, time.January, 2, 4, 4, 5, 1, time.UTC).In(zone)
		mustOK(t, "TouchAPIToken", a.TouchAPIToken(t.Context(), tok.ID, touched), ruleTouch)
		if got := lookupToken(t, b, tok.Hash, ruleLookupToken); !sameInstant(got.LastUsedAt, touched) {
			t.Errorf("LastUsedAt is %s after TouchAPIToken at %s; %s", fmtTime(got.LastUsedAt), fmtTime(touched), ruleTouch)
		}
	})

	t.Run("Peer/Visibility", func(t *testing.T) {
		a, b := open(t, h)
		if h.Peer == nil {
			noPeer(t, h, a)
		}
		tok := newToken("tok-1", "alice", base)
		createToken(t, a, tok, 0, base)
		diffAPIToken(lookupToken(t, b, tok.Hash, ruleLookupToken), tok).report(t, "the peer's view of a new token", ruleTokenVisible)
		mustOK(t, "TouchAPIToken", b.TouchAPIToken(t.Context(), tok.ID, at(minute)), ruleTouch)
		if got := lookupToken(t, a, tok.Hash, ruleLookupToken); !sameInstant(got.LastUsedAt, at(minute)) {
			t.Errorf("a touch through one handle is not visible through the other; %s", ruleTokenVisible)
		}
		mustOK(t, "RevokeAPIToken", a.RevokeAPIToken(t.Context(), "alice", tok.ID, at(2*minute)), ruleRevokeAPI)
		if got := lookupToken(t, b, tok.Hash, ruleLookupToken); got.RevokedAt.IsZero() {
			t.Errorf("a revocation through one handle is not visible through the other; %s", ruleTokenVisible)
		}

		// A verifier looks a token up, another handle revokes it, then the
		// verifier records the use: the touch must change LastUsedAt only,
		// never write back the token as it was read (live again).
		tok2 := newToken("tok-2", "alice", base)
		createToken(t, a, tok2, 0, base)
		lookupToken(t, b, tok2.Hash, ruleLookupToken)
		mustOK(t, "RevokeAPIToken", a.RevokeAPIToken(t.Context(), "alice", tok2.ID, at(3*minute)), ruleRevokeAPI)
		mustOK(t, "TouchAPIToken", b.TouchAPIToken(t.Context(), tok2.ID, at(4*minute)), ruleTouch)
		for i, s := range []authkit.APITokenStore{a, b} {
			if got := lookupToken(t, s, tok2.Hash, ruleLookupToken); !sameInstant(got.RevokedAt, at(3*minute)) {
				t.Errorf("through handle %d, a token revoked and then touched through the other handle has RevokedAt %s, want %s; %s", i, fmtTime(got.RevokedAt), fmtTime(at(3*minute)), ruleTouch+"; "+ruleTokenVisible)
			}
		}
	})

	// A subject of 1024 bytes (the largest the issuer accepts) and one
	// that differs only in its last byte.
	t.Run("LongSubjects", func(t *testing.T) {
		a, b := open(t, h)
		subjA, subjB := longPair("s")
		tok := newToken("tok-long", subjA, base)
		createToken(t, a, tok, 0, base)
		if l := listTokens(t, b, subjA, at(minute)); len(l) != 1 || l[0].ID != tok.ID || l[0].Subject != subjA {
			t.Errorf("ListAPITokens of a 1024-byte subject returned %d tokens, want the one with its subject byte for byte; %s", len(l), ruleTokenVisible)
		}
		if l := listTokens(t, b, subjB, at(minute)); len(l) != 0 {
			t.Errorf("ListAPITokens of a subject that differs in its last byte returned %d tokens, want none", len(l))
		}
		err := b.RevokeAPIToken(t.Context(), subjB, tok.ID, at(minute))
		wantErr(t, "RevokeAPIToken under a subject that differs in its last byte", err, authkit.ErrNotFound, ruleRevokeAPI)
		mustOK(t, "RevokeAPIToken", b.RevokeAPIToken(t.Context(), subjA, tok.ID, at(minute)), ruleRevokeAPI)
		if got := lookupToken(t, a, tok.Hash, ruleLookupToken); got.RevokedAt.IsZero() {
			t.Errorf("a token of a 1024-byte subject is not revoked after RevokeAPIToken; %s", ruleRevokeAPI)
		}
	})

	t.Run("Reopen", func(t *testing.T) {
		a, _ := open(t, h)
		tok := newToken("tok-1", "alice", base)
		tok.ExpiresAt = at(30 * day)
		createToken(t, a, tok, 0, base)
		mustOK(t, "TouchAPIToken", a.TouchAPIToken(t.Context(), tok.ID, at(minute)), ruleTouch)
		gone := newToken("tok-gone", "alice", base.Add(ms))
		createToken(t, a, gone, 0, base)
		mustOK(t, "RevokeAPIToken", a.RevokeAPIToken(t.Context(), "alice", gone.ID, at(2*minute)), ruleRevokeAPI)
		c, ok := reopen(t, h, a)
		if !ok {
			return
		}
		want := tok
		want.LastUsedAt = at(minute)
		diffAPIToken(lookupToken(t, c, tok.Hash, ruleLookupToken), want).report(t, "a token after reopening", ruleTokenDurable)
		wantGone := gone
		wantGone.RevokedAt = at(2 * minute)
		diffAPIToken(lookupToken(t, c, gone.Hash, ruleLookupToken), wantGone).report(t, "a revoked token after reopening", ruleTokenDurable)
	})

	t.Run("Context", func(t *testing.T) { apiTokenContext(t, h) })
	t.Run("Unavailable", func(t *testing.T) { apiTokenUnavailable(t, h) })
	t.Run("Stalled", func(t *testing.T) { apiTokenStalled(t, h) })
}

// setupGarbageTokens writes the tokens the DeleteExpiredAPITokens checks
// judge at base+2h, when exactly three are garbage.
func setupGarbageTokens(t *testing.T, s authkit.APITokenStore) {
	t.Helper()
	mk := func(id string, edit func(*authkit.APIToken)) {
		tok := newToken(id, "alice", base)
		edit(&tok)
		createToken(t, s, tok, 0, base)
	}
	mk("forever", func(*authkit.APIToken) {})
	mk("expired", func(tok *authkit.APIToken) { tok.ExpiresAt = at(2 * hour) })
	mk("edge", func(tok *authkit.APIToken) { tok.ExpiresAt = at(2*hour + micro) })
	mk("revoked", func(*authkit.APIToken) {})
	mk("both", func(tok *authkit.APIToken) { tok.ExpiresAt = at(hour) })
	// Created revoked (an import of another system's tokens): garbage as
	// well (found by mutation testing: a store that left it for good
	// passed).
	mk("born-revoked", func(tok *authkit.APIToken) { tok.RevokedAt = at(minute) })
	mustOK(t, "RevokeAPIToken", s.RevokeAPIToken(t.Context(), "alice", "revoked", at(minute)), ruleRevokeAPI)
	mustOK(t, "RevokeAPIToken", s.RevokeAPIToken(t.Context(), "alice", "both", at(minute)), ruleRevokeAPI)
}

func checkGarbageTokensGone(t *testing.T, s authkit.APITokenStore) {
	t.Helper()
	for _, id := range []string{"expired", "revoked", "both", "born-revoked"} {
		wantTokenAbsent(t, s, hashOf("tok-"+id), "garbage token "+id+" after DeleteExpiredAPITokens", ruleDeleteTokens)
	}
	for _, id := range []string{"forever", "edge"} {
		lookupToken(t, s, hashOf("tok-"+id), "DeleteExpiredAPITokens must keep live tokens; "+ruleDeleteTokens)
	}
}
