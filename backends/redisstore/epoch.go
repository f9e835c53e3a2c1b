package redisstore

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/authkit-go/authkit"
)

// Data-loss detection (authkit.ErrDataLoss).
//
// Each of the 16 revocation buckets has an epoch marker, P epoch:{r<b>}: a
// string holding the start of the bucket's epoch in microseconds, in the
// bucket's slot, without a TTL. A Redis that restarts empty, or a cluster
// shard that does, loses exactly the markers of the buckets it held,
// together with their revocations. Every token issued at or before the
// start of its subject's bucket's epoch is dead.
//
//   - New writes every missing marker (SET NX, starting the bucket's log
//     over as below if it survived) at about the time it began:
//     a fresh store refuses nothing issued after New, and a Redis that lost
//     data before the process started refuses what was issued before.
//   - IsRevoked reads the subject's bucket marker in the MGET it makes
//     anyway. A missing marker means the bucket lost its data: it writes a
//     new one at the call's now, SET NX then GET in one script, so that
//     every handle that notices agrees on one epoch (the first writer's),
//     and judges the token against it.
//   - RevocationSnapshot reads (and, if missing, writes) every bucket's
//     marker in its per-bucket script, and hands the latest as one
//     RevokedBeforeEpoch entry.
//
// Writes (RevokeToken, RevokeSessionTokens, SetCutoff) never write a
// marker: a write that lands first after a loss leaves the marker missing,
// so the next IsRevoked still notices. Nothing deletes a marker: the GC
// works from its indexes, which never hold one, and the feed trims only
// its streams.

// epochScript starts a bucket's epoch if it has none and returns the
// epoch's start: the marker's value after a SET NX, so that concurrent
// callers all return the first one written. When it starts one while the
// bucket's log survived (the marker alone was lost: evicted, deleted by
// hand), it starts the log over too, as a loss of the log would have: a
// follower from before then gets ErrFeedPositionLost and takes a new
// snapshot, which carries the new epoch, instead of following on without
// it. KEYS: the marker, the bucket's log meta and stream. ARGV: the start
// (µs) to write if the marker is missing, a log epoch candidate.
var epochScript = redis.NewScript(epochHelpers + `
return startEpoch(KEYS[1], KEYS[2], KEYS[3], ARGV[1], ARGV[2])
`)

// epochAllScript is epochScript over every bucket at once, for a server
// that holds every slot: KEYS are the 16 markers, then the 16 log metas,
// then the 16 streams; ARGV the start, a log epoch candidate and the
// (1-based) bucket whose epoch it returns.
var epochAllScript = redis.NewScript(epochHelpers + `
local n = #KEYS / 3
local out
for i = 1, n do
  local v = startEpoch(KEYS[i], KEYS[n + i], KEYS[2 * n + i], ARGV[1], ARGV[2])
  if i == tonumber(ARGV[3]) then out = v end
end
return out
`)

// epochHelpers is startEpoch(marker, meta, stream, start, log epoch
// candidate), shared by the scripts above and the snapshot's.
const epochHelpers = `
local function startEpoch(marker, meta, stream, start, cand)
  if redis.call('SET', marker, start, 'NX') and redis.call('HEXISTS', meta, 'e') == 1 then
    redis.call('DEL', stream)
    redis.call('HSET', meta, 'e', cand, 't', '0-0')
  end
  return redis.call('GET', marker)
end
`

// epochSetupTimeout bounds New's writing of the markers when no
// WithCallTimeout is set.
const epochSetupTimeout = time.Second

// setupSince is the epoch start New writes for a store set up at t: the
// last microsecond before the millisecond t falls in. An access token's
// iat keeps milliseconds, rounded down, so a token issued after New began
// has an iat at or after that millisecond and is never refused; a token
// issued before that millisecond is. A loss that New's marker vouches
// for happened before New began, so only a token issued in the same
// millisecond as New, before it, and revoked and lost within that
// millisecond, could slip through: no restart is that fast.
func setupSince(t time.Time) int64 { return clampTime(t).UnixMilli()*1000 - 1 }

// lossSince is the epoch start a call that finds a marker missing writes:
// its now, in microseconds rounded down, so that the token it checks
// (issued at or before now) is at or before it and the epoch never starts
// after the now of the call that noticed.
func lossSince(now time.Time) int64 { return micros(now) }

