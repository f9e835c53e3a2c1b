package redisstore_test

import (
	"context"
	"os"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/authkit-go/authkit"
	"github.com/authkit-go/authkit/backends/redisstore"
	"github.com/authkit-go/authkit/internal/testservers"
	"github.com/authkit-go/authkit/issuer"
	"github.com/authkit-go/authkit/keys"
	"github.com/authkit-go/authkit/verifier"
)

// TestHonorsDeadlines checks when the issuer and the verifier call the
// store on the request's goroutine (authkit.DeadlineStore): only with a
// go-redis client type the store knows and ContextTimeoutEnabled. That the
// calls then really end at the deadline through a stalled network is
// TestFaults' part (its issuer and verifier run under a 250 ms store
// timeout while the proxy swallows everything).
func TestHonorsDeadlines(t *testing.T) {
	addr := testservers.Redis(t)
	var ds authkit.DeadlineStore = newStore(t, standalone(t, addr), "deadline:")
	if !ds.HonorsDeadlines() {
		t.Error("a *redis.Client with ContextTimeoutEnabled: HonorsDeadlines = false")
	}
	plain := redis.NewClient(&redis.Options{Addr: addr})
	t.Cleanup(func() { _ = plain.Close() })
	if newStore(t, plain, "deadline:", redisstore.WithoutDeadlineCheck()).HonorsDeadlines() {
		t.Error("a client without ContextTimeoutEnabled (WithoutDeadlineCheck): HonorsDeadlines = true")
	}
	// A client type go-redis does not name (a wrapper): New trusts it, the
	// direct call does not.
	if newStore(t, wrappedClient{standalone(t, addr)}, "deadline:").HonorsDeadlines() {
		t.Error("a wrapped client: HonorsDeadlines = true")
	}
	if os.Getenv(testservers.RedisClusterEnv) != "" {
		if !newStore(t, cluster(t, testservers.RedisCluster(t)), "deadline:").HonorsDeadlines() {
			t.Error("a *redis.ClusterClient with ContextTimeoutEnabled: HonorsDeadlines = false")
		}
	}
}

// wrappedClient is a redis.UniversalClient of a type of its own.
type wrappedClient struct{ *redis.Client }

// goroutineOnly hides the store's HonorsDeadlines, so that the issuer
// calls it in a goroutine as it does a client it cannot trust.
type goroutineOnly struct{ *redisstore.Store }

func (goroutineOnly) HonorsDeadlines() bool { return false }

// BenchmarkDeadlinePath times calls over a standalone Redis as configured
// by default — the store called on the request's goroutine under its
// deadline — and with the same store called in a goroutine of its own, in
// turn in each iteration: issuer.Refresh, and a verifier's Verify of an
// HS256 token whose revocation check asks the store (no mirror, no cache).
func BenchmarkDeadlinePath(b *testing.B) {
	rdb := standalone(b, testservers.Redis(b))
	s := newStore(b, rdb, testservers.RedisPrefix(b, rdb))
	ctx := context.Background()
	paired := func(b *testing.B, direct, viaGoroutine func() error) {
		var td, tg time.Duration
		b.ReportAllocs()
		for b.Loop() {
			t0 := time.Now()
			if err := direct(); err != nil {
				b.Fatal(err)
			}
			t1 := time.Now()
			if err := viaGoroutine(); err != nil {
				b.Fatal(err)
			}
			td += t1.Sub(t0)
			tg += time.Since(t1)
		}
		n := float64(b.N)
		b.ReportMetric(td.Seconds()*1e6/n, "direct-µs/op")
		b.ReportMetric(tg.Seconds()*1e6/n, "goroutine-µs/op")
		b.ReportMetric(tg.Seconds()/td.Seconds(), "direct-speedup")
	}
	b.Run("Refresh", func(b *testing.B) {
		refresher := func(st authkit.Store) func() error {
			iss := rotationIssuer(b, st)
			p, err := iss.IssuePair(ctx, "user-1234567890")
			if err != nil {
				b.Fatal(err)
			}
			return func() (err error) {
				p, err = iss.Refresh(ctx, p.RefreshToken)
				return err
			}
		}
		paired(b, refresher(s), refresher(goroutineOnly{s}))
	})
	b.Run("Verify", func(b *testing.B) {
		k, err := keys.Generate(keys.HS256)
		if err != nil {
			b.Fatal(err)
		}
		set, err := keys.NewSet(k)
		if err != nil {
			b.Fatal(err)
		}
		iss, err := issuer.New(authkit.WithKeys(set), authkit.WithStore(s))
		if err != nil {
			b.Fatal(err)
		}
		tok, err := iss.IssueAccessToken(ctx, "user-1234567890")
		if err != nil {
			b.Fatal(err)
		}
		verifierOf := func(st authkit.Store) func() error {
			v, err := verifier.New(authkit.WithKeys(set), authkit.WithStore(st), authkit.WithVerifyCache(0))
			if err != nil {
				b.Fatal(err)
			}
			return func() error { _, err := v.Verify(ctx, tok.AccessToken); return err }
		}
		paired(b, verifierOf(s), verifierOf(goroutineOnly{s}))
	})
}
