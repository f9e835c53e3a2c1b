package memory

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/authkit-go/authkit"
)

// TestIndexAgainstMap drives an index through inserts, replacements and
// removals and compares every lookup with a Go map. Keys are drawn from a
// small space of hashes that share shards, home slots and even the full
// 32-bit fragment, so probing past equal fragments, wrapping around the
// table's end and backward-shift deletion are all exercised.
func TestIndexAgainstMap(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	var x index
	type entry struct {
		h   uint64
		ref uint32
	}
	want := map[uint32]entry{} // ref → its hash
	// hashes collide on purpose: 3 shards, few distinct low bits.
	hashOf := func(k int) uint64 {
		shard := uint64(k%3) << (64 - indexShardBits)
		return shard | uint64(k%7)<<40 | uint64(k%5)*(1<<31-1)
	}
	nextRef := uint32(0)
	lookup := func(e entry) (uint32, bool) {
		return x.find(e.h, func(ref uint32) bool { return ref == e.ref })
	}
	for step := range 20000 {
		switch op := rng.IntN(10); {
		case op < 5 || len(want) == 0:
			e := entry{hashOf(rng.IntN(1000)), nextRef}
			nextRef++
			x.insert(e.h, e.ref)
			want[e.ref] = e
		case op < 8:
			for ref, e := range want {
				x.remove(e.h, ref)
				delete(want, ref)
				break
			}
		default:
			for ref, e := range want {
				to := nextRef
				nextRef++
				x.replace(e.h, ref, to)
				delete(want, ref)
				want[to] = entry{e.h, to}
				break
			}
		}
		if step%500 == 0 || step == 19999 {
			if x.len() != len(want) {
				t.Fatalf("step %d: index holds %d entries, want %d", step, x.len(), len(want))
			}
			for ref, e := range want {
				if got, ok := lookup(e); !ok || got != ref {
					t.Fatalf("step %d: entry %d (hash %#x) not found", step, ref, e.h)
				}
			}
			// A removed reference is not found.
			if _, ok := lookup(entry{hashOf(1), nextRef + 1}); ok {
				t.Fatalf("step %d: found a reference never inserted", step)
			}
		}
	}
	// Removing what is not there changes nothing.
	n := x.len()
	x.remove(hashOf(3), nextRef+5)
	if x.len() != n {
		t.Fatalf("removing an absent entry changed the count from %d to %d", n, x.len())
	}
}

// TestTimesInMicroseconds: times keep microseconds, round down, survive
// the zero time and clamp instead of overflowing.
func TestTimesInMicroseconds(t *testing.T) {
	in := time.Date(2030, 1, 2, 3, 4, 5, 123456789, time.FixedZone("x", 3600))
	if got := fromMicros(toMicros(in)); !got.Equal(in.Truncate(time.Microsecond)) || got.Location() != time.UTC {
		t.Errorf("round trip of %v = %v, want %v in UTC", in, got, in.Truncate(time.Microsecond))
	}
	if got := fromMicros(toMicros(time.Time{})); !got.IsZero() {
		t.Errorf("the zero time came back as %v", got)
	}
	before := time.Unix(-1, 999_999_999) // rounds down, not towards zero
	if got := toMicros(before); got != -1 {
		t.Errorf("toMicros(%v) = %d, want -1", before, got)
	}
	if got := toMicros(time.Date(300000, 1, 1, 0, 0, 0, 0, time.UTC)); got != math.MaxInt64 {
		t.Errorf("a time past the int64 range gives %d, want MaxInt64", got)
	}
	if got := toMicros(time.Date(-300000, 1, 1, 0, 0, 0, 0, time.UTC)); got != math.MinInt64 {
		t.Errorf("a time before the int64 range gives %d, want MinInt64", got)
	}
	if got := revokedMicros(time.Time{}.Add(time.Nanosecond)); got == zeroMicros {
		t.Error("a revocation a nanosecond after the zero time reads as no revocation")
	}
}

