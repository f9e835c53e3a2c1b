package redisstore_test

import (
	"context"
	"testing"

	"github.com/redis/go-redis/v9"

	"github.com/authkit-go/authkit/backends/redisstore"
	"github.com/authkit-go/authkit/internal/testservers"
)

// The conformance harnesses' Stalled stores: a store whose Redis stops
// answering after its connections are open, as in a partition or a hung
// server. The clients keep go-redis's default timeouts (seconds), so that
// only the call's ctx can end a call in time: what the store's
// authkit.DeadlineStore claim promises.

// stalledStandalone returns a Store over a client of addr that goes
// through a proxy, stalled once a command has gone through.
func stalledStandalone(t *testing.T, admin redis.UniversalClient, addr string) *redisstore.Store {
	t.Helper()
	px := testservers.NewProxy(t, addr)
	s := newStore(t, standalone(t, px.Addr()), testservers.RedisPrefix(t, admin))
	if err := s.Ping(t.Context()); err != nil {
		t.Fatalf("Ping through the proxy before the stall: %v", err)
	}
	px.Stall()
	return s
}

// stalledCluster returns a Store over a cluster client whose connection
// to every node goes through a proxy of that node, all stalled once each
// node has answered.
func stalledCluster(t *testing.T, admin redis.UniversalClient, seeds []string) *redisstore.Store {
	t.Helper()
	c, proxies := proxiedCluster(t, seeds)
	s := newStore(t, c, testservers.RedisPrefix(t, admin))
	if err := c.ForEachShard(t.Context(), func(ctx context.Context, n *redis.Client) error {
		return n.Ping(ctx).Err()
	}); err != nil {
		t.Fatalf("pinging every node through the proxies before the stall: %v", err)
	}
	for _, px := range proxies {
		px.Stall()
	}
	return s
}
