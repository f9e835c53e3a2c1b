package redisstore_test

import (
	"context"
	"crypto/sha256"
	"errors"
	"net"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/authkit-go/authkit"
	"github.com/authkit-go/authkit/backends/redisstore"
	"github.com/authkit-go/authkit/internal/testservers"
)

// TestReplicaAcks runs WithReplicaAcks against a private primary whose
// replica follows it through a proxy: while the replica keeps up, every
// revoking call returns with the replica holding the revocation; once the
// proxy stalls the replication, each fails with ErrStoreUnavailable
// within its timeout, the revocation still in force on the primary.
func TestReplicaAcks(t *testing.T) {
	primary := testservers.PrivateRedis(t, "--save", "", "--appendonly", "no", "--repl-diskless-sync-delay", "0")
	px := testservers.NewProxy(t, primary)
	host, port, err := net.SplitHostPort(px.Addr())
	if err != nil {
		t.Fatal(err)
	}
	replica := testservers.PrivateRedis(t, "--save", "", "--appendonly", "no", "--replicaof", host, port)
	rdb := standalone(t, primary)
	rep := standalone(t, replica)
	waitReplicaUp(t, rdb, rep)

	// Up: a timeout no loaded machine reaches; stalled: a short one.
	up := newStore(t, rdb, "acks:", redisstore.WithReplicaAcks(1, 10*time.Second))
	// The stalled phase's store comes from OpenURL's parameters.
	const timeout = 300 * time.Millisecond
	s, err := redisstore.OpenURL(t.Context(), "redis://"+primary+"?key_prefix=acks:&replica_acks=1&replica_ack_timeout=300ms")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	ctx := t.Context()
	now := time.Now()
	until := now.Add(time.Hour)

	// CheckReplication: one replica, so waiting for one is right, waiting
	// for none loses revocations in a failover, and waiting for two
	// refuses every revocation.
	if err := up.CheckReplication(ctx); err != nil {
		t.Errorf("CheckReplication with WithReplicaAcks(1) and one replica: %v, want nil", err)
	}
	checkUnconfirmed(t, "no acks", newStore(t, rdb, "acks:"), "1 replica(s) and revocations wait for none")
	checkUnconfirmed(t, "WithReplicaAcks(2)", newStore(t, rdb, "acks:", redisstore.WithReplicaAcks(2, time.Second)), "1 connected replica(s), fewer than the 2")
	if nodes, err := up.Persistence(ctx); err != nil || len(nodes) != 1 || !nodes[0].ReplicasKnown || nodes[0].Replicas != 1 {
		t.Errorf("Persistence of the primary = %+v, %v; want one node with Replicas 1 known", nodes, err)
	}

	// Up: the replica has each revocation by the time the call returns.
	calls := []struct {
		name   string
		revoke func() error
	}{
		{"RevokeToken", func() error { return up.RevokeToken(ctx, "alice", "jti-1", until) }},
		{"RevokeSessionTokens", func() error { return up.RevokeSessionTokens(ctx, "alice", "sid-1", until) }},
		{"SetCutoff", func() error { return up.SetCutoff(ctx, "bob", now, until) }},
	}
	for _, c := range calls {
		if err := c.revoke(); err != nil {
			t.Fatalf("%s with the replica up: %v", c.name, err)
		}
	}
	keys, err := rep.Keys(ctx, "acks:rev:*").Result()
	if err != nil {
		t.Fatal(err)
	}
	if len(keys) != 3 {
		t.Fatalf("the replica holds %d revocation entries right after the calls returned (%v), want 3", len(keys), keys)
	}

	// The sessions and the API token the stalled calls below revoke.
	for _, id := range []string{"sess-1", "sess-2"} {
		sess := authkit.Session{ID: id, Subject: "erin", CreatedAt: now, LastUsedAt: now, ExpiresAt: until, IdleExpiresAt: until}
		first := authkit.RefreshRecord{Hash: sha256.Sum256([]byte("rt-" + id)), SessionID: id, Subject: "erin", IssuedAt: now, ExpiresAt: until}
		if err := up.CreateSession(ctx, sess, first); err != nil {
			t.Fatal(err)
		}
	}
	if err := up.CreateAPIToken(ctx, authkit.APIToken{ID: "tok-1", Hash: sha256.Sum256([]byte("api-1")), Subject: "erin", Name: "ci", CreatedAt: now}, 10, now); err != nil {
		t.Fatal(err)
	}
	if err := up.CreateAPIToken(ctx, authkit.APIToken{ID: "tok-g", Hash: sha256.Sum256([]byte("api-g")), Subject: "gina", Name: "ci", CreatedAt: now}, 10, now); err != nil {
		t.Fatal(err)
	}

	// Stalled: no acknowledgement comes; each call says so in time.
	px.Stall()
	for _, c := range []struct {
		name   string
		revoke func() error
		q      authkit.RevocationQuery
	}{
		{"RevokeToken", func() error { return s.RevokeToken(ctx, "carol", "jti-2", until) }, authkit.RevocationQuery{Subject: "carol", TokenID: "jti-2", IssuedAt: now}},
		{"SetCutoff", func() error { return s.SetCutoff(ctx, "dave", now, until) }, authkit.RevocationQuery{Subject: "dave", TokenID: "x", IssuedAt: now}},
	} {
		revokeStalled(t, c.name, c.revoke, timeout)
		dead, err := s.IsRevoked(ctx, c.q, time.Now())
		if err != nil || !dead {
			t.Errorf("IsRevoked after a %s whose replication was not confirmed = (%v, %v), want (true, nil): it is in force on the primary", c.name, dead, err)
		}
	}
	revokeStalled(t, "RevokeSession", func() error { return s.RevokeSession(ctx, "sess-1", time.Now()) }, timeout)
	revokeStalled(t, "RevokeSubjectSessions", func() error { _, err := s.RevokeSubjectSessions(ctx, "erin", time.Now()); return err }, timeout)
	revokeStalled(t, "RevokeAPIToken", func() error { return s.RevokeAPIToken(ctx, "erin", "tok-1", time.Now()) }, timeout)
	// The caller's retries, everything already revoked on the primary:
	// each waits for the replica again, and fails again.
	revokeStalled(t, "RevokeSession again", func() error { return s.RevokeSession(ctx, "sess-2", time.Now()) }, timeout)
	revokeStalled(t, "RevokeSubjectSessions again", func() error { _, err := s.RevokeSubjectSessions(ctx, "erin", time.Now()); return err }, timeout)
	revokeStalled(t, "RevokeAPIToken again", func() error { return s.RevokeAPIToken(ctx, "erin", "tok-1", time.Now()) }, timeout)
	// A subject with an API token and no session: a retried
	// issuer.RevokeSubject(WithAPITokens) lists no live token to revoke
	// again, and its RevokeSubjectSessions must wait on the subject's slot,
	// where the token whose revocation was not confirmed lives (found by
	// review: it returned at once, and on a cluster nothing else waited
	// there).
	revokeStalled(t, "RevokeAPIToken of a subject without sessions", func() error { return s.RevokeAPIToken(ctx, "gina", "tok-g", time.Now()) }, timeout)
	revokeStalled(t, "RevokeSubjectSessions of a subject without sessions", func() error { _, err := s.RevokeSubjectSessions(ctx, "gina", time.Now()); return err }, timeout)
	for _, id := range []string{"sess-1", "sess-2"} {
		if got, err := s.Session(ctx, id); err != nil || got.RevokedAt.IsZero() {
			t.Errorf("session %s after its unconfirmed revocation: revoked at %v, %v; want revoked on the primary", id, got.RevokedAt, err)
		}
	}
	if got, err := s.LookupAPIToken(ctx, sha256.Sum256([]byte("api-1"))); err != nil || got.RevokedAt.IsZero() {
		t.Errorf("the API token after its unconfirmed revocation: revoked at %v, %v; want revoked on the primary", got.RevokedAt, err)
	}
}

