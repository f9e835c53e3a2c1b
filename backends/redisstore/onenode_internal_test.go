package redisstore

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/authkit-go/authkit"
	"github.com/authkit-go/authkit/internal/testservers"
)

// A *redis.Client aimed at one node of a Redis Cluster is a
// misconfiguration: the node answers MOVED for the keys of the slots it
// does not hold, CROSSSLOT for a command over several slots, and stops a
// script at the first key of another node's slot ("non local key") after
// the script's earlier writes took effect. New refuses such a client when
// the node answers its INFO (TestNewRefusesOneClusterNode); one that did
// not answer then gets through, and the store must fail closed on every
// call: the right answer, or an error matching
// authkit.ErrStoreUnavailable — never ErrNotFound for a record that
// exists, never a wrong record, never IsRevoked (false, nil) for a
// revoked token, never a rotation applied in part.

// keySlot is the Redis Cluster hash slot of key: CRC16 (XMODEM) of its
// hash tag, or of the whole key if it has none, mod 16384.
func keySlot(key string) int {
	if i := strings.IndexByte(key, '{'); i >= 0 {
		if j := strings.IndexByte(key[i+1:], '}'); j > 0 {
			key = key[i+1 : i+1+j]
		}
	}
	var crc uint16
	for i := 0; i < len(key); i++ {
		crc ^= uint16(key[i]) << 8
		for range 8 {
			if crc&0x8000 != 0 {
				crc = crc<<1 ^ 0x1021
			} else {
				crc <<= 1
			}
		}
	}
	return int(crc) % 16384
}

// slotMap is which master holds each slot, by address.
type slotMap [16384]string

func clusterSlotMap(t *testing.T, cc *redis.ClusterClient) *slotMap {
	t.Helper()
	ranges, err := cc.ClusterSlots(t.Context()).Result()
	if err != nil {
		t.Fatal(err)
	}
	var m slotMap
	for _, r := range ranges {
		for s := r.Start; s <= r.End; s++ {
			m[s] = r.Nodes[0].Addr
		}
	}
	for s, a := range m {
		if a == "" {
			t.Fatalf("slot %d has no master", s)
		}
	}
	return &m
}

// oneNode is a cluster seen through a store over a ClusterClient (full)
// and stores over a *redis.Client of one of its masters (one, and
// oneNL without the legacy revocation keys), under the same prefix.
type oneNode struct {
	cc        *redis.ClusterClient
	node      *redis.Client
	slots     *slotMap
	full      *Store
	one, oneN *Store
	prefix    string
}

// local reports whether node holds every key.
func (o *oneNode) local(keys ...string) bool {
	for _, k := range keys {
		if o.slots[keySlot(k)] != o.node.Options().Addr {
			return false
		}
	}
	return true
}

// where describes keys by the node that holds them: L here, R elsewhere.
func (o *oneNode) where(keys ...string) string {
	var b strings.Builder
	for _, k := range keys {
		if o.local(k) {
			b.WriteByte('L')
		} else {
			b.WriteByte('R')
		}
	}
	return b.String()
}

func newOneNode(t *testing.T) *oneNode {
	t.Helper()
	addrs := testservers.RedisCluster(t)
	cc := redis.NewClusterClient(&redis.ClusterOptions{Addrs: addrs, ContextTimeoutEnabled: true})
	t.Cleanup(func() { _ = cc.Close() })
	prefix := testservers.RedisPrefix(t, cc)
	full, err := New(cc, WithPrefix(prefix))
	if err != nil {
		t.Fatal(err)
	}
	slots := clusterSlotMap(t, cc)
	node := redis.NewClient(&redis.Options{Addr: slots[0], ContextTimeoutEnabled: true})
	t.Cleanup(func() { _ = node.Close() })
	// newStore: New without its epoch markers (the cluster store wrote
	// them), as when Redis did not answer New; the test keeps its stores
	// should New one day refuse a cluster node that answers it.
	one, err := newStore(node, []Option{WithPrefix(prefix)})
	if err != nil {
		t.Fatal(err)
	}
	oneN, err := newStore(node, []Option{WithPrefix(prefix), WithoutLegacyRevocationKeys()})
	if err != nil {
		t.Fatal(err)
	}
	if !one.oneCall || !oneN.oneCall {
		t.Fatal("a Store over a *redis.Client does not take the one-call paths")
	}
	// The test's slot arithmetic is the server's.
	for _, k := range []string{prefix + "rtl:abc", prefix + "sess:{sxyz}", full.k.epochMarker(3), "a", "{user1000}.following"} {
		want, err := cc.ClusterKeySlot(t.Context(), k).Result()
		if err != nil || int(want) != keySlot(k) {
			t.Fatalf("keySlot(%q) = %d, the server says %d (%v)", k, keySlot(k), want, err)
		}
	}
	return &oneNode{cc: cc, node: node, slots: slots, full: full, one: one, oneN: oneN, prefix: prefix}
}

