package redisstore_test

import (
	"context"
	"errors"
	"net"
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

// TestNewRefusesReplica checks that a *redis.Client connected to a
// replica — a replica's address, or a Sentinel client with ReplicaOnly —
// is refused by New and OpenURL: the replica could say "not revoked" for a
// revocation its primary has not sent it yet. With the link to the
// primary cut, it never would.
func TestNewRefusesReplica(t *testing.T) {
	primary := testservers.PrivateRedis(t, "--save", "", "--appendonly", "no", "--repl-diskless-sync-delay", "0")
	host, port, err := net.SplitHostPort(primary)
	if err != nil {
		t.Fatal(err)
	}
	replica := testservers.PrivateRedis(t, "--save", "", "--appendonly", "no", "--replicaof", host, port)
	waitReplicaUp(t, standalone(t, primary), standalone(t, replica))
	s, err := redisstore.New(standalone(t, replica), redisstore.WithPrefix("replica:"))
	if !errors.Is(err, authkit.ErrInvalidConfig) || s != nil || !strings.Contains(err.Error(), "replica") {
		t.Errorf("New(client of a replica) = %v, %v; want ErrInvalidConfig naming the replica", s, err)
	}
	s, err = redisstore.OpenURL(t.Context(), "redis://"+replica+"?key_prefix=replica:")
	if !errors.Is(err, authkit.ErrInvalidConfig) || s != nil || !strings.Contains(err.Error(), "replica") {
		if s != nil {
			_ = s.Close()
		}
		t.Errorf("OpenURL(redis://replica) = %v, %v; want ErrInvalidConfig naming the replica", s, err)
	}
	// A replica that accepts writes (replica-read-only no) is refused by
	// its ROLE alone.
	rep := standalone(t, replica)
	if err := rep.ConfigSet(t.Context(), "replica-read-only", "no").Err(); err != nil {
		t.Fatal(err)
	}
	if s, err := redisstore.New(rep, redisstore.WithPrefix("replica:")); !errors.Is(err, authkit.ErrInvalidConfig) || s != nil {
		t.Errorf("New(client of a writable replica) = %v, %v; want ErrInvalidConfig", s, err)
	}
	// As the user docs/backends/redis.md's ACL line makes, which may not
	// run ROLE: INFO says the role (found by review: the refused ROLE read
	// as "not a replica", and the writable replica took revocations).
	if err := rep.Do(t.Context(), "ACL", "SETUSER", "authkit", "on", ">pw", "+@read", "+@write", "+@scripting", "+@connection", "+info", "+config|get", "~replica:*").Err(); err != nil {
		t.Fatal(err)
	}
	acl := redis.NewClient(&redis.Options{Addr: replica, Username: "authkit", Password: "pw", ContextTimeoutEnabled: true})
	t.Cleanup(func() { _ = acl.Close() })
	if err := acl.Do(t.Context(), "ROLE").Err(); err == nil || !strings.Contains(err.Error(), "NOPERM") {
		t.Fatalf("ROLE as the documented ACL's user: %v, want NOPERM (the case this checks)", err)
	}
	if s, err := redisstore.New(acl, redisstore.WithPrefix("replica:")); !errors.Is(err, authkit.ErrInvalidConfig) || s != nil || !strings.Contains(err.Error(), "replica") {
		t.Errorf("New(client of a writable replica, as a user that may not run ROLE) = %v, %v; want ErrInvalidConfig naming the replica", s, err)
	}
	if _, err := redisstore.New(standalone(t, primary), redisstore.WithPrefix("replica:")); err != nil {
		t.Fatalf("New(client of the primary) = %v", err)
	}
}
