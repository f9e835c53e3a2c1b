package testservers

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	tcredis "github.com/testcontainers/testcontainers-go/modules/redis"
)

// Environment variables naming the Redis servers: a standalone server's
// host:port, and a Redis Cluster's seed addresses, comma-separated.
const (
	RedisEnv        = "AUTHKIT_TEST_REDIS_ADDR"
	RedisClusterEnv = "AUTHKIT_TEST_REDIS_CLUSTER_ADDRS"
)

// redisImage is the container a standalone Redis runs in when none is
// named in the environment.
const redisImage = "redis:7-alpine"

var redisKind = &kind{
	name:      "Redis",
	env:       RedisEnv,
	example:   "127.0.0.1:6379",
	container: startRedis,
}

func startRedis(ctx context.Context) (string, error) {
	if err := dockerAnswers(ctx); err != nil {
		return "", fmt.Errorf("no Docker engine: %w", err)
	}
	c, err := tcredis.Run(ctx, redisImage)
	if err != nil {
		return "", errors.Join(fmt.Errorf("starting %s: %w", redisImage, err), terminate(c))
	}
	conn, err := c.ConnectionString(ctx) // redis://host:port
	if err != nil {
		return "", errors.Join(err, terminate(c))
	}
	u, err := url.Parse(conn)
	if err != nil {
		return "", errors.Join(err, terminate(c))
	}
	return u.Host, nil
}

// Redis returns the host:port of a standalone Redis server: the one
// AUTHKIT_TEST_REDIS_ADDR names, else a container, else it skips t (or
// fails it under AUTHKIT_REQUIRE_BACKENDS=1). The server is shared: give
// each test its own key prefix with RedisPrefix.
func Redis(t testing.TB) string {
	t.Helper()
	addr := redisKind.locate(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c := redis.NewClient(&redis.Options{Addr: addr})
	defer c.Close()
	if err := c.Ping(ctx).Err(); err != nil {
		t.Fatalf("the Redis server at %s (%s, or a container) does not answer: %v", addr, RedisEnv, err)
	}
	return addr
}

// RedisCluster returns the seed addresses of a Redis Cluster with every
// slot served: the ones AUTHKIT_TEST_REDIS_CLUSTER_ADDRS names, else a
// three-master cluster started for t from the machine's redis-server on
// loopback ports of its own (stopped when t ends), else it skips t (or
// fails it under AUTHKIT_REQUIRE_BACKENDS=1). .ci/redis-cluster starts
// the same cluster from the shell.
func RedisCluster(t testing.TB) []string {
	t.Helper()
	if v := os.Getenv(RedisClusterEnv); v != "" {
		var addrs []string
		for _, a := range strings.Split(v, ",") {
			if a = strings.TrimSpace(a); a != "" {
				addrs = append(addrs, a)
			}
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := clusterReady(ctx, addrs); err != nil {
			t.Fatalf("the Redis Cluster %s names (%s) is not ready: %v", RedisClusterEnv, v, err)
		}
		return addrs
	}
	addrs, err := startLocalCluster(t)
	if err == nil {
		return addrs
	}
	msg := fmt.Sprintf("no Redis Cluster: %s is not set and none could be started from redis-server (%v); start one with .ci/redis-cluster start and run the test with %s=127.0.0.1:7101,127.0.0.1:7102,127.0.0.1:7103",
		RedisClusterEnv, err, RedisClusterEnv)
	if os.Getenv(RequireEnv) == "1" {
		t.Fatalf("%s (%s=1: a missing server is a failure)", msg, RequireEnv)
	}
	noteSkip("Redis Cluster", RedisClusterEnv)
	t.Skipf("%s (set AUTHKIT_REQUIRE_BACKENDS=1 to make this a failure)", msg)
	return nil
}

// clusterReady checks that every seed answers and reports cluster_state:ok.
func clusterReady(ctx context.Context, addrs []string) error {
	if len(addrs) == 0 {
		return errors.New("no addresses")
	}
	for _, a := range addrs {
		c := redis.NewClient(&redis.Options{Addr: a})
		info, err := c.ClusterInfo(ctx).Result()
		c.Close()
		if err != nil {
			return fmt.Errorf("%s: %w", a, err)
		}
		if !strings.Contains(info, "cluster_state:ok") {
			return fmt.Errorf("%s: cluster_state is not ok", a)
		}
	}
	return nil
}

// startLocalCluster starts three redis-server processes in cluster mode
// on free loopback ports, assigns each a third of the slots, joins them
// and waits for cluster_state:ok. t.Cleanup stops them.
func startLocalCluster(t testing.TB) ([]string, error) {
	t.Helper()
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		return nil, err
	}
	var lastErr error
	for range 3 { // a port taken between picking and binding: try again
		addrs, err := tryLocalCluster(t, bin)
		if err == nil {
			return addrs, nil
		}
		lastErr = err
	}
	return nil, lastErr
}

func tryLocalCluster(t testing.TB, bin string) ([]string, error) {
	dir := t.TempDir()
	ports, err := freeClusterPorts(3)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var (
		procs   []*exec.Cmd
		clients []*redis.Client
		addrs   []string
	)
	stop := func() {
		for _, c := range clients {
			c.Close()
		}
		for _, p := range procs {
			_ = p.Process.Kill()
			_ = p.Wait()
		}
	}
	for _, port := range ports {
		p := strconv.Itoa(port)
		cmd := exec.Command(bin,
			"--port", p, "--bind", "127.0.0.1",
			"--cluster-enabled", "yes",
			"--cluster-config-file", filepath.Join(dir, "nodes-"+p+".conf"),
			"--cluster-node-timeout", "5000",
			"--dir", dir, "--logfile", filepath.Join(dir, p+".log"),
			"--save", "", "--appendonly", "no", "--daemonize", "no")
		if err := cmd.Start(); err != nil {
			stop()
			return nil, err
		}
		procs = append(procs, cmd)
		addrs = append(addrs, "127.0.0.1:"+p)
		clients = append(clients, redis.NewClient(&redis.Options{Addr: "127.0.0.1:" + p, MaxRetries: -1}))
	}
	fail := func(err error) ([]string, error) {
		stop()
		return nil, err
	}
	for i, c := range clients {
		if err := waitFor(ctx, func() error { return c.Ping(ctx).Err() }); err != nil {
			return fail(fmt.Errorf("redis-server on %s did not start: %w", addrs[i], err))
		}
	}
	const slots = 16384
	for i, c := range clients {
		lo, hi := i*slots/len(clients), (i+1)*slots/len(clients)
		list := make([]int, 0, hi-lo)
		for s := lo; s < hi; s++ {
			list = append(list, s)
		}
		if err := c.ClusterAddSlots(ctx, list...).Err(); err != nil {
			return fail(fmt.Errorf("CLUSTER ADDSLOTS on %s: %w", addrs[i], err))
		}
	}
	for _, port := range ports[1:] {
		if err := clients[0].ClusterMeet(ctx, "127.0.0.1", strconv.Itoa(port)).Err(); err != nil {
			return fail(fmt.Errorf("CLUSTER MEET: %w", err))
		}
	}
	if err := waitFor(ctx, func() error { return clusterReady(ctx, addrs) }); err != nil {
		return fail(err)
	}
	for _, c := range clients {
		c.Close()
	}
	clients = nil
	t.Cleanup(stop)
	return addrs, nil
}

// freeClusterPorts returns n loopback ports that are free, each with its
// cluster bus port (port+10000) free too.
func freeClusterPorts(n int) ([]int, error) {
	var ports []int
	for tries := 0; len(ports) < n && tries < 50; tries++ {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		port := l.Addr().(*net.TCPAddr).Port
		if port+10000 > 65535 {
			l.Close()
			continue
		}
		bus, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(port+10000))
		if err != nil {
			l.Close()
			continue
		}
		bus.Close()
		l.Close()
		ports = append(ports, port)
	}
	if len(ports) < n {
		return nil, errors.New("no free loopback ports for a cluster")
	}
	return ports, nil
}