// With more replicas than WithReplicaAcks waits for, CheckReplication
// warns: a failover may promote one that had not acknowledged the latest
// revocations (found by review: with two replicas and replica_acks=1, a
// SENTINEL FAILOVER lost half the revocations confirmed during it).
// Waiting for every replica is right.
func TestCheckReplicationFewerAcksThanReplicas(t *testing.T) {
	primary := testservers.PrivateRedis(t, "--save", "", "--appendonly", "no", "--repl-diskless-sync-delay", "0")
	host, port, err := net.SplitHostPort(primary)
	if err != nil {
		t.Fatal(err)
	}
	for range 2 {
		testservers.PrivateRedis(t, "--save", "", "--appendonly", "no", "--replicaof", host, port)
	}
	rdb := standalone(t, primary)
	deadline := time.Now().Add(10 * time.Second)
	for {
		info, err := rdb.Info(t.Context(), "replication").Result()
		if err == nil && strings.Contains(info, "connected_slaves:2") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the replicas did not connect: %v\n%s", err, info)
		}
		time.Sleep(20 * time.Millisecond)
	}
	checkUnconfirmed(t, "WithReplicaAcks(1), two replicas", newStore(t, rdb, "acks2:", redisstore.WithReplicaAcks(1, time.Second)),
		"2 replica(s) and revocations wait for 1")
	checkUnconfirmed(t, "no acks, two replicas", newStore(t, rdb, "acks2:"), "replica_acks=2")
	if err := newStore(t, rdb, "acks2:", redisstore.WithReplicaAcks(2, time.Second)).CheckReplication(t.Context()); err != nil {
		t.Errorf("CheckReplication with WithReplicaAcks(2) and two replicas: %v, want nil", err)
	}
}

