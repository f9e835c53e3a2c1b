package redisstore_test

import (
	"context"
	"log"
	"os"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/authkit-go/authkit"
	"github.com/authkit-go/authkit/backends/redisstore"
	"github.com/authkit-go/authkit/issuer"
	"github.com/authkit-go/authkit/keys"
	"github.com/authkit-go/authkit/verifier"
)

// New runs over a client the application already has and keeps owning.
// Here a Sentinel-managed primary: ContextTimeoutEnabled lets each
// request's deadline bound its Redis calls, and WithReplicaAcks makes
// every revocation wait for a replica, so that a failover cannot lose it.
// This example needs Redis, so it only compiles.
func ExampleNew() {
	ctx := context.Background()
	rdb := redis.NewFailoverClient(&redis.FailoverOptions{
		MasterName:            "authkit",
		SentinelAddrs:         []string{"sentinel-1:26379", "sentinel-2:26379", "sentinel-3:26379"},
		ContextTimeoutEnabled: true,
	})
	defer rdb.Close()
	store, err := redisstore.New(rdb, redisstore.WithReplicaAcks(1, 500*time.Millisecond))
	if err != nil {
		log.Fatal(err)
	}
	// Refuse a Redis that would forget revocations on a restart or evict
	// them when full.
	if err := store.CheckPersistence(ctx); err != nil {
		log.Fatal(err)
	}
	// Say when the primary has fewer replicas connected than the store
	// waits for (every revocation would fail until they are back).
	if err := store.CheckReplication(ctx); err != nil {
		log.Print(err)
	}

	// Every server that signs or verifies these tokens loads the same
	// keys: the file authkit keygen wrote (a key generated per process
	// would make each server refuse the others' tokens).
	data, err := os.ReadFile("/etc/authkit/keys.json")
	if err != nil {
		log.Fatal(err)
	}
	set, err := keys.ParseJWKS(data)
	if err != nil {
		log.Fatal(err)
	}
	iss, err := issuer.New(authkit.WithKeys(set), authkit.WithStore(store))
	if err != nil {
		log.Fatal(err)
	}
	v, err := verifier.New(authkit.WithKeys(set), authkit.WithStore(store),
		authkit.WithRevocationMirror(time.Second))
	if err != nil {
		log.Fatal(err)
	}
	defer v.Close()
	pair, err := iss.IssuePair(ctx, "user-42")
	if err != nil {
		log.Fatal(err) // matches authkit.ErrStoreUnavailable when Redis is down
	}
	if _, err := v.Verify(ctx, pair.AccessToken); err != nil {
		log.Fatal(err)
	}
}

// A Redis Cluster: the store places its keys with hash tags, so every
// script runs on one slot.
func ExampleNew_cluster() {
	rdb := redis.NewClusterClient(&redis.ClusterOptions{
		Addrs:                 []string{"redis-1:6379", "redis-2:6379", "redis-3:6379"},
		ContextTimeoutEnabled: true,
	})
	defer rdb.Close()
	store, err := redisstore.New(rdb, redisstore.WithPrefix("auth:"))
	if err != nil {
		log.Fatal(err)
	}
	_ = store // authkit.WithStore(store)
}

// A Ring is accepted only with a heartbeat that never votes a shard down:
// with go-redis's default, a shard's outage moves its keys to the other
// shards and back, and the revocations written meanwhile are forgotten.
func ExampleWithStaticRing() {
	rdb := redis.NewRing(&redis.RingOptions{
		Addrs:                 map[string]string{"a": "redis-a:6379", "b": "redis-b:6379"},
		ContextTimeoutEnabled: true,
		HeartbeatFn:           func(context.Context, *redis.Client) bool { return true },
	})
	defer rdb.Close()
	store, err := redisstore.New(rdb, redisstore.WithStaticRing())
	if err != nil {
		log.Fatal(err)
	}
	_ = store // authkit.WithStore(store)
}

// OpenURL builds the client from a URL, as authkit serve --store does,
// and the store owns it: Close closes it.
func ExampleOpenURL() {
	ctx := context.Background()
	store, err := redisstore.OpenURL(ctx, "redis+sentinel://sentinel-1:26379?master_name=authkit&addr=sentinel-2:26379&key_prefix=auth:&replica_acks=1&replica_ack_timeout=500ms")
	if err != nil {
		log.Fatal(err) // ErrInvalidConfig for a bad URL, ErrStoreUnavailable when Redis does not answer
	}
	defer store.Close()
	_ = store // authkit.WithStore(store)
}
