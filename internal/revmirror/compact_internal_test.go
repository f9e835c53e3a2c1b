package revmirror

import (
	"fmt"
	"runtime"
	"testing"
	"time"

	"github.com/authkit-go/authkit"
)

// TestStateCompact: once the entries a copy held expire, compacting it
// gives back the memory of its maps and heap (found by review: Go's maps
// keep the room of their largest size, and a mirror kept 4.1 MB after all
// its 55,500 entries had expired), and the compacted copy answers and
// sweeps as the old one did.
func TestStateCompact(t *testing.T) {
	t0 := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	s := newState()
	const n, kept = 50000, 100
	for i := range n {
		until := t0.Add(time.Minute)
		if i < kept {
			until = t0.Add(time.Hour)
		}
		kind := authkit.RevokedToken
		if i%2 == 1 {
			kind = authkit.RevokedSession
		}
		s.apply(authkit.Revocation{Kind: kind, Subject: fmt.Sprint("user-", i%1000), ID: fmt.Sprint("id-", i), Until: until}, t0)
	}
	now := t0.Add(2 * time.Minute)
	if got := s.sweep(now, n); got != n-kept {
		t.Fatalf("swept %d, want %d", got, n-kept)
	}
	if !s.needsCompact() {
		t.Fatalf("a copy holding %d of a peak of %d does not need compacting", s.len(), s.peak)
	}
	heap := func() uint64 {
		runtime.GC()
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		return ms.HeapAlloc
	}
	before := heap()
	c := s.compacted()
	s = nil
	after := heap()
	if before < after+1<<20 {
		t.Errorf("compacting a copy that held %d entries and holds %d freed %d bytes, want at least 1 MiB", n, kept, int64(before)-int64(after))
	}
	if c.needsCompact() || c.peak != kept {
		t.Errorf("the compacted copy: peak %d, needs compacting %v", c.peak, c.needsCompact())
	}
	for i := range kept {
		q := authkit.RevocationQuery{Subject: fmt.Sprint("user-", i%1000), IssuedAt: t0}
		if i%2 == 1 {
			q.SessionID = fmt.Sprint("id-", i)
		} else {
			q.TokenID = fmt.Sprint("id-", i)
		}
		if !c.dead(q, now) {
			t.Fatalf("entry %d lost in compacting", i)
		}
	}
	// Its heap is intact: a later until moves an entry (heap.Fix by its
	// index), and the sweep at the end takes every entry, in order.
	c.apply(authkit.Revocation{Kind: authkit.RevokedToken, Subject: "user-0", ID: "id-0", Until: t0.Add(3 * time.Hour)}, now)
	if got := c.sweep(t0.Add(2*time.Hour), n); got != kept-1 || c.len() != 1 {
		t.Errorf("after compacting, the sweep at 2 h took %d and left %d, want %d and 1", got, c.len(), kept-1)
	}
	runtime.KeepAlive(c)
}
