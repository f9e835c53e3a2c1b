package memory_test

import (
	"context"
	"encoding/binary"
	"flag"
	"fmt"
	"runtime"
	"slices"
	"testing"
	"time"

	"github.com/authkit-go/authkit"
	"github.com/authkit-go/authkit/backends/memory"
)

// footprintSessions is how many sessions BenchmarkFootprint and
// BenchmarkCleanup hold. The figures in docs/performance.md are for the
// default; a quick run can pass a smaller number:
//
//	go test -run '^$' -bench 'Footprint|Cleanup' ./backends/memory -memory.sessions 100000
var footprintSessions = flag.Int("memory.sessions", 1_000_000, "sessions held by BenchmarkFootprint and BenchmarkCleanup")

// footprintBase is when the footprint sessions are created.
var footprintBase = time.Date(2030, time.March, 4, 5, 6, 7, 0, time.UTC)

// Shared by every session, as an issuer's configured scopes and audience are.
var (
	footprintScopes   = []string{"read", "write"}
	footprintAudience = []string{"https://api.example.com"}
)

// footprintSession returns the i-th session of the footprint benchmarks and
// its first refresh token: what issuer.IssuePair stores for a login from a
// browser. Every string of the session's own is distinct, so that no store
// can share one between sessions: a 36-byte UUID session ID, a 19-byte
// subject, a user agent of about 105 bytes, a device name of about 20 and
// an IPv4 address of 8 to 15 bytes. The scopes and audience are the same
// for every session, as an issuer's configuration is.
func footprintSession(i int) (authkit.Session, authkit.RefreshRecord) {
	created := footprintBase.Add(time.Duration(i) * time.Microsecond)
	s := authkit.Session{
		ID:            fmt.Sprintf("%08x-%04x-4%03x-8%03x-%012x", i, i&0xffff, i&0xfff, (i>>12)&0xfff, i*7919),
		Subject:       fmt.Sprintf("user-%014d", i),
		Scopes:        footprintScopes,
		Audience:      footprintAudience,
		UserAgent:     fmt.Sprintf("Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/%d.0.%d.%d Safari/537.36", 100+i%30, i%7000, i%200),
		IP:            fmt.Sprintf("10.%d.%d.%d", (i>>16)&0xff, (i>>8)&0xff, i&0xff),
		Name:          fmt.Sprintf("Pixel 8 Pro (%d)", i),
		CreatedAt:     created,
		LastUsedAt:    created,
		ExpiresAt:     created.Add(90 * 24 * time.Hour),
		IdleExpiresAt: created.Add(14 * 24 * time.Hour),
	}
	r := authkit.RefreshRecord{
		Hash:      footprintHash(0, i),
		SessionID: s.ID,
		Subject:   s.Subject,
		IssuedAt:  created,
		ExpiresAt: s.IdleExpiresAt,
	}
	return s, r
}

// footprintHash is the hash of the gen-th token of session i: distinct,
// and as random-looking as a SHA-256 in every byte a store might index on.
func footprintHash(gen, i int) authkit.TokenHash {
	var h authkit.TokenHash
	x := uint64(i)<<8 | uint64(gen)
	for j := range 4 {
		// splitmix64
		x += 0x9e3779b97f4a7c15
		z := x
		z = (z ^ z>>30) * 0xbf58476d1ce4e5b9
		z = (z ^ z>>27) * 0x94d049bb133111eb
		z ^= z >> 31
		for k := range 8 {
			h[j*8+k] = byte(z >> (8 * k))
		}
	}
	return h
}

// footprintSuccessorLen is the length of the sealed successor the issuer
// stores with a rotated token: a 12-byte nonce, a 55-byte refresh token and
// a 16-byte tag.
const footprintSuccessorLen = 12 + 55 + 16

func footprintSuccessor(i int) []byte {
	b := make([]byte, footprintSuccessorLen)
	for j := range b {
		b[j] = byte(i + j)
	}
	return b
}

// liveHeap returns the bytes of live heap objects after a full collection.
func liveHeap() uint64 {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}

// perEntry is the growth of the live heap from before to after, per entry.
func perEntry(before, after uint64, n int) float64 {
	return (float64(after) - float64(before)) / float64(n)
}

// mapBaseline is the plain data structure the store's footprint is judged
// against: the session's fields, copied as a store must copy them, in a
// map keyed by the token hash, and nothing else — no index by session or
// subject, no expiry order, no record of rotated tokens.
type mapBaseline map[authkit.TokenHash]*authkit.Session

