package conformance

import (
	"encoding/binary"
	"fmt"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/authkit-go/authkit"
)

// Bench runs the store benchmarks every backend shares, so that their
// figures compare by name: IsRevoked/Hit, IsRevoked/Miss (all three
// identities looked up and none dead), IsRevoked/Parallel,
// LookupAPIToken, CreateSession, RotateRefresh/Serial and
// RotateRefresh/Parallel. newStore is called once per benchmark and
// returns an empty store, as Harness.New does. Each benchmark seeds a
// thousand entries of its kind first, outside the timed loop.
func Bench(b *testing.B, newStore func(b *testing.B) authkit.Store) {
	b.Run("IsRevoked/Hit", func(b *testing.B) {
		s := newStore(b)
		seedRevocations(b, s)
		q := query("bench-jti-500", "", "bench-subject", base)
		b.ReportAllocs()
		for b.Loop() {
			if dead, err := s.IsRevoked(b.Context(), q, at(minute)); err != nil || !dead {
				b.Fatalf("IsRevoked of a revoked jti = %v, %v", dead, err)
			}
		}
	})
	b.Run("IsRevoked/Miss", func(b *testing.B) {
		s := newStore(b)
		seedRevocations(b, s)
		q := missQuery()
		b.ReportAllocs()
		for b.Loop() {
			if dead, err := s.IsRevoked(b.Context(), q, at(minute)); err != nil || dead {
				b.Fatalf("IsRevoked of a live token = %v, %v", dead, err)
			}
		}
	})
	b.Run("IsRevoked/Parallel", func(b *testing.B) {
		s := newStore(b)
		seedRevocations(b, s)
		q := missQuery()
		b.ReportAllocs()
		b.ResetTimer()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if dead, err := s.IsRevoked(b.Context(), q, at(minute)); err != nil || dead {
					b.Errorf("IsRevoked of a live token = %v, %v", dead, err)
					return
				}
			}
		})
	})
	b.Run("LookupAPIToken", func(b *testing.B) {
		s := newStore(b)
		for i := range 1000 {
			tok := newToken("bench-"+strconv.Itoa(i), fmt.Sprintf("bench-subject-%d", i%10), base)
			if err := s.CreateAPIToken(b.Context(), tok, 0, base); err != nil {
				b.Fatalf("CreateAPIToken: %v", err)
			}
		}
		h := hashOf("tok-bench-500")
		b.ReportAllocs()
		for b.Loop() {
			if _, err := s.LookupAPIToken(b.Context(), h); err != nil {
				b.Fatalf("LookupAPIToken: %v", err)
			}
		}
	})
	b.Run("CreateSession", func(b *testing.B) {
		s := newStore(b)
		sess, first := newSession("", "bench-subject", base, "")
		i := 0
		b.ReportAllocs()
		for b.Loop() {
			i++
			sess.ID = "bench-sess-" + strconv.Itoa(i)
			first.SessionID, first.Hash = sess.ID, benchHash(0, i)
			if err := s.CreateSession(b.Context(), sess, first); err != nil {
				b.Fatalf("CreateSession: %v", err)
			}
		}
	})
	b.Run("RotateRefresh/Serial", func(b *testing.B) {
		s := newStore(b)
		rot, err := newChain(b, s, 0)
		if err != nil {
			b.Fatal(err)
		}
		b.ReportAllocs()
		for b.Loop() {
			if err := rot(); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("RotateRefresh/Parallel", func(b *testing.B) {
		s := newStore(b)
		var g atomic.Uint64
		b.ReportAllocs()
		b.ResetTimer()
		b.RunParallel(func(pb *testing.PB) {
			rot, err := newChain(b, s, g.Add(1))
			if err != nil {
				b.Error(err)
				return
			}
			for pb.Next() {
				if err := rot(); err != nil {
					b.Error(err)
					return
				}
			}
		})
	})
}

// seedRevocations writes a thousand entries of each kind.
func seedRevocations(b *testing.B, s authkit.RevocationStore) {
	b.Helper()
	for i := range 1000 {
		n := strconv.Itoa(i)
		if err := s.RevokeToken(b.Context(), "bench-subject", "bench-jti-"+n, at(hour)); err != nil {
			b.Fatalf("RevokeToken: %v", err)
		}
		if err := s.RevokeSessionTokens(b.Context(), "bench-subject", "bench-sid-"+n, at(hour)); err != nil {
			b.Fatalf("RevokeSessionTokens: %v", err)
		}
		if err := s.SetCutoff(b.Context(), "bench-subject-"+n, base, at(hour)); err != nil {
			b.Fatalf("SetCutoff: %v", err)
		}
	}
}

// missQuery is a token whose jti and sid are not revoked and whose subject
// has a cutoff it was issued after: every lookup happens, none matches.
func missQuery() authkit.RevocationQuery {
	return query("bench-jti-live", "bench-sid-live", "bench-subject-500", at(time.Second))
}

// benchHash is a distinct hash per (goroutine, step) without hashing.
func benchHash(g uint64, i int) authkit.TokenHash {
	var h authkit.TokenHash
	binary.BigEndian.PutUint64(h[0:8], g)
	binary.BigEndian.PutUint64(h[8:16], uint64(i))
	h[31] = 0xbe
	return h
}

// newChain creates a session for goroutine g and returns a function that
// rotates its current token once per call. It may run on a RunParallel
// goroutine, so it reports errors instead of calling b.Fatal.
func newChain(b *testing.B, s authkit.RefreshStore, g uint64) (func() error, error) {
	sess, first := newSession("bench-chain-"+strconv.FormatUint(g, 10), "bench-subject", base, "")
	first.Hash = benchHash(g, 0)
	if err := s.CreateSession(b.Context(), sess, first); err != nil {
		return nil, fmt.Errorf("CreateSession: %w", err)
	}
	i := 0
	successor := []byte("sealed successor, about as long as the real one: 0123456789abcdef")
	return func() error {
		now := base.Add(time.Duration(i+1) * time.Microsecond)
		_, err := s.RotateRefresh(b.Context(), authkit.Rotation{
			Old:           benchHash(g, i),
			Next:          benchHash(g, i+1),
			NextExpiresAt: now.Add(hour),
			Successor:     successor,
			Now:           now,
		})
		i++
		if err != nil {
			return fmt.Errorf("RotateRefresh #%d: %w", i, err)
		}
		return nil
	}, nil
}
