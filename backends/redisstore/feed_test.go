package redisstore_test

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/authkit-go/authkit"
	"github.com/authkit-go/authkit/backends/redisstore"
	"github.com/authkit-go/authkit/internal/testservers"
)

// topologies runs f on a standalone server and on the cluster.
func topologies(t *testing.T, f func(t *testing.T, admin redis.UniversalClient, connect func() redis.UniversalClient)) {
	t.Run("Standalone", func(t *testing.T) {
		addr := testservers.Redis(t)
		f(t, standalone(t, addr), func() redis.UniversalClient { return standalone(t, addr) })
	})
	t.Run("Cluster", func(t *testing.T) {
		addrs := testservers.RedisCluster(t)
		f(t, cluster(t, addrs), func() redis.UniversalClient { return cluster(t, addrs) })
	})
}

// allKeys returns the keys matching pattern on every primary.
func allKeys(t *testing.T, admin redis.UniversalClient, pattern string) []string {
	t.Helper()
	var keys []string
	var err error
	if cc, ok := admin.(*redis.ClusterClient); ok {
		var mu sync.Mutex // ForEachMaster runs concurrently
		err = cc.ForEachMaster(t.Context(), func(ctx context.Context, c *redis.Client) error {
			k, err := c.Keys(ctx, pattern).Result()
			mu.Lock()
			keys = append(keys, k...)
			mu.Unlock()
			return err
		})
	} else {
		keys, err = admin.Keys(t.Context(), pattern).Result()
	}
	if err != nil {
		t.Fatal(err)
	}
	return keys
}

// follow runs FollowRevocations from pos until it returns or 2 seconds
// pass, and returns its error and what it delivered.
func follow(t *testing.T, s *redisstore.Store, pos authkit.FeedPosition) (error, []authkit.Revocation) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Second)
	defer cancel()
	var got []authkit.Revocation
	err := s.FollowRevocations(ctx, pos, 100*time.Millisecond, func(c []authkit.Revocation, _ authkit.FeedPosition) error {
		got = append(got, c...)
		return nil
	})
	return err, got
}

// snapshot takes a snapshot at now and returns its entries other than
// the store's epoch, and its position. It fails t unless the snapshot
// holds exactly one epoch entry (RevokedBeforeEpoch, without subject or
// ID): snapshotEpoch returns its Cutoff.
func snapshot(t *testing.T, s *redisstore.Store, now time.Time) ([]authkit.Revocation, authkit.FeedPosition) {
	t.Helper()
	got, _, pos := snapshotEpoch(t, s, now)
	return got, pos
}

// snapshotEpoch is snapshot, also returning the epoch's start.
func snapshotEpoch(t *testing.T, s *redisstore.Store, now time.Time) ([]authkit.Revocation, time.Time, authkit.FeedPosition) {
	t.Helper()
	var (
		got    []authkit.Revocation
		epochs []authkit.Revocation
	)
	pos, err := s.RevocationSnapshot(t.Context(), now, func(r authkit.Revocation) error {
		if r.Kind == authkit.RevokedBeforeEpoch {
			epochs = append(epochs, r)
		} else {
			got = append(got, r)
		}
		return nil
	})
	if err != nil {
		t.Fatalf("RevocationSnapshot: %v", err)
	}
	if len(epochs) != 1 || epochs[0].Subject != "" || epochs[0].ID != "" || epochs[0].Cutoff.IsZero() {
		t.Fatalf("RevocationSnapshot handed the epoch entries %v, want one, without subject or ID", epochs)
	}
	return got, epochs[0].Cutoff, pos
}

