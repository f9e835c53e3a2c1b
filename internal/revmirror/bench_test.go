package revmirror_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/authkit-go/authkit"
	"github.com/authkit-go/authkit/internal/revmirror"
	"github.com/authkit-go/authkit/internal/revmirror/feedtest"
)

// benchMirror returns a fresh Mirror holding n revoked jtis, n revoked
// sids and n cutoffs, on a store that is down, so that every answer
// measured comes from the copy.
func benchMirror(b *testing.B, n int) (*revmirror.Mirror, time.Time) {
	clk := newClock()
	now := clk.Now()
	store := feedtest.New()
	ctx := b.Context()
	for i := range n {
		s := fmt.Sprint("user-", i)
		if err := store.RevokeToken(ctx, s, fmt.Sprint("jti-", i), now.Add(time.Hour)); err != nil {
			b.Fatal(err)
		}
		if err := store.RevokeSessionTokens(ctx, s, fmt.Sprint("sid-", i), now.Add(time.Hour)); err != nil {
			b.Fatal(err)
		}
		if err := store.SetCutoff(ctx, s, now.Add(-time.Hour), now.Add(time.Hour)); err != nil {
			b.Fatal(err)
		}
	}
	m, err := revmirror.New(store, options(clk))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { m.Close() })
	for !m.Stats().Fresh {
		time.Sleep(time.Millisecond)
	}
	store.SetUnavailable(true)
	return m, now
}

// BenchmarkIsRevoked measures the per-request check on a fresh copy of
// 30,000 entries: a live token (three lookups, the common case) and a
// revoked one.
func BenchmarkIsRevoked(b *testing.B) {
	m, now := benchMirror(b, 10_000)
	ctx := b.Context()
	live := authkit.RevocationQuery{TokenID: "jti-live", SessionID: "sid-live", Subject: "user-42", IssuedAt: now}
	revoked := authkit.RevocationQuery{TokenID: "jti-42", SessionID: "sid-x", Subject: "user-42", IssuedAt: now}
	for _, c := range []struct {
		name string
		q    authkit.RevocationQuery
		want bool
	}{{"Live", live, false}, {"Revoked", revoked, true}} {
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				dead, err := m.IsRevoked(ctx, c.q, now)
				if err != nil || dead != c.want {
					b.Fatalf("IsRevoked = (%v, %v), want %v", dead, err, c.want)
				}
			}
		})
	}
	b.Run("Parallel", func(b *testing.B) {
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if dead, err := m.IsRevoked(ctx, live, now); err != nil || dead {
					b.Errorf("IsRevoked = (%v, %v), want false", dead, err)
					return
				}
			}
		})
	})
	if f := m.Stats().Fallbacks; f != 0 {
		b.Fatalf("%d answers came from the store", f)
	}
}

// TestIsRevokedDoesNotAllocate holds the hot path to zero allocations.
func TestIsRevokedDoesNotAllocate(t *testing.T) {
	clk := newClock()
	now := clk.Now()
	store := feedtest.New()
	if err := store.RevokeToken(t.Context(), "alice", "jti-1", now.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	m := start(t, store, options(clk))
	waitFresh(t, m)
	ctx := t.Context()
	query := authkit.RevocationQuery{TokenID: "jti-2", SessionID: "sid-2", Subject: "alice", IssuedAt: now}
	allocs := testing.AllocsPerRun(1000, func() {
		if dead, err := m.IsRevoked(ctx, query, now); err != nil || dead {
			t.Fatalf("IsRevoked = (%v, %v)", dead, err)
		}
	})
	if allocs != 0 {
		t.Errorf("IsRevoked on a fresh copy allocates %.1f times per call, want 0", allocs)
	}
}
