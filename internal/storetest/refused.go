package storetest

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/authkit-go/authkit"
)

// RefusedWithin checks that call, made over a store that does not answer,
// fails with an error matching authkit.ErrStoreUnavailable and
// context.DeadlineExceeded, no sooner than half the store timeout and
// within a generous bound of it (five times).
func RefusedWithin(t testing.TB, what string, timeout time.Duration, call func() error) {
	t.Helper()
	start := time.Now()
	err := call()
	took := time.Since(start)
	if !errors.Is(err, authkit.ErrStoreUnavailable) || !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("%s over a store that does not answer: %v, want ErrStoreUnavailable and DeadlineExceeded", what, err)
	}
	if took < timeout/2 || took > 5*timeout {
		t.Errorf("%s over a store that does not answer took %v with a %v store timeout", what, took, timeout)
	}
}
