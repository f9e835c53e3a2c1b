package redisstore

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/redis/go-redis/v9"
)

// ErrUnconfirmedReplication is matched by CheckReplication's error when
// a revocation may be lost in a failover (a primary has replicas and the
// Store does not wait for them: WithReplicaAcks is off), or when every
// revocation will fail (fewer replicas are connected than
// WithReplicaAcks waits for).
var ErrUnconfirmedReplication = errors.New("redisstore: revocations not confirmed by replicas")

// readReplicas reads a primary's connected replica count into n. A
// refused INFO leaves it unknown; any other failure is returned.
func readReplicas(ctx context.Context, c redis.Cmdable, n *NodePersistence) error {
	info, err := c.Info(ctx, "replication").Result()
	if refused(err) {
		return nil
	}
	if err != nil {
		return err
	}
	if v, ok := infoField(info, "connected_slaves"); ok {
		if k, err := strconv.Atoi(v); err == nil && k >= 0 {
			n.Replicas, n.ReplicasKnown = k, true
		}
	}
	return nil
}

// CheckReplication returns nil when no revocation the Store writes can
// be lost by a failover or refused for want of replicas: without
// WithReplicaAcks, no primary has a replica; with WithReplicaAcks(n, …),
// every primary has exactly n connected (fewer refuse every revocation;
// more leave replicas a failover may promote without them). Otherwise it returns an error
// matching ErrUnconfirmedReplication that names each primary and what
// follows from its state:
//
//   - replicas and no acknowledgement: Redis replicates asynchronously,
//     so a primary that fails over before a revocation has reached the
//     promoted replica loses it, and the revoked token verifies again
//     (the Store's data-loss markers do not catch this; see
//     docs/backends/redis.md, "Replication and failover");
//   - fewer replicas connected than WithReplicaAcks waits for: every
//     revoking call fails with authkit.ErrStoreUnavailable (closed, but
//     no one can log out) until enough connect;
//   - more replicas connected than WithReplicaAcks waits for: a failover
//     may promote a replica that had not acknowledged the latest
//     revocations (Sentinel promotes the most up-to-date one it sees,
//     but a manual SENTINEL FAILOVER, or an old primary that keeps
//     taking writes its other replicas acknowledge until Sentinel
//     reconfigures it, loses them: found by review);
//   - a primary that does not say (INFO refused): cannot tell.
//
// A node that cannot be asked yields an error matching
// authkit.ErrStoreUnavailable instead. Like CheckPersistence it names
// servers by address, for the operator; `authkit serve` calls both at
// start-up and logs a warning for this one. It reads the state at the
// time of the call: replicas that join later are not seen.
func (s *Store) CheckReplication(ctx context.Context) error {
	const op = "CheckReplication"
	if err := ctx.Err(); err != nil {
		return deadCtx(op, err)
	}
	ctx, cancel := s.callCtx(ctx)
	defer cancel()
	nodes, err := s.persistence(ctx, op)
	if err != nil {
		return err
	}
	_, ring := s.rdb.(*redis.Ring)
	var why []string
	for _, n := range nodes {
		if n.Replica {
			continue
		}
		name := printable(n.Addr)
		switch {
		case !n.ReplicasKnown:
			why = append(why, name+" does not say how many replicas follow it (INFO replication refused); cannot tell")
		case s.cfg.acks == 0 && n.Replicas > 0 && ring:
			why = append(why, fmt.Sprintf("%s has %d replica(s) and a Redis Ring cannot wait for them: a failover may lose the latest revocations, and the revoked tokens verify again", name, n.Replicas))
		case s.cfg.acks == 0 && n.Replicas > 0:
			why = append(why, fmt.Sprintf("%s has %d replica(s) and revocations wait for none: a failover may lose the latest ones, and the revoked tokens verify again (WithReplicaAcks, or replica_acks=%d in the URL: every replica)", name, n.Replicas, n.Replicas))
		case s.cfg.acks > n.Replicas:
			why = append(why, fmt.Sprintf("%s has %d connected replica(s), fewer than the %d every revocation waits for: revoking calls fail until enough connect", name, n.Replicas, s.cfg.acks))
		case s.cfg.acks > 0 && s.cfg.acks < n.Replicas && !ring:
			why = append(why, fmt.Sprintf("%s has %d replica(s) and revocations wait for %d: a failover may promote one that had not acknowledged them (a manual failover, or a primary that keeps taking writes after another replica was promoted, which its other replicas acknowledge), and the revoked tokens verify again (WithReplicaAcks(%d, …), or replica_acks=%d in the URL: every replica)", name, n.Replicas, s.cfg.acks, n.Replicas, n.Replicas))
		}
	}
	if len(why) > 0 {
		return fmt.Errorf("redisstore: %s: %w: %s", op, ErrUnconfirmedReplication, strings.Join(why, "; "))
	}
	return nil
}
