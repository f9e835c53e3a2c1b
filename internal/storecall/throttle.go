package storecall

import (
	"context"
	"time"

	"github.com/authkit-go/authkit"
)

// Throttle is an authkit.ThrottleStore with the deadline DL on each call
// of S. A counter written late, after its call gave up, only makes the
// throttle stricter: nothing is undone.
type Throttle struct {
	S  authkit.ThrottleStore
	DL *Deadline
}

var _ authkit.ThrottleStore = (*Throttle)(nil)

// BoundThrottle returns ts with the deadline dl on each call. A store
// answered in process (InProcess), and a nil ts, are returned as they
// are.
func BoundThrottle(ts authkit.ThrottleStore, dl *Deadline) authkit.ThrottleStore {
	if ts == nil || InProcess(ts) {
		return ts
	}
	return &Throttle{S: ts, DL: dl.For(ts)}
}

// AddFailure implements authkit.ThrottleStore.
func (b *Throttle) AddFailure(ctx context.Context, key string, now time.Time, window time.Duration) (authkit.ThrottleState, error) {
	return Call(ctx, b.DL, func(ctx context.Context) (authkit.ThrottleState, error) { return b.S.AddFailure(ctx, key, now, window) }, nil)
}

// ThrottleStates implements authkit.ThrottleStore.
func (b *Throttle) ThrottleStates(ctx context.Context, now time.Time, keys ...string) ([]authkit.ThrottleState, error) {
	return Call(ctx, b.DL, func(ctx context.Context) ([]authkit.ThrottleState, error) {
		return b.S.ThrottleStates(ctx, now, keys...)
	}, nil)
}

// ClearThrottle implements authkit.ThrottleStore.
func (b *Throttle) ClearThrottle(ctx context.Context, key string) error {
	return Do(ctx, b.DL, func(ctx context.Context) error { return b.S.ClearThrottle(ctx, key) })
}

// DeleteExpiredThrottles implements authkit.ThrottleStore.
func (b *Throttle) DeleteExpiredThrottles(ctx context.Context, now time.Time, limit int) (int, error) {
	return Call(ctx, b.DL, func(ctx context.Context) (int, error) { return b.S.DeleteExpiredThrottles(ctx, now, limit) }, nil)
}
