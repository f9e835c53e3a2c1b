package conformance

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/authkit-go/authkit"
)

// The rules of authkit.RefreshStore, quoted in failure messages.
const (
	ruleCreate          = "RefreshStore.CreateSession must store s and its first token as one step"
	ruleSessionCopies   = "a RefreshStore keeps copies of the slices it is given (Scopes, Audience, Claims, a rotation's Successor) and returns fresh ones: changing the caller's slices after a write, or the slices a read returned, changes nothing stored"
	ruleCreateConflict  = "RefreshStore.CreateSession must return ErrConflict and store nothing when a session with the same ID, or a token with the same hash, is already present"
	ruleRotate          = "RefreshStore.RotateRefresh must mark r.Old used (UsedAt = r.Now, Successor = r.Successor), store r.Next in the same session with IssuedAt = r.Now and ExpiresAt = r.NextExpiresAt, set the session's LastUsedAt to r.Now and IdleExpiresAt to r.NextExpiresAt, and return the updated session"
	ruleRotateNotFound  = "RefreshStore.RotateRefresh must return ErrNotFound when there is no record r.Old"
	ruleRotateRevoked   = "RefreshStore.RotateRefresh must return ErrTokenRevoked when the session is revoked, before checking reuse and expiry"
	ruleRotateReuse     = "RefreshStore.RotateRefresh must return a *ReuseError (matching ErrTokenReused) with every field set — SessionID, Subject, UsedAt and Successor of the winning rotation — for an already-used record, and this takes precedence over expiry"
	ruleRotateExpired   = "RefreshStore.RotateRefresh must return ErrTokenExpired when the record or the session expired at r.Now (ExpiresAt <= r.Now)"
	ruleRotateKeepsEnd  = "RefreshStore.RotateRefresh must leave the session's ExpiresAt (its absolute end) as it was, even when r.NextExpiresAt is later: a rotation never extends a session's lifetime"
	ruleRotateAtomic    = "RefreshStore.RotateRefresh must let exactly one of N concurrent calls with the same r.Old succeed; every other call, and any later one, must return a *ReuseError"
	ruleRotateNoRevoke  = "RefreshStore.RotateRefresh must not revoke anything itself"
	ruleRotateFailAtom  = "RefreshStore.RotateRefresh is one atomic step: a call that fails must change nothing"
	ruleRotateConflict  = "RefreshStore.RotateRefresh must return ErrConflict, changing nothing, when a record with hash r.Next is already stored (in any session, used or not, r.Old itself included)"
	ruleRotateOrder     = "RefreshStore.RotateRefresh checks in order: no record r.Old (ErrNotFound), the session revoked (ErrTokenRevoked), the record used (*ReuseError), expired (ErrTokenExpired), and only then a successor hash already stored (ErrConflict)"
	ruleRotateVsRevoke  = "RefreshStore.RevokeSubjectSessions and RotateRefresh are atomic with respect to each other: once RevokeSubjectSessions has returned, no token of a session it revoked rotates, whichever call a concurrent rotation came before"
	ruleLookup          = "RefreshStore.LookupRefresh must return the record with hash h, used or not, expired or not, or ErrNotFound"
	ruleSession         = "RefreshStore.Session must return the session with ID id, live or not, or ErrNotFound"
	ruleList            = "RefreshStore.ListSessions must return subject's live sessions at now (see Session.Live), newest first; no sessions is an empty result, not an error"
	ruleRevokeSession   = "RefreshStore.RevokeSession must mark session id revoked at now; no token of it can be rotated afterwards"
	ruleRevokeNotFound  = "RefreshStore.RevokeSession must return ErrNotFound if there is no such session"
	ruleRevokeTwice     = "RefreshStore.RevokeSession: revoking a revoked session is not an error and its RevokedAt stays the first one"
	ruleRevokeSubject   = "RefreshStore.RevokeSubjectSessions must revoke every session of subject at now and return the IDs of those it revoked (those not already revoked); no sessions is not an error"
	ruleDeleteSessions  = "RefreshStore.DeleteExpiredSessions must delete at most limit garbage records at now — refresh records with ExpiresAt <= now, and sessions that are revoked or past ExpiresAt or IdleExpiresAt, with their records — and return how many records of either kind it deleted; the caller repeats while the result equals limit"
	ruleSessionIsolated = "a subject's sessions must never be listed, revoked or changed through another subject or session (subjects and IDs are compared byte for byte)"
	ruleVisibility      = "RefreshStore implementations must be safe for use by many processes sharing the same data: a write through one handle is seen at once through another"
	ruleDurable         = "a RefreshStore must keep what it stored across a reopen"
)

// newSession returns a session of subject created at created, with an idle
// expiry an hour later and an absolute one 90 days later, and its first
// refresh record, whose hash is hashOf(label).
// cloneSession is s with slices of its own.
func cloneSession(s authkit.Session) authkit.Session {
	s.Scopes, s.Audience, s.Claims = slices.Clone(s.Scopes), slices.Clone(s.Audience), slices.Clone(s.Claims)
	return s
}

// scribbleSession overwrites every element of s's slices in place.
func scribbleSession(s authkit.Session) {
	for _, l := range [][]string{s.Scopes, s.Audience} {
		for i := range l {
			l[i] = "scribbled"
		}
	}
	for i := range s.Claims {
		s.Claims[i] = 'X'
	}
}

func newSession(id, subject string, created time.Time, label string) (authkit.Session, authkit.RefreshRecord) {
	s := authkit.Session{
		ID:            id,
		Subject:       subject,
		ClientID:      "client-web",
		Scopes:        []string{"read", "write"},
		Audience:      []string{"https://api.example.test"},
		Claims:        []byte(`{"tier":"gold","n":1}`),
		UserAgent:     "Mozilla/5.0 (conformance)",
		IP:            "2001:db8::1",
		Name:          "laptop",
		CreatedAt:     created,
		LastUsedAt:    created,
		ExpiresAt:     created.Add(90 * day),
		IdleExpiresAt: created.Add(hour),
	}
	r := authkit.RefreshRecord{
		Hash:      hashOf(label),
		SessionID: id,
		Subject:   subject,
		IssuedAt:  created,
		ExpiresAt: s.IdleExpiresAt,
	}
	return s, r
}

// rotation rotates hashOf(old) to hashOf(next) at now; the successor idles
// out an hour later.
func rotation(old, next string, now time.Time) authkit.Rotation {
	return authkit.Rotation{
		Old:           hashOf(old),
		Next:          hashOf(next),
		NextExpiresAt: now.Add(hour),
		Successor:     []byte("sealed:" + next),
		Now:           now,
	}
}

func createSession(t *testing.T, s authkit.RefreshStore, sess authkit.Session, first authkit.RefreshRecord) {
	t.Helper()
	mustOK(t, fmt.Sprintf("CreateSession(%q)", sess.ID), s.CreateSession(t.Context(), sess, first), ruleCreate)
}

func getSession(t *testing.T, s authkit.RefreshStore, id string, rule string) authkit.Session {
	t.Helper()
	got, err := s.Session(t.Context(), id)
	mustOK(t, fmt.Sprintf("Session(%q)", id), err, rule)
	return got
}

func lookupRefresh(t *testing.T, s authkit.RefreshStore, h authkit.TokenHash, rule string) authkit.RefreshRecord {
	t.Helper()
	got, err := s.LookupRefresh(t.Context(), h)
	mustOK(t, "LookupRefresh", err, rule)
	return got
}

func rotate(t *testing.T, s authkit.RefreshStore, r authkit.Rotation) authkit.Session {
	t.Helper()
	got, err := s.RotateRefresh(t.Context(), r)
	mustOK(t, "RotateRefresh", err, ruleRotate)
	return got
}

func listSessions(t *testing.T, s authkit.RefreshStore, subject string, now time.Time) []authkit.Session {
	t.Helper()
	got, err := s.ListSessions(t.Context(), subject, now)
	mustOK(t, fmt.Sprintf("ListSessions(%q)", subject), err, ruleList)
	return got
}

// wantRefreshAbsent fails t unless no record with hash h exists.
func wantRefreshAbsent(t *testing.T, s authkit.RefreshStore, h authkit.TokenHash, why, rule string) {
	t.Helper()
	_, err := s.LookupRefresh(t.Context(), h)
	if !errors.Is(err, authkit.ErrNotFound) {
		t.Errorf("LookupRefresh of %s returned %v, want ErrNotFound; %s", why, errOrNil(err), rule)
	}
}

func wantSessionAbsent(t *testing.T, s authkit.RefreshStore, id, why, rule string) {
	t.Helper()
	_, err := s.Session(t.Context(), id)
	if !errors.Is(err, authkit.ErrNotFound) {
		t.Errorf("Session(%q) (%s) returned %v, want ErrNotFound; %s", id, why, errOrNil(err), rule)
	}
}

// wantUnused fails t if the record with hash h was marked used. A record
// that is gone is accepted: the call that failed had passed a time at
// which it was expired, and a store may collect it then.
func wantUnused(t *testing.T, s authkit.RefreshStore, h authkit.TokenHash, rule string) {
	t.Helper()
	got, err := s.LookupRefresh(t.Context(), h)
	if errors.Is(err, authkit.ErrNotFound) {
		return
	}
	mustOK(t, "LookupRefresh", err, rule)
	if !got.UsedAt.IsZero() || len(got.Successor) != 0 {
		t.Errorf("after a failed RotateRefresh the presented record has UsedAt %s and a %d-byte Successor; %s", fmtTime(got.UsedAt), len(got.Successor), rule)
	}
}

// wantReuse checks that err is a *ReuseError describing the rotation that
// won: session sess, at usedAt, sealing successor.
func wantReuse(t *testing.T, call string, err error, sess authkit.Session, usedAt time.Time, successor []byte) {
	t.Helper()
	if !errors.Is(err, authkit.ErrTokenReused) {
		t.Errorf("%s returned %v, want an error matching ErrTokenReused; %s", call, errOrNil(err), ruleRotateReuse)
		return
	}
	re, ok := errors.AsType[*authkit.ReuseError](err)
	if !ok {
		t.Errorf("%s returned %v (%T), which matches ErrTokenReused but is not a *ReuseError; %s", call, err, err, ruleRotateReuse)
		return
	}
	var d fieldDiffs
	d.str("SessionID", re.SessionID, sess.ID)
	d.str("Subject", re.Subject, sess.Subject)
	if re.UsedAt.IsZero() {
		d = append(d, "UsedAt: not set")
	} else {
		d.time("UsedAt", re.UsedAt, usedAt)
	}
	d.bytes("Successor", re.Successor, successor)
	d.report(t, call+"'s *ReuseError", ruleRotateReuse)
}

func runRefresh(t *testing.T, h PartialHarness[authkit.RefreshStore]) {
	runRefreshAs(t, h, false)
}

