package redisstore_test

import (
	"context"
	"errors"
	"net"
	"strings"
	"testing"
	"time"

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
	// A read-only user (+@read +@connection), as a verifier's might be,
	// may run neither ROLE nor INFO nor the marker script: HELLO says the
	// role (found by review: New and OpenURL accepted the replica, and a
	// verifier on it accepted tokens its primary had revoked).
	if err := rep.ConfigSet(t.Context(), "replica-read-only", "yes").Err(); err != nil {
		t.Fatal(err)
	}
	for _, c := range []redis.UniversalClient{rep, standalone(t, primary)} {
		if err := c.Do(t.Context(), "ACL", "SETUSER", "reader", "on", ">pw", "+@read", "+@connection", "~replica:*").Err(); err != nil {
			t.Fatal(err)
		}
	}
	reader := redis.NewClient(&redis.Options{Addr: replica, Username: "reader", Password: "pw", ContextTimeoutEnabled: true})
	t.Cleanup(func() { _ = reader.Close() })
	for _, cmd := range []string{"ROLE", "INFO"} {
		if err := reader.Do(t.Context(), cmd).Err(); err == nil || !strings.Contains(err.Error(), "NOPERM") {
			t.Fatalf("%s as the read-only user: %v, want NOPERM (the case this checks)", cmd, err)
		}
	}
	if s, err := redisstore.New(reader, redisstore.WithPrefix("replica:")); !errors.Is(err, authkit.ErrInvalidConfig) || s != nil || !strings.Contains(err.Error(), "replica") {
		t.Errorf("New(client of a replica, as a read-only user) = %v, %v; want ErrInvalidConfig naming the replica", s, err)
	}
	s, err = redisstore.OpenURL(t.Context(), "redis://reader:pw@"+replica+"?key_prefix=replica:")
	if !errors.Is(err, authkit.ErrInvalidConfig) || s != nil || !strings.Contains(err.Error(), "replica") {
		if s != nil {
			_ = s.Close()
		}
		t.Errorf("OpenURL(a replica, as a read-only user) = %v, %v; want ErrInvalidConfig naming the replica", s, err)
	}
	// The same user on the primary cannot write: refused too, for that.
	onPrimary := redis.NewClient(&redis.Options{Addr: primary, Username: "reader", Password: "pw", ContextTimeoutEnabled: true})
	t.Cleanup(func() { _ = onPrimary.Close() })
	if s, err := redisstore.New(onPrimary, redisstore.WithPrefix("replica:")); !errors.Is(err, authkit.ErrInvalidConfig) || s != nil || !strings.Contains(err.Error(), "ACL refused") {
		t.Errorf("New(client of the primary, as a read-only user) = %v, %v; want ErrInvalidConfig naming the ACL", s, err)
	}
	if _, err := redisstore.New(standalone(t, primary), redisstore.WithPrefix("replica:")); err != nil {
		t.Fatalf("New(client of the primary) = %v", err)
	}
}

