package testservers

import (
	"strings"
	"testing"

	"github.com/redis/go-redis/v9"
)

func privateWith(t *testing.T, args ...string) (f *endTB, addr string) {
	f = &endTB{TB: t}
	defer func() {
		if r := recover(); r != nil && r != (endedRedis{}) {
			panic(r)
		}
	}()
	return f, PrivateRedis(f, args...)
}

// PrivateRedis starts a server with the arguments given, and skips (or
// fails under AUTHKIT_REQUIRE_BACKENDS=1) without a redis-server.
func TestPrivateRedis(t *testing.T) {
	addr := PrivateRedis(t, "--appendonly", "no", "--save", "", "--maxmemory-policy", "volatile-lru")
	c := redis.NewClient(&redis.Options{Addr: addr})
	defer c.Close()
	for name, want := range map[string]string{"appendonly": "no", "save": "", "maxmemory-policy": "volatile-lru"} {
		got, err := c.ConfigGet(t.Context(), name).Result()
		if err != nil || got[name] != want {
			t.Errorf("CONFIG GET %s = %q, %v; want %q", name, got[name], err, want)
		}
	}
	if f, _ := privateWith(t, "--no-such-option", "x"); f.failed == "" || !strings.Contains(f.failed, "no-such-option") {
		t.Errorf("a server that cannot start: failed %q, skipped %q; want a failure with its output", f.failed, f.skipped)
	}

	t.Setenv("PATH", t.TempDir()) // no redis-server
	t.Setenv(RequireEnv, "")
	if f, addr := privateWith(t); addr != "" || f.failed != "" || !strings.Contains(f.skipped, "redis-server") {
		t.Errorf("without redis-server: %q, failed %q, skipped %q; want a skip", addr, f.failed, f.skipped)
	}
	t.Setenv(RequireEnv, "1")
	if f, _ := privateWith(t); f.failed == "" || f.skipped != "" {
		t.Errorf("without redis-server under %s=1: skipped %q; want a failure", RequireEnv, f.skipped)
	}
}
