package conformance

import (
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/authkit-go/authkit"
)

// The rules of authkit.RevocationStore, quoted in failure messages.
const (
	ruleRevokeJTI    = "RevocationStore.RevokeToken must mark the token jti dead until until (its exp); revoking twice keeps the later until"
	ruleRevokeSID    = "RevocationStore.RevokeSessionTokens must mark every token whose sid is sid dead until until; revoking twice keeps the later until"
	ruleCutoff       = "RevocationStore.SetCutoff must mark every token of subject issued at or before cutoff dead (logout-all; a token without iat, the zero IssuedAt, is issued before every cutoff), remembered until until; a later cutoff replaces an earlier one, an earlier one never replaces a later one, and the until kept is the later of the two"
	ruleCutoffPrec   = "RevocationStore.SetCutoff: \"at or before cutoff\" must hold to the millisecond at least (a store keeping less than the microsecond rounds cutoffs up), or a logout-all misses tokens issued in the same second"
	ruleUntilPrec    = "RevocationStore: an entry counts until its until, to the microsecond at least: a store keeping less than the nanosecond rounds untils up, never down, or a revocation ends before the token it revokes expires"
	ruleIsRevoked    = "RevocationStore.IsRevoked must report whether the token q describes is dead at now: its jti revoked, its sid revoked, or q.IssuedAt at or before its subject's cutoff; entries whose until is at or before now no longer count"
	ruleRevKeys      = "revocation is keyed on identities: jti, sid and subject are separate namespaces, and an entry matches only its own key, byte for byte (an empty SessionID is a token outside any session)"
	ruleDeleteRevs   = "RevocationStore.DeleteExpiredRevocations must delete at most limit entries whose until is at or before now and return how many it deleted"
	ruleRevSubject   = "RevocationStore records a revoked jti or sid under its subject: a query matches it only with that same subject, byte for byte"
	ruleRevVisible   = "RevocationStore implementations must be safe for use by many processes sharing the same data: a revocation through one handle is seen at once through another"
	ruleRevDurable   = "a RevocationStore must keep its entries across a reopen"
	ruleRevNoStale   = "IsRevoked answers from what is stored when it is called: the same query answered \"not revoked\" before a revocation, through either handle, must be answered \"revoked\" after it (a cache must never keep a \"not revoked\" answer)"
	ruleRevIsolation = "a subject's cutoff must never affect another subject (subjects are compared byte for byte: no case folding, no Unicode normalisation, no trimming)"
)

// query describes an access token for IsRevoked.
func query(jti, sid, subject string, iat time.Time) authkit.RevocationQuery {
	return authkit.RevocationQuery{TokenID: jti, SessionID: sid, Subject: subject, IssuedAt: iat}
}

// wantDead fails t unless IsRevoked(q, now) reports want.
func wantDead(t *testing.T, s authkit.RevocationStore, q authkit.RevocationQuery, now time.Time, want bool, why, rule string) {
	t.Helper()
	dead, err := s.IsRevoked(t.Context(), q, now)
	mustOK(t, "IsRevoked", err, rule)
	if dead != want {
		t.Errorf("IsRevoked(jti %q, sid %q, subject %q, iat %s) at %s = %v, want %v (%s); %s",
			q.TokenID, q.SessionID, q.Subject, fmtTime(q.IssuedAt), fmtTime(now), dead, want, why, rule)
	}
}

