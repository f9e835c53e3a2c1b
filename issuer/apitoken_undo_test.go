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
)

// hangingRevocations answers IsRevoked only when the caller gives up.
type hangingRevocations struct{ *memory.Store }

func (hangingRevocations) IsRevoked(ctx context.Context, _ authkit.RevocationQuery, _ time.Time) (bool, error) {
	<-ctx.Done()
	return false, ctx.Err()
}

// A creation whose creator check (WithCreator) is cut short by the
// caller's deadline leaves no token behind: the undo runs past the
// deadline (found by review: the token stayed live, listed and counted
// against the limit, and the user's next creation was refused).
func TestCreateAPITokenCutShortLeavesNothing(t *testing.T) {
	k, err := keys.Generate(keys.EdDSA)
	if err != nil {
		t.Fatal(err)
	}
	set, err := keys.NewSet(k)
	if err != nil {
		t.Fatal(err)
	}
	iss, err := issuer.New(authkit.WithKeys(set), authkit.WithStore(hangingRevocations{memory.New()}), authkit.WithAPITokenLimit(1))
	if err != nil {
		t.Fatal(err)
	}
	creator := &authkit.Principal{Subject: "alice", Method: authkit.MethodJWT, TokenID: "j", SessionID: "s", IssuedAt: time.Now()}
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if _, _, err := iss.CreateAPIToken(ctx, "alice", "ci", issuer.WithCreator(creator)); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("CreateAPIToken with a creator check cut short = %v, want the deadline's error", err)
	}
	live, err := iss.APITokens(context.Background(), "alice")
	if err != nil {
		t.Fatal(err)
	}
	if len(live) != 0 {
		t.Errorf("a failed creation left %d live token(s): %+v", len(live), live)
	}
	if _, _, err := iss.CreateAPIToken(context.Background(), "alice", "ci2"); err != nil {
		t.Errorf("the next creation under a limit of 1 = %v, want success", err)
	}
}
