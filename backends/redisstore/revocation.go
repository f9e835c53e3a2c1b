package redisstore

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/authkit-go/authkit"
)

// Revocations are recorded under the hash tag of their subject's bucket,
// so that the entries IsRevoked reads — the jti, the sid and the cutoff —
// share one slot and one MGET answers, and so that the script that writes
// an entry also appends the change to the bucket's log (feed.go) in the
// same atomic step.

// RevokeToken implements authkit.RevocationStore: one script keeps the
// later until and logs the change, in one round trip with its GC index
// entry.
func (s *Store) RevokeToken(ctx context.Context, subject, jti string, until time.Time) error {
	const op = "RevokeToken"
	if err := checkLen(op, "jti", jti, MaxKeyLen); err != nil {
		return err
	}
	return s.revoke(ctx, op, subject, "j", jti, until, feedNonce())
}

// RevokeSessionTokens implements authkit.RevocationStore, as RevokeToken.
func (s *Store) RevokeSessionTokens(ctx context.Context, subject, sid string, until time.Time) error {
	const op = "RevokeSessionTokens"
	if err := checkLen(op, "sid", sid, MaxKeyLen); err != nil {
		return err
	}
	return s.revoke(ctx, op, subject, "s", sid, until, feedNonce())
}

// revoke writes and logs a jti or sid revocation; nonce identifies the
// call in the log (a resend of the script with the same nonce is not
// logged again).
func (s *Store) revoke(ctx context.Context, op, subject, kind, id string, until time.Time, nonce string) error {
	if err := ctx.Err(); err != nil {
		return deadCtx(op, err)
	}
	if err := checkLen(op, "subject", subject, MaxKeyLen); err != nil {
		return err
	}
	ctx, cancel := s.callCtx(ctx)
	defer cancel()
	b := bucket(subject)
	m := memberJTI(subject, id)
	if kind == "s" {
		m = memberSID(subject, id)
	}
	member := revBase(b) + m
	u := microsCeil(until)
	err := s.exec(ctx, func(bt *batch) {
		bt.script(revokeMaxScript, []string{s.k.p + member, s.k.feedMeta(b), s.k.feed(b), s.k.revIndex(b)},
			fmtMicros(u), pxat(until, s.cfg.margin), kind, subject, id, m, newEpoch(), s.cfg.feedLen, s.prune(), nonce)
		// GT: the index entry follows the later until, as the entry does.
		bt.pipe.ZAddGT(ctx, s.k.gcKey(gcRev, member), redis.Z{Score: float64(u), Member: member})
	})
	if err != nil {
		return s.fail(ctx, op, err)
	}
	r := authkit.Revocation{Kind: authkit.RevokedToken, Subject: subject, ID: id, Until: time.UnixMicro(u).UTC()}
	if kind == "s" {
		r.Kind = authkit.RevokedSession
	}
	// In force on the primary now, whatever the replicas say.
	s.listeners.Notify(r)
	return s.confirm(ctx, op, s.entryCheck(untilCheck(s.k.p+member, u), until)...)
}

// entryCheck is the confirm check of a revocation entry that lives until
// until: once its native TTL (until plus the expiry margin) is about to
// pass, the entry may be gone for that reason alone, so confirm then only
// waits for the replicas ("any": the marker and WAIT, without the check
// that the primary holds it).
func (s *Store) entryCheck(c ackCheck, until time.Time) []ackCheck {
	if time.Until(until.Add(s.cfg.margin)) < time.Minute {
		c.kind, c.want = "any", ""
	}
	return []ackCheck{c}
}

// ListenRevocations implements authkit.RevocationListeners: fn hears of
// each revocation written through s once the primary holds it, before
// the writing call returns, with the times as the feed delivers them (to
// the microsecond). Under WithReplicaAcks it hears before the replicas
// confirm, so also of a revocation whose call then fails for want of
// their acknowledgement: it is in force on the primary.
func (s *Store) ListenRevocations(fn func(authkit.Revocation)) (stop func()) {
	return s.listeners.Add(fn)
}

// SetCutoff implements authkit.RevocationStore. The cutoff is kept to the
// microsecond, rounded up; the later cutoff and the later until are each
// kept. The change is logged in the same step.
func (s *Store) SetCutoff(ctx context.Context, subject string, cutoff, until time.Time) error {
	return s.setCutoff(ctx, subject, cutoff, until, feedNonce())
}