// TestNewRefusesUnusableRedis checks that New and OpenURL refuse
// (ErrInvalidConfig) a Redis that answers but will never take the store's
// writes, instead of starting and failing every login: an ACL whose key
// patterns miss the store's prefix, and a server where EVAL was renamed
// away (found by review: both opened, and serve's /healthz said ok).
func TestNewRefusesUnusableRedis(t *testing.T) {
	t.Parallel()
	addr := testservers.PrivateRedis(t, "--save", "", "--appendonly", "no")
	admin := standalone(t, addr)
	if err := admin.Do(t.Context(), "ACL", "SETUSER", "elsewhere", "on", ">pw", "+@all", "~other:*").Err(); err != nil {
		t.Fatal(err)
	}
	c := redis.NewClient(&redis.Options{Addr: addr, Username: "elsewhere", Password: "pw", ContextTimeoutEnabled: true})
	t.Cleanup(func() { _ = c.Close() })
	if s, err := redisstore.New(c, redisstore.WithPrefix("mine:")); !errors.Is(err, authkit.ErrInvalidConfig) || s != nil || !strings.Contains(err.Error(), "ACL refused") || !strings.Contains(err.Error(), "mine:*") {
		t.Errorf("New(a user whose keys are other:*, prefix mine:) = %v, %v; want ErrInvalidConfig naming the ACL and the prefix", s, err)
	}
	if _, err := redisstore.New(c, redisstore.WithPrefix("other:")); err != nil {
		t.Errorf("New(the same user, prefix other:) = %v", err)
	}

	renamed := testservers.PrivateRedis(t, "--save", "", "--appendonly", "no", "--rename-command", "EVAL", "")
	s, err := redisstore.OpenURL(t.Context(), "redis://"+renamed+"?key_prefix=renamed:")
	if !errors.Is(err, authkit.ErrInvalidConfig) || s != nil || !strings.Contains(err.Error(), "unknown to the server") {
		if s != nil {
			_ = s.Close()
		}
		t.Errorf("OpenURL(a server without EVAL) = %v, %v; want ErrInvalidConfig naming the unknown command", s, err)
	}
}

// TestNewRefusesNoAttempts checks that a client whose MaxRetries (or a
// cluster client's MaxRedirects) is below -1 is refused: go-redis then
// sends no command and reports success (found by review: with
// max_retries=-2 every revocation returned nil and wrote nothing). -1
// (no retries) is accepted.
func TestNewRefusesNoAttempts(t *testing.T) {
	t.Parallel()
	addr := testservers.Redis(t)
	ctx := t.Context()
	for _, u := range []string{
		"redis://" + addr + "?max_retries=-2",
		"redis://" + addr + "?max_retries=-100",
	} {
		s, err := redisstore.OpenURL(ctx, u+"&key_prefix=attempts:")
		if !errors.Is(err, authkit.ErrInvalidConfig) || s != nil || !strings.Contains(err.Error(), "MaxRetries") {
			if s != nil {
				_ = s.Close()
			}
			t.Errorf("OpenURL(%s) = %v, %v; want ErrInvalidConfig naming MaxRetries", u, s, err)
		}
	}
	s, err := redisstore.OpenURL(ctx, "redis://"+addr+"?max_retries=-1&key_prefix="+testservers.RedisPrefix(t, standalone(t, addr)))
	if err != nil {
		t.Fatalf("OpenURL(max_retries=-1) = %v", err)
	}
	t.Cleanup(func() { _ = s.Close() })
	// The store it opened writes: a revocation reaches Redis.
	if err := s.RevokeToken(ctx, "alice", "jti-attempts", time.Now().Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if revoked, err := s.IsRevoked(ctx, authkit.RevocationQuery{TokenID: "jti-attempts", Subject: "alice", IssuedAt: time.Now()}, time.Now()); err != nil || !revoked {
		t.Errorf("IsRevoked after RevokeToken with max_retries=-1 = %v, %v; want revoked", revoked, err)
	}
	ring := redis.NewRing(&redis.RingOptions{Addrs: map[string]string{"a": addr}, MaxRetries: -2, ContextTimeoutEnabled: true})
	t.Cleanup(func() { _ = ring.Close() })
	if s, err := redisstore.New(ring, redisstore.WithStaticRing()); !errors.Is(err, authkit.ErrInvalidConfig) || s != nil {
		t.Errorf("New(a ring with MaxRetries -2) = %v, %v; want ErrInvalidConfig", s, err)
	}
	addrs := testservers.RedisCluster(t)
	for _, q := range []string{"max_redirects=-2", "max_retries=-2"} {
		s, err := redisstore.OpenURL(ctx, "redis+cluster://"+addrs[0]+"?"+q)
		if !errors.Is(err, authkit.ErrInvalidConfig) || s != nil {
			if s != nil {
				_ = s.Close()
			}
			t.Errorf("OpenURL(redis+cluster://…?%s) = %v, %v; want ErrInvalidConfig", q, s, err)
		}
	}
}
