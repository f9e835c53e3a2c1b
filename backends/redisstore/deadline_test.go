package redisstore_test

import (
	"os"
	"testing"

	"github.com/redis/go-redis/v9"

	"github.com/authkit-go/authkit"
	"github.com/authkit-go/authkit/backends/redisstore"
	"github.com/authkit-go/authkit/internal/storetest"
	"github.com/authkit-go/authkit/internal/testservers"
)

// TestHonorsDeadlines checks when the issuer and the verifier call the
// store on the request's goroutine (authkit.DeadlineStore): only with a
// go-redis client type the store knows and ContextTimeoutEnabled. That the
// calls then really end at the deadline through a stalled network is
// TestFaults' part (its issuer and verifier run under a 250 ms store
// timeout while the proxy swallows everything).
func TestHonorsDeadlines(t *testing.T) {
	addr := testservers.Redis(t)
	var ds authkit.DeadlineStore = newStore(t, standalone(t, addr), "deadline:")
	if !ds.HonorsDeadlines() {
		t.Error("a *redis.Client with ContextTimeoutEnabled: HonorsDeadlines = false")
	}
	plain := redis.NewClient(&redis.Options{Addr: addr})
	t.Cleanup(func() { _ = plain.Close() })
	if newStore(t, plain, "deadline:", redisstore.WithoutDeadlineCheck()).HonorsDeadlines() {
		t.Error("a client without ContextTimeoutEnabled (WithoutDeadlineCheck): HonorsDeadlines = true")
	}
	// A client type go-redis does not name (a wrapper): New trusts it, the
	// direct call does not.
	if newStore(t, wrappedClient{standalone(t, addr)}, "deadline:").HonorsDeadlines() {
		t.Error("a wrapped client: HonorsDeadlines = true")
	}
	if os.Getenv(testservers.RedisClusterEnv) != "" {
		if !newStore(t, cluster(t, testservers.RedisCluster(t)), "deadline:").HonorsDeadlines() {
			t.Error("a *redis.ClusterClient with ContextTimeoutEnabled: HonorsDeadlines = false")
		}
	}
}

// wrappedClient is a redis.UniversalClient of a type of its own.
type wrappedClient struct{ *redis.Client }

// BenchmarkDeadlinePath compares, over a standalone Redis, the store
// called on the request's goroutine (the default) with the goroutine of
// its own it had before (storetest.BenchDeadlinePath).
func BenchmarkDeadlinePath(b *testing.B) {
	rdb := standalone(b, testservers.Redis(b))
	storetest.BenchDeadlinePath(b, newStore(b, rdb, testservers.RedisPrefix(b, rdb)))
}
