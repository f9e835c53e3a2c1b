package sqlstore

import (
	"context"
	"fmt"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/authkit-go/authkit/internal/testservers"
)

// BenchmarkRevokeFeedCost measures what the revocation log costs a
// revocation: "upsert" is the single statement RevokeToken ran before the
// feed, "upsert+log" is RevokeToken now (a transaction that takes the next
// log id, appends the change and upserts). "Parallel" runs 8×GOMAXPROCS
// writers, which queue on the counter row.
//
//	go test -run - -bench RevokeFeedCost -benchtime 2s ./backends/sqlstore/
func BenchmarkRevokeFeedCost(b *testing.B) {
	for _, c := range []struct {
		name, driver string
		dsn          func(testing.TB) string
	}{
		{"postgres-pgx", "pgx", testservers.Postgres},
		{"mysql", "mysql", testservers.MySQL},
		{"sqlite", "sqlite", func(t testing.TB) string {
			return filepath.Join(t.TempDir(), "bench.db") + "?_pragma=busy_timeout(10000)&_pragma=journal_mode(WAL)&_pragma=synchronous(NORMAL)"
		}},
	} {
		b.Run(c.name, func(b *testing.B) {
			db, err := sqlx.Open(c.driver, c.dsn(b))
			if err != nil {
				b.Fatal(err)
			}
			b.Cleanup(func() { db.Close() })
			if err := Migrate(b.Context(), db.DB, c.driver); err != nil {
				b.Fatal(err)
			}
			s, err := New(db)
			if err != nil {
				b.Fatal(err)
			}
			until := time.Now().Add(time.Hour)
			var n atomic.Int64
			upsert := func(ctx context.Context) error {
				_, err := s.exec(ctx, s.q.upsertRevocation, "alice", kindJTI, fmt.Sprint("u-", n.Add(1)), micros(until), nil)
				return err
			}
			revoke := func(ctx context.Context) error {
				return s.RevokeToken(ctx, "alice", fmt.Sprint("r-", n.Add(1)), until)
			}
			for _, w := range []struct {
				name string
				fn   func(context.Context) error
			}{{"upsert", upsert}, {"upsert+log", revoke}} {
				b.Run(w.name, func(b *testing.B) {
					for b.Loop() {
						if err := w.fn(b.Context()); err != nil {
							b.Fatal(err)
						}
					}
				})
				b.Run(w.name+"/Parallel", func(b *testing.B) {
					b.SetParallelism(8)
					b.RunParallel(func(pb *testing.PB) {
						for pb.Next() {
							if err := w.fn(b.Context()); err != nil {
								b.Error(err)
								return
							}
						}
					})
				})
			}
		})
	}
}
