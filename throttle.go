package authkit

import (
	"context"
	"time"
)

// MaxThrottleKeyLen is the longest key a [ThrottleStore] is given, in
// bytes. Keys are never empty.
const MaxThrottleKeyLen = 128

// MaxThrottleKeys is the most keys one ThrottleStore.ThrottleStates call
// reads.
const MaxThrottleKeys = 8

// ThrottleState is what a [ThrottleStore] knows of one key: the failures
// counted in the key's current window. The zero value is a key with no
// failure on record.
type ThrottleState struct {
	// Failures is how many failures were recorded in the current window.
	Failures int64
	// Last is the latest failure time recorded in the window (the largest
	// now passed to AddFailure, not the most recent call's).
	Last time.Time
	// ExpiresAt is when the window ends: the first failure's now plus the
	// window it was recorded with. At or after it the state counts as
	// empty and the next failure starts a new window.
	ExpiresAt time.Time
}

// Active reports whether st holds failures that still count at now.
func (st ThrottleState) Active(now time.Time) bool {
	return st.Failures > 0 && now.Before(st.ExpiresAt)
}

// ThrottleStore keeps shared counters of failed attempts, so that every
// replica of an application sees one budget: N replicas never give an
// attacker N times the guesses. The HTTP layer also counts in it, with
// AddFailure under keys of their own (per 10-second epoch), the attempts
// that run beside others as they start and end, so that a burst sent at once to N replicas,
// which reads the counters before its failures are written, is checked
// in turn past the free attempts, as in one process (see
// docs/security.md). Application code does not call it; the
// HTTP layer's throttle does, through a policy that decides which keys an
// attempt counts against and how long a key with many failures waits.
//
// It is optional: a [Store] need not implement it. The HTTP layer uses
// the verifier's store when it implements it (the SQL and Redis stores
// do), or the one given with httpauth.WithThrottleStore; otherwise each
// process keeps its own counters in memory (memory.NewThrottle).
//
// The store is a counter and no more: it knows nothing of users,
// addresses, thresholds or backoff. Keys are opaque strings the caller
// derives (the policy hashes a user name, a client address or the pair
// with a domain separator, so that keys are fixed-size, carry no personal
// data in the clear, and cannot be chosen to collide); they are 1 to
// [MaxThrottleKeyLen] bytes of any value and compare byte for byte. A key
// out of bounds yields an error matching [ErrInvalidRequest] and changes
// nothing.
//
// Windows are fixed: the first failure of a key opens a window of the
// length that call passes, and failures accumulate in it until it ends,
// whatever later calls pass; the window does not slide or extend. The
// caller's policy turns the count and the last failure into a wait
// (growing with the count), and uses the window end as the most a state
// can keep an attempt waiting.
//
// The shared rules in the [RefreshStore] doc apply: safe for concurrent use
// by goroutines and processes (N concurrent AddFailure calls on one key
// count N, however they interleave, through any handles on the same
// data); a cancelled or expired ctx yields an error matching ctx.Err(); an
// unreachable backend yields an error matching [ErrStoreUnavailable] (the
// caller then refuses the attempt: fail closed); expiry is judged only
// against the now passed in, and once a call has passed a now at which a
// window has ended the store may drop that key (native TTLs); times
// round-trip to the microsecond.
//
// A store that may resend a write whose reply was lost (a Redis client's
// retry) may count that failure twice: over-counting is the safe side.
// Package conformance checks these rules: conformance.Run for a Store
// that implements ThrottleStore, conformance.RunThrottle for a throttle
// store of its own type.
//
// # How the HTTP layer uses it
//
// Every place a password is checked (the password grant, Basic
// credentials, POST /api-tokens, an authorization request's
// CheckPassword) counts an attempt of user from client
// address addr (an IPv6 address is taken as its /64) against three keys:
// the pair (user, addr), the address and the user. Before the password is
// checked, one ThrottleStates call reads the three; the attempt is refused
// (HTTP 429, Retry-After) while any of them is waiting. A wrong password
// then calls AddFailure on each; the right one clears none of them, so
// that an attacker who logs in to an account of their own resets no count
// of the address they guess from, nor of the account they guess at (user
// names are case-folded, and an account "Alice" shares the counters of
// "alice"). It marks the pair of the exact name known instead (see
// httpauth.ThrottlePolicy.Known). A key waits once it has more failures in its window than its free
// allowance, for a time that doubles with every further failure, up to a
// cap and never past the window's end. The default policy (the pair: 5
// free, at most 15 minutes; the address: 30 free, at most 15 minutes; the
// user: 100 free per hour, at most 1 minute) keeps the right password from
// a clean address working while another address fails 30 times a minute;
// beyond 100 failures an hour the account answers at most about once a
// minute, except at the addresses its user logged in from (under the name
// as typed then). A store error refuses the attempt.
type ThrottleStore interface {
	// AddFailure records one failure for key at now, as one atomic step,
	// and returns the key's state after it. If the key has no state, or
	// its window has ended (ExpiresAt <= now), a new window opens: the
	// state becomes {Failures: 1, Last: now, ExpiresAt: now + window}.
	// Otherwise Failures grows by one, Last becomes the later of Last and
	// now, and ExpiresAt stays. window > 0.
	AddFailure(ctx context.Context, key string, now time.Time, window time.Duration) (ThrottleState, error)

	// ThrottleStates returns the state of each key at now, in the order of
	// keys, without counting anything: the zero ThrottleState for a key
	// with no state or whose window has ended (ExpiresAt <= now). It reads
	// every key in one round trip to the backend (the check before each
	// password is verified). 1 <= len(keys) <= MaxThrottleKeys; more, or
	// none, yields an error matching ErrInvalidRequest.
	ThrottleStates(ctx context.Context, now time.Time, keys ...string) ([]ThrottleState, error)

	// ClearThrottle forgets key's state (a success). Clearing a key with
	// no state is not an error.
	ClearThrottle(ctx context.Context, key string) error

	// DeleteExpiredThrottles deletes at most limit keys whose window has
	// ended at now (ExpiresAt <= now) and returns how many it deleted; the
	// caller repeats while the result equals limit. limit > 0. A store
	// whose backend expires keys by itself may return 0.
	DeleteExpiredThrottles(ctx context.Context, now time.Time, limit int) (int, error)
}
