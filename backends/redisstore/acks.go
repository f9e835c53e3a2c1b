package redisstore

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/authkit-go/authkit"
)

// Bounds of WithReplicaAcks.
const (
	maxReplicaAcks       = 16
	maxReplicaAckTimeout = 10 * time.Second
)

// WithReplicaAcks makes every write that revokes — RevokeToken,
// RevokeSessionTokens, SetCutoff, RevokeSession, RevokeSubjectSessions,
// RevokeAPIToken, and a client's SetClientSecret (the old secret's end) and
// DeleteClient — return only once at least n replicas of the primary
// that holds it have acknowledged it (Redis's WAIT), for at most timeout.
// If fewer have by then, the call fails with an error matching
// authkit.ErrStoreUnavailable: the revocation is in force on the primary,
// but a failover now could promote a replica without it, so the caller
// is told it may not have stuck, and can retry (a revocation written
// twice is one revocation).
//
// Redis replicates asynchronously: without it, a failover (Sentinel or
// Cluster) in the moment after a revocation can lose it, and the token it
// revoked verifies again. Set n to the number of replicas each primary
// has: then the replica a failover promotes has it. With fewer, a
// failover can promote one that had not acknowledged it (a manual
// SENTINEL FAILOVER, or an old primary taking writes that its other
// replicas acknowledge until Sentinel reconfigures it; CheckReplication
// warns of both). Each revoking call costs one more round trip, plus the
// replicas' acknowledgement; nothing else is slowed.
//
// Keep timeout below the issuer's authkit.WithStoreTimeout (5 seconds by
// default), which otherwise ends the call first, with the same class of
// error. n is from 1 to 16, timeout from 1ms to 10s. It needs a *redis.Client
// (standalone or Sentinel) or a *redis.ClusterClient: New refuses it with
// a *redis.Ring or a client type it does not know, whose connections it
// cannot address.
func WithReplicaAcks(n int, timeout time.Duration) Option {
	return func(c *config) error {
		if n < 1 || n > maxReplicaAcks || timeout < time.Millisecond || timeout > maxReplicaAckTimeout {
			return fmt.Errorf("redisstore: WithReplicaAcks(%d, %v): %w: n must be 1 to %d and the timeout 1ms to %v", n, timeout, authkit.ErrInvalidConfig, maxReplicaAcks, maxReplicaAckTimeout)
		}
		c.acks, c.ackTimeout = n, timeout
		return nil
	}
}

// checkAcks refuses WithReplicaAcks with a client whose primaries New
// cannot reach one by one.
func checkAcks(rdb redis.UniversalClient, c config) error {
	if c.acks == 0 {
		return nil
	}
	switch rdb.(type) {
	case *redis.Client, *redis.ClusterClient:
		return nil
	}
	return fmt.Errorf("redisstore: New: %w: WithReplicaAcks needs a *redis.Client or a *redis.ClusterClient, not a %T", authkit.ErrInvalidConfig, rdb)
}

// ackCheck names a revocation confirm must find on the primary it waits
// on: the entry key, and what it must hold (see ackCheckSrc).
type ackCheck struct {
	key  string
	kind string // "max", "cut", "rv", "secret", "gone", or "any" (wait only)
	want string // µs, for "max" and "cut"
}

// untilCheck is the check of a jti or sid revocation with until u (µs).
func untilCheck(key string, u int64) ackCheck { return ackCheck{key, "max", fmtMicros(u)} }

// cutoffCheck is the check of a cutoff at (µs).
func cutoffCheck(key string, at int64) ackCheck { return ackCheck{key, "cut", fmtMicros(at)} }

// revokedCheck is the check of a revoked session or API token.
func revokedCheck(key string) ackCheck { return ackCheck{key, "rv", ""} }

// secretCheck is the check of a client's new secret (its stored value).
func secretCheck(key, stored string) ackCheck { return ackCheck{key, "secret", stored} }

// goneCheck is the check of a deleted client.
func goneCheck(key string) ackCheck { return ackCheck{key, "gone", ""} }

// subjectSlotCheck waits on the primary of a subject's slot (subjKey, its
// sessions index), checking nothing there: the subject's API tokens share
// the slot, and a replica that has the marker has every earlier write of
// that primary. RevokeSubjectSessions adds it so that a retried
// issuer.RevokeSubject(WithAPITokens) also waits for the API tokens its
// failed attempt revoked, which its own listing of live tokens no longer
// names (on a cluster they live apart from the cutoff's slot).
func subjectSlotCheck(subjKey string) ackCheck { return ackCheck{subjKey, "any", ""} }

