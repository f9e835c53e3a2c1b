package redisstore

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/authkit-go/authkit"
	"github.com/authkit-go/authkit/internal/testservers"
)

// TestFeedPositionCodec checks that positions round-trip and that
// anything else — other versions, other digests' lengths, a missing or
// extra bucket, a stream ID not in Redis's canonical form — is refused.
func TestFeedPositionCodec(t *testing.T) {
	var p feedPos
	p.digest = strings.Repeat("A", digestLen)
	for i := range p.ids {
		p.ids[i] = streamID{uint64(1700000000000 + i), uint64(i)}
	}
	p.nonces[3] = feedNonce()
	enc := p.encode()
	got, ok := decodePos(enc)
	if !ok || got != p {
		t.Fatalf("decodePos(%q) = %+v, %v; want %+v", enc, got, ok, p)
	}
	// A position of the version before nonces is still read.
	v1 := "r1" + strings.TrimPrefix(strings.Replace(string(enc), "~"+p.nonces[3], "", 1), positionVersion)
	want := p
	want.nonces[3] = ""
	if got, ok := decodePos(authkit.FeedPosition(v1)); !ok || got != want {
		t.Errorf("decodePos(%q) = %+v, %v; want %+v", v1, got, ok, want)
	}
	ids := strings.Repeat("0-0,", feedShards-1) + "0-0"
	d := strings.Repeat("A", digestLen)
	for _, bad := range []string{
		"",
		"r1",
		"r1." + d,
		"r3." + d + "." + ids,
		"r1." + d + "." + strings.TrimSuffix(ids, "0-0") + "0-0~ABCDEFGHIJKL", // r1 carries no nonce
		"r2." + d + "." + strings.TrimSuffix(ids, "0-0") + "0-0~",             // an empty nonce
		"r2." + d + "." + strings.TrimSuffix(ids, "0-0") + "0-0~abc",          // not feedNonce's form
		"r2." + d + "." + strings.TrimSuffix(ids, "0-0") + "0-0~A~B",
		"r1." + d[1:] + "." + ids,
		"r1." + d + "." + ids + ",0-0",
		"r1." + d + "." + strings.TrimSuffix(ids, ",0-0"),
		"r1." + d + "." + strings.TrimSuffix(ids, "0-0") + "0-01",
		"r1." + d + "." + strings.TrimSuffix(ids, "0-0") + "00-1",
		"r1." + d + "." + strings.TrimSuffix(ids, "0-0") + "1",
		"r1." + d + "." + strings.TrimSuffix(ids, "0-0") + "-1-0",
		"r1." + d + "." + strings.TrimSuffix(ids, "0-0") + "18446744073709551616-0",
		"r1." + d + "." + ids + ".x",
	} {
		if _, ok := decodePos(authkit.FeedPosition(bad)); ok {
			t.Errorf("decodePos(%q) accepted a malformed position", bad)
		}
	}
	// A longer last ID parses, and is past the end of any log that has
	// not reached it: FollowRevocations refuses it against the heads.
	if q, ok := decodePos(enc + "9"); !ok || !p.ids[feedShards-1].less(q.ids[feedShards-1]) {
		t.Errorf("decodePos(position + \"9\") = %+v, %v; want a later last ID", q, ok)
	}
}

// TestFeedBuckets checks that the bucket of a subject is stable (it is
// part of the key layout: FNV-1a mod 16) and that each bucket's tag
// lands in its own sixteenth of the cluster's slots.
func TestFeedBuckets(t *testing.T) {
	for subject, want := range map[string]int{"alice": 7, "user-1": 4, "": 5} {
		if got := bucket(subject); got != want {
			t.Errorf("bucket(%q) = %d, want %d", subject, got, want)
		}
	}
	if got := crc16([]byte("123456789")); got != 0x31c3 {
		t.Fatalf("crc16 of the Redis Cluster specification's example = %#x, want 0x31c3", got)
	}
	for b := range feedShards {
		tag := bucketTag(b)
		if !strings.HasPrefix(tag, "{r") || !strings.HasSuffix(tag, "}") {
			t.Errorf("bucket %d's tag %q is not {r…}", b, tag)
		}
		slot := int(crc16([]byte(tag[1:len(tag)-1])) % 16384)
		if lo := b * 16384 / feedShards; slot < lo || slot >= lo+16384/feedShards {
			t.Errorf("bucket %d's tag %q is on slot %d, outside the %d-th sixteenth of the slots", b, tag, slot, b)
		}
	}
}

// crc16 is the CRC16-XMODEM that Redis Cluster hashes keys with.
func crc16(data []byte) uint16 {
	var crc uint16
	for _, c := range data {
		crc ^= uint16(c) << 8
		for range 8 {
			if crc&0x8000 != 0 {
				crc = crc<<1 ^ 0x1021
			} else {
				crc <<= 1
			}
		}
	}
	return crc
}