// TestBlobRoundTrip: every string, list and byte slice of a session comes
// back exactly, nil and empty apart, whatever its length.
func TestBlobRoundTrip(t *testing.T) {
	long := string(make([]byte, 70000)) // needs a three-byte length
	for _, in := range []authkit.Session{
		{ID: "s", Subject: "u"},
		{ID: "", Subject: "", Scopes: []string{}, Audience: []string{}, Claims: []byte{}},
		{ID: "ünï", Subject: long, ClientID: "c", UserAgent: long, IP: "::1", Name: "n",
			Scopes: []string{"a", "", long}, Audience: []string{""}, Claims: []byte(long)},
	} {
		f := newFamilies()
		ref, ok := f.addSession(in)
		if !ok {
			t.Fatal("addSession refused")
		}
		got := f.sessionOf(f.sess.at(ref))
		if got.ID != in.ID || got.Subject != in.Subject || got.ClientID != in.ClientID || got.UserAgent != in.UserAgent ||
			got.IP != in.IP || got.Name != in.Name || !slices.Equal(got.Scopes, in.Scopes) || !slices.Equal(got.Audience, in.Audience) ||
			string(got.Claims) != string(in.Claims) {
			t.Errorf("session %.20q came back different", in.ID)
		}
		if (got.Scopes == nil) != (in.Scopes == nil) || (got.Audience == nil) != (in.Audience == nil) || (got.Claims == nil) != (in.Claims == nil) {
			t.Errorf("session %.20q: nil and empty slices were confused", in.ID)
		}
	}
}

// modelToken is what TestRandomOperations expects of a stored token.
type modelToken struct {
	session string
	expires time.Time
	used    bool
}

type modelSession struct {
	subject          string
	expires, idle    time.Time
	revoked          bool
	current          authkit.TokenHash
	created, lastUse time.Time
}

