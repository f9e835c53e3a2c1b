package storetest

import (
	"context"
	"testing"
	"time"

	"github.com/authkit-go/authkit"
	"github.com/authkit-go/authkit/issuer"
	"github.com/authkit-go/authkit/keys"
	"github.com/authkit-go/authkit/verifier"
)

// hidden is a store with none of its optional interfaces: the issuer and
// the verifier call it in a goroutine of its own under the store deadline,
// as they do a store that is not an authkit.DeadlineStore.
type hidden struct{ authkit.Store }

// BenchDeadlinePath times calls over s (a store that honours deadlines,
// authkit.DeadlineStore) as configured by default — the store called on
// the request's goroutine with the deadline in its context — and with the
// same store called in a goroutine of its own, in turn in each iteration,
// so that load that comes and goes weighs on both alike: issuer.Refresh
// with an EdDSA key ("Refresh"), and Verify of an HS256 access token whose
// revocation check asks the store, with no mirror and no verify cache
// ("Verify"). It reports "direct-µs/op", "goroutine-µs/op" and their ratio
// "direct-speedup".
func BenchDeadlinePath(b *testing.B, s authkit.Store) {
	if ds, ok := s.(authkit.DeadlineStore); !ok || !ds.HonorsDeadlines() {
		b.Fatalf("%T does not honour deadlines: both paths would be the goroutine", s)
	}
	ctx := context.Background()
	b.Run("Refresh", func(b *testing.B) {
		set := KeySet(b, keys.EdDSA)
		refresher := func(st authkit.Store) func() error {
			iss, err := issuer.New(authkit.WithKeys(set), authkit.WithStore(st), authkit.WithIssuer("https://auth.example.com"), authkit.WithAudience("api"))
			if err != nil {
				b.Fatal(err)
			}
			p, err := iss.IssuePair(ctx, "user-1234567890", issuer.WithScopes("read", "write"))
			if err != nil {
				b.Fatal(err)
			}
			return func() (err error) {
				p, err = iss.Refresh(ctx, p.RefreshToken)
				return err
			}
		}
		paired(b, refresher(s), refresher(hidden{s}))
	})
	b.Run("Verify", func(b *testing.B) {
		set := KeySet(b, keys.HS256)
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
		paired(b, verifierOf(s), verifierOf(hidden{s}))
	})
}

// paired runs direct and viaGoroutine in turn until b is done and reports
// their times.
func paired(b *testing.B, direct, viaGoroutine func() error) {
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
