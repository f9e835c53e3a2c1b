package redisstore

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"hash/fnv"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/authkit-go/authkit"
	"github.com/authkit-go/authkit/internal/testservers"
)

// TestGCNibble checks the four-bit shard arithmetic rotateOneScript
// relies on against gcKey's full FNV-1a.
func TestGCNibble(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range 2000 {
		b := make([]byte, rng.IntN(120))
		for j := range b {
			b[j] = byte(rng.IntN(256))
		}
		esid, hid := enc(string(b)), encBytes(b[:min(len(b), 32)])
		for _, m := range []string{gcSessionMember(string(b)), gcRecordMember(string(b), hid)} {
			h := fnv.New32a()
			_, _ = h.Write([]byte(gcSess + m))
			if got, want := int(gcNibble(2166136261&15, gcSess+m)), int(h.Sum32()%gcShards); got != want {
				t.Fatalf("case %d: gcNibble of %q = %d, FNV-1a mod 16 = %d", i, m, got, want)
			}
		}
		// What the script computes: the state after "sessr" + esid, taken
		// through ":" + hid by the permutation.
		st := gcNibble(byte(gcStateRec), esid)
		got := fmt.Sprint(int(gcSuffixPerm(hid)[st] - 'a'))
		if want := strings.TrimSuffix(strings.TrimPrefix(keyspace{}.gcKey(gcSess, gcRecordMember(string(b), hid)), "gc:sess:{"), "}"); got != want {
			t.Fatalf("case %d: the permuted state gives shard %s, gcKey %s", i, got, want)
		}
		if got, want := fmt.Sprint(gcNibble(byte(gcStateSess), esid)), strings.TrimSuffix(strings.TrimPrefix(keyspace{}.gcKey(gcSess, gcSessionMember(string(b))), "gc:sess:{"), "}"); got != want {
			t.Fatalf("case %d: session member shard %s, gcKey %s", i, got, want)
		}
	}
}

// TestOneCallOnlyOnASinglePrimary checks which clients get the one-call
// rotation: a *redis.Client (standalone, or Sentinel through
// NewFailoverClient) does; a cluster, a ring, and a client type the Store
// does not know never do, since the script touches keys of many slots.
func TestOneCallOnlyOnASinglePrimary(t *testing.T) {
	for _, c := range []struct {
		name string
		rdb  redis.UniversalClient
		want bool
	}{
		{"Client", redis.NewClient(&redis.Options{Addr: "127.0.0.1:1", ContextTimeoutEnabled: true}), true},
		{"FailoverClient", redis.NewFailoverClient(&redis.FailoverOptions{MasterName: "m", SentinelAddrs: []string{"127.0.0.1:1"}, ContextTimeoutEnabled: true}), true},
		{"ClusterClient", redis.NewClusterClient(&redis.ClusterOptions{Addrs: []string{"127.0.0.1:1"}, ContextTimeoutEnabled: true}), false},
		{"Ring", redis.NewRing(&redis.RingOptions{Addrs: map[string]string{"a": "127.0.0.1:1"}, ContextTimeoutEnabled: true}), false},
		{"wrapped", wrappedClient{redis.NewClient(&redis.Options{Addr: "127.0.0.1:1", ContextTimeoutEnabled: true})}, false},
	} {
		s, err := New(c.rdb, WithStaticRing())
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		if s.oneCall != c.want {
			t.Errorf("%s: one-call rotation %v, want %v", c.name, s.oneCall, c.want)
		}
		_ = c.rdb.Close()
	}
}

// wrappedClient is a UniversalClient of a type New does not know.
type wrappedClient struct{ redis.UniversalClient }

// countHook counts the commands a client sends, alone or pipelined.
type countHook struct{ n *int }

func (h countHook) DialHook(next redis.DialHook) redis.DialHook { return next }

func (h countHook) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		*h.n++
		return next(ctx, cmd)
	}
}

func (h countHook) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		*h.n += len(cmds)
		return next(ctx, cmds)
	}
}

func testHash(s string) authkit.TokenHash { return sha256.Sum256([]byte(s)) }