// TestFeedBoundedLength checks that each log keeps WithFeedLength
// changes, and that a position the trimming passed is refused with
// ErrFeedPositionLost while a recent one still follows.
func TestFeedBoundedLength(t *testing.T) {
	topologies(t, func(t *testing.T, admin redis.UniversalClient, connect func() redis.UniversalClient) {
		prefix := testservers.RedisPrefix(t, admin)
		s := newStore(t, connect(), prefix, redisstore.WithFeedLength(16))
		now := time.Now()
		_, p0 := snapshot(t, s, now)
		for i := range 40 { // one subject: one bucket, one log
			if err := s.RevokeToken(t.Context(), "alice", fmt.Sprint("jti-", i), now.Add(time.Hour)); err != nil {
				t.Fatal(err)
			}
		}
		keys := allKeys(t, admin, prefix+"feed:{r*}")
		if len(keys) != 1 {
			t.Fatalf("the streams of one subject's changes: %q; want one", keys)
		}
		if n, err := admin.XLen(t.Context(), keys[0]).Result(); err != nil || n != 16 {
			t.Errorf("the log holds %d changes (%v) after 40 writes under WithFeedLength(16)", n, err)
		}
		if err, _ := follow(t, s, p0); !errors.Is(err, authkit.ErrFeedPositionLost) {
			t.Errorf("following from before 24 trimmed changes: %v, want ErrFeedPositionLost", err)
		}
		_, p1 := snapshot(t, s, now)
		if err := s.RevokeToken(t.Context(), "alice", "jti-late", now.Add(time.Hour)); err != nil {
			t.Fatal(err)
		}
		err, got := follow(t, s, p1)
		if !errors.Is(err, context.DeadlineExceeded) || len(got) != 1 || got[0].ID != "jti-late" {
			t.Errorf("following from a recent snapshot: %v, delivered %v; want the one later change and the deadline", err, got)
		}
	})
}

// TestFeedLogLost checks that a log whose epoch is gone (FLUSHALL, a
// restart without persistence) refuses every earlier position, and that a
// new snapshot follows again.
func TestFeedLogLost(t *testing.T) {
	topologies(t, func(t *testing.T, admin redis.UniversalClient, connect func() redis.UniversalClient) {
		prefix := testservers.RedisPrefix(t, admin)
		s := newStore(t, connect(), prefix)
		now := time.Now()
		if err := s.SetCutoff(t.Context(), "bob", now, now.Add(time.Hour)); err != nil {
			t.Fatal(err)
		}
		_, p0 := snapshot(t, s, now)
		// Lose every key of the store, as a FLUSHALL would.
		keys := allKeys(t, admin, prefix+"*")
		if len(keys) == 0 {
			t.Fatal("the store has no keys")
		}
		for _, k := range keys {
			if err := admin.Del(t.Context(), k).Err(); err != nil {
				t.Fatal(err)
			}
		}
		if err := s.RevokeToken(t.Context(), "carol", "jti-1", now.Add(time.Hour)); err != nil {
			t.Fatal(err)
		}
		if err, got := follow(t, s, p0); !errors.Is(err, authkit.ErrFeedPositionLost) {
			t.Errorf("following from a position of the lost log: %v after %v, want ErrFeedPositionLost", err, got)
		}
		entries, p1 := snapshot(t, s, now)
		if len(entries) != 1 || entries[0].Subject != "carol" {
			t.Errorf("the snapshot after the loss holds %v, want carol's one revocation", entries)
		}
		if err := s.RevokeToken(t.Context(), "carol", "jti-2", now.Add(time.Hour)); err != nil {
			t.Fatal(err)
		}
		if err, got := follow(t, s, p1); !errors.Is(err, context.DeadlineExceeded) || len(got) != 1 {
			t.Errorf("following the new log: %v, delivered %v; want one change", err, got)
		}
	})
}

