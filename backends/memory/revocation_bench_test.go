package memory_test

import (
	"context"
	"fmt"
	"runtime"
	"strconv"
	"testing"
	"time"

	"github.com/authkit-go/authkit"
	"github.com/authkit-go/authkit/backends/memory"
)

// revokeKeys is how many distinct jtis BenchmarkRevokeToken cycles
// through; a key comes round again long after its entry has expired and
// been swept, so every RevokeToken adds a new entry.
const revokeKeys = 1 << 16

// revokeInForce is about how many revocations BenchmarkRevokeToken keeps
// in force: each expires revokeInForce operations after it was written.
const revokeInForce = 4096

// revokeStep is how far the store's time moves per operation of
// BenchmarkRevokeToken. The store notes the time it is given to the
// second, so a second is a thousand operations: the sweep lags that much.
const revokeStep = time.Millisecond

// revokeWarm is how many revocations BenchmarkRevokeToken/warm makes
// before its timer starts: more than the feed log of a memory Store holds
// by default (memory.DefaultFeedLogLimit and a block), so that the log is
// at its steady size and the timed writes reuse its blocks, as they do in
// a store that has run for longer than the log's retention.
const revokeWarm = 1<<18 + 1024

// BenchmarkRevokeToken measures RevokeToken in a steady state: every call
// revokes a jti not held, while the sweep removes one that has expired, so
// the store keeps between revokeInForce and revokeInForce plus a
// second's worth (1,000) of entries. The jti strings are made
// before the timer starts, as a caller hands over strings it already has.
// fresh starts timing on a new store; warm after revokeWarm revocations.
// B/op in fresh includes the memory the store keeps as it grows, and
// depends on b.N: compare runs with the same -benchtime Nx.
func BenchmarkRevokeToken(b *testing.B) {
	for _, c := range []struct {
		name string
		warm int
	}{{"fresh", 0}, {"warm", revokeWarm}} {
		b.Run(c.name, func(b *testing.B) {
			s := memory.New()
			ctx := context.Background()
			jtis := make([]string, revokeKeys)
			for i := range jtis {
				jtis[i] = "bench-jti-" + strconv.Itoa(i)
			}
			miss := authkit.RevocationQuery{TokenID: "live", Subject: "bench-subject"}
			i := 0
			revoke := func() {
				if err := s.RevokeToken(ctx, "bench-subject", jtis[i%revokeKeys], base.Add(time.Duration(i+revokeInForce)*revokeStep)); err != nil {
					b.Fatalf("RevokeToken: %v", err)
				}
				if i%64 == 0 {
					// Move the store's time on, as the verifier's
					// IsRevoked calls do, so that the writes' sweep
					// finds expired entries.
					if _, err := s.IsRevoked(ctx, miss, base.Add(time.Duration(i)*revokeStep)); err != nil {
						b.Fatalf("IsRevoked: %v", err)
					}
				}
				i++
			}
			for range c.warm {
				revoke()
			}
			b.ReportAllocs()
			for b.Loop() {
				revoke()
			}
		})
	}
}

// BenchmarkRevocationFootprint reports the live heap one revoked access
// token costs the store until its expiry (B/revocation): a 36-byte jti of
// a 19-byte subject, each its own allocation, as a verifier's decoded
// claims are. Run it with -benchtime 1x: each iteration builds a store
// anew.
func BenchmarkRevocationFootprint(b *testing.B) {
	const n = 100_000
	ctx := context.Background()
	var per float64
	for b.Loop() {
		jtis, subjects := make([]string, n), make([]string, n)
		before := liveHeap()
		// The strings are counted: the store keeps them.
		for i := range n {
			jtis[i] = footprintJTI(i)
			subjects[i] = footprintSubject(i)
		}
		s := memory.New()
		for i := range n {
			if err := s.RevokeToken(ctx, subjects[i], jtis[i], base.Add(time.Hour)); err != nil {
				b.Fatalf("RevokeToken #%d: %v", i, err)
			}
		}
		after := liveHeap()
		per += perEntry(before, after, n)
		runtime.KeepAlive(s)
		runtime.KeepAlive(jtis)
		runtime.KeepAlive(subjects)
	}
	b.ReportMetric(per/float64(b.N), "B/revocation")
}

// footprintJTI is a 36-byte UUID-shaped jti, distinct for each i.
func footprintJTI(i int) string {
	return fmt.Sprintf("%08x-%04x-4%03x-a%03x-%012x", i*31, i&0xffff, i&0xfff, (i>>12)&0xfff, i*104729)
}

// footprintSubject is a 19-byte subject, distinct for each i.
func footprintSubject(i int) string {
	return fmt.Sprintf("user-%014d", i)
}
