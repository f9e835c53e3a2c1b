package redisstore_test

import (
	"context"
	"errors"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/authkit-go/authkit"
	"github.com/authkit-go/authkit/backends/redisstore"
	"github.com/authkit-go/authkit/internal/testservers"
)

// checkPrivate starts a private redis-server with args and returns its
// address, its one Persistence record and CheckPersistence's error.
func checkPrivate(t *testing.T, opts *redis.Options, args ...string) (string, redisstore.NodePersistence, error) {
	t.Helper()
	addr := testservers.PrivateRedis(t, args...)
	if opts == nil {
		opts = &redis.Options{}
	}
	opts.Addr, opts.ContextTimeoutEnabled = addr, true
	c := redis.NewClient(opts)
	t.Cleanup(func() { _ = c.Close() })
	s := newStore(t, c, "persist:")
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	nodes, err := s.Persistence(ctx)
	if err != nil {
		t.Fatalf("Persistence: %v", err)
	}
	if len(nodes) != 1 || nodes[0].Addr != addr || nodes[0].Replica {
		t.Fatalf("Persistence = %+v, want one primary record for %s", nodes, addr)
	}
	return addr, nodes[0], s.CheckPersistence(ctx)
}

// wantVolatile fails t unless err matches ErrVolatile (and not
// ErrStoreUnavailable) and its text holds every one of want.
func wantVolatile(t *testing.T, err error, want ...string) {
	t.Helper()
	if !errors.Is(err, redisstore.ErrVolatile) || errors.Is(err, authkit.ErrStoreUnavailable) {
		t.Fatalf("CheckPersistence = %v, want an error matching ErrVolatile only", err)
	}
	for _, w := range want {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("CheckPersistence's error does not say %q: %v", w, err)
		}
	}
}

func TestPersistenceVolatile(t *testing.T) {
	addr, n, err := checkPrivate(t, nil, "--appendonly", "no", "--save", "")
	if !n.AppendOnlyKnown || n.AppendOnly || !n.SaveKnown || n.Save != "" || n.ConfigRefused || n.Durable() {
		t.Errorf("record = %+v, want appendonly no and save \"\" known from CONFIG", n)
	}
	wantVolatile(t, err, addr+" keeps nothing on disk", `appendonly no, save ""`, "a restart empties it")
	if strings.Contains(err.Error(), "evict") {
		t.Errorf("a server without maxmemory reported as evicting: %v", err)
	}
}

func TestPersistenceAppendOnly(t *testing.T) {
	_, n, err := checkPrivate(t, nil, "--appendonly", "yes", "--save", "")
	if err != nil {
		t.Fatalf("appendonly yes: CheckPersistence = %v, want nil", err)
	}
	if !n.AppendOnly || !n.Durable() || n.MayEvict() || !n.MemoryKnown || n.MaxMemory != 0 {
		t.Errorf("record = %+v", n)
	}
}

func TestPersistenceSnapshots(t *testing.T) {
	_, n, err := checkPrivate(t, nil, "--appendonly", "no", "--save", "60 1")
	if err != nil {
		t.Fatalf(`save "60 1": CheckPersistence = %v, want nil`, err)
	}
	if n.AppendOnly || !n.SaveKnown || n.Save != "60 1" {
		t.Errorf("record = %+v, want save \"60 1\"", n)
	}
}

