package redisstore_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/redis/go-redis/v9"

	"github.com/authkit-go/authkit"
	"github.com/authkit-go/authkit/backends/redisstore"
	"github.com/authkit-go/authkit/internal/testservers"
)

// TestNewRefusesReplicaReads checks that a store never reads from a
// replica, which may not yet hold a revocation its primary acknowledged:
// New refuses a cluster client that routes reads to replicas, OpenURL the
// URL parameters that ask for it, and a cluster client that reads from
// primaries is accepted.
func TestNewRefusesReplicaReads(t *testing.T) {
	addrs := testservers.RedisCluster(t)
	for name, o := range map[string]redis.ClusterOptions{
		"ReadOnly":       {ReadOnly: true},
		"RouteByLatency": {RouteByLatency: true},
		"RouteRandomly":  {RouteRandomly: true},
	} {
		o.Addrs, o.ContextTimeoutEnabled = addrs, true
		c := redis.NewClusterClient(&o)
		t.Cleanup(func() { _ = c.Close() })
		s, err := redisstore.New(c)
		if !errors.Is(err, authkit.ErrInvalidConfig) || s != nil || !strings.Contains(err.Error(), "replicas") {
			t.Errorf("New(cluster client with %s) = %v, %v; want ErrInvalidConfig about replicas", name, s, err)
		}
	}
	ctx := context.Background()
	for _, u := range []string{
		"redis+cluster://" + addrs[0] + "?read_only=true",
		"redis+cluster://" + addrs[0] + "?route_by_latency=true",
		"redis+cluster://" + addrs[0] + "?route_randomly=true",
		"redis+sentinel://127.0.0.1:1?master_name=m&replica_only=true",
		"redis+sentinel://127.0.0.1:1?master_name=m&route_by_latency=true",
		"redis+sentinel://127.0.0.1:1?master_name=m&route_randomly=true",
	} {
		s, err := redisstore.OpenURL(ctx, u)
		if !errors.Is(err, authkit.ErrInvalidConfig) || s != nil || !strings.Contains(err.Error(), "replicas") {
			if s != nil {
				_ = s.Close()
			}
			t.Errorf("OpenURL(%s) = %v, %v; want ErrInvalidConfig about replicas", u, s, err)
		}
	}
	c := redis.NewClusterClient(&redis.ClusterOptions{Addrs: addrs, ContextTimeoutEnabled: true})
	t.Cleanup(func() { _ = c.Close() })
	if _, err := redisstore.New(c, redisstore.WithPrefix("primaryreads:")); err != nil {
		t.Fatalf("New(cluster client reading from primaries) = %v", err)
	}
}
