package redisstore_test

import (
	"fmt"
	"net/netip"
	"testing"
	"time"

	"github.com/authkit-go/authkit/internal/testservers"
	"github.com/authkit-go/authkit/internal/throttle"
)

// TestThrottleSharedBudget: two replicas, each with its own client and its
// own policy limiter over the same Redis, share one budget. Failures made
// through one replica make the other refuse the guessing address, and
// 30 failures a minute from elsewhere leave a clean address allowed.
func TestThrottleSharedBudget(t *testing.T) {
	addr := testservers.Redis(t)
	admin := standalone(t, addr)
	prefix := testservers.RedisPrefix(t, admin)
	a, err := throttle.New(newStore(t, standalone(t, addr), prefix), throttle.DefaultPolicy())
	if err != nil {
		t.Fatal(err)
	}
	b, err := throttle.New(newStore(t, standalone(t, addr), prefix), throttle.DefaultPolicy())
	if err != nil {
		t.Fatal(err)
	}
	base := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	at := func(i int) time.Time { return base.Add(time.Duration(i) * 2 * time.Second) }
	// 8 failures of one address at alice, 4 through each replica: either
	// replica alone would have seen no more than the 5 free ones.
	attacker := throttle.Attempt{User: "alice", Addr: netip.MustParseAddr("198.51.100.7")}
	for i := range 8 {
		l := []*throttle.Limiter{a, b}[i%2]
		if err := l.Failure(t.Context(), attacker, at(i)); err != nil {
			t.Fatal(err)
		}
	}
	// 22 more from other addresses: 30 failures at alice within a minute.
	for i := 8; i < 30; i++ {
		other := throttle.Attempt{User: "alice", Addr: netip.MustParseAddr(fmt.Sprintf("198.51.100.%d", 100+i))}
		if err := []*throttle.Limiter{a, b}[i%2].Failure(t.Context(), other, at(i)); err != nil {
			t.Fatal(err)
		}
	}
	now := at(29).Add(time.Second)
	for i, l := range []*throttle.Limiter{a, b} {
		d, err := l.Check(t.Context(), attacker, at(7).Add(time.Second))
		if err != nil {
			t.Fatal(err)
		}
		if d.Allowed || d.By != throttle.KindPair || d.RetryAfter != 3*time.Second {
			t.Errorf("replica %d after 8 failures of one address, 4 through each replica: %+v, want refused by the pair for 3s (the budget is shared: 8 > 5 free)", i, d)
		}
		owner := throttle.Attempt{User: "alice", Addr: netip.MustParseAddr("203.0.113.1")}
		if d, err := l.Check(t.Context(), owner, now); err != nil || !d.Allowed {
			t.Errorf("replica %d refuses alice from a clean address after 30 failures a minute elsewhere: %+v, %v", i, d, err)
		}
	}
}
