package storetest

import (
	"context"
	"testing"

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
// run: verify with the revocation check, API token verify, issue a pair,
// refresh, serial and parallel. The setups follow the verifier's and
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
			b.Run("VerifyAPIToken", func(b *testing.B) {
				s := st.Open(b)
				set := keySet(b, keys.HS256)
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
func keySet(t testing.TB, alg keys.Algorithm) *keys.Set {
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
	iss, err := issuer.New(authkit.WithKeys(keySet(b, alg)), authkit.WithStore(s))
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
	common := []authkit.Option{
		authkit.WithKeys(keySet(b, keys.HS256)),
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
	v, err := verifier.New(append(common, authkit.WithRevocationStore(s))...)
	if err != nil {
		b.Fatal(err)
	}
	return v, pair.AccessToken
}