// setupEpochs writes every missing marker (epochScript: SET NX, and the
// bucket's log started over if it survived), at setupSince of the current
// time, in one pipeline (a round trip per node), waiting at
// most epochSetupTimeout (or the call timeout, if shorter). Its failure
// is ignored, and safe: a marker still missing is written by the first
// IsRevoked or RevocationSnapshot that reads it, at that call's now, which
// is later and so refuses more, never less. A marker already there — a
// store set up before, by this process or another — is left as it is.
//
// For a *redis.Client the pipeline starts with INFO cluster and ROLE: a
// server that answers cluster_enabled:1 is one node of a Redis Cluster,
// and one whose ROLE is slave is a replica (a Sentinel client with
// ReplicaOnly, a replica's address); setupEpochs then returns an error
// matching authkit.ErrInvalidConfig, as it does when any client's marker
// write is refused with READONLY. A server that does not answer, or
// refuses INFO or ROLE, is not refused.
func (s *Store) setupEpochs(ctx context.Context, op string) error {
	d := epochSetupTimeout
	if s.cfg.callTimeout > 0 {
		d = min(d, s.cfg.callTimeout)
	}
	ctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	since := fmtMicros(setupSince(time.Now()))
	var (
		info, repl, role, hello *redis.Cmd
		sets                    [feedShards]*redis.Cmd
	)
	_, _ = s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		if s.oneCall {
			info = p.Do(ctx, "INFO", "cluster")
			// The role twice: INFO's, which the documented ACL allows
			// (+info), and ROLE's (found by review: the ACL refused ROLE,
			// the refusal read as "not a replica", and a writable replica
			// took revocations the primary never saw).
			repl = p.Do(ctx, "INFO", "replication")
			role = p.Do(ctx, "ROLE")
			// And HELLO's (without a protocol version it changes nothing),
			// which every user that may connect may run (+@connection):
			// found by review, a read-only user (+@read +@connection)
			// could run neither INFO nor ROLE, and a verifier on a
			// replica answered "not revoked" for tokens its primary had
			// revoked.
			hello = p.Do(ctx, "HELLO")
		}
		// Each marker through epochScript (EVAL: a pipeline cannot retry
		// an EVALSHA that meets an empty script cache), not a bare SET
		// NX: a marker missing while its bucket's log survived (evicted,
		// or deleted by hand as after a restore) starts the log over too,
		// so that a follower of that log takes a new snapshot with the new
		// epoch instead of following on, vouching for a copy that does
		// not know it (found by review: after New wrote the markers, a
		// running mirror accepted tokens IsRevoked refused).
		for b := range feedShards {
			sets[b] = epochScript.Eval(ctx, p, []string{s.markers[b], s.k.feedMeta(b), s.k.feed(b)}, since, newEpoch())
		}
		return nil
	})
	if info != nil && info.Err() == nil {
		if v, ok := info.Val().(string); ok && clusterEnabled(v) {
			return fmt.Errorf("redisstore: %s: %w: the *redis.Client is connected to one node of a Redis Cluster (INFO says cluster_enabled:1), which holds only some of the hash slots; use a *redis.ClusterClient (redis+cluster:// with OpenURL)", op, authkit.ErrInvalidConfig)
		}
	}
	replica := role != nil && role.Err() == nil && isReplicaRole(role.Val())
	if repl != nil && repl.Err() == nil {
		if v, ok := repl.Val().(string); ok && infoSays(v, "role", "slave") {
			replica = true
		}
	}
	if hello != nil && hello.Err() == nil && isReplicaRole([]any{helloRole(hello.Val())}) {
		replica = true
	}
	for _, c := range sets {
		replica = replica || (c != nil && isReadOnlyErr(c.Err()))
	}
	if replica {
		return fmt.Errorf("redisstore: %s: %w: the client is connected to a replica (ROLE or HELLO says so, or a write was refused with READONLY), which can answer that a token is not revoked before the revocation has reached it; connect it to the primary (for Sentinel, without ReplicaOnly, or UniversalOptions.ReadOnly)", op, authkit.ErrInvalidConfig)
	}
	// A server that answered and refused the marker write for want of a
	// permission or a command: the store could not write anything else
	// either (found by review: with an ACL whose key patterns missed the
	// prefix, or a renamed EVAL, New succeeded, /healthz said ok, and every
	// login was a 503). A server that did not answer is let be, as above.
	for _, c := range sets {
		if c == nil {
			continue
		}
		if why := setupRefusal(c.Err()); why != "" {
			return fmt.Errorf("redisstore: %s: %w: Redis refused the store's first write (%s, %v): the store's user needs the documented ACL, with key patterns that cover the prefix %s (docs/backends/redis.md)", op, authkit.ErrInvalidConfig, why, clientErr(c.Err()), printable(s.k.p+"*"))
		}
	}
	return nil
}

