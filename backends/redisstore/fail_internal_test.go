package redisstore

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/authkit-go/authkit"
)

// passedDeadline is a ctx whose deadline has passed but whose timer has
// not fired yet: Err is still nil. A socket given that deadline by
// go-redis can time out in that moment: the race that made
// TestConformanceRing's DeadlineWhileFollowing fail (a feed reader's XREAD
// timed out at the deadline and was reported as unavailable alone).
type passedDeadline struct{ context.Context }

func (passedDeadline) Deadline() (time.Time, bool) { return time.Now().Add(-time.Millisecond), true }

// A Redis call that fails once ctx's deadline has passed is reported as
// that deadline (with ErrStoreUnavailable), even if ctx.Err() does not
// say so yet; before the deadline it is only unavailable.
func TestFailAtDeadline(t *testing.T) {
	s := &Store{}
	timeout := &net.OpError{Op: "read", Net: "tcp", Err: os.ErrDeadlineExceeded}

	err := s.fail(passedDeadline{context.Background()}, "Op", timeout)
	if !errors.Is(err, context.DeadlineExceeded) || !errors.Is(err, authkit.ErrStoreUnavailable) {
		t.Errorf("a read timeout after ctx's deadline, ctx.Err() still nil: %v; want DeadlineExceeded and ErrStoreUnavailable", err)
	}

	ctx, cancel := context.WithTimeout(context.Background(), time.Hour)
	defer cancel()
	err = s.fail(ctx, "Op", timeout)
	if errors.Is(err, context.DeadlineExceeded) || !errors.Is(err, authkit.ErrStoreUnavailable) {
		t.Errorf("a read timeout an hour before ctx's deadline: %v; want ErrStoreUnavailable alone", err)
	}
	var ne *net.OpError
	if !errors.As(err, &ne) {
		t.Errorf("the client's error is not kept as the cause: %v", err)
	}
}

// A call the client ended with the context's own error names it once, and
// still matches it (found by review: an unreachable Redis was reported as
// "context deadline exceeded: context deadline exceeded").
func TestFailSaysContextOnce(t *testing.T) {
	s := &Store{}
	ctx, cancel := context.WithTimeout(context.Background(), -time.Second)
	defer cancel()
	err := s.fail(ctx, "Op", context.DeadlineExceeded)
	if n := strings.Count(err.Error(), context.DeadlineExceeded.Error()); n != 1 ||
		!errors.Is(err, context.DeadlineExceeded) || !errors.Is(err, authkit.ErrStoreUnavailable) {
		t.Errorf("deadline: %v (said %d times); want it once, matching DeadlineExceeded and ErrStoreUnavailable", err, n)
	}
	cctx, ccancel := context.WithCancel(context.Background())
	ccancel()
	err = s.fail(cctx, "Op", fmt.Errorf("dial: %w", context.Canceled))
	if n := strings.Count(err.Error(), context.Canceled.Error()); n != 1 || !errors.Is(err, context.Canceled) {
		t.Errorf("cancel: %v (said %d times); want it once, matching Canceled", err, n)
	}
	// Another cause is still named after the context's error.
	err = s.fail(ctx, "Op", &net.OpError{Op: "dial", Net: "tcp", Err: os.ErrDeadlineExceeded})
	var ne *net.OpError
	if !errors.Is(err, context.DeadlineExceeded) || !errors.As(err, &ne) {
		t.Errorf("deadline with a network error: %v; want both", err)
	}
}