// failedClosed reports whether err is a refusal that claims nothing: it
// matches ErrStoreUnavailable and none of the outcomes a caller acts on.
func failedClosed(err error) bool {
	return errors.Is(err, authkit.ErrStoreUnavailable) && !errors.Is(err, authkit.ErrNotFound) &&
		!errors.Is(err, authkit.ErrTokenReused) && !errors.Is(err, authkit.ErrConflict) && !errors.Is(err, authkit.ErrDataLoss)
}

// tally counts, per method and per placement of its keys, the calls the
// one-node store answered and those it refused.
type tally map[string]map[string][2]int

func (tl tally) add(method, where string, answered bool) {
	if tl[method] == nil {
		tl[method] = map[string][2]int{}
	}
	c := tl[method][where]
	if answered {
		c[0]++
	} else {
		c[1]++
	}
	tl[method][where] = c
}

// check judges one call of the one-node store: err nil and got equal to
// want (the cluster store's answer, wantErr its error), or a refusal that
// fails closed. A call whose keys are all on other nodes must be refused.
func (tl tally) check(t *testing.T, method, what, where string, got, want any, err, wantErr error) {
	t.Helper()
	if err != nil {
		if !failedClosed(err) {
			t.Errorf("%s %s (keys %s): %v, want the cluster's answer or an error matching only ErrStoreUnavailable", method, what, where, err)
		}
		tl.add(method, where, false)
		return
	}
	if wantErr != nil && !errors.Is(wantErr, authkit.ErrNotFound) {
		t.Fatalf("%s %s: the cluster store failed: %v", method, what, wantErr)
	}
	if !strings.Contains(where, "L") {
		t.Errorf("%s %s: answered (%v) though every key (%s) is on another node", method, what, got, where)
	}
	if (wantErr == nil) != (err == nil) || !reflect.DeepEqual(got, want) {
		t.Errorf("%s %s (keys %s): %+v, %v; the cluster store says %+v, %v", method, what, where, got, err, want, wantErr)
	}
	tl.add(method, where, true)
}

// covered requires that method was answered for some placement and
// refused for another: the checks above judged both kinds of call.
func (tl tally) covered(t *testing.T, method string) {
	t.Helper()
	var answered, refused int
	for _, c := range tl[method] {
		answered += c[0]
		refused += c[1]
	}
	if refused == 0 {
		t.Errorf("%s: no call refused (%v): the one-node store never met another node's key", method, tl[method])
	}
	t.Logf("%s: %d answered, %d refused, by placement (answered, refused): %v", method, answered, refused, tl[method])
}

// pickCombos returns n indices for each placement of the keys keysOf
// gives, trying 0, 1, 2, …: every placement of k keys over here and
// elsewhere, unless only allows some.
func (o *oneNode) pickCombos(t *testing.T, n int, keysOf func(i int) []string, only ...string) []int {
	t.Helper()
	want := map[string]int{}
	if len(only) > 0 {
		for _, w := range only {
			want[w] = n
		}
	} else {
		k := len(keysOf(0))
		for m := range 1 << k {
			var b strings.Builder
			for j := range k {
				if m&(1<<j) != 0 {
					b.WriteByte('R')
				} else {
					b.WriteByte('L')
				}
			}
			want[b.String()] = n
		}
	}
	var out []int
	left := len(want) * n
	for i := 0; left > 0; i++ {
		if i > 1_000_000 {
			t.Fatalf("no index for the placements %v", want)
		}
		w := o.where(keysOf(i)...)
		if want[w] > 0 {
			want[w]--
			left--
			out = append(out, i)
		}
	}
	return out
}

