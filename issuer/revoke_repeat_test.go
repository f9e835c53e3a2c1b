package issuer_test

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/authkit-go/authkit"
	"github.com/authkit-go/authkit/backends/memory"
	"github.com/authkit-go/authkit/internal/eventlog"
	"github.com/authkit-go/authkit/issuer"
	"github.com/authkit-go/authkit/keys"
	"github.com/authkit-go/authkit/verifier"
)

// writeCounter counts the revocation writes the issuer makes.
type writeCounter struct {
	*memory.Store
	tokens, sessions atomic.Int64
}

func (s *writeCounter) RevokeToken(ctx context.Context, subject, jti string, until time.Time) error {
	s.tokens.Add(1)
	return s.Store.RevokeToken(ctx, subject, jti, until)
}

func (s *writeCounter) RevokeSessionTokens(ctx context.Context, subject, sid string, until time.Time) error {
	s.sessions.Add(1)
	return s.Store.RevokeSessionTokens(ctx, subject, sid, until)
}

// A repeat of a revocation the issuer wrote within the last 10 seconds
// writes nothing and reports nothing (found by review: each repeat wrote
// the entry again, a change every replica's mirror received, and an
// event, 1,450 a second from one client); after that it writes again, and
// a revocation a failure left half done is still completed.
func TestRevokeRepeatWritesNothing(t *testing.T) {
	ctx := context.Background()
	var log eventlog.Log
	st := &writeCounter{Store: memory.New()}
	iss, ver, clk, _ := fixtureOver(t, st, authkit.WithEventHook(log.Hook))
	p, err := iss.IssuePair(ctx, "alice")
	if err != nil {
		t.Fatal(err)
	}
	other, err := iss.IssuePair(ctx, "alice")
	if err != nil {
		t.Fatal(err)
	}
	log.Take()
	for range 3 {
		if err := iss.Revoke(ctx, other.AccessToken); err != nil {
			t.Fatal(err)
		}
		if err := iss.Revoke(ctx, p.RefreshToken); err != nil {
			t.Fatal(err)
		}
	}
	if n, m := st.tokens.Load(), st.sessions.Load(); n != 1 || m != 1 {
		t.Errorf("three revocations of each: %d token and %d session writes, want 1 and 1", n, m)
	}
	if got := log.Take(); len(got) != 2 {
		t.Errorf("three revocations of each reported %d events, want 2: %+v", len(got), got)
	}
	for _, tok := range []string{p.AccessToken, other.AccessToken} {
		if _, err := ver.Verify(ctx, tok); err == nil {
			t.Error("a revoked access token verifies")
		}
	}

	// Past the window a repeat writes again (it renews what a store may
	// have lost, or an entry a shorter access TTL wrote).
	clk.Add(11 * time.Second)
	if err := iss.Revoke(ctx, other.AccessToken); err != nil {
		t.Fatal(err)
	}
	if err := iss.Revoke(ctx, p.RefreshToken); err != nil {
		t.Fatal(err)
	}
	if n, m := st.tokens.Load(), st.sessions.Load(); n != 2 || m != 2 {
		t.Errorf("a repeat 11 s later: %d token and %d session writes in all, want 2 and 2", n, m)
	}

	// A family revoked in the refresh store whose access tokens were not
	// (a failure between the two writes): the repeat completes it.
	q, err := iss.IssuePair(ctx, "alice")
	if err != nil {
		t.Fatal(err)
	}
	if err := st.Store.RevokeSession(ctx, q.SessionID, clk.Now()); err != nil {
		t.Fatal(err)
	}
	if err := iss.Revoke(ctx, q.RefreshToken); err != nil {
		t.Fatal(err)
	}
	if m := st.sessions.Load(); m != 3 {
		t.Errorf("a half-done revocation: %d session writes in all, want 3 (the repeat completes it)", m)
	}
	if _, err := ver.Verify(ctx, q.AccessToken); err == nil {
		t.Error("the access token of a half-revoked session still verifies after Revoke")
	}
}

