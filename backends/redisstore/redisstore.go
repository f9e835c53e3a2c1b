package redisstore

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/authkit-go/authkit"
	"github.com/authkit-go/authkit/internal/nilness"
	"github.com/authkit-go/authkit/internal/redact"
	"github.com/authkit-go/authkit/internal/revlisten"
	"github.com/authkit-go/authkit/internal/storeerr"
)

var (
	_ authkit.Store                = (*Store)(nil)
	_ authkit.Pinger               = (*Store)(nil)
	_ authkit.RefreshSessionLookup = (*Store)(nil)
)

// DefaultPrefix starts every key the Store writes unless WithPrefix says
// otherwise.
const DefaultPrefix = "authkit:"

// DefaultExpiryMargin is how long after its logical expiry an entry is
// removed by Redis itself (its native TTL) unless WithExpiryMargin says
// otherwise.
const DefaultExpiryMargin = time.Hour

// Length limits of the identities the store keeps, in bytes, the same as
// backends/sqlstore's. Writes with a longer (or empty) value fail with an
// error matching authkit.ErrInvalidRequest.
const (
	// MaxIDLen bounds session IDs and API token IDs.
	MaxIDLen = 255
	// MaxKeyLen bounds subjects, and the jti and sid of revocations.
	MaxKeyLen = 1024
	// MaxPrefixLen bounds WithPrefix.
	MaxPrefixLen = 256
)

// Option configures New and OpenURL.
type Option func(*config) error

type config struct {
	prefix        string
	margin        time.Duration
	callTimeout   time.Duration
	skipDeadlines bool
	feedLen       int  // WithFeedLength
	noLegacy      bool // WithoutLegacyRevocationKeys
	staticRing    bool // WithStaticRing
	acks          int  // WithReplicaAcks
	ackTimeout    time.Duration
}

// WithPrefix sets the prefix of every key the Store writes. The default is
// DefaultPrefix ("authkit:"). Several prefixes let independent stores share
// one Redis, provided none of them begins with another ("app:" and
// "app:eu:" overlap: one store's key can be another's, found by review);
// give siblings ("app-us:", "app-eu:"). The prefix may be empty, is at most MaxPrefixLen bytes, and
// may not contain '{' or '}': the Store places its own hash tags, which
// a brace in the prefix would displace (see the package documentation).
func WithPrefix(prefix string) Option {
	return func(c *config) error {
		if len(prefix) > MaxPrefixLen || strings.ContainsAny(prefix, "{}") {
			return fmt.Errorf("redisstore: WithPrefix(%q): %w: at most %d bytes, without '{' or '}'", prefix, authkit.ErrInvalidConfig, MaxPrefixLen)
		}
		c.prefix = prefix
		return nil
	}
}

// WithExpiryMargin sets how long after its logical expiry an entry's
// native TTL removes it. The default is DefaultExpiryMargin (one hour);
// the range is 0 to 30 days. Expiry is always judged against the time the
// issuer passes, never Redis's clock; the native TTL only collects
// garbage, and the margin keeps a Redis clock that runs ahead of the
// application's from dropping a revocation that still counts.
func WithExpiryMargin(d time.Duration) Option {
	return func(c *config) error {
		if d < 0 || d > 30*24*time.Hour {
			return fmt.Errorf("redisstore: WithExpiryMargin(%v): %w: must be between 0 and 720h", d, authkit.ErrInvalidConfig)
		}
		c.margin = d
		return nil
	}
}

// WithCallTimeout bounds every Store method call: each runs under
// context.WithTimeout(ctx, d) and fails with an error matching
// authkit.ErrStoreUnavailable when Redis has not answered in time. The
// default, 0, adds no bound beyond the caller's ctx (and the client's
// ReadTimeout and WriteTimeout). Request contexts often carry no
// deadline; a call timeout keeps a stalled Redis from holding requests.
func WithCallTimeout(d time.Duration) Option {
	return func(c *config) error {
		if d < 0 {
			return fmt.Errorf("redisstore: WithCallTimeout(%v): %w: must not be negative", d, authkit.ErrInvalidConfig)
		}
		c.callTimeout = d
		return nil
	}
}