// runRefreshAs runs the refresh-store checks; with named, only those of
// rotation ("Rotate/…" and "Context"), on a store that names every
// rotation's session as the issuer does (namingHarness).
func runRefreshAs(t *testing.T, h PartialHarness[authkit.RefreshStore], named bool) {
	run := func(name string, f func(t *testing.T)) {
		if named && !strings.HasPrefix(name, "Rotate/") && name != "Context" {
			return
		}
		t.Run(name, f)
	}
	run("CreateSession/RoundTrip", func(t *testing.T) {
		a, b := open(t, h)
		in, first := newSession("sess-1", "alice", base, "rt-1")
		// Every time its own: a store that wrote CreatedAt for the others
		// passed (found by review).
		in.LastUsedAt, first.IssuedAt = base.Add(ms), base.Add(2*ms)
		s := cloneSession(in)
		createSession(t, a, in, first)
		scribbleSession(in) // the caller reuses its slices
		got := getSession(t, b, s.ID, ruleSession)
		diffSession(got, s).report(t, "Session after CreateSession and the caller changed its slices", ruleCreate+"; "+ruleSessionCopies)
		scribbleSession(got) // the caller changes what it read
		diffSession(getSession(t, a, s.ID, ruleSession), s).report(t, "Session read after the slices of a read were changed", ruleSessionCopies)
		diffRecord(lookupRefresh(t, b, first.Hash, ruleLookup), first).report(t, "LookupRefresh of the first token", ruleCreate)
		list := listSessions(t, b, "alice", at(minute))
		if len(list) != 1 {
			t.Fatalf("ListSessions returned %d sessions, want the 1 just created; %s", len(list), ruleList)
		}
		diffSession(list[0], s).report(t, "ListSessions' session", ruleList)
		scribbleSession(list[0])
		diffSession(listSessions(t, a, "alice", at(minute))[0], s).report(t, "the session listed after the slices of a listing were changed", ruleSessionCopies)
	})

	run("CreateSession/DuplicateID", func(t *testing.T) {
		a, b := open(t, h)
		s, first := newSession("sess-dup", "alice", base, "rt-1")
		createSession(t, a, s, first)
		s2, first2 := newSession("sess-dup", "bob", at(minute), "rt-2")
		wantErr(t, "CreateSession with a taken ID", b.CreateSession(t.Context(), s2, first2), authkit.ErrConflict, ruleCreateConflict)
		wantRefreshAbsent(t, a, first2.Hash, "the first token of the refused session", ruleCreateConflict)
		diffSession(getSession(t, a, s.ID, ruleSession), s).report(t, "the existing session after a conflicting CreateSession", ruleCreateConflict)
		if got := listSessions(t, a, "bob", at(2*minute)); len(got) != 0 {
			t.Errorf("ListSessions(bob) lists %q after bob's CreateSession was refused; %s", sessionIDs(got), ruleCreateConflict)
		}
		// A revoked session's ID stays taken (a unique index over live
		// sessions only accepted it; found by review).
		mustOK(t, "RevokeSession", a.RevokeSession(t.Context(), s.ID, at(3*minute)), ruleRevokeSession)
		s3, first3 := newSession("sess-dup", "carol", at(4*minute), "rt-3")
		wantErr(t, "CreateSession with a revoked session's ID", b.CreateSession(t.Context(), s3, first3), authkit.ErrConflict, ruleCreateConflict)
		wantRefreshAbsent(t, a, first3.Hash, "the first token of the refused session", ruleCreateConflict)
	})

	run("CreateSession/DuplicateHash", func(t *testing.T) {
		a, b := open(t, h)
		s, first := newSession("sess-1", "alice", base, "rt-1")
		createSession(t, a, s, first)
		rotate(t, a, rotation("rt-1", "rt-2", at(minute)))
		// The hash of a used record (rt-1) and of one a rotation stored (rt-2).
		for i, label := range []string{"rt-1", "rt-2"} {
			id := fmt.Sprintf("sess-other-%d", i)
			s2, first2 := newSession(id, "bob", at(2*minute), label)
			wantErr(t, fmt.Sprintf("CreateSession whose first token reuses the hash of %s", label),
				b.CreateSession(t.Context(), s2, first2), authkit.ErrConflict, ruleCreateConflict)
			wantSessionAbsent(t, a, id, "refused for a duplicate hash", ruleCreateConflict)
			if got := lookupRefresh(t, a, hashOf(label), ruleLookup); got.SessionID != s.ID {
				t.Errorf("the record %s now belongs to session %q, want %q; %s", label, got.SessionID, s.ID, ruleCreateConflict)
			}
		}
	})

	// A hash is matched whole: one that differs from a stored hash in its
	// first, a middle or its last byte finds, rotates and conflicts with
	// nothing (found by review: a store keyed by a prefix of the hash
	// passed every other check, and would rotate a stranger's session).
	run("NearMissHash", func(t *testing.T) {
		a, b := open(t, h)
		s, first := newSession("sess-1", "alice", base, "rt-1")
		createSession(t, a, s, first)
		for j, i := range []int{0, len(first.Hash) / 2, len(first.Hash) - 1} {
			near := first.Hash
			near[i] ^= 1
			_, err := b.LookupRefresh(t.Context(), near)
			wantErr(t, fmt.Sprintf("LookupRefresh of a hash that differs from a stored one in byte %d", i), err, authkit.ErrNotFound, ruleLookup)
			r := rotation("rt-1", fmt.Sprint("rt-next-", j), at(minute))
			r.Old = near
			_, err = b.RotateRefresh(t.Context(), r)
			wantErr(t, fmt.Sprintf("RotateRefresh of a hash that differs from a stored one in byte %d", i), err, authkit.ErrNotFound, ruleRotateNotFound)
			s2, first2 := newSession(fmt.Sprint("sess-near-", j), "bob", at(minute), "unused")
			first2.Hash = near
			mustOK(t, fmt.Sprintf("CreateSession whose first hash differs from a stored one in byte %d", i), b.CreateSession(t.Context(), s2, first2), ruleCreateConflict)
			if got := lookupRefresh(t, a, near, ruleLookup); got.SessionID != s2.ID {
				t.Errorf("LookupRefresh of the near-miss hash found session %q, want %q; %s", got.SessionID, s2.ID, ruleLookup)
			}
		}
		wantUnused(t, a, first.Hash, ruleRotateNotFound)
		if got := lookupRefresh(t, a, first.Hash, ruleLookup); got.SessionID != s.ID {
			t.Errorf("LookupRefresh of the original hash found session %q, want %q; %s", got.SessionID, s.ID, ruleLookup)
		}
	})

	run("ReadersDuringWrites", func(t *testing.T) {
		a, b := open(t, h)
		const n = 32
		errs := readDuringWrites(n, func(i int) error {
			s, first := newSession(fmt.Sprint("sess-", i), fmt.Sprint("user-", i%4), base, fmt.Sprint("rt-", i))
			if err := a.CreateSession(t.Context(), s, first); err != nil {
				return err
			}
			if i%2 == 0 {
				_, err := a.RotateRefresh(t.Context(), rotation(fmt.Sprint("rt-", i), fmt.Sprint("rt-next-", i), at(minute)))
				return err
			}
			return a.RevokeSession(t.Context(), s.ID, at(minute))
		}, func(k int) error {
			var err error
			switch k % 3 {
			case 0:
				_, err = b.ListSessions(t.Context(), fmt.Sprint("user-", k%4), at(2*minute))
			case 1:
				_, err = b.LookupRefresh(t.Context(), hashOf(fmt.Sprint("rt-", k%n)))
			default:
				_, err = b.Session(t.Context(), fmt.Sprint("sess-", k%n))
			}
			if errors.Is(err, authkit.ErrNotFound) {
				err = nil // not written yet
			}
			return err
		})
		for _, err := range errs {
			mustOK(t, "a write, LookupRefresh, Session or ListSessions while others wrote", err, ruleLookup)
		}
		for i := range n {
			got := getSession(t, b, fmt.Sprint("sess-", i), ruleSession)
			if revoked := !got.RevokedAt.IsZero(); revoked != (i%2 == 1) {
				t.Errorf("session %d written while readers read: revoked %v, want %v; %s", i, revoked, i%2 == 1, ruleRevokeSession)
			}
			if i%2 == 0 {
				if rec := lookupRefresh(t, b, hashOf(fmt.Sprint("rt-", i)), ruleLookup); rec.UsedAt.IsZero() {
					t.Errorf("session %d's first token, rotated while readers read, is not used; %s", i, ruleRotate)
				}
			}
		}
	})

	run("LookupRefresh/NotFound", func(t *testing.T) {
		a, _ := open(t, h)
		_, err := a.LookupRefresh(t.Context(), hashOf("never-stored"))
		wantErr(t, "LookupRefresh of an unknown hash", err, authkit.ErrNotFound, ruleLookup)
	})

	run("Session/NotFound", func(t *testing.T) {
		a, _ := open(t, h)
		_, err := a.Session(t.Context(), "never-stored")
		wantErr(t, "Session of an unknown ID", err, authkit.ErrNotFound, ruleSession)
	})

	run("Rotate/HappyPath", func(t *testing.T) {
		a, b := open(t, h)
		s, first := newSession("sess-1", "alice", base, "rt-1")
		createSession(t, a, s, first)
		r := rotation("rt-1", "rt-2", at(10*minute))
		r.NextExpiresAt = at(2 * hour)
		got := rotate(t, a, r)
		want := s
		want.LastUsedAt, want.IdleExpiresAt = r.Now, r.NextExpiresAt
		diffSession(got, want).report(t, "the session RotateRefresh returned", ruleRotate)
		diffSession(getSession(t, b, s.ID, ruleSession), want).report(t, "Session after RotateRefresh", ruleRotate)
		diffRecord(lookupRefresh(t, b, r.Next, ruleLookup), authkit.RefreshRecord{
			Hash: r.Next, SessionID: s.ID, Subject: s.Subject, IssuedAt: r.Now, ExpiresAt: r.NextExpiresAt,
		}).report(t, "LookupRefresh of the successor", ruleRotate)
		old := first
		old.UsedAt, old.Successor = r.Now, slices.Clone(r.Successor)
		diffRecord(lookupRefresh(t, b, r.Old, ruleLookup), old).report(t, "LookupRefresh of the rotated (used) record", ruleRotate+"; "+ruleLookup)

		// The caller's Successor, and the slices of the session returned,
		// stay the caller's: changing them afterwards changes nothing
		// stored (found by review: neither was checked for RotateRefresh).
		want.Scopes, want.Audience, want.Claims = slices.Clone(want.Scopes), slices.Clone(want.Audience), slices.Clone(want.Claims)
		copy(r.Successor, "XXXXXXXX")
		got.Scopes[0], got.Audience[0], got.Claims[0] = "admin", "https://evil.example", 'X'
		diffRecord(lookupRefresh(t, b, r.Old, ruleLookup), old).report(t, "LookupRefresh of the rotated record after the caller changed its Successor slice", ruleSessionCopies)
		diffSession(getSession(t, b, s.ID, ruleSession), want).report(t, "Session after the caller changed the slices RotateRefresh returned", ruleSessionCopies)

		// IdleExpiresAt is set to r.NextExpiresAt, earlier ones too (a
		// client with a shorter refresh lifetime): not the later of the
		// two (found by review).
		r2 := rotation("rt-2", "rt-3", at(20*minute))
		r2.NextExpiresAt = at(30 * minute)
		want.LastUsedAt, want.IdleExpiresAt = r2.Now, r2.NextExpiresAt
		diffSession(rotate(t, a, r2), want).report(t, "the session RotateRefresh returned for an earlier NextExpiresAt", ruleRotate)
		diffSession(getSession(t, b, s.ID, ruleSession), want).report(t, "Session after a RotateRefresh with an earlier NextExpiresAt", ruleRotate)
	})

	run("Rotate/NotFound", func(t *testing.T) {
		a, _ := open(t, h)
		s, first := newSession("sess-1", "alice", base, "rt-1")
		createSession(t, a, s, first)
		r := rotation("never-stored", "rt-2", at(minute))
		_, err := a.RotateRefresh(t.Context(), r)
		wantErr(t, "RotateRefresh of an unknown hash", err, authkit.ErrNotFound, ruleRotateNotFound)
		wantRefreshAbsent(t, a, r.Next, "the successor of a failed rotation", ruleRotateFailAtom)
		diffSession(getSession(t, a, s.ID, ruleSession), s).report(t, "an unrelated session after a failed RotateRefresh", ruleRotateFailAtom)
	})

	run("Rotate/Revoked", func(t *testing.T) {
		a, b := open(t, h)
		s, first := newSession("sess-1", "alice", base, "rt-1")
		createSession(t, a, s, first)
		mustOK(t, "RevokeSession", a.RevokeSession(t.Context(), s.ID, at(minute)), ruleRevokeSession)
		r := rotation("rt-1", "rt-2", at(2*minute))
		_, err := b.RotateRefresh(t.Context(), r)
		wantErr(t, "RotateRefresh in a revoked session", err, authkit.ErrTokenRevoked, ruleRotateRevoked)
		wantRefreshAbsent(t, a, r.Next, "the successor of a refused rotation", ruleRotateFailAtom)
		wantUnused(t, a, r.Old, ruleRotateFailAtom)
		if got := getSession(t, a, s.ID, ruleSession); !sameInstant(got.LastUsedAt, s.LastUsedAt) || !sameInstant(got.IdleExpiresAt, s.IdleExpiresAt) {
			t.Errorf("a refused RotateRefresh moved the session's LastUsedAt/IdleExpiresAt to %s/%s; %s", fmtTime(got.LastUsedAt), fmtTime(got.IdleExpiresAt), ruleRotateFailAtom)
		}
	})

	// A revocation counts from when it is made, whatever the clocks: a
	// replica whose clock is behind the one that revoked must not rotate
	// in the session because r.Now is before RevokedAt.
	run("Rotate/RevokedAheadOfNow", func(t *testing.T) {
		a, b := open(t, h)
		s, first := newSession("sess-1", "alice", base, "rt-1")
		createSession(t, a, s, first)
		mustOK(t, "RevokeSession", a.RevokeSession(t.Context(), s.ID, at(2*minute)), ruleRevokeSession)
		_, err := b.RotateRefresh(t.Context(), rotation("rt-1", "rt-2", at(minute)))
		wantErr(t, "RotateRefresh with a now before the session's RevokedAt", err, authkit.ErrTokenRevoked, ruleRotateRevoked)
		s2, first2 := newSession("sess-2", "bob", base, "rt-b1")
		createSession(t, a, s2, first2)
		_, err = a.RevokeSubjectSessions(t.Context(), "bob", at(2*minute))
		mustOK(t, "RevokeSubjectSessions", err, ruleRevokeSubject)
		_, err = b.RotateRefresh(t.Context(), rotation("rt-b1", "rt-b2", at(minute)))
		wantErr(t, "RotateRefresh with a now before RevokeSubjectSessions' now", err, authkit.ErrTokenRevoked, ruleRevokeSubject+"; "+ruleRotateRevoked)
	})

	run("Rotate/RevokedBeforeReuse", func(t *testing.T) {
		a, b := open(t, h)
		s, first := newSession("sess-1", "alice", base, "rt-1")
		createSession(t, a, s, first)
		rotate(t, a, rotation("rt-1", "rt-2", at(minute)))
		mustOK(t, "RevokeSession", a.RevokeSession(t.Context(), s.ID, at(2*minute)), ruleRevokeSession)
		_, err := b.RotateRefresh(t.Context(), rotation("rt-1", "rt-3", at(3*minute)))
		if errors.Is(err, authkit.ErrTokenReused) {
			t.Errorf("RotateRefresh of a used token in a revoked session returned %v; %s", err, ruleRotateRevoked)
		}
		wantErr(t, "RotateRefresh of a used token in a revoked session", err, authkit.ErrTokenRevoked, ruleRotateRevoked)
	})

	run("Rotate/RevokedBeforeExpiry", func(t *testing.T) {
		a, b := open(t, h)
		s, first := newSession("sess-1", "alice", base, "rt-1") // first expires at base+1h
		createSession(t, a, s, first)
		mustOK(t, "RevokeSession", a.RevokeSession(t.Context(), s.ID, at(minute)), ruleRevokeSession)
		_, err := b.RotateRefresh(t.Context(), rotation("rt-1", "rt-2", at(2*hour)))
		wantErr(t, "RotateRefresh of an expired token in a revoked session", err, authkit.ErrTokenRevoked, ruleRotateRevoked)
	})

	run("Rotate/Reuse", func(t *testing.T) {
		a, b := open(t, h)
		s, first := newSession("sess-1", "alice", base, "rt-1")
		createSession(t, a, s, first)
		r := rotation("rt-1", "rt-2", at(minute))
		r.Successor = allBytes()
		rotate(t, a, r)
		_, err := b.RotateRefresh(t.Context(), rotation("rt-1", "rt-3", at(2*minute)))
		wantReuse(t, "RotateRefresh of a used token", err, s, r.Now, r.Successor)
		wantRefreshAbsent(t, a, hashOf("rt-3"), "the successor a reused token asked for", ruleRotateAtomic)
		// The Successor slices a read and a *ReuseError hand out are the
		// caller's (found by review: the stored slice handed out passed).
		if re, ok := errors.AsType[*authkit.ReuseError](err); ok {
			copy(re.Successor, "XXXXXXXX")
		}
		copy(lookupRefresh(t, b, r.Old, ruleLookup).Successor, "YYYYYYYY")
		_, err = b.RotateRefresh(t.Context(), rotation("rt-1", "rt-3", at(2*minute)))
		wantReuse(t, "RotateRefresh of a used token, after the caller changed the Successor of a read and of a *ReuseError", err, s, r.Now, r.Successor)
		if got := lookupRefresh(t, a, r.Old, ruleLookup).Successor; !sameBytes(got, r.Successor) {
			t.Errorf("LookupRefresh of the used token after the caller changed the Successor slices it was handed: %q, want %q; %s", trunc(got), trunc(r.Successor), ruleSessionCopies)
		}
		if got := getSession(t, a, s.ID, ruleSession); !got.RevokedAt.IsZero() {
			t.Errorf("the session was revoked (RevokedAt %s) by a RotateRefresh that detected reuse; %s", fmtTime(got.RevokedAt), ruleRotateNoRevoke)
		}
		// The family's current token still rotates: revoking is the issuer's job.
		rotate(t, b, rotation("rt-2", "rt-4", at(3*minute)))
	})

	// Every later reuse reports the winning rotation, and changes nothing:
	// a store that moved UsedAt to each attempt's now would keep the
	// issuer's reuse grace window open for a thief replaying the token.
	run("Rotate/ReuseAgain", func(t *testing.T) {
		a, b := open(t, h)
		s, first := newSession("sess-1", "alice", base, "rt-1")
		createSession(t, a, s, first)
		r := rotation("rt-1", "rt-2", at(minute))
		good := rotate(t, a, r)
		for i, now := range []time.Duration{2 * minute, 3 * minute, 4 * minute} {
			_, err := b.RotateRefresh(t.Context(), rotation("rt-1", fmt.Sprint("rt-x", i), at(now)))
			wantReuse(t, fmt.Sprintf("reuse number %d of a rotated token", i+1), err, s, r.Now, r.Successor)
		}
		old := first
		old.UsedAt, old.Successor = r.Now, r.Successor
		diffRecord(lookupRefresh(t, a, r.Old, ruleLookup), old).report(t, "a rotated record after three reuses", ruleRotateReuse+"; "+ruleRotateFailAtom)
		diffSession(getSession(t, a, s.ID, ruleSession), good).report(t, "the session after three reuses", ruleRotateFailAtom)
	})

	// A rotation refused as expired leaves the session as it was (not an
	// update of the session's idle expiry before the record is checked).
	run("Rotate/ExpiredChangesNothing", func(t *testing.T) {
		a, b := open(t, h)
		s, first := newSession("sess-e", "bob", base, "rt-e1") // rt-e1 idles out at base+1h
		s.IdleExpiresAt = at(3 * hour)
		createSession(t, a, s, first)
		_, err := b.RotateRefresh(t.Context(), rotation("rt-e1", "rt-e2", at(2*hour)))
		wantErr(t, "RotateRefresh of an expired record", err, authkit.ErrTokenExpired, ruleRotateExpired)
		diffSession(getSession(t, a, s.ID, ruleSession), s).report(t, "the session after a RotateRefresh of an expired record", ruleRotateFailAtom)
	})

	run("Rotate/ReuseBeforeExpiry", func(t *testing.T) {
		a, b := open(t, h)
		s, first := newSession("sess-1", "alice", base, "rt-1") // expires at base+1h
		s.ExpiresAt = at(90 * minute)
		createSession(t, a, s, first)
		r := rotation("rt-1", "rt-2", at(minute)) // rt-2 idles out at base+1h1m
		rotate(t, a, r)
		// At base+2h the used record, its successor and the session are all expired.
		_, err := b.RotateRefresh(t.Context(), rotation("rt-1", "rt-3", at(2*hour)))
		wantReuse(t, "RotateRefresh of a used token after every expiry", err, s, r.Now, r.Successor)
	})

	run("Rotate/RecordExpired", func(t *testing.T) {
		a, b := open(t, h)
		live, liveFirst := newSession("sess-live", "alice", base, "rt-live") // record expires at base+1h
		dead, deadFirst := newSession("sess-dead", "alice", base, "rt-dead")
		// The sessions idle out and end later than the records: the
		// record's own ExpiresAt decides (found missing by mutation
		// testing: with all three equal, a store that let a record live
		// to its ExpiresAt inclusive passed).
		live.IdleExpiresAt, dead.IdleExpiresAt = at(2*hour), at(2*hour)
		createSession(t, a, live, liveFirst)
		createSession(t, a, dead, deadFirst)
		if _, err := b.RotateRefresh(t.Context(), rotation("rt-live", "rt-live-2", at(hour-micro))); err != nil {
			t.Errorf("RotateRefresh one microsecond before the record's ExpiresAt: %v; %s", err, ruleRotateExpired)
		}
		r := rotation("rt-dead", "rt-dead-2", at(hour))
		_, err := b.RotateRefresh(t.Context(), r)
		wantErr(t, "RotateRefresh at exactly the record's ExpiresAt", err, authkit.ErrTokenExpired, ruleRotateExpired)
		wantRefreshAbsent(t, a, r.Next, "the successor of an expired token", ruleRotateFailAtom)
		wantUnused(t, a, r.Old, ruleRotateFailAtom)
	})

	run("Rotate/SessionExpired", func(t *testing.T) {
		a, b := open(t, h)
		live, liveFirst := newSession("sess-live", "alice", base, "rt-live")
		dead, deadFirst := newSession("sess-dead", "alice", base, "rt-dead")
		live.ExpiresAt, dead.ExpiresAt = at(30*minute), at(30*minute) // records idle out at base+1h
		createSession(t, a, live, liveFirst)
		createSession(t, a, dead, deadFirst)
		// The successor idles out at base+1h30m, after the session's end.
		got, err := b.RotateRefresh(t.Context(), rotation("rt-live", "rt-live-2", at(30*minute-micro)))
		if err != nil {
			t.Errorf("RotateRefresh one microsecond before the session's ExpiresAt: %v; %s", err, ruleRotateExpired)
		} else if !sameInstant(got.ExpiresAt, live.ExpiresAt) {
			t.Errorf("RotateRefresh returned a session whose ExpiresAt is %s, want %s as before; %s", fmtTime(got.ExpiresAt), fmtTime(live.ExpiresAt), ruleRotateKeepsEnd)
		}
		if s := getSession(t, a, live.ID, ruleSession); !sameInstant(s.ExpiresAt, live.ExpiresAt) {
			t.Errorf("after a rotation whose successor idles out later, the session's ExpiresAt is %s, want %s as before; %s", fmtTime(s.ExpiresAt), fmtTime(live.ExpiresAt), ruleRotateKeepsEnd)
		}
		r := rotation("rt-dead", "rt-dead-2", at(30*minute))
		_, err = b.RotateRefresh(t.Context(), r)
		wantErr(t, "RotateRefresh at exactly the session's ExpiresAt", err, authkit.ErrTokenExpired, ruleRotateExpired)
		wantRefreshAbsent(t, a, r.Next, "the successor in an expired session", ruleRotateFailAtom)
		wantUnused(t, a, r.Old, ruleRotateFailAtom)
	})

	run("Rotate/SessionIdleExpired", func(t *testing.T) {
		a, b := open(t, h)
		live, liveFirst := newSession("sess-live", "alice", base, "rt-live")
		dead, deadFirst := newSession("sess-dead", "alice", base, "rt-dead")
		// The session idles out before its record does, and long before
		// its absolute end.
		live.IdleExpiresAt, dead.IdleExpiresAt = at(30*minute), at(30*minute)
		createSession(t, a, live, liveFirst)
		createSession(t, a, dead, deadFirst)
		if _, err := b.RotateRefresh(t.Context(), rotation("rt-live", "rt-live-2", at(30*minute-micro))); err != nil {
			t.Errorf("RotateRefresh one microsecond before the session's IdleExpiresAt: %v; %s", err, ruleRotateExpired)
		}
		r := rotation("rt-dead", "rt-dead-2", at(30*minute))
		_, err := b.RotateRefresh(t.Context(), r)
		wantErr(t, "RotateRefresh at exactly the session's IdleExpiresAt (its record and absolute end still ahead)", err, authkit.ErrTokenExpired, ruleRotateExpired)
		wantRefreshAbsent(t, a, r.Next, "the successor in an idle session", ruleRotateFailAtom)
		wantUnused(t, a, r.Old, ruleRotateFailAtom)
	})

	run("Rotate/Chain", func(t *testing.T) {
		a, b := open(t, h)
		s, first := newSession("sess-1", "alice", base, "rt-A")
		createSession(t, a, s, first)
		ab := rotation("rt-A", "rt-B", at(minute))
		bc := rotation("rt-B", "rt-C", at(2*minute))
		rotate(t, a, ab)
		got := rotate(t, b, bc)
		if !sameInstant(got.LastUsedAt, bc.Now) || !sameInstant(got.IdleExpiresAt, bc.NextExpiresAt) {
			t.Errorf("after A→B→C the session has LastUsedAt %s, IdleExpiresAt %s, want %s, %s; %s",
				fmtTime(got.LastUsedAt), fmtTime(got.IdleExpiresAt), fmtTime(bc.Now), fmtTime(bc.NextExpiresAt), ruleRotate)
		}
		_, err := a.RotateRefresh(t.Context(), rotation("rt-A", "rt-X", at(3*minute)))
		wantReuse(t, "RotateRefresh of A after A→B→C", err, s, ab.Now, ab.Successor)
		_, err = b.RotateRefresh(t.Context(), rotation("rt-B", "rt-Y", at(4*minute)))
		wantReuse(t, "RotateRefresh of B after A→B→C", err, s, bc.Now, bc.Successor)
		if c := lookupRefresh(t, a, hashOf("rt-C"), ruleLookup); !c.UsedAt.IsZero() {
			t.Errorf("C, the current token, is marked used at %s after reuse of A and B was refused; %s", fmtTime(c.UsedAt), ruleRotateFailAtom)
		}
		rotate(t, a, rotation("rt-C", "rt-D", at(5*minute)))
	})

	run("Rotate/ExactlyOneWinner", func(t *testing.T) {
		a, b := open(t, h)
		s, first := newSession("sess-race", "alice", base, "rt-0")
		createSession(t, a, s, first)
		const n = 64
		now := at(minute)
		type result struct {
			r    authkit.Rotation
			sess authkit.Session
			err  error
		}
		results := make([]result, n)
		together(n, a, b, func(i int, st authkit.RefreshStore) func() {
			r := rotation("rt-0", fmt.Sprintf("rt-race-%d", i), now)
			results[i].r = r
			return func() { results[i].sess, results[i].err = st.RotateRefresh(t.Context(), r) }
		})

		var winners []int
		for i, res := range results {
			if res.err == nil {
				winners = append(winners, i)
			}
		}
		if len(winners) != 1 {
			t.Fatalf("%d of %d concurrent RotateRefresh calls with the same r.Old succeeded; %s", len(winners), n, ruleRotateAtomic)
		}
		w := results[winners[0]].r
		for i, res := range results {
			if i == winners[0] {
				continue
			}
			if _, ok := errors.AsType[*authkit.ReuseError](res.err); !ok {
				t.Errorf("a losing concurrent RotateRefresh returned %v, want a *ReuseError; %s", errOrNil(res.err), ruleRotateAtomic)
				continue
			}
			// Every loser must describe the one rotation that won.
			wantReuse(t, "a losing concurrent RotateRefresh", res.err, s, now, w.Successor)
		}
		for i, res := range results {
			_, err := a.LookupRefresh(t.Context(), res.r.Next)
			switch {
			case i == winners[0] && err != nil:
				t.Errorf("LookupRefresh of the winner's successor: %v; %s", err, ruleRotate)
			case i != winners[0] && !errors.Is(err, authkit.ErrNotFound):
				t.Errorf("LookupRefresh of a loser's successor returned %v, want ErrNotFound: the family forked; %s", errOrNil(err), ruleRotateAtomic)
			}
		}
		old := first
		old.UsedAt, old.Successor = now, w.Successor
		diffRecord(lookupRefresh(t, b, first.Hash, ruleLookup), old).report(t, "the raced record", ruleRotateAtomic)
		_, err := b.RotateRefresh(t.Context(), rotation("rt-0", "rt-late", at(2*minute)))
		wantReuse(t, "a later RotateRefresh of the raced token", err, s, now, w.Successor)
		rotate(t, a, authkit.Rotation{Old: w.Next, Next: hashOf("rt-after"), NextExpiresAt: at(hour), Successor: []byte("s"), Now: at(3 * minute)})
	})

	// The same race again, many rounds, each on a session of its own: a
	// store that checks and writes in two steps without latency between
	// them loses it only now and then.
	run("Rotate/ExactlyOneWinnerRounds", func(t *testing.T) {
		a, b := open(t, h)
		const n = 32
		now := at(minute)
		repeatRace(func(r int) bool {
			old := fmt.Sprintf("rt-round-%03d", r)
			s, first := newSession(fmt.Sprintf("sess-round-%03d", r), "alice", base, old)
			createSession(t, a, s, first)
			errs := make([]error, n)
			together(n, a, b, func(i int, st authkit.RefreshStore) func() {
				rot := rotation(old, fmt.Sprintf("%s-next-%02d", old, i), now)
				return func() { _, errs[i] = st.RotateRefresh(t.Context(), rot) }
			})
			wins := 0
			for _, err := range errs {
				if err == nil {
					wins++
				} else if _, ok := errors.AsType[*authkit.ReuseError](err); !ok {
					t.Errorf("round %d: a losing concurrent RotateRefresh returned %v, want a *ReuseError; %s", r, err, ruleRotateAtomic)
					return false
				}
			}
			if wins != 1 {
				t.Errorf("round %d: %d of %d concurrent RotateRefresh calls with the same r.Old succeeded; %s", r, wins, n, ruleRotateAtomic)
				return false
			}
			return true
		})
	})

	run("Rotate/SuccessorConflict", func(t *testing.T) {
		a, b := open(t, h)
		s, first := newSession("sess-1", "alice", base, "rt-1")
		createSession(t, a, s, first)
		other, otherFirst := newSession("sess-2", "bob", base, "rt-other")
		createSession(t, a, other, otherFirst)
		rotate(t, a, rotation("rt-other", "rt-other-2", at(minute))) // rt-other is now used
		for _, taken := range []string{"rt-other-2", "rt-other", "rt-1"} {
			r := rotation("rt-1", taken, at(2*minute))
			_, err := b.RotateRefresh(t.Context(), r)
			wantErr(t, fmt.Sprintf("RotateRefresh to a successor hash already stored (%s)", taken), err, authkit.ErrConflict, ruleRotateConflict)
			wantUnused(t, a, r.Old, ruleRotateConflict)
			diffSession(getSession(t, a, s.ID, ruleSession), s).report(t, "the session after a conflicting RotateRefresh", ruleRotateConflict)
		}
		// The record that was in the way is untouched, and the token
		// still rotates.
		diffRecord(lookupRefresh(t, b, hashOf("rt-other-2"), ruleLookup), authkit.RefreshRecord{
			Hash: hashOf("rt-other-2"), SessionID: other.ID, Subject: other.Subject, IssuedAt: at(minute), ExpiresAt: at(minute).Add(hour),
		}).report(t, "the record a conflicting RotateRefresh named as its successor", ruleRotateConflict)
		rotate(t, a, rotation("rt-1", "rt-2", at(3*minute)))

		// The conflict is the last check: a used, expired or revoked
		// token named with a taken successor gets its own answer (a store
		// that checked the successor first answered ErrConflict to a
		// replayed token, and reuse detection never fired; found by
		// review).
		_, err := b.RotateRefresh(t.Context(), rotation("rt-other", "rt-1", at(4*minute)))
		wantErr(t, "RotateRefresh of a used token to a successor hash already stored", err, authkit.ErrTokenReused, ruleRotateReuse+"; "+ruleRotateOrder)
		gone, goneFirst := newSession("sess-4", "dave", base, "rt-4")
		createSession(t, a, gone, goneFirst)
		mustOK(t, "RevokeSession", a.RevokeSession(t.Context(), gone.ID, at(minute)), ruleRevokeSession)
		_, err = b.RotateRefresh(t.Context(), rotation("rt-4", "rt-2", at(5*minute)))
		wantErr(t, "RotateRefresh of a revoked session's token to a successor hash already stored", err, authkit.ErrTokenRevoked, ruleRotateRevoked+"; "+ruleRotateOrder)
		// Last: a now past every expiry lets the store drop what it holds.
		old, oldFirst := newSession("sess-3", "carol", base, "rt-3")
		createSession(t, a, old, oldFirst)
		live, liveFirst := newSession("sess-5", "erin", base, "rt-5")
		live.IdleExpiresAt, liveFirst.ExpiresAt = at(3*hour), at(3*hour) // live at base+2h
		createSession(t, a, live, liveFirst)
		_, err = b.RotateRefresh(t.Context(), rotation("rt-3", "rt-5", at(2*hour)))
		wantErr(t, "RotateRefresh of an expired token to a successor hash already stored", err, authkit.ErrTokenExpired, ruleRotateExpired+"; "+ruleRotateOrder)
	})

	run("Rotate/RacingRevokeSubject", func(t *testing.T) {
		a, b := open(t, h)
		const rounds = 16
		for i := range rounds {
			subject := fmt.Sprint("racer-", i)
			s, first := newSession(fmt.Sprint("sess-race-", i), subject, base, fmt.Sprint("rt-race-", i))
			createSession(t, a, s, first)
			r := rotation(fmt.Sprint("rt-race-", i), fmt.Sprint("rt-race-", i, "-next"), at(minute))
			var (
				wg       sync.WaitGroup
				rotErr   error
				revoked  []string
				revErr   error
				start    = make(chan struct{})
				rotateOn = a
			)
			if i%2 == 1 {
				rotateOn = b
			}
			wg.Go(func() { <-start; _, rotErr = rotateOn.RotateRefresh(t.Context(), r) })
			wg.Go(func() { <-start; revoked, revErr = a.RevokeSubjectSessions(t.Context(), subject, at(minute)) })
			close(start)
			wg.Wait()
			mustOK(t, "RevokeSubjectSessions", revErr, ruleRevokeSubject)
			if !slices.Equal(revoked, []string{s.ID}) {
				t.Errorf("round %d: RevokeSubjectSessions racing a rotation returned %q, want [%s]; %s", i, revoked, s.ID, ruleRevokeSubject)
			}
			if rotErr != nil && !errors.Is(rotErr, authkit.ErrTokenRevoked) {
				t.Errorf("round %d: RotateRefresh racing RevokeSubjectSessions returned %v, want nil or ErrTokenRevoked; %s", i, rotErr, ruleRotateVsRevoke)
			}
			// Whichever came first, nothing of the session rotates now.
			for _, tok := range []string{fmt.Sprint("rt-race-", i), fmt.Sprint("rt-race-", i, "-next")} {
				_, err := b.RotateRefresh(t.Context(), rotation(tok, tok+"-after", at(2*minute)))
				if !errors.Is(err, authkit.ErrTokenRevoked) && !(errors.Is(err, authkit.ErrNotFound) && rotErr != nil && strings.HasSuffix(tok, "-next")) {
					t.Errorf("round %d: RotateRefresh of %s after RevokeSubjectSessions returned %v, want ErrTokenRevoked; %s", i, tok, errOrNil(err), ruleRotateVsRevoke)
				}
			}
			if got := getSession(t, b, s.ID, ruleSession); got.RevokedAt.IsZero() {
				t.Errorf("round %d: the session is not revoked after RevokeSubjectSessions raced a rotation; %s", i, ruleRotateVsRevoke)
			}
		}
	})

	// The same race with RevokeSession, the revocation started at a spread
	// of delays over about one rotation's duration: a store whose rotation
	// reads the session and writes it back (a read-modify-write of the
	// session row) undoes a revocation that lands in between, and only a
	// revocation that lands there shows it.
	run("Rotate/RacingRevokeSession", func(t *testing.T) {
		a, b := open(t, h)
		probe, probeFirst := newSession("sess-probe", "prober", base, "rt-probe")
		createSession(t, a, probe, probeFirst)
		began := time.Now()
		rotate(t, a, rotation("rt-probe", "rt-probe-next", at(minute)))
		span := max(time.Since(began), 100*time.Microsecond)
		const rounds = 32
		for i := range rounds {
			id, tok := fmt.Sprint("sess-rr-", i), fmt.Sprint("rt-rr-", i)
			s, first := newSession(id, "alice", base, tok)
			createSession(t, a, s, first)
			delay := span * time.Duration(3*i) / (2 * rounds) // 0 to 1.5 rotations
			var (
				wg             sync.WaitGroup
				rotErr, revErr error
			)
			wg.Go(func() { _, rotErr = a.RotateRefresh(t.Context(), rotation(tok, tok+"-next", at(minute))) })
			wg.Go(func() { time.Sleep(delay); revErr = b.RevokeSession(t.Context(), id, at(minute)) })
			wg.Wait()
			mustOK(t, "RevokeSession", revErr, ruleRevokeSession)
			if rotErr != nil && !errors.Is(rotErr, authkit.ErrTokenRevoked) {
				t.Errorf("round %d: RotateRefresh racing RevokeSession returned %v, want nil or ErrTokenRevoked; %s", i, rotErr, ruleRevokeSession)
			}
			for _, x := range []string{tok, tok + "-next"} {
				_, err := b.RotateRefresh(t.Context(), rotation(x, x+"-after", at(2*minute)))
				if !errors.Is(err, authkit.ErrTokenRevoked) && !(errors.Is(err, authkit.ErrNotFound) && rotErr != nil && x == tok+"-next") {
					t.Errorf("round %d (revocation %v after the rotation began): RotateRefresh of %s after RevokeSession returned %v, want ErrTokenRevoked; %s", i, delay, x, errOrNil(err), ruleRevokeSession)
				}
			}
			if got := getSession(t, b, id, ruleSession); got.RevokedAt.IsZero() {
				t.Errorf("round %d (revocation %v after the rotation began): the session is not revoked after RevokeSession raced a rotation; %s", i, delay, ruleRevokeSession)
			}
		}
	})

	run("ListSessions/Empty", func(t *testing.T) {
		a, _ := open(t, h)
		got, err := a.ListSessions(t.Context(), "nobody", base)
		mustOK(t, "ListSessions of a subject with no sessions", err, ruleList)
		if len(got) != 0 {
			t.Errorf("ListSessions of a subject with no sessions returned %q; %s", sessionIDs(got), ruleList)
		}
	})

	run("ListSessions/NewestFirst", func(t *testing.T) {
		a, b := open(t, h)
		// Created out of order; CreatedAt decides.
		for i, off := range []time.Duration{3 * ms, 1 * ms, 4 * ms, 2 * ms} {
			s, first := newSession(fmt.Sprintf("sess-%d", i), "alice", base.Add(off), fmt.Sprintf("rt-%d", i))
			createSession(t, a, s, first)
		}
		got := sessionIDs(listSessions(t, b, "alice", at(minute)))
		if want := []string{"sess-2", "sess-0", "sess-3", "sess-1"}; !slices.Equal(got, want) {
			t.Errorf("ListSessions returned %q, want %q (by CreatedAt); %s", got, want, ruleList)
		}
		// Use, not creation, reorders nothing: the oldest session rotated
		// last is still listed last (found by review: ordering by
		// LastUsedAt passed).
		rotate(t, a, rotation("rt-1", "rt-1b", at(2*minute)))
		got = sessionIDs(listSessions(t, b, "alice", at(3*minute)))
		if want := []string{"sess-2", "sess-0", "sess-3", "sess-1"}; !slices.Equal(got, want) {
			t.Errorf("ListSessions after the oldest session rotated returned %q, want %q (by CreatedAt, not LastUsedAt); %s", got, want, ruleList)
		}
	})

	run("ListSessions/LiveOnly", func(t *testing.T) {
		a, b := open(t, h)
		now := at(hour)
		mk := func(id string, created time.Time, edit func(*authkit.Session)) {
			s, first := newSession(id, "alice", created, "rt-"+id)
			s.ExpiresAt, s.IdleExpiresAt = at(10*hour), at(5*hour)
			edit(&s)
			first.ExpiresAt, first.Subject = s.IdleExpiresAt, s.Subject
			createSession(t, a, s, first)
		}
		mk("live", at(1*ms), func(*authkit.Session) {})
		mk("abs-edge", at(2*ms), func(s *authkit.Session) { s.ExpiresAt = now })
		mk("idle-edge", at(3*ms), func(s *authkit.Session) { s.IdleExpiresAt = now })
		mk("just-live", at(4*ms), func(s *authkit.Session) { s.ExpiresAt, s.IdleExpiresAt = now.Add(micro), now.Add(micro) })
		mk("revoked", at(5*ms), func(*authkit.Session) {})
		mk("other-subject", at(6*ms), func(s *authkit.Session) { s.Subject = "bob" })
		mustOK(t, "RevokeSession", a.RevokeSession(t.Context(), "revoked", at(minute)), ruleRevokeSession)
		got := sessionIDs(listSessions(t, b, "alice", now))
		if want := []string{"just-live", "live"}; !slices.Equal(got, want) {
			t.Errorf("ListSessions at %s returned %q, want %q: a session whose ExpiresAt or IdleExpiresAt is <= now, or that is revoked, is not live; %s",
				fmtTime(now), got, want, ruleList)
		}
	})

	run("ListSessions/FollowsRotation", func(t *testing.T) {
		a, b := open(t, h)
		s, first := newSession("sess-1", "alice", base, "rt-1") // idles out at base+1h
		createSession(t, a, s, first)
		r := rotation("rt-1", "rt-2", at(50*minute))
		r.NextExpiresAt = at(3 * hour)
		rotate(t, a, r)
		got := listSessions(t, b, "alice", at(2*hour))
		if len(got) != 1 {
			t.Fatalf("ListSessions after a rotation moved IdleExpiresAt to %s returned %q at %s, want the session; %s",
				fmtTime(r.NextExpiresAt), sessionIDs(got), fmtTime(at(2*hour)), ruleRotate+"; "+ruleList)
		}
		if !sameInstant(got[0].LastUsedAt, r.Now) {
			t.Errorf("ListSessions shows LastUsedAt %s, want the last rotation's %s; %s", fmtTime(got[0].LastUsedAt), fmtTime(r.Now), ruleRotate)
		}
	})

	// A session revoked after its creation by a clock that is ahead lists
	// as revoked at any now: RevokedAt after now does not make it live.
	run("ListSessions/RevokedAheadOfNow", func(t *testing.T) {
		a, b := open(t, h)
		s, first := newSession("sess-1", "alice", base, "rt-1")
		createSession(t, a, s, first)
		mustOK(t, "RevokeSession", a.RevokeSession(t.Context(), s.ID, at(2*minute)), ruleRevokeSession)
		if got := listSessions(t, b, "alice", at(minute)); len(got) != 0 {
			t.Errorf("ListSessions at %s lists %q, revoked at %s: a revoked session is not live, whatever the clocks (Session.Live); %s", fmtTime(at(minute)), sessionIDs(got), fmtTime(at(2*minute)), ruleList)
		}
	})

	// Revoking a session already expired by the revoker's clock still
	// revokes it: a replica whose clock is behind would otherwise rotate
	// it, and a rotation moves its idle expiry forward, bringing it back.
	run("RevokeSession/ExpiredAtNow", func(t *testing.T) {
		a, b := open(t, h)
		s, first := newSession("sess-1", "alice", base, "rt-1") // idles out at base+1h
		createSession(t, a, s, first)
		if err := a.RevokeSession(t.Context(), s.ID, at(hour+time.Second)); err != nil && !errors.Is(err, authkit.ErrNotFound) {
			t.Fatalf("RevokeSession of a session expired at now returned %v, want nil (or ErrNotFound, if the store dropped it); %s", err, ruleRevokeSession)
		}
		_, err := b.RotateRefresh(t.Context(), rotation("rt-1", "rt-2", at(hour-time.Second)))
		if !errors.Is(err, authkit.ErrTokenRevoked) && !errors.Is(err, authkit.ErrNotFound) {
			t.Errorf("RotateRefresh at %s, after RevokeSession at %s, returned %v, want ErrTokenRevoked (or ErrNotFound): a session revoked once expired must not rotate for a clock that is behind; %s", fmtTime(at(hour-time.Second)), fmtTime(at(hour+time.Second)), errOrNil(err), ruleRevokeSession)
		}
	})

	run("RevokeSession/HappyPath", func(t *testing.T) {
		a, b := open(t, h)
		s, first := newSession("sess-1", "alice", base, "rt-1")
		createSession(t, a, s, first)
		now := at(minute)
		mustOK(t, "RevokeSession", a.RevokeSession(t.Context(), s.ID, now), ruleRevokeSession)
		want := s
		want.RevokedAt = now
		diffSession(getSession(t, b, s.ID, ruleSession), want).report(t, "a revoked session", ruleRevokeSession+"; "+ruleSession)
		if got := listSessions(t, b, "alice", at(2*minute)); len(got) != 0 {
			t.Errorf("ListSessions lists %q after it was revoked; %s", sessionIDs(got), ruleList)
		}
	})

	run("RevokeSession/NotFound", func(t *testing.T) {
		a, _ := open(t, h)
		wantErr(t, "RevokeSession of an unknown ID", a.RevokeSession(t.Context(), "never-stored", base), authkit.ErrNotFound, ruleRevokeNotFound)
	})

	run("RevokeSession/Twice", func(t *testing.T) {
		a, b := open(t, h)
		s, first := newSession("sess-1", "alice", base, "rt-1")
		createSession(t, a, s, first)
		mustOK(t, "RevokeSession", a.RevokeSession(t.Context(), s.ID, at(minute)), ruleRevokeSession)
		mustOK(t, "a second RevokeSession", b.RevokeSession(t.Context(), s.ID, at(2*minute)), ruleRevokeTwice)
		if got := getSession(t, a, s.ID, ruleSession); !sameInstant(got.RevokedAt, at(minute)) {
			t.Errorf("after revoking twice RevokedAt is %s, want the first revocation's %s; %s", fmtTime(got.RevokedAt), fmtTime(at(minute)), ruleRevokeTwice)
		}
	})

	run("RevokeSession/OtherSessionsUnaffected", func(t *testing.T) {
		a, b := open(t, h)
		s1, f1 := newSession("sess-1", "alice", base, "rt-1")
		s2, f2 := newSession("sess-10", "alice", base.Add(ms), "rt-10") // "sess-1" is a prefix of "sess-10"
		createSession(t, a, s1, f1)
		createSession(t, a, s2, f2)
		rotate(t, a, rotation("rt-1", "rt-1b", at(minute)))
		if got := getSession(t, b, s2.ID, ruleSession); !sameInstant(got.LastUsedAt, s2.LastUsedAt) {
			t.Errorf("rotating sess-1 moved sess-10's LastUsedAt to %s; %s", fmtTime(got.LastUsedAt), ruleSessionIsolated)
		}
		mustOK(t, "RevokeSession", a.RevokeSession(t.Context(), s1.ID, at(2*minute)), ruleRevokeSession)
		if got := getSession(t, b, s2.ID, ruleSession); !got.RevokedAt.IsZero() {
			t.Errorf("revoking sess-1 revoked sess-10 too; %s", ruleSessionIsolated)
		}
		// IDs compare byte for byte: not as a case-insensitive, trailing-
		// space-ignoring collation would (MySQL's default; found by review).
		for _, id := range []string{"SESS-10", "sess-10 ", "Sess-10"} {
			wantErr(t, fmt.Sprintf("RevokeSession(%q) with only sess-10 stored", id), a.RevokeSession(t.Context(), id, at(2*minute)), authkit.ErrNotFound, ruleRevokeNotFound+"; "+ruleSessionIsolated)
		}
		if got := getSession(t, b, s2.ID, ruleSession); !got.RevokedAt.IsZero() {
			t.Errorf("RevokeSession of IDs differing from sess-10 in case or trailing space revoked sess-10; %s", ruleSessionIsolated)
		}
		rotate(t, b, rotation("rt-10", "rt-10b", at(3*minute)))
		if got := sessionIDs(listSessions(t, b, "alice", at(4*minute))); !slices.Equal(got, []string{"sess-10"}) {
			t.Errorf("ListSessions returned %q, want [sess-10]; %s", got, ruleSessionIsolated)
		}
	})

	run("RevokeSubjectSessions/ReturnsRevoked", func(t *testing.T) {
		a, b := open(t, h)
		mk := func(id, subject string, created time.Time) authkit.Session {
			s, first := newSession(id, subject, created, "rt-"+id)
			createSession(t, a, s, first)
			return s
		}
		mk("live-1", "alice", at(1*ms))
		mk("live-2", "alice", at(2*ms))
		mk("revoked", "alice", at(3*ms))
		mk("expired", "alice", at(4*ms)) // idles out at base+1h
		mk("bob-1", "bob", at(5*ms))
		mk("alice-cased", "Alice", at(6*ms))
		for _, id := range []string{"live-1", "live-2", "revoked", "bob-1", "alice-cased"} {
			rotate(t, a, rotation("rt-"+id, "rt-"+id+"-b", at(50*minute))) // now idle until base+1h50m
		}
		revokedAt := at(51 * minute)
		mustOK(t, "RevokeSession", a.RevokeSession(t.Context(), "revoked", revokedAt), ruleRevokeSession)
		now := at(90 * minute)
		got, err := b.RevokeSubjectSessions(t.Context(), "alice", now)
		mustOK(t, "RevokeSubjectSessions", err, ruleRevokeSubject)
		// An expired session that was never revoked may or may not be
		// reported: a store may already have collected it (see the
		// package doc). Everything else is exact.
		wantIDs := []string{"live-1", "live-2"}
		gotIDs := slices.DeleteFunc(slices.Clone(got), func(id string) bool { return id == "expired" })
		if !sameSet(gotIDs, wantIDs) || len(got)-len(gotIDs) > 1 {
			t.Errorf("RevokeSubjectSessions(alice) returned %q, want %q (and possibly the expired, never-revoked session); %s", got, wantIDs, ruleRevokeSubject)
		}
		for _, id := range wantIDs {
			if s := getSession(t, a, id, ruleSession); !sameInstant(s.RevokedAt, now) {
				t.Errorf("session %s has RevokedAt %s after RevokeSubjectSessions at %s; %s", id, fmtTime(s.RevokedAt), fmtTime(now), ruleRevokeSubject)
			}
			_, err := a.RotateRefresh(t.Context(), rotation("rt-"+id+"-b", "rt-"+id+"-c", now.Add(minute)))
			wantErr(t, "RotateRefresh after RevokeSubjectSessions", err, authkit.ErrTokenRevoked, ruleRevokeSubject+"; "+ruleRotateRevoked)
		}
		if s := getSession(t, a, "revoked", ruleSession); !sameInstant(s.RevokedAt, revokedAt) {
			t.Errorf("an already revoked session has RevokedAt %s after RevokeSubjectSessions, want its first %s; %s", fmtTime(s.RevokedAt), fmtTime(revokedAt), ruleRevokeTwice)
		}
		for _, subj := range []string{"bob", "Alice"} {
			if l := listSessions(t, b, subj, now.Add(minute)); len(l) != 1 {
				t.Errorf("ListSessions(%q) returned %q after RevokeSubjectSessions(alice), want its one session; %s", subj, sessionIDs(l), ruleSessionIsolated)
			}
		}
		again, err := a.RevokeSubjectSessions(t.Context(), "alice", now.Add(2*minute))
		mustOK(t, "a second RevokeSubjectSessions", err, ruleRevokeSubject)
		if len(again) != 0 {
			t.Errorf("a second RevokeSubjectSessions returned %q, want none (all were already revoked); %s", again, ruleRevokeSubject)
		}
	})

	// Every session, whatever the clocks: one created by a replica whose
	// clock is ahead of the revoker's, and one expired by the revoker's
	// clock but not by a replica's that is behind.
	run("RevokeSubjectSessions/Clocks", func(t *testing.T) {
		a, b := open(t, h)
		ahead, aheadFirst := newSession("sess-ahead", "alice", at(minute), "rt-ahead")
		createSession(t, a, ahead, aheadFirst)
		got, err := b.RevokeSubjectSessions(t.Context(), "alice", base)
		mustOK(t, "RevokeSubjectSessions", err, ruleRevokeSubject)
		if !slices.Equal(got, []string{ahead.ID}) {
			t.Errorf("RevokeSubjectSessions at %s returned %q, want [%s], created at %s by a clock ahead; %s", fmtTime(base), got, ahead.ID, fmtTime(ahead.CreatedAt), ruleRevokeSubject)
		}
		_, err = a.RotateRefresh(t.Context(), rotation("rt-ahead", "rt-ahead-2", at(2*minute)))
		wantErr(t, "RotateRefresh of a session created ahead of RevokeSubjectSessions' now", err, authkit.ErrTokenRevoked, ruleRevokeSubject+"; "+ruleRotateRevoked)

		idle, idleFirst := newSession("sess-idle", "bob", base, "rt-idle") // idles out at base+1h
		createSession(t, a, idle, idleFirst)
		_, err = b.RevokeSubjectSessions(t.Context(), "bob", at(hour+time.Second))
		mustOK(t, "RevokeSubjectSessions", err, ruleRevokeSubject)
		_, err = a.RotateRefresh(t.Context(), rotation("rt-idle", "rt-idle-2", at(hour-time.Second)))
		if !errors.Is(err, authkit.ErrTokenRevoked) && !errors.Is(err, authkit.ErrNotFound) {
			t.Errorf("RotateRefresh at %s, after RevokeSubjectSessions at %s, returned %v, want ErrTokenRevoked (or ErrNotFound): a session revoked once expired must not rotate for a clock that is behind; %s", fmtTime(at(hour-time.Second)), fmtTime(at(hour+time.Second)), errOrNil(err), ruleRevokeSubject)
		}
	})

	// Every session, not a first page: a store that lists a subject's
	// sessions page by page must go through all of them.
	run("RevokeSubjectSessions/Many", func(t *testing.T) {
		a, b := open(t, h)
		const n = 1001
		var wg sync.WaitGroup
		sem := make(chan struct{}, 8)
		for i := range n {
			wg.Go(func() {
				sem <- struct{}{}
				defer func() { <-sem }()
				s, first := newSession(fmt.Sprintf("many-%04d", i), "alice", at(time.Duration(i)*micro), fmt.Sprintf("rt-many-%04d", i))
				if err := a.CreateSession(t.Context(), s, first); err != nil {
					t.Errorf("CreateSession(%q): %v; %s", s.ID, err, ruleCreate)
				}
			})
		}
		wg.Wait()
		if t.Failed() {
			return
		}
		got, err := b.RevokeSubjectSessions(t.Context(), "alice", at(minute))
		mustOK(t, "RevokeSubjectSessions", err, ruleRevokeSubject)
		if len(got) != n {
			t.Errorf("RevokeSubjectSessions of a subject with %d sessions returned %d IDs; %s", n, len(got), ruleRevokeSubject)
		}
		if l := listSessions(t, a, "alice", at(2*minute)); len(l) != 0 {
			t.Errorf("%d of %d sessions still live after RevokeSubjectSessions (the oldest: %q); %s", len(l), n, l[len(l)-1].ID, ruleRevokeSubject)
		}
		_, err = a.RotateRefresh(t.Context(), rotation("rt-many-0000", "rt-many-0000-b", at(2*minute)))
		wantErr(t, "RotateRefresh of the subject's oldest session after RevokeSubjectSessions", err, authkit.ErrTokenRevoked, ruleRevokeSubject)
	})

	run("RevokeSubjectSessions/NoSessions", func(t *testing.T) {
		a, _ := open(t, h)
		got, err := a.RevokeSubjectSessions(t.Context(), "nobody", base)
		mustOK(t, "RevokeSubjectSessions of a subject with no sessions", err, ruleRevokeSubject)
		if len(got) != 0 {
			t.Errorf("RevokeSubjectSessions of a subject with no sessions returned %q; %s", got, ruleRevokeSubject)
		}
	})

	run("DeleteExpiredSessions/WhatIsGarbage", func(t *testing.T) {
		a, b := open(t, h)
		setupGarbageSessions(t, a)
		n, err := b.DeleteExpiredSessions(t.Context(), at(2*hour), 1000)
		mustOK(t, "DeleteExpiredSessions", err, ruleDeleteSessions)
		if n != garbageSessionRecords {
			t.Errorf("DeleteExpiredSessions returned %d, want %d; %s", n, garbageSessionRecords, ruleDeleteSessions)
		}
		checkGarbageSessionsGone(t, a)
		n, err = b.DeleteExpiredSessions(t.Context(), at(2*hour), 1000)
		mustOK(t, "DeleteExpiredSessions", err, ruleDeleteSessions)
		if n != 0 {
			t.Errorf("a second DeleteExpiredSessions returned %d, want 0; %s", n, ruleDeleteSessions)
		}
	})

	// A rotated record stays until its ExpiresAt: it is what tells a
	// replay of a stolen token (ErrTokenReused, and the session revoked)
	// from an unknown one. A cleanup that took used records early would
	// let the thief's successor live on.
	// A dead session goes with all its records, the used ones too (not
	// "… AND used_at IS NULL": they would outlive it until their own
	// expiry, and the count would be short).
	run("DeleteExpiredSessions/TakesUsedRecords", func(t *testing.T) {
		a, b := open(t, h)
		s, first := newSession("sess-1", "alice", base, "rt-1")
		createSession(t, a, s, first)
		rotate(t, a, rotation("rt-1", "rt-2", at(minute))) // both records live until base+1h or later
		mustOK(t, "RevokeSession", a.RevokeSession(t.Context(), s.ID, at(2*minute)), ruleRevokeSession)
		drain(t, "DeleteExpiredSessions", 1000, 0, ruleDeleteSessions, func(limit int) (int, error) {
			return b.DeleteExpiredSessions(t.Context(), at(3*minute), limit)
		})
		wantSessionAbsent(t, a, s.ID, "revoked, after DeleteExpiredSessions", ruleDeleteSessions)
		wantRefreshAbsent(t, a, hashOf("rt-1"), "the used record of a revoked session, after DeleteExpiredSessions", ruleDeleteSessions)
		wantRefreshAbsent(t, a, hashOf("rt-2"), "the current record of a revoked session, after DeleteExpiredSessions", ruleDeleteSessions)
	})

	run("DeleteExpiredSessions/KeepsUsedRecords", func(t *testing.T) {
		a, b := open(t, h)
		s, first := newSession("sess-1", "alice", base, "rt-1") // rt-1 expires at base+1h
		createSession(t, a, s, first)
		r := rotation("rt-1", "rt-2", at(minute))
		rotate(t, a, r)
		_, err := b.DeleteExpiredSessions(t.Context(), at(2*minute), 1000)
		mustOK(t, "DeleteExpiredSessions", err, ruleDeleteSessions)
		_, err = a.RotateRefresh(t.Context(), rotation("rt-1", "rt-3", at(3*minute)))
		wantReuse(t, "RotateRefresh of a rotated token after a cleanup before its ExpiresAt", err, s, r.Now, r.Successor)
	})

	run("DeleteExpiredSessions/Limit", func(t *testing.T) {
		a, b := open(t, h)
		setupGarbageSessions(t, a)
		total := drain(t, "DeleteExpiredSessions", 2, garbageSessionRecords, ruleDeleteSessions, func(limit int) (int, error) {
			return b.DeleteExpiredSessions(t.Context(), at(2*hour), limit)
		})
		if total != garbageSessionRecords {
			t.Errorf("DeleteExpiredSessions with limit 2, repeated while it returned 2, deleted %d in all, want %d; %s", total, garbageSessionRecords, ruleDeleteSessions)
		}
		checkGarbageSessionsGone(t, a)
	})

	run("Scale", func(t *testing.T) { refreshScale(t, h) })

	run("SubjectIsolation", func(t *testing.T) {
		a, b := open(t, h)
		for i, subj := range oddSubjects {
			s, first := newSession(fmt.Sprintf("iso-%d", i), subj, at(time.Duration(i)*ms), fmt.Sprintf("rt-iso-%d", i))
			createSession(t, a, s, first)
		}
		now := at(minute)
		for i, subj := range oddSubjects {
			got := listSessions(t, b, subj, now)
			if ids := sessionIDs(got); !slices.Equal(ids, []string{fmt.Sprintf("iso-%d", i)}) {
				t.Errorf("ListSessions(%q) returned %q, want only iso-%d; %s", subj, ids, i, ruleSessionIsolated)
				continue
			}
			if got[0].Subject != subj {
				t.Errorf("session iso-%d came back with Subject %q, want %q byte for byte; %s", i, got[0].Subject, subj, ruleSessionIsolated)
			}
		}
		for i, subj := range oddSubjects {
			got, err := a.RevokeSubjectSessions(t.Context(), subj, now.Add(time.Duration(i+1)*time.Second))
			mustOK(t, "RevokeSubjectSessions", err, ruleRevokeSubject)
			if want := fmt.Sprintf("iso-%d", i); !slices.Equal(got, []string{want}) {
				t.Errorf("RevokeSubjectSessions(%q) returned %q, want only %s; %s", subj, got, want, ruleSessionIsolated)
			}
		}
	})

	// Subjects of the issuer's largest size (1024 bytes), two of them the
	// same but for their last byte: a store that cut them short would
	// mix the two, or never match what it stored.
	run("LongSubjects", func(t *testing.T) {
		a, b := open(t, h)
		subjA, subjB := longPair("s")
		sa, fa := newSession("long-a", subjA, base, "rt-long-a")
		sb, fb := newSession("long-b", subjB, base.Add(ms), "rt-long-b")
		createSession(t, a, sa, fa)
		createSession(t, a, sb, fb)
		if l := listSessions(t, b, subjA, at(minute)); !slices.Equal(sessionIDs(l), []string{"long-a"}) || l[0].Subject != subjA {
			t.Errorf("ListSessions of a 1024-byte subject returned %q, want only long-a with its subject byte for byte; %s", sessionIDs(l), ruleSessionIsolated)
		}
		got, err := b.RevokeSubjectSessions(t.Context(), subjA, at(minute))
		mustOK(t, "RevokeSubjectSessions", err, ruleRevokeSubject)
		if !slices.Equal(got, []string{"long-a"}) {
			t.Errorf("RevokeSubjectSessions of a 1024-byte subject returned %q, want [long-a]; %s", got, ruleSessionIsolated)
		}
		_, err = a.RotateRefresh(t.Context(), rotation("rt-long-a", "rt-long-a2", at(2*minute)))
		wantErr(t, "RotateRefresh in the revoked session of a 1024-byte subject", err, authkit.ErrTokenRevoked, ruleRevokeSubject)
		rotate(t, a, rotation("rt-long-b", "rt-long-b2", at(2*minute)))
	})

	run("OddInput", func(t *testing.T) {
		a, b := open(t, h)
		long, longFirst := newSession("sess-long", "ユーザー", base, "rt-long")
		long.UserAgent = utf8Text(4096)
		long.Name = utf8Text(1024)
		long.IP = "::ffff:192.0.2.1"
		long.Scopes = make([]string, 100)
		for i := range long.Scopes {
			long.Scopes[i] = fmt.Sprintf("scope:%d/ü", i)
		}
		long.Audience = []string{"https://a.example", "urn:x:ü", "aud with space"}
		long.Claims = []byte(`{"z":1,  "a":"ü\u00e9","nested":{"b":[1,2.50,null]},"esc":"\"\\"}` + "\n")
		empty, emptyFirst := newSession("sess-empty", "ユーザー", base.Add(ms), "rt-empty")
		empty.Scopes, empty.Audience, empty.Claims = []string{}, []string{}, []byte{}
		empty.UserAgent, empty.IP, empty.Name, empty.ClientID = "", "", "", ""
		nils, nilsFirst := newSession("sess-nil", "ユーザー", base.Add(2*ms), "rt-nil")
		nils.Scopes, nils.Audience, nils.Claims = nil, nil, nil
		for _, c := range []struct {
			s authkit.Session
			f authkit.RefreshRecord
		}{{long, longFirst}, {empty, emptyFirst}, {nils, nilsFirst}} {
			createSession(t, a, c.s, c.f)
			diffSession(getSession(t, b, c.s.ID, ruleSession), c.s).report(t, "session "+c.s.ID, ruleCreate)
		}
		listed := listSessions(t, b, "ユーザー", at(minute))
		if len(listed) != 3 {
			t.Fatalf("ListSessions returned %q, want the three sessions; %s", sessionIDs(listed), ruleList)
		}
		diffSession(listed[2], long).report(t, "ListSessions' copy of the session with long metadata", ruleList)
		r := rotation("rt-long", "rt-long-2", at(minute))
		r.Successor = allBytes()
		rotate(t, a, r)
		_, err := b.RotateRefresh(t.Context(), rotation("rt-long", "rt-long-3", at(2*minute)))
		wantReuse(t, "RotateRefresh of a used token whose Successor holds every byte value", err, long, r.Now, r.Successor)
	})

	run("Timestamps", func(t *testing.T) {
		a, b := open(t, h)
		zone := time.FixedZone("UTC+05:30", 5*3600+30*60)
		created := time.Date(2030, time.January, 2, 8, 34, 5, 123456789, zone) // base + 789ns, in +05:30
		s, first := newSession("sess-ts", "alice", created, "rt-ts")
		s.LastUsedAt = created.Add(1)
		s.ExpiresAt = created.Add(90*day + 999)
		s.IdleExpiresAt = created.Add(hour + 1).In(time.Local)
		first.IssuedAt = created.Add(2)
		first.ExpiresAt = s.IdleExpiresAt
		createSession(t, a, s, first)
		diffSession(getSession(t, b, s.ID, ruleSession), s).report(t, "a session written with nanoseconds and a +05:30 zone (compared to the microsecond)", ruleCreate)
		diffRecord(lookupRefresh(t, b, first.Hash, ruleLookup), first).report(t, "a record written with nanoseconds and a +05:30 zone", ruleCreate)
		r := rotation("rt-ts", "rt-ts-2", time.Date(2030, time.January, 2, 3, 14, 5, 999999999, time.UTC).In(zone))
		rotate(t, a, r)
		_, err := a.RotateRefresh(t.Context(), rotation("rt-ts", "rt-ts-3", at(20*minute)))
		wantReuse(t, "RotateRefresh of a token rotated at a nanosecond time", err, s, r.Now, r.Successor)
	})

	run("Peer/Visibility", func(t *testing.T) {
		a, b := open(t, h)
		if h.Peer == nil {
			noPeer(t, h, a)
		}
		s, first := newSession("sess-1", "alice", base, "rt-1")
		createSession(t, a, s, first)
		diffSession(getSession(t, b, s.ID, ruleSession), s).report(t, "the peer's view of a new session", ruleVisibility)
		rotate(t, b, rotation("rt-1", "rt-2", at(minute)))
		if got := lookupRefresh(t, a, hashOf("rt-1"), ruleLookup); got.UsedAt.IsZero() {
			t.Errorf("a rotation through one handle is not visible through the other; %s", ruleVisibility)
		}
		mustOK(t, "RevokeSession", a.RevokeSession(t.Context(), s.ID, at(2*minute)), ruleRevokeSession)
		// b read the session before the revocation: it must read it
		// again now, not keep its earlier copy (a cache that forgets the
		// other handle's writes passes everything else here).
		if got := getSession(t, b, s.ID, ruleSession); got.RevokedAt.IsZero() {
			t.Errorf("Session through the other handle after RevokeSession shows no RevokedAt; %s", ruleVisibility)
		}
		_, err := b.RotateRefresh(t.Context(), rotation("rt-2", "rt-3", at(3*minute)))
		wantErr(t, "the peer's RotateRefresh after RevokeSession", err, authkit.ErrTokenRevoked, ruleVisibility)

		s2, first2 := newSession("sess-2", "alice", at(ms), "rt-2-1")
		createSession(t, b, s2, first2)
		if got := getSession(t, b, s2.ID, ruleSession); !got.RevokedAt.IsZero() {
			t.Fatalf("a new session is revoked; %s", ruleCreate)
		}
		_, err = a.RevokeSubjectSessions(t.Context(), "alice", at(4*minute))
		mustOK(t, "RevokeSubjectSessions", err, ruleRevokeSubject)
		if got := getSession(t, b, s2.ID, ruleSession); got.RevokedAt.IsZero() {
			t.Errorf("Session through the other handle after RevokeSubjectSessions shows no RevokedAt; %s", ruleVisibility)
		}
		if l := listSessions(t, b, "alice", at(5*minute)); len(l) != 0 {
			t.Errorf("ListSessions through the other handle after RevokeSubjectSessions returned %q, want none; %s", sessionIDs(l), ruleVisibility)
		}
	})

	run("Reopen", func(t *testing.T) {
		a, _ := open(t, h)
		s, first := newSession("sess-1", "alice", base, "rt-1")
		createSession(t, a, s, first)
		r := rotation("rt-1", "rt-2", at(minute))
		want := rotate(t, a, r)
		gone, goneFirst := newSession("sess-gone", "alice", base, "rt-gone")
		createSession(t, a, gone, goneFirst)
		mustOK(t, "RevokeSession", a.RevokeSession(t.Context(), gone.ID, at(2*minute)), ruleRevokeSession)
		c, ok := reopen(t, h, a)
		if !ok {
			return
		}
		diffSession(getSession(t, c, s.ID, ruleSession), want).report(t, "a session after reopening", ruleDurable)
		_, err := c.RotateRefresh(t.Context(), rotation("rt-1", "rt-x", at(3*minute)))
		wantReuse(t, "RotateRefresh of a used token after reopening", err, s, r.Now, r.Successor)
		_, err = c.RotateRefresh(t.Context(), rotation("rt-gone", "rt-y", at(3*minute)))
		wantErr(t, "RotateRefresh in a revoked session after reopening", err, authkit.ErrTokenRevoked, ruleDurable)
		rotate(t, c, rotation("rt-2", "rt-3", at(4*minute)))
	})

	run("Context", func(t *testing.T) { refreshContext(t, h) })
	run("Unavailable", func(t *testing.T) { refreshUnavailable(t, h) })
	run("Stalled", func(t *testing.T) { refreshStalled(t, h) })
}