// setCutoff is SetCutoff with the call's log nonce.
func (s *Store) setCutoff(ctx context.Context, subject string, cutoff, until time.Time, nonce string) error {
	const op = "SetCutoff"
	if err := ctx.Err(); err != nil {
		return deadCtx(op, err)
	}
	if err := checkLen(op, "subject", subject, MaxKeyLen); err != nil {
		return err
	}
	ctx, cancel := s.callCtx(ctx)
	defer cancel()
	b := bucket(subject)
	m := memberCutoff(subject)
	member := revBase(b) + m
	u, at := microsCeil(until), microsCeil(cutoff)
	err := s.exec(ctx, func(bt *batch) {
		bt.script(setCutoffScript, []string{s.k.p + member, s.k.feedMeta(b), s.k.feed(b), s.k.revIndex(b)},
			fmtMicros(u), fmtMicros(at), pxat(until, s.cfg.margin), subject, m, newEpoch(), s.cfg.feedLen, s.prune(), nonce)
		bt.pipe.ZAddGT(ctx, s.k.gcKey(gcRev, member), redis.Z{Score: float64(u), Member: member})
	})
	if err != nil {
		return s.fail(ctx, op, err)
	}
	s.listeners.Notify(authkit.Revocation{Kind: authkit.RevokedBefore, Subject: subject, Cutoff: time.UnixMicro(at).UTC(), Until: time.UnixMicro(u).UTC()})
	return s.confirm(ctx, op, s.entryCheck(cutoffCheck(s.k.p+member, at), until)...)
}

// prune is the index score (µs) below which a revocation's native TTL has
// passed by the application's clock: the feed index drops such members.
func (s *Store) prune() string {
	return fmtMicros(micros(time.Now().Add(-s.cfg.margin)))
}

// IsRevoked implements authkit.RevocationStore in one round trip: an MGET
// of the subject's bucket's epoch marker, the token's jti entry, its sid
// entry and its subject's cutoff, four keys in one slot. Expiry is judged
// here, against now. An empty TokenID or SessionID matches nothing.
//
// A token issued at or before the bucket's epoch began is dead, with an
// error matching authkit.ErrDataLoss (a *authkit.DataLossError), whatever
// the entries say. A marker found missing means the bucket lost its data:
// a second round trip starts a new epoch at now (unless another handle
// just did: every handle agrees on the first), and the token is judged
// against it.
//
// Unless WithoutLegacyRevocationKeys, it also reads the same three
// entries under the layout before the feed (the subject's hash tag): in
// the same MGET on a standalone server, in a second MGET of the same
// pipeline on a cluster (one round trip per node, sent concurrently).
func (s *Store) IsRevoked(ctx context.Context, q authkit.RevocationQuery, now time.Time) (bool, error) {
	const op = "IsRevoked"
	if err := ctx.Err(); err != nil {
		return false, deadCtx(op, err)
	}
	if len(q.Subject) > MaxKeyLen || len(q.TokenID) > MaxKeyLen || len(q.SessionID) > MaxKeyLen {
		return false, invalid(op, "identity", max(len(q.Subject), len(q.TokenID), len(q.SessionID)), MaxKeyLen)
	}
	ctx, cancel := s.callCtx(ctx)
	defer cancel()
	b := bucket(q.Subject)
	// keys[0] is the marker, keys[1:n] the entries under the bucket's tag
	// (same slot), keys[n:] those under the subject's (legacy).
	var keyBuf [7]string
	keys := append(keyBuf[:0], s.markers[b], s.k.p+revCutoff(q.Subject))
	if q.TokenID != "" {
		keys = append(keys, s.k.p+revJTI(q.Subject, q.TokenID))
	}
	if q.SessionID != "" {
		keys = append(keys, s.k.p+revSID(q.Subject, q.SessionID))
	}
	n := len(keys)
	if !s.cfg.noLegacy {
		keys = append(keys, s.k.p+legacyCutoff(q.Subject))
		if q.TokenID != "" {
			keys = append(keys, s.k.p+legacyJTI(q.Subject, q.TokenID))
		}
		if q.SessionID != "" {
			keys = append(keys, s.k.p+legacySID(q.Subject, q.SessionID))
		}
	}
	var vals []any
	var err error
	if _, single := s.rdb.(*redis.Client); single || len(keys) == n {
		vals, err = s.rdb.MGet(ctx, keys...).Result()
	} else {
		// Two slots: one pipeline, split per node by the client.
		var a, b *redis.SliceCmd
		err = s.exec(ctx, func(bt *batch) {
			a = bt.pipe.MGet(ctx, keys[:n]...)
			b = bt.pipe.MGet(ctx, keys[n:]...)
		})
		vals = append(a.Val(), b.Val()...)
	}
	if err != nil {
		return false, s.fail(ctx, op, err)
	}
	if len(vals) != len(keys) {
		return false, corrupt(op, errCorrupt)
	}
	var since int64
	if vals[0] != nil {
		if since, err = parseSince(str(vals[0])); err != nil {
			return false, corrupt(op, err)
		}
	} else {
		// The marker is gone, and with it whatever the bucket held: start
		// a new epoch at now. The entries just read are not trusted for a
		// token issued before it (they may have been written after the
		// loss, by a write that cannot know); for one issued after, they
		// are all the store knows, as on any store.
		if since, err = s.startEpoch(ctx, b, lossSince(now)); err != nil {
			if errors.Is(err, errCorrupt) {
				return false, corrupt(op, err)
			}
			return false, s.fail(ctx, op, err)
		}
	}
	if beforeEpoch(q.IssuedAt, since) {
		return true, outcome(op, lossErr(since))
	}
	for _, part := range [][]any{vals[1:n], vals[n:]} {
		if len(part) == 0 {
			continue
		}
		dead, err := revokedBy(part, q, now)
		if err != nil {
			return false, corrupt(op, err)
		}
		if dead {
			return true, nil
		}
	}
	return false, nil
}

