package redisstore

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"sync"
	"unicode"

	"github.com/redis/go-redis/v9"

	"github.com/authkit-go/authkit"
)

// ErrVolatile is matched by CheckPersistence's error when a Redis node
// may lose what the Store keeps: it keeps nothing on disk (a restart
// empties it), it may evict keys when its memory is full, or it does not
// say (CONFIG refused, and INFO does not tell).
var ErrVolatile = errors.New("redisstore: volatile Redis")

// NodePersistence is what one Redis server says about keeping its data:
// whether it writes it to disk, and whether it may evict keys when full.
// The values come from CONFIG GET; where the server refuses CONFIG (as
// managed services often do) they come from INFO, which tells appendonly
// and the memory settings but not the save schedule. A value the server
// did not tell has its …Known field false.
type NodePersistence struct {
	// Addr is the node's host:port as the client reaches it (for a
	// Sentinel-managed primary, as the server saw the connection).
	Addr string
	// Replica is true for a replica of a Redis Cluster; false for a
	// primary and for every node of other topologies.
	Replica bool
	// ConfigRefused is true when CONFIG GET was refused or did not
	// answer for every setting, so the values below come from INFO where
	// it tells.
	ConfigRefused bool

	// AppendOnly is appendonly (the AOF): every write is logged to disk.
	AppendOnly bool
	// AppendOnlyKnown is true when the node told AppendOnly.
	AppendOnlyKnown bool
	// Save is the RDB snapshot schedule ("3600 1 300 100"); "" means
	// none. INFO does not tell it.
	Save string
	// SaveKnown is true when the node told Save (through CONFIG only).
	SaveKnown bool
	// MaxMemory is maxmemory in bytes; 0 means no limit.
	MaxMemory int64
	// MaxMemoryPolicy is maxmemory-policy ("noeviction", "allkeys-lru", …).
	MaxMemoryPolicy string
	// MemoryKnown is true when the node told MaxMemory and
	// MaxMemoryPolicy.
	MemoryKnown bool

	// Replicas is the number of replicas connected to a primary now
	// (INFO replication's connected_slaves); 0 for a replica. A
	// failover promotes one of them, with only what had reached it.
	Replicas int
	// ReplicasKnown is true when the node told Replicas; always false
	// for a replica (the primary's count is the one that matters).
	ReplicasKnown bool
}

// Durable reports whether the node keeps its data across a restart:
// appendonly yes, or a non-empty save schedule. It is false when the node
// did not tell.
func (n NodePersistence) Durable() bool {
	return (n.AppendOnlyKnown && n.AppendOnly) || (n.SaveKnown && n.Save != "")
}

// MayEvict reports whether the node may evict keys when its memory is
// full: a maxmemory limit with a policy other than noeviction. It is true
// when the node did not tell. Every revocation and session the Store
// writes carries a native TTL, so the volatile-* policies, which evict
// only keys with one, evict them as readily as the allkeys-* policies.
func (n NodePersistence) MayEvict() bool {
	return !n.MemoryKnown || (n.MaxMemory > 0 && n.MaxMemoryPolicy != "noeviction")
}

// problems describes, in words an operator can act on, why the node may
// lose the Store's data; none when it will not.
func (n NodePersistence) problems() []string {
	var why []string
	switch {
	case n.Durable():
	case n.AppendOnlyKnown && n.SaveKnown:
		why = append(why, fmt.Sprintf("keeps nothing on disk (appendonly no, save %q): a restart empties it (set appendonly yes)", n.Save))
	case n.AppendOnlyKnown:
		why = append(why, "CONFIG refused; cannot tell whether it keeps its data across a restart (INFO says appendonly no and does not show the save schedule)")
	default:
		why = append(why, "CONFIG refused; cannot tell whether it keeps its data across a restart (INFO does not say either)")
	}
	switch {
	case !n.MemoryKnown:
		why = append(why, "CONFIG refused; cannot tell whether it evicts keys when full")
	case n.MayEvict():
		why = append(why, fmt.Sprintf("may evict authkit's keys when full (maxmemory %d, maxmemory-policy %s): revocations carry TTLs, so volatile-* policies evict them too (set maxmemory-policy noeviction)",
			n.MaxMemory, printable(n.MaxMemoryPolicy)))
	}
	return why
}

