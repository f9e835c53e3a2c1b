package redisstore_test

import (
	"context"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/authkit-go/authkit/backends/redisstore"
	"github.com/authkit-go/authkit/internal/testservers"
)

// standalone returns a client of the standalone server at addr, closed
// when t ends.
func standalone(t testing.TB, addr string) *redis.Client {
	t.Helper()
	c := redis.NewClient(&redis.Options{Addr: addr, ContextTimeoutEnabled: true})
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// cluster returns a client of the cluster whose seeds are addrs, closed
// when t ends.
func cluster(t testing.TB, addrs []string) *redis.ClusterClient {
	t.Helper()
	c := redis.NewClusterClient(&redis.ClusterOptions{Addrs: addrs, ContextTimeoutEnabled: true})
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// newStore returns a Store over rdb with prefix.
func newStore(t testing.TB, rdb redis.UniversalClient, prefix string, opts ...redisstore.Option) *redisstore.Store {
	t.Helper()
	s, err := redisstore.New(rdb, append([]redisstore.Option{redisstore.WithPrefix(prefix)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// closedPort returns a loopback address nothing listens on.
func closedPort(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return addr
}

// unreachable returns a Store whose client points at a closed port and
// gives up fast.
func unreachable(t testing.TB) *redisstore.Store {
	t.Helper()
	c := redis.NewClient(&redis.Options{
		Addr:                  closedPort(t),
		DialTimeout:           200 * time.Millisecond,
		ReadTimeout:           200 * time.Millisecond,
		WriteTimeout:          200 * time.Millisecond,
		MaxRetries:            -1,
		ContextTimeoutEnabled: true,
	})
	t.Cleanup(func() { _ = c.Close() })
	return newStore(t, c, "unreachable:")
}

// wipePrefix deletes every key under prefix on c's server, as a Redis
// that restarted without persistence would have lost them, and returns how
// many it deleted (testservers.DeleteRedisPrefix, failing t on an error).
func wipePrefix(t testing.TB, c redis.UniversalClient, prefix string) int {
	t.Helper()
	n, err := testservers.DeleteRedisPrefix(t.Context(), c, prefix)
	if err != nil {
		t.Fatalf("deleting the keys under %q: %v", prefix, err)
	}
	return n
}

// loseData deletes every key under prefix that rdb reaches: on a cluster,
// on every master, each of which must have held some (every shard holds
// data-loss markers, so every shard loses data). It is the conformance
// harness's LoseData.
func loseData(t testing.TB, rdb redis.UniversalClient, prefix string) {
	t.Helper()
	cc, ok := rdb.(*redis.ClusterClient)
	if !ok {
		if wipePrefix(t, rdb, prefix) == 0 {
			t.Fatalf("LoseData: no keys under %q to lose", prefix)
		}
		return
	}
	var mu sync.Mutex
	counts := map[string]int{}
	err := cc.ForEachMaster(t.Context(), func(_ context.Context, c *redis.Client) error {
		n := wipePrefix(t, c, prefix)
		mu.Lock()
		counts[c.Options().Addr] = n
		mu.Unlock()
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for addr, n := range counts {
		if n == 0 {
			t.Fatalf("LoseData: the master at %s held no key under %q, so its loss is not checked (counts %v)", addr, prefix, counts)
		}
	}
	if len(counts) < 3 {
		t.Fatalf("LoseData: %d masters, want the test cluster's 3 (%v)", len(counts), counts)
	}
}
