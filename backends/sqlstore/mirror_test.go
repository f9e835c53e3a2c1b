package sqlstore_test

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/authkit-go/authkit"
	"github.com/authkit-go/authkit/backends/sqlstore"
	"github.com/authkit-go/authkit/issuer"
	"github.com/authkit-go/authkit/keys"
	"github.com/authkit-go/authkit/verifier"
)

// TestRevocationMirror runs, on every dialect, a verifier with
// WithRevocationMirror over a Store with a pool of its own (as on another
// application server) while an issuer revokes through another: once the
// mirror's copy is fresh no revocation check reaches the database, and a
// revocation made through the issuer reaches the verifier through the feed
// within the mirror's maxLag.
func TestRevocationMirror(t *testing.T) {
	for _, b := range allBackends {
		t.Run(b.name, func(t *testing.T) {
			issStore, dsn := newStore(t, b)
			verStore, err := sqlstore.New(openDB(t, b, dsn))
			if err != nil {
				t.Fatal(err)
			}
			counted := &countingStore{Store: verStore}
			k, err := keys.Generate(keys.HS256)
			if err != nil {
				t.Fatal(err)
			}
			set, err := keys.NewSet(k)
			if err != nil {
				t.Fatal(err)
			}
			iss, err := issuer.New(authkit.WithStore(issStore), authkit.WithKeys(set))
			if err != nil {
				t.Fatal(err)
			}
			const maxLag = 2 * time.Second
			v, err := verifier.New(authkit.WithStore(counted), authkit.WithKeys(set), authkit.WithRevocationMirror(maxLag))
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = v.Close() })

			ctx := t.Context()
			pair, err := iss.IssuePair(ctx, "alice")
			if err != nil {
				t.Fatal(err)
			}
			for deadline := time.Now().Add(10 * time.Second); ; {
				before := counted.isRevoked.Load()
				if _, err := v.Verify(ctx, pair.AccessToken); err != nil {
					t.Fatalf("Verify of a fresh token: %v", err)
				}
				if counted.isRevoked.Load() == before {
					break
				}
				if time.Now().After(deadline) {
					t.Fatal("every Verify still asks the database 10 s after the verifier started: the mirror never became fresh")
				}
				time.Sleep(20 * time.Millisecond)
			}

			if err := iss.Revoke(ctx, pair.RefreshToken); err != nil { // the session, so a sid entry
				t.Fatal(err)
			}
			revoked := time.Now()
			for {
				before := counted.isRevoked.Load()
				_, err := v.Verify(ctx, pair.AccessToken)
				if errors.Is(err, authkit.ErrTokenRevoked) {
					if counted.isRevoked.Load() != before {
						t.Error("the revocation was seen by asking the database, not through the mirror's feed")
					}
					break
				}
				if err != nil {
					t.Fatalf("Verify of a token being revoked: %v", err)
				}
				if time.Since(revoked) > maxLag {
					t.Fatalf("the verifier still accepted a token %v after its session was revoked; WithRevocationMirror(%v)", time.Since(revoked), maxLag)
				}
				time.Sleep(10 * time.Millisecond)
			}
			t.Logf("a revocation reached the verifier's mirror in %v", time.Since(revoked))
		})
	}
}

// countingStore counts the revocation checks that reach the database; its
// feed is the sqlstore's own.
type countingStore struct {
	*sqlstore.Store
	isRevoked atomic.Int64
}

func (s *countingStore) IsRevoked(ctx context.Context, q authkit.RevocationQuery, now time.Time) (bool, error) {
	s.isRevoked.Add(1)
	return s.Store.IsRevoked(ctx, q, now)
}
