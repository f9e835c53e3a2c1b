package sqlstore_test

import (
	"crypto/sha256"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/authkit-go/authkit"
	"github.com/authkit-go/authkit/backends/memory"
	"github.com/authkit-go/authkit/backends/sqlstore"
	"github.com/authkit-go/authkit/backends/sqlstore/pgxlisten"
	"github.com/authkit-go/authkit/conformance"
	"github.com/authkit-go/authkit/internal/storetest"
)

// BenchmarkStore runs the store benchmarks every backend shares on
// PostgreSQL, through pgx and through lib/pq.
func BenchmarkStore(b *testing.B) {
	for _, bk := range []backend{pgxBackend, pqBackend} {
		b.Run(bk.name, func(b *testing.B) {
			conformance.Bench(b, func(b *testing.B) authkit.Store {
				s, _ := newStore(b, bk)
				return s
			})
		})
	}
}

// BenchmarkFlows measures what an application sees (storetest.BenchFlows)
// with the memory store and with PostgreSQL (pgx) side by side, in one run.
func BenchmarkFlows(b *testing.B) {
	storetest.BenchFlows(b, []storetest.NamedStore{
		storetest.Memory(),
		{Name: "postgres", Open: func(b *testing.B) authkit.Store { s, _ := newStore(b, pgxBackend); return s }},
	})
}

// BenchmarkPropagation measures how long a revocation takes to reach a
// verifier's revocation mirror over a second pool (storetest.BenchPropagation),
// with the memory store beside it; run with -benchtime 200x. "postgres"
// is pushed: the verifier's store has WithNotifications (pgxlisten over
// its pool), as authkit serve runs it; "postgres-polling" is the same
// without, polling every DefaultFeedPollInterval as MySQL and SQLite do.
func BenchmarkPropagation(b *testing.B) {
	paired := func(bk backend, opts ...sqlstore.Option) func(b *testing.B) (authkit.Store, authkit.Store) {
		return func(b *testing.B) (authkit.Store, authkit.Store) {
			s, dsn := newStore(b, bk)
			peer, err := sqlstore.New(openDB(b, bk, dsn), opts...)
			if err != nil {
				b.Fatal(err)
			}
			b.Cleanup(func() { _ = peer.Close() })
			return s, peer
		}
	}
	mem := func(*testing.B) (authkit.Store, authkit.Store) { s := memory.New(); return s, s }
	storetest.BenchPropagation(b, []storetest.PairedStore{
		{Name: "memory", Open: mem},
		{Name: "postgres", Open: paired(pgxBackend, sqlstore.WithNotifications(pgxlisten.New()))},
		{Name: "postgres-polling", Open: paired(pgxBackend)},
		{Name: "mysql", Open: paired(mysqlBackend)},
		{Name: "sqlite", Open: paired(sqliteBackend)},
	})
}

// BenchmarkSQLiteWrite measures concurrent writes to one SQLite file
// through one pool, from 8×GOMAXPROCS goroutines: revocations (one
// statement each) and logins (a transaction of two inserts).
func BenchmarkSQLiteWrite(b *testing.B) {
	s, _ := newStore(b, sqliteBackend)
	ctx := b.Context()
	now := time.Now()
	var n atomic.Int64
	b.Run("RevokeToken/Parallel", func(b *testing.B) {
		b.ReportAllocs()
		b.SetParallelism(8)
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if err := s.RevokeToken(ctx, "alice", fmt.Sprintf("jti-%d", n.Add(1)), now.Add(time.Hour)); err != nil {
					b.Error(err)
					return
				}
			}
		})
	})
	b.Run("CreateSession/Parallel", func(b *testing.B) {
		b.ReportAllocs()
		b.SetParallelism(8)
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				id := fmt.Sprintf("s-%d", n.Add(1))
				sess := authkit.Session{ID: id, Subject: "alice", CreatedAt: now, LastUsedAt: now,
					ExpiresAt: now.Add(time.Hour), IdleExpiresAt: now.Add(time.Hour)}
				first := authkit.RefreshRecord{Hash: sha256.Sum256([]byte(id)), SessionID: id, Subject: "alice",
					IssuedAt: now, ExpiresAt: now.Add(time.Hour)}
				if err := s.CreateSession(ctx, sess, first); err != nil {
					b.Error(err)
					return
				}
			}
		})
	})
}