func TestPersistenceEviction(t *testing.T) {
	for _, policy := range []string{"allkeys-lru", "volatile-lru", "volatile-ttl"} {
		t.Run(policy, func(t *testing.T) {
			addr, n, err := checkPrivate(t, nil, "--appendonly", "yes", "--maxmemory", "10mb", "--maxmemory-policy", policy)
			if n.MaxMemory != 10<<20 || n.MaxMemoryPolicy != policy || !n.MayEvict() {
				t.Errorf("record = %+v", n)
			}
			wantVolatile(t, err, addr+" may evict authkit's keys", "maxmemory-policy "+policy, "noeviction")
			if strings.Contains(err.Error(), "on disk") {
				t.Errorf("an appendonly server reported as keeping nothing on disk: %v", err)
			}
		})
	}
	t.Run("noeviction", func(t *testing.T) {
		if _, _, err := checkPrivate(t, nil, "--appendonly", "yes", "--maxmemory", "10mb", "--maxmemory-policy", "noeviction"); err != nil {
			t.Fatalf("maxmemory with noeviction: CheckPersistence = %v, want nil", err)
		}
	})
	t.Run("both", func(t *testing.T) {
		_, _, err := checkPrivate(t, nil, "--appendonly", "no", "--save", "", "--maxmemory", "10mb", "--maxmemory-policy", "allkeys-random")
		wantVolatile(t, err, "keeps nothing on disk", "may evict")
	})
}

// A server that refuses CONFIG (renamed away, as managed services do) is
// read through INFO: appendonly and the memory settings are told, the
// save schedule is not.
func TestPersistenceConfigRefused(t *testing.T) {
	t.Run("appendonly", func(t *testing.T) {
		_, n, err := checkPrivate(t, nil, "--rename-command", "CONFIG", "", "--appendonly", "yes")
		if err != nil {
			t.Fatalf("CONFIG refused, INFO says aof_enabled:1: CheckPersistence = %v, want nil", err)
		}
		if !n.ConfigRefused || !n.AppendOnlyKnown || !n.AppendOnly || n.SaveKnown || !n.MemoryKnown || !n.ReplicasKnown || n.Replicas != 0 {
			t.Errorf("record = %+v, want appendonly, memory and replicas from INFO, the save schedule unknown", n)
		}
	})
	t.Run("snapshots only", func(t *testing.T) {
		addr, n, err := checkPrivate(t, nil, "--rename-command", "CONFIG", "", "--appendonly", "no", "--save", "60 1")
		if !n.ConfigRefused || n.SaveKnown || n.Durable() {
			t.Errorf("record = %+v", n)
		}
		wantVolatile(t, err, addr+" CONFIG refused; cannot tell")
	})
	t.Run("eviction from INFO", func(t *testing.T) {
		_, n, err := checkPrivate(t, nil, "--rename-command", "CONFIG", "", "--appendonly", "yes", "--maxmemory", "10mb", "--maxmemory-policy", "allkeys-lfu")
		if !n.MemoryKnown || n.MaxMemory != 10<<20 || n.MaxMemoryPolicy != "allkeys-lfu" {
			t.Errorf("record = %+v", n)
		}
		wantVolatile(t, err, "maxmemory-policy allkeys-lfu")
	})
	t.Run("ACL denies CONFIG and INFO", func(t *testing.T) {
		opts := &redis.Options{Username: "authkit", Password: "pw-for-a-test"}
		addr, n, err := checkPrivate(t, opts, "--appendonly", "yes",
			"--user", "authkit", "on", ">pw-for-a-test", "~*", "&*", "+@all", "-config", "-info")
		if !n.ConfigRefused || n.AppendOnlyKnown || n.SaveKnown || n.MemoryKnown || n.ReplicasKnown {
			t.Errorf("record = %+v, want nothing known", n)
		}
		wantVolatile(t, err, addr+" CONFIG refused; cannot tell whether it keeps", "cannot tell whether it evicts")
	})
}

func TestPersistenceUnreachable(t *testing.T) {
	c := redis.NewClient(&redis.Options{Addr: testservers.ClosedAddr(t), DialTimeout: time.Second,
		MaxRetries: -1, ContextTimeoutEnabled: true})
	t.Cleanup(func() { _ = c.Close() })
	s := newStore(t, c, "persist:")
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	for name, err := range map[string]error{"CheckPersistence": s.CheckPersistence(ctx), "Persistence": func() error { _, err := s.Persistence(ctx); return err }(),
		"CheckReplication": s.CheckReplication(ctx)} {
		if !errors.Is(err, authkit.ErrStoreUnavailable) || errors.Is(err, redisstore.ErrVolatile) || errors.Is(err, redisstore.ErrUnconfirmedReplication) {
			t.Errorf("%s on a closed port = %v, want ErrStoreUnavailable only", name, err)
		}
	}
	done, stop := context.WithCancel(t.Context())
	stop()
	if err := s.CheckPersistence(done); !errors.Is(err, context.Canceled) {
		t.Errorf("CheckPersistence with a cancelled ctx = %v, want context.Canceled", err)
	}
}

