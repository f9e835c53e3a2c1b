package authkit

import (
	"context"
	"errors"
	"time"
)

// ErrFeedPositionLost reports that a [RevocationFeed] cannot continue from
// the position it was given without a gap: the log no longer holds the
// changes after it, or the position is not one of this store's (empty,
// malformed, from another store, or from a log that was lost and started
// over). The follower takes a new snapshot.
var ErrFeedPositionLost = errors.New("authkit: revocation feed position lost")

// RevocationKind says which write of a [RevocationStore] a [Revocation]
// records.
type RevocationKind uint8

// The revocation kinds. Every revocation authkit makes is one of them:
// issuer.Revoke of an access token writes a RevokedToken,
// issuer.RevokeSession and the session revocation that refresh-token reuse
// detection triggers write a RevokedSession, and issuer.RevokeSubject
// (logout-all) writes a RevokedBefore.
const (
	// RevokedToken is one access token, by jti: RevocationStore.RevokeToken.
	RevokedToken RevocationKind = iota + 1
	// RevokedSession is every access token of one session (refresh
	// family), by sid: RevocationStore.RevokeSessionTokens.
	RevokedSession
	// RevokedBefore is a subject's cutoff: every token of the subject
	// issued at or before it is dead. RevocationStore.SetCutoff.
	RevokedBefore
)

// String returns "token", "session", "cutoff" or "epoch".
func (k RevocationKind) String() string {
	switch k {
	case RevokedBeforeEpoch:
		return "epoch"
	case RevokedToken:
		return "token"
	case RevokedSession:
		return "session"
	case RevokedBefore:
		return "cutoff"
	}
	return "unknown"
}

// Revocation is one entry of a [RevocationStore], or one change to it, as
// a [RevocationFeed] delivers them.
type Revocation struct {
	// Kind is the write that made the entry.
	Kind RevocationKind
	// Subject is the subject the entry is recorded under (the token's sub).
	Subject string
	// ID is the jti (RevokedToken) or the sid (RevokedSession); empty for
	// RevokedBefore and RevokedBeforeEpoch.
	ID string
	// Cutoff is, for RevokedBefore, the time at or before which the
	// subject's tokens were issued to be dead; for RevokedBeforeEpoch, the
	// start of the store's epoch (every token issued at or before it is
	// dead); zero for the other kinds.
	Cutoff time.Time
	// Until is when the entry stops counting: at a now at or after Until
	// the entry no longer makes a token dead.
	Until time.Time
}

// FeedPosition marks a place in the log of changes of a [RevocationFeed].
// It is opaque: only the store that made it reads it, and callers only
// keep it and hand it back. It is printable text, so it may be logged or
// saved, and it is never empty.
type FeedPosition string

