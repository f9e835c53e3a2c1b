package authkit

import (
	"errors"
	"time"
)

// Data loss.
//
// A store that can lose what it holds while the processes using it keep
// running — a Redis restarted without persistence, a failover to a
// replica that missed writes, a truncated table — must never answer "not
// revoked" for a token revoked before the loss. The RevocationStore
// contract guards against it with an epoch: the time the store's data
// begins.
//
// A store that can lose data keeps an epoch marker beside its revocations
// (for a sharded store, on every shard that holds any), written when the
// store is first set up, and lost together with the data it vouches for.
// The marker holds the epoch's start. A store set up fresh (or upgraded
// from a version without markers, its data intact) may start its epoch
// at any time not after its first use; a store that finds its marker gone
// has lost data and starts a new epoch at the time it noticed. Every
// token issued at or before the epoch's start is dead: IsRevoked returns
// true and a *DataLossError, whatever else the store holds, and a
// RevocationFeed hands the epoch to mirrors as a RevokedBeforeEpoch
// entry. Those tokens were issued when revocations could have been made
// that the store no longer knows; they die within one access-token
// lifetime of the loss anyway, and their sessions, if kept in the same
// store, are gone with it.

// ErrDataLoss matches a [*DataLossError]: the revocation store lost data
// (or was set up after the token was issued), so a token issued before
// that is refused.
var ErrDataLoss = errors.New("authkit: revocation store lost data")

// DataLossError is returned by RevocationStore.IsRevoked, together with
// true, for a token issued at or before the start of the store's epoch:
// the time the store's data begins, after it lost what it held before or
// when it was set up. It matches ErrDataLoss and ErrTokenRevoked.
type DataLossError struct {
	// Since is the start of the store's epoch: every token issued at or
	// before it is refused.
	Since time.Time
}

// Error says what happened in words an operator can act on.
func (e *DataLossError) Error() string {
	return "authkit: the revocation store's data begins at " + e.Since.UTC().Format(time.RFC3339Nano) +
		" (it lost what it held before, or was set up then): tokens issued before are refused until they expire"
}

// Is reports whether target is ErrDataLoss or ErrTokenRevoked.
func (e *DataLossError) Is(target error) bool {
	return target == ErrDataLoss || target == ErrTokenRevoked
}

// EventDataLoss reports that a Verifier refused a token because its
// revocation store lost data after the token was issued (a
// *DataLossError): the store's epoch began at Err's Since, and every
// token issued before is refused until it expires. Each Verifier reports
// it once per epoch it sees (the first refusal under a new Since), so a
// fleet of N verifiers reports it about N times; each refusal is also an
// EventAuthFailed. Subject, SessionID and TokenID are those of the first
// token refused; Method is the token's.
const EventDataLoss EventType = "data_loss"

// RevokedBeforeEpoch is the kind of the entry by which a RevocationFeed
// tells a mirror its store's epoch (see ErrDataLoss): every token, of any
// subject, issued at or before Cutoff is dead. Subject and ID are empty;
// Until means nothing (the entry counts as long as the epoch lasts; a
// mirror keeps the latest Cutoff it was given). A store that keeps an
// epoch includes it in every RevocationSnapshot, and delivers a new one
// as a change when it starts a new epoch while its log survives.
const RevokedBeforeEpoch RevocationKind = RevokedBefore + 1
