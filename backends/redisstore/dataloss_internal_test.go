package redisstore

import (
	"context"
	"errors"
	"fmt"
	"net"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/authkit-go/authkit"
	"github.com/authkit-go/authkit/internal/testservers"
)

// lossClient returns a client of the standalone server's database db,
// closed when t ends.
func lossClient(t *testing.T, addr string, db int) *redis.Client {
	t.Helper()
	c := redis.NewClient(&redis.Options{Addr: addr, DB: db, ContextTimeoutEnabled: true})
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// wantLoss fails t unless IsRevoked reports q dead with a DataLossError
// (matching ErrDataLoss and ErrTokenRevoked) whose Since is within
// [from, to], and returns the Since.
func wantLoss(t *testing.T, what string, s *Store, q authkit.RevocationQuery, now, from, to time.Time) time.Time {
	t.Helper()
	dead, err := s.IsRevoked(t.Context(), q, now)
	var dl *authkit.DataLossError
	if !dead || !errors.As(err, &dl) || !errors.Is(err, authkit.ErrDataLoss) || !errors.Is(err, authkit.ErrTokenRevoked) {
		t.Fatalf("%s: IsRevoked(%+v) = %v, %v; want true and a *DataLossError", what, q, dead, err)
	}
	if dl.Since.Before(from) || dl.Since.After(to) || dl.Since.Before(q.IssuedAt) {
		t.Errorf("%s: DataLossError.Since = %s, want within [%s, %s] and not before the token's iat %s", what, dl.Since, from, to, q.IssuedAt)
	}
	return dl.Since
}

// wantJudged fails t unless IsRevoked reports q as want, without error.
func wantJudged(t *testing.T, what string, s *Store, q authkit.RevocationQuery, now time.Time, want bool) {
	t.Helper()
	if dead, err := s.IsRevoked(t.Context(), q, now); err != nil || dead != want {
		t.Errorf("%s: IsRevoked(%+v) = %v, %v; want %v, nil", what, q, dead, err, want)
	}
}

// markers returns the value of every bucket's epoch marker ("" where it
// is missing).
func markers(t *testing.T, s *Store) [feedShards]string {
	t.Helper()
	var out [feedShards]string
	for b := range feedShards {
		v, err := s.rdb.Get(t.Context(), s.k.epochMarker(b)).Result()
		if err != nil && !errors.Is(err, redis.Nil) {
			t.Fatal(err)
		}
		out[b] = v
	}
	return out
}

// storeEpoch returns the epoch a snapshot hands mirrors, failing t unless
// there is exactly one.
func storeEpoch(t *testing.T, s *Store, now time.Time) time.Time {
	t.Helper()
	ep, _, err := snapshotOf(t, s, now)
	if err != nil {
		t.Fatal(err)
	}
	return ep
}

// TestDataLossFlushDB loses a standalone server's data for real, with a
// FLUSHDB of a server of its own: a token revoked before is refused by
// another handle with a DataLossError, so is one never revoked, whatever
// wrote first after the loss; tokens issued after the new epoch work; and
// a store set up (New) after a loss that no running process noticed
// refuses the tokens issued before it. (Until 2026-12-06 it flushed
// database 9 of the shared test server, which a concurrent run, or a user
// whose AUTHKIT_TEST_REDIS_ADDR held data there, lost; found by review.)
func TestDataLossFlushDB(t *testing.T) {
	t.Parallel()
	addr := testservers.PrivateRedis(t, "--appendonly", "no", "--save", "")
	const dataLossDB = 0
	admin := lossClient(t, addr, dataLossDB)
	flush := func() {
		t.Helper()
		if err := admin.FlushDB(t.Context()).Err(); err != nil {
			t.Fatal(err)
		}
	}

	setup := time.Now()
	a, err := New(lossClient(t, addr, dataLossDB))
	if err != nil {
		t.Fatal(err)
	}
	b, err := New(lossClient(t, addr, dataLossDB))
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(2 * time.Millisecond)
	iat := time.Now()
	for i, v := range markers(t, a) {
		if v == "" {
			t.Fatalf("after New, bucket %d has no epoch marker", i)
		}
	}
	ctx := t.Context()
	if err := a.RevokeToken(ctx, "alice", "jti-1", iat.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if err := a.SetCutoff(ctx, "bob", iat, iat.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	revoked := authkit.RevocationQuery{Subject: "alice", TokenID: "jti-1", IssuedAt: iat}
	live := authkit.RevocationQuery{Subject: "dave", TokenID: "jti-9", SessionID: "sid-9", IssuedAt: iat}
	wantJudged(t, "before the loss, the revoked token", b, revoked, iat, true)
	wantJudged(t, "before the loss, a token under bob's cutoff", b, authkit.RevocationQuery{Subject: "bob", TokenID: "x", IssuedAt: iat}, iat, true)
	wantJudged(t, "before the loss, a live token", b, live, iat, false)
	if ep := storeEpoch(t, b, iat); ep.Before(setup.Add(-time.Millisecond)) || ep.After(iat) {
		t.Errorf("before the loss the snapshot's epoch is %s, want New's time (%s)", ep, setup)
	}

	flush()
	// A write lands first: it writes no marker, so the loss stays visible.
	if err := a.RevokeToken(ctx, "alice", "jti-2", iat.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if err := a.SetCutoff(ctx, "bob", iat.Add(-time.Hour), iat.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	before := time.Now()
	since := wantLoss(t, "handle B, the revoked token, after FLUSHDB", b, revoked, before, iat, before)
	after := time.Now()
	wantLoss(t, "handle A, a token never revoked, issued before the loss", a, live, after, since, since)
	wantLoss(t, "handle A, a token of the subject written first after the loss", a, authkit.RevocationQuery{Subject: "bob", TokenID: "y", IssuedAt: iat}, after, since, since)
	for i, v := range markers(t, a) {
		if v != fmtMicros(micros(since)) {
			t.Errorf("after the loss was noticed, bucket %d's marker is %q, want the new epoch %d", i, v, micros(since))
		}
	}
	if ep := storeEpoch(t, a, after); !ep.Equal(since) {
		t.Errorf("after the loss the snapshot's epoch is %s, IsRevoked's %s", ep, since)
	}
	// Tokens issued after the new epoch: judged by what was written since.
	time.Sleep(2 * time.Millisecond)
	fresh := time.Now()
	wantJudged(t, "a token issued after the new epoch", a, authkit.RevocationQuery{Subject: "alice", TokenID: "jti-3", IssuedAt: fresh}, fresh, false)
	wantJudged(t, "a token revoked after the loss, issued after the new epoch", b, authkit.RevocationQuery{Subject: "alice", TokenID: "jti-2", IssuedAt: fresh}, fresh, true)

	// A loss no running process notices, then a store set up after it.
	flush()
	oldIAT := time.Now()
	time.Sleep(2 * time.Millisecond)
	newAt := time.Now()
	c, err := New(lossClient(t, addr, dataLossDB))
	if err != nil {
		t.Fatal(err)
	}
	newDone := time.Now()
	for i, v := range markers(t, c) {
		if v == "" {
			t.Fatalf("after New (following a loss), bucket %d has no epoch marker", i)
		}
	}
	time.Sleep(2 * time.Millisecond)
	later := time.Now()
	got := wantLoss(t, "a store set up after the loss, a token issued before it", c, authkit.RevocationQuery{Subject: "erin", TokenID: "jti-1", IssuedAt: oldIAT}, later, newAt.Add(-time.Millisecond), newDone)
	wantLoss(t, "the handle from before, the same token", a, authkit.RevocationQuery{Subject: "erin", TokenID: "jti-1", IssuedAt: oldIAT}, later, got, got)
	wantJudged(t, "a store set up after the loss, a token issued after it", c, authkit.RevocationQuery{Subject: "erin", TokenID: "jti-2", IssuedAt: later}, later, false)
	// An access token's iat keeps milliseconds, rounded down: one issued
	// as New returned, in the same millisecond, is not refused.
	wantJudged(t, "a token issued as New returned, its iat rounded down to the millisecond", c, authkit.RevocationQuery{Subject: "erin", TokenID: "jti-3", IssuedAt: newDone.Truncate(time.Millisecond)}, later, false)
}

// TestDataLossMarkerCorrupt checks that a marker the store cannot read
// fails IsRevoked and RevocationSnapshot closed, never (false, nil).
func TestDataLossMarkerCorrupt(t *testing.T) {
	addr := testservers.Redis(t)
	rdb := lossClient(t, addr, 0)
	prefix := testservers.RedisPrefix(t, rdb)
	s, err := New(rdb, WithPrefix(prefix))
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	q := authkit.RevocationQuery{Subject: "alice", TokenID: "jti-1", IssuedAt: now}
	marker := s.k.epochMarker(bucket("alice"))
	for _, c := range []struct {
		name string
		set  func() error
	}{
		{"not a number", func() error { return rdb.Set(t.Context(), marker, "garbage", 0).Err() }},
		{"negative", func() error { return rdb.Set(t.Context(), marker, "-5", 0).Err() }},
		{"not a string", func() error {
			if err := rdb.Del(t.Context(), marker).Err(); err != nil {
				return err
			}
			return rdb.HSet(t.Context(), marker, "x", "1").Err()
		}},
	} {
		if err := c.set(); err != nil {
			t.Fatal(err)
		}
		if dead, err := s.IsRevoked(t.Context(), q, now); !errors.Is(err, authkit.ErrStoreUnavailable) {
			t.Errorf("a marker %s: IsRevoked = %v, %v; want ErrStoreUnavailable", c.name, dead, err)
		}
		if _, err := s.RevocationSnapshot(t.Context(), now, func(authkit.Revocation) error { return nil }); !errors.Is(err, authkit.ErrStoreUnavailable) {
			t.Errorf("a marker %s: RevocationSnapshot = %v; want ErrStoreUnavailable", c.name, err)
		}
	}
}

// TestNewWithoutRedis checks that New does not fail, and does not wait
// long, when Redis refuses or does not answer: the markers are then
// written by the first IsRevoked, at its now.
func TestNewWithoutRedis(t *testing.T) {
	silent, err := net.Listen("tcp", "127.0.0.1:0") // accepts, never answers
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = silent.Close() })
	refused, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	refusedAddr := refused.Addr().String()
	refused.Close()
	for _, c := range []struct{ name, addr string }{{"refused", refusedAddr}, {"silent", silent.Addr().String()}} {
		rdb := redis.NewClient(&redis.Options{Addr: c.addr, ContextTimeoutEnabled: true})
		start := time.Now()
		s, err := New(rdb)
		took := time.Since(start)
		rdb.Close()
		if err != nil || s == nil {
			t.Errorf("New with Redis %s: %v", c.name, err)
		}
		if took > epochSetupTimeout+time.Second {
			t.Errorf("New with Redis %s took %v, want about %v at most", c.name, took, epochSetupTimeout)
		}
	}
	// With a call timeout, New waits no longer than it.
	rdb := redis.NewClient(&redis.Options{Addr: silent.Addr().String(), ContextTimeoutEnabled: true})
	defer rdb.Close()
	start := time.Now()
	if _, err := New(rdb, WithCallTimeout(100*time.Millisecond)); err != nil {
		t.Fatal(err)
	}
	if took := time.Since(start); took > 700*time.Millisecond {
		t.Errorf("New with a silent Redis and WithCallTimeout(100ms) took %v", took)
	}

	// A marker New did not write (Redis was down then): the first
	// IsRevoked writes it, at its now.
	addr := testservers.Redis(t)
	up := lossClient(t, addr, 0)
	prefix := testservers.RedisPrefix(t, up)
	s, err := New(up, WithPrefix(prefix))
	if err != nil {
		t.Fatal(err)
	}
	if err := up.Del(t.Context(), s.k.epochMarker(bucket("alice"))).Err(); err != nil { // as if New had not reached it
		t.Fatal(err)
	}
	iat := time.Now()
	now := iat.Add(time.Second)
	wantLoss(t, "no marker, a token issued before the first check", s, authkit.RevocationQuery{Subject: "alice", TokenID: "j", IssuedAt: iat}, now, now.Add(-time.Microsecond), now)
}

// subjectIn returns a subject whose bucket is b.
func subjectIn(b int) string {
	for i := 0; ; i++ {
		if s := fmt.Sprint("user-", i); bucket(s) == b {
			return s
		}
	}
}

// TestDataLossOneClusterShard loses the data of one master of the
// cluster only: the subjects of that master's buckets are refused with a
// DataLossError, those of the other masters' buckets are judged as before
// (each shard has its own markers); the snapshot hands the latest epoch,
// and a follower from before the loss is told its position is lost.
func TestDataLossOneClusterShard(t *testing.T) {
	addrs := testservers.RedisCluster(t)
	cc := redis.NewClusterClient(&redis.ClusterOptions{Addrs: addrs, ContextTimeoutEnabled: true})
	t.Cleanup(func() { _ = cc.Close() })
	prefix := testservers.RedisPrefix(t, cc)
	s, err := New(cc, WithPrefix(prefix))
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	// The master of each bucket's slot.
	owner := map[int]string{}
	byMaster := map[string][]int{}
	for b := range feedShards {
		n, err := cc.MasterForKey(ctx, s.k.epochMarker(b))
		if err != nil {
			t.Fatal(err)
		}
		owner[b] = n.Options().Addr
		byMaster[owner[b]] = append(byMaster[owner[b]], b)
	}
	if len(byMaster) < 2 {
		t.Fatalf("the 16 buckets live on %d master(s), want several: %v", len(byMaster), byMaster)
	}
	lostAddr := owner[0]
	setup := markers(t, s)

	time.Sleep(2 * time.Millisecond)
	iat := time.Now()
	type subj struct {
		name string
		lost bool
	}
	var subjects []subj
	for b := range feedShards {
		name := subjectIn(b)
		subjects = append(subjects, subj{name, owner[b] == lostAddr})
		if err := s.RevokeToken(ctx, name, "jti-revoked", iat.Add(time.Hour)); err != nil {
			t.Fatal(err)
		}
	}
	_, pos, err := snapshotOf(t, s, iat)
	if err != nil {
		t.Fatal(err)
	}

	// Lose the keys of one master.
	lost := 0
	err = cc.ForEachMaster(ctx, func(ctx context.Context, c *redis.Client) error {
		if c.Options().Addr != lostAddr {
			return nil
		}
		keys, err := c.Keys(ctx, prefix+"*").Result()
		if err != nil {
			return err
		}
		for _, k := range keys {
			if err := c.Del(ctx, k).Err(); err != nil {
				return err
			}
		}
		lost = len(keys)
		return nil
	})
	if err != nil || lost == 0 {
		t.Fatalf("wiping the master at %s: %d keys, %v", lostAddr, lost, err)
	}

	now := time.Now()
	var since time.Time
	for _, sj := range subjects {
		revoked := authkit.RevocationQuery{Subject: sj.name, TokenID: "jti-revoked", IssuedAt: iat}
		never := authkit.RevocationQuery{Subject: sj.name, TokenID: "jti-never", IssuedAt: iat}
		if sj.lost {
			got := wantLoss(t, "a subject of the wiped master, its revoked token", s, revoked, now, iat, now)
			if !since.IsZero() && !got.Equal(since) {
				t.Errorf("subject %s: DataLossError.Since = %s, another subject of the same master got %s", sj.name, got, since)
			}
			since = got
			wantLoss(t, "a subject of the wiped master, a token never revoked", s, never, now, got, got)
		} else {
			wantJudged(t, "a subject of another master, its revoked token", s, revoked, now, true)
			wantJudged(t, "a subject of another master, a token never revoked", s, never, now, false)
		}
	}
	after := markers(t, s)
	for b := range feedShards {
		switch {
		case owner[b] == lostAddr && after[b] != fmtMicros(micros(since)):
			t.Errorf("bucket %d (wiped master): marker %q, want the new epoch %d", b, after[b], micros(since))
		case owner[b] != lostAddr && after[b] != setup[b]:
			t.Errorf("bucket %d (kept master): marker %q, want New's %q", b, after[b], setup[b])
		}
	}
	// The snapshot hands the latest epoch: the wiped master's.
	ep, _, err := snapshotOf(t, s, now)
	if err != nil {
		t.Fatal(err)
	}
	if !ep.Equal(since) {
		t.Errorf("the snapshot's epoch is %s, want the wiped master's %s (the latest)", ep, since)
	}
	// A follower from before the loss cannot continue.
	fctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	err = s.FollowRevocations(fctx, pos, 100*time.Millisecond, func([]authkit.Revocation, authkit.FeedPosition) error {
		return errors.New("fn called after the log was lost")
	})
	if !errors.Is(err, authkit.ErrFeedPositionLost) {
		t.Errorf("following from before the loss of one master: %v, want ErrFeedPositionLost", err)
	}
}

// snapshotOf returns a snapshot's epoch and position.
func snapshotOf(t *testing.T, s *Store, now time.Time) (time.Time, authkit.FeedPosition, error) {
	t.Helper()
	var epochs []time.Time
	pos, err := s.RevocationSnapshot(t.Context(), now, func(r authkit.Revocation) error {
		if r.Kind == authkit.RevokedBeforeEpoch {
			epochs = append(epochs, r.Cutoff)
		}
		return nil
	})
	if err == nil && len(epochs) != 1 {
		t.Fatalf("the snapshot holds %d epoch entries, want one", len(epochs))
	}
	if err != nil {
		return time.Time{}, "", err
	}
	return epochs[0], pos, nil
}

// TestDataLossMarkerOnly loses a bucket's marker but not its log (an
// eviction, a key deleted by hand): the bucket starts a new epoch when it
// is noticed, and starts its log over with it, so that a follower from
// before is told (ErrFeedPositionLost) rather than following on without
// the new epoch; the next snapshot carries it.
func TestDataLossMarkerOnly(t *testing.T) {
	forBothLayouts(t, func(t *testing.T, c layout) {
		s, iat, pos := c.s, c.iat, c.pos
		if err := c.rdb.Del(t.Context(), s.k.epochMarker(bucket("alice"))).Err(); err != nil {
			t.Fatal(err)
		}
		now := time.Now()
		since := wantLoss(t, "the marker alone lost", s, authkit.RevocationQuery{Subject: "alice", TokenID: "jti-2", IssuedAt: iat}, now, iat, now)
		fctx, cancel := context.WithTimeout(t.Context(), 2*time.Second)
		defer cancel()
		err := s.FollowRevocations(fctx, pos, 100*time.Millisecond, func([]authkit.Revocation, authkit.FeedPosition) error {
			return errors.New("fn called after the epoch changed")
		})
		if !errors.Is(err, authkit.ErrFeedPositionLost) {
			t.Errorf("following from before a lost marker: %v, want ErrFeedPositionLost", err)
		}
		if ep := storeEpoch(t, s, now); !ep.Equal(since) {
			t.Errorf("the snapshot after the marker was lost holds the epoch %s, IsRevoked reports %s", ep, since)
		}
		// The revocation itself survived, and still counts.
		wantJudged(t, "a token revoked before, issued after the new epoch", s, authkit.RevocationQuery{Subject: "alice", TokenID: "jti-1", IssuedAt: since.Add(time.Millisecond)}, now, true)
	})
}

// TestDataLossUpgradeSeeded checks the upgrade path docs/backends/redis.md
// gives: markers written by hand as "0" before the first New of this
// version (the data being intact) are kept, so tokens issued before the
// upgrade are judged as before instead of refused once.
func TestDataLossUpgradeSeeded(t *testing.T) {
	addr := testservers.Redis(t)
	rdb := lossClient(t, addr, 0)
	prefix := testservers.RedisPrefix(t, rdb)
	k := keyspace{p: prefix}
	for b := range feedShards {
		if err := rdb.SetNX(t.Context(), k.epochMarker(b), "0", 0).Err(); err != nil {
			t.Fatal(err)
		}
	}
	s, err := New(rdb, WithPrefix(prefix))
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	old := now.Add(-time.Hour)
	wantJudged(t, "a token issued an hour before the upgrade", s, authkit.RevocationQuery{Subject: "alice", TokenID: "jti-1", IssuedAt: old}, now, false)
	if ep := storeEpoch(t, s, now); !ep.Equal(time.UnixMicro(0)) {
		t.Errorf("the snapshot's epoch is %s, want the seeded Unix 0", ep)
	}
}

// TestDataLossMarkersLostThenNew: when only the markers are lost (evicted,
// or deleted by hand after a restore, as docs/backends/redis.md says to)
// and a New — another process starting — writes them before any
// IsRevoked or snapshot notices, the buckets' logs start over as they do
// when a call notices: a follower from before gets ErrFeedPositionLost and
// takes a snapshot with the new epoch (found by review: it followed on,
// vouching for a copy that did not know the epoch, while IsRevoked
// refused the same tokens).
func TestDataLossMarkersLostThenNew(t *testing.T) {
	forBothLayouts(t, func(t *testing.T, c layout) {
		s, iat, pos := c.s, c.iat, c.pos
		for b := range feedShards {
			if err := c.rdb.Del(t.Context(), s.k.epochMarker(b)).Err(); err != nil {
				t.Fatal(err)
			}
		}
		time.Sleep(2 * time.Millisecond)
		if _, err := New(c.rdb, WithPrefix(c.prefix)); err != nil {
			t.Fatal(err)
		}
		now := time.Now()
		fctx, cancel := context.WithTimeout(t.Context(), 2*time.Second)
		defer cancel()
		err := s.FollowRevocations(fctx, pos, 100*time.Millisecond, func([]authkit.Revocation, authkit.FeedPosition) error {
			return errors.New("fn called after the epoch changed")
		})
		if !errors.Is(err, authkit.ErrFeedPositionLost) {
			t.Errorf("following from before the markers were lost and New wrote them again: %v, want ErrFeedPositionLost", err)
		}
		since := wantLoss(t, "a token issued before New wrote the markers again", s, authkit.RevocationQuery{Subject: "alice", TokenID: "jti-2", IssuedAt: iat}, now, iat, now)
		if ep := storeEpoch(t, s, now); !ep.Equal(since) {
			t.Errorf("the snapshot holds the epoch %s, IsRevoked reports %s", ep, since)
		}
	})
}

// layout is one store set up by forBothLayouts: a token revoked at iat,
// and a feed position taken after it.
type layout struct {
	rdb    redis.UniversalClient
	prefix string
	s      *Store
	iat    time.Time
	pos    authkit.FeedPosition
}

// forBothLayouts runs f on a standalone Redis and on the Redis Cluster,
// each with a store under a prefix of its own in which alice's jti-1 was
// revoked at iat and a snapshot taken.
func forBothLayouts(t *testing.T, f func(*testing.T, layout)) {
	addr := testservers.Redis(t)
	addrs := testservers.RedisCluster(t)
	for _, c := range []struct {
		name string
		rdb  redis.UniversalClient
	}{
		{"Standalone", redis.NewClient(&redis.Options{Addr: addr, ContextTimeoutEnabled: true})},
		{"Cluster", redis.NewClusterClient(&redis.ClusterOptions{Addrs: addrs, ContextTimeoutEnabled: true})},
	} {
		t.Cleanup(func() { _ = c.rdb.Close() })
		t.Run(c.name, func(t *testing.T) {
			prefix := testservers.RedisPrefix(t, c.rdb)
			s, err := New(c.rdb, WithPrefix(prefix))
			if err != nil {
				t.Fatal(err)
			}
			time.Sleep(2 * time.Millisecond)
			iat := time.Now()
			if err := s.RevokeToken(t.Context(), "alice", "jti-1", iat.Add(time.Hour)); err != nil {
				t.Fatal(err)
			}
			_, pos, err := snapshotOf(t, s, iat)
			if err != nil {
				t.Fatal(err)
			}
			f(t, layout{rdb: c.rdb, prefix: prefix, s: s, iat: iat, pos: pos})
		})
	}
}