func fillMap(n int) mapBaseline {
	m := mapBaseline{}
	for i := range n {
		s, r := footprintSession(i)
		c := s
		c.Scopes = slices.Clone(s.Scopes)
		c.Audience = slices.Clone(s.Audience)
		c.Claims = slices.Clone(s.Claims)
		m[r.Hash] = &c
	}
	return m
}

// keepRotated is the plain counterpart of rotating each of the n sessions
// of m once: a copy of each rotated token's record, with its sealed
// successor, in a map keyed by its hash.
func keepRotated(m mapBaseline, n int) map[authkit.TokenHash]*authkit.RefreshRecord {
	used := make(map[authkit.TokenHash]*authkit.RefreshRecord)
	for i := range n {
		h := footprintHash(0, i)
		s := m[h]
		now := footprintBase.Add(time.Hour + time.Duration(i)*time.Microsecond)
		used[h] = &authkit.RefreshRecord{
			Hash: h, SessionID: s.ID, Subject: s.Subject,
			IssuedAt: s.CreatedAt, ExpiresAt: s.IdleExpiresAt, UsedAt: now,
			Successor: footprintSuccessor(i),
		}
	}
	return used
}

func fillStore(tb testing.TB, n int) *memory.Store {
	s := memory.New()
	ctx := context.Background()
	for i := range n {
		sess, first := footprintSession(i)
		if err := s.CreateSession(ctx, sess, first); err != nil {
			tb.Fatalf("CreateSession #%d: %v", i, err)
		}
	}
	return s
}

// rotateAll rotates the current token of each of the n sessions once.
func rotateAll(tb testing.TB, s *memory.Store, n int) {
	ctx := context.Background()
	for i := range n {
		now := footprintBase.Add(time.Hour + time.Duration(i)*time.Microsecond)
		_, err := s.RotateRefresh(ctx, authkit.Rotation{
			Old:           footprintHash(0, i),
			Next:          footprintHash(1, i),
			NextExpiresAt: now.Add(14 * 24 * time.Hour),
			Successor:     footprintSuccessor(i),
			Now:           now,
		})
		if err != nil {
			tb.Fatalf("RotateRefresh #%d: %v", i, err)
		}
	}
}

// BenchmarkFootprint reports the live heap a session costs
// (B/session): on the memory store (store) and in the plain map of
// mapBaseline (map), both holding the same -memory.sessions sessions.
// store also reports what rotating every session once adds (B/refresh):
// the rotated token is kept until its expiry, to detect its reuse. map
// reports, for comparison, what keeping a rotated token as a plain
// authkit.RefreshRecord in a second map of the same kind would cost.
// Run it with -benchtime 1x: each iteration builds everything anew.
func BenchmarkFootprint(b *testing.B) {
	n := *footprintSessions
	b.Run("map", func(b *testing.B) {
		var perSession, perRefresh float64
		for b.Loop() {
			before := liveHeap()
			m := fillMap(n)
			mid := liveHeap()
			used := keepRotated(m, n)
			after := liveHeap()
			perSession += perEntry(before, mid, n)
			perRefresh += perEntry(mid, after, n)
			runtime.KeepAlive(m)
			runtime.KeepAlive(used)
		}
		b.ReportMetric(perSession/float64(b.N), "B/session")
		b.ReportMetric(perRefresh/float64(b.N), "B/refresh")
	})
	b.Run("store", func(b *testing.B) {
		var perSession, perRefresh float64
		for b.Loop() {
			before := liveHeap()
			s := fillStore(b, n)
			mid := liveHeap()
			rotateAll(b, s, n)
			after := liveHeap()
			perSession += perEntry(before, mid, n)
			perRefresh += perEntry(mid, after, n)
			runtime.KeepAlive(s)
		}
		b.ReportMetric(perSession/float64(b.N), "B/session")
		b.ReportMetric(perRefresh/float64(b.N), "B/refresh")
	})
}

