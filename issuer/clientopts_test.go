package issuer_test

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/authkit-go/authkit"
	"github.com/authkit-go/authkit/issuer"
)

func TestAccessTokenTTLAndEventMethod(t *testing.T) {
	var got []authkit.Event
	f := newFixture(t, authkit.WithAccessTTL(10*time.Minute), authkit.WithEventHook(func(_ context.Context, e authkit.Event) { got = append(got, e) }))
	ctx := context.Background()
	pair, err := f.iss.IssueAccessToken(ctx, "svc", issuer.WithAccessTokenTTL(time.Minute), issuer.WithEventMethod("client_credentials"), issuer.WithClientID("svc"))
	if err != nil {
		t.Fatal(err)
	}
	if pair.ExpiresIn != 60 || !pair.AccessExpiresAt.Equal(base.Add(time.Minute)) || pair.RefreshToken != "" {
		t.Errorf("expires_in %d at %v, refresh %q: want 60s and no refresh token", pair.ExpiresIn, pair.AccessExpiresAt, pair.RefreshToken)
	}
	if len(got) != 1 || got[0].Type != authkit.EventIssued || got[0].Method != "client_credentials" {
		t.Errorf("events %+v, want one EventIssued with Method client_credentials", got)
	}
	// Longer than the issuer's access TTL: cut to it.
	pair, err = f.iss.IssueAccessToken(ctx, "svc", issuer.WithAccessTokenTTL(time.Hour))
	if err != nil || pair.ExpiresIn != 600 {
		t.Errorf("a per-call TTL over the access TTL: expires_in %d (%v), want 600", pair.ExpiresIn, err)
	}
	for _, o := range []issuer.IssueOption{issuer.WithAccessTokenTTL(0), issuer.WithAccessTokenTTL(time.Millisecond), issuer.WithEventMethod(""), issuer.WithEventMethod("a b")} {
		if _, err := f.iss.IssueAccessToken(ctx, "svc", o); !errors.Is(err, authkit.ErrInvalidRequest) {
			t.Errorf("invalid option: %v, want ErrInvalidRequest", err)
		}
	}
}

func TestTokenClientID(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	pair, err := f.iss.IssuePair(ctx, "alice", issuer.WithClientID("spa"))
	if err != nil {
		t.Fatal(err)
	}
	for _, tok := range []string{pair.AccessToken, pair.RefreshToken} {
		if id, err := f.iss.TokenClientID(ctx, tok); err != nil || id != "spa" {
			t.Errorf("TokenClientID = %q, %v; want spa", id, err)
		}
	}
	// A rotated refresh token still names its client.
	if _, err := f.iss.Refresh(ctx, pair.RefreshToken); err != nil {
		t.Fatal(err)
	}
	if id, err := f.iss.TokenClientID(ctx, pair.RefreshToken); err != nil || id != "spa" {
		t.Errorf("rotated token: %q, %v", id, err)
	}
	secret, _, err := f.iss.CreateAPIToken(ctx, "alice", "ci")
	if err != nil {
		t.Fatal(err)
	}
	if id, err := f.iss.TokenClientID(ctx, secret); err != nil || id != "" {
		t.Errorf("API token: %q, %v; want no client", id, err)
	}
	other := newFixture(t)
	otherPair, _ := other.iss.IssuePair(ctx, "alice", issuer.WithClientID("spa"))
	for _, tok := range []string{"", "garbage", otherPair.AccessToken, otherPair.RefreshToken} {
		if _, err := f.iss.TokenClientID(ctx, tok); !errors.Is(err, authkit.ErrInvalidToken) {
			t.Errorf("not our token: %v, want ErrInvalidToken", err)
		}
	}
}

