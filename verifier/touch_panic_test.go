package verifier_test

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/authkit-go/authkit"
	"github.com/authkit-go/authkit/keys"
	"github.com/authkit-go/authkit/verifier"
)

// panicTouch is an API-token store whose first TouchAPIToken panics, as a
// buggy driver may.
type panicTouch struct {
	authkit.APITokenStore
	panics  atomic.Bool
	touches atomic.Int32
}

func (p *panicTouch) TouchAPIToken(ctx context.Context, id string, at time.Time) error {
	p.touches.Add(1)
	if p.panics.Swap(false) {
		panic("driver bug")
	}
	return p.APITokenStore.TouchAPIToken(ctx, id, at)
}

// TestTouchPanicClearsMark: a last-used write that panics does not leave
// the token marked as being written, so the next use an interval later
// writes again (found by review: the mark stayed for the verifier's life
// and the token's last use was never recorded again).
func TestTouchPanicClearsMark(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, keys.HS256)
	ps := &panicTouch{APITokenStore: f.store}
	ps.panics.Store(true)
	v, err := verifier.New(authkit.WithKeys(f.set), authkit.WithAPITokenStore(ps), authkit.WithClock(f.clock.Now),
		authkit.WithLastUsedInterval(time.Second))
	if err != nil {
		t.Fatal(err)
	}
	secret, _, err := f.iss.CreateAPIToken(ctx, "alice", "ci")
	if err != nil {
		t.Fatal(err)
	}
	func() {
		defer func() { _ = recover() }()
		_, _ = v.Verify(ctx, secret)
	}()
	f.clock.Add(time.Hour)
	if _, err := v.Verify(ctx, secret); err != nil {
		t.Fatalf("Verify after the panic: %v", err)
	}
	if n := ps.touches.Load(); n != 2 {
		t.Errorf("%d last-used writes for two uses an hour apart (the first panicking), want 2", n)
	}
}
