package issuer_test

import (
	"context"
	"testing"

	"github.com/authkit-go/authkit"
	"github.com/authkit-go/authkit/backends/memory"
	"github.com/authkit-go/authkit/issuer"
	"github.com/authkit-go/authkit/keys"
)

func benchIssuer(b *testing.B, alg keys.Algorithm) *issuer.Issuer {
	b.Helper()
	k, err := keys.Generate(alg)
	if err != nil {
		b.Fatal(err)
	}
	set, _ := keys.NewSet(k)
	iss, err := issuer.New(authkit.WithKeys(set), authkit.WithStore(memory.New()))
	if err != nil {
		b.Fatal(err)
	}
	return iss
}

func BenchmarkIssuePair(b *testing.B) {
	for _, alg := range []keys.Algorithm{keys.HS256, keys.EdDSA, keys.ES256} {
		b.Run(string(alg), func(b *testing.B) {
			iss := benchIssuer(b, alg)
			ctx := context.Background()
			b.ReportAllocs()
			for b.Loop() {
				if _, err := iss.IssuePair(ctx, "user-1234567890", issuer.WithScopes("read", "write")); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkRefresh(b *testing.B) {
	iss := benchIssuer(b, keys.EdDSA)
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
}

func BenchmarkRefreshParallel(b *testing.B) {
	iss := benchIssuer(b, keys.EdDSA)
	ctx := context.Background()
	b.ReportAllocs()
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
}
