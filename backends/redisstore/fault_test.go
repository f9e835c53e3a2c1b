package redisstore_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/authkit-go/authkit"
	"github.com/authkit-go/authkit/backends/redisstore"
	"github.com/authkit-go/authkit/internal/storetest"
	"github.com/authkit-go/authkit/internal/testservers"
)

// TestFaults runs the shared fault scenario (storetest.Faults) on a Store
// that reaches Redis through a proxy, with short client timeouts. While the
// proxy is stalled it also checks that WithCallTimeout bounds a call that
// has no deadline of its own.
func TestFaults(t *testing.T) {
	addr := testservers.Redis(t)
	admin := standalone(t, addr)
	px := testservers.NewProxy(t, addr)
	rdb := redis.NewClient(&redis.Options{
		Addr:                  px.Addr(),
		DialTimeout:           time.Second,
		ReadTimeout:           2 * time.Second,
		WriteTimeout:          2 * time.Second,
		ContextTimeoutEnabled: true,
	})
	t.Cleanup(func() { _ = rdb.Close() })
	prefix := testservers.RedisPrefix(t, admin)
	// The same data under a call timeout: bounded even without a deadline.
	bounded := newStore(t, rdb, prefix, redisstore.WithCallTimeout(200*time.Millisecond))

	storetest.Faults(t, storetest.FaultHarness{
		Server:      "Redis",
		Proxy:       px,
		Store:       newStore(t, rdb, prefix),
		CutDeadline: time.Second,
		// Far below any hang (a client's own timeouts are seconds), and
		// above what a loaded 2-core machine under -race adds: a CI run
		// sharing it with other work measured 732 ms for a 300 ms
		// deadline (2026-12-04).
		Slack:          time.Second,
		RecoverWithin:  10 * time.Second,
		RefreshMayLand: true,
		StoreTimeout:   250 * time.Millisecond,
		Stalled: func(t *testing.T) {
			start := time.Now()
			if _, err := bounded.IsRevoked(context.Background(), authkit.RevocationQuery{TokenID: "x", Subject: "user-5"}, time.Now()); !errors.Is(err, authkit.ErrStoreUnavailable) {
				t.Errorf("IsRevoked with no deadline but WithCallTimeout, Redis stalled: %v, want ErrStoreUnavailable", err)
			}
			if took := time.Since(start); took > 450*time.Millisecond {
				t.Errorf("IsRevoked under a 200ms call timeout took %v with Redis stalled", took)
			}
		},
	})
}
