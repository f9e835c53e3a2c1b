package redisstore

import (
	"cmp"
	"context"
	"errors"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// Garbage collection.
//
// Native TTLs remove every entry some time (the expiry margin) after its
// logical expiry by Redis's clock. The DeleteExpired… methods must do
// better: delete, and count exactly, what is garbage at the time they are
// given. They work from GC indexes: sorted sets, each spread over
// gcShards keys, whose members name an entry and whose scores are never
// later than the time the entry becomes garbage (-inf for a revoked
// session or token). A collection round reads the members scored at or
// before now from every shard, judges and deletes each candidate with a
// script on the candidate's own slot (one pipeline: one round trip per
// node), then drops deleted or vanished members from the index and
// re-scores those that turned out not to be garbage yet, at their true
// time. Rounds repeat until the limit is reached or no candidate is left,
// so every round makes progress: something is deleted, dropped, or moved
// past now.
//
// Index entries are hints written beside the entries, not with them (on a
// cluster they live in other slots): a missing or stale one can delay a
// collection, never make it wrong, and the native TTL still applies.

// candidate is a GC index member scored at or before now.
type candidate struct {
	key    string // the shard key that holds it
	member string
	score  float64
}

// gcFinish reads a round's script results: how many entries were deleted,
// and the index updates to queue.
type gcFinish func() (int, []func(*batch), error)

// gcRound queues the scripts that judge the candidates of one round (at
// most rem of them) and returns the function that reads their results.
type gcRound func(cands []candidate, rem int, b *batch) gcFinish

// collect runs rounds until limit entries are deleted or no candidate is
// left, and returns how many it deleted. It checks ctx and limit for op and
// bounds the whole run by the store's call timeout.
func (s *Store) collect(ctx context.Context, op, kind string, now time.Time, limit int, round gcRound) (int, error) {
	if err := ctx.Err(); err != nil {
		return 0, deadCtx(op, err)
	}
	if limit <= 0 {
		return 0, errLimit(op, limit)
	}
	ctx, cancel := s.callCtx(ctx)
	defer cancel()
	total := 0
	max := strconv.FormatInt(micros(now), 10)
	// Each round makes progress; the bound only guards against a clock
	// beyond the years where scores are exact.
	for rounds := 0; total < limit && rounds < limit+gcShards; rounds++ {
		rem := limit - total
		cands, err := s.candidates(ctx, kind, max, rem)
		if err != nil || len(cands) == 0 {
			return total, err
		}
		var finish gcFinish
		if err := s.exec(ctx, func(b *batch) { finish = round(cands, rem, b) }); err != nil {
			return total, err
		}
		n, followUps, err := finish()
		total += n
		if err != nil {
			return total, err
		}
		if err := s.exec(ctx, func(b *batch) {
			for _, f := range followUps {
				f(b)
			}
		}); err != nil {
			return total, err
		}
	}
	return total, nil
}

// candidates reads up to n members scored at or before max from each
// shard of the kind's index (one pipeline) and returns the n earliest.
func (s *Store) candidates(ctx context.Context, kind, max string, n int) ([]candidate, error) {
	cmds := make([]*redis.ZSliceCmd, gcShards)
	err := s.exec(ctx, func(b *batch) {
		for i := range gcShards {
			cmds[i] = b.pipe.ZRangeByScoreWithScores(ctx, s.k.gc(kind, i), &redis.ZRangeBy{Min: "-inf", Max: max, Count: int64(n)})
		}
	})
	if err != nil {
		return nil, err
	}
	var out []candidate
	for i, c := range cmds {
		for _, z := range c.Val() {
			m, _ := z.Member.(string)
			out = append(out, candidate{key: s.k.gc(kind, i), member: m, score: z.Score})
		}
	}
	slices.SortFunc(out, func(a, b candidate) int {
		if c := cmp.Compare(a.score, b.score); c != 0 {
			return c
		}
		return cmp.Compare(a.member, b.member)
	})
	if len(out) > n {
		out = out[:n]
	}
	return out, nil
}

// gcDrop removes a candidate from its index.
func (s *Store) gcDrop(ctx context.Context, c candidate) func(*batch) {
	return func(b *batch) { b.pipe.ZRem(ctx, c.key, c.member) }
}

// gcRescore moves a candidate that is not garbage yet to its true time,
// if it is still in the index with the score the round read: a write
// between the read and now (RevokeSession's -inf, which makes a session
// garbage at once) must stand, where a bare ZADD XX overwrote it and the
// revoked session, with its address and user agent, stayed until its
// idle expiry (found by review).
func (s *Store) gcRescore(ctx context.Context, c candidate, score float64) func(*batch) {
	return func(b *batch) {
		b.script(gcRescoreScript, []string{c.key}, c.member, strconv.FormatFloat(c.score, 'f', -1, 64), strconv.FormatFloat(score, 'f', -1, 64))
	}
}

// gcRescoreScript sets a member's score to ARGV[3] if its score is still
// ARGV[2]. KEYS: the index. ARGV: the member, the score read, the new one.
var gcRescoreScript = redis.NewScript(`
local cur = redis.call('ZSCORE', KEYS[1], ARGV[1])
if cur and tonumber(cur) == tonumber(ARGV[2]) then
  redis.call('ZADD', KEYS[1], 'XX', ARGV[3], ARGV[1])
end
return 0
`)

// parseScore reads a stored time as an index score.
func parseScore(v string) (float64, bool) {
	u, err := strconv.ParseInt(v, 10, 64)
	if err != nil {
		return 0, false
	}
	return float64(u), true
}

// DeleteExpiredSessions implements authkit.RefreshStore. Refresh records
// and sessions share one GC index: a record is garbage once its ExpiresAt
// has passed; a session once revoked or past either expiry, and it goes
// with its records — up to the budget a round gives it, the session itself
// last, so that a session with many records is deleted over several
// rounds or calls and never counted past the limit.
func (s *Store) DeleteExpiredSessions(ctx context.Context, now time.Time, limit int) (int, error) {
	const op = "DeleteExpiredSessions"
	at := fmtTime(now)
	n, err := s.collect(ctx, op, gcSess, now, limit, func(cands []candidate, rem int, b *batch) gcFinish {
		sessions := 0
		for _, c := range cands {
			if strings.HasPrefix(c.member, "s") {
				sessions++
			}
		}
		// Records cost one each; what is left of the round's budget goes
		// to the sessions, evenly.
		spare, seen := rem-len(cands), 0
		type job struct {
			c        candidate
			call     *scriptCall
			sid, hid string
			session  bool
		}
		jobs := make([]job, 0, len(cands))
		for _, c := range cands {
			j := job{c: c}
			switch {
			case strings.HasPrefix(c.member, "s"):
				sid, err := dec(c.member[1:])
				if err != nil {
					break
				}
				budget := 1
				if sessions > 0 {
					budget += spare / sessions
					if seen < spare%sessions {
						budget++
					}
				}
				seen++
				j.sid, j.session = sid, true
				j.call = b.script(gcSessionScript, []string{s.k.session(sid), s.k.records(sid)}, at, budget, s.k.recordPrefix(sid))
			case strings.HasPrefix(c.member, "r"):
				encSID, hid, ok := strings.Cut(c.member[1:], ":")
				sid, err := dec(encSID)
				if !ok || err != nil {
					break
				}
				j.sid, j.hid = sid, hid
				j.call = b.script(gcRecordScript, []string{s.k.recordPrefix(sid) + hid, s.k.records(sid)}, at, hid)
			}
			jobs = append(jobs, j)
		}
		return func() (int, []func(*batch), error) {
			n := 0
			var fu []func(*batch)
			releaseRecord := func(sid, hid string) {
				fu = append(fu, func(b *batch) {
					b.script(releaseOwnedScript, []string{s.k.refreshLocatorID(hid)}, sid)
				})
			}
			for _, j := range jobs {
				if j.call == nil { // a member this version cannot read
					fu = append(fu, s.gcDrop(ctx, j.c))
					continue
				}
				l, err := replyList(j.call.cmd.Val())
				if err != nil {
					return n, fu, err
				}
				status := str(l[0])
				switch {
				case status == "later":
					var t float64
					ok := false
					if j.session && len(l) == 3 {
						ex, ok1 := parseScore(str(l[1]))
						ie, ok2 := parseScore(str(l[2]))
						t, ok = min(ex, ie), ok1 && ok2
					} else if !j.session && len(l) == 2 {
						t, ok = parseScore(str(l[1]))
					}
					if !ok {
						return n, fu, errCorrupt
					}
					fu = append(fu, s.gcRescore(ctx, j.c, t))
				case !j.session && status == "del":
					n++
					releaseRecord(j.sid, j.hid)
					fu = append(fu, s.gcDrop(ctx, j.c))
				case !j.session && status == "gone":
					releaseRecord(j.sid, j.hid)
					fu = append(fu, s.gcDrop(ctx, j.c))
				case j.session && (status == "done" || status == "more") && len(l) >= 3:
					count, _ := l[1].(int64)
					n += int(count)
					for _, h := range l[3:] {
						hid := str(h)
						releaseRecord(j.sid, hid)
						m := gcRecordMember(j.sid, hid)
						fu = append(fu, func(b *batch) { b.pipe.ZRem(ctx, s.k.gcKey(gcSess, m), m) })
					}
					if status == "done" {
						fu = append(fu, s.gcDrop(ctx, j.c))
						if subject := str(l[2]); subject != "" {
							sid := j.sid
							fu = append(fu, func(b *batch) { b.pipe.ZRem(ctx, s.k.subjectSessions(subject), enc(sid)) })
						}
					}
				default:
					return n, fu, errCorrupt
				}
			}
			return n, fu, nil
		}
	})
	if err != nil {
		if errors.Is(err, errCorrupt) {
			return n, corrupt(op, err)
		}
		return n, s.fail(ctx, op, err)
	}
	return n, nil
}
