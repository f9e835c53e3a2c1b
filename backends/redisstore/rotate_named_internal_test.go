package redisstore

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/authkit-go/authkit"
	"github.com/authkit-go/authkit/internal/testservers"
	"github.com/authkit-go/authkit/issuer"
	"github.com/authkit-go/authkit/keys"
)

// tripHook counts a client's round trips: each command sent alone is
// one, each pipeline one (a cluster client sends a pipeline's commands to
// their nodes concurrently).
type tripHook struct{ alone, pipelines *atomic.Int64 }

func (h tripHook) DialHook(next redis.DialHook) redis.DialHook { return next }

func (h tripHook) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		h.alone.Add(1)
		return next(ctx, cmd)
	}
}

func (h tripHook) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		h.pipelines.Add(1)
		return next(ctx, cmds)
	}
}

// TestNamedRotationOnACluster: on a Redis Cluster a rotation that names
// its session is one round trip (one pipeline, no command alone), where
// one that names none takes three; both leave the family as the other
// would, and a name that is not the token's session finds nothing.
func TestNamedRotationOnACluster(t *testing.T) {
	addrs := testservers.RedisCluster(t)
	rdb := redis.NewClusterClient(&redis.ClusterOptions{Addrs: addrs, ContextTimeoutEnabled: true})
	t.Cleanup(func() { _ = rdb.Close() })
	ctx := t.Context()
	// Every script on every primary first, so that no NOSCRIPT resend
	// is counted.
	err := rdb.ForEachMaster(ctx, func(ctx context.Context, c *redis.Client) error {
		for _, sc := range []*redis.Script{rotateScript, claimScript, releaseScript} {
			if err := sc.Load(ctx, c).Err(); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	var alone, pipelines atomic.Int64
	rdb.AddHook(tripHook{&alone, &pipelines})
	s, err := New(rdb, WithPrefix(testservers.RedisPrefix(t, rdb)))
	if err != nil {
		t.Fatal(err)
	}
	if s.oneCall {
		t.Fatal("a Store over a cluster client rotates with the single-primary script")
	}
	base := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	sess := authkit.Session{ID: "6ba7b810-9dad-11d1-80b4-00c04fd430c8", Subject: "alice", CreatedAt: base, LastUsedAt: base, ExpiresAt: base.Add(48 * time.Hour), IdleExpiresAt: base.Add(time.Hour)}
	if err := s.CreateSession(ctx, sess, authkit.RefreshRecord{Hash: testHash("c0"), SessionID: sess.ID, Subject: sess.Subject, IssuedAt: base, ExpiresAt: sess.IdleExpiresAt}); err != nil {
		t.Fatal(err)
	}
	other := sess
	other.ID, other.Subject = "other-session", "bob"
	if err := s.CreateSession(ctx, other, authkit.RefreshRecord{Hash: testHash("o0"), SessionID: other.ID, Subject: other.Subject, IssuedAt: base, ExpiresAt: other.IdleExpiresAt}); err != nil {
		t.Fatal(err)
	}
	trips := func() (int64, int64) { return alone.Swap(0), pipelines.Swap(0) }
	trips()
	for i := 1; i <= 12; i++ {
		now := base.Add(time.Duration(i) * time.Minute)
		r := authkit.Rotation{Old: testHash(fmt.Sprint("c", i-1)), Next: testHash(fmt.Sprint("c", i)), NextExpiresAt: now.Add(time.Hour), Successor: []byte("x"), Now: now}
		if i%3 != 0 {
			r.SessionID = sess.ID
		}
		got, err := s.RotateRefresh(ctx, r)
		if err != nil {
			t.Fatalf("rotation %d: %v", i, err)
		}
		if got.ID != sess.ID || !got.LastUsedAt.Equal(now) {
			t.Errorf("rotation %d returned %+v", i, got)
		}
		a, p := trips()
		switch {
		case r.SessionID != "" && (a != 0 || p != 1):
			t.Errorf("named rotation %d: %d commands alone and %d pipelines, want one pipeline", i, a, p)
		case r.SessionID == "" && a+p != 3:
			t.Errorf("unnamed rotation %d: %d commands alone and %d pipelines, want 3 round trips", i, a, p)
		}
		// The successor is found by hash (its locator), whichever path
		// wrote it.
		rec, err := s.LookupRefresh(ctx, r.Next)
		if err != nil || rec.SessionID != sess.ID || !rec.IssuedAt.Equal(now) {
			t.Errorf("rotation %d: the successor: %+v, %v", i, rec, err)
		}
		trips()
	}
	// Reuse, named: the winning rotation's fields, and one more round trip
	// to release the refused successor's claim.
	now := base.Add(time.Hour)
	_, err = s.RotateRefresh(ctx, authkit.Rotation{Old: testHash("c4"), Next: testHash("late"), NextExpiresAt: now.Add(time.Hour), Successor: []byte("y"), Now: now, SessionID: sess.ID})
	if re, ok := errors.AsType[*authkit.ReuseError](err); !ok || re.SessionID != sess.ID || !re.UsedAt.Equal(base.Add(5*time.Minute)) {
		t.Errorf("a named reuse: %v", err)
	}
	if a, p := trips(); a != 0 || p != 2 {
		t.Errorf("a named reuse: %d commands alone and %d pipelines, want two: the rotation, and the release of its successor's claim", a, p)
	}
	// A name that is not the token's session: not found, and the refused
	// rotation's claim is released.
	_, err = s.RotateRefresh(ctx, authkit.Rotation{Old: testHash("o0"), Next: testHash("stolen"), NextExpiresAt: now.Add(time.Hour), Successor: []byte("z"), Now: now, SessionID: sess.ID})
	if !errors.Is(err, authkit.ErrNotFound) {
		t.Errorf("a rotation naming another session than its token's: %v, want ErrNotFound", err)
	}
	for _, h := range []string{"late", "stolen"} {
		if n, err := rdb.Exists(ctx, s.k.refreshLocator(testHash(h))).Result(); err != nil || n != 0 {
			t.Errorf("the locator of a refused rotation's successor %q: %d, %v", h, n, err)
		}
	}
	if rec, err := s.LookupRefresh(ctx, testHash("o0")); err != nil || !rec.UsedAt.IsZero() {
		t.Errorf("the other session's token after a rotation naming the wrong session: %+v, %v", rec, err)
	}
	// A rotation naming a session that does not exist (anyone can make
	// such a token) leaves nothing behind: no locator, no cleanup entry
	// (found by review: the session's entry was added for the refresh
	// TTL).
	_, err = s.RotateRefresh(ctx, authkit.Rotation{Old: testHash("forged"), Next: testHash("forged-next"), NextExpiresAt: now.Add(time.Hour), Successor: []byte("z"), Now: now, SessionID: "0d0c0b0a-0908-4706-8504-030201000000"})
	if !errors.Is(err, authkit.ErrNotFound) {
		t.Errorf("a rotation naming a session that does not exist: %v, want ErrNotFound", err)
	}
	for _, m := range []string{gcSessionMember("0d0c0b0a-0908-4706-8504-030201000000"), gcRecordMember("0d0c0b0a-0908-4706-8504-030201000000", hashID(testHash("forged-next")))} {
		if _, err := rdb.ZScore(ctx, s.k.gcKey(gcSess, m), m).Result(); !errors.Is(err, redis.Nil) {
			t.Errorf("a refused rotation naming no real session left the cleanup entry %s (%v)", m, err)
		}
	}
	if n, err := rdb.Exists(ctx, s.k.refreshLocator(testHash("forged-next"))).Result(); err != nil || n != 0 {
		t.Errorf("the locator of a refused forged rotation's successor: %d, %v", n, err)
	}
	// A real session's entry still moves earlier.
	member := gcSessionMember(sess.ID)
	early := base.Add(20 * time.Minute)
	if _, err := s.RotateRefresh(ctx, authkit.Rotation{Old: testHash("c12"), Next: testHash("c13"), NextExpiresAt: early, Successor: []byte("x"), Now: base.Add(13 * time.Minute), SessionID: sess.ID}); err != nil {
		t.Fatal(err)
	}
	if sc, err := rdb.ZScore(ctx, s.k.gcKey(gcSess, member), member).Result(); err != nil || sc != score(early) {
		t.Errorf("the session's cleanup entry after a rotation with an earlier idle expiry: %v (%v), want %v", sc, err, score(early))
	}
}

// A named rotation whose script rotated while the successor's claim was
// lost on its way claims again: the rotation succeeds and the successor
// is found by hash, as the reuse grace needs (without the second claim
// it was found only through its session).
func TestNamedRotationClaimLost(t *testing.T) {
	addrs := testservers.RedisCluster(t)
	rdb := redis.NewClusterClient(&redis.ClusterOptions{Addrs: addrs, ContextTimeoutEnabled: true, MaxRetries: -1})
	t.Cleanup(func() { _ = rdb.Close() })
	ctx := t.Context()
	var armed atomic.Bool
	rdb.AddHook(failClaims{inPipeline: func() bool { return armed.CompareAndSwap(true, false) }, alone: func() bool { return false }})
	s, err := New(rdb, WithPrefix(testservers.RedisPrefix(t, rdb)))
	if err != nil {
		t.Fatal(err)
	}
	base := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	sess := authkit.Session{ID: "6ba7b810-9dad-11d1-80b4-00c04fd430c8", Subject: "alice", CreatedAt: base, LastUsedAt: base, ExpiresAt: base.Add(48 * time.Hour), IdleExpiresAt: base.Add(time.Hour)}
	if err := s.CreateSession(ctx, sess, authkit.RefreshRecord{Hash: testHash("l0"), SessionID: sess.ID, Subject: sess.Subject, IssuedAt: base, ExpiresAt: sess.IdleExpiresAt}); err != nil {
		t.Fatal(err)
	}
	now := base.Add(time.Minute)
	armed.Store(true)
	got, err := s.RotateRefresh(ctx, authkit.Rotation{Old: testHash("l0"), Next: testHash("l1"), NextExpiresAt: now.Add(time.Hour), Successor: []byte("x"), Now: now, SessionID: sess.ID})
	if armed.Load() {
		t.Fatal("the rotation sent no pipeline")
	}
	if err != nil || got.ID != sess.ID {
		t.Fatalf("a rotation whose claim was lost: %+v, %v", got, err)
	}
	rec, err := s.LookupRefresh(ctx, testHash("l1"))
	if err != nil || rec.SessionID != sess.ID || !rec.IssuedAt.Equal(now) {
		t.Errorf("the successor of a rotation whose claim was lost, by hash: %+v, %v", rec, err)
	}
}

// failClaims fails claims of a locator without sending them, as when the
// node of the successor's locator slot is down while the others answer:
// those in a pipeline while inPipeline says so, those sent alone (a
// second try) while alone says so.
type failClaims struct{ inPipeline, alone func() bool }

func isClaim(c redis.Cmder) bool {
	a := c.Args()
	return len(a) > 1 && (a[0] == "evalsha" || a[0] == "eval") && a[1] == claimScript.Hash()
}

var errNodeDown = errors.New("dial tcp: connection refused")

func (h failClaims) DialHook(next redis.DialHook) redis.DialHook { return next }

func (h failClaims) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		if isClaim(cmd) && h.alone() {
			cmd.SetErr(errNodeDown)
			return errNodeDown
		}
		return next(ctx, cmd)
	}
}

func (h failClaims) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		if !slices.ContainsFunc(cmds, isClaim) || !h.inPipeline() {
			return next(ctx, cmds)
		}
		var kept []redis.Cmder
		for _, c := range cmds {
			if isClaim(c) {
				c.SetErr(errNodeDown)
				continue
			}
			kept = append(kept, c)
		}
		if err := next(ctx, kept); err != nil {
			return err
		}
		return errNodeDown
	}
}

