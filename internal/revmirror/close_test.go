package revmirror_test

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/authkit-go/authkit"
	"github.com/authkit-go/authkit/internal/revmirror"
	"github.com/authkit-go/authkit/internal/revmirror/feedtest"
)

// deafFeed is a feed whose follow, once wedged, ignores its context (as
// lib/pq's query does on a stalled network) until released, and then
// still delivers a call.
type deafFeed struct {
	*feedtest.Store
	wedged  atomic.Bool
	release chan struct{}
	stuck   chan struct{}
}

func (f *deafFeed) FollowRevocations(ctx context.Context, pos authkit.FeedPosition, heartbeat time.Duration, fn func([]authkit.Revocation, authkit.FeedPosition) error) error {
	if !f.wedged.Load() {
		return f.Store.FollowRevocations(ctx, pos, heartbeat, fn)
	}
	close(f.stuck)
	<-f.release // deaf to ctx
	_ = fn(nil, pos)
	return nil
}

// Close returns in bounded time when the feed's call ignores cancellation,
// and a call that comes back after Close does not make the copy vouch
// again: the store answers (found by review: with lib/pq, Verifier.Close
// waited as long as the network to PostgreSQL stalled).
func TestCloseDoesNotWaitForADeafFeed(t *testing.T) {
	revmirror.SetCloseWait(t, 100*time.Millisecond) // not parallel: a package variable
	clk := newClock()
	now := clk.Now()
	f := &deafFeed{Store: feedtest.New(), release: make(chan struct{}), stuck: make(chan struct{})}
	o := options(clk)
	o.MaxLag = time.Hour // fresh on every call, whatever the wall clock
	m, err := revmirror.New(f, o)
	must(t, err)
	waitFresh(t, m)
	f.wedged.Store(true)
	f.BreakFeed(true) // the running follow ends; the next one wedges
	<-f.stuck
	f.BreakFeed(false)

	done := make(chan struct{})
	go func() { m.Close(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("Close waited for a feed call that ignores its context")
	}
	close(f.release)
	time.Sleep(50 * time.Millisecond) // the late call delivers, the follower ends
	must(t, f.RevokeToken(t.Context(), "alice", "jti-1", now.Add(time.Hour)))
	if m.Stats().Fresh {
		t.Error("a feed call that returned after Close made the copy fresh again")
	}
	wantDead(t, m, q("jti-1", "", "alice", now), now, true, "closed: the store answers")
}
