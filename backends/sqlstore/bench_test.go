package sqlstore_test

import (
	"context"
	"testing"

	"github.com/authkit-go/authkit"
	"github.com/authkit-go/authkit/backends/memory"
	"github.com/authkit-go/authkit/conformance"
	"github.com/authkit-go/authkit/issuer"
	"github.com/authkit-go/authkit/keys"
	"github.com/authkit-go/authkit/verifier"
)

// BenchmarkStore runs the store benchmarks every backend shares on
// PostgreSQL, through pgx and through lib/pq.
func BenchmarkStore(b *testing.B) {
	for _, bk := range []backend{pgxBackend, pqBackend} {
		b.Run(bk.name, func(b *testing.B) {
			conformance.Bench(b, func(b *testing.B) authkit.Store {
				s, _ := newStore(b, bk)
				return s
			})
		})
	}
}

// BenchmarkFlows measures what an application sees — verify with the
// revocation check, API token verify, issue a pair, refresh — with the
// memory store and with PostgreSQL (pgx) side by side, in one run. The
// setups are those of the verifier's and issuer's own benchmarks.
func BenchmarkFlows(b *testing.B) {
	stores := []struct {
		name string
		open func(b *testing.B) authkit.Store
	}{
		{"memory", func(*testing.B) authkit.Store { return memory.New() }},
		{"postgres", func(b *testing.B) authkit.Store { s, _ := newStore(b, pgxBackend); return s }},
	}
	for _, st := range stores {
		b.Run(st.name, func(b *testing.B) {
			b.Run("Verify/HS256+revocation", func(b *testing.B) {
				v, tok := verifySetup(b, st.open(b))
				ctx := context.Background()
				b.ReportAllocs()
				for b.Loop() {
					if p, err := v.Verify(ctx, tok); err != nil || p.Subject == "" {
						b.Fatal(err)
					}
				}
			})
			b.Run("Verify/HS256+revocation/Parallel", func(b *testing.B) {
				v, tok := verifySetup(b, st.open(b))
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
				s := st.open(b)
				set := keySet(b, keys.HS256)
				iss, _ := issuer.New(authkit.WithKeys(set), authkit.WithStore(s))
				v, _ := verifier.New(authkit.WithKeys(set), authkit.WithStore(s))
				ctx := context.Background()
				secret, _, err := iss.CreateAPIToken(ctx, "user-1234567890", "ci", issuer.WithTokenScopes("read", "write"))
				if err != nil {
					b.Fatal(err)
				}
				for range 1000 {
					if _, _, err := iss.CreateAPIToken(ctx, "other", "x"); err != nil {
						b.Fatal(err)
					}
				}
				if _, err := v.Verify(ctx, secret); err != nil { // records the first use outside the loop
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
				iss, _ := issuer.New(authkit.WithKeys(keySet(b, keys.HS256)), authkit.WithStore(st.open(b)))
				ctx := context.Background()
				b.ReportAllocs()
				for b.Loop() {
					if _, err := iss.IssuePair(ctx, "user-1234567890", issuer.WithScopes("read", "write")); err != nil {
						b.Fatal(err)
					}
				}
			})
			b.Run("Refresh/EdDSA", func(b *testing.B) {
				iss, _ := issuer.New(authkit.WithKeys(keySet(b, keys.EdDSA)), authkit.WithStore(st.open(b)))
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
				iss, _ := issuer.New(authkit.WithKeys(keySet(b, keys.EdDSA)), authkit.WithStore(st.open(b)))
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

func keySet(b *testing.B, alg keys.Algorithm) *keys.Set {
	b.Helper()
	k, err := keys.Generate(alg)
	if err != nil {
		b.Fatal(err)
	}
	set, err := keys.NewSet(k)
	if err != nil {
		b.Fatal(err)
	}
	return set
}

// verifySetup is the verifier benchmark's: a realistic HS256 access token
// (issuer, audience, three scopes, a session) and a thousand unrelated
// revoked tokens in the store.
func verifySetup(b *testing.B, s authkit.Store) (*verifier.Verifier, string) {
	b.Helper()
	set := keySet(b, keys.HS256)
	common := []authkit.Option{authkit.WithKeys(set), authkit.WithIssuer("https://auth.example.com"), authkit.WithAudience("https://api.example.com")}
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
		t, err := iss.IssueAccessToken(ctx, "other")
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
