package redisstore_test

import (
	"context"
	"crypto/sha256"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/authkit-go/authkit"
	"github.com/authkit-go/authkit/backends/memory"
	"github.com/authkit-go/authkit/backends/redisstore"
	"github.com/authkit-go/authkit/internal/testservers"
	"github.com/authkit-go/authkit/issuer"
	"github.com/authkit-go/authkit/keys"
)

// BenchmarkRotation sets a rotation beside the cheapest write the same
// server can take, in one run (issue 9: rotations/s should reach 0.8× the
// raw single write): SET is one SET of a new 256-byte value under a new
// key (what a rotation stores is of that order: the sealed successor, the
// record's times and the locator); Refresh is issuer.Refresh with an
// EdDSA key, the flow storetest.BenchFlows measures (rotate, then mint);
// RotateRefresh is the store's call alone. Each runs on standalone Redis,
// and on the cluster too when AUTHKIT_TEST_REDIS_CLUSTER_ADDRS names one.
// Compare ns/op within one run:
//
//	go test -run '^$' -bench Rotation -benchmem -count 6 ./backends/redisstore
//
// Paired does a SET, a Refresh, a RotateRefresh and a Refresh on the
// memory store in turn in each iteration, and reports each one's mean
// time and the two Redis calls' throughput as a fraction of SET's
// (…-x-SET): on a machine whose load drifts during a run, they see the
// same load, where separate benchmarks run at different times do not.
// The memory store's Refresh is what a Refresh costs beside its store
// call (sealing, hashing, minting the access token).
func BenchmarkRotation(b *testing.B) {
	b.Run("standalone", func(b *testing.B) {
		addr := testservers.Redis(b)
		admin := standalone(b, addr)
		benchRotation(b, func(b *testing.B) redis.UniversalClient { return standalone(b, addr) }, admin)
	})
	if os.Getenv(testservers.RedisClusterEnv) == "" {
		return
	}
	b.Run("cluster", func(b *testing.B) {
		addrs := testservers.RedisCluster(b)
		admin := cluster(b, addrs)
		benchRotation(b, func(b *testing.B) redis.UniversalClient { return cluster(b, addrs) }, admin)
	})
}