// setupRefusal says why err refuses the store's use of Redis for good —
// an ACL that refuses a key or a command (NOPERM, or a script's "no
// permissions"), a command renamed away ("unknown command") — or is "" for
// anything else, such as a server that is down, loading or out of memory.
func setupRefusal(err error) string {
	var re redis.Error
	if err == nil || errors.Is(err, redis.Nil) || !errors.As(err, &re) {
		return ""
	}
	msg := re.Error()
	switch {
	case strings.HasPrefix(msg, "NOPERM"), strings.Contains(msg, "no permissions"), strings.Contains(msg, "user executing the script can't run"):
		return "the ACL refused a key or a command"
	case strings.HasPrefix(msg, "ERR unknown command"), strings.Contains(msg, "Unknown Redis command"):
		return "a command the store needs is unknown to the server (renamed?)"
	}
	return ""
}

// helloRole returns the "role" of a HELLO reply (a map in RESP3, a flat
// list of names and values in RESP2), or "".
func helloRole(v any) string {
	switch r := v.(type) {
	case map[any]any:
		role, _ := r["role"].(string)
		return role
	case map[string]any:
		role, _ := r["role"].(string)
		return role
	case []any:
		for i := 0; i+1 < len(r); i += 2 {
			if name, _ := r[i].(string); name == "role" {
				role, _ := r[i+1].(string)
				return role
			}
		}
	}
	return ""
}

// isReplicaRole reports whether a ROLE reply names a replica: its first
// element is "slave" (Redis) or "replica".
func isReplicaRole(v any) bool {
	r, ok := v.([]any)
	if !ok || len(r) == 0 {
		return false
	}
	name, _ := r[0].(string)
	return name == "slave" || name == "replica"
}

// isReadOnlyErr reports a write refused by a read-only replica.
func isReadOnlyErr(err error) bool {
	return err != nil && strings.HasPrefix(err.Error(), "READONLY ")
}

// infoSays reports whether an INFO reply has the line field:value.
func infoSays(info, field, value string) bool {
	for line := range strings.Lines(info) {
		if strings.TrimSpace(line) == field+":"+value {
			return true
		}
	}
	return false
}

// clusterEnabled reports whether an INFO reply says cluster_enabled:1.
func clusterEnabled(info string) bool { return infoSays(info, "cluster_enabled", "1") }

// parseSince decodes a marker's value: a non-negative count of
// microseconds. Anything else is corrupt, and the caller fails closed.
func parseSince(v string) (int64, error) {
	us, err := strconv.ParseInt(v, 10, 64)
	if err != nil || us < 0 {
		return 0, errCorrupt
	}
	return us, nil
}

// startEpoch starts a new epoch at since in every bucket whose marker is
// missing (SET NX: a marker there stays), after a call found bucket b's
// missing, and returns the start of bucket b's epoch, which every handle
// then agrees on: the first one written. Every bucket, not only b: a loss
// takes every marker its server held, and the other buckets' subjects are
// then told the same epoch, not a later one each when first asked. On a
// server that holds every slot it is one script, so concurrent callers
// agree on one start for all the buckets; on a cluster it is one script
// per bucket in one pipeline (a round trip per node, concurrently), and
// two calls racing may each win some buckets, each bucket still agreed
// on. One round trip, or two if Redis lost its script cache too, as a
// restarted one has.
func (s *Store) startEpoch(ctx context.Context, b int, since int64) (int64, error) {
	arg := fmtMicros(since)
	var want *scriptCall
	err := s.exec(ctx, func(bt *batch) {
		if s.oneCall {
			keys := make([]string, 3*feedShards)
			for i := range feedShards {
				keys[i], keys[feedShards+i], keys[2*feedShards+i] = s.markers[i], s.k.feedMeta(i), s.k.feed(i)
			}
			want = bt.script(epochAllScript, keys, arg, newEpoch(), b+1)
			return
		}
		for i := range feedShards {
			c := bt.script(epochScript, []string{s.markers[i], s.k.feedMeta(i), s.k.feed(i)}, arg, newEpoch())
			if i == b {
				want = c
			}
		}
	})
	if err != nil {
		return 0, err
	}
	return parseSince(str(want.cmd.Val()))
}

// lossErr is the error IsRevoked returns with true for a token issued at
// or before the epoch that began at since (µs).
func lossErr(since int64) error {
	return &authkit.DataLossError{Since: time.UnixMicro(since).UTC()}
}

// beforeEpoch reports whether a token issued at iat was issued at or
// before the epoch that began at since (µs).
func beforeEpoch(iat time.Time, since int64) bool {
	return !iat.After(time.UnixMicro(since))
}
