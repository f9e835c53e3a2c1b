// Package storeerr shapes the errors the SQL and Redis stores return for
// a call that their context ended.
package storeerr

import (
	"context"
	"errors"
	"fmt"

	"github.com/authkit-go/authkit"
)

// Ctx reports err, which ended a call when ctxErr ended its context, as
// "what: ctxErr: err": matching ctxErr, and authkit.ErrStoreUnavailable as
// well for a deadline (the store did not answer in time). err is the cause
// unless it is ctxErr itself, which would say it twice (found by review:
// "context deadline exceeded: context deadline exceeded").
func Ctx(what string, ctxErr, err error) error {
	cause := fmt.Errorf("%w: %w", ctxErr, err)
	if errors.Is(err, ctxErr) {
		cause = err
	}
	if errors.Is(ctxErr, context.DeadlineExceeded) {
		return fmt.Errorf("%s: %w: %w", what, authkit.ErrStoreUnavailable, cause)
	}
	return fmt.Errorf("%s: %w", what, cause)
}