func waitFor(ctx context.Context, f func() error) error {
	for {
		err := f()
		if err == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return err
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// RedisPrefix returns a key prefix no other test uses and, when t ends,
// deletes every key under it through rdb (on every master of a cluster).
// rdb must stay open until then: register its Close with t.Cleanup before
// calling RedisPrefix, or use a client that outlives t.
func RedisPrefix(t testing.TB, rdb redis.UniversalClient) string {
	t.Helper()
	var b [6]byte
	_, _ = rand.Read(b[:])
	prefix := "authkit-test-" + hex.EncodeToString(b[:]) + ":"
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		var err error
		if cc, ok := rdb.(*redis.ClusterClient); ok {
			err = cc.ForEachMaster(ctx, func(ctx context.Context, c *redis.Client) error {
				_, err := DeleteRedisPrefix(ctx, c, prefix)
				return err
			})
		} else {
			_, err = DeleteRedisPrefix(ctx, rdb, prefix)
		}
		if err != nil {
			t.Errorf("deleting the test keys under %q: %v", prefix, err)
		}
	})
	return prefix
}

// DeleteRedisPrefix deletes the keys under prefix that c's server holds
// (one server: give each node of a cluster or ring its own client), one
// UNLINK per key (a cluster refuses multi-key commands across slots), in
// pipelines of 500, and returns how many it deleted.
func DeleteRedisPrefix(ctx context.Context, c redis.UniversalClient, prefix string) (int, error) {
	iter := c.Scan(ctx, 0, prefix+"*", 1000).Iterator()
	var batch []string
	n := 0
	flush := func() error {
		if len(batch) == 0 {
			return nil
		}
		_, err := c.Pipelined(ctx, func(p redis.Pipeliner) error {
			for _, k := range batch {
				p.Unlink(ctx, k)
			}
			return nil
		})
		if err != nil {
			return fmt.Errorf("UNLINK: %w", err)
		}
		n += len(batch)
		batch = batch[:0]
		return nil
	}
	for iter.Next(ctx) {
		batch = append(batch, iter.Val())
		if len(batch) == 500 {
			if err := flush(); err != nil {
				return n, err
			}
		}
	}
	if err := iter.Err(); err != nil {
		return n, fmt.Errorf("SCAN: %w", err)
	}
	err := flush()
	return n, err
}
