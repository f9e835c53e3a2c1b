package redisstore_test

import (
	"errors"
	"net"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/authkit-go/authkit"
	"github.com/authkit-go/authkit/backends/redisstore"
	"github.com/authkit-go/authkit/internal/testservers"
)

func TestOpenURL(t *testing.T) {
	addr := testservers.Redis(t)
	admin := standalone(t, addr)
	prefix := testservers.RedisPrefix(t, admin)
	s, err := redisstore.OpenURL(t.Context(), "redis://"+addr+"/0?key_prefix="+prefix+"&dial_timeout=2s")
	if err != nil {
		t.Fatal(err)
	}
	if s.Prefix() != prefix {
		t.Errorf("OpenURL's store has prefix %q, want %q from key_prefix", s.Prefix(), prefix)
	}
	until := time.Now().Add(time.Hour)
	if err := s.RevokeToken(t.Context(), "alice", "jti-1", until); err != nil {
		t.Fatal(err)
	}
	if keys, err := admin.Keys(t.Context(), prefix+"rev:{r*}:YWxpY2U:j:anRpLTE").Result(); err != nil || len(keys) != 1 {
		t.Errorf("the revocation is not under the URL's key_prefix: %q, %v", keys, err)
	}
	if err := s.Close(); err != nil {
		t.Errorf("Close of an OpenURL store: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Errorf("a second Close of an OpenURL store: %v, want nil", err)
	}
	if err := s.Ping(t.Context()); !errors.Is(err, authkit.ErrStoreUnavailable) {
		t.Errorf("Ping after Close = %v, want ErrStoreUnavailable (OpenURL's store owns its client)", err)
	}

	if cl := os.Getenv(testservers.RedisClusterEnv); cl != "" {
		seeds := strings.Split(cl, ",")
		u := "redis+cluster://" + seeds[0] + "?key_prefix=" + prefix
		for _, a := range seeds[1:] {
			u += "&addr=" + a
		}
		c, err := redisstore.OpenURL(t.Context(), u)
		if err != nil {
			t.Fatalf("OpenURL of a cluster: %v", err)
		}
		defer c.Close()
		if err := c.Ping(t.Context()); err != nil {
			t.Error(err)
		}
	}

	for _, tc := range []struct {
		url  string
		want error
	}{
		{"memcached://127.0.0.1:11211", authkit.ErrInvalidConfig},
		{"redis://" + addr + "?key_prefix=%7Bx%7D", authkit.ErrInvalidConfig},
		{"redis+sentinel://127.0.0.1:26379", authkit.ErrInvalidConfig}, // no master_name
		{"redis://" + addr + "?replica_acks=x", authkit.ErrInvalidConfig},
		{"redis://" + addr + "?replica_acks=0", authkit.ErrInvalidConfig},
		{"redis://" + addr + "?replica_ack_timeout=1s", authkit.ErrInvalidConfig}, // no replica_acks
		{"redis://" + addr + "?replica_acks=1&replica_ack_timeout=soon", authkit.ErrInvalidConfig},
		{"redis://user:s3cret@127.0.0.1:6379?no_such_option=1", authkit.ErrInvalidConfig},
		{"redis://user:s3cret@" + closedPort(t) + "/0?dial_timeout=200ms&max_retries=-1", authkit.ErrStoreUnavailable},
		{"redis://user:s3cret@[::1", authkit.ErrInvalidConfig},
		// A pair that does not parse was dropped, key_prefix with it.
		{"redis://user:s3cret@" + addr + "/0?key_prefix=x;y", authkit.ErrInvalidConfig},
		{"redis://user:s3cret@" + addr + "/0?key_prefix=x%zz", authkit.ErrInvalidConfig},
		{"redis://" + addr + "/0?replica_acks=1;replica_ack_timeout=1s", authkit.ErrInvalidConfig},
		// TLS without the certificate's check, on every topology.
		{"rediss://" + addr + "/0?skip_verify=true", authkit.ErrInvalidConfig},
		{"rediss+cluster://" + addr + "?skip_verify=true", authkit.ErrInvalidConfig},
		{"rediss+sentinel://" + addr + "?master_name=m&skip_verify=true", authkit.ErrInvalidConfig},
	} {
		s, err := redisstore.OpenURL(t.Context(), tc.url)
		if !errors.Is(err, tc.want) {
			t.Errorf("OpenURL(%s) = %v, %v; want an error matching %v", tc.url, s, err, tc.want)
		}
		if err != nil && strings.Contains(err.Error(), "s3cret") {
			t.Errorf("OpenURL's error shows the password: %v", err)
		}
	}
}

// TestErrorsNameNoServer: a store error says what went wrong without the
// server's host and port or the user it connected as — go-redis's own
// messages name them ("dial tcp 127.0.0.1:6379: connect: …") — and keeps
// the client's error for errors.As.
func TestErrorsNameNoServer(t *testing.T) {
	addr := testservers.Redis(t)
	refused := closedPort(t)
	host, port, _ := net.SplitHostPort(addr)
	_, refusedPort, _ := net.SplitHostPort(refused)
	for _, tc := range []struct {
		name, url, want string
	}{
		{"refused", "redis://zed_user:s3cret@" + refused + "/0?dial_timeout=2s&max_retries=-1", "connection refused"},
		{"no such user", "redis://zed_user:s3cret@" + addr + "/0?dial_timeout=2s&max_retries=-1", "WRONGPASS"},
		{"no such host", "redis://zed_user:s3cret@zed-host.invalid:6379/0?dial_timeout=2s&max_retries=-1", "lookup"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := redisstore.OpenURL(t.Context(), tc.url)
			if !errors.Is(err, authkit.ErrStoreUnavailable) {
				t.Fatalf("OpenURL = %v, want ErrStoreUnavailable", err)
			}
			msg := err.Error()
			t.Logf("OpenURL: %s", msg)
			if !strings.Contains(msg, tc.want) {
				t.Errorf("the error %q does not say %q", msg, tc.want)
			}
			for _, id := range []string{host, port, refusedPort, "zed_user", "zed-host", "s3cret"} {
				if strings.Contains(msg, id) {
					t.Errorf("the error %q names %q", msg, id)
				}
			}
		})
	}
	_, err := redisstore.OpenURL(t.Context(), "redis://"+refused+"/0?dial_timeout=2s&max_retries=-1")
	if _, ok := errors.AsType[*net.OpError](err); !ok {
		t.Errorf("errors.As does not reach the dial error through %v", err)
	}
}
