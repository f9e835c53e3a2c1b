package conformance

import (
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/authkit-go/authkit"
)

// DefaultScaleRecords is how many records each ".../Scale" check writes
// when Harness.ScaleRecords is zero; MinScaleRecords is the fewest it
// takes (half of them are garbage, which must outnumber one cleanup batch
// of 1,000).
const (
	DefaultScaleRecords = 6000
	MinScaleRecords     = 2400
)

// scaleSize is how many records a Scale check writes for a harness whose
// ScaleRecords is n: DefaultScaleRecords for 0, else n rounded up to a
// multiple of 6 (the checks sort records into six kinds by index). Below
// MinScaleRecords it fails t.
func scaleSize(t *testing.T, n int) int {
	t.Helper()
	switch {
	case n == 0:
		return DefaultScaleRecords
	case n < MinScaleRecords:
		t.Fatalf("conformance: Harness.ScaleRecords is %d, below MinScaleRecords (%d): a cleanup would not need a second batch", n, MinScaleRecords)
	}
	return (n + 5) / 6 * 6
}

// scaleSubjects share the records; similar-looking on purpose.
var scaleSubjects = []string{"scale-a", "scale-b", "スケール", "scale-a ", "Scale-A"}

var scaleNow = at(2 * hour)

// scaleCreated spreads the creation times of n records a millisecond
// apart, all before base, increasing with i.
func scaleCreated(n, i int) time.Time { return base.Add(-time.Duration(n-i) * ms) }

// checkListing compares a listing with the expected IDs, newest first,
// naming the first difference rather than printing thousands of IDs.
func checkListing(t *testing.T, what string, got, want []string, rule string) {
	t.Helper()
	if slices.Equal(got, want) {
		return
	}
	i := 0
	for i < len(got) && i < len(want) && got[i] == want[i] {
		i++
	}
	g, w := "(end)", "(end)"
	if i < len(got) {
		g = got[i]
	}
	if i < len(want) {
		w = want[i]
	}
	t.Errorf("%s returned %d entries, want %d; first difference at position %d: got %q, want %q; %s", what, len(got), len(want), i, g, w, rule)
}

// refreshScale writes n sessions, one refresh record each, over five
// subjects: by i%6, 0 past ExpiresAt, 1 past IdleExpiresAt, 2 revoked,
// 3–5 live. At scaleNow the garbage is n/2 sessions and their n/2
// records: n records of either kind.
func refreshScale(t *testing.T, h PartialHarness[authkit.RefreshStore]) {
	n := scaleSize(t, h.ScaleRecords)
	a, b := open(t, h)
	ctx := t.Context()
	id := func(i int) string { return fmt.Sprintf("scale-%05d", i) }
	err := fanOut(n, func(i int) error {
		s, first := newSession(id(i), scaleSubjects[i%len(scaleSubjects)], scaleCreated(n, i), "rt-"+id(i))
		s.ExpiresAt, s.IdleExpiresAt = at(100*hour), at(50*hour)
		switch i % 6 {
		case 0:
			s.ExpiresAt, s.IdleExpiresAt = at(hour), at(hour)
		case 1:
			s.IdleExpiresAt = at(hour)
		}
		first.ExpiresAt = s.IdleExpiresAt
		st := a
		if i%2 == 1 {
			st = b
		}
		return st.CreateSession(ctx, s, first)
	})
	mustOK(t, fmt.Sprintf("CreateSession of %d sessions", n), err, ruleCreate)
	err = fanOut(n, func(i int) error {
		if i%6 != 2 {
			return nil
		}
		return a.RevokeSession(ctx, id(i), base)
	})
	mustOK(t, "RevokeSession", err, ruleRevokeSession)

	live := map[string][]string{}
	for i := n - 1; i >= 0; i-- {
		if i%6 >= 3 {
			subj := scaleSubjects[i%len(scaleSubjects)]
			live[subj] = append(live[subj], id(i))
		}
	}
	listAll := func(when string) {
		t.Helper()
		for _, subj := range scaleSubjects {
			checkListing(t, fmt.Sprintf("ListSessions(%q) %s", subj, when), sessionIDs(listSessions(t, b, subj, scaleNow)), live[subj], ruleList)
		}
	}
	listAll("before cleanup")
	garbage := n / 2 * 2
	total := drain(t, "DeleteExpiredSessions", 1000, garbage, ruleDeleteSessions, func(limit int) (int, error) {
		return a.DeleteExpiredSessions(ctx, scaleNow, limit)
	})
	if total != garbage {
		t.Errorf("DeleteExpiredSessions with limit 1000, repeated while it returned 1000, deleted %d records in all, want %d (%d garbage sessions and their %d records); %s", total, garbage, n/2, n/2, ruleDeleteSessions)
	}
	listAll("after cleanup")
	for i := 0; i < n; i += 97 {
		if i%6 < 3 {
			wantSessionAbsent(t, b, id(i), "garbage after cleanup", ruleDeleteSessions)
			wantRefreshAbsent(t, b, hashOf("rt-"+id(i)), "the record of a garbage session after cleanup", ruleDeleteSessions)
		} else {
			lookupRefresh(t, b, hashOf("rt-"+id(i)), "DeleteExpiredSessions must keep a live session's current record; "+ruleDeleteSessions)
		}
	}
}