// TestOneCallRotationKeys rotates sessions with IDs of every length up to
// the limit, of random bytes, through rotateOneScript, which builds the
// session's key names itself: the keys under the prefix afterwards must
// be exactly those the Go side names — the script's base64url and GC
// shards agree with enc and gcKey — with the values a rotation writes,
// and each rotation is one command.
func TestOneCallRotationKeys(t *testing.T) {
	addr := testservers.Redis(t)
	rdb := redis.NewClient(&redis.Options{Addr: addr, ContextTimeoutEnabled: true})
	t.Cleanup(func() { _ = rdb.Close() })
	prefix := testservers.RedisPrefix(t, rdb)
	counted := redis.NewClient(&redis.Options{Addr: addr, ContextTimeoutEnabled: true})
	t.Cleanup(func() { _ = counted.Close() })
	var sent int
	counted.AddHook(countHook{&sent})
	s, err := New(counted, WithPrefix(prefix))
	if err != nil {
		t.Fatal(err)
	}
	if !s.oneCall {
		t.Fatal("a Store over a *redis.Client does not rotate in one call")
	}
	ctx := t.Context()
	// Loaded, so that the first rotation is not counted with the EVAL a
	// server that never saw the script answers NOSCRIPT to.
	if err := rotateOneScript.Load(ctx, rdb).Err(); err != nil {
		t.Fatal(err)
	}
	base := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	rng := rand.New(rand.NewPCG(3, 4))
	ids := []string{"a", "ab", "abc", "{x}", "user:10", "élan ✓", "\x00\xff\xfe-_+/="}
	for n := 1; n <= MaxIDLen; n += 1 + n/8 {
		b := make([]byte, n)
		for i := range b {
			b[i] = byte(rng.IntN(256))
		}
		ids = append(ids, string(b))
	}
	ids = append(ids, strings.Repeat("\xfb", MaxIDLen))
	want := map[string]bool{}
	for i, id := range ids {
		sess := authkit.Session{ID: id, Subject: "alice", CreatedAt: base, LastUsedAt: base, ExpiresAt: base.Add(48 * time.Hour), IdleExpiresAt: base.Add(time.Hour)}
		first := authkit.RefreshRecord{Hash: testHash(fmt.Sprint("first-", i)), SessionID: id, Subject: "alice", IssuedAt: base, ExpiresAt: sess.IdleExpiresAt}
		if err := s.CreateSession(ctx, sess, first); err != nil {
			t.Fatal(err)
		}
		r := authkit.Rotation{Old: first.Hash, Next: testHash(fmt.Sprint("next-", i)), NextExpiresAt: base.Add(2 * time.Hour), Successor: []byte("sealed"), Now: base.Add(time.Minute)}
		sent = 0
		got, err := s.RotateRefresh(ctx, r)
		if err != nil {
			t.Fatalf("session %q: %v", id, err)
		}
		if sent != 1 {
			t.Errorf("session %q: the rotation sent %d commands, want 1", id, sent)
		}
		if got.ID != id || !got.LastUsedAt.Equal(r.Now) || !got.IdleExpiresAt.Equal(r.NextExpiresAt) || !got.ExpiresAt.Equal(sess.ExpiresAt) {
			t.Errorf("session %q: the rotation returned %+v", id, got)
		}
		nextID, firstID := hashID(r.Next), hashID(first.Hash)
		for _, k := range []string{s.k.session(id), s.k.records(id), s.k.recordPrefix(id) + firstID, s.k.recordPrefix(id) + nextID,
			s.k.refreshLocatorID(firstID), s.k.refreshLocatorID(nextID), s.k.subjectSessions("alice")} {
			want[k] = true
		}
		for _, m := range []string{gcSessionMember(id), gcRecordMember(id, firstID), gcRecordMember(id, nextID)} {
			want[s.k.gcKey(gcSess, m)] = true
		}
		if v, err := rdb.Get(ctx, s.k.refreshLocatorID(nextID)).Result(); err != nil || len(v) != nonceLen+len(id) || v[nonceLen:] != id {
			t.Errorf("session %q: the successor's locator holds %q (%v)", id, v, err)
		}
		sc, err := rdb.ZScore(ctx, s.k.gcKey(gcSess, gcRecordMember(id, nextID)), gcRecordMember(id, nextID)).Result()
		if err != nil || sc != score(r.NextExpiresAt) {
			t.Errorf("session %q: the successor's GC entry scores %v (%v), want %v", id, sc, err, score(r.NextExpiresAt))
		}
		sc, err = rdb.ZScore(ctx, s.k.gcKey(gcSess, gcSessionMember(id)), gcSessionMember(id)).Result()
		if err != nil || sc != score(sess.IdleExpiresAt) {
			t.Errorf("session %q: the session's GC entry scores %v (%v), want %v (LT keeps the earlier)", id, sc, err, score(sess.IdleExpiresAt))
		}
		if n, err := rdb.SIsMember(ctx, s.k.records(id), nextID).Result(); err != nil || !n {
			t.Errorf("session %q: the successor is not in the record set (%v)", id, err)
		}
	}
	for b := range feedShards { // New's data-loss epoch markers
		want[s.k.epochMarker(b)] = true
	}
	var keys []string
	iter := rdb.Scan(ctx, 0, prefix+"*", 1000).Iterator()
	for iter.Next(ctx) {
		keys = append(keys, iter.Val())
	}
	if err := iter.Err(); err != nil {
		t.Fatal(err)
	}
	for _, k := range keys {
		if !want[k] {
			t.Errorf("a key no Go name matches: %q", k)
		}
		delete(want, k)
	}
	for k := range want {
		t.Errorf("a key the Go side names is missing: %q", k)
	}
	// Every member of the GC index is in the shard gcKey names, once.
	members := 0
	for i := range gcShards {
		key := s.k.gc(gcSess, i)
		all, err := rdb.ZRange(ctx, key, 0, -1).Result()
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range all {
			if s.k.gcKey(gcSess, m) != key {
				t.Errorf("GC member %q is in %q, gcKey says %q", m, key, s.k.gcKey(gcSess, m))
			}
		}
		members += len(all)
	}
	if members != 3*len(ids) {
		t.Errorf("the GC index holds %d members, want %d (each session and its two records)", members, 3*len(ids))
	}
	// Cleanup finds every record through the index the script wrote:
	// after the sessions' expiry, everything goes and is counted.
	n, err := s.DeleteExpiredSessions(ctx, base.Add(72*time.Hour), 10000)
	if err != nil {
		t.Fatal(err)
	}
	if want := 3 * len(ids); n != want { // each session, its first and its second record
		t.Errorf("DeleteExpiredSessions deleted %d, want %d", n, want)
	}
}

