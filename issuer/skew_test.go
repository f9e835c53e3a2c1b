package issuer_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/authkit-go/authkit"
	"github.com/authkit-go/authkit/backends/memory"
	"github.com/authkit-go/authkit/issuer"
	"github.com/authkit-go/authkit/keys"
	"github.com/authkit-go/authkit/verifier"
)

// skewed is two replicas sharing a memory store and a key set whose
// clocks are real's plus their own offsets, and a verifier on a third
// offset: what several servers with NTP skew between them look like.
type skewed struct {
	real *clock
	a, b *issuer.Issuer
	ver  *verifier.Verifier
}

func newSkewed(t *testing.T, offA, offB, offV time.Duration, issOpts []authkit.Option, verOpts ...authkit.Option) *skewed {
	t.Helper()
	k, err := keys.Generate(keys.EdDSA)
	if err != nil {
		t.Fatal(err)
	}
	set, _ := keys.NewSet(k)
	st := memory.New()
	s := &skewed{real: &clock{t: base}}
	at := func(off time.Duration) func() time.Time { return func() time.Time { return s.real.Now().Add(off) } }
	mk := func(off time.Duration) *issuer.Issuer {
		iss, err := issuer.New(append([]authkit.Option{authkit.WithKeys(set), authkit.WithStore(st), authkit.WithClock(at(off))}, issOpts...)...)
		if err != nil {
			t.Fatal(err)
		}
		return iss
	}
	s.a, s.b = mk(offA), mk(offB)
	s.ver, err = verifier.New(append([]authkit.Option{authkit.WithKeys(set), authkit.WithStore(st), authkit.WithClock(at(offV))}, verOpts...)...)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// neverAgain checks, every second until well past its expiry, that the
// verifier refuses tok.
func (s *skewed) neverAgain(t *testing.T, tok, what string) {
	t.Helper()
	for range (40 * time.Minute) / time.Second {
		s.real.Add(time.Second)
		if _, err := s.ver.Verify(context.Background(), tok); err == nil {
			t.Fatalf("%s verifies again %v after its revocation", what, s.real.Now().Sub(base))
		}
	}
}

// A revoked session's access tokens stay revoked until they expire when
// the replica that minted them runs ahead of the one that revoked, within
// 5 minutes of skew (found by review: the revocation lasted the access
// TTL plus the largest leeway by the revoker's clock, and the token came
// back after 5 minutes of skew with the default leeway, 2 seconds with a
// 5-minute one).
func TestSessionRevocationOutlivesSkew(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		name   string
		ahead  time.Duration
		leeway time.Duration
	}{
		{"default leeway, 5m ahead", 5 * time.Minute, 30 * time.Second},
		{"5m leeway, 2s ahead", 2 * time.Second, 5 * time.Minute},
	} {
		t.Run(c.name, func(t *testing.T) {
			s := newSkewed(t, 0, c.ahead, c.ahead, nil, authkit.WithLeeway(c.leeway))
			p, err := s.b.IssuePair(context.Background(), "alice")
			if err != nil {
				t.Fatal(err)
			}
			s.real.Add(time.Second)
			if err := s.a.RevokeSession(context.Background(), p.SessionID); err != nil {
				t.Fatal(err)
			}
			s.neverAgain(t, p.AccessToken, "an access token of a session revoked by a replica behind its minter")
		})
	}
}

// A replica whose clock runs ahead still revokes an access token that a
// verifier behind it accepts (found by review: it took the token for past
// its expiry and the largest leeway, and wrote nothing).
func TestRevokeAheadOfVerifier(t *testing.T) {
	t.Parallel()
	s := newSkewed(t, 5*time.Minute, 0, 0, nil)
	p, err := s.b.IssueAccessToken(context.Background(), "alice")
	if err != nil {
		t.Fatal(err)
	}
	exp := base.Add(s.b.AccessTTL())
	s.real.Add(exp.Sub(base) + 10*time.Second) // past exp, inside the verifier's 30-second leeway
	if _, err := s.ver.Verify(context.Background(), p.AccessToken); err != nil {
		t.Fatalf("the token before the revocation: %v", err)
	}
	if err := s.a.Revoke(context.Background(), p.AccessToken); err != nil {
		t.Fatal(err)
	}
	if _, err := s.ver.Verify(context.Background(), p.AccessToken); !errors.Is(err, authkit.ErrTokenRevoked) {
		t.Fatalf("Verify after a revocation on a replica 5 minutes ahead: %v, want ErrTokenRevoked", err)
	}
	s.neverAgain(t, p.AccessToken, "an access token revoked by a replica ahead of the verifier")
}

// A replica whose clock is behind the rotating one by more than the reuse
// grace gives no grace: it cannot tell how long ago the rotation was
// (found by review: a replica 2 minutes behind handed the successor to a
// token presented 90 seconds after its rotation, and reuse went unseen).
func TestReuseGraceBehindTheRotator(t *testing.T) {
	t.Parallel()
	s := newSkewed(t, 2*time.Minute, 0, 0, []authkit.Option{authkit.WithReuseGrace(5 * time.Second)})
	p, err := s.a.IssuePair(context.Background(), "alice")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.a.Refresh(context.Background(), p.RefreshToken); err != nil {
		t.Fatal(err)
	}
	s.real.Add(90 * time.Second)
	_, err = s.b.Refresh(context.Background(), p.RefreshToken)
	if _, ok := errors.AsType[*authkit.ReuseError](err); !ok {
		t.Fatalf("the rotated token presented 90s later on a replica 2 minutes behind: %v, want a ReuseError", err)
	}
}
