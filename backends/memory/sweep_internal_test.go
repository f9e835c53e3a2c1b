package memory

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/authkit-go/authkit"
)

var t0 = time.Date(2030, time.January, 2, 3, 4, 5, 0, time.UTC)

func hashN(kind byte, i int) authkit.TokenHash {
	var h authkit.TokenHash
	h[0] = kind
	h[1], h[2], h[3] = byte(i>>16), byte(i>>8), byte(i)
	return h
}

// checkInvariants verifies that every heap holds exactly the entries that
// can expire, each at its own index, and that the refresh half's indexes
// and lists agree with its records.
func checkInvariants(t *testing.T, s *Store) {
	t.Helper()
	s.mu.RLock()
	defer s.mu.RUnlock()
	if err := s.f.check(); err != nil {
		t.Fatal(err)
	}
	withExpiry, revoked := 0, 0
	for _, tok := range s.tokensByID {
		if !tok.t.ExpiresAt.IsZero() {
			withExpiry++
		}
		if !tok.t.RevokedAt.IsZero() {
			revoked++
			if tok.rev == nil || tok.rev.owner != tok || !tok.rev.at.Equal(tok.t.RevokedAt) {
				t.Fatalf("revoked token %q is not filed at its RevokedAt among the revoked tokens", tok.t.ID)
			}
			if _, ok := s.tokensBySubject[tok.t.Subject][tok.t.ID]; ok {
				t.Fatalf("revoked token %q is still among its subject's tokens", tok.t.ID)
			}
		} else {
			if tok.rev != nil {
				t.Fatalf("live token %q is filed among the revoked tokens", tok.t.ID)
			}
			if s.tokensBySubject[tok.t.Subject][tok.t.ID] != tok {
				t.Fatalf("token %q is not among its subject's tokens", tok.t.ID)
			}
		}
	}
	for name, c := range map[string]struct {
		heap expiryHeap
		want int
	}{
		"revocation": {s.revExp, len(s.jti) + len(s.sid) + len(s.cutoffs)},
		"token":      {s.tokenExp, withExpiry},
		"revoked":    {s.revokedTokens, revoked},
	} {
		if len(c.heap) != c.want {
			t.Errorf("%s heap holds %d expiries for %d entries", name, len(c.heap), c.want)
		}
		for i, e := range c.heap {
			if e.index != i {
				t.Fatalf("%s heap: element %d believes it is at %d", name, i, e.index)
			}
			if p := (i - 1) / 2; i > 0 && c.heap[i].at.Before(c.heap[p].at) {
				t.Fatalf("%s heap: element %d is earlier than its parent", name, i)
			}
		}
	}
}