func runRevocation(t *testing.T, h PartialHarness[authkit.RevocationStore]) {
	t.Run("IsRevoked/Clean", func(t *testing.T) {
		a, _ := open(t, h)
		wantDead(t, a, query("jti-1", "sid-1", "alice", base), base, false, "nothing was revoked", ruleIsRevoked)
		wantDead(t, a, query("jti-1", "", "alice", base), base, false, "nothing was revoked", ruleIsRevoked)
	})

	// RevokeToken and RevokeSessionTokens promise the same things about
	// their own key.
	for _, k := range []struct {
		name   string
		rule   string
		revoke func(s authkit.RevocationStore, t *testing.T, key string, until time.Time) error
		query  func(key string) authkit.RevocationQuery
	}{
		{
			"RevokeToken", ruleRevokeJTI,
			func(s authkit.RevocationStore, t *testing.T, key string, until time.Time) error {
				return s.RevokeToken(t.Context(), "alice", key, until)
			},
			func(key string) authkit.RevocationQuery { return query(key, "sid-x", "alice", base) },
		},
		{
			"RevokeSessionTokens", ruleRevokeSID,
			func(s authkit.RevocationStore, t *testing.T, key string, until time.Time) error {
				return s.RevokeSessionTokens(t.Context(), "alice", key, until)
			},
			func(key string) authkit.RevocationQuery { return query("jti-x", key, "alice", base) },
		},
	} {
		t.Run(k.name+"/HappyPath", func(t *testing.T) {
			a, b := open(t, h)
			mustOK(t, k.name, k.revoke(a, t, "key-1", at(hour)), k.rule)
			wantDead(t, b, k.query("key-1"), at(minute), true, "revoked until base+1h", k.rule+"; "+ruleIsRevoked)
			for _, other := range []string{"key-10", "key-", "KEY-1", "key-1 "} {
				wantDead(t, b, k.query(other), at(minute), false, fmt.Sprintf("only %q was revoked", "key-1"), ruleRevKeys)
			}
			for _, subj := range []string{"bob", "Alice", "alice "} {
				q := k.query("key-1")
				q.Subject = subj
				wantDead(t, b, q, at(minute), false, fmt.Sprintf("%q was revoked under subject \"alice\", not %q", "key-1", subj), ruleRevSubject)
			}
		})
		t.Run(k.name+"/UntilBoundary", func(t *testing.T) {
			a, b := open(t, h)
			mustOK(t, k.name, k.revoke(a, t, "key-1", at(hour)), k.rule)
			wantDead(t, b, k.query("key-1"), at(hour-micro), true, "a microsecond before until", ruleIsRevoked)
			wantDead(t, b, k.query("key-1"), at(hour), false, "until == now no longer counts", ruleIsRevoked)
			// An until between two microseconds is not cut to the earlier.
			mustOK(t, k.name, k.revoke(a, t, "key-frac", at(hour).Add(500*time.Nanosecond)), k.rule)
			wantDead(t, b, k.query("key-frac"), at(hour).Add(100*time.Nanosecond), true, "400ns before an until of base+1h+500ns", ruleUntilPrec)
		})
		t.Run(k.name+"/KeepsLaterUntil", func(t *testing.T) {
			a, b := open(t, h)
			mustOK(t, k.name, k.revoke(a, t, "later-first", at(2*hour)), k.rule)
			mustOK(t, k.name, k.revoke(b, t, "later-first", at(hour)), k.rule)
			mustOK(t, k.name, k.revoke(a, t, "later-second", at(hour)), k.rule)
			mustOK(t, k.name, k.revoke(b, t, "later-second", at(2*hour)), k.rule)
			for _, key := range []string{"later-first", "later-second"} {
				wantDead(t, a, k.query(key), at(90*minute), true, "revoked until base+2h and until base+1h", k.rule)
			}
			for _, key := range []string{"later-first", "later-second"} {
				wantDead(t, b, k.query(key), at(2*hour), false, "the later until has passed", k.rule)
			}
		})
	}

	t.Run("IsRevoked/EmptySessionID", func(t *testing.T) {
		a, b := open(t, h)
		mustOK(t, "RevokeSessionTokens", a.RevokeSessionTokens(t.Context(), "alice", "sid-1", at(hour)), ruleRevokeSID)
		wantDead(t, b, query("jti-1", "", "alice", base), at(minute), false, "a token outside any session is not in a revoked session", ruleRevKeys)
	})

	// A token without a jti (OIDCProfile admits them: Entra ID writes
	// none) is queried with an empty TokenID, which matches no revoked
	// jti (found by review: a store matching it against any of the
	// subject's jti entries passed, and refused such tokens).
	t.Run("IsRevoked/EmptyTokenID", func(t *testing.T) {
		a, b := open(t, h)
		mustOK(t, "RevokeToken", a.RevokeToken(t.Context(), "alice", "jti-1", at(hour)), ruleRevokeJTI)
		wantDead(t, b, query("", "sid-1", "alice", base), at(minute), false, "a token without a jti is not a revoked jti", ruleRevKeys)
		wantDead(t, b, query("", "", "alice", base), at(minute), false, "a token without a jti or a session is not a revoked jti", ruleRevKeys)
	})

	// Revoking an empty jti or sid (refused, or accepted) revokes no token
	// that has none (found by review: a store keeping the empty ID as a
	// key, as a SQL "WHERE sid = $2" would match it, passed).
	t.Run("IsRevoked/EmptyIDRevoked", func(t *testing.T) {
		a, b := open(t, h)
		_ = a.RevokeToken(t.Context(), "alice", "", at(hour))
		_ = a.RevokeSessionTokens(t.Context(), "alice", "", at(hour))
		wantDead(t, b, query("", "", "alice", base), at(minute), false, "a token without a jti or a session after RevokeToken and RevokeSessionTokens of empty IDs", ruleRevKeys)
		wantDead(t, b, query("jti-1", "", "alice", base), at(minute), false, "a token outside any session after RevokeSessionTokens of an empty sid", ruleRevKeys)
		wantDead(t, b, query("", "sid-1", "alice", base), at(minute), false, "a token without a jti after RevokeToken of an empty jti", ruleRevKeys)
	})

	t.Run("IsRevoked/Namespaces", func(t *testing.T) {
		a, b := open(t, h)
		mustOK(t, "RevokeToken", a.RevokeToken(t.Context(), "x", "same", at(hour)), ruleRevokeJTI)
		wantDead(t, b, query("other", "same", "x", base), at(minute), false, "\"same\" was revoked as a jti only", ruleRevKeys)
		mustOK(t, "RevokeSessionTokens", a.RevokeSessionTokens(t.Context(), "x", "sid-only", at(hour)), ruleRevokeSID)
		wantDead(t, b, query("sid-only", "other", "x", base), at(minute), false, "\"sid-only\" was revoked as a sid only", ruleRevKeys)
		mustOK(t, "SetCutoff", a.SetCutoff(t.Context(), "sub-only", at(minute), at(hour)), ruleCutoff)
		wantDead(t, b, query("sub-only", "sub-only", "other", base), at(2*minute), false, "\"sub-only\" was given a cutoff as a subject only", ruleRevKeys)
		// And each still works on its own key.
		wantDead(t, b, query("same", "", "x", base), at(2*minute), true, "jti \"same\" is revoked", ruleRevokeJTI)
		wantDead(t, b, query("x", "sid-only", "x", base), at(2*minute), true, "sid \"sid-only\" is revoked", ruleRevokeSID)
		wantDead(t, b, query("x", "", "sub-only", base), at(2*minute), true, "issued before sub-only's cutoff", ruleCutoff)
	})

	t.Run("SetCutoff/Boundary", func(t *testing.T) {
		a, b := open(t, h)
		cutoff := at(500 * ms)
		mustOK(t, "SetCutoff", a.SetCutoff(t.Context(), "alice", cutoff, at(hour)), ruleCutoff)
		now := at(time.Second)
		wantDead(t, b, query("j1", "", "alice", at(400*ms)), now, true, "issued 100ms before the cutoff", ruleCutoff+"; "+ruleCutoffPrec)
		wantDead(t, b, query("j2", "", "alice", cutoff), now, true, "issued exactly at the cutoff", ruleCutoff+"; "+ruleCutoffPrec)
		wantDead(t, b, query("j3", "", "alice", at(501*ms)), now, false, "issued 1ms after the cutoff", ruleCutoff+"; "+ruleCutoffPrec)
		wantDead(t, b, query("j4", "s1", "alice", at(time.Hour)), now, false, "issued long after the cutoff", ruleCutoff)
		wantDead(t, b, query("j5", "", "bob", at(400*ms)), now, false, "another subject", ruleRevIsolation)
		// Tokens of a session are cut off as well: nearly every access
		// token carries a sid, and logout-all reaches them only here.
		wantDead(t, b, query("j6", "s1", "alice", at(400*ms)), now, true, "issued 100ms before the cutoff, in a session", ruleCutoff)
		wantDead(t, b, query("j7", "s1", "alice", cutoff), now, true, "issued exactly at the cutoff, in a session", ruleCutoff)
		wantDead(t, b, query("j8", "s1", "alice", at(501*ms)), now, false, "issued 1ms after the cutoff, in a session", ruleCutoff)
		// A token without iat (a verifier profile that does not require
		// it) is asked with the zero IssuedAt, which is before every
		// cutoff (found by review: a store that skipped the cutoff for a
		// zero time, as a NULL-able column or a "iat > 0" guard does,
		// passed, and such a token outlived logout-all).
		// A store with a data-loss epoch refuses it as issued before its
		// data began (authkit.ErrDataLoss), which refuses it too.
		for _, q := range []authkit.RevocationQuery{query("j9", "", "alice", time.Time{}), query("j10", "s1", "alice", time.Time{})} {
			dead, err := b.IsRevoked(t.Context(), q, now)
			if errors.Is(err, authkit.ErrDataLoss) {
				continue
			}
			mustOK(t, "IsRevoked", err, ruleCutoff)
			if !dead {
				t.Errorf("IsRevoked(jti %q, sid %q, subject %q, zero iat) after alice's cutoff = false, want true (a token without iat); %s", q.TokenID, q.SessionID, q.Subject, ruleCutoff)
			}
		}
	})

	t.Run("SetCutoff/UntilBoundary", func(t *testing.T) {
		a, b := open(t, h)
		mustOK(t, "SetCutoff", a.SetCutoff(t.Context(), "alice", base, at(hour)), ruleCutoff)
		q := query("j1", "", "alice", at(-time.Second))
		wantDead(t, b, q, at(hour-micro), true, "a microsecond before the cutoff's until", ruleCutoff)
		wantDead(t, b, q, at(hour), false, "until == now no longer counts", ruleIsRevoked)
		// An until between two microseconds is not cut to the earlier.
		mustOK(t, "SetCutoff", a.SetCutoff(t.Context(), "carol", base, at(hour).Add(500*time.Nanosecond)), ruleCutoff)
		wantDead(t, b, query("j1", "", "carol", at(-time.Second)), at(hour).Add(100*time.Nanosecond), true, "400ns before the cutoff's until of base+1h+500ns", ruleUntilPrec)
	})

	// Instants as a store comparing text would see them: fractions that
	// end in zeros (a JWT's iat is whole seconds or milliseconds) and
	// zones other than UTC. The checks above all use times with six
	// fractional digits in UTC, and a store comparing RFC 3339 text, or
	// wall-clock text in each time's own zone, passed them (found by
	// review: "05Z" sorts after "05.15Z", so such a logout-all missed the
	// tokens issued in its own second). The times passed never go back.
	t.Run("TextTimes", func(t *testing.T) {
		a, b := open(t, h)
		whole := base.Truncate(time.Second).Add(hour)
		west, east := time.FixedZone("UTC-3", -3*3600), time.FixedZone("UTC+5:30", 5*3600+1800)
		// Untils at and near whole seconds, and given in other zones.
		mustOK(t, "RevokeToken", a.RevokeToken(t.Context(), "carol", "jti-1", whole.Add(100*ms)), ruleRevokeJTI)
		mustOK(t, "RevokeSessionTokens", a.RevokeSessionTokens(t.Context(), "carol", "sid-1", whole.Add(time.Second).In(west)), ruleRevokeSID)
		mustOK(t, "SetCutoff", a.SetCutoff(t.Context(), "dave", whole.Add(-hour), whole.Add(100*ms).In(east)), ruleCutoff)
		wantDead(t, b, query("jti-1", "", "carol", whole.Add(-hour)), whole, true, "now a whole second, 100ms before the until", ruleRevokeJTI+"; "+ruleIsRevoked)
		wantDead(t, b, query("jti-2", "", "dave", whole.Add(-2*hour)), whole, true, "now a whole second, 100ms before the cutoff's until, given in UTC+5:30", ruleCutoff+"; "+ruleIsRevoked)
		wantDead(t, b, query("jti-1", "", "carol", whole.Add(-hour)), whole.Add(100*ms), false, "now at the until", ruleIsRevoked)
		wantDead(t, b, query("jti-3", "sid-1", "carol", whole.Add(-hour)), whole.Add(500*ms).In(east), true, "now (in UTC+5:30) 500ms before an until given in UTC-3", ruleRevokeSID+"; "+ruleIsRevoked)
		// Cutoffs and issue times at and near whole seconds.
		now := whole.Add(minute)
		mustOK(t, "SetCutoff", a.SetCutoff(t.Context(), "alice", whole.Add(150*ms), whole.Add(2*hour)), ruleCutoff)
		wantDead(t, b, query("j1", "", "alice", whole), now, true, "issued at a whole second, 150ms before the cutoff", ruleCutoff)
		wantDead(t, b, query("j2", "", "alice", whole.Add(100*ms)), now, true, "issued 50ms before the cutoff", ruleCutoff)
		wantDead(t, b, query("j3", "", "alice", whole.Add(150*ms)), now, true, "issued exactly at the cutoff", ruleCutoff)
		wantDead(t, b, query("j4", "", "alice", whole.Add(200*ms)), now, false, "issued 50ms after the cutoff", ruleCutoff)
		wantDead(t, b, query("j5", "", "alice", whole.Add(time.Second)), now, false, "issued at the next whole second", ruleCutoff)
		// A cutoff given in one zone, tokens issued in others.
		mustOK(t, "SetCutoff", a.SetCutoff(t.Context(), "bob", whole.In(west), whole.Add(2*hour).In(east)), ruleCutoff)
		wantDead(t, b, query("j1", "", "bob", whole.Add(-minute)), now, true, "issued (in UTC) a minute before a cutoff given in UTC-3", ruleCutoff)
		wantDead(t, b, query("j2", "", "bob", whole.Add(-minute).In(east)), now.In(west), true, "issued (in UTC+5:30) a minute before a cutoff given in UTC-3", ruleCutoff)
		wantDead(t, b, query("j3", "", "bob", whole.Add(minute).In(east)), now.In(west), false, "issued (in UTC+5:30) a minute after a cutoff given in UTC-3", ruleCutoff)
	})

	// Readers while writers write. Every other concurrency check races
	// writers against writers, and a store whose reads skip its lock
	// ("for speed on the hot path") passed them all, to crash its server
	// with "concurrent map read and map write" (found by review). Run the
	// suite under -race to have every such read reported.
	t.Run("ReadersDuringWrites", func(t *testing.T) {
		a, b := open(t, h)
		const n = 32
		errs := readDuringWrites(n, func(i int) error {
			subject := fmt.Sprint("user-", i)
			switch i % 3 {
			case 0:
				return a.RevokeToken(t.Context(), subject, "jti", at(hour))
			case 1:
				return a.RevokeSessionTokens(t.Context(), subject, "sid", at(hour))
			default:
				return a.SetCutoff(t.Context(), subject, at(minute), at(hour))
			}
		}, func(k int) error {
			_, err := b.IsRevoked(t.Context(), query("jti", "sid", fmt.Sprint("user-", k%n), base), at(2*minute))
			return err
		})
		for _, err := range errs {
			mustOK(t, "a write or IsRevoked while others wrote", err, ruleIsRevoked)
		}
		for i := range n {
			wantDead(t, b, query("jti", "sid", fmt.Sprint("user-", i), base), at(2*minute), true, "revoked while readers read", ruleIsRevoked)
		}
	})

	t.Run("SetCutoff/LaterReplacesEarlier", func(t *testing.T) {
		a, b := open(t, h)
		mustOK(t, "SetCutoff", a.SetCutoff(t.Context(), "alice", base, at(hour)), ruleCutoff)
		mustOK(t, "SetCutoff", b.SetCutoff(t.Context(), "alice", at(10*minute), at(70*minute)), ruleCutoff)
		now := at(11 * minute)
		wantDead(t, a, query("j1", "", "alice", at(5*minute)), now, true, "issued before the later cutoff", ruleCutoff)
		wantDead(t, a, query("j2", "", "alice", at(10*minute+ms)), now, false, "issued after the later cutoff", ruleCutoff)
		wantDead(t, a, query("j1", "", "alice", at(5*minute)), at(65*minute), true, "the later cutoff is remembered until its own until", ruleCutoff)
	})

	t.Run("SetCutoff/EarlierNeverReplacesLater", func(t *testing.T) {
		a, b := open(t, h)
		mustOK(t, "SetCutoff", a.SetCutoff(t.Context(), "alice", at(10*minute), at(70*minute)), ruleCutoff)
		mustOK(t, "SetCutoff", b.SetCutoff(t.Context(), "alice", base, at(hour)), ruleCutoff)
		now := at(11 * minute)
		wantDead(t, a, query("j1", "", "alice", at(5*minute)), now, true, "issued before the later cutoff, which an earlier one must not replace", ruleCutoff)
		wantDead(t, a, query("j2", "", "alice", at(10*minute)), now, true, "issued exactly at the later cutoff", ruleCutoff)
	})

	t.Run("SetCutoff/KeepsLaterUntil", func(t *testing.T) {
		a, b := open(t, h)
		// A later cutoff with an earlier until (an issuer with a shorter
		// access TTL, say) must not shorten how long the first is kept.
		mustOK(t, "SetCutoff", a.SetCutoff(t.Context(), "alice", at(10*minute), at(2*hour)), ruleCutoff)
		mustOK(t, "SetCutoff", b.SetCutoff(t.Context(), "alice", at(20*minute), at(hour)), ruleCutoff)
		wantDead(t, a, query("j1", "", "alice", at(5*minute)), at(90*minute), true, "issued before both cutoffs, after the second one's until but before the first's", ruleCutoff)
		wantDead(t, b, query("j2", "", "alice", at(15*minute)), at(90*minute), true, "issued between the cutoffs, before the later until", ruleCutoff)
	})

	t.Run("SetCutoff/EarlierKeepsLaterUntil", func(t *testing.T) {
		a, b := open(t, h)
		// An earlier cutoff with a later until (a logout-all raced by an
		// older one with a longer access TTL) keeps the later cutoff and
		// extends how long it is kept.
		mustOK(t, "SetCutoff", a.SetCutoff(t.Context(), "alice", at(10*minute), at(hour)), ruleCutoff)
		mustOK(t, "SetCutoff", b.SetCutoff(t.Context(), "alice", base, at(2*hour)), ruleCutoff)
		wantDead(t, a, query("j1", "", "alice", at(5*minute)), at(90*minute), true, "issued before the later cutoff, after its own until but before the earlier cutoff's", ruleCutoff)
	})

	// Two logout-alls at once, through two handles: the later cutoff
	// wins however the calls interleave (a read, then a write of the
	// larger of what was read and its own, loses it).
	t.Run("SetCutoff/Concurrent", func(t *testing.T) {
		a, b := open(t, h)
		const n = 64
		var wg sync.WaitGroup
		start := make(chan struct{})
		for i := range n {
			subject := fmt.Sprint("user-", i)
			wg.Go(func() {
				<-start
				mustOK(t, "SetCutoff", a.SetCutoff(t.Context(), subject, msAt(2*minute), at(hour)), ruleCutoff)
			})
			wg.Go(func() {
				<-start
				mustOK(t, "SetCutoff", b.SetCutoff(t.Context(), subject, msAt(minute), at(hour)), ruleCutoff)
			})
		}
		close(start)
		wg.Wait()
		var lost []string
		for i := range n {
			subject := fmt.Sprint("user-", i)
			dead, err := a.IsRevoked(t.Context(), query("jti-x", "", subject, msAt(2*minute)), at(3*minute))
			mustOK(t, "IsRevoked", err, ruleIsRevoked)
			if !dead {
				lost = append(lost, subject)
			}
		}
		if len(lost) > 0 {
			t.Errorf("after two concurrent SetCutoffs per subject (cutoffs +1m and +2m), %d of %d subjects kept the earlier one (%q…): a token issued at the later cutoff is not dead; %s", len(lost), n, lost[:min(3, len(lost))], ruleCutoff)
		}
	})

	t.Run("SubjectIsolation", func(t *testing.T) {
		a, b := open(t, h)
		for i, subj := range oddSubjects {
			if i%2 == 0 {
				mustOK(t, "SetCutoff", a.SetCutoff(t.Context(), subj, base, at(hour)), ruleCutoff)
			} else {
				// The same odd strings as jti and sid keys, and as the
				// subject they are revoked under.
				mustOK(t, "RevokeToken", a.RevokeToken(t.Context(), "nobody", subj, at(hour)), ruleRevokeJTI)
				mustOK(t, "RevokeSessionTokens", a.RevokeSessionTokens(t.Context(), "nobody", subj, at(hour)), ruleRevokeSID)
				mustOK(t, "RevokeToken", a.RevokeToken(t.Context(), subj, "jti-of-"+subj, at(hour)), ruleRevokeJTI)
			}
		}
		now := at(minute)
		for i, subj := range oddSubjects {
			even := i%2 == 0
			wantDead(t, b, query("jti-plain", "", subj, at(-time.Second)), now, even, fmt.Sprintf("subject %q, cutoff set: %v", subj, even), ruleRevIsolation)
			wantDead(t, b, query(subj, "", "nobody", base), now, !even, fmt.Sprintf("jti %q, revoked: %v", subj, !even), ruleRevKeys)
			wantDead(t, b, query("jti-plain", subj, "nobody", base), now, !even, fmt.Sprintf("sid %q, revoked: %v", subj, !even), ruleRevKeys)
			if !even {
				wantDead(t, b, query("jti-of-"+subj, "", subj, at(time.Second)), now, true, fmt.Sprintf("jti revoked under subject %q", subj), ruleRevSubject)
				for j, other := range oddSubjects {
					if j != i {
						wantDead(t, b, query("jti-of-"+subj, "", other, at(time.Second)), now, false, fmt.Sprintf("jti revoked under subject %q, asked for %q", subj, other), ruleRevSubject)
					}
				}
			}
		}
	})

	// Identities of 1024 bytes (the largest subject the issuer accepts,
	// and a jti or sid as long), pairs that differ only in their last
	// byte: a store that cut them short would never match what it stored,
	// or match the other of the pair.
	t.Run("LongIdentities", func(t *testing.T) {
		a, b := open(t, h)
		subjA, subjB := longPair("s")
		jtiA, jtiB := longPair("j")
		sidA, sidB := longPair("i")
		now := at(minute)
		mustOK(t, "RevokeToken", a.RevokeToken(t.Context(), subjA, jtiA, at(hour)), ruleRevokeJTI)
		mustOK(t, "RevokeSessionTokens", a.RevokeSessionTokens(t.Context(), subjA, sidA, at(hour)), ruleRevokeSID)
		wantDead(t, b, query(jtiA, "", subjA, base), now, true, "its 1024-byte jti is revoked", ruleRevokeJTI)
		wantDead(t, b, query(jtiB, "", subjA, base), now, false, "a jti that differs from the revoked one in its last byte", ruleRevKeys)
		wantDead(t, b, query(jtiA, "", subjB, base), now, false, "the revoked jti under a subject that differs in its last byte", ruleRevSubject)
		wantDead(t, b, query("j", sidA, subjA, base), now, true, "its 1024-byte sid is revoked", ruleRevokeSID)
		wantDead(t, b, query("j", sidB, subjA, base), now, false, "a sid that differs from the revoked one in its last byte", ruleRevKeys)
		mustOK(t, "SetCutoff", a.SetCutoff(t.Context(), subjB, base, at(hour)), ruleCutoff)
		wantDead(t, b, query("j", "", subjB, at(-time.Second)), now, true, "issued before the cutoff of its 1024-byte subject", ruleCutoff)
		wantDead(t, b, query("j", "", subjA, at(-time.Second)), now, false, "a subject that differs in its last byte from the one cut off", ruleRevIsolation)
	})

	t.Run("Peer/Visibility", func(t *testing.T) {
		a, b := open(t, h)
		if h.Peer == nil {
			noPeer(t, h, a)
		}
		now := at(minute)
		wantDead(t, b, query("jti-1", "sid-1", "alice", base), now, false, "nothing revoked yet", ruleIsRevoked)
		mustOK(t, "RevokeToken", a.RevokeToken(t.Context(), "bob", "jti-1", at(hour)), ruleRevokeJTI)
		wantDead(t, b, query("jti-1", "", "bob", base), now, true, "jti revoked through the other handle", ruleRevVisible)
		mustOK(t, "RevokeSessionTokens", b.RevokeSessionTokens(t.Context(), "bob", "sid-1", at(hour)), ruleRevokeSID)
		wantDead(t, a, query("jti-2", "sid-1", "bob", base), now, true, "sid revoked through the other handle", ruleRevVisible)
		mustOK(t, "SetCutoff", a.SetCutoff(t.Context(), "alice", base, at(hour)), ruleCutoff)
		wantDead(t, b, query("jti-3", "", "alice", base), now, true, "cutoff set through the other handle", ruleRevVisible)
	})

	// The same questions before and after: a store (or a caching
	// decorator) that remembers a "not revoked" answer passes every check
	// that asks something new after a revocation, and fails here.
	t.Run("Peer/SameQueryAfterRevocation", func(t *testing.T) {
		a, b := open(t, h)
		now := at(minute)
		qJTI := query("jti-same", "sid-other", "carol", base)
		qSID := query("jti-other", "sid-same", "carol", base)
		qCut := query("jti-cut", "", "dave", base)
		for _, c := range []struct {
			what   string
			q      authkit.RevocationQuery
			rule   string
			revoke func(s authkit.RevocationStore) error
		}{
			{"its jti", qJTI, ruleRevokeJTI, func(s authkit.RevocationStore) error {
				return s.RevokeToken(t.Context(), "carol", "jti-same", at(hour))
			}},
			{"its sid", qSID, ruleRevokeSID, func(s authkit.RevocationStore) error {
				return s.RevokeSessionTokens(t.Context(), "carol", "sid-same", at(hour))
			}},
			{"its subject's cutoff", qCut, ruleCutoff, func(s authkit.RevocationStore) error {
				return s.SetCutoff(t.Context(), "dave", base, at(hour))
			}},
		} {
			for _, asker := range []authkit.RevocationStore{a, b} {
				wantDead(t, asker, c.q, now, false, "nothing revoked yet", ruleIsRevoked)
			}
			mustOK(t, "revoking "+c.what, c.revoke(a), c.rule)
			for i, asker := range []authkit.RevocationStore{a, b} {
				wantDead(t, asker, c.q, now, true, fmt.Sprintf("asked again through handle %d after %s was revoked through handle 0", i, c.what), ruleRevNoStale)
			}
		}
	})

	t.Run("DeleteExpiredRevocations/WhatIsGarbage", func(t *testing.T) {
		a, b := open(t, h)
		setupGarbageRevocations(t, a)
		n, err := b.DeleteExpiredRevocations(t.Context(), at(2*hour), 1000)
		mustOK(t, "DeleteExpiredRevocations", err, ruleDeleteRevs)
		if n != 3 {
			t.Errorf("DeleteExpiredRevocations returned %d, want 3 (one jti, one sid, one cutoff whose until == now); %s", n, ruleDeleteRevs)
		}
		checkLiveRevocations(t, a)
		n, err = b.DeleteExpiredRevocations(t.Context(), at(2*hour), 1000)
		mustOK(t, "DeleteExpiredRevocations", err, ruleDeleteRevs)
		if n != 0 {
			t.Errorf("a second DeleteExpiredRevocations returned %d, want 0; %s", n, ruleDeleteRevs)
		}
	})

	t.Run("DeleteExpiredRevocations/Limit", func(t *testing.T) {
		a, b := open(t, h)
		setupGarbageRevocations(t, a)
		total := drain(t, "DeleteExpiredRevocations", 1, 3, ruleDeleteRevs, func(limit int) (int, error) {
			return b.DeleteExpiredRevocations(t.Context(), at(2*hour), limit)
		})
		if total != 3 {
			t.Errorf("DeleteExpiredRevocations with limit 1, repeated while it returned 1, deleted %d in all, want 3; %s", total, ruleDeleteRevs)
		}
		checkLiveRevocations(t, a)
	})

	// An entry whose until was extended is collected at its last until,
	// not its first (an expiry index written once, or a heap entry not
	// moved, drops it early and revives the tokens it kills).
	t.Run("DeleteExpiredRevocations/ExtendedUntil", func(t *testing.T) {
		a, b := open(t, h)
		// In both orders: the later until is kept whichever came last (a
		// cleanup index written with the last until, as a Redis ZADD
		// without GT, deleted the 3h-then-1h entries at 2h; found by
		// review).
		for _, c := range []struct {
			jti, sid, subject, order string
			untils                   []time.Time
		}{
			{"jti-x", "sid-x", "bob", "base+1h and again until base+3h", []time.Time{at(hour), at(3 * hour)}},
			{"jti-y", "sid-y", "carol", "base+3h and again until base+1h", []time.Time{at(3 * hour), at(hour)}},
		} {
			for _, until := range c.untils {
				mustOK(t, "RevokeToken", a.RevokeToken(t.Context(), "alice", c.jti, until), ruleRevokeJTI)
				mustOK(t, "RevokeSessionTokens", a.RevokeSessionTokens(t.Context(), "alice", c.sid, until), ruleRevokeSID)
				mustOK(t, "SetCutoff", a.SetCutoff(t.Context(), c.subject, base, until), ruleCutoff)
			}
		}
		now := at(2 * hour)
		drain(t, "DeleteExpiredRevocations", 1000, 0, ruleDeleteRevs, func(limit int) (int, error) {
			return b.DeleteExpiredRevocations(t.Context(), now, limit)
		})
		for _, c := range []struct{ jti, sid, subject, order string }{
			{"jti-x", "sid-x", "bob", "base+1h and again until base+3h"},
			{"jti-y", "sid-y", "carol", "base+3h and again until base+1h"},
		} {
			wantDead(t, a, query(c.jti, "", "alice", at(-time.Minute)), now, true, "jti revoked until "+c.order+", after DeleteExpiredRevocations at base+2h", ruleRevokeJTI+"; "+ruleDeleteRevs)
			wantDead(t, a, query("j2", c.sid, "alice", at(-time.Minute)), now, true, "sid revoked until "+c.order+", after DeleteExpiredRevocations at base+2h", ruleRevokeSID+"; "+ruleDeleteRevs)
			wantDead(t, a, query("j3", "", c.subject, at(-time.Minute)), now, true, "cutoff kept until "+c.order+", after DeleteExpiredRevocations at base+2h", ruleCutoff+"; "+ruleDeleteRevs)
		}
	})

	// A cleanup racing revocations that extend the entries it is
	// collecting (reuse detection revoking a session again) deletes only
	// what is still expired when it deletes: not a SELECT of expired keys
	// followed by a DELETE by key.
	t.Run("DeleteExpiredRevocations/RacingExtension", func(t *testing.T) {
		a, b := open(t, h)
		const rounds, n, limit = 20, 100, 20
		now := at(hour)
		var lost []string
		for r := range rounds {
			sid := func(i int) string { return fmt.Sprintf("sid-%d-%d", r, i) }
			for i := range n {
				mustOK(t, "RevokeSessionTokens", a.RevokeSessionTokens(t.Context(), "alice", sid(i), at(minute)), ruleRevokeSID)
			}
			var wg sync.WaitGroup
			wg.Go(func() {
				for {
					k, err := a.DeleteExpiredRevocations(t.Context(), now, limit)
					if err != nil || k < limit {
						return
					}
				}
			})
			wg.Go(func() {
				for i := range n {
					mustOK(t, "RevokeSessionTokens", b.RevokeSessionTokens(t.Context(), "alice", sid(i), at(2*hour)), ruleRevokeSID)
					// Spread over the cleanup's run, however fast the
					// store, so that the two overlap.
					time.Sleep(50 * time.Microsecond)
				}
			})
			wg.Wait()
			for i := range n {
				dead, err := b.IsRevoked(t.Context(), query("jti-x", sid(i), "alice", base), now)
				mustOK(t, "IsRevoked", err, ruleIsRevoked)
				if !dead {
					lost = append(lost, sid(i))
				}
			}
		}
		if len(lost) > 0 {
			t.Errorf("%d of %d session revocations extended (until +2h) while DeleteExpiredRevocations collected them as expired (until +1m) were deleted: %q…; %s; %s", len(lost), rounds*n, lost[:min(3, len(lost))], ruleRevokeSID, ruleDeleteRevs)
		}
	})

	t.Run("Scale", func(t *testing.T) { revocationScale(t, h) })

	t.Run("Reopen", func(t *testing.T) {
		a, _ := open(t, h)
		mustOK(t, "RevokeToken", a.RevokeToken(t.Context(), "bob", "jti-1", at(hour)), ruleRevokeJTI)
		mustOK(t, "RevokeSessionTokens", a.RevokeSessionTokens(t.Context(), "bob", "sid-1", at(hour)), ruleRevokeSID)
		mustOK(t, "SetCutoff", a.SetCutoff(t.Context(), "alice", base, at(hour)), ruleCutoff)
		issued := time.Now()
		c, ok := reopen(t, h, a)
		if !ok {
			return
		}
		// A reopen that lost nothing starts no new epoch: a token issued
		// (by the real clock) before it and never revoked still passes
		// (found by review: a store that rewrote its marker at every start
		// logged everyone out at every restart).
		wantDead(t, c, query("jti-live", "", "carol", issued), time.Now().Add(time.Millisecond), false, "a token issued before reopening, never revoked", ruleRevDurable)
		now := at(minute)
		wantDead(t, c, query("jti-1", "", "bob", base), now, true, "jti revoked before reopening", ruleRevDurable)
		wantDead(t, c, query("jti-2", "sid-1", "bob", base), now, true, "sid revoked before reopening", ruleRevDurable)
		wantDead(t, c, query("jti-3", "", "alice", base), now, true, "cutoff set before reopening", ruleRevDurable)
	})

	t.Run("Context", func(t *testing.T) { revocationContext(t, h) })
	t.Run("Unavailable", func(t *testing.T) { revocationUnavailable(t, h) })
	t.Run("Stalled", func(t *testing.T) { revocationStalled(t, h) })
}