// WithoutDeadlineCheck lets New accept a client whose
// ContextTimeoutEnabled is false. Such a client ignores ctx deadlines on
// socket I/O: a call to a Redis that stopped answering then lasts until
// the client's ReadTimeout (3 seconds by default), whatever the caller's
// deadline. Use it only if that is acceptable.
func WithoutDeadlineCheck() Option {
	return func(c *config) error {
		c.skipDeadlines = true
		return nil
	}
}

// WithStaticRing lets New accept a *redis.Ring, on the caller's word that
// the ring never moves a key to another shard: its RingOptions.HeartbeatFn
// reports every shard up whatever the shard answers (func(context.Context,
// *redis.Client) bool { return true }), and its shards are not changed
// (SetAddrs) while the Store's data is in use. New refuses a *redis.Ring
// without it (an error matching authkit.ErrInvalidConfig), because with
// go-redis's default heartbeat a shard that stops answering for a second
// has its keys moved to the other shards, and back when it answers again:
// a revocation written in between is forgotten, and the token it revoked
// verifies again. New cannot check the heartbeat itself (go-redis fills
// in a function that cannot be inspected). See docs/backends/redis.md,
// "Redis Ring".
func WithStaticRing() Option {
	return func(c *config) error {
		c.staticRing = true
		return nil
	}
}

// DefaultFeedLength is how many changes each of the 16 logs of the
// revocation feed keeps unless WithFeedLength says otherwise: 65,536 in
// all.
const DefaultFeedLength = 4096

// WithFeedLength sets how many changes each of the revocation feed's 16
// logs keeps (see RevocationFeed in the package documentation); older
// ones are trimmed, and a follower further behind gets
// authkit.ErrFeedPositionLost and takes a new snapshot. The default is
// DefaultFeedLength; the range is 16 to 1<<24. Every writer of a
// deployment should use the same length.
func WithFeedLength(n int) Option {
	return func(c *config) error {
		if n < 16 || n > 1<<24 {
			return fmt.Errorf("redisstore: WithFeedLength(%d): %w: must be between 16 and %d", n, authkit.ErrInvalidConfig, 1<<24)
		}
		c.feedLen = n
		return nil
	}
}

// WithoutLegacyRevocationKeys is unsafe on a deployment that an earlier
// version of this package wrote revocations to, until they have expired:
// it makes IsRevoked and RevocationSnapshot ignore revocations kept under
// the key layout before the revocation feed (the subject's hash tag),
// which this version reads but no longer writes, so a token such a
// revocation killed verifies again. Use it on a deployment that never ran
// an earlier version, or once every issuer runs this one and the longest
// access-token lifetime (plus leeway) has passed since; see
// docs/backends/redis.md.
//
// Reading the old layout costs IsRevoked a second MGET on a cluster (in
// the same round trip, on the subject's slot) and RevocationSnapshot a
// SCAN of the keyspace; this option saves both.
func WithoutLegacyRevocationKeys() Option {
	return func(c *config) error {
		c.noLegacy = true
		return nil
	}
}

func buildConfig(opts []Option) (config, error) {
	c := config{prefix: DefaultPrefix, margin: DefaultExpiryMargin, feedLen: DefaultFeedLength}
	for _, o := range opts {
		if o == nil {
			return config{}, fmt.Errorf("redisstore: %w: nil Option", authkit.ErrInvalidConfig)
		}
		if err := o(&c); err != nil {
			return config{}, err
		}
	}
	return c, nil
}