// twoTTLs returns two issuers over one store and key set, one minting
// hour-long access tokens and one 5-minute ones (replicas during a
// rolling lowering of WithAccessTTL), a verifier, and the clock.
func twoTTLs(t *testing.T) (long, short *issuer.Issuer, ver *verifier.Verifier, clk *clock) {
	t.Helper()
	k, err := keys.Generate(keys.EdDSA)
	if err != nil {
		t.Fatal(err)
	}
	set, err := keys.NewSet(k)
	if err != nil {
		t.Fatal(err)
	}
	clk = &clock{t: base}
	common := []authkit.Option{authkit.WithKeys(set), authkit.WithStore(memory.New()), authkit.WithClock(clk.Now)}
	if long, err = issuer.New(append(common, authkit.WithAccessTTL(time.Hour), authkit.WithRefreshTTL(24*time.Hour))...); err != nil {
		t.Fatal(err)
	}
	if short, err = issuer.New(append(common, authkit.WithAccessTTL(5*time.Minute), authkit.WithRefreshTTL(24*time.Hour))...); err != nil {
		t.Fatal(err)
	}
	if ver, err = verifier.New(common...); err != nil {
		t.Fatal(err)
	}
	return long, short, ver, clk
}

// A revocation by jti is skipped only for the jti's own entry, which
// lasts as long as the token: a cutoff whose entry ends sooner (written
// by an issuer with a shorter access TTL) does not count (found by
// review: the token verified again once the cutoff was forgotten).
func TestRevokeJTIUnderShortCutoff(t *testing.T) {
	ctx := context.Background()
	long, short, ver, clk := twoTTLs(t)
	p, err := long.IssueAccessToken(ctx, "alice")
	if err != nil {
		t.Fatal(err)
	}
	clk.Add(time.Minute)
	if err := short.RevokeSubject(ctx, "alice"); err != nil {
		t.Fatal(err)
	}
	if err := short.Revoke(ctx, p.AccessToken); err != nil {
		t.Fatal(err)
	}
	clk.Add(20 * time.Minute) // the cutoff's entry has ended; the token expires in 39 minutes
	if _, err := ver.Verify(ctx, p.AccessToken); err == nil {
		t.Error("an access token revoked by its jti verifies again once a shorter cutoff ended")
	}
}

// Revoking a session again renews its entry, both once the entry a
// shorter access TTL wrote has ended and while it is still in force
// (security.md, "Lowering WithAccessTTL": revoke again what must stay
// revoked; found by review: repeats were skipped, first always, then
// while the entry lived, which left it to end before the session's
// hour-long token).
func TestRevokeSessionAgain(t *testing.T) {
	for _, c := range []struct {
		name           string
		before, after  time.Duration // between the revocations, and from the second to the check
		byRefreshToken bool          // the second revocation is Revoke(refresh token)
	}{
		{"after its entry ended", 20 * time.Minute, 0, false},
		{"after its entry ended, by refresh token", 20 * time.Minute, 0, true},
		{"while its entry lives", 5 * time.Minute, 6 * time.Minute, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			ctx := context.Background()
			long, short, ver, clk := twoTTLs(t)
			p, err := long.IssuePair(ctx, "alice")
			if err != nil {
				t.Fatal(err)
			}
			clk.Add(time.Minute)
			if err := short.RevokeSession(ctx, p.SessionID); err != nil {
				t.Fatal(err)
			}
			clk.Add(c.before)
			again := func() error { return short.RevokeSession(ctx, p.SessionID) }
			if c.byRefreshToken {
				again = func() error { return short.Revoke(ctx, p.RefreshToken) }
			}
			if err := again(); err != nil {
				t.Fatal(err)
			}
			clk.Add(c.after) // past the first entry's end
			if _, err := ver.Verify(ctx, p.AccessToken); err == nil {
				t.Error("the session's hour-long access token verifies: the second revocation did not renew the entry")
			}
		})
	}
}