// revokedBy judges the entries of one layout: vals[0] the cutoff, then
// the jti and sid entries asked for.
func revokedBy(vals []any, q authkit.RevocationQuery, now time.Time) (bool, error) {
	if v := str(vals[0]); v != "" {
		us, cs, ok := strings.Cut(v, ":")
		u, err1 := strconv.ParseInt(us, 10, 64)
		c, err2 := strconv.ParseInt(cs, 10, 64)
		if !ok || err1 != nil || err2 != nil {
			return false, errCorrupt
		}
		if alive(u, now) && !q.IssuedAt.After(time.UnixMicro(c)) {
			return true, nil
		}
	}
	for _, v := range vals[1:] {
		if v == nil {
			continue
		}
		u, err := strconv.ParseInt(str(v), 10, 64)
		if err != nil {
			return false, errCorrupt
		}
		if alive(u, now) {
			return true, nil
		}
	}
	return false, nil
}

// alive reports whether an entry whose until is the microsecond count u
// still counts at now.
func alive(u int64, now time.Time) bool { return now.Before(time.UnixMicro(u)) }

// DeleteExpiredRevocations implements authkit.RevocationStore: it reads
// candidates from the GC index (whose entries are never later than their
// entry's until) and deletes each entry whose until is at or before now
// with a script on the entry's own slot, in batches. Then it prunes the
// feed's indexes (see pruneFeedIndexes).
func (s *Store) DeleteExpiredRevocations(ctx context.Context, now time.Time, limit int) (int, error) {
	const op = "DeleteExpiredRevocations"
	at := fmtTime(now)
	n, err := s.collect(ctx, op, gcRev, now, limit, func(cands []candidate, _ int, b *batch) gcFinish {
		calls := make([]*scriptCall, len(cands))
		for i, c := range cands {
			calls[i] = b.script(gcRevocationScript, []string{s.k.p + c.member}, at)
		}
		return func() (int, []func(*batch), error) {
			n := 0
			var fu []func(*batch)
			for i, c := range calls {
				l, err := replyList(c.cmd.Val())
				if err != nil {
					return n, fu, err
				}
				switch str(l[0]) {
				case "del":
					n++
					fu = append(fu, s.gcDrop(ctx, cands[i]))
				case "later":
					u, err := strconv.ParseInt(str(l[1]), 10, 64)
					if err != nil || len(l) != 2 {
						return n, fu, errCorrupt
					}
					fu = append(fu, s.gcRescore(ctx, cands[i], float64(u)))
				default:
					fu = append(fu, s.gcDrop(ctx, cands[i]))
				}
			}
			return n, fu, nil
		}
	})
	if err == nil {
		err = s.pruneFeedIndexes(ctx)
	}
	if err != nil {
		if errors.Is(err, errCorrupt) {
			return n, corrupt(op, err)
		}
		return n, s.fail(ctx, op, err)
	}
	return n, nil
}

// pruneFeedIndexes drops from every bucket's feed index the members whose
// entries' native TTL has passed, as each revocation's script does in its
// own bucket: one ZREMRANGEBYSCORE per bucket, in one pipeline. Without
// it a bucket that no revocation wrote to again kept them, index memory
// the documentation counts only while the entry is in force (found by
// review: 1,423 of 2,000 members outlived their entries).
func (s *Store) pruneFeedIndexes(ctx context.Context) error {
	ctx, cancel := s.callCtx(ctx)
	defer cancel()
	below := "(" + s.prune()
	return s.exec(ctx, func(b *batch) {
		for i := range feedShards {
			b.pipe.ZRemRangeByScore(ctx, s.k.revIndex(i), "-inf", below)
		}
	})
}