func TestOneClusterNodeFailsClosed(t *testing.T) {
	o := newOneNode(t)
	ctx := t.Context()
	full, one := o.full, o.one
	k := full.k
	now := time.Now().UTC().Truncate(time.Microsecond)
	tl := tally{}

	// ---- API tokens: the hash locator, the token (the subject's slot) ----
	tokSub := func(i int) string { return fmt.Sprintf("tok-user-%d", i) }
	tokID := func(i int) string { return fmt.Sprintf("tok-%d", i) }
	tokHash := func(i int) authkit.TokenHash { return testHash(fmt.Sprintf("api-secret-%d", i)) }
	toks := o.pickCombos(t, 2, func(i int) []string { return []string{k.tokenByHash(tokHash(i)), k.token(tokSub(i), tokID(i))} })
	for _, i := range toks {
		tok := authkit.APIToken{ID: tokID(i), Hash: tokHash(i), Subject: tokSub(i), Name: "ci", Scopes: []string{"read"},
			CreatedAt: now, ExpiresAt: now.Add(24 * time.Hour)}
		if err := full.CreateAPIToken(ctx, tok, 0, now); err != nil {
			t.Fatal(err)
		}
	}
	for _, i := range toks {
		where := o.where(k.tokenByHash(tokHash(i)), k.token(tokSub(i), tokID(i)))
		want, wantErr := full.LookupAPIToken(ctx, tokHash(i))
		got, err := one.LookupAPIToken(ctx, tokHash(i))
		tl.check(t, "LookupAPIToken", tokID(i), where, got, want, err, wantErr)
		wantL, wantErr := full.ListAPITokens(ctx, tokSub(i), now)
		gotL, err := one.ListAPITokens(ctx, tokSub(i), now)
		tl.check(t, "ListAPITokens", tokSub(i), o.where(k.tokens(tokSub(i))), gotL, wantL, err, wantErr)
	}
	tl.covered(t, "LookupAPIToken")
	tl.covered(t, "ListAPITokens")

	// ---- sessions: the first record's locator, the session's slot, the
	// subject's index ----
	sid := func(i int) string { return fmt.Sprintf("sess-%d", i) }
	sub := func(i int) string { return fmt.Sprintf("user-%d", i) }
	first := func(i int) authkit.TokenHash { return testHash(fmt.Sprintf("refresh-%d", i)) }
	sessions := o.pickCombos(t, 2, func(i int) []string {
		return []string{k.refreshLocator(first(i)), k.session(sid(i)), k.subjectSessions(sub(i))}
	})
	created := map[int]authkit.Session{}
	for _, i := range sessions {
		sess := authkit.Session{ID: sid(i), Subject: sub(i), CreatedAt: now, LastUsedAt: now,
			ExpiresAt: now.Add(48 * time.Hour), IdleExpiresAt: now.Add(time.Hour)}
		rec := authkit.RefreshRecord{Hash: first(i), SessionID: sid(i), Subject: sub(i), IssuedAt: now, ExpiresAt: sess.IdleExpiresAt}
		if err := full.CreateSession(ctx, sess, rec); err != nil {
			t.Fatal(err)
		}
		created[i] = sess
	}
	for _, i := range sessions {
		wantR, wantErr := full.LookupRefresh(ctx, first(i))
		gotR, err := one.LookupRefresh(ctx, first(i))
		tl.check(t, "LookupRefresh", sid(i), o.where(k.refreshLocator(first(i)), k.session(sid(i))), gotR, wantR, err, wantErr)
		wantS, wantErr := full.Session(ctx, sid(i))
		gotS, err := one.Session(ctx, sid(i))
		tl.check(t, "Session", sid(i), o.where(k.session(sid(i))), gotS, wantS, err, wantErr)
		wantL, wantErr := full.ListSessions(ctx, sub(i), now)
		gotL, err := one.ListSessions(ctx, sub(i), now)
		tl.check(t, "ListSessions", sub(i), o.where(k.subjectSessions(sub(i)), k.session(sid(i))), gotL, wantL, err, wantErr)
	}
	tl.covered(t, "LookupRefresh")
	tl.covered(t, "Session")
	tl.covered(t, "ListSessions")

	// ---- rotations with a random successor: its locator is in another
	// slot than the old one's, which the node refuses (CROSSSLOT), or on
	// another node (MOVED) ----
	for _, i := range sessions {
		r := authkit.Rotation{Old: first(i), Next: testHash(fmt.Sprintf("next-%d", i)), NextExpiresAt: now.Add(2 * time.Hour),
			Successor: []byte("sealed"), Now: now.Add(time.Minute)}
		o.rotateOne(t, tl, created[i], r, o.where(k.refreshLocator(r.Old), k.refreshLocator(r.Next), k.session(sid(i))))
	}

	// ---- rotations whose successor's locator shares the old one's slot
	// on this node: the script runs, and reaches the session's keys and
	// the successor's GC index shard wherever they are ----
	csid := func(i int) string { return fmt.Sprintf("crafted-sess-%d", i) }
	cfirst := func(i int) authkit.TokenHash { return testHash(fmt.Sprintf("crafted-refresh-%d", i)) }
	rsess := o.pickCombos(t, 4, func(i int) []string {
		return []string{k.refreshLocator(cfirst(i)), k.session(csid(i))}
	}, "LL", "LR")
	var crafted int
	seen := map[string]int{}
	for _, i := range rsess {
		sess := authkit.Session{ID: csid(i), Subject: sub(i), CreatedAt: now, LastUsedAt: now,
			ExpiresAt: now.Add(48 * time.Hour), IdleExpiresAt: now.Add(time.Hour)}
		rec := authkit.RefreshRecord{Hash: cfirst(i), SessionID: csid(i), Subject: sub(i), IssuedAt: now, ExpiresAt: sess.IdleExpiresAt}
		if err := full.CreateSession(ctx, sess, rec); err != nil {
			t.Fatal(err)
		}
		// The successor's GC index shard here, then elsewhere, for each
		// placement of the session; the rotation moves the session's
		// idle expiry earlier, so that its GC entry moves too.
		w := o.where(k.refreshLocator(cfirst(i)), k.session(csid(i)))
		gcHere := seen[w]%2 == 0
		seen[w]++
		oldSlot := keySlot(k.refreshLocator(cfirst(i)))
		var next authkit.TokenHash
		for j := 0; ; j++ {
			if j > 10_000_000 {
				t.Fatal("no successor hash found")
			}
			h := testHash(fmt.Sprintf("crafted-next-%d-%d", i, j))
			rm := gcRecordMember(csid(i), hashID(h))
			if keySlot(k.refreshLocator(h)) == oldSlot && o.local(k.gcKey(gcSess, rm)) == gcHere {
				next = h
				break
			}
		}
		r := authkit.Rotation{Old: cfirst(i), Next: next, NextExpiresAt: now.Add(30 * time.Minute),
			Successor: []byte("sealed"), Now: now.Add(time.Minute)}
		where := o.where(k.refreshLocator(r.Old), k.refreshLocator(r.Next), k.session(csid(i)),
			k.gcKey(gcSess, gcRecordMember(csid(i), hashID(next))), k.gcKey(gcSess, gcSessionMember(csid(i))))
		if !o.rotateOne(t, tl, sess, r, where) {
			crafted++
		}
	}
	if crafted == 0 {
		t.Error("no crafted rotation was refused")
	}
	tl.covered(t, "RotateRefresh")

	// ---- revocations: the bucket's slot, and the subject's (the layout
	// before the feed) ----
	revSub := func(i int) string { return fmt.Sprintf("rev-user-%d", i) }
	revs := o.pickCombos(t, 2, func(i int) []string {
		return []string{k.epochMarker(bucket(revSub(i))), k.p + legacyCutoff(revSub(i))}
	})
	for n, i := range revs {
		s := revSub(i)
		switch n % 3 {
		case 0:
			if err := full.RevokeToken(ctx, s, "jti-1", now.Add(time.Hour)); err != nil {
				t.Fatal(err)
			}
		case 1:
			if err := full.RevokeSessionTokens(ctx, s, "sid-1", now.Add(time.Hour)); err != nil {
				t.Fatal(err)
			}
		case 2:
			if err := full.SetCutoff(ctx, s, now.Add(time.Second), now.Add(time.Hour)); err != nil {
				t.Fatal(err)
			}
		}
	}
	issued := now.Add(time.Millisecond)
	var revokedSeen int
	for _, i := range revs {
		s := revSub(i)
		for _, q := range []authkit.RevocationQuery{
			{Subject: s, TokenID: "jti-1", SessionID: "sid-1", IssuedAt: issued},
			{Subject: s, TokenID: "jti-2", SessionID: "sid-2", IssuedAt: issued},
		} {
			want, wantErr := full.IsRevoked(ctx, q, now)
			if wantErr != nil {
				t.Fatal(wantErr)
			}
			got, err := one.IsRevoked(ctx, q, now)
			tl.check(t, "IsRevoked", fmt.Sprintf("%+v", q), o.where(k.epochMarker(bucket(s)), k.p+legacyCutoff(s)), got, want, err, nil)
			got, err = o.oneN.IsRevoked(ctx, q, now)
			if err == nil && want {
				revokedSeen++
			}
			tl.check(t, "IsRevoked without legacy keys", fmt.Sprintf("%+v", q), o.where(k.epochMarker(bucket(s))), got, want, err, nil)
		}
	}
	if revokedSeen == 0 {
		t.Error("the one-node store never answered IsRevoked for a revoked token")
	}
	tl.covered(t, "IsRevoked")
	tl.covered(t, "IsRevoked without legacy keys")
	for _, s := range []*Store{one, o.oneN} {
		_, err := s.RevocationSnapshot(ctx, now, func(authkit.Revocation) error { return nil })
		if !failedClosed(err) {
			t.Errorf("RevocationSnapshot over one node of a cluster (the buckets are on every node): %v, want ErrStoreUnavailable", err)
		}
	}

	// ---- clients and codes: the code's locator, the client's slot ----
	clientID := func(i int) string { return fmt.Sprintf("client-%d", i) }
	codeHash := func(i int) authkit.TokenHash { return testHash(fmt.Sprintf("code-%d", i)) }
	codes := o.pickCombos(t, 2, func(i int) []string {
		return []string{k.codeLocator(hashID(codeHash(i))), k.client(clientID(i))}
	})
	for _, i := range codes {
		c := authkit.Client{ID: clientID(i), Name: "app", GrantTypes: []string{authkit.GrantAuthorizationCode},
			RedirectURIs: []string{"https://app.example/cb"}, CreatedAt: now}
		if err := full.CreateClient(ctx, c); err != nil {
			t.Fatal(err)
		}
		code := authkit.AuthorizationCode{Hash: codeHash(i), ClientID: clientID(i), RedirectURI: "https://app.example/cb",
			Subject: "alice", Scopes: []string{"read"}, CreatedAt: now, ExpiresAt: now.Add(time.Minute)}
		if err := full.CreateAuthorizationCode(ctx, code); err != nil {
			t.Fatal(err)
		}
	}
	for _, i := range codes {
		where := o.where(k.codeLocator(hashID(codeHash(i))), k.client(clientID(i)))
		want, wantErr := full.GetClient(ctx, clientID(i))
		got, err := one.GetClient(ctx, clientID(i))
		tl.check(t, "GetClient", clientID(i), where[1:], got, want, err, wantErr)
		at := now.Add(time.Second)
		gotC, err := one.RedeemAuthorizationCode(ctx, codeHash(i), at)
		again, againErr := full.RedeemAuthorizationCode(ctx, codeHash(i), at)
		if err != nil {
			// Refused: the code is still unused.
			if againErr != nil {
				t.Errorf("RedeemAuthorizationCode %d (keys %s): after the one-node store's refusal (%v) the code does not redeem: %v", i, where, err, againErr)
			}
			tl.check(t, "RedeemAuthorizationCode", clientID(i), where, gotC, nil, err, nil)
			continue
		}
		if !errors.Is(againErr, authkit.ErrTokenReused) {
			t.Errorf("RedeemAuthorizationCode %d (keys %s): the one-node store redeemed it, but a second redemption says %v", i, where, againErr)
		}
		tl.check(t, "RedeemAuthorizationCode", clientID(i), where, gotC, again, nil, nil)
	}
	tl.covered(t, "GetClient")
	tl.covered(t, "RedeemAuthorizationCode")
	wantCl, wantErr := full.ListClients(ctx)
	gotCl, err := one.ListClients(ctx)
	tl.check(t, "ListClients", "", o.where(k.clientIndex()), gotCl, wantCl, err, wantErr)
	if err == nil {
		t.Errorf("ListClients answered though the clients are on every node")
	}

	// ---- throttles ----
	var thrKeys []string
	for i := range 12 {
		key := fmt.Sprintf("login:%d", i)
		thrKeys = append(thrKeys, key)
		if _, err := full.AddFailure(ctx, key, now, time.Hour); err != nil {
			t.Fatal(err)
		}
	}
	for _, key := range thrKeys {
		want, wantErr := full.ThrottleStates(ctx, now, key)
		got, err := one.ThrottleStates(ctx, now, key)
		tl.check(t, "ThrottleStates", key, o.where(k.throttle(key)), got, want, err, wantErr)
	}
	tl.covered(t, "ThrottleStates")
}