// TestRotationPathsAgree rotates one family through both paths in turn —
// the one call a single primary gets, and the steps a cluster takes
// (which earlier versions took everywhere) — on one standalone server,
// so that what either writes the other reads: sessions written before an
// upgrade keep rotating, reuse is detected across the two, and a
// refused rotation (conflict, reuse, expiry) changes nothing on either.
func TestRotationPathsAgree(t *testing.T) {
	addr := testservers.Redis(t)
	rdb := redis.NewClient(&redis.Options{Addr: addr, ContextTimeoutEnabled: true})
	t.Cleanup(func() { _ = rdb.Close() })
	prefix := testservers.RedisPrefix(t, rdb)
	one, err := New(rdb, WithPrefix(prefix))
	if err != nil {
		t.Fatal(err)
	}
	steps, err := New(rdb, WithPrefix(prefix))
	if err != nil {
		t.Fatal(err)
	}
	steps.oneCall = false
	// named rotates as a cluster client does when the rotation names its
	// session (rotateNamed): the test passes r.SessionID to it alone.
	named, err := New(rdb, WithPrefix(prefix))
	if err != nil {
		t.Fatal(err)
	}
	named.oneCall = false
	stores := []*Store{steps, one, named}
	name := func(s *Store) string {
		switch {
		case s == named:
			return "named"
		case s.oneCall:
			return "one call"
		}
		return "steps"
	}
	ctx := t.Context()
	base := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	at := func(m int) time.Time { return base.Add(time.Duration(m) * time.Minute) }
	sess := authkit.Session{ID: "sess-1", Subject: "alice", CreatedAt: base, LastUsedAt: base, ExpiresAt: base.Add(48 * time.Hour), IdleExpiresAt: base.Add(time.Hour)}
	other := authkit.Session{ID: "sess-2", Subject: "bob", CreatedAt: base, LastUsedAt: base, ExpiresAt: base.Add(48 * time.Hour), IdleExpiresAt: base.Add(time.Hour)}
	if err := steps.CreateSession(ctx, sess, authkit.RefreshRecord{Hash: testHash("t0"), SessionID: sess.ID, Subject: sess.Subject, IssuedAt: base, ExpiresAt: sess.IdleExpiresAt}); err != nil {
		t.Fatal(err)
	}
	if err := steps.CreateSession(ctx, other, authkit.RefreshRecord{Hash: testHash("bob-0"), SessionID: other.ID, Subject: other.Subject, IssuedAt: base, ExpiresAt: other.IdleExpiresAt}); err != nil {
		t.Fatal(err)
	}
	snapshot := func() []string {
		t.Helper()
		var out []string
		iter := rdb.Scan(ctx, 0, prefix+"*", 1000).Iterator()
		for iter.Next(ctx) {
			k := iter.Val()
			d, err := rdb.Dump(ctx, k).Result()
			if err != nil {
				t.Fatal(err)
			}
			out = append(out, k+"="+d)
		}
		if err := iter.Err(); err != nil {
			t.Fatal(err)
		}
		slices.Sort(out)
		return out
	}
	cur := "t0"
	for i := 1; i <= 9; i++ {
		s := stores[i%3]
		sid := ""
		if s == named {
			sid = sess.ID
		}
		now := at(i)
		// Refusals first, each of which must leave every key as it was.
		before := snapshot()
		refuse := func(what string, r authkit.Rotation, want error) {
			t.Helper()
			_, err := s.RotateRefresh(ctx, r)
			if !errors.Is(err, want) {
				t.Errorf("rotation %d (%s): %s: %v, want %v", i, name(s), what, err, want)
			}
			if after := snapshot(); !slices.Equal(before, after) {
				t.Errorf("rotation %d (%s): %s changed the store", i, name(s), what)
			}
		}
		if s != named {
			// A named rotation checks its successor within the session
			// only (authkit.Rotation.SessionID).
			refuse("a successor hash another session holds", authkit.Rotation{Old: testHash(cur), Next: testHash("bob-0"), NextExpiresAt: now.Add(time.Hour), Successor: []byte("x"), Now: now}, authkit.ErrConflict)
		}
		refuse("a successor hash the family holds", authkit.Rotation{Old: testHash(cur), Next: testHash(cur), NextExpiresAt: now.Add(time.Hour), Successor: []byte("x"), Now: now, SessionID: sid}, authkit.ErrConflict)
		refuse("an unknown token", authkit.Rotation{Old: testHash("never"), Next: testHash("n"), NextExpiresAt: now.Add(time.Hour), Successor: []byte("x"), Now: now, SessionID: sid}, authkit.ErrNotFound)
		refuse("an expired token", authkit.Rotation{Old: testHash(cur), Next: testHash("n"), NextExpiresAt: now.Add(3 * time.Hour), Successor: []byte("x"), Now: now.Add(2 * time.Hour), SessionID: sid}, authkit.ErrTokenExpired)
		if s == named {
			refuse("a token of another session", authkit.Rotation{Old: testHash("bob-0"), Next: testHash("n"), NextExpiresAt: now.Add(time.Hour), Successor: []byte("x"), Now: now, SessionID: sid}, authkit.ErrNotFound)
		}
		if i > 1 {
			// Every earlier token of the family is reuse, whichever path
			// rotated it, and names the rotation that used it.
			for j := range i - 1 {
				prev := fmt.Sprint("t", j)
				_, err := s.RotateRefresh(ctx, authkit.Rotation{Old: testHash(prev), Next: testHash("n"), NextExpiresAt: now.Add(time.Hour), Successor: []byte("x"), Now: now, SessionID: sid})
				re, ok := errors.AsType[*authkit.ReuseError](err)
				if !ok || re.SessionID != sess.ID || re.Subject != sess.Subject || !re.UsedAt.Equal(at(j+1)) || string(re.Successor) != "sealed-"+fmt.Sprint(j+1) {
					t.Errorf("rotation %d (%s): reuse of %s: %v (%+v)", i, name(s), prev, err, re)
				}
			}
			if after := snapshot(); !slices.Equal(before, after) {
				t.Errorf("rotation %d (%s): a reuse changed the store", i, name(s))
			}
		}
		next := fmt.Sprint("t", i)
		got, err := s.RotateRefresh(ctx, authkit.Rotation{Old: testHash(cur), Next: testHash(next), NextExpiresAt: now.Add(time.Hour), Successor: []byte(fmt.Sprint("sealed-", i)), Now: now, SessionID: sid})
		if err != nil {
			t.Fatalf("rotation %d (%s): %v", i, name(s), err)
		}
		if !got.LastUsedAt.Equal(now) || !got.IdleExpiresAt.Equal(now.Add(time.Hour)) {
			t.Errorf("rotation %d (%s): returned %+v", i, name(s), got)
		}
		for _, r := range stores {
			rec, err := r.LookupRefresh(ctx, testHash(next))
			if err != nil || rec.SessionID != sess.ID || !rec.IssuedAt.Equal(now) || !rec.UsedAt.IsZero() {
				t.Errorf("rotation %d (%s): the successor read through %s: %+v, %v", i, name(s), name(r), rec, err)
			}
		}
		cur = next
	}
	if err := one.RevokeSession(ctx, sess.ID, at(20)); err != nil {
		t.Fatal(err)
	}
	for _, s := range stores {
		r := authkit.Rotation{Old: testHash(cur), Next: testHash("n"), NextExpiresAt: at(80), Successor: []byte("x"), Now: at(21)}
		if s == named {
			r.SessionID = sess.ID
		}
		if _, err := s.RotateRefresh(ctx, r); !errors.Is(err, authkit.ErrTokenRevoked) {
			t.Errorf("%s: rotation of a revoked session: %v, want ErrTokenRevoked", name(s), err)
		}
	}
	// Cleanup counts every record either path wrote, and the sessions.
	n, err := one.DeleteExpiredSessions(ctx, base.Add(72*time.Hour), 1000)
	if err != nil {
		t.Fatal(err)
	}
	if want := 10 + 1 + 1 + 1; n != want { // t0…t9, bob-0, and the two sessions
		t.Errorf("DeleteExpiredSessions deleted %d, want %d", n, want)
	}
}