// Every node of a cluster is asked: one record per node of the test
// cluster, and the check names each node that fails it.
func TestPersistenceCluster(t *testing.T) {
	addrs := testservers.RedisCluster(t)
	s := newStore(t, cluster(t, addrs), "persist:")
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	nodes, err := s.Persistence(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(nodes) < 3 {
		t.Fatalf("Persistence = %+v, want a record per node (at least 3)", nodes)
	}
	seen := map[string]bool{}
	var bad []string
	for _, n := range nodes {
		if n.Addr == "" || seen[n.Addr] || n.ConfigRefused {
			t.Errorf("record %+v: empty or repeated address, or CONFIG refused", n)
		}
		seen[n.Addr] = true
		if !n.Durable() || n.MayEvict() {
			bad = append(bad, n.Addr)
		}
	}
	err = s.CheckPersistence(ctx)
	if len(bad) == 0 {
		if err != nil {
			t.Fatalf("CheckPersistence = %v on a cluster whose every node keeps its data", err)
		}
		return
	}
	wantVolatile(t, err, bad...)
}

// A replica counts: a cluster whose primary keeps its data but whose
// replica (promoted by a failover) does not fails the check, naming the
// replica.
func TestPersistenceClusterReplica(t *testing.T) {
	node := func(extra ...string) (addr, bus string) {
		bus = strconv.Itoa(freePort(t))
		return testservers.PrivateRedis(t, append([]string{"--cluster-enabled", "yes",
			"--cluster-port", bus, "--cluster-node-timeout", "5000"}, extra...)...), bus
	}
	// CLUSTER SLOTS lists a replica once the primary has heard of its
	// replication offset, at each repl-ping-replica-period (10s by
	// default).
	primary, bus := node("--appendonly", "yes", "--repl-diskless-sync-delay", "0", "--repl-ping-replica-period", "1")
	replica, _ := node("--appendonly", "no", "--save", "")
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	p, r := standalone(t, primary), standalone(t, replica)
	if err := p.ClusterAddSlotsRange(ctx, 0, 16383).Err(); err != nil {
		t.Fatal(err)
	}
	host, port, _ := net.SplitHostPort(primary)
	if err := r.Do(ctx, "CLUSTER", "MEET", host, port, bus).Err(); err != nil {
		t.Fatal(err)
	}
	id, err := p.ClusterMyID(ctx).Result()
	if err != nil {
		t.Fatal(err)
	}
	until(t, ctx, "the replica to know the primary", func() bool {
		nodes, err := r.ClusterNodes(ctx).Result()
		return err == nil && strings.Contains(nodes, id)
	})
	if err := r.ClusterReplicate(ctx, id).Err(); err != nil {
		t.Fatal(err)
	}
	until(t, ctx, "the primary to list its replica", func() bool {
		slots, err := p.ClusterSlots(ctx).Result()
		return err == nil && len(slots) == 1 && len(slots[0].Nodes) == 2
	})
	s := newStore(t, cluster(t, []string{primary}), "persist:")
	nodes, err := s.Persistence(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(nodes) != 2 || nodes[0].Addr != primary || nodes[0].Replica || nodes[1].Addr != replica || !nodes[1].Replica {
		t.Fatalf("Persistence = %+v, want the primary %s and then the replica %s", nodes, primary, replica)
	}
	err = s.CheckPersistence(ctx)
	wantVolatile(t, err, replica+" (replica) keeps nothing on disk")
	if strings.Contains(err.Error(), primary+" ") {
		t.Errorf("the appendonly primary is named: %v", err)
	}
}

// freePort returns a loopback port nothing listens on.
func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// until polls cond every 50ms until it holds, failing t when ctx ends.
func until(t *testing.T, ctx context.Context, what string, cond func() bool) {
	t.Helper()
	for !cond() {
		select {
		case <-ctx.Done():
			t.Fatalf("waiting for %s: %v", what, ctx.Err())
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// Through a Sentinel failover client the record is the primary's, named
// by its address (the client's options name none).
func TestPersistenceSentinel(t *testing.T) {
	primary := testservers.PrivateRedis(t, "--appendonly", "no", "--save", "")
	sentinel := testservers.PrivateSentinel(t, "authkit", primary)
	c := redis.NewFailoverClient(&redis.FailoverOptions{MasterName: "authkit", SentinelAddrs: []string{sentinel},
		ContextTimeoutEnabled: true})
	t.Cleanup(func() { _ = c.Close() })
	s := newStore(t, c, "persist:")
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	nodes, err := s.Persistence(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(nodes) != 1 || nodes[0].Addr != primary || !nodes[0].SaveKnown || nodes[0].Durable() {
		t.Fatalf("Persistence = %+v, want the volatile primary %s", nodes, primary)
	}
	wantVolatile(t, s.CheckPersistence(ctx), primary+" keeps nothing on disk")
}

// Every shard of a Ring is asked; one that cannot be is not passed over.
func TestPersistenceRing(t *testing.T) {
	aof := testservers.PrivateRedis(t, "--appendonly", "yes")
	bare := testservers.PrivateRedis(t, "--appendonly", "no", "--save", "")
	ring := func(addrs map[string]string) *redisstore.Store {
		c := redis.NewRing(&redis.RingOptions{Addrs: addrs, DialTimeout: time.Second, MaxRetries: -1, ContextTimeoutEnabled: true,
			HeartbeatFn: func(context.Context, *redis.Client) bool { return true }})
		t.Cleanup(func() { _ = c.Close() })
		return newStore(t, c, "persist:", redisstore.WithStaticRing())
	}
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	s := ring(map[string]string{"a": aof, "b": bare})
	nodes, err := s.Persistence(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(nodes) != 2 {
		t.Fatalf("Persistence = %+v, want both shards", nodes)
	}
	err = s.CheckPersistence(ctx)
	wantVolatile(t, err, bare+" keeps nothing on disk")
	if strings.Contains(err.Error(), aof+" ") {
		t.Errorf("the appendonly shard is named: %v", err)
	}
	down := ring(map[string]string{"a": aof, "b": testservers.ClosedAddr(t)})
	if err := down.CheckPersistence(ctx); !errors.Is(err, authkit.ErrStoreUnavailable) {
		t.Errorf("a ring with a shard down: CheckPersistence = %v, want ErrStoreUnavailable", err)
	}
}

// A primary that will not say how many replicas follow it (INFO denied)
// fails CheckReplication: what cannot be established is not proven.
func TestReplicationUnknown(t *testing.T) {
	addr := testservers.PrivateRedis(t, "--appendonly", "yes",
		"--user", "authkit", "on", ">pw-for-a-test", "~*", "&*", "+@all", "-info")
	c := redis.NewClient(&redis.Options{Addr: addr, Username: "authkit", Password: "pw-for-a-test", ContextTimeoutEnabled: true})
	t.Cleanup(func() { _ = c.Close() })
	err := newStore(t, c, "persist:").CheckReplication(t.Context())
	if !errors.Is(err, redisstore.ErrUnconfirmedReplication) || !strings.Contains(err.Error(), addr+" does not say how many replicas") {
		t.Errorf("CheckReplication with INFO denied = %v, want ErrUnconfirmedReplication naming %s", err, addr)
	}
}
