package storetest

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/authkit-go/authkit"
	"github.com/authkit-go/authkit/backends/memory"
	"github.com/authkit-go/authkit/issuer"
	"github.com/authkit-go/authkit/keys"
	"github.com/authkit-go/authkit/verifier"
)

// NamedStore is a store the benchmarks run on: Name is the sub-benchmark's
// name and Open returns a fresh store for one benchmark.
type NamedStore struct {
	Name string
	Open func(b *testing.B) authkit.Store
}

// Memory returns the memory store, named "memory", to run beside a backend.
func Memory() NamedStore {
	return NamedStore{Name: "memory", Open: func(*testing.B) authkit.Store { return memory.New() }}
}

// BenchFlows measures what an application sees on each of stores, in one
// run: verify with the revocation check asked of the store, the same
// through the verifier's revocation mirror (Verify/HS256+mirror, with and
// without the verify cache), API token verify, issue a pair, refresh,
// serial and parallel. The setups follow the verifier's and
// issuer's own benchmarks (a realistic HS256 access token, a thousand
// unrelated revocations), so the memory figures line up with theirs. The
// sub-benchmarks are named store/flow, e.g. "postgres/Refresh/EdDSA".
func BenchFlows(b *testing.B, stores []NamedStore) {
	for _, st := range stores {
		b.Run(st.Name, func(b *testing.B) {
			b.Run("Verify/HS256+revocation", func(b *testing.B) {
				v, tok := benchVerifier(b, st.Open(b))
				ctx := context.Background()
				b.ReportAllocs()
				for b.Loop() {
					if p, err := v.Verify(ctx, tok); err != nil || p.Subject == "" {
						b.Fatal(err)
					}
				}
			})
			b.Run("Verify/HS256+revocation/Parallel", func(b *testing.B) {
				v, tok := benchVerifier(b, st.Open(b))
				ctx := context.Background()
				b.ReportAllocs()
				b.ResetTimer()
				b.RunParallel(func(pb *testing.PB) {
					for pb.Next() {
						if _, err := v.Verify(ctx, tok); err != nil {
							b.Error(err)
							return
						}
					}
				})
			})
			// The same verify with the revocation check answered by the
			// verifier's revocation mirror (authkit.WithRevocationMirror)
			// instead of a store call; the memory store has a feed too, so
			// its row is there as well. Every call must be answered from
			// the mirror: the benchmark fails if one reaches the store.
			// "nocache" turns the verify cache (on by default) off, so the
			// signature is checked on every call too.
			for _, fl := range []struct {
				name     string
				parallel bool
				extra    []authkit.Option
			}{
				{"Verify/HS256+mirror", false, nil},
				{"Verify/HS256+mirror/Parallel", true, nil},
				{"Verify/HS256+mirror/nocache", false, []authkit.Option{authkit.WithVerifyCache(0)}},
			} {
				b.Run(fl.name, func(b *testing.B) {
					v, tok, reads := benchMirrorVerifier(b, st.Open(b), fl.extra...)
					ctx := context.Background()
					before := reads.Load()
					b.ReportAllocs()
					b.ResetTimer()
					if fl.parallel {
						b.RunParallel(func(pb *testing.PB) {
							for pb.Next() {
								if _, err := v.Verify(ctx, tok); err != nil {
									b.Error(err)
									return
								}
							}
						})
					} else {
						for b.Loop() {
							if p, err := v.Verify(ctx, tok); err != nil || p.Subject == "" {
								b.Fatal(err)
							}
						}
					}
					b.StopTimer()
					if n := reads.Load() - before; n != 0 {
						b.Fatalf("%d revocation checks reached the store: the mirror was not fresh for the whole run", n)
					}
				})
			}
			b.Run("VerifyAPIToken", func(b *testing.B) {
				s := st.Open(b)
				set := KeySet(b, keys.HS256)
				iss, err := issuer.New(authkit.WithKeys(set), authkit.WithStore(s))
				if err != nil {
					b.Fatal(err)
				}
				v, err := verifier.New(authkit.WithKeys(set), authkit.WithStore(s))
				if err != nil {
					b.Fatal(err)
				}
				ctx := context.Background()
				secret, _, err := iss.CreateAPIToken(ctx, "user-1234567890", "ci", issuer.WithTokenScopes("read", "write"))
				if err != nil {
					b.Fatal(err)
				}
				for range 1000 {
					if _, _, err := iss.CreateAPIToken(ctx, "someone-else", "x"); err != nil {
						b.Fatal(err)
					}
				}
				if _, err := v.Verify(ctx, secret); err != nil { // the first use is recorded here, outside the loop
					b.Fatal(err)
				}
				b.ReportAllocs()
				for b.Loop() {
					if _, err := v.Verify(ctx, secret); err != nil {
						b.Fatal(err)
					}
				}
			})
			b.Run("IssuePair/HS256", func(b *testing.B) {
				iss := benchIssuer(b, keys.HS256, st.Open(b))
				ctx := context.Background()
				b.ReportAllocs()
				for b.Loop() {
					if _, err := iss.IssuePair(ctx, "user-1234567890", issuer.WithScopes("read", "write")); err != nil {
						b.Fatal(err)
					}
				}
			})
			b.Run("Refresh/EdDSA", func(b *testing.B) {
				iss := benchIssuer(b, keys.EdDSA, st.Open(b))
				ctx := context.Background()
				pair, err := iss.IssuePair(ctx, "user-1234567890", issuer.WithScopes("read", "write"))
				if err != nil {
					b.Fatal(err)
				}
				b.ReportAllocs()
				for b.Loop() {
					if pair, err = iss.Refresh(ctx, pair.RefreshToken); err != nil {
						b.Fatal(err)
					}
				}
			})
			b.Run("Refresh/EdDSA/Parallel", func(b *testing.B) {
				iss := benchIssuer(b, keys.EdDSA, st.Open(b))
				ctx := context.Background()
				b.ReportAllocs()
				b.ResetTimer()
				b.RunParallel(func(pb *testing.PB) {
					pair, err := iss.IssuePair(ctx, "user-1234567890")
					if err != nil {
						b.Error(err)
						return
					}
					for pb.Next() {
						if pair, err = iss.Refresh(ctx, pair.RefreshToken); err != nil {
							b.Error(err)
							return
						}
					}
				})
			})
		})
	}
}