// Persistence asks every Redis server the Store's client reaches how it
// keeps its data (and each primary how many replicas follow it), one
// record per node: the server of a *redis.Client
// (standalone, or the primary of a Sentinel failover client), every
// primary and every replica of a *redis.ClusterClient (a failover
// promotes a replica, so its settings count too), every shard of a
// *redis.Ring. Records come primaries first, each group ordered by
// address.
//
// A node that cannot be asked (unreachable, a Ring shard that is down, a
// deadline) makes it fail with an error matching
// authkit.ErrStoreUnavailable; a node that refuses CONFIG and INFO is
// not an error, but a record whose values are not known. Calls are
// bounded like the Store's others (WithCallTimeout).
func (s *Store) Persistence(ctx context.Context) ([]NodePersistence, error) {
	const op = "Persistence"
	if err := ctx.Err(); err != nil {
		return nil, deadCtx(op, err)
	}
	ctx, cancel := s.callCtx(ctx)
	defer cancel()
	return s.persistence(ctx, op)
}

// CheckPersistence returns nil when every node Persistence lists keeps
// its data across a restart (appendonly yes, or a non-empty save
// schedule) and cannot evict the Store's keys (no maxmemory limit, or
// maxmemory-policy noeviction). Otherwise it returns an error matching
// ErrVolatile that names each offending node and why ("127.0.0.1:6379
// keeps nothing on disk (appendonly no, save \"\"): a restart empties
// it; …"). A node that refuses CONFIG and whose INFO does not settle the
// question fails the check too ("CONFIG refused; cannot tell"): what
// cannot be established is not proven. A node that cannot be asked
// yields an error matching authkit.ErrStoreUnavailable instead.
//
// A Redis that forgets revocations undoes them: revoked tokens verify
// again. Call it at start-up; `authkit serve` does, and refuses a
// volatile Redis unless told otherwise. Unlike the Store's other errors,
// this one names servers by address, for the operator who must fix them.
//
// A passing check says the data survives a restart, not that nothing is
// lost: an RDB snapshot restores the state of its last save, and AOF
// with appendfsync everysec may lose the last second (see
// docs/backends/redis.md).
func (s *Store) CheckPersistence(ctx context.Context) error {
	const op = "CheckPersistence"
	if err := ctx.Err(); err != nil {
		return deadCtx(op, err)
	}
	ctx, cancel := s.callCtx(ctx)
	defer cancel()
	nodes, err := s.persistence(ctx, op)
	if err != nil {
		return err
	}
	var why []string
	for _, n := range nodes {
		name := printable(n.Addr)
		if n.Replica {
			name += " (replica)"
		}
		for _, p := range n.problems() {
			why = append(why, name+" "+p)
		}
	}
	if len(why) > 0 {
		return fmt.Errorf("redisstore: %s: %w: %s", op, ErrVolatile, strings.Join(why, "; "))
	}
	return nil
}

// persistence reads every node's settings under ctx; errors are
// classified and carry op.
func (s *Store) persistence(ctx context.Context, op string) ([]NodePersistence, error) {
	var (
		mu    sync.Mutex
		nodes []NodePersistence
	)
	each := func(replica bool) func(context.Context, *redis.Client) error {
		return func(ctx context.Context, c *redis.Client) error {
			n, err := readNode(ctx, c, c.Options().Addr, replica)
			if err != nil {
				return err
			}
			mu.Lock()
			nodes = append(nodes, n)
			mu.Unlock()
			return nil
		}
	}
	var err error
	switch c := s.rdb.(type) {
	case *redis.ClusterClient:
		err = c.ForEachMaster(ctx, each(false))
		if err == nil {
			err = c.ForEachSlave(ctx, each(true))
		}
	case *redis.Ring:
		err = c.ForEachShard(ctx, each(false))
		// ForEachShard passes over the shards it holds for down.
		if want := len(c.Options().Addrs); err == nil && len(nodes) < want {
			return nil, fmt.Errorf("redisstore: %s: %w: %d of the ring's %d shards are down", op, authkit.ErrStoreUnavailable, want-len(nodes), want)
		}
	case *redis.Client:
		addr := c.Options().Addr
		if addr == failoverAddr {
			addr, err = primaryAddr(ctx, c)
		}
		if err == nil {
			var n NodePersistence
			n, err = readNode(ctx, c, addr, false)
			nodes = append(nodes, n)
		}
	default:
		var n NodePersistence
		n, err = readNode(ctx, s.rdb, "the server", false)
		nodes = append(nodes, n)
	}
	if err != nil {
		return nil, s.fail(ctx, op, err)
	}
	if len(nodes) == 0 {
		return nil, fmt.Errorf("redisstore: %s: %w: the client knows no Redis node", op, authkit.ErrStoreUnavailable)
	}
	sort.Slice(nodes, func(i, j int) bool {
		if nodes[i].Replica != nodes[j].Replica {
			return !nodes[i].Replica
		}
		return nodes[i].Addr < nodes[j].Addr
	})
	return nodes, nil
}

// failoverAddr is the Addr go-redis gives the options of a client made by
// redis.NewFailoverClient, whose primary Sentinel names.
const failoverAddr = "FailoverClient"