// Store is an authkit.Store kept in Redis. Make one with New or OpenURL;
// it is safe for concurrent use by many goroutines and by many processes
// sharing the same Redis and prefix.
type Store struct {
	rdb    redis.UniversalClient
	k      keyspace
	cfg    config
	owned  bool        // Close closes rdb (OpenURL made it)
	closed atomic.Bool // Close was called (a second Close returns nil)
	// oneCall: rdb is a *redis.Client, whose server holds every hash
	// slot, so that a script may touch keys of several slots and
	// RotateRefresh is one call (rotateOneScript). Never true for a
	// *redis.ClusterClient, a *redis.Ring or a client type the Store
	// does not know.
	oneCall bool
	// argPrefix and argMargin are the key prefix and the expiry margin
	// (ms) as script arguments, boxed once.
	argPrefix, argMargin any
	// markers are the keys of the buckets' data-loss epoch markers
	// (keyspace.epochMarker), made once: IsRevoked reads one per call.
	markers [feedShards]string
	// listeners hear of each revocation written (ListenRevocations).
	listeners revlisten.Listeners
	// snapshotPage overrides snapshotPageSize (tests), and betweenPages
	// runs between a snapshot's pages (tests).
	snapshotPage int
	betweenPages func(cursors []snapshotCursor)
}

// New returns a Store that keeps its data in rdb under keys starting with
// the configured prefix. rdb may be a *redis.Client (standalone or
// Sentinel through redis.NewFailoverClient), a *redis.ClusterClient or a
// *redis.Ring. The caller owns rdb and closes it after the Store is no
// longer used. A *redis.Ring needs a HeartbeatFn that never reports a
// shard down: with go-redis's default, a shard's outage moves its keys to
// another shard and back, and revocations written in between are
// forgotten (docs/backends/redis.md, "Redis Ring"); New refuses a Ring
// unless WithStaticRing says it has such a heartbeat.
//
// New writes the store's data-loss epoch markers that are missing (see
// authkit.ErrDataLoss and the package documentation): a store set up now
// refuses no token issued after New began, and a Redis that lost its data
// before refuses every token issued before. It waits at most a second
// (or the WithCallTimeout, if shorter) for Redis and does not fail when
// Redis does not answer: the first IsRevoked that finds a marker missing
// writes it then, which refuses the tokens issued before that call.
//
// rdb must honour context deadlines: set ContextTimeoutEnabled in its
// options, so that a ctx deadline bounds each call's socket I/O. New
// refuses a *redis.Client, *redis.ClusterClient or *redis.Ring without it
// (an error matching authkit.ErrInvalidConfig) unless WithoutDeadlineCheck
// is given.
//
// Every read goes to a primary: New refuses a *redis.ClusterClient with
// ReadOnly, RouteByLatency or RouteRandomly (ErrInvalidConfig), because a
// replica may not yet have a revocation its primary has acknowledged; and
// in the round trip that writes the markers it asks a *redis.Client's
// server its role (ROLE, INFO replication, HELLO: a read-only user may run
// only the last) and refuses a replica (a replica's address, a Sentinel
// client with ReplicaOnly, redis.UniversalOptions with MasterName and
// ReadOnly), as it does any client whose marker write is refused with
// READONLY.
//
// It refuses too (ErrInvalidConfig) a server that answers and refuses the
// marker write for want of a permission or a command (an ACL whose key
// patterns miss the prefix, a read-only user, EVAL renamed away), and a
// client whose MaxRetries, or a cluster client's MaxRedirects, is below
// -1, with which go-redis sends no command and reports success.
//
// A *redis.Client must reach a server that holds every hash slot: in the
// round trip that writes the markers New asks INFO cluster, and refuses
// (ErrInvalidConfig) a client of one node of a Redis Cluster.
func New(rdb redis.UniversalClient, opts ...Option) (*Store, error) {
	s, err := newStore(rdb, opts)
	if err != nil {
		return nil, err
	}
	if err := s.setupEpochs(context.Background(), "New"); err != nil {
		return nil, err
	}
	return s, nil
}

