package memory

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/authkit-go/authkit"
)

// A wall clock stepped forward and back: a write while it was ahead swept
// revocations still in force at the real time, and once it was corrected
// their tokens were no longer revoked (found by review). The sweep's
// dropped revocations answer a check dated before it.
func TestDroppedRevocationsAnswerEarlierChecks(t *testing.T) {
	ctx := context.Background()
	s := New()
	start := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	tok := authkit.RevocationQuery{TokenID: "jti-1", SessionID: "sid-1", Subject: "alice", IssuedAt: start}
	if err := s.RevokeSessionTokens(ctx, "alice", "sid-1", start.Add(10*time.Minute)); err != nil {
		t.Fatal(err)
	}
	if err := s.RevokeToken(ctx, "carol", "jti-c", start.Add(10*time.Minute)); err != nil {
		t.Fatal(err)
	}
	if err := s.SetCutoff(ctx, "dave", start, start.Add(10*time.Minute)); err != nil {
		t.Fatal(err)
	}
	// One check while the clock is a day ahead, then a write sweeps.
	if _, err := s.IsRevoked(ctx, authkit.RevocationQuery{Subject: "bob", IssuedAt: start}, start.Add(24*time.Hour)); err != nil {
		t.Fatal(err)
	}
	if err := s.RevokeToken(ctx, "bob", "x", start.Add(20*time.Minute)); err != nil {
		t.Fatal(err)
	}
	if n := len(s.sid) + len(s.cutoffs); n != 0 {
		t.Fatalf("the sweep a day ahead left %d entries: the test does not reproduce the drop", n)
	}
	// The clock corrected: all three are still in force at start+2m.
	at := start.Add(2 * time.Minute)
	for _, c := range []struct {
		what string
		q    authkit.RevocationQuery
	}{
		{"a token of the revoked session", tok},
		{"the revoked jti", authkit.RevocationQuery{TokenID: "jti-c", Subject: "carol", IssuedAt: start}},
		{"a token issued at the cutoff", authkit.RevocationQuery{TokenID: "j", Subject: "dave", IssuedAt: start}},
	} {
		if dead, err := s.IsRevoked(ctx, c.q, at); err != nil || !dead {
			t.Errorf("%s, checked after the clock was corrected: %v, %v; want revoked", c.what, dead, err)
		}
	}
	// A snapshot taken then holds them too (a mirror rebuilds its copy from
	// it after a step back), once each.
	var got []string
	if _, err := s.RevocationSnapshot(ctx, at, func(r authkit.Revocation) error {
		got = append(got, fmt.Sprintf("%v %s %s", r.Kind, r.Subject, r.ID))
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	slices.Sort(got)
	want := []string{
		fmt.Sprintf("%v alice sid-1", authkit.RevokedSession),
		fmt.Sprintf("%v bob x", authkit.RevokedToken),
		fmt.Sprintf("%v carol jti-c", authkit.RevokedToken),
		fmt.Sprintf("%v dave ", authkit.RevokedBefore),
	}
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("snapshot after the clock was corrected: %q, want %q", got, want)
	}
	// Nor does it revoke more: another subject, a token issued after the
	// cutoff, and a check after the until.
	for _, c := range []struct {
		what string
		q    authkit.RevocationQuery
		now  time.Time
	}{
		{"another subject's session of the same ID", authkit.RevocationQuery{SessionID: "sid-1", Subject: "eve", IssuedAt: start}, at},
		{"a token issued after the cutoff", authkit.RevocationQuery{TokenID: "k", Subject: "dave", IssuedAt: start.Add(time.Second)}, at},
		{"a check after the until", tok, start.Add(11 * time.Minute)},
	} {
		if dead, err := s.IsRevoked(ctx, c.q, c.now); err != nil || dead {
			t.Errorf("%s: %v, %v; want not revoked", c.what, dead, err)
		}
	}
}

// The dropped revocations are bounded, forgetting the one that ends first
// (found by review: forgetting the one dropped first let a burst of short
// revocations push out a long one still in force), and a key dropped again
// keeps the later until and cutoff (found by review: it kept the last).
func TestDroppedRevocationsBounded(t *testing.T) {
	var d droppedSet
	at := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	long := droppedKey{droppedSID, revKey{"s", "long"}}
	d.add(long, at.Add(24*time.Hour), time.Time{}, at)
	again := droppedKey{droppedCutoff, revKey{"s", ""}}
	d.add(again, at.Add(2*time.Hour), at.Add(time.Minute), at)
	for i := range maxDropped + 100 {
		d.add(droppedKey{droppedJTI, revKey{"s", fmt.Sprint(i)}}, at.Add(time.Hour+time.Duration(i)*time.Millisecond), time.Time{}, at)
	}
	d.add(again, at.Add(time.Hour), at, at) // dropped again, ending sooner and cutting off less
	if len(d.entries) != maxDropped || len(d.byUntil) != maxDropped {
		t.Fatalf("%d entries, %d in the heap; want %d", len(d.entries), len(d.byUntil), maxDropped)
	}
	if _, ok := d.entries[droppedKey{droppedJTI, revKey{"s", "0"}}]; ok {
		t.Error("the entry ending first was kept past the bound")
	}
	if _, ok := d.entries[long]; !ok {
		t.Error("the entry ending last was forgotten")
	}
	if e, ok := d.entries[again]; !ok || !e.exp.at.Equal(at.Add(2*time.Hour)) || !e.cutoff.Equal(at.Add(time.Minute)) {
		t.Errorf("a cutoff dropped again: %+v, %v; want the later until and cutoff kept", e, ok)
	}
	// Full, an entry ending before all of them is not taken.
	early := droppedKey{droppedJTI, revKey{"s", "early"}}
	d.add(early, at.Add(time.Minute), time.Time{}, at)
	if _, ok := d.entries[early]; ok {
		t.Error("a full set took an entry ending before every one it holds")
	}
	for i, x := range d.byUntil {
		if e := x.owner.(*droppedEntry); x.index != i || d.entries[e.key] != e {
			t.Fatalf("heap slot %d: %+v, index %d", i, e.key, x.index)
		}
	}
}

// stepAhead has a store see a time three hours ahead and sweep there, as a
// clock stepped forward does with one check and one write.
func stepAhead(t *testing.T, s *Store, start time.Time) {
	t.Helper()
	ctx := context.Background()
	if _, err := s.IsRevoked(ctx, authkit.RevocationQuery{Subject: "nobody", IssuedAt: start}, start.Add(3*time.Hour)); err != nil {
		t.Fatal(err)
	}
	if err := s.RevokeToken(ctx, "nobody", "sweeps", start.Add(4*time.Hour)); err != nil {
		t.Fatal(err)
	}
}

// After the clock steps back, the first call with a time tells the store:
// revocations written since are kept, not removed as soon as written and
// then pushed out of the remembered ones by later writes (found by
// review: 4,096 logouts after the step lost one still in force).
func TestRevocationsAfterAStepBack(t *testing.T) {
	ctx := context.Background()
	s := New()
	start := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	stepAhead(t, s, start)
	if _, err := s.IsRevoked(ctx, authkit.RevocationQuery{Subject: "nobody", IssuedAt: start}, start.Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	if err := s.RevokeSessionTokens(ctx, "alice", "sid-a", start.Add(15*time.Minute)); err != nil {
		t.Fatal(err)
	}
	for i := range maxDropped + 64 {
		if err := s.RevokeSessionTokens(ctx, "u", fmt.Sprint(i), start.Add(15*time.Minute)); err != nil {
			t.Fatal(err)
		}
	}
	if _, ok := s.sid[revKey{"alice", "sid-a"}]; !ok {
		t.Error("a revocation written after the clock stepped back was removed")
	}
	q := authkit.RevocationQuery{SessionID: "sid-a", Subject: "alice", IssuedAt: start}
	if dead, err := s.IsRevoked(ctx, q, start.Add(2*time.Minute)); err != nil || !dead {
		t.Errorf("a session revoked after the step back, checked within its until: %v, %v", dead, err)
	}
}

// A revocation dropped, written again with a shorter until or an earlier
// cutoff, and dropped again, keeps the stronger one; a stored cutoff and a
// dropped one of the same subject count merged, in IsRevoked and in a
// snapshot (found by review: the last one won, and the snapshot skipped
// the dropped one).
func TestDroppedRevocationsMerge(t *testing.T) {
	ctx := context.Background()
	s := New()
	start := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	if err := s.RevokeSessionTokens(ctx, "alice", "sid", start.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if err := s.SetCutoff(ctx, "dave", start.Add(5*time.Minute), start.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	stepAhead(t, s, start)
	// Still ahead: written again, then swept again by the next write.
	if err := s.RevokeSessionTokens(ctx, "alice", "sid", start.Add(10*time.Minute)); err != nil {
		t.Fatal(err)
	}
	if err := s.RevokeToken(ctx, "nobody", "sweeps-again", start.Add(4*time.Hour)); err != nil {
		t.Fatal(err)
	}
	// The clock corrected; dave's cutoff written again, earlier and longer.
	if _, err := s.IsRevoked(ctx, authkit.RevocationQuery{Subject: "nobody", IssuedAt: start}, start.Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	if err := s.SetCutoff(ctx, "dave", start, start.Add(4*time.Hour)); err != nil {
		t.Fatal(err)
	}
	at := start.Add(40 * time.Minute)
	if dead, err := s.IsRevoked(ctx, authkit.RevocationQuery{SessionID: "sid", Subject: "alice", IssuedAt: start}, at); err != nil || !dead {
		t.Errorf("alice's session at +40m, revoked until +60m then until +10m: %v, %v", dead, err)
	}
	dave := authkit.RevocationQuery{TokenID: "d", Subject: "dave", IssuedAt: start.Add(2 * time.Minute)}
	if dead, err := s.IsRevoked(ctx, dave, at); err != nil || !dead {
		t.Errorf("dave's token issued at +2m, cut off at +5m until +60m and at +0 until +4h: %v, %v", dead, err)
	}
	var cut authkit.Revocation
	n := 0
	if _, err := s.RevocationSnapshot(ctx, at, func(r authkit.Revocation) error {
		if r.Kind == authkit.RevokedBefore && r.Subject == "dave" {
			cut, n = r, n+1
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if n != 1 || !cut.Cutoff.Equal(start.Add(5*time.Minute)) || !cut.Until.Equal(start.Add(4*time.Hour)) {
		t.Errorf("dave's cutoff in the snapshot (%d entries): %+v; want one, merged: cutoff +5m, until +4h", n, cut)
	}
}
