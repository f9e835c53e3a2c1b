package sqlstore

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/authkit-go/authkit"
)

// A call the driver ended with the context's own error names it once, and
// still matches it (found by review: "context deadline exceeded: context
// deadline exceeded").
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
	err = s.fail(cctx, "Op", context.Canceled)
	if n := strings.Count(err.Error(), context.Canceled.Error()); n != 1 || !errors.Is(err, context.Canceled) {
		t.Errorf("cancel: %v (said %d times); want it once, matching Canceled", err, n)
	}
	err = s.fail(ctx, "Op", errors.New("driver: bad connection"))
	if !errors.Is(err, context.DeadlineExceeded) || !errors.Is(err, authkit.ErrStoreUnavailable) {
		t.Errorf("deadline with a driver error: %v", err)
	}
}
