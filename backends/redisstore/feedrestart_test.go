package redisstore_test

import (
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/authkit-go/authkit"
	"github.com/authkit-go/authkit/backends/redisstore"
	"github.com/authkit-go/authkit/conformance"
	"github.com/authkit-go/authkit/internal/storetest"
	"github.com/authkit-go/authkit/internal/testservers"
	"github.com/authkit-go/authkit/issuer"
	"github.com/authkit-go/authkit/keys"
	"github.com/authkit-go/authkit/verifier"
)

// TestRevocationFeedServerRestart runs the revocation feed suite on a
// private redis-server that persists every write before answering it
// (appendonly, appendfsync always), whose Reopen kills the server
// (SIGKILL: no save on the way out) and starts it again on the same data:
// the log, its positions and the entries must survive a real restart, not
// only a new client (TestConformanceStandalone's Reopen).
//
// Then a verifier follows the feed with WithRevocationMirror across
// another restart: it must never accept a revoked token and must become
// fresh again.
func TestRevocationFeedServerRestart(t *testing.T) {
	t.Parallel()
	srv := testservers.RestartableRedis(t, "--appendonly", "yes", "--appendfsync", "always", "--save", "")
	admin := standalone(t, srv.Addr())
	connect := func(t testing.TB) redis.UniversalClient { return standalone(t, srv.Addr()) }
	t.Run("Mirror", func(t *testing.T) {
		prefix := testservers.RedisPrefix(t, admin)
		set := storetest.KeySet(t, keys.HS256)
		iss, err := issuer.New(authkit.WithStore(newStore(t, connect(t), prefix)), authkit.WithKeys(set))
		if err != nil {
			t.Fatal(err)
		}
		vrdb := connect(t)
		reads := &revocationReads{}
		vrdb.AddHook(cmdHook(reads.count))
		const maxLag = 2 * time.Second
		v, err := verifier.New(authkit.WithStore(newStore(t, vrdb, prefix)), authkit.WithKeys(set), authkit.WithRevocationMirror(maxLag),
			authkit.WithStoreTimeout(2*time.Second))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = v.Close() })
		storetest.MirrorAcrossRestart(t, iss, v, reads.n.Load, maxLag, func() { srv.Restart(t) })
	})
	conformance.RunRevocationFeed(t, conformance.PartialHarness[authkit.RevocationStore]{
		New: func(t *testing.T) authkit.RevocationStore {
			return newStore(t, connect(t), testservers.RedisPrefix(t, admin))
		},
		Peer: func(t *testing.T, s authkit.RevocationStore) authkit.RevocationStore {
			return newStore(t, connect(t), s.(*redisstore.Store).Prefix())
		},
		Reopen: func(t *testing.T, s authkit.RevocationStore) authkit.RevocationStore {
			old := s.(*redisstore.Store)
			if err := old.Client().Close(); err != nil {
				t.Fatal(err)
			}
			srv.Restart(t)
			return newStore(t, connect(t), old.Prefix())
		},
		Unavailable: func(t *testing.T) authkit.RevocationStore { return unreachable(t) },
		Stalled:     func(t *testing.T) authkit.RevocationStore { return stalledStandalone(t, admin, srv.Addr()) },
	})
}
