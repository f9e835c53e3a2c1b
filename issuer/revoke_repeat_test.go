package issuer_test

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/authkit-go/authkit"
	"github.com/authkit-go/authkit/backends/memory"
	"github.com/authkit-go/authkit/internal/eventlog"
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

// Revoking what is already revoked writes nothing and reports nothing
// (found by review: each repeat wrote the entry again, a change every
// replica's mirror received, and an event, 1,450 a second from one
// client); a revocation a failure left half done is still completed.
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
	if m := st.sessions.Load(); m != 2 {
		t.Errorf("a half-done revocation: %d session writes in all, want 2 (the repeat completes it)", m)
	}
	if _, err := ver.Verify(ctx, q.AccessToken); err == nil {
		t.Error("the access token of a half-revoked session still verifies after Revoke")
	}
}
