package redisstore

import (
	"fmt"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/authkit-go/authkit/internal/testservers"
)

// TestCleanupPrunesFeedIndexes: a cleanup drops from every bucket's feed
// index the members whose entries have expired, and keeps those in force.
// Before, only a later revocation in the same bucket pruned them, so a
// bucket written to no more kept its members for ever (found by review:
// 1,423 of 2,000 members outlived their entries).
func TestCleanupPrunesFeedIndexes(t *testing.T) {
	t.Parallel()
	rdb := redis.NewClient(&redis.Options{Addr: testservers.Redis(t), ContextTimeoutEnabled: true})
	t.Cleanup(func() { _ = rdb.Close() })
	s, err := New(rdb, WithPrefix(testservers.RedisPrefix(t, rdb)), WithExpiryMargin(0))
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	// Long enough that no write below comes after the first entries
	// expired, whose script would prune them (a loaded machine took more
	// than 200 ms for these writes).
	soon := time.Now().Add(2 * time.Second)
	const n = 100
	for i := range n {
		sub := fmt.Sprint("user-", i)
		if err := s.RevokeToken(ctx, sub, "short", soon); err != nil {
			t.Fatal(err)
		}
		if i%4 == 0 {
			if err := s.RevokeSessionTokens(ctx, sub, "long", time.Now().Add(time.Hour)); err != nil {
				t.Fatal(err)
			}
		}
	}
	count := func() int64 {
		var total int64
		for i := range feedShards {
			c, err := rdb.ZCard(ctx, s.k.revIndex(i)).Result()
			if err != nil {
				t.Fatal(err)
			}
			total += c
		}
		return total
	}
	if got := count(); got != n+n/4 {
		t.Logf("the feed indexes hold %d members after %d revocations (the writes took longer than the short ones lived)", got, n+n/4)
	}
	time.Sleep(time.Until(soon) + 100*time.Millisecond)
	if _, err := s.DeleteExpiredRevocations(ctx, time.Now(), 1000); err != nil {
		t.Fatal(err)
	}
	if got := count(); got != n/4 {
		t.Errorf("after a cleanup the feed indexes hold %d members, want the %d in force", got, n/4)
	}
}