// rotateOne rotates through the one-node store and then checks, through
// the cluster, that the rotation took effect in full (its reply the
// session's new state, the old record used, the successor stored,
// located and indexed for cleanup) or not at all (refused, failing
// closed, with the old token still unused: the cluster store rotates it).
// It reports whether the one-node store rotated.
func (o *oneNode) rotateOne(t *testing.T, tl tally, sess authkit.Session, r authkit.Rotation, where string) bool {
	t.Helper()
	ctx := t.Context()
	k := o.full.k
	nextID := hashID(r.Next)
	recMember := gcRecordMember(sess.ID, nextID)
	got, err := o.one.RotateRefresh(ctx, r)
	old, oldErr := o.full.LookupRefresh(ctx, r.Old)
	if oldErr != nil {
		t.Fatalf("LookupRefresh of the old token through the cluster: %v", oldErr)
	}
	next, nextErr := o.full.LookupRefresh(ctx, r.Next)
	loc, locErr := o.cc.Exists(ctx, k.refreshLocator(r.Next)).Result()
	_, gcErr := o.cc.ZScore(ctx, k.gcKey(gcSess, recMember), recMember).Result()
	inSet, setErr := o.cc.SIsMember(ctx, k.records(sess.ID), nextID).Result()
	cur, sessErr := o.full.Session(ctx, sess.ID)
	if locErr != nil || setErr != nil || sessErr != nil || (gcErr != nil && !errors.Is(gcErr, redis.Nil)) {
		t.Fatalf("reading the rotation's keys through the cluster: %v, %v, %v, %v", locErr, setErr, sessErr, gcErr)
	}
	if err != nil {
		if !failedClosed(err) {
			t.Errorf("RotateRefresh (keys %s): %v, want a rotation or an error matching only ErrStoreUnavailable", where, err)
		}
		if !old.UsedAt.IsZero() || !errors.Is(nextErr, authkit.ErrNotFound) || loc != 0 || gcErr == nil || inSet ||
			!cur.LastUsedAt.Equal(sess.LastUsedAt) || !cur.IdleExpiresAt.Equal(sess.IdleExpiresAt) {
			t.Errorf("RotateRefresh (keys %s) failed (%v) but wrote: old used at %v, successor %v, its locator %d, GC entry %v, in the record set %v, session %+v",
				where, err, old.UsedAt, nextErr, loc, gcErr == nil, inSet, cur)
		}
		tl.add("RotateRefresh", where, false)
		// Refused in full: the token still rotates, on the cluster.
		r2 := r
		r2.Next = testHash("cluster-" + nextID)
		if _, err := o.full.RotateRefresh(ctx, r2); err != nil {
			t.Errorf("RotateRefresh (keys %s) through the cluster after the one-node store refused it: %v", where, err)
		}
		return false
	}
	if !strings.HasPrefix(where, "LL") {
		t.Errorf("RotateRefresh answered though a locator is on another node (keys %s)", where)
	}
	if !old.UsedAt.Equal(r.Now) || nextErr != nil || next.SessionID != sess.ID || loc != 1 || gcErr != nil || !inSet ||
		got.ID != sess.ID || !got.LastUsedAt.Equal(r.Now) || !cur.LastUsedAt.Equal(r.Now) || !cur.IdleExpiresAt.Equal(r.NextExpiresAt) {
		t.Errorf("RotateRefresh (keys %s) rotated to %+v but: old used at %v, successor %+v (%v), its locator %d, GC entry %v, in the record set %v, session %+v",
			where, got, old.UsedAt, next, nextErr, loc, gcErr, inSet, cur)
	}
	wantSc := min(sessionGCScore(sess), score(r.NextExpiresAt))
	if sc, err := o.cc.ZScore(ctx, k.gcKey(gcSess, gcSessionMember(sess.ID)), gcSessionMember(sess.ID)).Result(); err != nil || sc != wantSc {
		t.Errorf("RotateRefresh (keys %s): the session's GC entry scores %v (%v), want %v", where, sc, err, wantSc)
	}
	tl.add("RotateRefresh", where, true)
	return true
}

