package issuer_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"errors"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/authkit-go/authkit"
	"github.com/authkit-go/authkit/backends/memory"
	"github.com/authkit-go/authkit/issuer"
	"github.com/authkit-go/authkit/keys"
)

// lookupFails is a memory store whose LookupRefresh fails as an
// unreachable store while fail is set.
type lookupFails struct {
	*memory.Store
	fail atomic.Bool
}

func (s *lookupFails) LookupRefresh(ctx context.Context, h authkit.TokenHash) (authkit.RefreshRecord, error) {
	if s.fail.Load() {
		return authkit.RefreshRecord{}, fmt.Errorf("lookupFails: %w", authkit.ErrStoreUnavailable)
	}
	return s.Store.LookupRefresh(ctx, h)
}

// TestGraceRetryDuringBlip: a client's retry inside WithReuseGrace (its
// first response lost) while the store, a refresh check or the signer
// cannot answer is refused with that failure, not taken for reuse: the
// session is not revoked, no reuse event fires, and once the blip is over
// the same retry gets the successor and the successor refreshes (found by
// review: each of the three revoked the session).
func TestGraceRetryDuringBlip(t *testing.T) {
	ctx := context.Background()
	// after checks what the blip left: the session live, the retry
	// answered with the successor, the successor current.
	after := func(t *testing.T, iss *issuer.Issuer, old string, q authkit.TokenPair) {
		t.Helper()
		again, err := iss.Refresh(ctx, old)
		if err != nil {
			t.Fatalf("the retry inside the window once the blip is over: %v, want the successor", err)
		}
		if again.RefreshToken != q.RefreshToken {
			t.Fatal("the retry inside the window got another refresh token than the successor")
		}
		if _, err := iss.Refresh(ctx, q.RefreshToken); err != nil {
			t.Fatalf("Refresh of the successor after the blip: %v", err)
		}
	}
	// rotated logs alice in and rotates her first token once (the
	// response the client loses), with opts on the refresh.
	rotated := func(t *testing.T, iss *issuer.Issuer, opts ...issuer.RefreshOption) (p, q authkit.TokenPair) {
		t.Helper()
		p, err := iss.IssuePair(ctx, "alice", issuer.WithScopes("read"))
		if err != nil {
			t.Fatal(err)
		}
		if q, err = iss.Refresh(ctx, p.RefreshToken, opts...); err != nil {
			t.Fatal(err)
		}
		return p, q
	}
	notReuse := func(t *testing.T, err error, want error) {
		t.Helper()
		if !errors.Is(err, want) || errors.Is(err, authkit.ErrTokenReused) || errors.Is(err, authkit.ErrTokenRevoked) {
			t.Fatalf("the retry inside the window during the blip: %v, want %v and not reuse", err, want)
		}
	}

	t.Run("check", func(t *testing.T) {
		f := newFixture(t, authkit.WithReuseGrace(10*time.Second))
		var down atomic.Bool
		check := issuer.WithRefreshCheck(func(ctx context.Context, s authkit.Session) ([]string, error) {
			if down.Load() {
				return nil, fmt.Errorf("directory: %w", authkit.ErrStoreUnavailable)
			}
			return s.Scopes, nil
		})
		p, q := rotated(t, f.iss, check)
		down.Store(true)
		_, err := f.iss.Refresh(ctx, p.RefreshToken, check)
		notReuse(t, err, authkit.ErrStoreUnavailable)
		down.Store(false)
		after(t, f.iss, p.RefreshToken, q)
	})

	t.Run("store", func(t *testing.T) {
		st := &lookupFails{Store: memory.New()}
		iss, _, _, _ := fixtureOver(t, st, authkit.WithReuseGrace(10*time.Second))
		p, q := rotated(t, iss)
		st.fail.Store(true)
		_, err := iss.Refresh(ctx, p.RefreshToken)
		notReuse(t, err, authkit.ErrStoreUnavailable)
		st.fail.Store(false)
		after(t, iss, p.RefreshToken, q)
	})

	t.Run("signer", func(t *testing.T) {
		inner, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		hsm := &hsmSigner{inner: inner}
		k, err := keys.NewSigner(keys.ES256, hsm, "")
		if err != nil {
			t.Fatal(err)
		}
		set, _ := keys.NewSet(k)
		var reuse atomic.Int64
		iss, err := issuer.New(authkit.WithKeys(set), authkit.WithStore(memory.New()), authkit.WithReuseGrace(10*time.Second),
			authkit.WithEventHook(func(_ context.Context, e authkit.Event) {
				if e.Type == authkit.EventReuseDetected {
					reuse.Add(1)
				}
			}))
		if err != nil {
			t.Fatal(err)
		}
		p, q := rotated(t, iss)
		hsm.down.Store(true)
		_, err = iss.Refresh(ctx, p.RefreshToken)
		notReuse(t, err, errHSMDown)
		if n := reuse.Load(); n != 0 {
			t.Errorf("%d reuse events for a retry inside the window while the signer was down, want 0", n)
		}
		hsm.down.Store(false)
		after(t, iss, p.RefreshToken, q)
	})
}
