package redisstore

import (
	"context"
	"fmt"
	"math"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/authkit-go/authkit"
)

var _ authkit.ThrottleStore = (*Store)(nil)

// Throttle counters (authkit.ThrottleStore) live one per key:
//
//	P thr:{t<key>}   HASH   n (failures), l (last failure, µs), e (window end, µs)
//
// Each counter is its own hash tag, so counters spread over a cluster's
// slots and every call on one counter is a single-slot command: AddFailure
// is one script, ClearThrottle one DEL, and ThrottleStates one pipeline of
// HMGETs (one round trip on a single primary, one per node, concurrently,
// on a cluster). A counter's native expiry is its window's end plus the
// expiry margin, set when the window opens; Redis removes ended windows by
// itself, so DeleteExpiredThrottles has nothing to do.

func (k keyspace) throttle(key string) string { return k.p + "thr:{t" + enc(key) + "}" }

// throttleAddScript records one failure: KEYS[1] the counter, ARGV[1] now
// (µs), ARGV[2] the end of a window opened now (µs), ARGV[3] that end's
// native expiry (ms). It returns {failures, last, end}. A window that has
// ended (end <= now) is replaced by a new one. A resend of the script after
// a lost reply counts twice: the safe side for a throttle.
var throttleAddScript = redis.NewScript(`
local now = tonumber(ARGV[1])
local v = redis.call('HMGET', KEYS[1], 'n', 'l', 'e')
local e = tonumber(v[3])
if v[1] == false or e == nil or e <= now then
  redis.call('HSET', KEYS[1], 'n', '1', 'l', ARGV[1], 'e', ARGV[2])
  redis.call('PEXPIREAT', KEYS[1], ARGV[3])
  return {1, ARGV[1], ARGV[2]}
end
local n = redis.call('HINCRBY', KEYS[1], 'n', 1)
local l = v[2]
if tonumber(l) == nil or tonumber(l) < now then
  redis.call('HSET', KEYS[1], 'l', ARGV[1])
  l = ARGV[1]
end
return {n, l, v[3]}
`)

func checkThrottleKey(op, key string) error {
	return checkLen(op, "throttle key", key, authkit.MaxThrottleKeyLen)
}

// AddFailure implements authkit.ThrottleStore: one script, one round trip.
func (s *Store) AddFailure(ctx context.Context, key string, now time.Time, window time.Duration) (authkit.ThrottleState, error) {
	const op = "AddFailure"
	if err := ctx.Err(); err != nil {
		return authkit.ThrottleState{}, deadCtx(op, err)
	}
	if err := checkThrottleKey(op, key); err != nil {
		return authkit.ThrottleState{}, err
	}
	if window <= 0 {
		return authkit.ThrottleState{}, fmt.Errorf("redisstore: %s: %w: window %v must be positive", op, authkit.ErrInvalidRequest, window)
	}
	ctx, cancel := s.callCtx(ctx)
	defer cancel()
	us := micros(now)
	end := us + window.Microseconds()
	if w := window.Microseconds(); us > math.MaxInt64-w {
		end = math.MaxInt64
	}
	end = min(end, micros(maxTime))
	endTime := time.UnixMicro(end)
	var c *scriptCall
	err := s.exec(ctx, func(b *batch) {
		c = b.script(throttleAddScript, []string{s.k.throttle(key)}, us, end, pxat(endTime, s.cfg.margin))
	})
	if err != nil {
		return authkit.ThrottleState{}, s.fail(ctx, op, err)
	}
	l, err := replyList(c.cmd.Val())
	if err != nil || len(l) != 3 {
		return authkit.ThrottleState{}, s.fail(ctx, op, fmt.Errorf("%w: a throttle reply of %d values", errCorrupt, len(l)))
	}
	n, _ := l[0].(int64)
	last, err1 := replyMicros(l[1])
	exp, err2 := replyMicros(l[2])
	if n < 1 || err1 != nil || err2 != nil {
		return authkit.ThrottleState{}, s.fail(ctx, op, fmt.Errorf("%w: a throttle counter", errCorrupt))
	}
	return authkit.ThrottleState{Failures: n, Last: last, ExpiresAt: exp}, nil
}

// replyMicros decodes a time a script returned as a string of microseconds.
func replyMicros(v any) (time.Time, error) {
	str, ok := v.(string)
	if !ok {
		return time.Time{}, errCorrupt
	}
	us, err := strconv.ParseInt(str, 10, 64)
	if err != nil {
		return time.Time{}, errCorrupt
	}
	return time.UnixMicro(us).UTC(), nil
}

// ThrottleStates implements authkit.ThrottleStore: one HMGET per key, in
// one pipeline.
func (s *Store) ThrottleStates(ctx context.Context, now time.Time, keys ...string) ([]authkit.ThrottleState, error) {
	const op = "ThrottleStates"
	if err := ctx.Err(); err != nil {
		return nil, deadCtx(op, err)
	}
	if len(keys) == 0 || len(keys) > authkit.MaxThrottleKeys {
		return nil, fmt.Errorf("redisstore: %s: %w: %d keys (1 to %d)", op, authkit.ErrInvalidRequest, len(keys), authkit.MaxThrottleKeys)
	}
	for _, k := range keys {
		if err := checkThrottleKey(op, k); err != nil {
			return nil, err
		}
	}
	ctx, cancel := s.callCtx(ctx)
	defer cancel()
	cmds := make([]*redis.SliceCmd, len(keys))
	err := s.exec(ctx, func(b *batch) {
		for i, k := range keys {
			cmds[i] = b.pipe.HMGet(ctx, s.k.throttle(k), "n", "l", "e")
		}
	})
	if err != nil {
		return nil, s.fail(ctx, op, err)
	}
	us := micros(now)
	out := make([]authkit.ThrottleState, len(keys))
	for i, c := range cmds {
		v := c.Val()
		if len(v) != 3 || v[0] == nil {
			continue // no counter
		}
		n, err0 := strconv.ParseInt(fmt.Sprint(v[0]), 10, 64)
		last, err1 := replyMicros(v[1])
		exp, err2 := replyMicros(v[2])
		if err0 != nil || err1 != nil || err2 != nil || n < 1 {
			return nil, s.fail(ctx, op, fmt.Errorf("%w: a throttle counter", errCorrupt))
		}
		if exp.UnixMicro() <= us {
			continue // the window has ended
		}
		out[i] = authkit.ThrottleState{Failures: n, Last: last, ExpiresAt: exp}
	}
	return out, nil
}

// ClearThrottle implements authkit.ThrottleStore: one DEL.
func (s *Store) ClearThrottle(ctx context.Context, key string) error {
	const op = "ClearThrottle"
	if err := ctx.Err(); err != nil {
		return deadCtx(op, err)
	}
	if err := checkThrottleKey(op, key); err != nil {
		return err
	}
	ctx, cancel := s.callCtx(ctx)
	defer cancel()
	if err := s.rdb.Del(ctx, s.k.throttle(key)).Err(); err != nil {
		return s.fail(ctx, op, err)
	}
	return nil
}

// DeleteExpiredThrottles implements authkit.ThrottleStore. Redis removes
// an ended window by itself (its native expiry is the window's end plus
// the expiry margin), so it deletes nothing and returns 0.
func (s *Store) DeleteExpiredThrottles(ctx context.Context, now time.Time, limit int) (int, error) {
	const op = "DeleteExpiredThrottles"
	if err := ctx.Err(); err != nil {
		return 0, deadCtx(op, err)
	}
	if limit <= 0 {
		return 0, errLimit(op, limit)
	}
	return 0, nil
}