// TestNewRefusesOneClusterNode checks that New and OpenURL refuse a
// client of one node of a cluster, which they can tell when it answers.
func TestNewRefusesOneClusterNode(t *testing.T) {
	addrs := testservers.RedisCluster(t)
	cc := redis.NewClusterClient(&redis.ClusterOptions{Addrs: addrs, ContextTimeoutEnabled: true})
	t.Cleanup(func() { _ = cc.Close() })
	prefix := testservers.RedisPrefix(t, cc)
	for _, addr := range addrs {
		node := redis.NewClient(&redis.Options{Addr: addr, ContextTimeoutEnabled: true})
		t.Cleanup(func() { _ = node.Close() })
		s, err := New(node, WithPrefix(prefix))
		if !errors.Is(err, authkit.ErrInvalidConfig) || s != nil || !strings.Contains(err.Error(), "cluster_enabled:1") || !strings.Contains(err.Error(), "ClusterClient") {
			t.Errorf("New over a *redis.Client of the cluster node %s: %v, %v; want ErrInvalidConfig naming the cluster and ClusterClient", addr, s, err)
		}
		if err != nil && strings.Contains(err.Error(), addr) {
			t.Errorf("New's error names the server: %v", err)
		}
		s, err = OpenURL(context.Background(), "redis://"+addr+"?key_prefix="+prefix)
		if !errors.Is(err, authkit.ErrInvalidConfig) || s != nil || !strings.Contains(err.Error(), "redis+cluster://") {
			t.Errorf("OpenURL of redis://<cluster node>: %v, %v; want ErrInvalidConfig naming redis+cluster://", s, err)
		}
		s, err = OpenURL(context.Background(), "redis+cluster://"+addr+"?key_prefix="+prefix)
		if err != nil {
			t.Errorf("OpenURL of redis+cluster://%s: %v", addr, err)
		} else {
			_ = s.Close()
		}
	}
	rdb := redis.NewClient(&redis.Options{Addr: testservers.Redis(t), ContextTimeoutEnabled: true})
	t.Cleanup(func() { _ = rdb.Close() })
	s, err := New(rdb, WithPrefix(testservers.RedisPrefix(t, rdb)))
	if err != nil || !s.oneCall {
		t.Errorf("New over a standalone server: %v (one call %v)", err, s != nil && s.oneCall)
	}
}