// newStore is New without writing the epoch markers.
func newStore(rdb redis.UniversalClient, opts []Option) (*Store, error) {
	if nilness.Is(rdb) { // a typed nil too, such as (*redis.Client)(nil) (found by review: it panicked)
		return nil, fmt.Errorf("redisstore: New: %w: nil client", authkit.ErrInvalidConfig)
	}
	c, err := buildConfig(opts)
	if err != nil {
		return nil, err
	}
	if _, ring := rdb.(*redis.Ring); ring && !c.staticRing {
		return nil, fmt.Errorf("redisstore: New: %w: a *redis.Ring moves a shard's keys to the other shards while its heartbeat finds it down, and back when it answers, which forgets the revocations written meanwhile; give the ring a HeartbeatFn that always reports true and pass WithStaticRing (see docs/backends/redis.md, Redis Ring), or use a Redis Cluster", authkit.ErrInvalidConfig)
	}
	if err := checkPrimaryReads(rdb); err != nil {
		return nil, err
	}
	if err := checkAttempts(rdb); err != nil {
		return nil, err
	}
	if err := checkAcks(rdb, c); err != nil {
		return nil, err
	}
	if !c.skipDeadlines && !honoursDeadlines(rdb) {
		return nil, fmt.Errorf("redisstore: New: %w: the client's ContextTimeoutEnabled is false, so ctx deadlines would not bound Redis calls; set it in the client's options (or pass WithoutDeadlineCheck)", authkit.ErrInvalidConfig)
	}
	_, oneCall := rdb.(*redis.Client)
	s := &Store{rdb: rdb, k: keyspace{p: c.prefix}, cfg: c, oneCall: oneCall,
		argPrefix: c.prefix, argMargin: c.margin.Milliseconds()}
	for b := range feedShards {
		s.markers[b] = s.k.epochMarker(b)
	}
	return s, nil
}

// checkPrimaryReads refuses a cluster client that sends read-only
// commands to replicas (ReadOnly, RouteByLatency or RouteRandomly, which
// go-redis also sets for a failover cluster client's ReplicaOnly). A
// replica receives a revocation after its primary has acknowledged it, so
// IsRevoked, the revocation feed's snapshot and LookupRefresh answered by
// a replica could miss a revocation in force, for as long as replication
// lags or forever if the primary fails over before the replica got it.
func checkPrimaryReads(rdb redis.UniversalClient) error {
	cc, ok := rdb.(*redis.ClusterClient)
	if !ok {
		return nil
	}
	if o := cc.Options(); o.ReadOnly || o.RouteByLatency || o.RouteRandomly {
		return fmt.Errorf("redisstore: New: %w: the cluster client reads from replicas (ReadOnly, RouteByLatency or RouteRandomly is set), which can answer that a token is not revoked before the revocation has reached them; give the store a client without them (an application may keep a second client that reads from replicas for its own data)", authkit.ErrInvalidConfig)
	}
	return nil
}

// checkAttempts refuses a client whose MaxRetries (or a cluster client's
// MaxRedirects) is below -1: go-redis turns -1 into no retries and 0 into
// its default, but leaves -2 as it is, and then sends no command at all
// and returns no error (found by review: with max_retries=-2 in the URL,
// every revocation reported success and wrote nothing).
func checkAttempts(rdb redis.UniversalClient) error {
	bad := ""
	switch c := rdb.(type) {
	case *redis.Client:
		if c.Options().MaxRetries < 0 { // -1 is 0 by now
			bad = fmt.Sprintf("MaxRetries %d", c.Options().MaxRetries)
		}
	case *redis.ClusterClient:
		if o := c.Options(); o.MaxRedirects < 0 { // -1 is 0 by now
			bad = fmt.Sprintf("MaxRedirects %d", o.MaxRedirects)
		} else if o.MaxRetries < -1 { // 0 is -1 by now, as its nodes take it
			bad = fmt.Sprintf("MaxRetries %d", o.MaxRetries)
		}
	case *redis.Ring:
		if c.Options().MaxRetries < 0 {
			bad = fmt.Sprintf("MaxRetries %d", c.Options().MaxRetries)
		}
	}
	if bad == "" {
		return nil
	}
	return fmt.Errorf("redisstore: New: %w: the client's %s makes go-redis send no command and report success (max_retries and max_redirects take -1 for none, 0 for the default, or a count)", authkit.ErrInvalidConfig, bad)
}

