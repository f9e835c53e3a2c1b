package sqlstore_test

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/authkit-go/authkit"
	"github.com/authkit-go/authkit/backends/sqlstore"
	"github.com/authkit-go/authkit/backends/sqlstore/pgxlisten"
	"github.com/authkit-go/authkit/internal/storetest"
	"github.com/authkit-go/authkit/issuer"
	"github.com/authkit-go/authkit/keys"
	"github.com/authkit-go/authkit/verifier"
)

// TestRevocationMirror runs, on every dialect, a verifier with
// WithRevocationMirror over a Store with a pool of its own (as on another
// application server) while an issuer revokes through another: once the
// mirror's copy is fresh no revocation check reaches the database, and a
// revocation made through the issuer reaches the verifier through the feed
// within the mirror's maxLag. "postgres-pgx-pushed" runs the verifier's
// store with WithNotifications, as authkit serve does.
func TestRevocationMirror(t *testing.T) {
	t.Parallel()
	type variant struct {
		name string
		b    backend
		opts []sqlstore.Option
	}
	variants := []variant{{"postgres-pgx-pushed", pgxBackend, []sqlstore.Option{sqlstore.WithNotifications(pgxlisten.New())}}}
	for _, b := range allBackends {
		variants = append(variants, variant{b.name, b, nil})
	}
	for _, vr := range variants {
		b := vr.b
		t.Run(vr.name, func(t *testing.T) {
			const maxLag = 2 * time.Second
			iss, v, counted := mirrorPair(t, b, maxLag, vr.opts)
			storetest.MirrorPropagates(t, iss, v, counted.isRevoked.Load, maxLag)
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

// mirrorPair returns an issuer over a new store of b, and a verifier with
// WithRevocationMirror(maxLag) over a pool of its own on the same database
// (as on another application server), opened with opts, whose revocation
// checks that reach the database counted counts. extra are more verifier
// options.
func mirrorPair(t *testing.T, b backend, maxLag time.Duration, opts []sqlstore.Option, extra ...authkit.Option) (*issuer.Issuer, *verifier.Verifier, *countingStore) {
	t.Helper()
	issStore, dsn := newStore(t, b)
	verStore, err := sqlstore.New(openDB(t, b, dsn), opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = verStore.Close() })
	counted := &countingStore{Store: verStore}
	set := storetest.KeySet(t, keys.HS256)
	iss, err := issuer.New(authkit.WithStore(issStore), authkit.WithKeys(set))
	if err != nil {
		t.Fatal(err)
	}
	v, err := verifier.New(append([]authkit.Option{authkit.WithStore(counted), authkit.WithKeys(set), authkit.WithRevocationMirror(maxLag)}, extra...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = v.Close() })
	return iss, v, counted
}