// TestRandomOperations runs a long random mix of every RefreshStore write
// with a small sweep budget, checking the layout's invariants as it goes
// and, at every step, that the store lost nothing that is not garbage and
// changed nothing it was not asked to.
func TestRandomOperations(t *testing.T) {
	s := New(WithSweepBudget(4))
	ctx := context.Background()
	rng := rand.New(rand.NewPCG(3, 4))
	sessions := map[string]*modelSession{}
	tokens := map[authkit.TokenHash]*modelToken{}
	now := t0
	next := 0
	newHash := func() authkit.TokenHash {
		next++
		return hashN('x', next)
	}
	subjects := []string{"a", "b", "c", "d", "e", "f", "g", "h"}
	// garbage reports whether the model's token h may have been dropped.
	garbage := func(h authkit.TokenHash, mt *modelToken) bool {
		ms := sessions[mt.session]
		return !now.Before(mt.expires) || ms == nil || ms.revoked || !now.Before(ms.expires) || !now.Before(ms.idle)
	}
	ids := func() []string {
		out := make([]string, 0, len(sessions))
		for id := range sessions {
			out = append(out, id)
		}
		slices.Sort(out)
		return out
	}
	for step := range 6000 {
		now = now.Add(time.Duration(rng.IntN(90)) * time.Second)
		switch op := rng.IntN(20); {
		case op < 6:
			id := fmt.Sprint("s", step)
			subj := subjects[rng.IntN(len(subjects))]
			h := newHash()
			idle := now.Add(time.Duration(5+rng.IntN(60)) * time.Minute)
			exp := now.Add(time.Duration(10+rng.IntN(120)) * time.Minute)
			first := authkit.RefreshRecord{Hash: h, SessionID: id, Subject: subj, IssuedAt: now, ExpiresAt: idle}
			switch rng.IntN(8) {
			case 0: // the first token idles out before its session
				first.ExpiresAt = now.Add(time.Duration(1+rng.IntN(int(idle.Sub(now)/time.Second))) * time.Second)
			case 1: // or outlives it
				first.ExpiresAt = idle.Add(time.Duration(1+rng.IntN(3600)) * time.Second)
			case 2: // a first token stored already used: the session has no current one
				first.UsedAt, first.Successor = now, []byte("s")
			}
			err := s.CreateSession(ctx,
				authkit.Session{ID: id, Subject: subj, UserAgent: fmt.Sprint("ua", step), CreatedAt: now, LastUsedAt: now, ExpiresAt: exp, IdleExpiresAt: idle},
				first)
			if err != nil {
				t.Fatalf("step %d: CreateSession: %v", step, err)
			}
			sessions[id] = &modelSession{subject: subj, expires: exp, idle: idle, current: h, created: now, lastUse: now}
			tokens[h] = &modelToken{session: id, expires: first.ExpiresAt, used: !first.UsedAt.IsZero()}
		case op < 14 && len(sessions) > 0:
			all := ids()
			id := all[rng.IntN(len(all))]
			ms := sessions[id]
			old := ms.current
			if rng.IntN(4) == 0 { // present a rotated token, if any
				for h, mt := range tokens {
					if mt.session == id && mt.used {
						old = h
						break
					}
				}
			}
			h := newHash()
			nextExp := now.Add(time.Duration(5+rng.IntN(60)) * time.Minute)
			_, err := s.RotateRefresh(ctx, authkit.Rotation{Old: old, Next: h, NextExpiresAt: nextExp, Successor: []byte(id), Now: now})
			mt := tokens[old]
			switch {
			case err == nil:
				if mt == nil || mt.used || ms.revoked || garbage(old, mt) {
					t.Fatalf("step %d: RotateRefresh of %s succeeded; the model expected it to fail", step, id)
				}
				mt.used = true
				ms.current, ms.idle, ms.lastUse = h, nextExp, now
				tokens[h] = &modelToken{session: id, expires: nextExp}
			case errors.Is(err, authkit.ErrNotFound):
				if mt != nil && !garbage(old, mt) {
					t.Fatalf("step %d: a token of live session %s was not found", step, id)
				}
			case errors.Is(err, authkit.ErrTokenReused):
				if mt == nil || !mt.used {
					t.Fatalf("step %d: reuse reported for an unused token", step)
				}
			case errors.Is(err, authkit.ErrTokenRevoked):
				if !ms.revoked {
					t.Fatalf("step %d: %s reported revoked", step, id)
				}
			case errors.Is(err, authkit.ErrTokenExpired):
				if mt == nil || !garbage(old, mt) {
					t.Fatalf("step %d: %s reported expired", step, id)
				}
			default:
				t.Fatalf("step %d: RotateRefresh: %v", step, err)
			}
		case op < 16 && len(sessions) > 0:
			all := ids()
			id := all[rng.IntN(len(all))]
			err := s.RevokeSession(ctx, id, now)
			if err != nil && !errors.Is(err, authkit.ErrNotFound) {
				t.Fatalf("step %d: RevokeSession: %v", step, err)
			}
			sessions[id].revoked = true
		case op < 17:
			subj := subjects[rng.IntN(len(subjects))]
			if _, err := s.RevokeSubjectSessions(ctx, subj, now); err != nil {
				t.Fatalf("step %d: RevokeSubjectSessions: %v", step, err)
			}
			for _, ms := range sessions {
				if ms.subject == subj {
					ms.revoked = true
				}
			}
		case op < 18:
			if _, err := s.DeleteExpiredSessions(ctx, now, 1+rng.IntN(8)); err != nil {
				t.Fatalf("step %d: DeleteExpiredSessions: %v", step, err)
			}
		default:
			subj := subjects[rng.IntN(len(subjects))]
			list, err := s.ListSessions(ctx, subj, now)
			if err != nil {
				t.Fatalf("step %d: ListSessions: %v", step, err)
			}
			var want []string
			for id, ms := range sessions {
				if ms.subject == subj && !ms.revoked && now.Before(ms.expires) && now.Before(ms.idle) {
					want = append(want, id)
				}
			}
			got := make([]string, len(list))
			for i, l := range list {
				got[i] = l.ID
			}
			slices.Sort(got)
			slices.Sort(want)
			if !slices.Equal(got, want) {
				t.Fatalf("step %d: ListSessions(%s) = %v, want %v", step, subj, got, want)
			}
		}
		// Whatever the store still holds matches the model; whatever it
		// dropped was garbage.
		for h, mt := range tokens {
			rec, err := s.LookupRefresh(ctx, h)
			if errors.Is(err, authkit.ErrNotFound) {
				if !garbage(h, mt) {
					t.Fatalf("step %d: the store dropped a token of live session %s", step, mt.session)
				}
				delete(tokens, h)
				continue
			}
			if err != nil || rec.SessionID != mt.session || rec.UsedAt.IsZero() == mt.used || !rec.ExpiresAt.Equal(mt.expires) {
				t.Fatalf("step %d: LookupRefresh = %+v, %v; the model has %+v", step, rec, err, mt)
			}
		}
		for id, ms := range sessions {
			got, err := s.Session(ctx, id)
			if errors.Is(err, authkit.ErrNotFound) {
				if !ms.revoked && now.Before(ms.expires) && now.Before(ms.idle) {
					t.Fatalf("step %d: the store dropped live session %s", step, id)
				}
				delete(sessions, id)
				continue
			}
			if err != nil || got.Subject != ms.subject || got.RevokedAt.IsZero() == ms.revoked ||
				!got.IdleExpiresAt.Equal(ms.idle) || !got.LastUsedAt.Equal(ms.lastUse) || !got.CreatedAt.Equal(ms.created) {
				t.Fatalf("step %d: Session(%s) = %+v, %v; the model has %+v", step, id, got, err, ms)
			}
		}
		if step%250 == 0 {
			s.mu.RLock()
			err := s.f.check()
			s.mu.RUnlock()
			if err != nil {
				t.Fatalf("step %d: %v", step, err)
			}
		}
	}
	// Everything goes in the end, and the layout is empty and consistent.
	s.Cleanup(now.Add(1000 * time.Hour))
	checkInvariants(t, s)
	if got := s.size(); got != 0 {
		t.Errorf("%d entries left after a cleanup past every expiry", got)
	}
}