func benchRotation(b *testing.B, connect func(b *testing.B) redis.UniversalClient, admin redis.UniversalClient) {
	b.Run("SET", func(b *testing.B) {
		rdb := connect(b)
		prefix := testservers.RedisPrefix(b, admin)
		ctx := context.Background()
		value := strings.Repeat("v", 256)
		// Warm the connection, as the other two do in their setup.
		if err := rdb.Set(ctx, prefix+"warm", value, time.Hour).Err(); err != nil {
			b.Fatal(err)
		}
		key := []byte(prefix + "set:")
		n := len(key)
		b.ReportAllocs()
		b.ResetTimer()
		for i := 0; b.Loop(); i++ {
			key = strconv.AppendInt(key[:n], int64(i), 10)
			if err := rdb.Set(ctx, string(key), value, time.Hour).Err(); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("Refresh", func(b *testing.B) {
		s := newStore(b, connect(b), testservers.RedisPrefix(b, admin))
		iss := rotationIssuer(b, s)
		ctx := context.Background()
		pair, err := iss.IssuePair(ctx, "user-1234567890", issuer.WithScopes("read", "write"))
		if err != nil {
			b.Fatal(err)
		}
		b.ReportAllocs()
		b.ResetTimer()
		for b.Loop() {
			if pair, err = iss.Refresh(ctx, pair.RefreshToken); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("Paired", func(b *testing.B) {
		rdb := connect(b)
		prefix := testservers.RedisPrefix(b, admin)
		store := newStore(b, rdb, prefix)
		iss := rotationIssuer(b, store)
		inMemory := rotationIssuer(b, memory.New())
		ctx := context.Background()
		pair, err := iss.IssuePair(ctx, "user-1234567890", issuer.WithScopes("read", "write"))
		if err != nil {
			b.Fatal(err)
		}
		memPair, err := inMemory.IssuePair(ctx, "user-1234567890", issuer.WithScopes("read", "write"))
		if err != nil {
			b.Fatal(err)
		}
		next := rotationSession(b, store, prefix)
		value := strings.Repeat("v", 256)
		key := []byte(prefix + "set:")
		n := len(key)
		var inSet, inRefresh, inRotate, inMemRefresh time.Duration
		b.ReportAllocs()
		b.ResetTimer()
		for i := 0; b.Loop(); i++ {
			key = strconv.AppendInt(key[:n], int64(i), 10)
			t0 := time.Now()
			if err := rdb.Set(ctx, string(key), value, time.Hour).Err(); err != nil {
				b.Fatal(err)
			}
			t1 := time.Now()
			if pair, err = iss.Refresh(ctx, pair.RefreshToken); err != nil {
				b.Fatal(err)
			}
			t2 := time.Now()
			next(b)
			t3 := time.Now()
			if memPair, err = inMemory.Refresh(ctx, memPair.RefreshToken); err != nil {
				b.Fatal(err)
			}
			inSet += t1.Sub(t0)
			inRefresh += t2.Sub(t1)
			inRotate += t3.Sub(t2)
			inMemRefresh += time.Since(t3)
		}
		b.ReportMetric(float64(inSet.Nanoseconds())/float64(b.N), "SET-ns")
		b.ReportMetric(float64(inRefresh.Nanoseconds())/float64(b.N), "Refresh-ns")
		b.ReportMetric(float64(inRotate.Nanoseconds())/float64(b.N), "RotateRefresh-ns")
		b.ReportMetric(float64(inMemRefresh.Nanoseconds())/float64(b.N), "memory-Refresh-ns")
		b.ReportMetric(float64(inSet)/float64(inRefresh), "Refresh-x-SET")
		b.ReportMetric(float64(inSet)/float64(inRotate), "RotateRefresh-x-SET")
	})
	b.Run("RotateRefresh", func(b *testing.B) {
		s := newStore(b, connect(b), testservers.RedisPrefix(b, admin))
		next := rotationSession(b, s, "")
		b.ReportAllocs()
		b.ResetTimer()
		for b.Loop() {
			next(b)
		}
	})
}

// rotationSession stores a session in s and returns a function that
// rotates its current token (the store's call alone, as the issuer makes
// it: a 96-byte sealed successor, a 14-day idle expiry, the session
// named). Token hashes are
// derived from tag, so that two sessions in one store do not collide.
func rotationSession(b *testing.B, s *redisstore.Store, tag string) func(b *testing.B) {
	ctx := context.Background()
	now := time.Now()
	hash := func(i int) authkit.TokenHash {
		var buf [512]byte // on the stack: the benchmark's allocations are the store's
		return sha256.Sum256(strconv.AppendInt(append(append(buf[:0], tag...), "bench-rotation-token-"...), int64(i), 10))
	}
	sess := authkit.Session{ID: "bench-session-" + tag, Subject: "user-1234567890", Scopes: []string{"read", "write"},
		CreatedAt: now, LastUsedAt: now, ExpiresAt: now.Add(90 * 24 * time.Hour), IdleExpiresAt: now.Add(14 * 24 * time.Hour)}
	first := authkit.RefreshRecord{Hash: hash(0), SessionID: sess.ID, Subject: sess.Subject, IssuedAt: now, ExpiresAt: sess.IdleExpiresAt}
	if err := s.CreateSession(ctx, sess, first); err != nil {
		b.Fatal(err)
	}
	sealed := []byte(strings.Repeat("s", 96))
	i := 0
	return func(b *testing.B) {
		r := authkit.Rotation{Old: hash(i), Next: hash(i + 1), NextExpiresAt: now.Add(14 * 24 * time.Hour), Successor: sealed, Now: now, SessionID: sess.ID}
		if _, err := s.RotateRefresh(ctx, r); err != nil {
			b.Fatal(err)
		}
		i++
	}
}

// rotationIssuer returns an issuer over s with one fresh EdDSA key, as
// storetest.BenchFlows's Refresh flow has.
func rotationIssuer(b *testing.B, s authkit.Store) *issuer.Issuer {
	b.Helper()
	k, err := keys.Generate(keys.EdDSA)
	if err != nil {
		b.Fatal(err)
	}
	set, err := keys.NewSet(k)
	if err != nil {
		b.Fatal(err)
	}
	iss, err := issuer.New(authkit.WithKeys(set), authkit.WithStore(s))
	if err != nil {
		b.Fatal(err)
	}
	return iss
}