// honoursDeadlines reports whether rdb's options enable context timeouts;
// a client type New cannot inspect is trusted.
func honoursDeadlines(rdb redis.UniversalClient) bool {
	switch c := rdb.(type) {
	case *redis.Client:
		return c.Options().ContextTimeoutEnabled
	case *redis.ClusterClient:
		return c.Options().ContextTimeoutEnabled
	case *redis.Ring:
		return c.Options().ContextTimeoutEnabled
	}
	return true
}

// HonorsDeadlines implements authkit.DeadlineStore. It reports true when
// the Store's client is a *redis.Client, *redis.ClusterClient or
// *redis.Ring with ContextTimeoutEnabled: go-redis then sets each call's
// context deadline on the socket and stops waiting for a pooled
// connection, a retry's back-off or a cluster redirection at it, so that
// the issuer and the verifier call the Store on the request's goroutine.
// It reports false for a client of another type (a wrapper go-redis does
// not name), and for one without ContextTimeoutEnabled that
// WithoutDeadlineCheck let through: those calls run in a goroutine the
// caller abandons at the deadline (authkit.WithStoreTimeout).
func (s *Store) HonorsDeadlines() bool {
	switch s.rdb.(type) {
	case *redis.Client, *redis.ClusterClient, *redis.Ring:
		return honoursDeadlines(s.rdb)
	}
	return false
}

// Client returns the client the Store uses.
func (s *Store) Client() redis.UniversalClient { return s.rdb }

// Prefix returns the prefix of the Store's keys.
func (s *Store) Prefix() string { return s.k.p }

// Close closes the client if OpenURL made it. A Store made by New leaves
// the caller's client open; Close is then a no-op. A second Close returns
// nil, as the SQL store's does (found by review: it returned go-redis's
// "client is closed").
func (s *Store) Close() error {
	if !s.owned || s.closed.Swap(true) {
		return nil
	}
	return s.rdb.Close()
}

// Ping implements authkit.Pinger: nil when Redis answers, else an error
// matching authkit.ErrStoreUnavailable. It reads the store's data-loss
// markers, in one pipeline (a round trip per node that holds one), rather
// than sending PING: so it fails, as the store's calls would, when a
// cluster node that holds some of the store's keys is down, or the ACL no
// longer lets the store's user read its keys (found by review: /healthz
// said ok while every call failed with NOPERM).
func (s *Store) Ping(ctx context.Context) error {
	const op = "Ping"
	if err := ctx.Err(); err != nil {
		return deadCtx(op, err)
	}
	ctx, cancel := s.callCtx(ctx)
	defer cancel()
	var gets [feedShards]*redis.StringCmd
	_, err := s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for b := range feedShards {
			gets[b] = p.Get(ctx, s.markers[b])
		}
		return nil
	})
	if err != nil && !errors.Is(err, redis.Nil) {
		return s.fail(ctx, op, err)
	}
	for _, g := range gets {
		if err := g.Err(); err != nil && !errors.Is(err, redis.Nil) {
			return s.fail(ctx, op, err)
		}
	}
	return nil
}

// reachable sends PING: nil when Redis answers, else an error matching
// authkit.ErrStoreUnavailable.
func (s *Store) reachable(ctx context.Context) error {
	ctx, cancel := s.callCtx(ctx)
	defer cancel()
	if err := s.rdb.Ping(ctx).Err(); err != nil {
		return s.fail(ctx, "Ping", err)
	}
	return nil
}

