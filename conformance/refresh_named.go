package conformance

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/authkit-go/authkit"
)

// The rules of a rotation that names its session (authkit.Rotation.SessionID).
const (
	ruleRotateNamed          = "RefreshStore.RotateRefresh with r.SessionID set to the session of r.Old must behave exactly as without it"
	ruleRotateNamedElsewhere = "RefreshStore.RotateRefresh with r.SessionID naming another session than r.Old's must never change the named session: it returns ErrNotFound changing nothing (a store that finds r.Old through the name), or rotates r.Old in its own session (a store that ignores the name)"
	ruleRotateNamedConflict  = "RefreshStore.RotateRefresh with r.SessionID set must return ErrConflict, changing nothing, when a record of that session has hash r.Next (r.Old itself included)"
	ruleLookupInSession      = "RefreshSessionLookup.LookupRefreshInSession must return the record with hash h if it belongs to session sessionID, used or not, expired or not, exactly as LookupRefresh does; otherwise (no such record, a record of another session, an empty session ID) ErrNotFound"
)

// named is rotation(old, next, now) naming session sid.
func named(old, next string, now time.Time, sid string) authkit.Rotation {
	r := rotation(old, next, now)
	r.SessionID = sid
	return r
}

// runRefreshNamed checks rotations that name their session, as the
// issuer's do since refresh tokens carry their session's ID: the same
// results as without the name, named and unnamed rotations mixed in one
// family and in one race, and a name that is wrong never touching the
// session it names.
func runRefreshNamed(t *testing.T, h PartialHarness[authkit.RefreshStore]) {
	t.Run("Rotate/Named/Chain", func(t *testing.T) {
		a, b := open(t, h)
		s, first := newSession("sess-named", "alice", base, "rt-n0")
		createSession(t, a, s, first)
		want := s
		prev := first
		for i := 1; i <= 4; i++ {
			old, next := fmt.Sprint("rt-n", i-1), fmt.Sprint("rt-n", i)
			r := rotation(old, next, at(time.Duration(i)*minute))
			if i%2 == 1 {
				r.SessionID = s.ID
			}
			st := a
			if i > 2 {
				st = b
			}
			got := rotate(t, st, r)
			want.LastUsedAt, want.IdleExpiresAt = r.Now, r.NextExpiresAt
			diffSession(got, want).report(t, fmt.Sprintf("the session rotation %d (named %v) returned", i, r.SessionID != ""), ruleRotateNamed+"; "+ruleRotate)
			diffRecord(lookupRefresh(t, b, r.Next, ruleLookup), authkit.RefreshRecord{
				Hash: r.Next, SessionID: s.ID, Subject: s.Subject, IssuedAt: r.Now, ExpiresAt: r.NextExpiresAt,
			}).report(t, fmt.Sprintf("LookupRefresh of the successor of rotation %d", i), ruleRotateNamed+"; "+ruleRotate)
			used := prev
			used.UsedAt, used.Successor = r.Now, r.Successor
			diffRecord(lookupRefresh(t, a, r.Old, ruleLookup), used).report(t, fmt.Sprintf("LookupRefresh of the token rotation %d used", i), ruleRotateNamed+"; "+ruleRotate)
			prev = authkit.RefreshRecord{Hash: r.Next, SessionID: s.ID, Subject: s.Subject, IssuedAt: r.Now, ExpiresAt: r.NextExpiresAt}
		}
		diffSession(getSession(t, b, s.ID, ruleSession), want).report(t, "Session after named and unnamed rotations", ruleRotateNamed)
	})

	t.Run("Rotate/Named/Refusals", func(t *testing.T) {
		a, b := open(t, h)
		s, first := newSession("sess-named", "alice", base, "rt-1")
		createSession(t, a, s, first)
		r := rotation("rt-1", "rt-2", at(minute))
		r.SessionID = s.ID
		rotate(t, a, r)
		// Reuse, named or not, reports the winning rotation.
		for _, name := range []string{s.ID, ""} {
			_, err := b.RotateRefresh(t.Context(), named("rt-1", "rt-3", at(2*minute), name))
			wantReuse(t, fmt.Sprintf("RotateRefresh of a used token (named %v)", name != ""), err, s, r.Now, r.Successor)
			wantRefreshAbsent(t, a, hashOf("rt-3"), "the successor a reused token asked for", ruleRotateNamed+"; "+ruleRotateAtomic)
		}
		// Reuse comes before a conflict within the session: the used
		// token asking for its family's current hash.
		_, err := b.RotateRefresh(t.Context(), named("rt-1", "rt-2", at(2*minute), s.ID))
		wantReuse(t, "a named RotateRefresh of a used token to a successor hash its session holds", err, s, r.Now, r.Successor)
		// An unknown hash naming the session changes nothing of it (a
		// made-up token naming a real session, found by review: a store
		// writing the session before it found the record passed).
		cur := getSession(t, a, s.ID, ruleSession)
		_, err = b.RotateRefresh(t.Context(), named("never-stored", "rt-4", at(2*minute), s.ID))
		wantErr(t, "a named RotateRefresh of an unknown hash", err, authkit.ErrNotFound, ruleRotateNamed+"; "+ruleRotateNotFound)
		wantRefreshAbsent(t, a, hashOf("rt-4"), "the successor of a failed rotation", ruleRotateFailAtom)
		diffSession(getSession(t, a, s.ID, ruleSession), cur).report(t, "the named session after a RotateRefresh of an unknown hash", ruleRotateFailAtom)
		// Conflicts within the session: the presented token itself, and
		// a used record of the family.
		for _, taken := range []string{"rt-2", "rt-1"} {
			_, err := b.RotateRefresh(t.Context(), named("rt-2", taken, at(3*minute), s.ID))
			wantErr(t, fmt.Sprintf("a named RotateRefresh to a successor hash its session holds (%s)", taken), err, authkit.ErrConflict, ruleRotateNamedConflict)
			wantUnused(t, a, hashOf("rt-2"), ruleRotateNamedConflict)
			diffSession(getSession(t, a, s.ID, ruleSession), cur).report(t, "the session after a conflicting named RotateRefresh", ruleRotateNamedConflict)
		}
		// Revoked, in another session; then expired (last: a now past
		// every expiry lets the store drop what it holds).
		gone, goneFirst := newSession("sess-named-revoked", "alice", base, "rt-r1")
		createSession(t, a, gone, goneFirst)
		mustOK(t, "RevokeSession", a.RevokeSession(t.Context(), gone.ID, at(4*minute)), ruleRevokeSession)
		_, err = b.RotateRefresh(t.Context(), named("rt-r1", "rt-r2", at(5*minute), gone.ID))
		wantErr(t, "a named RotateRefresh in a revoked session", err, authkit.ErrTokenRevoked, ruleRotateNamed+"; "+ruleRotateRevoked)
		wantRefreshAbsent(t, a, hashOf("rt-r2"), "the successor of a refused rotation", ruleRotateFailAtom)
		wantUnused(t, a, goneFirst.Hash, ruleRotateFailAtom)
		// An unknown hash naming a revoked session is not found first
		// (the order of the checks): a made-up token learns nothing of
		// the session it names.
		_, err = b.RotateRefresh(t.Context(), named("never-stored", "rt-r3", at(5*minute), gone.ID))
		wantErr(t, "a named RotateRefresh of an unknown hash naming a revoked session", err, authkit.ErrNotFound, ruleRotateNamed+"; "+ruleRotateOrder)
		_, err = b.RotateRefresh(t.Context(), named("rt-2", "rt-5", at(3*hour), s.ID))
		wantErr(t, "a named RotateRefresh of an expired token", err, authkit.ErrTokenExpired, ruleRotateNamed+"; "+ruleRotateExpired)
		wantRefreshAbsent(t, a, hashOf("rt-5"), "the successor of a refused rotation", ruleRotateFailAtom)
	})

	// Named and unnamed rotations of one token, racing through two
	// handles: exactly one wins, as without names.
	t.Run("Rotate/Named/ExactlyOneWinner", func(t *testing.T) {
		a, b := open(t, h)
		s, first := newSession("sess-named-race", "alice", base, "rt-0")
		createSession(t, a, s, first)
		const n = 32
		now := at(minute)
		rots := make([]authkit.Rotation, n)
		errs := make([]error, n)
		together(n, a, b, func(i int, st authkit.RefreshStore) func() {
			rots[i] = rotation("rt-0", fmt.Sprintf("rt-named-race-%d", i), now)
			if i%4 < 2 {
				rots[i].SessionID = s.ID
			}
			return func() { _, errs[i] = st.RotateRefresh(t.Context(), rots[i]) }
		})
		winner := -1
		for i, err := range errs {
			switch {
			case err == nil && winner >= 0:
				t.Fatalf("two of %d concurrent RotateRefresh calls (named and not) with the same r.Old succeeded; %s", n, ruleRotateAtomic)
			case err == nil:
				winner = i
			}
		}
		if winner < 0 {
			t.Fatalf("none of %d concurrent RotateRefresh calls (named and not) succeeded: %v; %s", n, errs[0], ruleRotateAtomic)
		}
		for i, err := range errs {
			if i == winner {
				continue
			}
			wantReuse(t, fmt.Sprintf("a losing concurrent RotateRefresh (named %v)", rots[i].SessionID != ""), err, s, now, rots[winner].Successor)
			wantRefreshAbsent(t, a, rots[i].Next, "a losing rotation's successor", ruleRotateAtomic)
		}
		lookupRefresh(t, b, rots[winner].Next, ruleLookup)
	})

	t.Run("LookupInSession", func(t *testing.T) {
		a, b := open(t, h)
		la, okA := any(a).(authkit.RefreshSessionLookup)
		lb, okB := any(b).(authkit.RefreshSessionLookup)
		if !okA || !okB {
			t.Logf("%T does not implement authkit.RefreshSessionLookup: nothing to check", a)
			return
		}
		s, first := newSession("sess-lookup", "alice", base, "rt-l0")
		createSession(t, a, s, first)
		other, otherFirst := newSession("sess-lookup-other", "bob", base, "rt-o0")
		createSession(t, a, other, otherFirst)
		// Both handles read the first record before it is rotated: each
		// must read it again after (found by review: a cache of this
		// method, "a record never changes session", passed, and a stolen
		// token replayed inside the reuse grace got a fresh pair, the
		// successor read as unused).
		for _, l := range []authkit.RefreshSessionLookup{la, lb} {
			got, err := l.LookupRefreshInSession(t.Context(), s.ID, first.Hash)
			mustOK(t, "LookupRefreshInSession before the rotation", err, ruleLookupInSession)
			diffRecord(got, first).report(t, "LookupRefreshInSession of the first record before its rotation", ruleLookupInSession)
		}
		r := named("rt-l0", "rt-l1", at(minute), s.ID)
		rotate(t, a, r)
		for _, l := range []authkit.RefreshSessionLookup{la, lb} {
			got, err := l.LookupRefreshInSession(t.Context(), s.ID, r.Next)
			mustOK(t, "LookupRefreshInSession of the successor before its rotation", err, ruleLookupInSession)
			if !got.UsedAt.IsZero() {
				t.Errorf("LookupRefreshInSession of a successor not yet rotated has UsedAt %s; %s", fmtTime(got.UsedAt), ruleLookupInSession)
			}
		}
		r2 := rotation("rt-l1", "rt-l2", at(2*minute))
		rotate(t, b, r2)
		for _, hash := range []authkit.TokenHash{first.Hash, r.Next, r2.Next} {
			want := lookupRefresh(t, a, hash, ruleLookup)
			for _, l := range []authkit.RefreshSessionLookup{la, lb} {
				got, err := l.LookupRefreshInSession(t.Context(), s.ID, hash)
				mustOK(t, "LookupRefreshInSession", err, ruleLookupInSession)
				diffRecord(got, want).report(t, "LookupRefreshInSession of a record of the session, read before and after its rotation through either handle", ruleLookupInSession)
			}
		}
		for _, l := range []authkit.RefreshSessionLookup{la, lb} {
			if got, err := l.LookupRefreshInSession(t.Context(), s.ID, r.Next); err == nil && (got.UsedAt.IsZero() || len(got.Successor) == 0) {
				t.Errorf("LookupRefreshInSession of a record read before its rotation through the other handle has UsedAt %s and %d bytes of Successor, want both set: a stale copy; %s", fmtTime(got.UsedAt), len(got.Successor), ruleLookupInSession)
			}
		}
		for _, c := range []struct {
			what, sid string
			hash      authkit.TokenHash
		}{
			{"a record of another session", other.ID, first.Hash},
			{"the other session's record, named as this one's", s.ID, otherFirst.Hash},
			{"an unknown hash", s.ID, hashOf("never-stored")},
			{"a session that does not exist", "sess-none", first.Hash},
			{"an empty session ID", "", first.Hash},
			{"a session ID differing in case", "SESS-LOOKUP", first.Hash},
		} {
			_, err := lb.LookupRefreshInSession(t.Context(), c.sid, c.hash)
			wantErr(t, "LookupRefreshInSession of "+c.what, err, authkit.ErrNotFound, ruleLookupInSession)
		}
		// The other session's record, under its own session.
		got, err := la.LookupRefreshInSession(t.Context(), other.ID, otherFirst.Hash)
		mustOK(t, "LookupRefreshInSession", err, ruleLookupInSession)
		diffRecord(got, otherFirst).report(t, "LookupRefreshInSession of the other session's record", ruleLookupInSession)
	})

	// A name that is not r.Old's session: another session, or none that
	// exists. The named session never changes; the store either refuses
	// (ErrNotFound, changing nothing) or rotates r.Old in its own session.
	t.Run("Rotate/Named/Elsewhere", func(t *testing.T) {
		a, b := open(t, h)
		mine, mineFirst := newSession("sess-mine", "alice", base, "rt-mine")
		createSession(t, a, mine, mineFirst)
		other, otherFirst := newSession("sess-other", "bob", base, "rt-other")
		createSession(t, a, other, otherFirst)
		cur := "rt-mine"
		for i, name := range []string{other.ID, "sess-none"} {
			next := fmt.Sprint("rt-mine-", i)
			r := named(cur, next, at(time.Duration(i+1)*minute), name)
			got, err := b.RotateRefresh(t.Context(), r)
			switch {
			case errors.Is(err, authkit.ErrNotFound):
				wantUnused(t, a, r.Old, ruleRotateNamedElsewhere)
				wantRefreshAbsent(t, a, r.Next, "the successor of a rotation naming another session", ruleRotateNamedElsewhere)
			case err == nil:
				if got.ID != mine.ID {
					t.Errorf("RotateRefresh naming session %q returned session %q, want %q (r.Old's); %s", name, got.ID, mine.ID, ruleRotateNamedElsewhere)
				}
				if rec := lookupRefresh(t, a, r.Next, ruleLookup); rec.SessionID != mine.ID {
					t.Errorf("the successor of a rotation naming session %q is in session %q, want %q; %s", name, rec.SessionID, mine.ID, ruleRotateNamedElsewhere)
				}
				cur = next
			default:
				t.Errorf("RotateRefresh naming session %q, not r.Old's: %v, want ErrNotFound or nil; %s", name, err, ruleRotateNamedElsewhere)
			}
			diffSession(getSession(t, a, other.ID, ruleSession), other).report(t, "the named session after a rotation of another session's token", ruleRotateNamedElsewhere)
			wantUnused(t, a, otherFirst.Hash, ruleRotateNamedElsewhere)
			wantSessionAbsent(t, a, "sess-none", "named by a rotation, never created", ruleRotateNamedElsewhere)
		}
		// The family goes on, named right.
		rotate(t, a, named(cur, "rt-mine-last", at(5*minute), mine.ID))

		// r.Old's own session revoked, the named one live: never a
		// rotation.
		dead, deadFirst := newSession("sess-dead", "carol", base, "rt-dead")
		createSession(t, a, dead, deadFirst)
		mustOK(t, "RevokeSession", a.RevokeSession(t.Context(), dead.ID, at(minute)), ruleRevokeSession)
		_, err := b.RotateRefresh(t.Context(), named("rt-dead", "rt-dead-2", at(6*minute), other.ID))
		if err == nil || !errors.Is(err, authkit.ErrTokenRevoked) && !errors.Is(err, authkit.ErrNotFound) {
			t.Errorf("RotateRefresh of a revoked session's token naming a live session: %v, want ErrTokenRevoked or ErrNotFound; %s", errOrNil(err), ruleRotateNamedElsewhere)
		}
		wantRefreshAbsent(t, a, hashOf("rt-dead-2"), "the successor of a rotation of a revoked session's token", ruleRotateNamedElsewhere)
		// r.Old already used, naming another session: reuse of r.Old's
		// own session, or not found; never the named session's.
		used := named(cur, "rt-used-again", at(7*minute), other.ID) // cur was rotated to rt-mine-last
		_, err = b.RotateRefresh(t.Context(), used)
		if re, ok := errors.AsType[*authkit.ReuseError](err); ok {
			if re.SessionID != mine.ID || re.Subject != mine.Subject {
				t.Errorf("the *ReuseError of a used token naming another session names session %q of %q, want %q of %q; %s", re.SessionID, re.Subject, mine.ID, mine.Subject, ruleRotateNamedElsewhere+"; "+ruleRotateReuse)
			}
		} else if !errors.Is(err, authkit.ErrNotFound) {
			t.Errorf("RotateRefresh of a used token naming another session: %v, want a *ReuseError or ErrNotFound; %s", errOrNil(err), ruleRotateNamedElsewhere)
		}
		diffSession(getSession(t, a, other.ID, ruleSession), other).report(t, "the named session after rotations of other sessions' tokens", ruleRotateNamedElsewhere)
	})
}