// setupGarbageRevocations writes, for each kind of entry, one whose until
// is base+2h (garbage at base+2h) and one a microsecond later.
func setupGarbageRevocations(t *testing.T, s authkit.RevocationStore) {
	t.Helper()
	ctx := t.Context()
	for _, c := range []struct {
		suffix string
		until  time.Time
	}{{"old", at(2 * hour)}, {"new", at(2*hour + micro)}} {
		mustOK(t, "RevokeToken", s.RevokeToken(ctx, "x", "jti-"+c.suffix, c.until), ruleRevokeJTI)
		mustOK(t, "RevokeSessionTokens", s.RevokeSessionTokens(ctx, "x", "sid-"+c.suffix, c.until), ruleRevokeSID)
		mustOK(t, "SetCutoff", s.SetCutoff(ctx, "subject-"+c.suffix, base, c.until), ruleCutoff)
	}
}

func checkLiveRevocations(t *testing.T, s authkit.RevocationStore) {
	t.Helper()
	now := at(2 * hour)
	why := "its until is a microsecond after the cleanup time"
	rule := "DeleteExpiredRevocations must keep entries whose until is after now; " + ruleDeleteRevs
	wantDead(t, s, query("jti-new", "", "x", base), now, true, why, rule)
	wantDead(t, s, query("x", "sid-new", "x", base), now, true, why, rule)
	wantDead(t, s, query("x", "", "subject-new", base), now, true, why, rule)
}
