// Package redisstore is an authkit.Store kept in Redis: standalone,
// Sentinel or Redis Cluster, through the go-redis client the application
// already has (any redis.UniversalClient).
//
//	rdb := redis.NewClient(&redis.Options{Addr: "127.0.0.1:6379", ContextTimeoutEnabled: true})
//	store, err := redisstore.New(rdb)            // keys under "authkit:"
//	iss, err := issuer.New(authkit.WithStore(store), authkit.WithKeys(set))
//
// or, owning the client, redisstore.OpenURL(ctx, "redis://host:6379/0").
// It needs Redis 6.2 or later (ZADD GT/LT, SET PXAT). docs/backends/redis.md
// is the operator's guide: key layout, cluster costs, persistence.
//
// # Atomicity and Redis Cluster
//
// Every multi-key step is a Lua script or an MGET over keys of one hash
// slot, so the same code is correct on a standalone server and on a
// cluster — with one exception, below. A session, its refresh records and
// the set of them share the session ID's hash tag; a subject's API tokens
// and indexes share the subject's; a subject's revocations (jti, sid,
// cutoff) share the tag of the subject's bucket (one of 16) with the
// bucket's log of changes. A rotation's checks, in the contract's order,
// and its writes are one script: of N concurrent rotations of one token,
// on any number of clients and processes, exactly one wins. Through a
// *redis.Client (standalone or Sentinel, one primary holding every slot)
// that script is the whole rotation, one round trip: it finds the session
// from the presented token's locator, claims the successor's and indexes
// it. Through a *redis.ClusterClient or *redis.Ring, whose slots a script
// may not span, a rotation finds the session through the locator, claims
// the successor's locator, then runs the script on the session's slot:
// three round trips. IsRevoked is
// one MGET (with the subject's bucket's data-loss epoch marker, below). CreateAPIToken counts the subject's live tokens and inserts in
// one script. ListSessions and RevokeSubjectSessions read the subject's
// index and then visit each session in its own slot, one pipeline per node:
// O(sessions of the subject).
//
// # Revocation feed
//
// The Store implements authkit.RevocationFeed, for verifiers that keep a
// local copy of the revocations (authkit.WithRevocationMirror). Every
// revocation is one script that writes the entry and appends the change
// to its bucket's stream (XADD) in one atomic step, so state and log never
// disagree. Each stream keeps its last WithFeedLength changes; positions
// carry the streams' epochs, so a position from a lost log (FLUSHALL, a
// restart without persistence) or one trimmed past yields
// authkit.ErrFeedPositionLost. FollowRevocations reads with XREAD BLOCK:
// one connection on a standalone server, one per bucket (16) on a
// cluster. Revocations written by versions before the feed, under the
// subject's tag, are still read (see WithoutLegacyRevocationKeys). Every
// snapshot begins with the store's data-loss epoch (below).
// docs/backends/redis.md gives the costs.
//
// # Data loss
//
// A Redis that restarts without persistence (or a cluster shard that does)
// comes back empty, and the revocations it held with it; the Store then
// refuses every token issued before the loss (authkit.ErrDataLoss). Each of
// the 16 revocation buckets keeps an epoch marker, "P epoch:{r<b>}", in the
// bucket's slot and without a TTL: the start of its epoch, in microseconds.
// New writes the missing ones (SET NX) at the time it began; IsRevoked
// reads the subject's bucket marker in its one MGET, and refuses a token
// issued at or before it with true and a *authkit.DataLossError. A marker
// found missing means its bucket lost its data: IsRevoked (or
// RevocationSnapshot) writes every missing marker at its now, SET NX, so
// that every handle agrees on the new epoch, at the cost of one more
// round trip, once per loss. A shard that loses its data loses exactly
// the markers of its buckets: the subjects of the other shards are judged
// as before. RevocationSnapshot hands mirrors the latest epoch of any
// bucket as one authkit.RevokedBeforeEpoch entry, and a follower from
// before a loss gets authkit.ErrFeedPositionLost. Revocation writes never
// write a marker, so a write that lands first after a loss does not hide
// it; nothing deletes one. A store that ran a version without markers
// refuses, once, the tokens issued before the first New of this version.
// docs/backends/redis.md has the details (upgrade, eviction).
//
// # Expiry
//
// Expiry is judged against the time the caller passes, never Redis's
// clock. Every entry also gets a native TTL at its logical expiry plus a
// margin (WithExpiryMargin, one hour by default), so Redis removes dead
// sessions and revocations by itself; the DeleteExpired… methods delete
// and count garbage exactly, from per-kind indexes. Call issuer.Cleanup
// periodically all the same: those indexes keep a member per entry until
// a cleanup call drops it, and revoked API tokens that never expire go
// only then.
//
// # Errors and retries
//
// Outcomes the contract names (ErrNotFound, ErrConflict, ErrTokenRevoked,
// ErrTokenExpired, ErrLimitExceeded, *authkit.ReuseError) are returned as
// such. A ctx that is done yields an error matching ctx.Err(); any failure
// to get an answer (a refused or broken connection, a timeout, CLUSTERDOWN,
// LOADING, a closed client, a corrupt entry) an error matching
// authkit.ErrStoreUnavailable that keeps the client's error as its cause:
// the caller fails closed. The error's text names the failure by kind
// ("dial tcp: connect: connection refused", "Redis error reply LOADING")
// but never the server's host and port, which go-redis's messages carry;
// errors.As still reaches the client's error. go-redis's own log lines go
// through its process-wide logger (redis.SetLogger), which the program,
// not this package, sets: see docs/backends/redis.md.
//
// ctx deadlines bound calls only if the client has ContextTimeoutEnabled,
// which New therefore requires (see WithoutDeadlineCheck); WithCallTimeout
// bounds calls made without one.
//
// go-redis resends a command whose reply was lost. Every writing script
// carries a per-call nonce and recognises its own earlier run, so a resent
// rotation is not mistaken for reuse nor a resent create for a conflict.
// As with any networked store, a call that fails after its command
// reached Redis (a deadline passing while the reply is on its way) may
// have taken effect.
//
// # Concurrency
//
// A Store is safe for concurrent use by many goroutines and by many
// processes sharing the same Redis and prefix. It holds no state of its
// own beyond its configuration: the data-loss epochs live in Redis.
package redisstore