// RevocationFeed is implemented by a [RevocationStore] that can tell a
// verifier everything in force and everything that changes after, so that
// the verifier keeps a local copy of the store's revocations
// (WithRevocationMirror) and answers IsRevoked from memory. It is
// optional: the verifier finds it by a type assertion on the
// RevocationStore it was given. Application code does not call it.
//
// A change is one successful write to the RevocationStore, through any
// handle on its data: RevokeToken, RevokeSessionTokens or SetCutoff. These
// are the only revocation writes; the session revocation that refresh-token
// reuse detection triggers is a RevokeSessionTokens like any other. A
// store that keeps an epoch (see [ErrDataLoss]) also logs the start of a
// new epoch, as a RevokedBeforeEpoch change, when its log survived the
// loss (a truncated revocations table); when the log went with the data,
// followers get ErrFeedPositionLost and the new snapshot carries the
// epoch. The store keeps the changes in a log, and a [FeedPosition] marks
// a place in it.
//
// Changes merge by the rules of RevocationStore: for one key (kind,
// subject and ID) the later until wins, and a later cutoff replaces an
// earlier one, never the reverse. Applying a change is therefore
// idempotent and order-free: a copy that applies a change twice, or two
// changes in either order, ends in the same state as the store. A mirror
// relies on this, and so may a store: its snapshot may already reflect
// changes that follow the snapshot's position.
//
// The shared rules in the RefreshStore doc apply (ctx, ErrStoreUnavailable,
// time precision, keys compared byte for byte). Besides:
//
//   - Positions: a store never returns an empty position. A position stays
//     valid as long as the log holds the changes after it, including
//     across a restart of a store whose data survives restarts. A position
//     the store cannot continue from without a gap — empty, malformed,
//     older than the log keeps, from another store, or from the store's
//     own log before that log was lost and started over (put an epoch in
//     positions, so that a log that starts over never accepts the old
//     one's) — yields an error matching ErrFeedPositionLost. A store that
//     cannot reach its backend returns ErrStoreUnavailable instead, never
//     ErrFeedPositionLost.
//   - Retention: a store may trim its log (after it has no more use for a
//     change, for example once the change's Until has passed), but it
//     should keep at least several minutes of changes, so that a follower
//     back from a short outage catches up without a new snapshot.
//   - Callbacks: fn is never called concurrently, and never after the
//     method that was given it has returned.
//
// Package conformance checks these rules with RunRevocationFeed, through
// two handles on the same data.
type RevocationFeed interface {
	// RevocationSnapshot calls fn once for every entry in force at now
	// (whose Until is after now), with the entry's merged state: the
	// latest until and, for a cutoff, the latest cutoff. It calls fn at
	// most once per key; it may also include entries that are no longer in
	// force, but nothing that was never written. A store that keeps an
	// epoch includes it, as one RevokedBeforeEpoch entry, in every
	// snapshot (starting a new epoch at now first if it finds its marker
	// gone, so callers pass the current time). It returns the position
	// the changes continue from: every change whose write returned before
	// RevocationSnapshot was called is at or before that position, and the
	// entries reflect every change at or before it (they may reflect later
	// ones too). FollowRevocations from the position then delivers exactly
	// the changes after it. If fn returns an error, RevocationSnapshot
	// stops and returns it.
	RevocationSnapshot(ctx context.Context, now time.Time, fn func(Revocation) error) (FeedPosition, error)

	// FollowRevocations calls fn with the changes after position after,
	// in batches, each with pos, the position just after the batch: a
	// later FollowRevocations from pos continues with the next change. It
	// keeps following until it returns.
	//
	// It delivers every change after after exactly once, each carrying its
	// write's own arguments (Kind from the method; Subject; ID, the jti or
	// sid, empty for a cutoff; Cutoff, zero for a jti or sid; Until), kept
	// with the precision the store keeps; a write that changed no state
	// (an earlier until) is a change too. The changes of one subject come
	// in the order their writes were made; changes of different subjects
	// may come in any order relative to each other (a sharded store may
	// keep one log per shard).
	//
	// heartbeat (> 0) bounds the silence: fn is called at least every
	// heartbeat, with an empty batch when nothing changed. Every call of
	// fn vouches for the log: its pos covers every change whose write
	// returned at least heartbeat before the call. A store that cannot
	// vouch (its connection is down, or it is behind) does not call fn: it
	// catches up first, or returns an error matching ErrStoreUnavailable.
	// A mirror trusts its copy only as long as these calls keep coming.
	//
	// FollowRevocations never returns nil. It returns an error matching
	// ctx.Err() when ctx ends, fn's error (matching it with errors.Is)
	// when fn fails, an error matching ErrStoreUnavailable when the
	// backend fails, and an error matching ErrFeedPositionLost when it
	// cannot continue from after (then without calling fn) or, while
	// following, from the last pos it passed to fn (its log was trimmed
	// past it).
	FollowRevocations(ctx context.Context, after FeedPosition, heartbeat time.Duration, fn func(changes []Revocation, pos FeedPosition) error) error
}

// RevocationListeners is implemented by a [RevocationStore] that tells
// listeners in this process of each revocation written through it, before
// the writing call returns. A verifier with a revocation mirror
// (WithRevocationMirror) whose store implements it listens, so that an
// issuer and a verifier sharing one store value in one process see each
// other's revocations at once — a logout is in force on this server the
// moment it returns — while other processes learn of it through the feed,
// within maxLag. It is optional and found by a type assertion, like
// RevocationFeed; application code does not call it.
//
// Package conformance checks it (the "RevocationFeed/Listeners" subtests)
// for a store that implements RevocationFeed too.
type RevocationListeners interface {
	// ListenRevocations calls fn with every revocation written through
	// this store value, carrying the write's own arguments as
	// FollowRevocations delivers them, after the store holds it and before
	// the writing call returns, until stop is called: each RevokeToken,
	// RevokeSessionTokens and SetCutoff that returns nil, and possibly one
	// that fails after the store took the write (a replica did not
	// confirm it in time). A write the store refused (bad input, a
	// backend that could not be reached) is not passed to fn. fn may be
	// called concurrently (from concurrent writes); it must be fast, must
	// not block, and must not call the store or stop. stop may be called
	// more than once; after it returns, fn is not called again.
	ListenRevocations(fn func(Revocation)) (stop func())
}
