package issuer_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/authkit-go/authkit"
	"github.com/authkit-go/authkit/issuer"
)

func TestSessionLifetimeOption(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, authkit.WithRefreshTTL(time.Hour), authkit.WithSessionLifetime(24*time.Hour))
	short, err := f.iss.IssuePair(ctx, "alice", issuer.WithSessionLifetime(90*time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	if want := base.Add(time.Hour); !short.RefreshExpiresAt.Equal(want) {
		t.Errorf("first refresh token expires %v, want the idle TTL %v", short.RefreshExpiresAt, want)
	}
	// A longer lifetime is cut to the issuer's.
	long, err := f.iss.IssuePair(ctx, "alice", issuer.WithSessionLifetime(1000*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	ss, _ := f.iss.Sessions(ctx, "alice")
	ends := map[string]time.Time{}
	for _, s := range ss {
		ends[s.ID] = s.ExpiresAt
	}
	if got := ends[short.SessionID]; !got.Equal(base.Add(90 * time.Minute)) {
		t.Errorf("short session ends %v, want %v", got, base.Add(90*time.Minute))
	}
	if got := ends[long.SessionID]; !got.Equal(base.Add(24 * time.Hour)) {
		t.Errorf("long session ends %v, want the issuer's ceiling %v", got, base.Add(24*time.Hour))
	}
	f.clock.Add(50 * time.Minute)
	next, err := f.iss.Refresh(ctx, short.RefreshToken)
	if err != nil {
		t.Fatal(err)
	}
	if want := base.Add(90 * time.Minute); !next.RefreshExpiresAt.Equal(want) {
		t.Errorf("refreshed token expires %v, want the session's end %v", next.RefreshExpiresAt, want)
	}
	f.clock.Add(45 * time.Minute)
	if _, err := f.iss.Refresh(ctx, next.RefreshToken); !errors.Is(err, authkit.ErrTokenExpired) {
		t.Errorf("refresh after the per-login lifetime: %v, want ErrTokenExpired", err)
	}
	for _, d := range []time.Duration{-time.Hour, 0, time.Second} {
		if _, err := f.iss.IssuePair(ctx, "alice", issuer.WithSessionLifetime(d)); !errors.Is(err, authkit.ErrInvalidRequest) {
			t.Errorf("WithSessionLifetime(%v): %v, want ErrInvalidRequest", d, err)
		}
	}
}

func TestRefreshCheck(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, authkit.WithReuseGrace(10*time.Second))
	pair, err := f.iss.IssuePair(ctx, "alice", issuer.WithScopes("read", "write"),
		issuer.WithClaims(map[string]any{"roles": []string{"admin"}}))
	if err != nil {
		t.Fatal(err)
	}
	errDisabled := errors.New("alice is disabled")
	disabled := issuer.WithRefreshCheck(func(context.Context, authkit.Session) ([]string, error) { return nil, errDisabled })
	down := issuer.WithRefreshCheck(func(context.Context, authkit.Session) ([]string, error) {
		return nil, fmt.Errorf("user directory: %w", authkit.ErrStoreUnavailable)
	})
	readOnly := issuer.WithRefreshCheck(func(_ context.Context, s authkit.Session) ([]string, error) {
		if s.Subject != "alice" || !slices.Equal(s.Scopes, []string{"read", "write"}) {
			return nil, fmt.Errorf("unexpected session %+v", s)
		}
		return []string{"read", "admin:all"}, nil // a scope the session never had is not added
	})

	_, err = f.iss.Refresh(ctx, pair.RefreshToken, disabled)
	if !errors.Is(err, authkit.ErrTokenRevoked) || !errors.Is(err, errDisabled) {
		t.Fatalf("refused refresh: %v, want ErrTokenRevoked wrapping the check's error", err)
	}
	_, err = f.iss.Refresh(ctx, pair.RefreshToken, down)
	if !errors.Is(err, authkit.ErrStoreUnavailable) || errors.Is(err, authkit.ErrTokenRevoked) {
		t.Fatalf("unanswered check: %v, want ErrStoreUnavailable only", err)
	}
	// Neither refusal spent the token; the check narrows the scopes.
	next, err := f.iss.Refresh(ctx, pair.RefreshToken, readOnly)
	if err != nil {
		t.Fatalf("refresh after refusals: %v", err)
	}
	if next.Scope != "read" {
		t.Errorf("narrowed scope %q, want %q", next.Scope, "read")
	}
	p, err := f.ver.Verify(ctx, next.AccessToken)
	if err != nil {
		t.Fatal(err)
	}
	var c struct{ Roles []string }
	if err := p.DecodeClaims(&c); err != nil || !slices.Equal(c.Roles, []string{"admin"}) {
		t.Errorf("claims after refresh: %+v, %v; want the login's roles", c, err)
	}
	// A grace-window repeat gets the successor only if the check allows
	// it, and with the scopes it allows.
	again, err := f.iss.Refresh(ctx, pair.RefreshToken, readOnly)
	if err != nil || again.RefreshToken != next.RefreshToken || again.Scope != "read" {
		t.Errorf("grace repeat: %v, scope %q", err, again.Scope)
	}
	if _, err := f.iss.Refresh(ctx, pair.RefreshToken, disabled); !errors.Is(err, authkit.ErrTokenReused) {
		t.Errorf("grace repeat of a disabled user: %v, want ErrTokenReused", err)
	}
	// The session keeps its scopes: a check allowing them all restores them
	// (on a new session, the last one having been revoked as reused).
	pair, _ = f.iss.IssuePair(ctx, "alice", issuer.WithScopes("read", "write"))
	next, _ = f.iss.Refresh(ctx, pair.RefreshToken, readOnly)
	all := issuer.WithRefreshCheck(func(_ context.Context, s authkit.Session) ([]string, error) { return s.Scopes, nil })
	if full, err := f.iss.Refresh(ctx, next.RefreshToken, all); err != nil || full.Scope != "read write" {
		t.Errorf("check allowing every scope: %v, scope %q", err, full.Scope)
	}
	if _, err := f.iss.Refresh(ctx, next.RefreshToken, issuer.WithRefreshCheck(nil)); !errors.Is(err, authkit.ErrInvalidRequest) {
		t.Errorf("WithRefreshCheck(nil): %v", err)
	}
}

func TestRevokeSubjectWithAPITokens(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	alice1, _, err := f.iss.CreateAPIToken(ctx, "alice", "ci")
	if err != nil {
		t.Fatal(err)
	}
	alice2, _, _ := f.iss.CreateAPIToken(ctx, "alice", "laptop")
	bob, _, _ := f.iss.CreateAPIToken(ctx, "bob", "ci")
	if err := f.iss.RevokeSubject(ctx, "alice"); err != nil {
		t.Fatal(err)
	}
	if _, err := f.ver.Verify(ctx, alice1); err != nil {
		t.Fatalf("plain RevokeSubject touched an API token: %v", err)
	}
	if err := f.iss.RevokeSubject(ctx, "alice", issuer.WithAPITokens()); err != nil {
		t.Fatal(err)
	}
	for _, tok := range []string{alice1, alice2} {
		if _, err := f.ver.Verify(ctx, tok); !errors.Is(err, authkit.ErrTokenRevoked) && !errors.Is(err, authkit.ErrInvalidToken) {
			t.Errorf("alice's API token after logout-all with API tokens: %v", err)
		}
	}
	if ts, _ := f.iss.APITokens(ctx, "alice"); len(ts) != 0 {
		t.Errorf("alice still has %d API tokens", len(ts))
	}
	if _, err := f.ver.Verify(ctx, bob); err != nil {
		t.Errorf("bob's API token: %v", err)
	}
	if err := f.iss.RevokeSubject(ctx, "alice", nil); !errors.Is(err, authkit.ErrInvalidRequest) {
		t.Errorf("nil option: %v", err)
	}
}