// callCtx applies WithCallTimeout.
func (s *Store) callCtx(ctx context.Context) (context.Context, context.CancelFunc) {
	if s.cfg.callTimeout > 0 {
		return context.WithTimeout(ctx, s.cfg.callTimeout)
	}
	return ctx, func() {}
}

// detachedCtx is callCtx for clean-up that must outlive ctx's end (a
// caller hanging up): without ctx's cancellation, bounded by the call
// timeout, or by detachedTimeout without one.
func (s *Store) detachedCtx(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.WithoutCancel(ctx), cmp.Or(s.cfg.callTimeout, detachedTimeout))
}

// detachedTimeout bounds detachedCtx's calls on a Store without a call
// timeout.
const detachedTimeout = 5 * time.Second

// ---- errors ----

// deadCtx reports a call made with a context that was already done:
// Redis was never asked.
func deadCtx(op string, err error) error {
	return fmt.Errorf("redisstore: %s: %w", op, err)
}

// fail classifies an error from Redis or the client.
//
//   - ctx was cancelled during the call: the error matches ctx.Err().
//   - ctx's deadline passed during the call (or the call timeout): Redis
//     did not answer in time, so the error matches both
//     context.DeadlineExceeded and authkit.ErrStoreUnavailable.
//   - anything else — refused, reset or timed-out connections, a closed
//     client, CLUSTERDOWN, LOADING, MASTERDOWN, READONLY, TRYAGAIN, OOM,
//     BUSY, a corrupt entry — matches authkit.ErrStoreUnavailable. The
//     caller fails closed.
//
// The client's error is kept as the cause (errors.As reaches it), but not
// its text, which names the server's address: clientErr.
//
// A deadline counts as passed once the clock reaches it, even if ctx.Err()
// is still nil: go-redis gives the socket ctx's deadline, and the socket's
// timer and ctx's own may fire in either order, so a read can time out at
// the deadline a moment before ctx says it is done.
func (s *Store) fail(ctx context.Context, op string, err error) error {
	err = clientErr(err)
	ctxErr := ctx.Err()
	if d, ok := ctx.Deadline(); ctxErr == nil && ok && !time.Now().Before(d) {
		ctxErr = context.DeadlineExceeded
	}
	if ctxErr != nil {
		return storeerr.Ctx("redisstore: "+op, ctxErr, err)
	}
	return fmt.Errorf("redisstore: %s: %w: %w", op, authkit.ErrStoreUnavailable, err)
}

// outcome reports one of the contract's outcomes (not found, conflict, …).
func outcome(op string, err error) error {
	return fmt.Errorf("redisstore: %s: %w", op, err)
}

// invalid reports input the store refuses before asking Redis.
func invalid(op, what string, n, limit int) error {
	if n == 0 {
		return fmt.Errorf("redisstore: %s: %w: empty %s", op, authkit.ErrInvalidRequest, what)
	}
	return fmt.Errorf("redisstore: %s: %w: %s is %d bytes, over the limit of %d", op, authkit.ErrInvalidRequest, what, n, limit)
}

// checkLen validates an identity the store is about to use in a key.
func checkLen(op, what, v string, limit int) error {
	if len(v) == 0 || len(v) > limit {
		return invalid(op, what, len(v), limit)
	}
	return nil
}

func errLimit(op string, limit int) error {
	return fmt.Errorf("redisstore: %s: %w: limit %d must be positive", op, authkit.ErrInvalidRequest, limit)
}

// ---- running commands ----

// scriptCall is one script queued in a batch; cmd holds its result after
// exec.
type scriptCall struct {
	sc   *redis.Script
	keys []string
	args []any
	cmd  *redis.Cmd
}