// TestRotationIndexAndExpiry follows what a rotation does to the
// session's GC index entry and native expiry, which the one-call script
// writes only when they move: the entry never scores later than the
// session's garbage time (the earlier of its expiry and idle expiry), and
// the session and its record set expire at the later of its expiry and
// its successor's, plus the margin. Both paths, on one server.
func TestRotationIndexAndExpiry(t *testing.T) {
	addr := testservers.Redis(t)
	rdb := redis.NewClient(&redis.Options{Addr: addr, ContextTimeoutEnabled: true})
	t.Cleanup(func() { _ = rdb.Close() })
	ctx := t.Context()
	base := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	for _, oneCall := range []bool{true, false} {
		s, err := New(rdb, WithPrefix(testservers.RedisPrefix(t, rdb)))
		if err != nil {
			t.Fatal(err)
		}
		s.oneCall = oneCall
		sess := authkit.Session{ID: "sess-1", Subject: "alice", CreatedAt: base, LastUsedAt: base, ExpiresAt: base.Add(48 * time.Hour), IdleExpiresAt: base.Add(time.Hour)}
		if err := s.CreateSession(ctx, sess, authkit.RefreshRecord{Hash: testHash("t0"), SessionID: sess.ID, Subject: sess.Subject, IssuedAt: base, ExpiresAt: sess.IdleExpiresAt}); err != nil {
			t.Fatal(err)
		}
		member := gcSessionMember(sess.ID)
		for i, c := range []struct {
			next      time.Duration // the successor's expiry, after base
			wantScore time.Duration // the session's GC entry after the rotation
			wantPX    time.Duration // the session's native expiry, less the margin
		}{
			{2 * time.Hour, time.Hour, 48 * time.Hour},           // later idle expiry: the entry stays
			{30 * time.Minute, 30 * time.Minute, 48 * time.Hour}, // earlier: the entry moves
			{100 * time.Hour, 30 * time.Minute, 100 * time.Hour}, // past the expiry: the keys live longer
			{50 * time.Hour, 30 * time.Minute, 50 * time.Hour},   // and shorter again
		} {
			now := base.Add(time.Duration(i+1) * time.Minute)
			r := authkit.Rotation{Old: testHash(fmt.Sprint("t", i)), Next: testHash(fmt.Sprint("t", i+1)), NextExpiresAt: base.Add(c.next), Successor: []byte("x"), Now: now}
			if _, err := s.RotateRefresh(ctx, r); err != nil {
				t.Fatalf("one call %v, rotation %d: %v", oneCall, i, err)
			}
			if sc, err := rdb.ZScore(ctx, s.k.gcKey(gcSess, member), member).Result(); err != nil || sc != score(base.Add(c.wantScore)) {
				t.Errorf("one call %v, rotation %d: the session's GC entry scores %v (%v), want %v", oneCall, i, sc, err, score(base.Add(c.wantScore)))
			}
			for _, k := range []string{s.k.session(sess.ID), s.k.records(sess.ID)} {
				got, err := rdb.PExpireTime(ctx, k).Result()
				if want := pxat(base.Add(c.wantPX), s.cfg.margin); err != nil || got.Milliseconds() != want {
					t.Errorf("one call %v, rotation %d: %s expires at %d ms (%v), want %d", oneCall, i, k, got.Milliseconds(), err, want)
				}
			}
		}
	}
}

