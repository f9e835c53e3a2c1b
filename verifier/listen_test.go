package verifier_test

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/authkit-go/authkit"
	"github.com/authkit-go/authkit/backends/memory"
	"github.com/authkit-go/authkit/internal/revmirror/feedtest"
	"github.com/authkit-go/authkit/issuer"
	"github.com/authkit-go/authkit/keys"
	"github.com/authkit-go/authkit/verifier"
)

// An issuer and a verifier with a mirror that share one store value see
// each other's revocations at once: the store's listeners
// (authkit.RevocationListeners) tell the mirror before the revoking call
// returns. The feed is paused after the mirror's first snapshot, so that
// only the listener can bring the revocation while the copy is fresh; a
// verifier on another handle of the same data, which has no listener of
// the writer's handle, still accepts the token then.
func TestRevocationMirrorOwnWrites(t *testing.T) {
	ctx := context.Background()
	revs, common, iss := ownWritesSetup(t)
	counted := map[*verifier.Verifier]*countedFeed{}
	mirrored := func(s *feedtest.Store) *verifier.Verifier {
		c := &countedFeed{Store: s}
		v, err := verifier.New(append(common, authkit.WithRevocationStore(c), authkit.WithRevocationMirror(time.Minute))...)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { v.Close() })
		counted[v] = c
		return v
	}
	same, other := mirrored(revs), mirrored(revs.Peer())

	tokens := make([]string, 3)
	for i := range tokens {
		pair, err := iss.IssueAccessToken(ctx, "alice")
		if err != nil {
			t.Fatal(err)
		}
		tokens[i] = pair.AccessToken
	}
	// Both copies fresh: the feed has delivered a heartbeat to each.
	waitFresh(t, tokens[0], counted)
	revs.Pause(true)
	t.Cleanup(func() { revs.Pause(false) })

	revoke := []func() error{
		func() error { return iss.Revoke(ctx, tokens[0]) },
		func() error { return iss.RevokeSubject(ctx, "alice") },
	}
	for i, r := range revoke {
		if err := r(); err != nil {
			t.Fatal(err)
		}
		if _, err := same.Verify(ctx, tokens[i]); !errors.Is(err, authkit.ErrTokenRevoked) {
			t.Errorf("revocation %d: the verifier sharing the issuer's store value: %v right after the revocation returned, want ErrTokenRevoked", i, err)
		}
	}
	if _, err := same.Verify(ctx, tokens[2]); !errors.Is(err, authkit.ErrTokenRevoked) {
		t.Errorf("a token of the subject after RevokeSubject: %v, want ErrTokenRevoked", err)
	}
	// The other handle hears only through the feed, paused here: its
	// fresh copy still lets the token through (within maxLag, as
	// documented). This is what makes the check above mean something.
	if _, err := other.Verify(ctx, tokens[0]); err != nil {
		t.Errorf("the verifier on another handle, with the feed paused: %v, want the token still accepted from its fresh copy", err)
	}
}

// countedFeed counts the IsRevoked calls that reach the store.
type countedFeed struct {
	*feedtest.Store
	n atomic.Int64
}

func (c *countedFeed) IsRevoked(ctx context.Context, q authkit.RevocationQuery, now time.Time) (bool, error) {
	c.n.Add(1)
	return c.Store.IsRevoked(ctx, q, now)
}

// waitFresh waits until each verifier answers token from its copy,
// without asking its store.
func waitFresh(t *testing.T, token string, vs map[*verifier.Verifier]*countedFeed) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); ; {
		fresh := true
		for v, c := range vs {
			before := c.n.Load()
			if _, err := v.Verify(context.Background(), token); err != nil {
				t.Fatal(err)
			}
			if c.n.Load() != before {
				fresh = false
			}
		}
		if fresh {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("the mirrors did not become fresh within 10 s")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// gatedListeners holds back ListenRevocations until gate is closed, so
// that a test can order a write between the mirror's first snapshot and
// the verifier's listening.
type gatedListeners struct {
	*feedtest.Store
	gate chan struct{}
}

func (g *gatedListeners) ListenRevocations(fn func(authkit.Revocation)) (stop func()) {
	// A verifier that listens before its first snapshot waits here for
	// nothing: no snapshot can close the gate before it listens.
	select {
	case <-g.gate:
	case <-time.After(time.Second):
	}
	return g.Store.ListenRevocations(fn)
}

// A revocation whose call returns while verifier.New is building the
// mirror's first copy — after the snapshot has read the store, before the
// verifier listens — still counts the moment New returns: the mirror
// listens before its first snapshot, so no write falls between the two.
// The feed is paused from the snapshot on, so only the listener can bring
// it while the copy is fresh.
func TestRevocationMirrorListensBeforeFirstSnapshot(t *testing.T) {
	ctx := context.Background()
	revs, common, iss := ownWritesSetup(t)
	pair, err := iss.IssueAccessToken(ctx, "alice")
	if err != nil {
		t.Fatal(err)
	}
	g := &gatedListeners{Store: revs, gate: make(chan struct{})}
	revoked := make(chan error, 1)
	var once atomic.Bool
	revs.OnSnapshot(func() {
		if !once.CompareAndSwap(false, true) {
			return
		}
		revs.Pause(true)
		// The snapshot has read the store; the revocation is not in it.
		revoked <- iss.Revoke(ctx, pair.AccessToken)
		close(g.gate)
	})
	t.Cleanup(func() { revs.Pause(false) })
	c := &countedFeed{Store: revs}
	v, err := verifier.New(append(common,
		authkit.WithRevocationStore(&struct {
			*countedFeed
			authkit.RevocationListeners
		}{c, g}),
		authkit.WithRevocationMirror(time.Minute))...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { v.Close() })
	select {
	case err := <-revoked:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the mirror took no snapshot within 10 s")
	}
	// Wait until the copy answers (fresh), then ask.
	for deadline := time.Now().Add(10 * time.Second); ; {
		before := c.n.Load()
		_, err := v.Verify(ctx, pair.AccessToken)
		if c.n.Load() == before {
			if !errors.Is(err, authkit.ErrTokenRevoked) {
				t.Fatalf("a token revoked before verifier.New returned: %v from the mirror's copy, want ErrTokenRevoked", err)
			}
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("the mirror did not become fresh within 10 s")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// ownWritesSetup returns a reference feed store, the options every
// verifier and issuer of the listener tests share (keys, a memory store
// for the rest), and an issuer that revokes through the feed store.
func ownWritesSetup(t *testing.T) (*feedtest.Store, []authkit.Option, *issuer.Issuer) {
	t.Helper()
	key, err := keys.Generate(keys.HS256)
	if err != nil {
		t.Fatal(err)
	}
	set, err := keys.NewSet(key)
	if err != nil {
		t.Fatal(err)
	}
	revs := feedtest.New()
	// Tokens carry iat to the millisecond; one issued in the store's first
	// millisecond would predate its epoch (authkit.ErrDataLoss).
	time.Sleep(2 * time.Millisecond)
	common := []authkit.Option{authkit.WithKeys(set), authkit.WithStore(memory.New())}
	iss, err := issuer.New(append(common, authkit.WithRevocationStore(revs))...)
	if err != nil {
		t.Fatal(err)
	}
	return revs, common, iss
}
