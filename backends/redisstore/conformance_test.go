package redisstore_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/authkit-go/authkit"
	"github.com/authkit-go/authkit/backends/redisstore"
	"github.com/authkit-go/authkit/conformance"
	"github.com/authkit-go/authkit/internal/testservers"
)

// harness runs the suite with a fresh prefix per store on the server that
// connect reaches: Peer is a second client, Reopen closes the client and
// opens another, Unavailable is a client of a closed port, LoseData
// deletes every key of the prefix. The tests add Stalled (stalled_test.go).
func harness(admin redis.UniversalClient, connect func(t testing.TB) redis.UniversalClient) conformance.Harness {
	return conformance.Harness{
		New: func(t *testing.T) authkit.Store {
			return newStore(t, connect(t), testservers.RedisPrefix(t, admin))
		},
		Peer: func(t *testing.T, s authkit.Store) authkit.Store {
			return newStore(t, connect(t), s.(*redisstore.Store).Prefix())
		},
		Reopen: func(t *testing.T, s authkit.Store) authkit.Store {
			old := s.(*redisstore.Store)
			if err := old.Client().Close(); err != nil {
				t.Fatal(err)
			}
			return newStore(t, connect(t), old.Prefix())
		},
		Unavailable: func(t *testing.T) authkit.Store { return unreachable(t) },
		// Throttle keys carry a native expiry: DeleteExpiredThrottles
		// has nothing to do.
		ThrottlesExpireThemselves: true,
		// Every key of the store's prefix, on every master of a cluster:
		// a restart without persistence of each node.
		LoseData: func(t *testing.T, s authkit.Store) { loseData(t, admin, s.(*redisstore.Store).Prefix()) },
		TrimFeed: func(t *testing.T, s authkit.Store) {
			trimFeed(t, newStore(t, connect(t), s.(*redisstore.Store).Prefix(), redisstore.WithFeedLength(16)))
		},
	}
}

// trimFeed is a Harness.TrimFeed: through short, a handle on the store's
// data whose feed logs keep 16 changes each, it writes revocations of
// enough subjects that every one of the 16 logs trims all it held (the
// subjects are fixed, so their buckets are too: each gets at least 17).
func trimFeed(t *testing.T, short *redisstore.Store) {
	t.Helper()
	until := time.Now().Add(time.Hour)
	for i := range 800 {
		if err := short.RevokeToken(t.Context(), fmt.Sprint("trim-", i), "jti", until); err != nil {
			t.Fatalf("TrimFeed: %v", err)
		}
	}
}

func TestConformanceStandalone(t *testing.T) {
	t.Parallel()
	addr := testservers.Redis(t)
	admin := standalone(t, addr)
	h := harness(admin, func(t testing.TB) redis.UniversalClient { return standalone(t, addr) })
	h.Stalled = func(t *testing.T) authkit.Store { return stalledStandalone(t, admin, addr) }
	h.Severable = severableStandalone(addr)
	conformance.Run(t, h)
}

func TestConformanceCluster(t *testing.T) {
	t.Parallel()
	addrs := testservers.RedisCluster(t)
	admin := cluster(t, addrs)
	h := harness(admin, func(t testing.TB) redis.UniversalClient { return cluster(t, addrs) })
	h.Stalled = func(t *testing.T) authkit.Store { return stalledCluster(t, admin, addrs) }
	h.Severable = severableCluster(addrs)
	conformance.Run(t, h)
}
