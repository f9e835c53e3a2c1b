package redisstore_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/authkit-go/authkit"
	"github.com/authkit-go/authkit/internal/testservers"
)

// hangUpAfterPipeline cancels its context once the first pipeline (a
// creation's claims) has been answered: a caller hanging up between a
// creation's two round trips.
type hangUpAfterPipeline struct{ cancel context.CancelFunc }

func (hangUpAfterPipeline) DialHook(next redis.DialHook) redis.DialHook { return next }

func (hangUpAfterPipeline) ProcessHook(next redis.ProcessHook) redis.ProcessHook { return next }

func (h hangUpAfterPipeline) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		err := next(ctx, cmds)
		h.cancel()
		return err
	}
}

// A creation cut short after its claims leaves no key behind (found by
// review: the ID and hash lookup keys of a token that was never stored
// stayed for good, without expiry and outside every index).
func TestCreateAPITokenHangUpLeavesNoKeys(t *testing.T) {
	addr := testservers.Redis(t)
	admin := standalone(t, addr)
	prefix := testservers.RedisPrefix(t, admin)
	now := time.Now()
	for i, exp := range []time.Time{{}, now.Add(time.Hour)} {
		rdb := standalone(t, addr)
		s := newStore(t, rdb, prefix)
		if _, err := s.ListAPITokens(context.Background(), "alice", now); err != nil { // the store's first call's checks
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		rdb.AddHook(hangUpAfterPipeline{cancel})
		tok := authkit.APIToken{ID: fmt.Sprint("hung-up-", i), Subject: "alice", Name: "ci", CreatedAt: now, ExpiresAt: exp, Hash: authkit.TokenHash{1, byte(i)}}
		if err := s.CreateAPIToken(ctx, tok, 0, now); err == nil {
			t.Fatal("CreateAPIToken succeeded though its caller hung up after the claims")
		}
	}
	for _, pattern := range []string{prefix + "tok*", prefix + "gc*"} {
		keys, err := admin.Keys(context.Background(), pattern).Result()
		if err != nil {
			t.Fatal(err)
		}
		for _, k := range keys {
			t.Errorf("left behind: %s (PTTL %v)", k, admin.PTTL(context.Background(), k).Val())
		}
	}
}
