package redisstore_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/authkit-go/authkit"
	"github.com/authkit-go/authkit/backends/redisstore"
	"github.com/authkit-go/authkit/conformance"
	"github.com/authkit-go/authkit/internal/testservers"
)

// The conformance suite over a *redis.Ring of two shards on two real
// servers: the shared standalone server and a private one. A Ring places
// each key on a shard by its hash tag, as a cluster places it on a slot,
// but it has no slots to refuse a command that spans shards: a multi-key
// command or script goes wherever its first key goes. The store takes its
// "cluster or ring" paths over it. The suite's rings have the heartbeat
// docs/backends/redis.md asks for (pinnedHeartbeat), but for the
// unreachable one: TestRingShardOutage shows why.

// ringShards names the test ring's shards: the shard names, not the
// addresses, decide where a key goes, so a ring of proxies to the same
// servers places every key as the ring of the servers does.
var ringShards = [...]string{"shared", "private"}

// pinnedHeartbeat is a Ring's HeartbeatFn that never votes a shard down,
// so that the ring never moves a shard's keys to another.
func pinnedHeartbeat(context.Context, *redis.Client) bool { return true }

// ringClient returns a Ring whose shards are at addrs (in ringShards
// order), closed when t ends. opts, if not nil, is the base of the
// options.
func ringClient(t testing.TB, addrs []string, opts *redis.RingOptions) *redis.Ring {
	t.Helper()
	o := redis.RingOptions{}
	if opts != nil {
		o = *opts
	}
	o.Addrs = map[string]string{}
	for i, a := range addrs {
		o.Addrs[ringShards[i]] = a
	}
	o.ContextTimeoutEnabled = true
	r := redis.NewRing(&o)
	t.Cleanup(func() { _ = r.Close() })
	return r
}

// ringPrefix returns a key prefix no other test uses and, when t ends,
// deletes every key under it on every server of addrs, through clients
// of its own (testservers.RedisPrefix, given a Ring, would SCAN one
// shard picked at random).
func ringPrefix(t testing.TB, addrs []string) string {
	t.Helper()
	var b [6]byte
	_, _ = rand.Read(b[:])
	prefix := "authkit-test-ring-" + hex.EncodeToString(b[:]) + ":"
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		for _, a := range addrs {
			c := redis.NewClient(&redis.Options{Addr: a})
			_, err := testservers.DeleteRedisPrefix(ctx, c, prefix)
			c.Close()
			if err != nil {
				t.Errorf("deleting the test keys under %q on %s: %v", prefix, a, err)
			}
		}
	})
	return prefix
}

// loseRingData deletes every key under prefix on every server of addrs,
// each of which must have held some (the epoch markers spread over both
// shards, so each shard loses data): both shards restarting without
// persistence. loseData cannot do this through a Ring: its SCAN would
// reach one shard.
func loseRingData(t testing.TB, addrs []string, prefix string) {
	t.Helper()
	var (
		mu     sync.Mutex
		counts = map[string]int{}
		wg     sync.WaitGroup
		errs   = make([]error, len(addrs))
	)
	for i, a := range addrs {
		wg.Go(func() {
			c := redis.NewClient(&redis.Options{Addr: a})
			defer c.Close()
			n, err := testservers.DeleteRedisPrefix(t.Context(), c, prefix)
			errs[i] = err
			mu.Lock()
			counts[a] = n
			mu.Unlock()
		})
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("LoseData on %s: %v", addrs[i], err)
		}
	}
	for a, n := range counts {
		if n == 0 {
			t.Fatalf("LoseData: the shard at %s held no key under %q, so its loss is not checked (counts %v)", a, prefix, counts)
		}
	}
}

