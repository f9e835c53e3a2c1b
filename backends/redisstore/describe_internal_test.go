package redisstore

import (
	"errors"
	"strings"
	"testing"

	"github.com/redis/go-redis/v9"

	"github.com/authkit-go/authkit"
	"github.com/authkit-go/authkit/internal/testservers"
)

// TestDescribeRedisRefusals checks the words the store's errors give a
// server's refusals, from a real server: a command it does not know (one
// renamed away) and an ACL's refusal inside a script are named, not a bare
// ERR (found by review), and a key outside the ACL's patterns is said to
// be one; none repeats the key or the arguments.
func TestDescribeRedisRefusals(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	addr := testservers.PrivateRedis(t, "--save", "", "--appendonly", "no")
	admin := redis.NewClient(&redis.Options{Addr: addr, ContextTimeoutEnabled: true})
	t.Cleanup(func() { _ = admin.Close() })
	if err := admin.Do(ctx, "ACL", "SETUSER", "limited", "on", ">pw", "+@all", "-xadd", "~mine:*").Err(); err != nil {
		t.Fatal(err)
	}
	c := redis.NewClient(&redis.Options{Addr: addr, Username: "limited", Password: "pw", ContextTimeoutEnabled: true})
	t.Cleanup(func() { _ = c.Close() })
	for _, tc := range []struct {
		name string
		err  error
		want string
	}{
		{"unknown command", c.Do(ctx, "NOSUCHCMD", "mine:secret-key").Err(), "Redis error reply ERR (unknown command nosuchcmd)"},
		{"refused in a script", c.Eval(ctx, "return redis.call('xadd', KEYS[1], '*', 'f', 'v')", []string{"mine:s"}).Err(), "Redis error reply ERR (the ACL refused a command the store's script runs)"},
		{"refused command", c.Do(ctx, "XADD", "mine:s", "*", "f", "v").Err(), "Redis error reply NOPERM (xadd)"},
		{"refused key", c.Get(ctx, "other:secret-key").Err(), "Redis error reply NOPERM (a key the ACL's key patterns do not cover)"},
	} {
		if tc.err == nil {
			t.Errorf("%s: no error from the server", tc.name)
			continue
		}
		got := clientErr(tc.err).Error()
		if got != tc.want || strings.Contains(got, "secret-key") {
			t.Errorf("%s: %q (server: %q), want %q", tc.name, got, tc.err, tc.want)
		}
	}
}

// Ping reads the store's keys, so a user whose ACL no longer covers them
// fails it, as every call would (found by review: PING passed and serve's
// /healthz said ok while each call failed with NOPERM).
func TestPingReadsKeys(t *testing.T) {
	t.Parallel()
	s, user, addr := storeAsACLUser(t, "ping", documentedACL...)
	if err := s.Ping(t.Context()); err != nil {
		t.Fatalf("Ping as the documented ACL's user: %v", err)
	}
	admin := redis.NewClient(&redis.Options{Addr: addr, ContextTimeoutEnabled: true})
	t.Cleanup(func() { _ = admin.Close() })
	if err := admin.Do(t.Context(), "ACL", "SETUSER", user, "resetkeys", "~elsewhere:*").Err(); err != nil {
		t.Fatal(err)
	}
	err := s.Ping(t.Context())
	if !errors.Is(err, authkit.ErrStoreUnavailable) || !strings.Contains(err.Error(), "NOPERM") {
		t.Errorf("Ping once the ACL no longer covers the store's keys = %v, want ErrStoreUnavailable naming NOPERM", err)
	}
}