// fill writes n sessions (each with one refresh token), n revoked jtis and
// n API tokens, all expiring at t0+1h, plus one live entry of each kind.
func fill(t *testing.T, s *Store, n int) {
	t.Helper()
	ctx := context.Background()
	for i := range n {
		id := fmt.Sprint("s", i)
		err := s.CreateSession(ctx,
			authkit.Session{ID: id, Subject: "alice", CreatedAt: t0, LastUsedAt: t0, ExpiresAt: t0.Add(24 * time.Hour), IdleExpiresAt: t0.Add(time.Hour)},
			authkit.RefreshRecord{Hash: hashN('r', i), SessionID: id, Subject: "alice", IssuedAt: t0, ExpiresAt: t0.Add(time.Hour)})
		if err != nil {
			t.Fatal(err)
		}
		if err := s.RevokeToken(ctx, "alice", fmt.Sprint("j", i), t0.Add(time.Hour)); err != nil {
			t.Fatal(err)
		}
		tok := authkit.APIToken{ID: fmt.Sprint("t", i), Hash: hashN('t', i), Subject: "alice", CreatedAt: t0, ExpiresAt: t0.Add(time.Hour)}
		if err := s.CreateAPIToken(ctx, tok, 0, t0); err != nil {
			t.Fatal(err)
		}
	}
	err := s.CreateSession(ctx,
		authkit.Session{ID: "live", Subject: "bob", CreatedAt: t0, LastUsedAt: t0, ExpiresAt: t0.Add(1000 * time.Hour), IdleExpiresAt: t0.Add(1000 * time.Hour)},
		authkit.RefreshRecord{Hash: hashN('L', 0), SessionID: "live", Subject: "bob", IssuedAt: t0, ExpiresAt: t0.Add(1000 * time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.RevokeToken(ctx, "alice", "live", t0.Add(1000*time.Hour)); err != nil {
		t.Fatal(err)
	}
	if err := s.CreateAPIToken(ctx, authkit.APIToken{ID: "live", Hash: hashN('L', 1), Subject: "bob", CreatedAt: t0}, 0, t0); err != nil {
		t.Fatal(err)
	}
}

// liveEntries is what fill writes that never expires in these tests:
// a session, its token, a jti and an API token.
const liveEntries = 4

func checkLiveSurvived(t *testing.T, s *Store) {
	t.Helper()
	ctx := context.Background()
	now := t0.Add(2 * time.Hour)
	if _, err := s.Session(ctx, "live"); err != nil {
		t.Errorf("the sweep removed a live session: %v", err)
	}
	if _, err := s.LookupRefresh(ctx, hashN('L', 0)); err != nil {
		t.Errorf("the sweep removed a live refresh token: %v", err)
	}
	if dead, err := s.IsRevoked(ctx, authkit.RevocationQuery{TokenID: "live", Subject: "alice"}, now); err != nil || !dead {
		t.Errorf("the sweep removed a live revocation: %v, %v", dead, err)
	}
	if _, err := s.LookupAPIToken(ctx, hashN('L', 1)); err != nil {
		t.Errorf("the sweep removed a live API token: %v", err)
	}
}

// TestSweepShrinksMemory: 40,000 entries expire; writes at a later time,
// which add nothing, each remove a budget of them of every kind until only
// the live ones are left.
func TestSweepShrinksMemory(t *testing.T) {
	const n = 10000
	s := New()
	fill(t, s, n)
	checkInvariants(t, s)
	if got, want := s.size(), 4*n+liveEntries; got != want {
		t.Fatalf("size after fill = %d, want %d: nothing has expired yet at t0", got, want)
	}
	ctx := context.Background()
	later := t0.Add(2 * time.Hour)
	prev := s.size()
	writes := 0
	for s.size() > liveEntries {
		// A touch stores nothing new; it only carries the time.
		if err := s.TouchAPIToken(ctx, "live", later); err != nil {
			t.Fatal(err)
		}
		writes++
		got := s.size()
		// Each kind loses its budget while it has that much garbage left:
		// all three at first, then only sessions and their tokens (2n).
		removed := prev - got
		if got != liveEntries && (removed < DefaultSweepBudget || removed > 3*DefaultSweepBudget) {
			t.Fatalf("write %d removed %d entries, want between %d and %d", writes, removed, DefaultSweepBudget, 3*DefaultSweepBudget)
		}
		if writes == 1 && removed != 3*DefaultSweepBudget {
			t.Fatalf("the first write removed %d entries, want %d (the budget of each of the three kinds)", removed, 3*DefaultSweepBudget)
		}
		prev = got
		if writes > 4*n {
			t.Fatalf("after %d writes %d entries remain", writes, got)
		}
	}
	if max := (2*n)/DefaultSweepBudget + 1; writes > max {
		t.Errorf("the backlog took %d writes to clear, want at most %d", writes, max)
	}
	checkInvariants(t, s)
	checkLiveSurvived(t, s)
	// Nothing is left for the explicit cleanup.
	for name, del := range map[string]func() (int, error){
		"DeleteExpiredSessions":    func() (int, error) { return s.DeleteExpiredSessions(ctx, later, 1000) },
		"DeleteExpiredRevocations": func() (int, error) { return s.DeleteExpiredRevocations(ctx, later, 1000) },
		"DeleteExpiredAPITokens":   func() (int, error) { return s.DeleteExpiredAPITokens(ctx, later, 1000) },
	} {
		if n, err := del(); err != nil || n != 0 {
			t.Errorf("%s after the sweep = %d, %v; want 0", name, n, err)
		}
	}
}

// TestSweepUsesTimeSeenByReads: writes that carry no time (RevokeToken)
// sweep at the latest time any call has passed, IsRevoked included.
func TestSweepUsesTimeSeenByReads(t *testing.T) {
	s := New()
	ctx := context.Background()
	for i := range 1000 {
		if err := s.RevokeToken(ctx, "alice", fmt.Sprint("j", i), t0.Add(time.Hour)); err != nil {
			t.Fatal(err)
		}
	}
	if got := s.size(); got != 1000 {
		t.Fatalf("size = %d, want 1000: no time has been seen, so nothing may be swept", got)
	}
	if _, err := s.IsRevoked(ctx, authkit.RevocationQuery{TokenID: "x"}, t0.Add(2*time.Hour)); err != nil {
		t.Fatal(err)
	}
	if err := s.RevokeToken(ctx, "alice", "new", t0.Add(100*time.Hour)); err != nil {
		t.Fatal(err)
	}
	if got, want := s.size(), 1000+1-DefaultSweepBudget; got != want {
		t.Errorf("size after a RevokeToken following IsRevoked at t0+2h = %d, want %d", got, want)
	}
	checkInvariants(t, s)
}

// TestSweepKeepsRevokedUntilExpiry: the sweep removes only what has expired
// by time; a revoked session stays visible (Session returns it, live or
// not) until it expires or DeleteExpiredSessions removes it.
func TestSweepKeepsRevokedUntilExpiry(t *testing.T) {
	s := New(WithSweepBudget(1 << 20))
	ctx := context.Background()
	fill(t, s, 10)
	if err := s.RevokeSession(ctx, "live", t0.Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	if err := s.RevokeAPIToken(ctx, "bob", "live", t0.Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	// A write at t0+2h sweeps, after doing its own work.
	if err := s.TouchAPIToken(ctx, "t0", t0.Add(2*time.Hour)); err != nil {
		t.Fatal(err)
	}
	if got := s.size(); got != liveEntries {
		t.Fatalf("size = %d, want %d: everything but the revoked session, its token, the jti and the revoked API token has expired", got, liveEntries)
	}
	checkLiveSurvived(t, s)
	if n, err := s.DeleteExpiredSessions(ctx, t0.Add(2*time.Hour), 1000); err != nil || n != 2 {
		t.Errorf("DeleteExpiredSessions = %d, %v; want 2 (the revoked session and its token)", n, err)
	}
	if n, err := s.DeleteExpiredAPITokens(ctx, t0.Add(2*time.Hour), 1000); err != nil || n != 1 {
		t.Errorf("DeleteExpiredAPITokens = %d, %v; want 1 (the revoked token)", n, err)
	}
	checkInvariants(t, s)
}

// TestHeapOrder drives the heap through random-looking updates and
// removals and checks its invariants throughout.
func TestHeapOrder(t *testing.T) {
	var h expiryHeap
	es := make([]*expiry, 200)
	for i := range es {
		es[i] = &expiry{at: t0.Add(time.Duration((i*7919)%200) * time.Second)}
		h.push(es[i])
	}
	check := func() {
		t.Helper()
		for i, e := range h {
			if e.index != i {
				t.Fatalf("element %d believes it is at %d", i, e.index)
			}
			if p := (i - 1) / 2; i > 0 && h[i].at.Before(h[p].at) {
				t.Fatalf("element %d is earlier than its parent", i)
			}
		}
	}
	check()
	for i := 0; i < len(es); i += 3 {
		es[i].at = t0.Add(time.Duration((i*31)%500) * time.Second)
		h.fix(es[i])
		check()
	}
	for i := 1; i < len(es); i += 2 {
		h.remove(es[i])
		h.remove(es[i]) // twice is a no-op
		check()
	}
	prev := time.Time{}
	for h.min() != nil {
		e := h.min()
		if e.at.Before(prev) {
			t.Fatalf("min went backwards: %v after %v", e.at, prev)
		}
		prev = e.at
		h.remove(e)
		check()
	}
}

// check verifies every invariant of the refresh half: each live session
// and token is found through its indexes, sits in its lists and in the
// deadline heap at the place it believes, and nothing else is anywhere.
func (f *families) check() error {
	if len(f.at) != len(f.who) {
		return fmt.Errorf("deadline heap: %d times for %d references", len(f.at), len(f.who))
	}
	covered := 0
	for ref := uint32(0); ref < f.sess.next; ref++ {
		if ss := f.sess.at(ref); ss.blob != "" && ss.flags&coversLast != 0 {
			covered++
			if ss.last == none || f.toks.at(ss.last).heap != none || f.toks.at(ss.last).used() {
				return fmt.Errorf("session %q covers a last token that is missing, used or in the heap", ss.id())
			}
		}
	}
	if want := f.sess.live + f.toks.live - covered; len(f.at) != want {
		return fmt.Errorf("deadline heap holds %d entries for %d sessions and %d tokens, %d of them covered", len(f.at), f.sess.live, f.toks.live, covered)
	}
	for i, who := range f.who {
		if p := (i - 1) / 4; i > 0 && f.at[i] < f.at[p] {
			return fmt.Errorf("deadline heap: entry %d is earlier than its parent", i)
		}
		var pos uint32
		var at int64
		if who&sessionBit != 0 {
			ss := f.sess.at(who &^ sessionBit)
			pos, at = ss.heap, f.deadline(ss)
		} else {
			t := f.toks.at(who)
			pos, at = t.heap, t.expires
		}
		if pos != uint32(i) {
			return fmt.Errorf("deadline heap: entry %d believes it is at %d", i, pos)
		}
		if at != f.at[i] {
			return fmt.Errorf("deadline heap: entry %d holds time %d, its owner %d", i, f.at[i], at)
		}
	}
	free := map[uint32]bool{}
	for _, r := range f.sess.free {
		free[r] = true
	}
	tokFree := map[uint32]bool{}
	for _, r := range f.toks.free {
		tokFree[r] = true
	}
	subjects := map[string]int{}
	tokens := 0
	for ref := uint32(0); ref < f.sess.next; ref++ {
		if free[ref] {
			if ss := f.sess.at(ref); ss.blob != "" {
				return fmt.Errorf("freed session slot %d still holds its strings", ref)
			}
			continue
		}
		ss := f.sess.at(ref)
		if got, ok := f.findSession(ss.id()); !ok || got != ref {
			return fmt.Errorf("session %q is not found by its ID", ss.id())
		}
		if _, ok := f.revoked[ref]; ok != ss.isRevoked() {
			return fmt.Errorf("session %q: revoked %v, in the revoked set %v", ss.id(), ss.isRevoked(), ok)
		}
		subjects[ss.subject()]++
		last := none
		for tr := ss.first; tr != none; tr = f.toks.at(tr).next {
			if tokFree[tr] {
				return fmt.Errorf("session %q lists freed token slot %d", ss.id(), tr)
			}
			tk := f.toks.at(tr)
			if tk.sess != ref {
				return fmt.Errorf("session %q lists a token of session slot %d", ss.id(), tk.sess)
			}
			if got, ok := f.findToken(&tk.hash); !ok || got != tr {
				return fmt.Errorf("a token of session %q is not found by its hash", ss.id())
			}
			if tk.heap == none && (tr != ss.last || ss.flags&coversLast == 0) {
				return fmt.Errorf("a token of session %q is neither in the heap nor covered", ss.id())
			}
			last = tr
			tokens++
		}
		if last != ss.last {
			return fmt.Errorf("session %q: last token %d, list ends at %d", ss.id(), ss.last, last)
		}
	}
	if tokens != f.toks.live || f.byHash.len() != f.toks.live {
		return fmt.Errorf("%d tokens live, %d in sessions' lists, %d in the hash index", f.toks.live, tokens, f.byHash.len())
	}
	if f.byID.len() != f.sess.live {
		return fmt.Errorf("%d sessions live, %d in the ID index", f.sess.live, f.byID.len())
	}
	if f.bySubject.len() != len(subjects) {
		return fmt.Errorf("%d subjects, %d in the subject index", len(subjects), f.bySubject.len())
	}
	for subj, n := range subjects {
		head, ok := f.subjectHead(subj)
		if !ok {
			return fmt.Errorf("subject %q has no head session", subj)
		}
		if f.sess.at(head).prev != none {
			return fmt.Errorf("subject %q: its head session has a predecessor", subj)
		}
		count := 0
		prev := none
		for ref := head; ref != none; ref = f.sess.at(ref).next {
			ss := f.sess.at(ref)
			if ss.subject() != subj || ss.prev != prev {
				return fmt.Errorf("subject %q: its list is broken at slot %d", subj, ref)
			}
			prev = ref
			count++
		}
		if count != n {
			return fmt.Errorf("subject %q lists %d sessions, holds %d", subj, count, n)
		}
	}
	return nil
}
