package issuer_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/authkit-go/authkit"
	"github.com/authkit-go/authkit/backends/memory"
	"github.com/authkit-go/authkit/issuer"
	"github.com/authkit-go/authkit/keys"
	"github.com/authkit-go/authkit/verifier"
)

// The tests in this file were found missing by mutation testing: each
// check they cover could be removed or loosened with every test passing.

// TestRevokeSubjectWithoutRefreshStore: an issuer with a revocation store
// and no refresh store (access tokens only) ends every access token of the
// subject with its logout-all, for their whole life. Every other test had
// a refresh store, whose second cutoff hid a wrong first one.
func TestRevokeSubjectWithoutRefreshStore(t *testing.T) {
	ctx := context.Background()
	k, err := keys.Generate(keys.HS256)
	if err != nil {
		t.Fatal(err)
	}
	set, _ := keys.NewSet(k)
	clk := &clock{t: base}
	common := []authkit.Option{authkit.WithKeys(set), authkit.WithRevocationStore(memory.New()), authkit.WithClock(clk.Now)}
	iss, err := issuer.New(common...)
	if err != nil {
		t.Fatal(err)
	}
	ver, err := verifier.New(common...)
	if err != nil {
		t.Fatal(err)
	}
	tok, err := iss.IssueAccessToken(ctx, "alice")
	if err != nil {
		t.Fatal(err)
	}
	clk.Add(time.Second)
	if err := iss.RevokeSubject(ctx, "alice"); err != nil {
		t.Fatal(err)
	}
	// Up to the token's last second (it was issued a second before the
	// logout-all).
	prev := time.Duration(0)
	for _, after := range []time.Duration{0, time.Minute, authkit.DefaultAccessTTL - 2*time.Second} {
		clk.Add(after - prev)
		prev = after
		if _, err := ver.Verify(ctx, tok.AccessToken); !errors.Is(err, authkit.ErrTokenRevoked) {
			t.Errorf("%v after a logout-all, an access token issued before it: %v, want ErrTokenRevoked", after, err)
		}
	}
}

// sessionsDown is a memory store whose RevokeSubjectSessions fails.
type sessionsDown struct{ *memory.Store }

func (sessionsDown) RevokeSubjectSessions(context.Context, string, time.Time) ([]string, error) {
	return nil, fmt.Errorf("test: %w", authkit.ErrStoreUnavailable)
}

// TestRevokeSubjectSessionsFail: a logout-all whose session step fails
// reports the failure, and the access tokens are dead already (the cutoff
// goes first), so that a retry only finishes the job.
func TestRevokeSubjectSessionsFail(t *testing.T) {
	ctx := context.Background()
	iss, ver, clk, _ := fixtureOver(t, sessionsDown{memory.New()})
	pair, err := iss.IssuePair(ctx, "alice")
	if err != nil {
		t.Fatal(err)
	}
	clk.Add(time.Second)
	if err := iss.RevokeSubject(ctx, "alice"); !errors.Is(err, authkit.ErrStoreUnavailable) {
		t.Fatalf("RevokeSubject with its session step failing: %v, want ErrStoreUnavailable", err)
	}
	if _, err := ver.Verify(ctx, pair.AccessToken); !errors.Is(err, authkit.ErrTokenRevoked) {
		t.Errorf("an access token after a logout-all whose session step failed: %v, want ErrTokenRevoked", err)
	}
}

// TestRefreshRefusesOtherTokens: Refresh takes only refresh tokens of its
// own prefix. Two issuers with different prefixes share a store (two
// products on one database): neither rotates the other's refresh tokens,
// and an API token is no refresh token.
func TestRefreshRefusesOtherTokens(t *testing.T) {
	ctx := context.Background()
	st := memory.New()
	a, _, _, _ := fixtureOver(t, st, authkit.WithTokenPrefix("aaa"))
	b, _, _, _ := fixtureOver(t, st, authkit.WithTokenPrefix("bbb"))
	theirs, err := b.IssuePair(ctx, "alice")
	if err != nil {
		t.Fatal(err)
	}
	api, _, err := a.CreateAPIToken(ctx, "alice", "ci")
	if err != nil {
		t.Fatal(err)
	}
	for name, tok := range map[string]string{"another prefix's refresh token": theirs.RefreshToken, "an API token": api} {
		if p, err := a.Refresh(ctx, tok); !errors.Is(err, authkit.ErrInvalidToken) || p.RefreshToken != "" {
			t.Errorf("Refresh of %s: %v (pair %v); want ErrInvalidToken", name, err, p.RefreshToken != "")
		}
	}
	if _, err := b.Refresh(ctx, theirs.RefreshToken); err != nil {
		t.Errorf("its own issuer's Refresh afterwards: %v", err)
	}
}
