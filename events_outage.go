package authkit

import "time"

// EventStoreUnavailable reports that a store call of an Issuer or a
// Verifier failed with an error matching ErrStoreUnavailable: the store
// did not answer within the store timeout (WithStoreTimeout) or the
// caller's deadline, refused the call, or too many earlier calls are still
// unanswered. The request it served was refused (fail closed) and is
// reported on its own too (EventAuthFailed, or the error of the Issuer's
// method).
//
// So that an outage does not flood the hook, each Issuer and each Verifier
// reports at most one per OutageEventInterval, judged by its clock
// (WithClock); Err is the failure reported, and its text says how many
// failures since the previous report were not reported. Subject, SessionID,
// TokenID and Method are empty. Stores answered in process
// (InProcessStore) are not watched: they cannot be unreachable.
const EventStoreUnavailable EventType = "store_unavailable"

// OutageEventInterval is the least time between two EventStoreUnavailable
// events of one Issuer or Verifier.
const OutageEventInterval = time.Minute
