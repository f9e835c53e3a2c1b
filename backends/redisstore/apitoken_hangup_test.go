package redisstore_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/authkit-go/authkit"
	"github.com/authkit-go/authkit/internal/testservers"
	"github.com/authkit-go/authkit/issuer"
	"github.com/authkit-go/authkit/keys"
)

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
		// The caller hangs up once the first pipeline (the claims) has
		// been answered, between the creation's two round trips.
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		hook := &afterFirstPipeline{fn: cancel}
		hook.armed.Store(true)
		rdb.AddHook(hook)
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

// lostScriptReply fails the first script call it sees after it is armed
// as a reset connection would, after Redis has run it: the reply is lost.
type lostScriptReply struct{ armed *atomic.Bool }

func (lostScriptReply) DialHook(next redis.DialHook) redis.DialHook { return next }

func (lostScriptReply) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return next
}

func (h lostScriptReply) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		err := next(ctx, cmd)
		if err == nil && strings.HasPrefix(cmd.Name(), "eval") && h.armed.CompareAndSwap(true, false) {
			err = errors.New("read tcp: connection reset by peer")
			cmd.SetErr(err)
		}
		return err
	}
}

// A creation whose script ran but whose reply was lost leaves no live
// token: the issuer revokes it, as for one cut short by its caller (found
// by review: the token stayed live and listed, and the next creation under
// a limit of 1 was refused).
func TestCreateAPITokenReplyLostLeavesNoLiveToken(t *testing.T) {
	rdb := standalone(t, testservers.Redis(t))
	s := newStore(t, rdb, testservers.RedisPrefix(t, rdb))
	k, err := keys.Generate(keys.EdDSA)
	if err != nil {
		t.Fatal(err)
	}
	set, err := keys.NewSet(k)
	if err != nil {
		t.Fatal(err)
	}
	iss, err := issuer.New(authkit.WithKeys(set), authkit.WithStore(s), authkit.WithAPITokenLimit(1))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if _, err := iss.APITokens(ctx, "alice"); err != nil { // the store's first call's checks
		t.Fatal(err)
	}
	var armed atomic.Bool
	armed.Store(true)
	rdb.AddHook(lostScriptReply{&armed})
	if _, _, err := iss.CreateAPIToken(ctx, "alice", "ci"); !errors.Is(err, authkit.ErrStoreUnavailable) {
		t.Fatalf("CreateAPIToken with its reply lost = %v, want ErrStoreUnavailable", err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		live, err := iss.APITokens(ctx, "alice")
		if err != nil {
			t.Fatal(err)
		}
		if len(live) == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("a creation whose reply was lost left %d live token(s)", len(live))
		}
		time.Sleep(20 * time.Millisecond) // the issuer revokes it in the background
	}
	if _, _, err := iss.CreateAPIToken(ctx, "alice", "ci2"); err != nil {
		t.Errorf("the next creation under a limit of 1 = %v, want success", err)
	}
}