// While the node of the successors' locators is down, named rotations
// still succeed, and the issuer finds their successors by session: the
// next refresh, a repeat inside the reuse grace, introspection and
// revocation by refresh token all work (found by review: the rotation
// failed after spending the token, and the client's retry was taken for
// reuse and ended the session).
func TestNamedRotationClaimNodeDown(t *testing.T) {
	addrs := testservers.RedisCluster(t)
	rdb := redis.NewClusterClient(&redis.ClusterOptions{Addrs: addrs, ContextTimeoutEnabled: true, MaxRetries: -1})
	t.Cleanup(func() { _ = rdb.Close() })
	ctx := t.Context()
	var down atomic.Bool
	rdb.AddHook(failClaims{inPipeline: down.Load, alone: down.Load})
	s, err := New(rdb, WithPrefix(testservers.RedisPrefix(t, rdb)))
	if err != nil {
		t.Fatal(err)
	}
	k, err := keys.Generate(keys.EdDSA)
	if err != nil {
		t.Fatal(err)
	}
	set, err := keys.NewSet(k)
	if err != nil {
		t.Fatal(err)
	}
	iss, err := issuer.New(authkit.WithKeys(set), authkit.WithStore(s), authkit.WithReuseGrace(30*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	first, err := iss.IssuePair(ctx, "alice")
	if err != nil {
		t.Fatal(err)
	}
	down.Store(true)
	second, err := iss.Refresh(ctx, first.RefreshToken)
	if err != nil {
		t.Fatalf("a refresh while the successor's locator cannot be written: %v", err)
	}
	third, err := iss.Refresh(ctx, second.RefreshToken)
	if err != nil {
		t.Fatalf("the refresh of a successor without a locator: %v", err)
	}
	// A repeat of the second refresh, inside the grace: the same
	// successor, the session not revoked.
	again, err := iss.Refresh(ctx, second.RefreshToken)
	if err != nil || again.RefreshToken != third.RefreshToken {
		t.Fatalf("a repeat inside the reuse grace: %v (same successor: %v)", err, again.RefreshToken == third.RefreshToken)
	}
	down.Store(false)
	if sess, err := iss.RefreshSession(ctx, third.RefreshToken); err != nil || sess.ID != first.SessionID {
		t.Errorf("introspection of a successor without a locator: %+v, %v", sess, err)
	}
	if err := iss.Revoke(ctx, third.RefreshToken); err != nil {
		t.Fatalf("revoking by a successor without a locator: %v", err)
	}
	if _, err := iss.Refresh(ctx, third.RefreshToken); !errors.Is(err, authkit.ErrTokenRevoked) {
		t.Errorf("a refresh after the revocation by refresh token: %v, want ErrTokenRevoked", err)
	}
}

// A named rotation through a cluster client that reaches no node fails
// closed with ErrStoreUnavailable (its commands carry no error of their
// own when no connection could be made).
func TestNamedRotationUnreachable(t *testing.T) {
	rdb := redis.NewClusterClient(&redis.ClusterOptions{Addrs: []string{"127.0.0.1:1"}, ContextTimeoutEnabled: true, MaxRetries: -1})
	t.Cleanup(func() { _ = rdb.Close() })
	s := &Store{rdb: rdb, k: keyspace{p: "authkit-test-unreachable:"}}
	s.cfg.margin = time.Hour
	now := time.Now()
	_, err := s.rotateNamed(t.Context(), "RotateRefresh", authkit.Rotation{Old: testHash("a"), Next: testHash("b"), NextExpiresAt: now.Add(time.Hour), Successor: []byte("x"), Now: now, SessionID: "6ba7b810-9dad-11d1-80b4-00c04fd430c8"})
	if !errors.Is(err, authkit.ErrStoreUnavailable) || errors.Is(err, authkit.ErrNotFound) {
		t.Fatalf("a named rotation reaching no node: %v, want ErrStoreUnavailable", err)
	}
}

// failPipelines fails every pipeline while on, without sending it, as a
// read timeout on a stopped node does.
type failPipelines struct{ on *atomic.Bool }

func (h failPipelines) DialHook(next redis.DialHook) redis.DialHook          { return next }
func (h failPipelines) ProcessHook(next redis.ProcessHook) redis.ProcessHook { return next }

func (h failPipelines) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		if !h.on.Load() {
			return next(ctx, cmds)
		}
		err := &net.OpError{Op: "read", Net: "tcp", Err: os.ErrDeadlineExceeded}
		for _, c := range cmds {
			c.SetErr(err)
		}
		return err
	}
}