// TestLegacyRevocationKeys checks that revocations under the key layout
// before the feed (written by an earlier version) still count in IsRevoked
// and appear in the snapshot, merged with the same entry's newer writes,
// and that WithoutLegacyRevocationKeys stops reading them.
func TestLegacyRevocationKeys(t *testing.T) {
	topologies(t, func(t *testing.T, admin redis.UniversalClient, connect func() redis.UniversalClient) {
		prefix := testservers.RedisPrefix(t, admin)
		s := newStore(t, connect(), prefix)
		strict := newStore(t, connect(), prefix, redisstore.WithoutLegacyRevocationKeys())
		now := time.Now().Truncate(time.Microsecond)
		until := now.Add(time.Hour)
		e := base64.RawURLEncoding.EncodeToString
		legacy := func(subject, rest, v string) {
			t.Helper()
			if err := admin.Set(t.Context(), prefix+"rev:{u"+e([]byte(subject))+"}:"+rest, v, time.Hour).Err(); err != nil {
				t.Fatal(err)
			}
		}
		us := func(t time.Time) string { return fmt.Sprint(t.UnixMicro()) }
		legacy("alice", "j:"+e([]byte("jti-old")), us(until))
		legacy("bob", "s:"+e([]byte("sid-old")), us(until))
		legacy("carol", "c", us(until)+":"+us(now))
		legacy("dave", "j:"+e([]byte("jti-expired")), us(now.Add(-time.Minute)))
		// The same key written since, with an earlier until: merged.
		legacy("erin", "j:"+e([]byte("jti-both")), us(until.Add(time.Minute)))
		if err := s.RevokeToken(t.Context(), "erin", "jti-both", until); err != nil {
			t.Fatal(err)
		}

		queries := []authkit.RevocationQuery{
			{Subject: "alice", TokenID: "jti-old", IssuedAt: now},
			{Subject: "bob", TokenID: "x", SessionID: "sid-old", IssuedAt: now},
			{Subject: "carol", TokenID: "x", IssuedAt: now}, // at the cutoff, after the store's epoch began
		}
		for _, q := range queries {
			if dead, err := s.IsRevoked(t.Context(), q, now); err != nil || !dead {
				t.Errorf("IsRevoked(%+v) over a legacy entry = %v, %v; want true", q, dead, err)
			}
			if dead, err := strict.IsRevoked(t.Context(), q, now); err != nil || dead {
				t.Errorf("IsRevoked(%+v) WithoutLegacyRevocationKeys = %v, %v; want false", q, dead, err)
			}
		}

		entries, _ := snapshot(t, s, now)
		got := map[string]string{}
		for _, r := range entries {
			k := r.Kind.String() + " " + r.Subject + " " + r.ID
			if _, dup := got[k]; dup {
				t.Errorf("the snapshot holds %s twice", k)
			}
			got[k] = us(r.Until) + "/" + us(r.Cutoff)
		}
		want := map[string]string{
			"token alice jti-old": us(until) + "/" + us(time.Time{}),
			"session bob sid-old": us(until) + "/" + us(time.Time{}),
			"cutoff carol ":       us(until) + "/" + us(now),
			"token erin jti-both": us(until.Add(time.Minute)) + "/" + us(time.Time{}),
		}
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("the snapshot over legacy entries holds\n%v\nwant\n%v", got, want)
		}
		entries, _ = snapshot(t, strict, now)
		if len(entries) != 1 || entries[0].Subject != "erin" {
			t.Errorf("the snapshot WithoutLegacyRevocationKeys holds %v, want erin's one entry", entries)
		}
	})
}