// batch collects the commands of one pipeline.
type batch struct {
	ctx     context.Context
	pipe    redis.Pipeliner
	scripts []*scriptCall
}

// script queues sc by its SHA; exec resends it in full if the server did
// not know it.
func (b *batch) script(sc *redis.Script, keys []string, args ...any) *scriptCall {
	c := &scriptCall{sc: sc, keys: keys, args: args}
	c.cmd = sc.EvalSha(b.ctx, b.pipe, keys, args...)
	b.scripts = append(b.scripts, c)
	return c
}

// exec runs the commands queue adds as one pipeline: one round trip on a
// standalone server, one per node (concurrently) on a cluster. It returns
// the first error of any command other than redis.Nil; the caller reads
// each command's result.
func (s *Store) exec(ctx context.Context, queue func(b *batch)) error {
	b := &batch{ctx: ctx, pipe: s.rdb.Pipeline()}
	queue(b)
	if b.pipe.Len() == 0 {
		return nil
	}
	cmds, err := b.pipe.Exec(ctx)
	if failed(err) {
		// Exec reports the first failed command; a connection that could
		// not be made fails them all, and go-redis then leaves the
		// commands themselves without an error.
		s.reloadSlots(err)
		return err
	}
	var missing []*scriptCall
	for _, c := range b.scripts {
		if redis.HasErrorPrefix(c.cmd.Err(), "NOSCRIPT") {
			missing = append(missing, c)
		}
	}
	if len(missing) > 0 {
		// The server lost its script cache (a restart, a failover, SCRIPT
		// FLUSH): NOSCRIPT means the script did not run, so resending it
		// in full is safe. EVAL caches it again.
		pipe := s.rdb.Pipeline()
		for _, c := range missing {
			c.cmd = c.sc.Eval(ctx, pipe, c.keys, c.args...)
		}
		if _, err := pipe.Exec(ctx); failed(err) {
			return err
		}
	}
	for _, c := range b.scripts {
		if err := c.cmd.Err(); err != nil && !errors.Is(err, redis.Nil) {
			return err
		}
	}
	for _, c := range cmds {
		if _, isScript := c.(*redis.Cmd); isScript {
			continue // checked above, after any resend
		}
		if err := c.Err(); err != nil && !errors.Is(err, redis.Nil) {
			return err
		}
	}
	return nil
}

// failed reports whether err from Exec is a failure: not redis.Nil (a GET
// of a missing key) nor NOSCRIPT (handled by exec).
func failed(err error) bool {
	return err != nil && !errors.Is(err, redis.Nil) && !redis.HasErrorPrefix(err, "NOSCRIPT")
}

// reloadSlots has a cluster client reload its map of slots to nodes
// after a pipeline failed short of a reply (a timeout, a connection that
// broke or could not be made): go-redis does that for a single command
// (it marks the node failing, and another node's MOVED reloads the map),
// not for a pipeline, which it retries on the same node. Without it a
// client whose primary was stopped and failed over kept its old map, and
// when the old primary woke, still believing itself primary, its named
// rotations went there and were acknowledged, then lost when it rejoined
// as a replica (found by review: 14 of 96 sessions lost their latest
// token; single commands, 1 of 48). The reload is lazy and runs one at a
// time; a reply from Redis itself reloads nothing.
func (s *Store) reloadSlots(err error) {
	cc, ok := s.rdb.(*redis.ClusterClient)
	if !ok {
		return
	}
	var reply redis.Error
	if errors.As(err, &reply) {
		return
	}
	cc.ReloadState(context.Background())
}

// run runs one script: EVALSHA, and EVAL if the server does not know it.
func (s *Store) run(ctx context.Context, sc *redis.Script, keys []string, args ...any) (any, error) {
	return sc.Run(ctx, s.rdb, keys, args...).Result()
}

// ---- reply decoding ----