func TestSessionCheck(t *testing.T) {
	f := newFixture(t, authkit.WithReuseGrace(10*time.Second))
	ctx := context.Background()
	pair, err := f.iss.IssuePair(ctx, "alice", issuer.WithClientID("spa"))
	if err != nil {
		t.Fatal(err)
	}
	errNo := errors.New("not this client")
	deny := issuer.WithSessionCheck(func(_ context.Context, s authkit.Session) error {
		if s.ClientID != "other" {
			return errNo
		}
		return nil
	})
	allow := issuer.WithSessionCheck(func(_ context.Context, s authkit.Session) error {
		if s.ClientID != "spa" {
			return errNo
		}
		return nil
	})
	if _, err := f.iss.Refresh(ctx, pair.RefreshToken, deny); !errors.Is(err, errNo) {
		t.Fatalf("refused check: %v", err)
	}
	// The refusal spent nothing.
	next, err := f.iss.Refresh(ctx, pair.RefreshToken, allow)
	if err != nil {
		t.Fatalf("after a refused check: %v", err)
	}
	// Within the grace window the check decides: the wrong client gets
	// reuse, and the session is revoked.
	if _, err := f.iss.Refresh(ctx, pair.RefreshToken, deny); !errors.Is(err, authkit.ErrTokenReused) {
		t.Fatalf("grace repeat by another client: %v, want ErrTokenReused", err)
	}
	if _, err := f.iss.Refresh(ctx, next.RefreshToken, allow); err == nil {
		t.Error("the session survived a repeat by another client")
	}
	// The right client within the grace window gets the successor.
	pair, _ = f.iss.IssuePair(ctx, "alice", issuer.WithClientID("spa"))
	first, err := f.iss.Refresh(ctx, pair.RefreshToken, allow)
	if err != nil {
		t.Fatal(err)
	}
	again, err := f.iss.Refresh(ctx, pair.RefreshToken, allow)
	if err != nil || again.RefreshToken != first.RefreshToken {
		t.Errorf("grace repeat by the client: %v", err)
	}
	if _, err := f.iss.Refresh(ctx, again.RefreshToken, issuer.WithSessionCheck(nil)); !errors.Is(err, authkit.ErrInvalidRequest) {
		t.Errorf("WithSessionCheck(nil): %v", err)
	}
}

// A refresh check that allows none of a session's scopes refuses the
// refresh with ErrInsufficientScope and the token unspent; a repeat inside
// the reuse grace, whose token the first presentation spent, is refused
// with ErrTokenRevoked instead (found by review: it said "unspent", and
// the client kept a spent token that later tripped reuse detection).
func TestRefreshCheckAllowingNoScope(t *testing.T) {
	var failed atomic.Int32
	hook := authkit.WithEventHook(func(_ context.Context, e authkit.Event) {
		if e.Type == authkit.EventAuthFailed {
			failed.Add(1)
		}
	})
	f := newFixture(t, authkit.WithReuseGrace(10*time.Second), hook)
	ctx := context.Background()
	pair, err := f.iss.IssuePair(ctx, "alice", issuer.WithScopes("read"))
	if err != nil {
		t.Fatal(err)
	}
	none := issuer.WithRefreshCheck(func(context.Context, authkit.Session) ([]string, error) { return nil, nil })
	if _, err := f.iss.Refresh(ctx, pair.RefreshToken, none); !errors.Is(err, authkit.ErrInsufficientScope) {
		t.Fatalf("a check allowing none: %v, want ErrInsufficientScope", err)
	}
	if _, err := f.iss.Refresh(ctx, pair.RefreshToken); err != nil {
		t.Fatalf("the refused refresh spent the token: %v", err)
	}
	before := failed.Load()
	_, err = f.iss.Refresh(ctx, pair.RefreshToken, none) // a repeat inside the grace
	if !errors.Is(err, authkit.ErrTokenRevoked) || errors.Is(err, authkit.ErrInsufficientScope) {
		t.Errorf("a repeat inside the grace with a check allowing none: %v, want ErrTokenRevoked (the token is spent)", err)
	}
	if n := failed.Load() - before; n != 1 {
		t.Errorf("the refused repeat reported %d auth_failed events, want 1 like every refused refresh", n)
	}
}