// TestFeedFootprint measures what the feed adds per revocation: the
// memory of the log and the index, per change, and the bytes one write
// sends. It logs the figures docs/backends/redis.md gives, and checks
// that the log stays within its bound.
func TestFeedFootprint(t *testing.T) {
	addr := testservers.Redis(t)
	admin := standalone(t, addr)
	prefix := testservers.RedisPrefix(t, admin)
	rdb := standalone(t, addr)
	sent := &sentBytes{}
	rdb.AddHook(cmdHook(sent.count))
	s := newStore(t, rdb, prefix, redisstore.WithFeedLength(1000))
	now := time.Now()
	const n = 4000
	for i := range n {
		subject := fmt.Sprintf("user-%06d", i)
		jti := fmt.Sprintf("0b8c2f3e-6f1a-4c5e-9d7b-%012d", i) // a UUID, as the issuer's jti
		if err := s.RevokeToken(t.Context(), subject, jti, now.Add(time.Hour)); err != nil {
			t.Fatal(err)
		}
	}
	var streamBytes, streamLen, indexBytes, indexLen int64
	for _, kind := range []string{"feed", "revi"} {
		for _, k := range allKeys(t, admin, prefix+kind+":{r*}") {
			m, err := admin.MemoryUsage(t.Context(), k, 0).Result()
			if err != nil {
				t.Fatal(err)
			}
			if kind == "feed" {
				l, _ := admin.XLen(t.Context(), k).Result()
				if l > 1000 {
					t.Errorf("log %s holds %d changes under WithFeedLength(1000)", strings.TrimPrefix(k, prefix), l)
				}
				streamBytes, streamLen = streamBytes+m, streamLen+l
			} else {
				l, _ := admin.ZCard(t.Context(), k).Result()
				indexBytes, indexLen = indexBytes+m, indexLen+l
			}
		}
	}
	if streamLen == 0 || indexLen != n {
		t.Fatalf("the logs hold %d changes and the indexes %d entries after %d revocations", streamLen, indexLen, n)
	}
	t.Logf("log: %d changes in %d bytes, %d bytes per change; index: %d bytes per entry; a RevokeToken sends %d commands, %d bytes",
		streamLen, streamBytes, streamBytes/streamLen, indexBytes/indexLen, sent.cmds/n, sent.bytes/n)
}

// sentBytes counts the commands a client sends and their size in RESP.
type sentBytes struct{ cmds, bytes int }

func (h *sentBytes) count(cmd redis.Cmder) {
	h.cmds++
	h.bytes += len(fmt.Sprintf("*%d\r\n", len(cmd.Args())))
	for _, a := range cmd.Args() {
		v := fmt.Sprint(a)
		h.bytes += len(fmt.Sprintf("$%d\r\n", len(v))) + len(v) + 2
	}
}

// cmdHook is a go-redis hook that shows every command a client sends,
// alone or in a pipeline, to a function, and changes nothing.
type cmdHook func(redis.Cmder)

func (h cmdHook) DialHook(next redis.DialHook) redis.DialHook { return next }

func (h cmdHook) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		h(cmd)
		return next(ctx, cmd)
	}
}

func (h cmdHook) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		for _, c := range cmds {
			h(c)
		}
		return next(ctx, cmds)
	}
}

// TestFeedBacklog follows from a position more than two read batches
// behind, on one bucket and spread over many: every change arrives once,
// each subject's in order, before the first heartbeat.
func TestFeedBacklog(t *testing.T) {
	topologies(t, func(t *testing.T, admin redis.UniversalClient, connect func() redis.UniversalClient) {
		s := newStore(t, connect(), testservers.RedisPrefix(t, admin))
		now := time.Now()
		_, p0 := snapshot(t, s, now)
		const n = 1300
		for i := range n {
			subject := "alice" // one bucket
			if i%2 == 1 {
				subject = fmt.Sprint("user-", i%97) // many
			}
			if err := s.RevokeToken(t.Context(), subject, fmt.Sprint(i), now.Add(time.Hour)); err != nil {
				t.Fatal(err)
			}
		}
		ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
		defer cancel()
		var got []authkit.Revocation
		err := s.FollowRevocations(ctx, p0, 100*time.Millisecond, func(c []authkit.Revocation, _ authkit.FeedPosition) error {
			if len(c) == 0 {
				return errors.New("heartbeat")
			}
			got = append(got, c...)
			return nil
		})
		if err == nil || err.Error() != "heartbeat" {
			t.Fatalf("FollowRevocations returned %v, want the callback's error at the first heartbeat", err)
		}
		last := map[string]int{}
		seen := map[string]bool{}
		for _, r := range got {
			var i int
			fmt.Sscan(r.ID, &i)
			if seen[r.ID] {
				t.Errorf("change %s delivered twice", r.ID)
			}
			seen[r.ID] = true
			if prev, ok := last[r.Subject]; ok && prev > i {
				t.Errorf("subject %s: change %d delivered after %d", r.Subject, i, prev)
			}
			last[r.Subject] = i
		}
		if len(seen) != n {
			t.Errorf("delivered %d distinct changes of %d before the first heartbeat", len(seen), n)
		}
	})
}