// primaryAddr returns the address of the server a Sentinel failover
// client is connected to, as the server saw the connection (CLIENT INFO's
// laddr), or a description when the server does not say.
func primaryAddr(ctx context.Context, c *redis.Client) (string, error) {
	info, err := c.ClientInfo(ctx).Result()
	if refused(err) || (err == nil && info.LAddr == "") {
		return "the Sentinel primary", nil
	}
	if err != nil {
		return "", err
	}
	return info.LAddr, nil
}

// readNode reads one server's settings: CONFIG GET, and INFO for what
// CONFIG did not tell. A refused command leaves values unknown; any other
// failure is returned.
func readNode(ctx context.Context, c redis.Cmdable, addr string, replica bool) (NodePersistence, error) {
	n := NodePersistence{Addr: addr, Replica: replica}
	if !replica {
		if err := readReplicas(ctx, c, &n); err != nil {
			return n, err
		}
	}
	names := []string{"appendonly", "save", "maxmemory", "maxmemory-policy"}
	got := map[string]string{}
	cmds, err := c.Pipelined(ctx, func(p redis.Pipeliner) error {
		for _, name := range names {
			p.ConfigGet(ctx, name)
		}
		return nil
	})
	if err != nil && !refused(err) {
		return n, err
	}
	for i, cmd := range cmds {
		m, err := cmd.(*redis.MapStringStringCmd).Result()
		if err != nil {
			if !refused(err) {
				return n, err
			}
			continue
		}
		if v, ok := m[names[i]]; ok {
			got[names[i]] = v
		}
	}
	if v, ok := got["appendonly"]; ok {
		n.AppendOnly, n.AppendOnlyKnown = v == "yes", true
	}
	if v, ok := got["save"]; ok {
		n.Save, n.SaveKnown = strings.TrimSpace(v), true
	}
	mm, mmOK := got["maxmemory"]
	policy, policyOK := got["maxmemory-policy"]
	if mmOK && policyOK {
		if b, err := strconv.ParseInt(mm, 10, 64); err == nil {
			n.MaxMemory, n.MaxMemoryPolicy, n.MemoryKnown = b, policy, true
		}
	}
	if n.AppendOnlyKnown && n.SaveKnown && n.MemoryKnown {
		return n, nil
	}
	n.ConfigRefused = true
	// INFO tells appendonly (aof_enabled) and the memory settings, but
	// not the save schedule: a node without AOF stays unknown.
	var pers, mem *redis.StringCmd
	_, err = c.Pipelined(ctx, func(p redis.Pipeliner) error {
		pers = p.Info(ctx, "persistence")
		mem = p.Info(ctx, "memory")
		return nil
	})
	if err != nil && !refused(err) {
		return n, err
	}
	if v, err := pers.Result(); err == nil && !n.AppendOnlyKnown {
		if aof, ok := infoField(v, "aof_enabled"); ok && (aof == "0" || aof == "1") {
			n.AppendOnly, n.AppendOnlyKnown = aof == "1", true
		}
	}
	if v, err := mem.Result(); err == nil && !n.MemoryKnown {
		mm, mmOK := infoField(v, "maxmemory")
		policy, policyOK := infoField(v, "maxmemory_policy")
		if b, err := strconv.ParseInt(mm, 10, 64); mmOK && policyOK && err == nil {
			n.MaxMemory, n.MaxMemoryPolicy, n.MemoryKnown = b, policy, true
		}
	}
	return n, nil
}

// infoField returns the value of field in an INFO reply ("field:value"
// lines).
func infoField(info, field string) (string, bool) {
	for line := range strings.Lines(info) {
		if k, v, ok := strings.Cut(strings.TrimRight(line, "\r\n"), ":"); ok && k == field {
			return v, true
		}
	}
	return "", false
}

// refused reports whether err is the server refusing a command it does
// not offer or does not allow this user: an ERR reply (unknown or
// renamed command) or NOPERM (ACL). Other replies (LOADING, BUSY,
// MASTERDOWN …) and every network failure are not refusals.
func refused(err error) bool {
	var re redis.Error
	if err == nil || errors.Is(err, redis.Nil) || !errors.As(err, &re) {
		return false
	}
	code, _, _ := strings.Cut(re.Error(), " ")
	return code == "ERR" || code == "NOPERM"
}

// printable returns s as it is when every rune is printable and not a
// space, else quoted: a server's address or setting in an error cannot
// forge a line of the log.
func printable(s string) string {
	if s != "" && !strings.ContainsFunc(s, func(r rune) bool { return !unicode.IsGraphic(r) || unicode.IsSpace(r) }) {
		return s
	}
	return strconv.Quote(s)
}
