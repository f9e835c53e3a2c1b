package verifier_test

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/authkit-go/authkit"
	"github.com/authkit-go/authkit/backends/memory"
	"github.com/authkit-go/authkit/issuer"
	"github.com/authkit-go/authkit/keys"
	"github.com/authkit-go/authkit/verifier"
)

// TestRevocationMirror: a verifier with WithRevocationMirror refuses a
// token once the issuer revokes it through the store (not through the
// verifier), for every revocation kind, with the verify cache on; and a
// store without a feed is refused at New.
func TestRevocationMirror(t *testing.T) {
	var fellBack int64
	ctx := context.Background()
	key, err := keys.Generate(keys.HS256)
	if err != nil {
		t.Fatal(err)
	}
	set, err := keys.NewSet(key)
	if err != nil {
		t.Fatal(err)
	}
	store := &countingStore{Store: memory.New()}
	iss, err := issuer.New(authkit.WithKeys(set), authkit.WithStore(store))
	if err != nil {
		t.Fatal(err)
	}
	ver, err := verifier.New(authkit.WithKeys(set), authkit.WithStore(store), authkit.WithRevocationMirror(2*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ver.Close() })

	// Once the mirror holds its snapshot, verification asks the store
	// nothing: 100 verifications, no IsRevoked reaches it.
	warm, err := iss.IssuePair(ctx, "warm")
	if err != nil {
		t.Fatal(err)
	}
	awaitMirrorFresh(t, ver, store, warm.AccessToken)
	t.Cleanup(func() {
		// Every refusal below came from the copy: no check fell back.
		if n := store.isRevoked.Load(); n > fellBack {
			t.Errorf("the store answered %d revocation checks after the mirror was fresh; want them all from the copy", n-fellBack)
		}
	})
	fellBack = store.isRevoked.Load()

	refused := func(t *testing.T, token string) {
		t.Helper()
		deadline := time.Now().Add(5 * time.Second)
		for {
			_, err := ver.Verify(ctx, token)
			if errors.Is(err, authkit.ErrTokenRevoked) {
				return
			}
			if err != nil {
				t.Fatalf("Verify: %v, want ErrTokenRevoked", err)
			}
			if time.Now().After(deadline) {
				t.Fatal("the revocation did not reach the verifier's mirror within 5 s")
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
	pair := func(t *testing.T, subject string) authkit.TokenPair {
		t.Helper()
		p, err := iss.IssuePair(ctx, subject)
		if err != nil {
			t.Fatal(err)
		}
		for range 2 { // the second answer comes from the verify cache
			if _, err := ver.Verify(ctx, p.AccessToken); err != nil {
				t.Fatalf("Verify before revocation: %v", err)
			}
		}
		return p
	}

	t.Run("token", func(t *testing.T) {
		p := pair(t, "alice")
		if err := iss.Revoke(ctx, p.AccessToken); err != nil {
			t.Fatal(err)
		}
		refused(t, p.AccessToken)
	})
	t.Run("session", func(t *testing.T) {
		p := pair(t, "bob")
		if err := iss.Revoke(ctx, p.RefreshToken); err != nil {
			t.Fatal(err)
		}
		refused(t, p.AccessToken)
	})
	t.Run("reuse", func(t *testing.T) {
		p := pair(t, "carol")
		if _, err := iss.Refresh(ctx, p.RefreshToken); err != nil {
			t.Fatal(err)
		}
		if _, err := iss.Refresh(ctx, p.RefreshToken); !errors.Is(err, authkit.ErrTokenReused) {
			t.Fatalf("second Refresh: %v, want ErrTokenReused", err)
		}
		refused(t, p.AccessToken)
	})
	t.Run("subject", func(t *testing.T) {
		p := pair(t, "dave")
		if err := iss.RevokeSubject(ctx, "dave"); err != nil {
			t.Fatal(err)
		}
		refused(t, p.AccessToken)
	})

	t.Run("no feed", func(t *testing.T) {
		noFeed := struct{ authkit.Store }{memory.New()} // hides the feed
		if _, err := verifier.New(authkit.WithKeys(set), authkit.WithStore(noFeed), authkit.WithRevocationMirror(time.Second)); !errors.Is(err, authkit.ErrInvalidConfig) {
			t.Fatalf("New with a store without a feed: %v, want ErrInvalidConfig", err)
		}
	})
}

// countingStore counts the revocation checks that reach the store; its
// feed is the memory store's own.
type countingStore struct {
	*memory.Store
	isRevoked atomic.Int64
}

func (s *countingStore) IsRevoked(ctx context.Context, q authkit.RevocationQuery, now time.Time) (bool, error) {
	s.isRevoked.Add(1)
	return s.Store.IsRevoked(ctx, q, now)
}

// A verifier and issuer on a clock behind the wall clock (WithClock, as in
// tests) keep revocations in the mirror: the entries' expiry is judged by
// the clock the verifier asks with, not by the wall clock, which would
// find every entry long expired and drop it, turning revocation off. Both
// ways in are checked: the snapshot (a revocation made before the
// verifier started) and a write heard in process.
func TestRevocationMirrorWithClock(t *testing.T) {
	ctx := context.Background()
	set := hmacSet(t, hmacKey(t))
	clock := func() time.Time { return time.Date(2024, 3, 1, 12, 0, 0, 0, time.UTC) }
	store := &countingStore{Store: memory.New()}
	iss, err := issuer.New(authkit.WithKeys(set), authkit.WithStore(store), authkit.WithClock(clock))
	if err != nil {
		t.Fatal(err)
	}
	early, err := iss.IssuePair(ctx, "alice")
	if err != nil {
		t.Fatal(err)
	}
	if err := iss.Revoke(ctx, early.AccessToken); err != nil {
		t.Fatal(err)
	}
	ver, err := verifier.New(authkit.WithKeys(set), authkit.WithStore(store), authkit.WithClock(clock),
		authkit.WithRevocationMirror(2*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ver.Close() })
	late, err := iss.IssuePair(ctx, "bob")
	if err != nil {
		t.Fatal(err)
	}
	awaitMirrorFresh(t, ver, store, late.AccessToken)
	if err := iss.Revoke(ctx, late.AccessToken); err != nil {
		t.Fatal(err)
	}
	before := store.isRevoked.Load()
	for name, tok := range map[string]string{"revoked before the snapshot": early.AccessToken, "revoked in process": late.AccessToken} {
		if _, err := ver.Verify(ctx, tok); !errors.Is(err, authkit.ErrTokenRevoked) {
			t.Errorf("%s, on a clock behind the wall clock: %v, want ErrTokenRevoked", name, err)
		}
	}
	if n := store.isRevoked.Load() - before; n != 0 {
		t.Errorf("the store answered %d checks; want the fresh copy to", n)
	}
}

// awaitMirrorFresh verifies token (which must verify) through ver until a
// round of 100 verifications asks store nothing: the mirror answers.
func awaitMirrorFresh(t *testing.T, ver *verifier.Verifier, store *countingStore, token string) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); ; {
		before := store.isRevoked.Load()
		for range 100 {
			if _, err := ver.Verify(context.Background(), token); err != nil {
				t.Fatal(err)
			}
		}
		if store.isRevoked.Load() == before {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("after 5 s the verifier still asks the store on every verification: the mirror never became fresh")
		}
		time.Sleep(10 * time.Millisecond)
	}
}