// A pipeline that fails short of a reply has the cluster client reload
// its slot map, as a single command's failure does, so that a client
// whose primary was failed over does not keep writing to the old one
// (found by review: named rotations, pipelines only, were acknowledged by
// a woken old primary and lost).
func TestFailedPipelineReloadsSlots(t *testing.T) {
	addrs := testservers.RedisCluster(t)
	seed := redis.NewClient(&redis.Options{Addr: addrs[0]})
	t.Cleanup(func() { _ = seed.Close() })
	var loads atomic.Int64
	rdb := redis.NewClusterClient(&redis.ClusterOptions{
		Addrs:                 addrs,
		ContextTimeoutEnabled: true,
		MaxRetries:            -1,
		ClusterSlots: func(ctx context.Context) ([]redis.ClusterSlot, error) {
			loads.Add(1)
			return seed.ClusterSlots(ctx).Result()
		},
	})
	t.Cleanup(func() { _ = rdb.Close() })
	var fail atomic.Bool
	rdb.AddHook(failPipelines{&fail})
	s, err := New(rdb, WithPrefix(testservers.RedisPrefix(t, rdb)))
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	now := time.Now()
	// The client's map is fresh (go-redis reloads a map older than 10 s
	// by itself): only a failure can reload it within the next seconds.
	before := loads.Load()
	fail.Store(true)
	_, err = s.RotateRefresh(ctx, authkit.Rotation{Old: testHash("x0"), Next: testHash("x1"), NextExpiresAt: now.Add(time.Hour), Successor: []byte("x"), Now: now, SessionID: "6ba7b810-9dad-11d1-80b4-00c04fd430c8"})
	fail.Store(false)
	if !errors.Is(err, authkit.ErrStoreUnavailable) {
		t.Fatalf("a named rotation whose pipeline timed out: %v, want ErrStoreUnavailable", err)
	}
	for deadline := time.Now().Add(3 * time.Second); loads.Load() == before; {
		if time.Now().After(deadline) {
			t.Fatal("the cluster client's slot map was not reloaded after a pipeline failed short of a reply")
		}
		time.Sleep(10 * time.Millisecond)
	}
}