// replyList returns a script's table reply.
func replyList(v any) ([]any, error) {
	l, ok := v.([]any)
	if !ok || len(l) == 0 {
		return nil, fmt.Errorf("%w: unexpected reply %T", errCorrupt, v)
	}
	return l, nil
}

// str returns a reply element as a string: nil (a Lua false) is "".
func str(v any) string {
	switch x := v.(type) {
	case string:
		return x
	case []byte:
		return string(x)
	}
	return ""
}

func corrupt(op string, err error) error {
	return fmt.Errorf("redisstore: %s: %w: %w", op, authkit.ErrStoreUnavailable, clientErr(err))
}

// clientErr hides the text of a client error — go-redis's dial errors name
// the server's host and port, a MOVED reply another node's, a sentinel's
// the master's — behind a description that names neither (package
// internal/redact); errors.Is and errors.As still reach it.
func clientErr(err error) error { return redact.Error(err, describeRedis) }

// describeRedis names a server's error reply by its code (its first word:
// WRONGPASS, LOADING, CLUSTERDOWN …), the store's own corrupt-entry error,
// and go-redis's constant messages.
func describeRedis(err error) (string, bool) {
	if errors.Is(err, errCorrupt) {
		return err.Error(), true // the store's own words, naming no server
	}
	if _, ok := err.(redis.Error); ok {
		code, _, _ := strings.Cut(err.Error(), " ")
		if len(code) > 32 || strings.ContainsFunc(code, func(r rune) bool { return (r < 'A' || r > 'Z') && r != '_' && r != '-' }) {
			code = "(unnamed)"
		}
		msg := err.Error()
		switch code {
		case "NOPERM":
			// The command refused names no server, and tells the operator
			// what the ACL lacks (found by an adoption test: a cluster
			// client needs cluster|slots).
			if cmd := quotedCommand(msg); cmd != "" {
				return "Redis error reply NOPERM (" + cmd + ")", true
			}
			if strings.Contains(msg, "permissions to access one of the keys") {
				return "Redis error reply NOPERM (a key the ACL's key patterns do not cover)", true
			}
		case "ERR":
			// Inside a script, an ACL's refusal and a renamed command are
			// ERR replies (found by review: logged as a bare ERR).
			if strings.Contains(msg, "no permissions to run the '") {
				if cmd := quotedCommand(msg); cmd != "" {
					return "Redis error reply ERR (the ACL refused " + cmd + ", in a script)", true
				}
			}
			if strings.Contains(msg, "user executing the script can't run this command") { // Redis 7.0
				return "Redis error reply ERR (the ACL refused a command the store's script runs)", true
			}
			if rest, ok := strings.CutPrefix(msg, "ERR unknown command '"); ok {
				if cmd := quotedCommand(" run the '" + strings.ToLower(rest)); cmd != "" {
					return "Redis error reply ERR (unknown command " + cmd + ")", true
				}
			}
		}
		return "Redis error reply " + code, true
	}
	return redisSentinels(err)
}

// quotedCommand returns the command a NOPERM reply quotes ("… no
// permissions to run the 'cluster|slots' command"): lower-case letters,
// '|', '-' and '_' only, at most 64 bytes; "" otherwise.
func quotedCommand(msg string) string {
	_, rest, ok := strings.Cut(msg, " run the '")
	if !ok {
		return ""
	}
	cmd, _, ok := strings.Cut(rest, "'")
	if !ok || cmd == "" || len(cmd) > 64 || strings.ContainsFunc(cmd, func(r rune) bool {
		return (r < 'a' || r > 'z') && r != '|' && r != '-' && r != '_'
	}) {
		return ""
	}
	return cmd
}

var redisSentinels = redact.Fixed(
	"redis: client is closed", "redis: connection pool timeout", "redis: connection pool exhausted",
	"redis: all sentinels specified in configuration are unreachable", "redis: no sentinels configured",
	"redis: all ring shards are down", "redis: nil",
)
