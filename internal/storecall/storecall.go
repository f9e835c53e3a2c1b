// Package storecall bounds the store calls of the issuer and the verifier
// with the deadline of authkit.WithStoreTimeout: each call runs with a
// context that ends at the store timeout, and the caller returns at that
// deadline even when the store's driver ignores its context (lib/pq through
// a stalled network). Both packages wrap their stores with it; stores that
// answer in process (authkit.InProcessStore) are called directly.
package storecall

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/authkit-go/authkit"
)

// MaxAbandoned bounds the store calls of one Deadline that were given up at
// their deadline and have not yet returned. Beyond it a store call is
// refused at once: a store that leaves hundreds of calls unanswered is
// down, and waiting on it would only pile up goroutines.
const MaxAbandoned = 256

// Deadline bounds store calls with a store timeout. One is shared by every
// store of an Issuer or a Verifier, so that MaxAbandoned bounds them all.
type Deadline struct {
	d         time.Duration
	abandoned atomic.Int64 // calls given up on that are still running
	outages   *outages     // set by ReportOutages, else nil
	direct    bool         // call on the caller's goroutine (see For)
}

// New returns a Deadline of d (authkit.WithStoreTimeout's value).
func New(d time.Duration) *Deadline { return &Deadline{d: d} }

// For returns the Deadline to bound the calls of store with: dl itself,
// or, for a store that ends every call at its context's deadline
// (authkit.DeadlineStore), one that calls it on the caller's goroutine with
// the deadline in its context and reports outages as dl does. Call it
// after ReportOutages.
func (dl *Deadline) For(store any) *Deadline {
	if !HonorsDeadlines(store) {
		return dl
	}
	return &Deadline{d: dl.d, outages: dl.outages, direct: true}
}

// HonorsDeadlines reports whether store ends every call at its context's
// deadline (authkit.DeadlineStore).
func HonorsDeadlines(store any) bool {
	h, ok := store.(authkit.DeadlineStore)
	return ok && h.HonorsDeadlines()
}

// Timeout returns the store timeout.
func (dl *Deadline) Timeout() time.Duration { return dl.d }

// InProcess reports whether store answers from the process's own memory
// (authkit.InProcessStore), so that a deadline would only cost a timer.
func InProcess(store any) bool {
	p, ok := store.(authkit.InProcessStore)
	return ok && p.InProcess()
}

type result[T any] struct {
	v     T
	err   error
	panic any // what f panicked with, if it did
}

// run calls f, catching a panic: it happens in a goroutine of Call's,
// where nothing (net/http's per-request recovery) would catch it.
func run[T any](ctx context.Context, f func(context.Context) (T, error)) (r result[T]) {
	defer func() {
		if p := recover(); p != nil {
			r.panic, r.err = p, fmt.Errorf("%w: the store panicked", authkit.ErrStoreUnavailable)
		}
	}()
	r.v, r.err = f(ctx)
	return r
}

// call states: running, then finished (the caller took the result) or
// abandoned (the caller returned at its deadline first).
const (
	callRunning int32 = iota
	callFinished
	callAbandoned
)

// Call calls f with a context that ends dl.d from now, or when ctx does
// if that is sooner, and returns when f returns or that context ends,
// whichever comes first: a store whose driver does not honour its context
// cannot hold the caller past the deadline. A call given up on keeps
// running in its goroutine until f returns; its result is dropped. settle,
// if not nil, then runs in that goroutine with f's error and whether the
// caller gave up on it, so that a write whose outcome the caller never
// learnt can be undone.
//
// A call that does not answer in time yields an error matching
// authkit.ErrStoreUnavailable and context.DeadlineExceeded; one whose ctx
// is cancelled yields ctx's error. A panic in f is raised again in the
// caller's goroutine, as if f had been called there, unless the caller has
// already given up on it (then settle sees an error).
//
// With a Deadline of For a store that honours deadlines, f runs on the
// caller's goroutine instead (the store promises to return by the
// deadline, and a panic needs no relaying); settle then runs in a
// goroutine of its own once f has returned, never abandoned.
//
// A failure matching authkit.ErrStoreUnavailable is reported as
// ReportOutages asked.
func Call[T any](ctx context.Context, dl *Deadline, f func(context.Context) (T, error), settle func(err error, abandoned bool)) (T, error) {
	v, err := call(ctx, dl, f, settle)
	if err != nil && dl.outages != nil {
		dl.outages.note(ctx, err)
	}
	return v, err
}