// keySet returns a set of one fresh key of alg.
func KeySet(t testing.TB, alg keys.Algorithm) *keys.Set {
	t.Helper()
	k, err := keys.Generate(alg)
	if err != nil {
		t.Fatal(err)
	}
	set, err := keys.NewSet(k)
	if err != nil {
		t.Fatal(err)
	}
	return set
}

func benchIssuer(b *testing.B, alg keys.Algorithm, s authkit.Store) *issuer.Issuer {
	b.Helper()
	iss, err := issuer.New(authkit.WithKeys(KeySet(b, alg)), authkit.WithStore(s))
	if err != nil {
		b.Fatal(err)
	}
	return iss
}

// benchVerifier returns a verifier that checks s for revocations and a
// realistic HS256 access token (issuer, audience, three scopes, a
// session), with a thousand unrelated tokens revoked in s.
func benchVerifier(b *testing.B, s authkit.Store) (*verifier.Verifier, string) {
	b.Helper()
	return newBenchVerifier(b, s, s)
}

// benchMirrorVerifier is benchVerifier with a revocation mirror
// (authkit.WithRevocationMirror(5s)) over s, which must implement
// authkit.RevocationFeed, and extra options. It returns once the mirror
// answers the token's revocation check without a store call, with reads,
// the number of IsRevoked calls that have reached s through the verifier.
func benchMirrorVerifier(b *testing.B, s authkit.Store, extra ...authkit.Option) (*verifier.Verifier, string, *atomic.Int64) {
	b.Helper()
	feed, ok := s.(authkit.RevocationFeed)
	if !ok {
		b.Fatalf("%T does not implement authkit.RevocationFeed", s)
	}
	cs := &countingFeedStore{Store: s, feed: feed}
	v, tok := newBenchVerifier(b, s, cs, append([]authkit.Option{authkit.WithRevocationMirror(5 * time.Second)}, extra...)...)
	b.Cleanup(func() { _ = v.Close() })
	ctx := context.Background()
	for deadline := time.Now().Add(10 * time.Second); ; {
		before := cs.reads.Load()
		if _, err := v.Verify(ctx, tok); err != nil {
			b.Fatal(err)
		}
		if cs.reads.Load() == before {
			return v, tok, &cs.reads
		}
		if time.Now().After(deadline) {
			b.Fatal("the revocation mirror was not fresh 10 s after the verifier started: every Verify still asks the store")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// countingFeedStore is a store with a revocation feed that counts the
// IsRevoked calls reaching it, so that a benchmark can tell a mirror's
// answer from the store's.
type countingFeedStore struct {
	authkit.Store
	feed  authkit.RevocationFeed
	reads atomic.Int64
}

// IsRevoked counts the call and asks the store.
func (s *countingFeedStore) IsRevoked(ctx context.Context, q authkit.RevocationQuery, now time.Time) (bool, error) {
	s.reads.Add(1)
	return s.Store.IsRevoked(ctx, q, now)
}

// RevocationSnapshot is the store's.
func (s *countingFeedStore) RevocationSnapshot(ctx context.Context, now time.Time, fn func(authkit.Revocation) error) (authkit.FeedPosition, error) {
	return s.feed.RevocationSnapshot(ctx, now, fn)
}

// FollowRevocations is the store's.
func (s *countingFeedStore) FollowRevocations(ctx context.Context, after authkit.FeedPosition, heartbeat time.Duration, fn func([]authkit.Revocation, authkit.FeedPosition) error) error {
	return s.feed.FollowRevocations(ctx, after, heartbeat, fn)
}

// newBenchVerifier is benchVerifier with the issuer writing to s and the
// verifier checking revocations in vs (s, or a view of it), configured by
// extra on top.
func newBenchVerifier(b *testing.B, s authkit.Store, vs authkit.RevocationStore, extra ...authkit.Option) (*verifier.Verifier, string) {
	b.Helper()
	common := []authkit.Option{
		authkit.WithKeys(KeySet(b, keys.HS256)),
		authkit.WithIssuer("https://auth.example.com"),
		authkit.WithAudience("https://api.example.com"),
	}
	iss, err := issuer.New(append(common, authkit.WithStore(s))...)
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	pair, err := iss.IssuePair(ctx, "user-1234567890", issuer.WithScopes("read", "write", "profile"))
	if err != nil {
		b.Fatal(err)
	}
	for range 1000 {
		t, err := iss.IssueAccessToken(ctx, "someone-else")
		if err != nil {
			b.Fatal(err)
		}
		if err := iss.Revoke(ctx, t.AccessToken); err != nil {
			b.Fatal(err)
		}
	}
	v, err := verifier.New(append(append(common, authkit.WithRevocationStore(vs)), extra...)...)
	if err != nil {
		b.Fatal(err)
	}
	return v, pair.AccessToken
}

// ReportSketch reports the metrics of a paired benchmark that timed, over
// b.N iterations, a raw single write (raw in all) beside another operation
// (other in all): each one's mean in µs (raw-µs, sketch-µs) and the ratio
// of their throughputs (sketch/raw), the figure a side-by-side comparison
// asks for.
func ReportSketch(b *testing.B, raw, other time.Duration) {
	n := float64(b.N)
	b.ReportMetric(float64(raw.Microseconds())/n, "raw-µs")
	b.ReportMetric(float64(other.Microseconds())/n, "sketch-µs")
	b.ReportMetric(float64(raw)/float64(other), "sketch/raw")
}