// allBytes is every byte value twice: opaque bytes a text column would
// mangle.
func allBytes() []byte {
	b := make([]byte, 512)
	for i := range b {
		b[i] = byte(i)
	}
	return b
}

// utf8Text returns exactly n bytes of valid UTF-8 mixing one-, two-,
// three- and four-byte characters.
func utf8Text(n int) string {
	const unit = "Mozilla/5.0 ñé 漢字 🚀 " // 1-, 2-, 3- and 4-byte runes
	var b strings.Builder
	for b.Len() < n {
		for _, r := range unit {
			if b.Len()+len(string(r)) > n {
				break
			}
			b.WriteRune(r)
		}
		if b.Len()+4 > n {
			b.WriteString(strings.Repeat("x", n-b.Len()))
		}
	}
	return b.String()
}

// setupGarbageSessions writes the sessions the DeleteExpiredSessions
// checks judge at base+2h, when exactly garbageSessionRecords records of
// either kind are garbage.
func setupGarbageSessions(t *testing.T, s authkit.RefreshStore) {
	t.Helper()
	mk := func(id string, edit func(*authkit.Session)) {
		sess, first := newSession(id, "alice", base, "rt-"+id)
		sess.ExpiresAt, sess.IdleExpiresAt = at(10*hour), at(5*hour)
		edit(&sess)
		first.ExpiresAt = sess.IdleExpiresAt
		createSession(t, s, sess, first)
	}
	// live: its first token idles out at base+1h but is rotated at
	// base+1m; the used record is garbage (1), the session and its
	// successor (idle until base+5h) are not.
	mk("live", func(s *authkit.Session) { s.IdleExpiresAt = at(hour) })
	r := rotation("rt-live", "rt-live-2", at(minute))
	r.NextExpiresAt = at(5 * hour)
	rotate(t, s, r)
	// revoked: the session and its record (2).
	mk("revoked", func(*authkit.Session) {})
	mustOK(t, "RevokeSession", s.RevokeSession(t.Context(), "revoked", at(2*minute)), ruleRevokeSession)
	// abs: ExpiresAt == now; the session and its record, though the
	// record itself has not idled out (2).
	mk("abs", func(s *authkit.Session) { s.ExpiresAt = at(2 * hour) })
	// idle: IdleExpiresAt == now, and so is its record's ExpiresAt (2).
	mk("idle", func(s *authkit.Session) { s.IdleExpiresAt = at(2 * hour) })
	// edge: everything expires a microsecond after now (0).
	mk("edge", func(s *authkit.Session) { s.ExpiresAt, s.IdleExpiresAt = at(2*hour+micro), at(2*hour+micro) })
}

