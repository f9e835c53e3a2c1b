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

// cuttableFeed is a memory store whose feed the test can cut (the call
// following it returns an error) or silence (calls then block without a
// word until their context ends).
type cuttableFeed struct {
	*memory.Store
	cut       chan struct{}
	silent    atomic.Bool
	isRevoked atomic.Int64
}

func (s *cuttableFeed) IsRevoked(ctx context.Context, q authkit.RevocationQuery, now time.Time) (bool, error) {
	s.isRevoked.Add(1)
	return s.Store.IsRevoked(ctx, q, now)
}

func (s *cuttableFeed) FollowRevocations(ctx context.Context, after authkit.FeedPosition, heartbeat time.Duration, fn func([]authkit.Revocation, authkit.FeedPosition) error) error {
	if s.silent.Load() {
		<-ctx.Done()
		return ctx.Err()
	}
	cctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var cut atomic.Bool
	go func() {
		select {
		case <-s.cut:
			cut.Store(true)
			cancel()
		case <-cctx.Done():
		}
	}()
	err := s.Store.FollowRevocations(cctx, after, heartbeat, fn)
	if cut.Load() {
		return errors.New("test: the feed was cut")
	}
	return err
}

// TestMirrorStats: MirrorStats reports a mirror's freshness, size,
// snapshots, reconnections and the checks the store answered, as its feed
// works, fails and goes silent; false without a mirror.
func TestMirrorStats(t *testing.T) {
	ctx := t.Context()
	k, err := keys.Generate(keys.HS256)
	if err != nil {
		t.Fatal(err)
	}
	set, err := keys.NewSet(k)
	if err != nil {
		t.Fatal(err)
	}
	store := &cuttableFeed{Store: memory.New(), cut: make(chan struct{})}
	iss, err := issuer.New(authkit.WithKeys(set), authkit.WithStore(store))
	if err != nil {
		t.Fatal(err)
	}
	const maxLag = time.Second
	ver, err := verifier.New(authkit.WithKeys(set), authkit.WithStore(store), authkit.WithRevocationMirror(maxLag))
	if err != nil {
		t.Fatal(err)
	}
	defer ver.Close()
	stats := func() verifier.MirrorStats {
		t.Helper()
		s, ok := ver.MirrorStats()
		if !ok {
			t.Fatal("MirrorStats of a verifier with WithRevocationMirror returned false")
		}
		return s
	}
	await := func(what string, cond func(verifier.MirrorStats) bool) verifier.MirrorStats {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for {
			s := stats()
			if cond(s) {
				return s
			}
			if time.Now().After(deadline) {
				t.Fatalf("10 s on, %s: %+v", what, s)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	started := time.Now()
	s := await("the mirror is not fresh", func(s verifier.MirrorStats) bool { return s.Fresh })
	if s.Snapshots != 1 || s.Reconnects != 0 || s.Entries != 0 || s.LastHeard.Before(started.Add(-time.Second)) || s.LastHeard.After(time.Now()) {
		t.Errorf("a fresh mirror over an empty store: %+v, want one snapshot, no reconnect, no entry, heard from since it started", s)
	}

	var pairs []authkit.TokenPair
	for _, sub := range []string{"alice", "bob"} {
		p, err := iss.IssuePair(ctx, sub)
		if err != nil {
			t.Fatal(err)
		}
		if err := iss.Revoke(ctx, p.RefreshToken); err != nil {
			t.Fatal(err)
		}
		pairs = append(pairs, p)
	}
	await("the copy does not hold the two sessions revoked", func(s verifier.MirrorStats) bool { return s.Entries == 2 })

	store.cut <- struct{}{}
	await("no reconnect after the feed was cut", func(s verifier.MirrorStats) bool { return s.Reconnects >= 1 && s.Fresh })

	store.silent.Store(true)
	store.cut <- struct{}{}
	s = await("the mirror of a silent feed is still fresh", func(s verifier.MirrorStats) bool { return !s.Fresh })
	before := s.StoreChecks
	if _, err := ver.Verify(ctx, pairs[0].AccessToken); !errors.Is(err, authkit.ErrTokenRevoked) {
		t.Errorf("Verify of a revoked token while the copy is stale: %v, want ErrTokenRevoked", err)
	}
	fresh, err := iss.IssuePair(ctx, "carol")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ver.Verify(ctx, fresh.AccessToken); err != nil {
		t.Errorf("Verify of a token never revoked while the copy is stale: %v", err)
	}
	if s := stats(); s.StoreChecks != before+1 {
		t.Errorf("StoreChecks went from %d to %d over a check answered by the copy (revoked) and one by the store; want one more", before, s.StoreChecks)
	}

	store.silent.Store(false)
	s = await("the mirror did not recover once the feed spoke again", func(s verifier.MirrorStats) bool { return s.Fresh })
	if s.Reconnects < 2 {
		t.Errorf("after a cut and a silence: %d reconnects, want at least 2", s.Reconnects)
	}

	ver.Close()
	if s := stats(); s.Fresh {
		t.Error("MirrorStats after Close: still Fresh")
	}

	plain, err := verifier.New(authkit.WithKeys(set), authkit.WithStore(store))
	if err != nil {
		t.Fatal(err)
	}
	if s, ok := plain.MirrorStats(); ok || s != (verifier.MirrorStats{}) {
		t.Errorf("MirrorStats without a mirror: %+v, %v; want zero, false", s, ok)
	}
	if _, ok := (*verifier.Verifier)(nil).MirrorStats(); ok {
		t.Error("MirrorStats of a nil *Verifier: true")
	}
}