// BenchmarkCleanup measures a cleanup that finds a share of the sessions
// expired, each with its one token: Store.Cleanup on the memory store
// (store), and a full scan that deletes the expired sessions from the
// plain map of mapBaseline (map-scan). The -memory.sessions sessions are
// built once, outside the timer, in groups of one share each that expire
// an hour apart (each session at its own microsecond, in random order);
// each operation collects the next group. ns/op is one cleanup of one
// share; ns/expired divides it by the sessions removed: a cleanup whose
// cost follows what expired keeps ns/expired flat whatever the share.
// Later operations run on a store already smaller by the groups collected
// before (at most a third of it at the default benchtime).
func BenchmarkCleanup(b *testing.B) {
	n := *footprintSessions
	hourOf := func(group int) time.Time { return footprintBase.Add(time.Duration(group+1) * time.Hour) }
	// Session i is in group i%groups and expires within a second after its
	// group's hour, at a microsecond drawn from its hash: every expiry
	// differs, and sessions expire in an order unrelated to the order they
	// were created in, as real ones do.
	session := func(i, groups int) (authkit.Session, authkit.RefreshRecord) {
		sess, first := footprintSession(i)
		jitter := binary.LittleEndian.Uint32(first.Hash[:]) % 1_000_000
		sess.IdleExpiresAt = hourOf(i % groups).Add(time.Duration(jitter) * time.Microsecond)
		first.ExpiresAt = sess.IdleExpiresAt
		return sess, first
	}
	for _, pct := range []int{1, 10, 100} {
		groups := 100 / pct
		size := func(g int) int { return (n - g + groups - 1) / groups } // sessions in group g
		b.Run(fmt.Sprintf("store/expired=%d%%", pct), func(b *testing.B) {
			build := func() *memory.Store {
				b.StopTimer()
				defer b.StartTimer()
				s := memory.New()
				for i := range n {
					sess, first := session(i, groups)
					if err := s.CreateSession(context.Background(), sess, first); err != nil {
						b.Fatalf("CreateSession #%d: %v", i, err)
					}
				}
				runtime.GC()
				return s
			}
			s := build()
			removed := 0
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				g := i % groups
				if g == 0 && i > 0 {
					s = build()
				}
				if got, want := s.Cleanup(hourOf(g).Add(30*time.Minute)), 2*size(g); got != want {
					b.Fatalf("Cleanup removed %d entries, want %d (%d sessions and their tokens)", got, want, want/2)
				}
				removed += size(g)
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(removed), "ns/expired")
		})
	}
	b.Run("map-scan/expired=1%", func(b *testing.B) {
		const groups = 100
		build := func() mapBaseline {
			b.StopTimer()
			defer b.StartTimer()
			m := mapBaseline{}
			for i := range n {
				sess, first := session(i, groups)
				m[first.Hash] = &sess
			}
			runtime.GC()
			return m
		}
		m := build()
		removed := 0
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			g := i % groups
			if g == 0 && i > 0 {
				m = build()
			}
			now := hourOf(g).Add(30 * time.Minute)
			dead := 0
			for h, s := range m {
				if !now.Before(s.IdleExpiresAt) || !now.Before(s.ExpiresAt) {
					delete(m, h)
					dead++
				}
			}
			if want := (n - g + groups - 1) / groups; dead != want {
				b.Fatalf("the scan removed %d sessions, want %d", dead, want)
			}
			removed += dead
		}
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(removed), "ns/expired")
	})
}

// TestFootprint holds the store to its footprint target: a session (with
// its current token) costs no more heap than the same session in the plain
// map of mapBaseline, and a rotated token kept for reuse detection no more
// than a plain copy of its record in a map. Heap accounting after a full
// collection counts bytes, not time, so the check does not depend on the
// machine's load; the margin between the store (about 0.8× the map) and
// the limit (1.0×) absorbs what little the runtime allocates meanwhile.
func TestFootprint(t *testing.T) {
	if testing.Short() {
		t.Skip("builds 50,000 sessions twice; skipped with -short")
	}
	const n = 50_000
	before := liveHeap()
	m := fillMap(n)
	mid := liveHeap()
	used := keepRotated(m, n)
	mapSession, mapRefresh := perEntry(before, mid, n), perEntry(mid, liveHeap(), n)
	runtime.KeepAlive(m)
	runtime.KeepAlive(used)
	m, used = nil, nil

	before = liveHeap()
	s := fillStore(t, n)
	mid = liveHeap()
	rotateAll(t, s, n)
	storeSession, storeRefresh := perEntry(before, mid, n), perEntry(mid, liveHeap(), n)
	runtime.KeepAlive(s)

	t.Logf("heap per session: store %.0f B, plain map %.0f B (%.2f×); per refresh: store %.0f B, plain map %.0f B (%.2f×)",
		storeSession, mapSession, storeSession/mapSession, storeRefresh, mapRefresh, storeRefresh/mapRefresh)
	if storeSession > mapSession {
		t.Errorf("a session costs the store %.0f heap bytes, more than the %.0f of a plain map holding the same fields", storeSession, mapSession)
	}
	if storeRefresh > mapRefresh {
		t.Errorf("a rotation adds %.0f heap bytes to the store until the rotated token expires, more than the %.0f of a plain map keeping its record", storeRefresh, mapRefresh)
	}
}