// revocationScale writes n/3 entries of each kind; half of each kind
// have their until at scaleNow (garbage), half far later.
func revocationScale(t *testing.T, h PartialHarness[authkit.RevocationStore]) {
	n := scaleSize(t, h.ScaleRecords)
	a, b := open(t, h)
	ctx := t.Context()
	until := func(i int) time.Time {
		if i%2 == 0 {
			return scaleNow
		}
		return at(100 * hour)
	}
	key := func(i int) string { return fmt.Sprintf("scale-%05d", i) }
	err := fanOut(n, func(i int) error {
		st := a
		if i%4 >= 2 {
			st = b
		}
		switch i % 3 {
		case 0:
			return st.RevokeToken(ctx, "nobody", key(i), until(i))
		case 1:
			return st.RevokeSessionTokens(ctx, "nobody", key(i), until(i))
		default:
			return st.SetCutoff(ctx, key(i), base, until(i))
		}
	})
	mustOK(t, fmt.Sprintf("writing %d revocations", n), err, ruleIsRevoked)
	garbage := n / 2
	total := drain(t, "DeleteExpiredRevocations", 1000, garbage, ruleDeleteRevs, func(limit int) (int, error) {
		return a.DeleteExpiredRevocations(ctx, scaleNow, limit)
	})
	if total != garbage {
		t.Errorf("DeleteExpiredRevocations with limit 1000, repeated while it returned 1000, deleted %d in all, want %d; %s", total, garbage, ruleDeleteRevs)
	}
	errLive := errors.New("a live entry is gone")
	err = fanOut(n, func(i int) error {
		if i%2 == 0 {
			return nil
		}
		var q authkit.RevocationQuery
		switch i % 3 {
		case 0:
			q = query(key(i), "", "nobody", base)
		case 1:
			q = query("none", key(i), "nobody", base)
		default:
			q = query("none", "", key(i), at(-time.Second))
		}
		dead, err := b.IsRevoked(ctx, q, scaleNow)
		if err != nil {
			return err
		}
		if !dead {
			return fmt.Errorf("%w: %s", errLive, key(i))
		}
		return nil
	})
	if err != nil {
		t.Errorf("after cleanup IsRevoked: %v; DeleteExpiredRevocations must keep entries whose until is after now; %s", err, ruleDeleteRevs)
	}
}

// apiTokenScale writes n tokens over five subjects: by i%6, 0 expired,
// 1 revoked, 2 revoked and expired, 3–5 live (no expiry, or a late one).
func apiTokenScale(t *testing.T, h PartialHarness[authkit.APITokenStore]) {
	n := scaleSize(t, h.ScaleRecords)
	a, b := open(t, h)
	ctx := t.Context()
	id := func(i int) string { return fmt.Sprintf("scale-%05d", i) }
	err := fanOut(n, func(i int) error {
		tok := newToken(id(i), scaleSubjects[i%len(scaleSubjects)], scaleCreated(n, i))
		switch i % 6 {
		case 0, 2:
			tok.ExpiresAt = at(hour)
		case 4:
			tok.ExpiresAt = at(100 * hour)
		}
		st := a
		if i%2 == 1 {
			st = b
		}
		return st.CreateAPIToken(ctx, tok, 0, base)
	})
	mustOK(t, fmt.Sprintf("CreateAPIToken of %d tokens", n), err, ruleCreateToken)
	err = fanOut(n, func(i int) error {
		if c := i % 6; c != 1 && c != 2 {
			return nil
		}
		return a.RevokeAPIToken(ctx, scaleSubjects[i%len(scaleSubjects)], id(i), base)
	})
	mustOK(t, "RevokeAPIToken", err, ruleRevokeAPI)

	live := map[string][]string{}
	for i := n - 1; i >= 0; i-- {
		if i%6 >= 3 {
			subj := scaleSubjects[i%len(scaleSubjects)]
			live[subj] = append(live[subj], id(i))
		}
	}
	listAll := func(when string) {
		t.Helper()
		for _, subj := range scaleSubjects {
			checkListing(t, fmt.Sprintf("ListAPITokens(%q) %s", subj, when), tokenIDs(listTokens(t, b, subj, scaleNow)), live[subj], ruleListTokens)
		}
	}
	listAll("before cleanup")
	garbage := n / 2
	total := drain(t, "DeleteExpiredAPITokens", 1000, garbage, ruleDeleteTokens, func(limit int) (int, error) {
		return a.DeleteExpiredAPITokens(ctx, scaleNow, limit)
	})
	if total != garbage {
		t.Errorf("DeleteExpiredAPITokens with limit 1000, repeated while it returned 1000, deleted %d in all, want %d; %s", total, garbage, ruleDeleteTokens)
	}
	listAll("after cleanup")
	for i := 0; i < n; i += 97 {
		if i%6 < 3 {
			wantTokenAbsent(t, b, hashOf("tok-"+id(i)), "a garbage token after cleanup", ruleDeleteTokens)
		} else {
			lookupToken(t, b, hashOf("tok-"+id(i)), "DeleteExpiredAPITokens must keep live tokens; "+ruleDeleteTokens)
		}
	}
}