// checkUnconfirmed checks that s.CheckReplication fails with
// ErrUnconfirmedReplication saying want.
func checkUnconfirmed(t *testing.T, name string, s *redisstore.Store, want string) {
	t.Helper()
	err := s.CheckReplication(t.Context())
	if !errors.Is(err, redisstore.ErrUnconfirmedReplication) || !strings.Contains(err.Error(), want) {
		t.Errorf("CheckReplication (%s) = %v, want ErrUnconfirmedReplication saying %q", name, err, want)
	}
}

// revokeStalled checks that revoke, a revoking call whose replication is
// stalled, fails with ErrStoreUnavailable once the WAIT timeout has
// passed.
func revokeStalled(t *testing.T, name string, revoke func() error, timeout time.Duration) {
	t.Helper()
	start := time.Now()
	err := revoke()
	if !errors.Is(err, authkit.ErrStoreUnavailable) || !strings.Contains(err.Error(), "acknowledged by 0 of the 1 replicas") {
		t.Errorf("%s with the replication stalled: %v, want ErrStoreUnavailable saying 0 of 1 replicas acknowledged", name, err)
	}
	if took := time.Since(start); took < timeout {
		t.Errorf("%s returned after %v, before the %v WAIT timeout", name, took, timeout)
	}
}

// waitReplicaUp waits until the primary counts rep as an online replica
// and rep its link to the primary up (its initial sync loaded).
func waitReplicaUp(t *testing.T, primary, rep *redis.Client) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		info, err := primary.Info(t.Context(), "replication").Result()
		var rinfo string
		if err == nil {
			rinfo, err = rep.Info(t.Context(), "replication").Result()
		}
		if err == nil && strings.Contains(info, "connected_slaves:1") && strings.Contains(info, "state=online") &&
			strings.Contains(rinfo, "master_link_status:up") {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the replica did not come online: %v\n%s", err, info)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// WithReplicaAcks on a cluster runs WAIT on the primary of each key's
// slot: the test cluster has no replicas, so a revocation is written and
// reported unconfirmed. On a Ring, and with bad arguments, New refuses it.
func TestReplicaAcksConfig(t *testing.T) {
	addrs := testservers.RedisCluster(t)
	admin := cluster(t, addrs)
	s := newStore(t, cluster(t, addrs), testservers.RedisPrefix(t, admin), redisstore.WithReplicaAcks(1, 50*time.Millisecond))
	err := s.RevokeToken(t.Context(), "alice", "jti-1", time.Now().Add(time.Hour))
	if !errors.Is(err, authkit.ErrStoreUnavailable) || !strings.Contains(err.Error(), "acknowledged by 0 of the 1") {
		t.Errorf("RevokeToken on a cluster without replicas under WithReplicaAcks(1): %v, want ErrStoreUnavailable saying 0 of 1", err)
	}
	if dead, err := s.IsRevoked(t.Context(), authkit.RevocationQuery{Subject: "alice", TokenID: "jti-1", IssuedAt: time.Now()}, time.Now()); err != nil || !dead {
		t.Errorf("IsRevoked after it = (%v, %v), want (true, nil)", dead, err)
	}
	// The cluster's three primaries have no replicas: waiting for one is
	// reported for each, and waiting for none is right.
	err = s.CheckReplication(t.Context())
	if !errors.Is(err, redisstore.ErrUnconfirmedReplication) || strings.Count(err.Error(), "0 connected replica(s), fewer than the 1") != len(addrs) {
		t.Errorf("CheckReplication on the cluster under WithReplicaAcks(1) = %v, want ErrUnconfirmedReplication naming each of the %d primaries", err, len(addrs))
	}
	if err := newStore(t, cluster(t, addrs), testservers.RedisPrefix(t, admin)).CheckReplication(t.Context()); err != nil {
		t.Errorf("CheckReplication on the cluster without acks = %v, want nil (no replicas)", err)
	}

	ring := redis.NewRing(&redis.RingOptions{Addrs: map[string]string{"a": "127.0.0.1:1"}, ContextTimeoutEnabled: true,
		HeartbeatFn: func(context.Context, *redis.Client) bool { return true }})
	t.Cleanup(func() { _ = ring.Close() })
	if _, err := redisstore.New(ring, redisstore.WithStaticRing(), redisstore.WithReplicaAcks(1, time.Second)); !errors.Is(err, authkit.ErrInvalidConfig) {
		t.Errorf("New(Ring, WithReplicaAcks) = %v, want ErrInvalidConfig", err)
	}
	c := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1", ContextTimeoutEnabled: true})
	t.Cleanup(func() { _ = c.Close() })
	for _, o := range []redisstore.Option{
		redisstore.WithReplicaAcks(0, time.Second), redisstore.WithReplicaAcks(17, time.Second),
		redisstore.WithReplicaAcks(1, 0), redisstore.WithReplicaAcks(1, 11*time.Second),
	} {
		if _, err := redisstore.New(c, o); !errors.Is(err, authkit.ErrInvalidConfig) {
			t.Errorf("New with an out-of-range WithReplicaAcks = %v, want ErrInvalidConfig", err)
		}
	}
}

// A failover between a revoking write and its acknowledgement: the write
// answered by the old primary, which loses it, and the marker and WAIT
// sent to the new primary, whose replica acknowledges. The new primary
// never had the revocation, so the call must fail, not return nil. The
// failover is played by the client's dialer, switched from the old
// primary to the new one (which has a replica of its own) by a listener
// that runs between the write and the acknowledgement.
func TestReplicaAcksAfterFailover(t *testing.T) {
	oldPrimary := testservers.PrivateRedis(t, "--save", "", "--appendonly", "no")
	newPrimary := testservers.PrivateRedis(t, "--save", "", "--appendonly", "no", "--repl-diskless-sync-delay", "0")
	host, port, err := net.SplitHostPort(newPrimary)
	if err != nil {
		t.Fatal(err)
	}
	replica := testservers.PrivateRedis(t, "--save", "", "--appendonly", "no", "--replicaof", host, port)
	waitReplicaUp(t, standalone(t, newPrimary), standalone(t, replica))

	var target atomic.Pointer[string]
	target.Store(&oldPrimary)
	rdb := redis.NewClient(&redis.Options{Addr: oldPrimary, ContextTimeoutEnabled: true,
		Dialer: func(ctx context.Context, network, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, network, *target.Load())
		}})
	t.Cleanup(func() { _ = rdb.Close() })
	s := newStore(t, rdb, "failover:", redisstore.WithReplicaAcks(1, 2*time.Second))
	old := standalone(t, oldPrimary)
	var failedOver atomic.Bool
	stop := s.ListenRevocations(func(authkit.Revocation) {
		if failedOver.Swap(true) {
			return
		}
		target.Store(&newPrimary)
		// The old primary drops its clients: the store's next
		// connection goes to the new one.
		_ = old.Do(context.Background(), "CLIENT", "KILL", "TYPE", "normal", "SKIPME", "yes").Err()
	})
	t.Cleanup(stop)
	until := time.Now().Add(time.Hour)
	err = s.RevokeToken(t.Context(), "alice", "jti-lost", until)
	if !failedOver.Load() {
		t.Fatal("the failover did not happen between the write and the acknowledgement")
	}
	if !errors.Is(err, authkit.ErrStoreUnavailable) {
		t.Fatalf("RevokeToken whose write the failover lost: %v, want ErrStoreUnavailable (the new primary's replica acknowledged a marker, not the revocation)", err)
	}
	// Written again (the caller's retry), it is on the new primary and
	// acknowledged.
	if err := s.RevokeToken(t.Context(), "alice", "jti-lost", until); err != nil {
		t.Fatalf("the retry on the new primary: %v", err)
	}
	// The new primary never held the store's epoch marker: the first
	// check there may find it missing and start a new epoch, refusing a
	// token issued before it (ErrDataLoss, as it should; whether the
	// retry's write got there first is a matter of timing). A token
	// issued after that is judged on the revocation alone.
	if dead, err := s.IsRevoked(t.Context(), authkit.RevocationQuery{Subject: "alice", TokenID: "jti-lost", IssuedAt: time.Now()}, time.Now()); !dead || (err != nil && !errors.Is(err, authkit.ErrDataLoss)) {
		t.Errorf("IsRevoked after the retry = (%v, %v), want (true, nil or ErrDataLoss)", dead, err)
	}
	if dead, err := s.IsRevoked(t.Context(), authkit.RevocationQuery{Subject: "alice", TokenID: "jti-lost", IssuedAt: time.Now()}, time.Now()); err != nil || !dead {
		t.Errorf("IsRevoked after the retry, of a token issued since the new epoch = (%v, %v), want (true, nil)", dead, err)
	}
}