// ackCheckSrc reports (1 or 0) whether the server holds a revocation at
// least as strong as one a call wrote: KEYS[1] the entry; ARGV[1] "max"
// (a jti or sid entry whose until is at least ARGV[2]), "cut" (a cutoff
// entry whose cutoff is at least ARGV[2]) or "rv" (a session or API token
// whose "rv" is set, or no such key: nothing there can be used), "secret"
// (a client whose secret is ARGV[2], as stored), "gone" (no client there);
// "any" always passes (an entry about to expire by itself, only waited
// for). It is
// sent whole (EVAL) in confirm's pipeline, where EVALSHA's retry on
// NOSCRIPT cannot be made.
const ackCheckSrc = luaHelpers + `
if ARGV[1] == 'any' then return 1 end
if ARGV[1] == 'secret' then
  if redis.call('HGET', KEYS[1], 'sh') == ARGV[2] then return 1 end
  return 0
end
if ARGV[1] == 'gone' then
  if redis.call('HEXISTS', KEYS[1], 'cn') == 0 then return 1 end
  return 0
end
if ARGV[1] == 'rv' then
  if redis.call('EXISTS', KEYS[1]) == 0 then return 1 end
  if set(redis.call('HGET', KEYS[1], 'rv')) then return 1 end
  return 0
end
local v = redis.call('GET', KEYS[1])
if v == false then return 0 end
if ARGV[1] == 'max' then
  if us(v) >= us(ARGV[2]) then return 1 end
  return 0
end
local u, c = string.match(v, '^(-?%d+):(-?%d+)$')
if c ~= nil and us(c) >= us(ARGV[2]) then return 1 end
return 0
`

// confirm waits, after a revoking write has succeeded, until
// WithReplicaAcks's count of replicas of each primary holding one of the
// checks' keys has the write. WAIT counts the replicas that have the
// stream up to the last write of its own connection, so on each primary
// confirm writes a short-lived marker in the keys' slot and waits on that
// connection: the replication stream is in order, so a replica that has
// the marker has what the primary held before it. First, in the same
// pipeline, it checks that the primary holds each revocation: a failover
// between the write and confirm (the write answered by the old primary,
// lost before it replicated) would otherwise have the new primary's
// replicas vouch for a write they will never see.
func (s *Store) confirm(ctx context.Context, op string, checks ...ackCheck) error {
	if s.cfg.acks == 0 || len(checks) == 0 {
		return nil
	}
	type target struct {
		node   *redis.Client
		checks []ackCheck
	}
	var targets []*target
	for _, c := range checks {
		node, err := s.primaryFor(ctx, c.key)
		if err != nil {
			return s.ackFail(ctx, op, err)
		}
		var t *target
		for _, x := range targets {
			if x.node == node {
				t = x
			}
		}
		if t == nil {
			t = &target{node: node}
			targets = append(targets, t)
		}
		t.checks = append(t.checks, c)
	}
	for _, t := range targets {
		pipe := t.node.Pipeline()
		held := make([]*redis.Cmd, len(t.checks))
		for i, c := range t.checks {
			held[i] = pipe.Eval(ctx, ackCheckSrc, []string{c.key}, c.kind, c.want)
		}
		pipe.Set(ctx, s.k.p+"ack:"+slotTag(t.checks[0].key), newNonce(), time.Minute)
		wait := pipe.Do(ctx, "WAIT", s.cfg.acks, s.cfg.ackTimeout.Milliseconds())
		if _, err := pipe.Exec(ctx); err != nil {
			return s.ackFail(ctx, op, err)
		}
		for _, h := range held {
			if n, err := h.Int64(); err != nil || n != 1 {
				return fmt.Errorf("redisstore: %s: %w: written, but the primary now holding it does not have it (a failover since the write?); write it again", op, authkit.ErrStoreUnavailable)
			}
		}
		got, err := wait.Int64()
		if err != nil {
			return s.ackFail(ctx, op, err)
		}
		if got < int64(s.cfg.acks) {
			return fmt.Errorf("redisstore: %s: %w: written, but acknowledged by %d of the %d replicas WithReplicaAcks asks for within %v; a failover now could lose it", op, authkit.ErrStoreUnavailable, got, s.cfg.acks, s.cfg.ackTimeout)
		}
	}
	return nil
}

// ackFail is the error of a confirm that could not ask: the write is on
// the primary, its replication unknown.
func (s *Store) ackFail(ctx context.Context, op string, err error) error {
	return fmt.Errorf("%w (written, but its replication could not be confirmed)", s.fail(ctx, op, err))
}

// primaryFor returns the client of the primary that holds key.
func (s *Store) primaryFor(ctx context.Context, key string) (*redis.Client, error) {
	switch c := s.rdb.(type) {
	case *redis.Client:
		return c, nil
	case *redis.ClusterClient:
		return c.MasterForKey(ctx, key)
	}
	return nil, fmt.Errorf("redisstore: WithReplicaAcks with a %T", s.rdb) // checkAcks refused it
}

// slotTag returns key's hash tag with its braces ("{r3}"): every key the
// Store writes has one after its prefix, which has no braces.
func slotTag(key string) string {
	if i := strings.IndexByte(key, '{'); i >= 0 {
		if j := strings.IndexByte(key[i+1:], '}'); j > 0 {
			return key[i : i+j+2]
		}
	}
	return "{" + key + "}"
}