// TestFeedFaults follows through a proxy that stalls and then cuts: the
// follower stops vouching (no call of fn covers a write it could not
// read) and returns ErrStoreUnavailable, never ErrFeedPositionLost; once
// the proxy is restored, following from its last position delivers the
// write made meanwhile, once.
func TestFeedFaults(t *testing.T) {
	addr := testservers.Redis(t)
	admin := standalone(t, addr)
	prefix := testservers.RedisPrefix(t, admin)
	writer := newStore(t, standalone(t, addr), prefix)
	px := testservers.NewProxy(t, addr)
	rdb := redis.NewClient(&redis.Options{
		Addr:                  px.Addr(),
		DialTimeout:           time.Second,
		ReadTimeout:           2 * time.Second,
		WriteTimeout:          2 * time.Second,
		ContextTimeoutEnabled: true,
	})
	t.Cleanup(func() { _ = rdb.Close() })
	follower := newStore(t, rdb, prefix)
	now := time.Now()
	const heartbeat = 100 * time.Millisecond

	for _, fault := range []struct {
		name  string
		apply func()
	}{{"Stall", px.Stall}, {"Cut", px.Cut}} {
		t.Run(fault.name, func(t *testing.T) {
			_, pos := snapshot(t, follower, now)
			var (
				mu      sync.Mutex
				calls   []time.Time
				last    = pos
				started = make(chan struct{})
			)
			errc := make(chan error, 1)
			go func() {
				errc <- follower.FollowRevocations(t.Context(), pos, heartbeat, func(_ []authkit.Revocation, p authkit.FeedPosition) error {
					mu.Lock()
					defer mu.Unlock()
					if len(calls) == 0 {
						close(started)
					}
					calls = append(calls, time.Now())
					last = p
					return nil
				})
			}()
			select {
			case <-started:
			case <-time.After(5 * time.Second):
				t.Fatal("no heartbeat before the fault")
			}
			fault.apply()
			if err := writer.RevokeToken(t.Context(), "alice", "jti-"+fault.name, now.Add(time.Hour)); err != nil {
				t.Fatal(err)
			}
			written := time.Now()
			select {
			case err := <-errc:
				if !errors.Is(err, authkit.ErrStoreUnavailable) || errors.Is(err, authkit.ErrFeedPositionLost) {
					t.Errorf("FollowRevocations through a %s proxy returned %v, want ErrStoreUnavailable", fault.name, err)
				}
			case <-time.After(10 * time.Second):
				t.Fatalf("FollowRevocations did not return within 10s of a %s", fault.name)
			}
			mu.Lock()
			for _, c := range calls {
				if c.Sub(written) >= heartbeat {
					t.Errorf("fn was called %v after a write it could not read; a call vouches for writes one heartbeat old", c.Sub(written))
				}
			}
			from := last
			mu.Unlock()

			px.Restore()
			var got []authkit.Revocation
			var err error
			deadline := time.Now().Add(10 * time.Second)
			for time.Now().Before(deadline) { // the client may need a moment to dial again
				if err, got = follow(t, follower, from); !errors.Is(err, authkit.ErrStoreUnavailable) {
					break
				}
			}
			if !errors.Is(err, context.DeadlineExceeded) || len(got) != 1 || got[0].ID != "jti-"+fault.name {
				t.Errorf("following again after the %s: %v, delivered %v; want the one write made meanwhile", fault.name, err, got)
			}
		})
	}
}