// TestFeedResentWrite runs each revocation script twice with one nonce,
// as go-redis does when it resends a command whose reply was lost: the
// change is logged once. A new call (a new nonce) is logged again.
func TestFeedResentWrite(t *testing.T) {
	s, rdb := standaloneStore(t)
	ctx := t.Context()
	until := time.Now().Add(time.Hour)
	for i, write := range []func(nonce string) error{
		func(n string) error { return s.revoke(ctx, "RevokeToken", "alice", "j", "jti-1", until, n) },
		func(n string) error { return s.revoke(ctx, "RevokeSessionTokens", "alice", "s", "sid-1", until, n) },
		func(n string) error { return s.setCutoff(ctx, "alice", until.Add(-time.Hour), until, n) },
	} {
		for _, n := range []string{"a", "a", "b"} {
			if err := write(strconv.Itoa(i) + n); err != nil {
				t.Fatal(err)
			}
		}
	}
	if n, err := rdb.XLen(ctx, s.k.feed(bucket("alice"))).Result(); err != nil || n != 6 {
		t.Errorf("the log holds %d changes (%v) after three writes each sent twice with one nonce and once with another, want 6", n, err)
	}
}

// standaloneStore returns a Store over the test Redis under a prefix of its
// own, and its client, both closed when t ends.
func standaloneStore(t *testing.T) (*Store, *redis.Client) {
	t.Helper()
	rdb := redis.NewClient(&redis.Options{Addr: testservers.Redis(t), ContextTimeoutEnabled: true})
	t.Cleanup(func() { _ = rdb.Close() })
	s, err := New(rdb, WithPrefix(testservers.RedisPrefix(t, rdb)))
	if err != nil {
		t.Fatal(err)
	}
	return s, rdb
}

// TestLegacyValue checks that a snapshot's read of a legacy entry tells a
// key gone since the SCAN (skipped) from a read that failed (an error):
// the pipeline's Exec reports only its first failure, so a failed GET
// after a redis.Nil used to be skipped as gone, leaving a revocation in
// force out of the snapshot.
func TestLegacyValue(t *testing.T) {
	failed := errors.New("connection reset")
	for _, c := range []struct {
		cmd    *redis.StringCmd
		ok     bool
		failed bool
	}{
		{redis.NewStringResult("v", nil), true, false},
		{redis.NewStringResult("", redis.Nil), false, false},
		{redis.NewStringResult("", failed), false, true},
	} {
		v, ok, err := legacyValue(c.cmd)
		if ok != c.ok || (err != nil) != c.failed || (ok && v != "v") {
			t.Errorf("legacyValue(%v) = %q, %v, %v; want ok %v, an error %v", c.cmd, v, ok, err, c.ok, c.failed)
		}
	}
}

// forkLog is a store whose "alice" bucket logs one change, j0, and a
// position after it, for the tests of a log a failover replaced.
type forkLog struct {
	s      *Store
	rdb    *redis.Client
	stream string
	first  redis.XMessage // j0's change
	pos    authkit.FeedPosition
	got    chan authkit.Revocation
	errc   chan error
}