// A revocation whose entry expires by itself within a minute is still
// waited for: confirm skips only its check that the primary holds it (the
// entry may be gone for its TTL alone), never the marker and WAIT. With no
// replica, such a call fails as any other does (found by review: it
// returned nil without waiting).
func TestReplicaAcksNearExpiry(t *testing.T) {
	primary := testservers.PrivateRedis(t, "--save", "", "--appendonly", "no")
	s := newStore(t, standalone(t, primary), "near:", redisstore.WithReplicaAcks(1, 200*time.Millisecond), redisstore.WithExpiryMargin(0))
	ctx := t.Context()
	soon := time.Now().Add(30 * time.Second)
	for name, revoke := range map[string]func() error{
		"RevokeToken":         func() error { return s.RevokeToken(ctx, "alice", "jti-soon", soon) },
		"RevokeSessionTokens": func() error { return s.RevokeSessionTokens(ctx, "alice", "sid-soon", soon) },
		"SetCutoff":           func() error { return s.SetCutoff(ctx, "alice", time.Now(), soon) },
	} {
		if err := revoke(); !errors.Is(err, authkit.ErrStoreUnavailable) || !strings.Contains(err.Error(), "acknowledged by 0 of the 1") {
			t.Errorf("%s expiring in 30 s, no replica: %v, want ErrStoreUnavailable saying 0 of 1", name, err)
		}
	}
}