const garbageSessionRecords = 1 + 2 + 2 + 2

func checkGarbageSessionsGone(t *testing.T, s authkit.RefreshStore) {
	t.Helper()
	getSession(t, s, "live", "a live session must survive DeleteExpiredSessions; "+ruleDeleteSessions)
	wantRefreshAbsent(t, s, hashOf("rt-live"), "a used token past its ExpiresAt after DeleteExpiredSessions", ruleDeleteSessions)
	lookupRefresh(t, s, hashOf("rt-live-2"), "the current token of a live session must survive DeleteExpiredSessions; "+ruleDeleteSessions)
	for _, id := range []string{"revoked", "abs", "idle"} {
		wantSessionAbsent(t, s, id, "garbage after DeleteExpiredSessions", ruleDeleteSessions)
		wantRefreshAbsent(t, s, hashOf("rt-"+id), "the token of garbage session "+id+" after DeleteExpiredSessions", ruleDeleteSessions)
	}
	getSession(t, s, "edge", "a session expiring a microsecond after now must survive DeleteExpiredSessions; "+ruleDeleteSessions)
	lookupRefresh(t, s, hashOf("rt-edge"), "a token expiring a microsecond after now must survive DeleteExpiredSessions; "+ruleDeleteSessions)
}

// drain calls del with limit until it returns less than limit, checking
// that no call exceeds limit, and returns the total deleted.
func drain(t *testing.T, name string, limit, expect int, rule string, del func(limit int) (int, error)) int {
	t.Helper()
	total := 0
	for calls := 0; ; calls++ {
		if calls > expect/limit+10 {
			t.Fatalf("%s kept returning %d (the limit) after deleting %d records in all, want %d; %s", name, limit, total, expect, rule)
		}
		n, err := del(limit)
		mustOK(t, name, err, rule)
		if n > limit || n < 0 {
			t.Fatalf("%s(limit %d) returned %d; %s", name, limit, n, rule)
		}
		total += n
		if n < limit {
			return total
		}
	}
}