// TestOneCallOnAClusterNodeFailsClosed points a *redis.Client, which gets
// the one-call rotation, at one node of a cluster — a misconfiguration:
// the script's keys span slots there, so the server refuses it and the
// rotation fails closed (ErrStoreUnavailable), writing nothing.
func TestOneCallOnAClusterNodeFailsClosed(t *testing.T) {
	addrs := testservers.RedisCluster(t)
	node := redis.NewClient(&redis.Options{Addr: addrs[0], ContextTimeoutEnabled: true, MaxRetries: -1})
	t.Cleanup(func() { _ = node.Close() })
	// Not New, which refuses a client of one cluster node (it asks INFO):
	// a node that did not answer New's INFO gets this far.
	s, err := newStore(node, []Option{WithPrefix("authkit-test-misconfigured:")})
	if err != nil {
		t.Fatal(err)
	}
	s.setupEpochs(t.Context(), "test")
	// New wrote the epoch markers of the slots this node serves (the
	// others it was MOVED from): they are New's, not the rotations'.
	markers := map[string]bool{}
	for b := range feedShards {
		markers[s.k.epochMarker(b)] = true
	}
	if !s.oneCall {
		t.Fatal("a Store over a *redis.Client does not rotate in one call")
	}
	now := time.Now()
	for i := range 8 {
		r := authkit.Rotation{Old: testHash(fmt.Sprint("old-", i)), Next: testHash(fmt.Sprint("next-", i)), NextExpiresAt: now.Add(time.Hour), Successor: []byte("x"), Now: now}
		if _, err := s.RotateRefresh(t.Context(), r); !errors.Is(err, authkit.ErrStoreUnavailable) {
			t.Errorf("rotation %d through one cluster node: %v, want ErrStoreUnavailable", i, err)
		}
	}
	cc := redis.NewClusterClient(&redis.ClusterOptions{Addrs: addrs, ContextTimeoutEnabled: true})
	t.Cleanup(func() { _ = cc.Close() })
	err = cc.ForEachMaster(t.Context(), func(ctx context.Context, c *redis.Client) error {
		keys, err := c.Keys(ctx, "authkit-test-misconfigured:*").Result()
		if err != nil {
			return err
		}
		var left []string
		for _, k := range keys {
			if !markers[k] {
				left = append(left, k)
			} else if err := c.Del(ctx, k).Err(); err != nil { // the prefix is fixed: leave nothing for the next run
				return err
			}
		}
		if len(left) > 0 {
			t.Errorf("the refused rotations left keys: %q", left)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestRotationDocumentedACL rotates as a Redis user with the ACL
// docs/backends/redis.md documents (+@read +@write +@scripting
// +@connection on the prefix's keys only): Redis checks every key a
// script touches, and the keys the one-call script derives are all under
// the prefix.
func TestRotationDocumentedACL(t *testing.T) {
	s, _, _ := storeAsACLUser(t, "rotate", documentedACL...)
	ctx := t.Context()
	base := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	sess := authkit.Session{ID: "sess-1", Subject: "alice", CreatedAt: base, LastUsedAt: base, ExpiresAt: base.Add(48 * time.Hour), IdleExpiresAt: base.Add(time.Hour)}
	if err := s.CreateSession(ctx, sess, authkit.RefreshRecord{Hash: testHash("t0"), SessionID: sess.ID, Subject: sess.Subject, IssuedAt: base, ExpiresAt: sess.IdleExpiresAt}); err != nil {
		t.Fatal(err)
	}
	r := authkit.Rotation{Old: testHash("t0"), Next: testHash("t1"), NextExpiresAt: base.Add(2 * time.Hour), Successor: []byte("x"), Now: base.Add(time.Minute)}
	if _, err := s.RotateRefresh(ctx, r); err != nil {
		t.Fatalf("RotateRefresh as a user with the documented ACL: %v", err)
	}
	if _, err := s.RotateRefresh(ctx, r); !errors.Is(err, authkit.ErrTokenReused) {
		t.Errorf("a second RotateRefresh as a user with the documented ACL: %v, want ErrTokenReused", err)
	}
	if n, err := s.DeleteExpiredSessions(ctx, base.Add(72*time.Hour), 100); err != nil || n != 3 {
		t.Errorf("DeleteExpiredSessions as a user with the documented ACL: %d, %v; want 3", n, err)
	}
}