func call[T any](ctx context.Context, dl *Deadline, f func(context.Context) (T, error), settle func(err error, abandoned bool)) (T, error) {
	var zero T
	if err := ctx.Err(); err != nil {
		return zero, err
	}
	if dl.abandoned.Load() >= MaxAbandoned {
		return zero, fmt.Errorf("%w: %d earlier store calls are still unanswered past the %v store timeout", authkit.ErrStoreUnavailable, MaxAbandoned, dl.d)
	}
	cctx, cancel := context.WithTimeout(ctx, dl.d)
	defer cancel()
	if dl.direct {
		v, err := f(cctx)
		if settle != nil {
			go settle(err, false)
		}
		return v, dl.classify(ctx, cctx, err)
	}
	done := make(chan result[T], 1)
	var state atomic.Int32
	go func() {
		r := run(cctx, f)
		abandoned := !state.CompareAndSwap(callRunning, callFinished)
		done <- r // buffered: never blocks
		if settle != nil {
			settle(r.err, abandoned)
		}
		if abandoned {
			dl.abandoned.Add(-1)
		}
	}()
	var r result[T]
	select {
	case r = <-done:
	case <-cctx.Done():
		dl.abandoned.Add(1)
		if state.CompareAndSwap(callRunning, callAbandoned) {
			return zero, dl.expired(ctx)
		}
		// f returned just as the deadline passed: take its answer.
		dl.abandoned.Add(-1)
		r = <-done
	}
	if r.panic != nil {
		panic(r.panic)
	}
	return r.v, dl.classify(ctx, cctx, r.err)
}

// expired is the error of a call given up on when cctx ended.
func (dl *Deadline) expired(ctx context.Context) error {
	switch err := ctx.Err(); {
	case errors.Is(err, context.Canceled):
		return err
	case err != nil:
		// The caller's own deadline: the store did not answer in time.
		return fmt.Errorf("%w: the store did not answer before the caller's deadline: %w", authkit.ErrStoreUnavailable, err)
	}
	return fmt.Errorf("%w: the store did not answer within the %v store timeout: %w", authkit.ErrStoreUnavailable, dl.d, context.DeadlineExceeded)
}

// classify makes sure that a store error caused by the store timeout
// (rather than the caller's context) matches authkit.ErrStoreUnavailable,
// whatever the store made of it.
func (dl *Deadline) classify(ctx, cctx context.Context, err error) error {
	if err == nil || errors.Is(err, authkit.ErrStoreUnavailable) || ctx.Err() != nil || cctx.Err() == nil {
		return err
	}
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
		return fmt.Errorf("%w: the store did not answer within the %v store timeout: %w", authkit.ErrStoreUnavailable, dl.d, err)
	}
	return err
}

// OutcomeUnknown reports whether a failed write may still have been
// carried out: the call was cut short by a context, or the store failed
// mid-call (a reply lost to a reset connection is ErrStoreUnavailable
// too; found by review: a Redis API token whose reply was lost stayed
// live, counted against the limit), rather than refused.
func OutcomeUnknown(err error) bool {
	return CutShort(err) || errors.Is(err, authkit.ErrStoreUnavailable)
}

// CutShort reports whether err is a context's: the write was cut short
// rather than failed in the store.
func CutShort(err error) bool {
	return errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled)
}

type none struct{}

// Do is Call for a store method that returns only an error.
func Do(ctx context.Context, dl *Deadline, f func(context.Context) error) error {
	_, err := Call(ctx, dl, func(ctx context.Context) (none, error) { return none{}, f(ctx) }, nil)
	return err
}

// Revocations is an authkit.RevocationStore with the deadline DL on each
// call of S.
type Revocations struct {
	S  authkit.RevocationStore
	DL *Deadline
}

var _ authkit.RevocationStore = (*Revocations)(nil)

// RevokeToken implements authkit.RevocationStore.
func (b *Revocations) RevokeToken(ctx context.Context, subject, jti string, until time.Time) error {
	return Do(ctx, b.DL, func(ctx context.Context) error { return b.S.RevokeToken(ctx, subject, jti, until) })
}

// RevokeSessionTokens implements authkit.RevocationStore.
func (b *Revocations) RevokeSessionTokens(ctx context.Context, subject, sid string, until time.Time) error {
	return Do(ctx, b.DL, func(ctx context.Context) error { return b.S.RevokeSessionTokens(ctx, subject, sid, until) })
}

// SetCutoff implements authkit.RevocationStore.
func (b *Revocations) SetCutoff(ctx context.Context, subject string, cutoff, until time.Time) error {
	return Do(ctx, b.DL, func(ctx context.Context) error { return b.S.SetCutoff(ctx, subject, cutoff, until) })
}

// IsRevoked implements authkit.RevocationStore.
func (b *Revocations) IsRevoked(ctx context.Context, q authkit.RevocationQuery, now time.Time) (bool, error) {
	return Call(ctx, b.DL, func(ctx context.Context) (bool, error) { return b.S.IsRevoked(ctx, q, now) }, nil)
}

// DeleteExpiredRevocations implements authkit.RevocationStore.
func (b *Revocations) DeleteExpiredRevocations(ctx context.Context, now time.Time, limit int) (int, error) {
	return Call(ctx, b.DL, func(ctx context.Context) (int, error) { return b.S.DeleteExpiredRevocations(ctx, now, limit) }, nil)
}
