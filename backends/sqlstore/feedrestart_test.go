package sqlstore_test

import (
	"testing"
	"time"

	"github.com/authkit-go/authkit"
	"github.com/authkit-go/authkit/backends/sqlstore"
	"github.com/authkit-go/authkit/backends/sqlstore/pgxlisten"
	"github.com/authkit-go/authkit/backends/sqlstore/pqlisten"
	"github.com/authkit-go/authkit/conformance"
	"github.com/authkit-go/authkit/internal/storetest"
	"github.com/authkit-go/authkit/internal/testservers"
)

// TestRevocationFeedServerRestart runs the revocation feed suite, and a
// mirror, on a private PostgreSQL (pgx and lib/pq, each with its
// notifications: the LISTEN connection dies with the server) and a
// private MariaDB (polling), each
// of which the test stops as a crash would and starts again on the same
// data: PostgreSQL in an immediate shutdown (no checkpoint: the restart
// replays the write-ahead log), MariaDB killed. The log, its positions and
// the entries must survive a real restart, not only a new pool
// (TestConformance's Reopen), and a mirror following the feed across it
// must never accept a revoked token and must become fresh again.
func TestRevocationFeedServerRestart(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		name   string
		b      backend
		server func(testing.TB) *testservers.DBServer
		opts   func(t *testing.T, srv *testservers.DBServer) []sqlstore.Option
	}{
		{"postgres-pgx-pushed", pgxBackend, testservers.RestartablePostgres, func(*testing.T, *testservers.DBServer) []sqlstore.Option {
			return []sqlstore.Option{sqlstore.WithNotifications(pgxlisten.New())}
		}},
		{"postgres-pq-pushed", pqBackend, testservers.RestartablePostgres, func(t *testing.T, srv *testservers.DBServer) []sqlstore.Option {
			// One listener for every schema: the channel is the table
			// prefix's, so the stores wake each other, which costs a
			// read of the log and nothing else.
			l, err := pqlisten.New(srv.DSN())
			if err != nil {
				t.Fatal(err)
			}
			return []sqlstore.Option{sqlstore.WithNotifications(l)}
		}},
		{"mariadb", mysqlBackend, testservers.RestartableMariaDB, func(*testing.T, *testservers.DBServer) []sqlstore.Option { return nil }},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			srv := c.server(t)
			b := c.b
			b.fresh = srv.Fresh
			opts := c.opts(t, srv)
			h := harness(b, opts...)
			h.TrimFeed = trimFeed(sqlstore.DefaultTablePrefix)
			h.Reopen = func(t *testing.T, s authkit.Store) authkit.Store {
				if err := s.(*sqlstore.Store).DB().Close(); err != nil {
					t.Fatalf("closing the pool: %v", err)
				}
				srv.Restart(t)
				return h.Peer(t, s)
			}
			t.Run("Feed", func(t *testing.T) { conformance.RunRevocationFeed(t, revocationHarness(h)) })
			t.Run("Mirror", func(t *testing.T) {
				const maxLag = 2 * time.Second
				iss, v, counted := mirrorPair(t, b, maxLag, opts, authkit.WithStoreTimeout(2*time.Second))
				storetest.MirrorAcrossRestart(t, iss, v, counted.isRevoked.Load, maxLag, func() { srv.Restart(t) })
			})
		})
	}
}

// revocationHarness is h for the revocation feed suite.
func revocationHarness(h conformance.Harness) conformance.PartialHarness[authkit.RevocationStore] {
	store := func(s authkit.RevocationStore) authkit.Store { return s.(authkit.Store) }
	p := conformance.PartialHarness[authkit.RevocationStore]{
		New:         func(t *testing.T) authkit.RevocationStore { return h.New(t) },
		Peer:        func(t *testing.T, s authkit.RevocationStore) authkit.RevocationStore { return h.Peer(t, store(s)) },
		Reopen:      func(t *testing.T, s authkit.RevocationStore) authkit.RevocationStore { return h.Reopen(t, store(s)) },
		Unavailable: func(t *testing.T) authkit.RevocationStore { return h.Unavailable(t) },
		Stalled:     func(t *testing.T) authkit.RevocationStore { return h.Stalled(t) },
	}
	if h.TrimFeed != nil {
		p.TrimFeed = func(t *testing.T, s authkit.RevocationStore) { h.TrimFeed(t, store(s)) }
	}
	if h.Severable != nil {
		p.Severable = func(t *testing.T, s authkit.RevocationStore) (authkit.RevocationStore, conformance.Link) {
			return h.Severable(t, store(s))
		}
	}
	return p
}