// A client's secret rotation and its removal end credentials as a
// revocation does: under WithReplicaAcks they wait for the replicas too,
// and without a replica they fail (found by review: both returned nil,
// so a failover could bring the old secret or the removed client back).
func TestReplicaAcksClientWrites(t *testing.T) {
	primary := testservers.PrivateRedis(t, "--save", "", "--appendonly", "no")
	rdb := standalone(t, primary)
	plain := newStore(t, rdb, "clientacks:")
	s := newStore(t, rdb, "clientacks:", redisstore.WithReplicaAcks(1, 200*time.Millisecond))
	ctx := t.Context()
	if err := plain.CreateClient(ctx, testClient("app", clientsT0)); err != nil {
		t.Fatal(err)
	}
	err := s.SetClientSecret(ctx, "app", sha256.Sum256([]byte("new secret")), clientsT0.Add(time.Minute))
	if !errors.Is(err, authkit.ErrStoreUnavailable) || !strings.Contains(err.Error(), "acknowledged by 0 of the 1") {
		t.Errorf("SetClientSecret, no replica: %v, want ErrStoreUnavailable saying 0 of 1", err)
	}
	err = s.DeleteClient(ctx, "app")
	if !errors.Is(err, authkit.ErrStoreUnavailable) || !strings.Contains(err.Error(), "acknowledged by 0 of the 1") {
		t.Errorf("DeleteClient, no replica: %v, want ErrStoreUnavailable saying 0 of 1", err)
	}
	if _, err := plain.GetClient(ctx, "app"); !errors.Is(err, authkit.ErrNotFound) {
		t.Errorf("the client after DeleteClient: %v, want ErrNotFound (deleted on the primary)", err)
	}
	// The caller's retry waits for the replica again rather than saying
	// the client is gone.
	err = s.DeleteClient(ctx, "app")
	if !errors.Is(err, authkit.ErrStoreUnavailable) || !strings.Contains(err.Error(), "acknowledged by 0 of the 1") {
		t.Errorf("DeleteClient again, no replica: %v, want ErrStoreUnavailable saying 0 of 1", err)
	}
	// Without acks, a client that is not there is ErrNotFound.
	if err := plain.DeleteClient(ctx, "app"); !errors.Is(err, authkit.ErrNotFound) {
		t.Errorf("DeleteClient of a deleted client, no acks: %v, want ErrNotFound", err)
	}
}
