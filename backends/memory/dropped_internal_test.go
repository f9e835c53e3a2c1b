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

// The dropped revocations are bounded: the oldest are forgotten, and a key
// dropped again keeps its newer entry.
func TestDroppedRevocationsBounded(t *testing.T) {
	var d droppedSet
	at := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	until := at.Add(time.Hour)
	again := droppedKey{droppedJTI, revKey{"s", "again"}}
	d.add(again, until, time.Time{}, at)
	for i := range maxDropped + 100 {
		d.add(droppedKey{droppedJTI, revKey{"s", fmt.Sprint(i)}}, until, time.Time{}, at)
		if i == maxDropped/2 {
			d.add(again, until.Add(time.Hour), time.Time{}, at)
		}
	}
	if len(d.entries) != maxDropped || len(d.ring) != maxDropped {
		t.Fatalf("%d entries, %d ring slots; want %d", len(d.entries), len(d.ring), maxDropped)
	}
	if _, ok := d.entries[droppedKey{droppedJTI, revKey{"s", "0"}}]; ok {
		t.Error("the oldest dropped entry was kept past the bound")
	}
	if e, ok := d.entries[again]; !ok || !e.until.Equal(until.Add(time.Hour)) {
		t.Errorf("a key dropped again: %+v, %v; want its newer entry kept", e, ok)
	}
}