// namingHarness is h with every store wrapped in a namer: each rotation
// names its session (Rotation.SessionID) as the issuer's does, so that
// the rotation checks run again on that path ("NamedRotations/…").
func namingHarness(h PartialHarness[authkit.RefreshStore]) PartialHarness[authkit.RefreshStore] {
	return PartialHarness[authkit.RefreshStore]{
		New: func(t *testing.T) authkit.RefreshStore {
			return &namer{RefreshStore: h.New(t), names: &sessionNames{m: map[authkit.TokenHash]string{}}}
		},
		Peer: func(t *testing.T, s authkit.RefreshStore) authkit.RefreshStore {
			n := s.(*namer)
			if h.Peer == nil {
				return n
			}
			return &namer{RefreshStore: h.Peer(t, n.RefreshStore), names: n.names}
		},
		ScaleRecords: h.ScaleRecords,
		InProcess:    h.InProcess,
	}
}

// sessionNames is what a namer and its peers know of which session each
// hash was stored in.
type sessionNames struct {
	mu sync.Mutex
	m  map[authkit.TokenHash]string
}

func (n *sessionNames) get(h authkit.TokenHash) string {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.m[h]
}

func (n *sessionNames) set(h authkit.TokenHash, sid string) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.m[h] = sid
}

// namer names the session of every rotation whose presented hash it saw
// stored (by CreateSession or a rotation through it or a peer): the
// session a token of the issuer names. A hash it never saw stored is
// named nothing, and so is a rotation to a successor hash another session
// holds.
type namer struct {
	authkit.RefreshStore
	names *sessionNames
}

func (s *namer) CreateSession(ctx context.Context, sess authkit.Session, first authkit.RefreshRecord) error {
	err := s.RefreshStore.CreateSession(ctx, sess, first)
	if err == nil {
		s.names.set(first.Hash, sess.ID)
	}
	return err
}

func (s *namer) RotateRefresh(ctx context.Context, r authkit.Rotation) (authkit.Session, error) {
	if r.SessionID == "" {
		r.SessionID = s.names.get(r.Old)
		// A successor hash another session holds is no token the issuer
		// makes (a token's hash covers the session it names), and the
		// named contract leaves that conflict unchecked: such a rotation
		// stays unnamed.
		if held := s.names.get(r.Next); held != "" && held != r.SessionID {
			r.SessionID = ""
		}
	}
	sess, err := s.RefreshStore.RotateRefresh(ctx, r)
	if err == nil {
		sid := r.SessionID
		if sid == "" {
			sid = sess.ID
		}
		s.names.set(r.Next, sid)
	}
	return sess, err
}
