package storetest

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/authkit-go/authkit"
	"github.com/authkit-go/authkit/issuer"
	"github.com/authkit-go/authkit/keys"
	"github.com/authkit-go/authkit/verifier"
)

// PairedStore is a store opened through two independent handles (two
// pools or clients on the same data, as two application servers hold):
// Open returns the issuer's handle and the verifier's.
type PairedStore struct {
	Name string
	Open func(b *testing.B) (issuerSide, verifierSide authkit.Store)
}

// BenchPropagation measures how long a revocation takes to reach a
// verifier that keeps a revocation mirror (authkit.WithRevocationMirror)
// over a second handle: each iteration issues a pair, verifies its access
// token (so the verify cache holds it), revokes the session through the
// issuer's handle and verifies until the token is refused. It reports the
// median, p99 and maximum in milliseconds ("p50-ms", "p99-ms", "max-ms");
// ns/op is the same figure plus the issue and revoke calls. Run it with
// -benchtime 200x for the 200 revocations docs/performance.md quotes.
func BenchPropagation(b *testing.B, stores []PairedStore) {
	for _, st := range stores {
		b.Run(st.Name, func(b *testing.B) {
			issSide, verSide := st.Open(b)
			k, err := keys.Generate(keys.HS256)
			if err != nil {
				b.Fatal(err)
			}
			set, err := keys.NewSet(k)
			if err != nil {
				b.Fatal(err)
			}
			iss, err := issuer.New(authkit.WithStore(issSide), authkit.WithKeys(set))
			if err != nil {
				b.Fatal(err)
			}
			v, err := verifier.New(authkit.WithStore(verSide), authkit.WithKeys(set), authkit.WithRevocationMirror(5*time.Second))
			if err != nil {
				b.Fatal(err)
			}
			b.Cleanup(func() { _ = v.Close() })
			ctx := context.Background()
			var took []time.Duration
			for b.Loop() {
				pair, err := iss.IssuePair(ctx, "alice")
				if err != nil {
					b.Fatal(err)
				}
				if _, err := v.Verify(ctx, pair.AccessToken); err != nil {
					b.Fatal(err)
				}
				if err := iss.Revoke(ctx, pair.RefreshToken); err != nil {
					b.Fatal(err)
				}
				start := time.Now()
				for {
					_, err := v.Verify(ctx, pair.AccessToken)
					if errors.Is(err, authkit.ErrTokenRevoked) {
						break
					}
					if err != nil {
						b.Fatal(err)
					}
					if time.Since(start) > 10*time.Second {
						b.Fatal("a revocation did not reach the verifier in 10 s")
					}
					time.Sleep(500 * time.Microsecond)
				}
				took = append(took, time.Since(start))
			}
			slices.Sort(took)
			ms := func(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
			b.ReportMetric(ms(took[len(took)/2]), "p50-ms")
			b.ReportMetric(ms(took[(len(took)*99)/100]), "p99-ms")
			b.ReportMetric(ms(took[len(took)-1]), "max-ms")
		})
	}
}
