package testservers

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"

	"github.com/redis/go-redis/v9"
)

// endTB records how a helper ended the test instead of ending it; like
// the real ones, its Skipf and Fatalf do not return.
type endTB struct {
	testing.TB
	skipped, failed string
}

type endedRedis struct{}

func (f *endTB) Helper() {}
func (f *endTB) Skipf(format string, a ...any) {
	f.skipped = fmt.Sprintf(format, a...)
	panic(endedRedis{})
}
func (f *endTB) Fatalf(format string, a ...any) {
	f.failed = fmt.Sprintf(format, a...)
	panic(endedRedis{})
}

func clusterWith(t *testing.T) (f *endTB, addrs []string) {
	f = &endTB{TB: t}
	defer func() {
		if r := recover(); r != nil && r != (endedRedis{}) {
			panic(r)
		}
	}()
	return f, RedisCluster(f)
}

func TestRedisClusterMissing(t *testing.T) {
	t.Setenv(RedisClusterEnv, "")
	t.Setenv("PATH", t.TempDir()) // no redis-server to start one from
	t.Setenv(RequireEnv, "")
	f, addrs := clusterWith(t)
	if addrs != nil || f.failed != "" || f.skipped == "" {
		t.Fatalf("RedisCluster = %q, failed %q; want a skip", addrs, f.failed)
	}
	for _, want := range []string{RedisClusterEnv, ".ci/redis-cluster", RequireEnv} {
		if !strings.Contains(f.skipped, want) {
			t.Errorf("the skip message %q does not mention %q", f.skipped, want)
		}
	}
	t.Setenv(RequireEnv, "1")
	if f, _ := clusterWith(t); f.failed == "" || f.skipped != "" {
		t.Errorf("with %s=1 a missing cluster skipped (%q) instead of failing", RequireEnv, f.skipped)
	}
}

// keysUnder lists the keys under prefix on every node rdb reaches.
func keysUnder(t *testing.T, rdb redis.UniversalClient, prefix string) []string {
	t.Helper()
	var out []string
	collect := func(c redis.UniversalClient) {
		iter := c.Scan(t.Context(), 0, prefix+"*", 100).Iterator()
		for iter.Next(t.Context()) {
			out = append(out, iter.Val())
		}
		if err := iter.Err(); err != nil {
			t.Fatal(err)
		}
	}
	if cc, ok := rdb.(*redis.ClusterClient); ok {
		var (
			mu    sync.Mutex // ForEachMaster runs concurrently
			nodes []*redis.Client
		)
		_ = cc.ForEachMaster(t.Context(), func(_ context.Context, c *redis.Client) error {
			mu.Lock()
			nodes = append(nodes, c)
			mu.Unlock()
			return nil
		})
		for _, c := range nodes {
			collect(c)
		}
	} else {
		collect(rdb)
	}
	return out
}

// checkPrefix writes keys in many slots under a RedisPrefix inside a
// subtest and checks they are gone when it ends, and that a key outside
// the prefix stays.
func checkPrefix(t *testing.T, rdb redis.UniversalClient) {
	t.Helper()
	outside := "authkit-test-outside-" + uniqueName()
	if err := rdb.Set(t.Context(), outside, "x", 0).Err(); err != nil {
		t.Fatal(err)
	}
	defer rdb.Del(t.Context(), outside)
	var prefix string
	t.Run("isolated", func(t *testing.T) {
		prefix = RedisPrefix(t, rdb)
		if prefix == RedisPrefix(t, rdb) {
			t.Error("two RedisPrefix calls returned the same prefix")
		}
		for i := range 50 {
			if err := rdb.Set(t.Context(), fmt.Sprintf("%s{%d}k", prefix, i), "v", 0).Err(); err != nil {
				t.Fatal(err)
			}
		}
	})
	if left := keysUnder(t, rdb, prefix); len(left) != 0 {
		t.Errorf("%d keys under the test's prefix survived it, e.g. %q", len(left), left[0])
	}
	if n, err := rdb.Exists(t.Context(), outside).Result(); err != nil || n != 1 {
		t.Errorf("a key outside the prefix is gone (%d, %v)", n, err)
	}
}

func TestRedisPrefix(t *testing.T) {
	rdb := redis.NewClient(&redis.Options{Addr: Redis(t)})
	defer rdb.Close()
	checkPrefix(t, rdb)
}

// TestLocalCluster starts a cluster from redis-server, as RedisCluster
// does when no cluster is named, and isolates a test on it.
func TestLocalCluster(t *testing.T) {
	if _, err := exec.LookPath("redis-server"); err != nil {
		if os.Getenv(RequireEnv) == "1" {
			t.Fatalf("redis-server is not on PATH (%s=1: a missing server is a failure)", RequireEnv)
		}
		t.Skip("redis-server is not on PATH: install redis-server to run this test (set AUTHKIT_REQUIRE_BACKENDS=1 to make this a failure)")
	}
	addrs, err := startLocalCluster(t)
	if err != nil {
		t.Fatal(err)
	}
	if len(addrs) != 3 {
		t.Fatalf("startLocalCluster returned %q, want three seeds", addrs)
	}
	rdb := redis.NewClusterClient(&redis.ClusterOptions{Addrs: addrs})
	defer rdb.Close()
	checkPrefix(t, rdb)
}
