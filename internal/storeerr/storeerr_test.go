package storeerr

import (
	"context"
	"errors"
	"testing"

	"github.com/authkit-go/authkit"
)

// Ctx's error matches the context's error and the driver's, and the
// store timeout's is ErrStoreUnavailable; a cancellation is not.
func TestCtx(t *testing.T) {
	drv := errors.New("driver: read tcp: use of closed connection")
	for _, c := range []struct {
		ctxErr      error
		unavailable bool
	}{
		{context.Canceled, false},
		{context.DeadlineExceeded, true},
	} {
		err := Ctx("sqlstore: IsRevoked", c.ctxErr, drv)
		if !errors.Is(err, c.ctxErr) || !errors.Is(err, drv) || errors.Is(err, authkit.ErrStoreUnavailable) != c.unavailable {
			t.Errorf("Ctx(%v) = %v: want it to match %v and the driver's error, ErrStoreUnavailable %v", c.ctxErr, err, c.ctxErr, c.unavailable)
		}
		// A driver error that already says so is not repeated.
		if err := Ctx("op", c.ctxErr, c.ctxErr); !errors.Is(err, c.ctxErr) || err.Error() != map[bool]string{false: "op: context canceled", true: "op: authkit: store unavailable: context deadline exceeded"}[c.unavailable] {
			t.Errorf("Ctx(%v, %v) = %q", c.ctxErr, c.ctxErr, err)
		}
	}
}
