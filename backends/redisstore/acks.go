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
// RevokeSessionTokens, SetCutoff, RevokeSession, RevokeSubjectSessions and
// RevokeAPIToken — return only once at least n replicas of the primary
// that holds it have acknowledged it (Redis's WAIT), for at most timeout.
// If fewer have by then, the call fails with an error matching
// authkit.ErrStoreUnavailable: the revocation is in force on the primary,
// but a failover now could promote a replica without it, so the caller
// is told it may not have stuck, and can retry (a revocation written
// twice is one revocation).
//
// Redis replicates asynchronously: without it, a failover (Sentinel or
// Cluster) in the moment after a revocation can lose it, and the token it
// revoked verifies again. With n of the primary's replicas holding it, the
// replica a failover promotes (the most up to date, for Sentinel and
// Cluster alike) has it. Each revoking call then costs one more round
// trip, plus the replicas' acknowledgement; nothing else is slowed.
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

// confirm waits, after a revoking write of keys has succeeded, until
// WithReplicaAcks's count of replicas of each primary holding one of them
// has the write. WAIT counts the replicas that have the stream up to the
// last write of its own connection, so on each primary confirm writes a
// short-lived marker in the keys' slot and waits on that connection: the
// replication stream is in order, so a replica that has the marker has
// the revocation written before it.
func (s *Store) confirm(ctx context.Context, op string, keys ...string) error {
	if s.cfg.acks == 0 || len(keys) == 0 {
		return nil
	}
	type target struct {
		node *redis.Client
		key  string
	}
	var targets []target
	for _, key := range keys {
		node, err := s.primaryFor(ctx, key)
		if err != nil {
			return s.ackFail(ctx, op, err)
		}
		seen := false
		for _, t := range targets {
			seen = seen || t.node == node
		}
		if !seen {
			targets = append(targets, target{node, key})
		}
	}
	for _, t := range targets {
		pipe := t.node.Pipeline()
		pipe.Set(ctx, s.k.p+"ack:"+slotTag(t.key), newNonce(), time.Minute)
		wait := pipe.Do(ctx, "WAIT", s.cfg.acks, s.cfg.ackTimeout.Milliseconds())
		if _, err := pipe.Exec(ctx); err != nil {
			return s.ackFail(ctx, op, err)
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
