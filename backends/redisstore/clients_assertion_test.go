package redisstore_test

import (
	"errors"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/authkit-go/authkit"
	"github.com/authkit-go/authkit/backends/redisstore"
	"github.com/authkit-go/authkit/internal/testservers"
)

// assertionKey is where the layout puts client id's record of assertion h.
func assertionKey(prefix, id string, h authkit.TokenHash) string {
	return prefix + "ca:{c" + b64(id) + "}:" + b64(string(h[:]))
}

// assertionTopologies is clientTopologies with the prefix the stores use.
func assertionTopologies(t *testing.T, run func(t *testing.T, admin redis.UniversalClient, prefix string, a, b *redisstore.Store)) {
	t.Run("Standalone", func(t *testing.T) {
		addr := testservers.Redis(t)
		admin := standalone(t, addr)
		p := testservers.RedisPrefix(t, admin)
		run(t, admin, p, newStore(t, standalone(t, addr), p), newStore(t, standalone(t, addr), p))
	})
	t.Run("Cluster", func(t *testing.T) {
		addrs := testservers.RedisCluster(t)
		admin := cluster(t, addrs)
		p := testservers.RedisPrefix(t, admin)
		run(t, admin, p, newStore(t, cluster(t, addrs), p), newStore(t, cluster(t, addrs), p))
	})
}

// A used assertion is one key in its client's slot with a native expiry
// at its expiresAt (plus the margin), first use wins through any handle,
// and a refused use stores nothing.
func TestClientAssertionLayout(t *testing.T) {
	assertionTopologies(t, func(t *testing.T, admin redis.UniversalClient, p string, a, b *redisstore.Store) {
		ctx := t.Context()
		if err := a.CreateClient(ctx, testClient("app", clientsT0)); err != nil {
			t.Fatal(err)
		}
		h, exp := codeHash("jti-1"), clientsT0.Add(5*time.Minute)
		if err := a.UseClientAssertion(ctx, "app", h, exp, clientsT0); err != nil {
			t.Fatalf("first use: %v", err)
		}
		if err := b.UseClientAssertion(ctx, "app", h, exp, clientsT0.Add(time.Second)); !errors.Is(err, authkit.ErrTokenReused) {
			t.Fatalf("second use through another handle: %v, want ErrTokenReused", err)
		}
		key := assertionKey(p, "app", h)
		at, err := admin.PExpireTime(ctx, key).Result()
		if err != nil {
			t.Fatal(err)
		}
		// At least the margin past the assertion's exp (found by mutation
		// testing: a record without the margin passed), so that a caller
		// whose clock runs behind the server's cannot replay it.
		if ms := at.Milliseconds(); ms < exp.Add(redisstore.DefaultExpiryMargin).UnixMilli() || ms > exp.Add(redisstore.DefaultExpiryMargin+time.Second).UnixMilli() {
			t.Errorf("the record %s expires at %v, want at %v plus the margin", key, time.UnixMilli(ms).UTC(), exp)
		}
		if cm, err1 := admin.ClusterKeySlot(ctx, key).Result(); err1 == nil {
			if cs, err2 := admin.ClusterKeySlot(ctx, p+"cl:{c"+b64("app")+"}").Result(); err2 != nil || cs != cm {
				t.Errorf("the record is in slot %d, its client in %d (%v): one script needs both", cm, cs, err2)
			}
		}
		ghost := codeHash("ghost")
		if err := a.UseClientAssertion(ctx, "ghost", ghost, exp, clientsT0); !errors.Is(err, authkit.ErrNotFound) {
			t.Errorf("use for a client never stored: %v, want ErrNotFound", err)
		}
		if n, err := admin.Exists(ctx, assertionKey(p, "ghost", ghost)).Result(); err != nil || n != 0 {
			t.Errorf("a use refused for its unknown client left a record (%d, %v)", n, err)
		}
		if err := a.UseClientAssertion(ctx, "app", codeHash("old"), clientsT0, clientsT0); !errors.Is(err, authkit.ErrInvalidRequest) {
			t.Errorf("use of an assertion expiring at now: %v, want ErrInvalidRequest", err)
		}
		if n, err := admin.Exists(ctx, assertionKey(p, "app", codeHash("old"))).Result(); err != nil || n != 0 {
			t.Errorf("a refused expired assertion left a record (%d, %v)", n, err)
		}
		// Past its expiresAt the record is absent even while its key lives
		// on (the margin): a new use with a new expiry records again.
		if err := b.UseClientAssertion(ctx, "app", h, exp.Add(time.Minute), exp); err != nil {
			t.Errorf("use at the old record's expiresAt: %v, want nil", err)
		}
		if err := a.UseClientAssertion(ctx, "app", h, exp.Add(time.Minute), exp.Add(time.Second)); !errors.Is(err, authkit.ErrTokenReused) {
			t.Errorf("use after the record was replaced: %v, want ErrTokenReused", err)
		}
		// Deleting the client keeps the record until its expiry, so that
		// the ID registered again cannot replay it; the use is refused.
		if err := a.DeleteClient(ctx, "app"); err != nil {
			t.Fatal(err)
		}
		if err := b.UseClientAssertion(ctx, "app", codeHash("jti-2"), exp, clientsT0); !errors.Is(err, authkit.ErrNotFound) {
			t.Errorf("use for a deleted client: %v, want ErrNotFound", err)
		}
		if err := b.CreateClient(ctx, testClient("app", clientsT0)); err != nil {
			t.Fatal(err)
		}
		if err := b.UseClientAssertion(ctx, "app", h, exp.Add(time.Minute), exp.Add(2*time.Second)); !errors.Is(err, authkit.ErrTokenReused) {
			t.Errorf("use, for the ID registered again, of an assertion the deleted client used: %v, want ErrTokenReused", err)
		}
	})
}

// A UseClientAssertion that Redis runs twice (a lost reply and the
// resend) records once and answers nil; a later use is reuse.
func TestRetriedClientAssertion(t *testing.T) {
	addr := testservers.Redis(t)
	plain := standalone(t, addr)
	prefix := testservers.RedisPrefix(t, plain)
	replayed := standalone(t, addr)
	replayed.AddHook(replayHook{})
	s, ref := newStore(t, replayed, prefix), newStore(t, plain, prefix)
	ctx := t.Context()
	if err := ref.CreateClient(ctx, testClient("app", clientsT0)); err != nil {
		t.Fatal(err)
	}
	h, exp := codeHash("jti"), clientsT0.Add(time.Minute)
	if err := s.UseClientAssertion(ctx, "app", h, exp, clientsT0); err != nil {
		t.Fatalf("a replayed UseClientAssertion: %v, want nil (a retry is not reuse)", err)
	}
	if err := ref.UseClientAssertion(ctx, "app", h, exp, clientsT0); !errors.Is(err, authkit.ErrTokenReused) {
		t.Fatalf("a second UseClientAssertion: %v, want ErrTokenReused", err)
	}
}