// TestCurrentTokenExpiresBeforeSession: a session's heap entry stands for
// its current token too. When the token's expiry comes first, cleanup
// deletes the token alone, counts it, and keeps the session until its own
// time.
func TestCurrentTokenExpiresBeforeSession(t *testing.T) {
	s := New()
	ctx := context.Background()
	err := s.CreateSession(ctx,
		authkit.Session{ID: "s", Subject: "alice", CreatedAt: t0, LastUsedAt: t0, ExpiresAt: t0.Add(10 * time.Hour), IdleExpiresAt: t0.Add(5 * time.Hour)},
		authkit.RefreshRecord{Hash: hashN('r', 1), SessionID: "s", Subject: "alice", IssuedAt: t0, ExpiresAt: t0.Add(time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	checkInvariants(t, s)
	if n, err := s.DeleteExpiredSessions(ctx, t0.Add(time.Hour-time.Microsecond), 10); err != nil || n != 0 {
		t.Fatalf("DeleteExpiredSessions before the token's expiry = %d, %v; want 0", n, err)
	}
	if n, err := s.DeleteExpiredSessions(ctx, t0.Add(2*time.Hour), 10); err != nil || n != 1 {
		t.Fatalf("DeleteExpiredSessions after the token's expiry = %d, %v; want 1 (the token)", n, err)
	}
	if _, err := s.LookupRefresh(ctx, hashN('r', 1)); !errors.Is(err, authkit.ErrNotFound) {
		t.Errorf("the expired token is still there: %v", err)
	}
	if _, err := s.Session(ctx, "s"); err != nil {
		t.Errorf("the session went with its token, five hours early: %v", err)
	}
	checkInvariants(t, s)
	if n, err := s.DeleteExpiredSessions(ctx, t0.Add(5*time.Hour), 10); err != nil || n != 1 {
		t.Fatalf("DeleteExpiredSessions at the session's idle expiry = %d, %v; want 1 (the session)", n, err)
	}
	if got := s.size(); got != 0 {
		t.Errorf("%d entries left", got)
	}
}
