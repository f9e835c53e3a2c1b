package issuer_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/authkit-go/authkit"
	"github.com/authkit-go/authkit/backends/memory"
)

// lostReply stores what it is asked to create and then answers as a
// store whose reply was lost to a reset connection does:
// ErrStoreUnavailable, the write carried out all the same. It is not an
// in-process store, so that the issuer calls it under its deadline.
type lostReply struct{ *memory.Store }

func (lostReply) InProcess() bool { return false }

func (s lostReply) CreateSession(ctx context.Context, sess authkit.Session, first authkit.RefreshRecord) error {
	if err := s.Store.CreateSession(ctx, sess, first); err != nil {
		return err
	}
	return fmt.Errorf("%w: connection reset by peer", authkit.ErrStoreUnavailable)
}

func (s lostReply) CreateAPIToken(ctx context.Context, tok authkit.APIToken, limit int, now time.Time) error {
	if err := s.Store.CreateAPIToken(ctx, tok, limit, now); err != nil {
		return err
	}
	return fmt.Errorf("%w: connection reset by peer", authkit.ErrStoreUnavailable)
}

// A login or an API token creation whose store reply was lost (an error
// that says nothing of the outcome) is undone once it has failed: the
// session or token the store may hold was never delivered, and must not
// stay live or count against a limit (found missing by mutation testing:
// undoing only calls cut short by a context passed every test).
func TestLostReplyLeavesNothing(t *testing.T) {
	mem := memory.New()
	iss, _, clk, _ := fixtureOver(t, lostReply{mem})
	ctx := t.Context()
	if _, err := iss.IssuePair(ctx, "alice"); !errors.Is(err, authkit.ErrStoreUnavailable) {
		t.Fatalf("IssuePair with the reply lost = %v, want ErrStoreUnavailable", err)
	}
	if _, _, err := iss.CreateAPIToken(ctx, "alice", "ci"); !errors.Is(err, authkit.ErrStoreUnavailable) {
		t.Fatalf("CreateAPIToken with the reply lost = %v, want ErrStoreUnavailable", err)
	}
	// The undo runs once the store has answered, aside from the caller.
	for give := time.Now().Add(10 * time.Second); ; time.Sleep(5 * time.Millisecond) {
		sessions, err := mem.ListSessions(ctx, "alice", clk.Now())
		if err != nil {
			t.Fatal(err)
		}
		tokens, err := mem.ListAPITokens(ctx, "alice", clk.Now())
		if err != nil {
			t.Fatal(err)
		}
		if len(sessions) == 0 && len(tokens) == 0 {
			break
		}
		if time.Now().After(give) {
			t.Fatalf("10 s after the failed calls, %d session(s) and %d API token(s) the client never received are still live", len(sessions), len(tokens))
		}
	}
}