// TestFeedLaterReplyFails breaks the second command of the reader's
// pipeline while its XREAD times out with nothing new: the pipeline's
// first error is then XREAD's redis.Nil, and the failed HMGET of a
// bucket's log mark (a key of the wrong type here; a connection lost
// between the replies would do the same) used to be read as an empty
// reply, a panic in the feed's goroutine that took the process down. It
// is an error now, and nothing is vouched for after it.
func TestFeedLaterReplyFails(t *testing.T) {
	addr := testservers.Redis(t)
	admin := standalone(t, addr)
	prefix := testservers.RedisPrefix(t, admin)
	s := newStore(t, standalone(t, addr), prefix)
	_, pos := snapshot(t, s, time.Now())
	keys, err := admin.Keys(t.Context(), prefix+"feedm:*").Result()
	if err != nil || len(keys) == 0 {
		t.Fatalf("the feed's log marks: %v, %v", keys, err)
	}
	started := make(chan struct{})
	calls := 0
	errc := make(chan error, 1)
	go func() {
		errc <- s.FollowRevocations(t.Context(), pos, 100*time.Millisecond, func([]authkit.Revocation, authkit.FeedPosition) error {
			if calls++; calls == 1 {
				close(started)
			}
			return nil
		})
	}()
	select {
	case <-started:
	case <-time.After(5 * time.Second):
		t.Fatal("no heartbeat")
	}
	// In one transaction: between a DEL and a SET the reader could see
	// the mark gone, a lost log, and not the failed read this is about
	// (CI saw it once).
	if _, err := admin.TxPipelined(t.Context(), func(p redis.Pipeliner) error {
		p.Del(t.Context(), keys[0])
		p.Set(t.Context(), keys[0], "not a hash", 0)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-errc:
		if !errors.Is(err, authkit.ErrStoreUnavailable) {
			t.Errorf("FollowRevocations with a log mark of the wrong type returned %v, want ErrStoreUnavailable", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("FollowRevocations did not return within 10s of the log mark breaking")
	}
}

// TestFeedDocumentedACL runs the feed as an ACL user with only the
// categories docs/backends/redis.md asks for, on the store's keys: a
// revocation, a snapshot and a follow all work.
func TestFeedDocumentedACL(t *testing.T) {
	addr := testservers.Redis(t)
	admin := standalone(t, addr)
	prefix := testservers.RedisPrefix(t, admin)
	user := "authkit-feed-" + strings.TrimSuffix(prefix, ":")
	if err := admin.Do(t.Context(), "ACL", "SETUSER", user, "on", ">pw", "resetkeys", "~"+prefix+"*",
		"-@all", "+@read", "+@write", "+@scripting", "+@connection").Err(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { admin.Do(context.Background(), "ACL", "DELUSER", user) })
	rdb := redis.NewClient(&redis.Options{Addr: addr, Username: user, Password: "pw", ContextTimeoutEnabled: true})
	t.Cleanup(func() { _ = rdb.Close() })
	s := newStore(t, rdb, prefix)
	now := time.Now()
	_, pos := snapshot(t, s, now)
	if err := s.SetCutoff(t.Context(), "alice", now, now.Add(time.Hour)); err != nil {
		t.Fatalf("SetCutoff as a user with the documented ACL: %v", err)
	}
	if err := s.RevokeToken(t.Context(), "alice", "jti-1", now.Add(time.Hour)); err != nil {
		t.Fatalf("RevokeToken as a user with the documented ACL: %v", err)
	}
	if err, got := follow(t, s, pos); !errors.Is(err, context.DeadlineExceeded) || len(got) != 2 {
		t.Errorf("following as a user with the documented ACL: %v, delivered %v; want both changes", err, got)
	}
	if dead, err := s.IsRevoked(t.Context(), authkit.RevocationQuery{Subject: "alice", TokenID: "jti-1", IssuedAt: now}, now); err != nil || !dead {
		t.Errorf("IsRevoked as a user with the documented ACL: %v, %v", dead, err)
	}
}