func newForkLog(t *testing.T) *forkLog {
	t.Helper()
	s, rdb := standaloneStore(t)
	ctx := t.Context()
	if err := s.RevokeToken(ctx, "alice", "j0", time.Now().Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	f := &forkLog{s: s, rdb: rdb, stream: s.k.feed(bucket("alice")), got: make(chan authkit.Revocation, 16), errc: make(chan error, 1)}
	f.pos = f.snapshot(t)
	first, err := rdb.XRange(ctx, f.stream, "-", "+").Result()
	if err != nil || len(first) != 1 {
		t.Fatalf("the log holds %v (%v), want j0's change alone", first, err)
	}
	f.first = first[0]
	return f
}

func (f *forkLog) snapshot(t *testing.T) authkit.FeedPosition {
	t.Helper()
	pos, err := f.s.RevocationSnapshot(t.Context(), time.Now(), func(authkit.Revocation) error { return nil })
	if err != nil {
		t.Fatal(err)
	}
	return pos
}

// follow starts FollowRevocations from pos, for 10 s at most; what it
// passes to fn goes to f.got, what it returns to f.errc.
func (f *forkLog) follow(t *testing.T, pos authkit.FeedPosition) {
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	t.Cleanup(cancel)
	go func() {
		f.errc <- f.s.FollowRevocations(ctx, pos, 200*time.Millisecond, func(rs []authkit.Revocation, _ authkit.FeedPosition) error {
			for _, r := range rs {
				f.got <- r
			}
			return nil
		})
	}()
}

// change is j0's change as revocation id, under a nonce of its own.
func (f *forkLog) change(id string) map[string]any {
	v := map[string]any{}
	for k, x := range f.first.Values {
		v[k] = x
	}
	v["i"], v["n"] = id, feedNonce()
	return v
}

// add logs change id under stream ID at.
func (f *forkLog) add(t *testing.T, at, id string) {
	t.Helper()
	if err := f.rdb.XAdd(t.Context(), &redis.XAddArgs{Stream: f.stream, ID: at, Values: f.change(id)}).Err(); err != nil {
		t.Fatal(err)
	}
}

// received waits for the follower to pass a change to fn.
func (f *forkLog) received(t *testing.T) authkit.Revocation {
	t.Helper()
	select {
	case r := <-f.got:
		return r
	case err := <-f.errc:
		t.Fatalf("FollowRevocations = %v before any change", err)
	case <-time.After(5 * time.Second):
		t.Fatal("no change reached fn")
	}
	return authkit.Revocation{}
}

// replace makes the log what "the new primary" holds: j0, then the given
// changes (stream ID, revocation ID), in one transaction, so that no read
// sees the log in between.
func (f *forkLog) replace(t *testing.T, removed string, entries ...[2]string) {
	t.Helper()
	tx := f.rdb.TxPipeline()
	tx.XDel(t.Context(), f.stream, removed)
	tx.Do(t.Context(), "XSETID", f.stream, f.first.ID)
	for _, e := range entries {
		tx.XAdd(t.Context(), &redis.XAddArgs{Stream: f.stream, ID: e[0], Values: f.change(e[1])})
	}
	if _, err := tx.Exec(t.Context()); err != nil {
		t.Fatal(err)
	}
}

// lostOr waits for the follower to report its position lost, or to pass
// want to fn first; anything else fails.
func (f *forkLog) lostOr(t *testing.T, want string) {
	t.Helper()
	select {
	case err := <-f.errc:
		if !errors.Is(err, authkit.ErrFeedPositionLost) {
			t.Fatalf("FollowRevocations = %v, want ErrFeedPositionLost", err)
		}
	case r := <-f.got:
		if want == "" || r.ID != want {
			t.Fatalf("fn got %+v first, want the position lost (or %q)", r, want)
		}
	case <-time.After(9 * time.Second):
		t.Fatal("the follower went on as current")
	}
}

func streamAt(d time.Duration) string { return fmt.Sprintf("%d-0", time.Now().Add(d).UnixMilli()) }

// A follower whose bucket's log goes back behind what it has passed to fn
// (a failover lost the newest entries, and the new primary's next IDs fall
// below them) reports its position lost instead of vouching for ever while
// it reads nothing new (found by review: a later revocation never reached
// the follower, which kept calling fn as current).
func TestFeedLogBehindReceived(t *testing.T) {
	f := newForkLog(t)
	f.follow(t, f.pos)
	// An entry from "the old primary", a minute ahead; the follower gets it.
	ahead := streamAt(time.Minute)
	f.add(t, ahead, "jx")
	f.received(t)
	// "The new primary" never had it: the log goes back to j0, then j1.
	f.replace(t, ahead)
	if err := f.s.RevokeToken(t.Context(), "alice", "j1", time.Now().Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	f.lostOr(t, "j1")
}

// A follower whose last received entry is gone from its bucket's log while
// the log holds entries both below and above it (a failover to a replica
// that had not received that entry and whose clock is behind) reports its
// position lost rather than reading on after it, which would skip the
// entries below (found by review: a mirror missed a revocation so).
func TestFeedLogForkedAroundReceived(t *testing.T) {
	f := newForkLog(t)
	f.follow(t, f.pos)
	ahead := streamAt(time.Minute)
	f.add(t, ahead, "jx")
	f.received(t)
	f.replace(t, ahead, [2]string{streamAt(time.Second), "j1"}, [2]string{streamAt(2 * time.Minute), "j2"})
	f.lostOr(t, "j1")
}

// A log that holds another change under the ID of the last change the
// follower received (the old primary logged two changes in one
// millisecond, the replica promoted got the first, and its clock gave its
// next change the second's ID) is not the log the position was read from:
// the follower, running or resuming from the position, reports it lost
// instead of reading on after it (found by review: the check of the
// cursor's entry looked at its ID alone).
func TestFeedLogSameIDOtherChange(t *testing.T) {
	for _, resume := range []bool{false, true} {
		t.Run(map[bool]string{false: "Following", true: "Resuming"}[resume], func(t *testing.T) {
			f := newForkLog(t)
			if !resume {
				f.follow(t, f.pos)
			}
			ahead := streamAt(time.Minute)
			f.add(t, ahead, "jx")
			pos := f.pos
			if resume {
				pos = f.snapshot(t) // it ends at jx; the follower starts later
			} else {
				f.received(t)
			}
			f.replace(t, ahead, [2]string{streamAt(time.Second), "j1"}, [2]string{ahead, "jy"}, [2]string{streamAt(2 * time.Minute), "j2"})
			if resume {
				f.follow(t, pos)
			}
			f.lostOr(t, "")
		})
	}
}
