package storetest

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/authkit-go/authkit"
	"github.com/authkit-go/authkit/issuer"
	"github.com/authkit-go/authkit/verifier"
)

// recoverWithin bounds how long a verifier and an issuer may take to work
// again once a restarted server answers: reconnecting, and a mirror's
// feed catching up or taking a new snapshot.
const recoverWithin = 30 * time.Second

// MirrorAcrossRestart checks a verifier built with
// authkit.WithRevocationMirror(maxLag) over its own handle on a store that
// iss writes through another, while restart stops the server as a crash
// would and starts it again on the same data (storeReads counts the
// revocation checks that reach the backend):
//
//   - a session revoked before the restart is refused at every moment,
//     during the restart too (as revoked, or as ErrStoreUnavailable);
//   - a session revoked through iss once the server is back is never
//     accepted later than maxLag after the revocation returned, and is
//     refused as revoked;
//   - a session never revoked is accepted again, and the mirror becomes
//     fresh again (its checks stop reaching the store): its feed
//     reconnected after the crash, and the verifier did not stay closed.
func MirrorAcrossRestart(t *testing.T, iss *issuer.Issuer, v *verifier.Verifier, storeReads func() int64, maxLag time.Duration, restart func()) {
	t.Helper()
	ctx := t.Context()
	pair := func(sub string) authkit.TokenPair {
		p, err := iss.IssuePair(ctx, sub)
		if err != nil {
			t.Fatalf("IssuePair: %v", err)
		}
		return p
	}
	before, after, kept := pair("alice"), pair("bob"), pair("carol")
	fresh := func(when string) {
		t.Helper()
		deadline := time.Now().Add(recoverWithin)
		for {
			reads := storeReads()
			_, err := v.Verify(ctx, kept.AccessToken)
			if err == nil && storeReads() == reads {
				return
			}
			if err != nil && !errors.Is(err, authkit.ErrStoreUnavailable) {
				t.Fatalf("Verify of a token never revoked, %s: %v", when, err)
			}
			if time.Now().After(deadline) {
				t.Fatalf("%v %s, Verify of a token never revoked still fails or asks the store (last error: %v): the mirror did not become fresh", recoverWithin, when, err)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	fresh("after the verifier started")
	refusedWithin(t, v, iss, before, maxLag, "before the restart")

	// Watch the token revoked before the restart through the restart.
	var (
		stop     atomic.Bool
		accepted atomic.Int64
		checks   atomic.Int64
		odd      sync.Map // unexpected errors, by text
		wg       sync.WaitGroup
	)
	wg.Go(func() {
		for !stop.Load() {
			_, err := v.Verify(ctx, before.AccessToken)
			checks.Add(1)
			switch {
			case err == nil:
				accepted.Add(1)
			case errors.Is(err, authkit.ErrTokenRevoked), errors.Is(err, authkit.ErrStoreUnavailable):
			default:
				odd.Store(err.Error(), true)
			}
			time.Sleep(2 * time.Millisecond)
		}
	})
	restart()
	refusedWithin(t, v, iss, after, maxLag, "after the restart")
	fresh("after the restart")
	stop.Store(true)
	wg.Wait()
	if n := accepted.Load(); n > 0 {
		t.Errorf("a token whose session was revoked before the restart was accepted %d times in %d checks during and after it", n, checks.Load())
	}
	odd.Range(func(k, _ any) bool {
		t.Errorf("Verify of a revoked token during the restart: %v, want ErrTokenRevoked or ErrStoreUnavailable", k)
		return true
	})
	if _, err := v.Verify(ctx, before.AccessToken); !errors.Is(err, authkit.ErrTokenRevoked) {
		t.Errorf("Verify of the token revoked before the restart, once the mirror is fresh again: %v, want ErrTokenRevoked", err)
	}
	t.Logf("%d checks of the token revoked before the restart, none accepted", checks.Load())
}

// refusedWithin revokes p's session through iss (retried while the store
// is unavailable: its pool may still hold connections the restart broke)
// and checks that v refuses p's access token as revoked, never accepting
// it later than maxLag after the revocation returned.
func refusedWithin(t *testing.T, v *verifier.Verifier, iss *issuer.Issuer, p authkit.TokenPair, maxLag time.Duration, when string) {
	t.Helper()
	ctx := t.Context()
	for deadline := time.Now().Add(recoverWithin); ; {
		cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		err := iss.Revoke(cctx, p.RefreshToken)
		cancel()
		if err == nil {
			break
		}
		if !errors.Is(err, authkit.ErrStoreUnavailable) || time.Now().After(deadline) {
			t.Fatalf("Revoke %s: %v", when, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	revoked := time.Now()
	for {
		// Judged by when the check started: one that starts within maxLag
		// may answer from the copy, however long it then takes.
		asked := time.Now()
		_, err := v.Verify(ctx, p.AccessToken)
		switch {
		case errors.Is(err, authkit.ErrTokenRevoked):
			t.Logf("a session revoked %s was refused as revoked after %v", when, time.Since(revoked))
			return
		case err == nil && asked.Sub(revoked) > maxLag:
			t.Fatalf("the verifier accepted a token %v after its session was revoked (%s); WithRevocationMirror(%v)", asked.Sub(revoked), when, maxLag)
		case err != nil && !errors.Is(err, authkit.ErrStoreUnavailable):
			t.Fatalf("Verify of a token being revoked (%s): %v", when, err)
		}
		if time.Since(revoked) > recoverWithin {
			t.Fatalf("a session revoked %s was still not refused as revoked after %v (last: %v)", when, recoverWithin, err)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
