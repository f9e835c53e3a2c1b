package httpauth_test

import (
	"fmt"
	"net/netip"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/authkit-go/authkit"
	"github.com/authkit-go/authkit/adapters/httpauth"
	"github.com/authkit-go/authkit/backends/redisstore"
	"github.com/authkit-go/authkit/internal/testservers"
)

// Two Handlers (two replicas) over one Redis share one budget: 8 wrong
// passwords of one address at alice, 4 through each, make that address
// wait on both, where either alone would have seen only 4 (5 are free);
// 30 failures at alice within a minute, from that address and 22 others,
// leave alice's right password from a clean address working on both.
// The budget is shared whether the store is given with WithThrottleStore
// or only as the store of the verifier (and issuer): the default (found
// by an adoption test: each replica counted alone unless told).
func TestThrottleSharedRedis(t *testing.T) {
	t.Run("WithThrottleStore", func(t *testing.T) { testThrottleSharedRedis(t, true) })
	t.Run("the verifier's store", func(t *testing.T) { testThrottleSharedRedis(t, false) })
}

func testThrottleSharedRedis(t *testing.T, explicit bool) {
	addr := testservers.Redis(t)
	admin := redis.NewClient(&redis.Options{Addr: addr})
	t.Cleanup(func() { _ = admin.Close() })
	prefix := testservers.RedisPrefix(t, admin)
	replica := func() *fx {
		rdb := redis.NewClient(&redis.Options{Addr: addr, ContextTimeoutEnabled: true})
		t.Cleanup(func() { _ = rdb.Close() })
		st, err := redisstore.New(rdb, redisstore.WithPrefix(prefix))
		if err != nil {
			t.Fatal(err)
		}
		o := fxOptions{auth: []httpauth.Option{httpauth.WithTrustedProxies(netip.MustParsePrefix("127.0.0.1/32"))}}
		if explicit {
			o.auth = append(o.auth, httpauth.WithThrottleStore(st))
		} else {
			o.issuer = []authkit.Option{authkit.WithStore(st)}
			o.verifier = []authkit.Option{authkit.WithStore(st)}
		}
		return newFx(t, o)
	}
	a, b := replica(), replica()
	// Both replicas' clocks move together.
	step := func() { a.clock.Add(2 * time.Second); b.clock.Add(2 * time.Second) }
	const attacker = "198.51.100.7"
	for i := range 8 {
		f := []*fx{a, b}[i%2]
		r := f.grant("alice", "guess", attacker)
		if r.status != 400 {
			t.Fatalf("guess %d: %d %s", i, r.status, r.body)
		}
		step()
		if i == 5 {
			step() // past the 1s wait the 6th failure starts
		}
	}
	for i, f := range []*fx{a, b} {
		if r := f.grant("alice", "wonderland", attacker); r.status != 429 || r.header.Get("Retry-After") == "" {
			t.Errorf("replica %d, the attacker's address: %d %s (the budget is shared: 8 failures > 5 free)", i, r.status, r.body)
		}
	}
	for i := 8; i < 30; i++ {
		f := []*fx{a, b}[i%2]
		if r := f.grant("alice", "guess", fmt.Sprintf("198.51.100.%d", 100+i)); r.status != 400 {
			t.Fatalf("failure %d: %d %s", i, r.status, r.body)
		}
	}
	for i, f := range []*fx{a, b} {
		if r := f.grant("alice", "wonderland", fmt.Sprintf("203.0.113.%d", i+1)); r.status != 200 {
			t.Errorf("replica %d, alice from a clean address: %d %s", i, r.status, r.body)
		}
	}
}