// unreachableRing returns a Store over a Ring whose shards are closed
// ports, giving up fast. Its heartbeat is go-redis's, fast, and has voted
// both shards down before the Store is returned, so that its calls meet
// the error a default ring gives then ("all ring shards are down") rather
// than the dial errors a pinned one gives, as every client of a closed
// port does.
func unreachableRing(t testing.TB) *redisstore.Store {
	t.Helper()
	r := ringClient(t, []string{closedPort(t), closedPort(t)}, &redis.RingOptions{
		HeartbeatFrequency: 10 * time.Millisecond,
		// go-redis retries a refused dial until its DialTimeout, so each
		// heartbeat's ping of a closed port takes as long.
		DialTimeout:  20 * time.Millisecond,
		ReadTimeout:  200 * time.Millisecond,
		WriteTimeout: 200 * time.Millisecond,
		MaxRetries:   -1,
	})
	deadline := time.Now().Add(10 * time.Second)
	for {
		err := r.Ping(t.Context()).Err()
		if err != nil && err.Error() == "redis: all ring shards are down" {
			return newStore(t, r, "unreachable:", redisstore.WithStaticRing())
		}
		if time.Now().After(deadline) {
			t.Fatalf("a ring of closed ports still has a shard up after 10s: Ping says %v", err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// stalledRing returns a Store over a Ring whose connection to each shard
// goes through a proxy of its own, all stalled once every shard has
// answered. The Ring keeps go-redis's default timeouts, so only the
// call's ctx can end a call in time.
func stalledRing(t *testing.T, addrs []string) *redisstore.Store {
	t.Helper()
	var proxies []*testservers.Proxy
	var via []string
	for _, a := range addrs {
		px := testservers.NewProxy(t, a)
		proxies = append(proxies, px)
		via = append(via, px.Addr())
	}
	r := ringClient(t, via, &redis.RingOptions{HeartbeatFn: pinnedHeartbeat})
	s := newStore(t, r, ringPrefix(t, addrs), redisstore.WithStaticRing())
	var mu sync.Mutex
	pinged := 0
	if err := r.ForEachShard(t.Context(), func(ctx context.Context, c *redis.Client) error {
		if err := c.Ping(ctx).Err(); err != nil {
			return err
		}
		mu.Lock()
		pinged++
		mu.Unlock()
		return nil
	}); err != nil {
		t.Fatalf("pinging every shard through the proxies before the stall: %v", err)
	}
	if pinged != len(addrs) {
		t.Fatalf("pinged %d shards through the proxies, want %d", pinged, len(addrs))
	}
	for _, px := range proxies {
		px.Stall()
	}
	return s
}

func TestConformanceRing(t *testing.T) {
	t.Parallel()
	addrs := []string{testservers.Redis(t), testservers.PrivateRedis(t)}
	connect := func(t testing.TB) redis.UniversalClient {
		return ringClient(t, addrs, &redis.RingOptions{HeartbeatFn: pinnedHeartbeat})
	}
	h := conformance.Harness{
		ThrottlesExpireThemselves: true, // native expiry, as on one server
		New: func(t *testing.T) authkit.Store {
			return newStore(t, connect(t), ringPrefix(t, addrs), redisstore.WithStaticRing())
		},
		Peer: func(t *testing.T, s authkit.Store) authkit.Store {
			return newStore(t, connect(t), s.(*redisstore.Store).Prefix(), redisstore.WithStaticRing())
		},
		Reopen: func(t *testing.T, s authkit.Store) authkit.Store {
			old := s.(*redisstore.Store)
			if err := old.Client().Close(); err != nil {
				t.Fatal(err)
			}
			return newStore(t, connect(t), old.Prefix(), redisstore.WithStaticRing())
		},
		Unavailable: func(t *testing.T) authkit.Store { return unreachableRing(t) },
		LoseData: func(t *testing.T, s authkit.Store) {
			loseRingData(t, addrs, s.(*redisstore.Store).Prefix())
		},
		TrimFeed: func(t *testing.T, s authkit.Store) {
			trimFeed(t, newStore(t, connect(t), s.(*redisstore.Store).Prefix(), redisstore.WithStaticRing(), redisstore.WithFeedLength(16)))
		},
		Stalled: func(t *testing.T) authkit.Store { return stalledRing(t, addrs) },
	}
	conformance.Run(t, h)
}

// waitRoute waits until r sends key to the private shard (onPrivate) or
// to the other one: it writes key through r and reads it on the private
// server directly. A shard's heartbeat votes and the ring's rebalancing
// are separate steps, so asking r which shards are up is not enough.
func waitRoute(t testing.TB, r *redis.Ring, direct *redis.Client, key string, onPrivate bool) {
	t.Helper()
	ctx := t.Context()
	deadline := time.Now().Add(10 * time.Second)
	for {
		var b [8]byte
		_, _ = rand.Read(b[:])
		v := hex.EncodeToString(b[:]) // never a value an earlier wait left there
		if r.Set(ctx, key, v, time.Minute).Err() == nil {
			got, err := direct.Get(ctx, key).Result()
			if err != nil && !errors.Is(err, redis.Nil) {
				t.Fatalf("reading %q on the private server: %v", key, err)
			}
			if (got == v) == onPrivate {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("the ring does not send %q to the private shard (%v) after 10s", key, onPrivate)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestRingShardOutage is the reason docs/backends/redis.md asks for a
// HeartbeatFn that never votes a shard down. A Ring whose heartbeat finds
// a shard down moves that shard's keys to the others, and back when it
// answers again; a logout-all written in between lands on a shard the
// store stops reading when the keys move back, and the token it revoked
// verifies again, with no data lost anywhere (the returning shard kept its
// epoch markers). With a HeartbeatFn that always reports up, the keys
// never move: the logout-all fails with ErrStoreUnavailable, so the
// caller knows it did not happen, and so does every check of the shard's
// subjects until it answers, while the checks of the other shard's
// subjects go on. (A write of the other shard's subjects may fail too: its
// garbage-collection index entry may be on the shard that is down.)
func TestRingShardOutage(t *testing.T) {
	shared := testservers.Redis(t)
	for _, pinned := range []bool{false, true} {
		t.Run(map[bool]string{false: "DefaultHeartbeat", true: "PinnedHeartbeat"}[pinned], func(t *testing.T) {
			private := testservers.PrivateRedis(t)
			px := testservers.NewProxy(t, private)
			o := &redis.RingOptions{HeartbeatFrequency: 20 * time.Millisecond, DialTimeout: 200 * time.Millisecond}
			if pinned {
				o.HeartbeatFn = pinnedHeartbeat
			}
			r := ringClient(t, []string{shared, px.Addr()}, o)
			prefix := ringPrefix(t, []string{shared, private})
			s := newStore(t, r, prefix, redisstore.WithStaticRing())
			direct := standalone(t, private)
			ctx := t.Context()

			// A subject whose revocations live on the private shard, and
			// one whose revocations live on the shared one.
			time.Sleep(2 * time.Millisecond) // iat after New's epoch
			iat := time.Now()
			subject, other, tag := "", "", ""
			for i := 0; (subject == "" || other == "") && i < 64; i++ {
				sub := fmt.Sprintf("user-%d", i)
				before := direct.DBSize(ctx).Val()
				if err := s.RevokeToken(ctx, sub, "probe", time.Now().Add(time.Hour)); err != nil {
					t.Fatal(err)
				}
				switch {
				case direct.DBSize(ctx).Val() == before:
					if other == "" {
						other = sub
					}
				case subject == "":
					subject = sub
					// The hash tag of the subject's bucket, from its one
					// revocation on the private server.
					keys, err := direct.Keys(ctx, prefix+"rev:{*").Result()
					if err != nil || len(keys) != 1 {
						t.Fatalf("the private server's revocation keys under %q: %q, %v; want the one of %s", prefix, keys, err, subject)
					}
					tag = keys[0][strings.Index(keys[0], "{"):]
					tag = tag[:strings.Index(tag, "}")+1]
				}
			}
			if subject == "" || other == "" {
				t.Fatalf("of 64 subjects, none has its revocations on the private shard (%q) or none on the shared one (%q)", subject, other)
			}
			// A key of the bucket's hash tag, to see where the ring sends
			// the bucket.
			probe := prefix + "probe:" + tag
			waitRoute(t, r, direct, probe, true)
			q := authkit.RevocationQuery{TokenID: "jti-1", Subject: subject, IssuedAt: iat}
			if rev, err := s.IsRevoked(ctx, q, time.Now()); rev || err != nil {
				t.Fatalf("IsRevoked before the outage: %v, %v; want false, nil", rev, err)
			}

			px.Cut()
			if !pinned {
				waitRoute(t, r, direct, probe, false)
			}
			cutoff := time.Now()
			cerr := s.SetCutoff(ctx, subject, cutoff, cutoff.Add(time.Hour))
			rev, err := s.IsRevoked(ctx, q, time.Now())
			if pinned {
				if !errors.Is(cerr, authkit.ErrStoreUnavailable) {
					t.Fatalf("SetCutoff with the subject's shard down and a pinned heartbeat: %v, want ErrStoreUnavailable", cerr)
				}
				if !errors.Is(err, authkit.ErrStoreUnavailable) {
					t.Fatalf("IsRevoked with the subject's shard down and a pinned heartbeat: %v, %v; want ErrStoreUnavailable", rev, err)
				}
				oq := authkit.RevocationQuery{TokenID: "jti-1", Subject: other, IssuedAt: iat}
				if rev, err := s.IsRevoked(ctx, oq, time.Now()); rev || err != nil {
					t.Fatalf("IsRevoked of a subject on the shard that is up, the other down: %v, %v; want false, nil", rev, err)
				}
			} else {
				if cerr != nil {
					t.Fatalf("SetCutoff with the subject's shard voted down: %v; the ring wrote it to the other shard until now", cerr)
				}
				if !rev || !errors.Is(err, authkit.ErrDataLoss) {
					t.Fatalf("IsRevoked on the other shard: %v, %v; want true and ErrDataLoss (its bucket has no marker there)", rev, err)
				}
			}

			px.Restore()
			if !pinned {
				waitRoute(t, r, direct, probe, true)
				// The keys are back on the private shard, which never saw the
				// cutoff: the token logged out during the outage verifies again.
				if rev, err := s.IsRevoked(ctx, q, time.Now()); rev || err != nil {
					t.Fatalf("IsRevoked after the shard came back: %v, %v; the ring's rebalancing used to forget the cutoff (false, nil): if it no longer does, update docs/backends/redis.md", rev, err)
				}
				return
			}
			// The pinned ring works again once the shard answers, and the
			// logout-all can be retried.
			deadline := time.Now().Add(10 * time.Second)
			for {
				err := s.SetCutoff(ctx, subject, cutoff, cutoff.Add(time.Hour))
				if err == nil {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("SetCutoff 10s after the shard came back: %v", err)
				}
				time.Sleep(20 * time.Millisecond)
			}
			if rev, err := s.IsRevoked(ctx, q, time.Now()); !rev || err != nil {
				t.Fatalf("IsRevoked after the retried logout-all: %v, %v; want true, nil", rev, err)
			}
		})
	}
}

// New refuses a *redis.Ring unless WithStaticRing vouches for its
// heartbeat (a default one moves keys between shards and forgets
// revocations, TestRingShardOutage), and accepts it then.
func TestNewRefusesRingWithoutStaticRing(t *testing.T) {
	r := redis.NewRing(&redis.RingOptions{Addrs: map[string]string{"a": testservers.Redis(t)}, ContextTimeoutEnabled: true})
	t.Cleanup(func() { _ = r.Close() })
	s, err := redisstore.New(r)
	if !errors.Is(err, authkit.ErrInvalidConfig) || s != nil || !strings.Contains(err.Error(), "WithStaticRing") || !strings.Contains(err.Error(), "HeartbeatFn") {
		t.Fatalf("New(*redis.Ring) = %v, %v; want ErrInvalidConfig naming HeartbeatFn and WithStaticRing", s, err)
	}
	if _, err := redisstore.New(r, redisstore.WithStaticRing(), redisstore.WithPrefix(ringPrefix(t, []string{testservers.Redis(t)}))); err != nil {
		t.Fatalf("New(*redis.Ring, WithStaticRing()) = %v", err)
	}
}
