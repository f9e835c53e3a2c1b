package sqlstore

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"testing"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/authkit-go/authkit/backends/memory"
	"github.com/authkit-go/authkit/internal/storetest"
	"github.com/authkit-go/authkit/internal/testservers"
)

// BenchmarkAppendOnlySketch measures what a rotation could cost under a
// different RefreshStore contract, not the store's: an append-only one,
// where a refresh token carries its session ("family") and generation
// under the issuer's MAC instead of being looked up by hash, and a
// rotation is a single INSERT of the (family, generation) pair it spends
// (its primary key detects reuse), guarded by index probes of the
// family's revocation and the subject's cutoff, with no session row to
// update. Each iteration runs, in turn, the raw one-row INSERT of
// BenchmarkRotation and that INSERT followed by the access token's mint
// (issuer.IssueAccessToken over an in-process store: an EdDSA signature
// and its claims), and reports the ratio of throughputs (sketch/raw), the
// figure issue 9's target asks for. docs/performance.md has the results
// and what the sketch leaves out.
//
//	go test -run - -bench AppendOnlySketch -benchtime 2s -count 3 ./backends/sqlstore/
func BenchmarkAppendOnlySketch(b *testing.B) {
	for _, c := range []struct {
		name, driver string
		dsn          func(testing.TB) string
		schema       []string
		spend        string
	}{
		{"postgres-pgx", "pgx", testservers.Postgres, []string{
			`CREATE TABLE bench_raw (k BYTEA PRIMARY KEY, a TEXT NOT NULL, b TEXT NOT NULL, c BIGINT NOT NULL, d BIGINT NOT NULL)`,
			`CREATE TABLE bench_spent (family BYTEA NOT NULL, gen INT NOT NULL, successor BYTEA NOT NULL, used_at BIGINT NOT NULL, PRIMARY KEY (family, gen))`,
			`CREATE TABLE bench_revfam (family BYTEA PRIMARY KEY, until_us BIGINT NOT NULL)`,
			`CREATE TABLE bench_cutoff (subject TEXT PRIMARY KEY, cutoff BIGINT NOT NULL)`,
		}, `INSERT INTO bench_spent (family, gen, successor, used_at)
SELECT $1, $2, $3, $4
WHERE NOT EXISTS (SELECT 1 FROM bench_revfam r WHERE r.family = $1 AND r.until_us > $4)
  AND NOT EXISTS (SELECT 1 FROM bench_cutoff c WHERE c.subject = $5 AND c.cutoff > $6)
ON CONFLICT DO NOTHING`},
		{"mysql", "mysql", interpolated(testservers.MySQL), []string{
			`CREATE TABLE bench_raw (k BINARY(32) PRIMARY KEY, a VARBINARY(255) NOT NULL, b VARBINARY(1024) NOT NULL, c BIGINT NOT NULL, d BIGINT NOT NULL) ENGINE = InnoDB`,
			`CREATE TABLE bench_spent (family BINARY(16) NOT NULL, gen INT NOT NULL, successor VARBINARY(255) NOT NULL, used_at BIGINT NOT NULL, PRIMARY KEY (family, gen)) ENGINE = InnoDB`,
			`CREATE TABLE bench_revfam (family BINARY(16) PRIMARY KEY, until_us BIGINT NOT NULL) ENGINE = InnoDB`,
			`CREATE TABLE bench_cutoff (subject VARBINARY(255) PRIMARY KEY, cutoff BIGINT NOT NULL) ENGINE = InnoDB`,
		}, `INSERT IGNORE INTO bench_spent (family, gen, successor, used_at)
SELECT ?, ?, ?, ? FROM DUAL
WHERE NOT EXISTS (SELECT 1 FROM bench_revfam r WHERE r.family = ? AND r.until_us > ?)
  AND NOT EXISTS (SELECT 1 FROM bench_cutoff c WHERE c.subject = ? AND c.cutoff > ?)`},
	} {
		b.Run(c.name, func(b *testing.B) {
			db, err := sqlx.Open(c.driver, c.dsn(b))
			if err != nil {
				b.Fatal(err)
			}
			b.Cleanup(func() { db.Close() })
			ctx := context.Background()
			for _, t := range []string{"bench_raw", "bench_spent", "bench_revfam", "bench_cutoff"} {
				if _, err := db.ExecContext(ctx, "DROP TABLE IF EXISTS "+t); err != nil {
					b.Fatal(err)
				}
			}
			for _, q := range c.schema {
				if _, err := db.ExecContext(ctx, q); err != nil {
					b.Fatal(err)
				}
			}
			// Revocations and cutoffs in force, so that the probes read a
			// real index.
			for i := range 2000 {
				fam := sha256.Sum256(fmt.Appendf(nil, "revoked-%d", i))
				if _, err := db.ExecContext(ctx, db.Rebind(`INSERT INTO bench_revfam (family, until_us) VALUES (?, ?)`), fam[:16], int64(1)<<62); err != nil {
					b.Fatal(err)
				}
				if _, err := db.ExecContext(ctx, db.Rebind(`INSERT INTO bench_cutoff (subject, cutoff) VALUES (?, ?)`), fmt.Sprint("user-", i), 1); err != nil {
					b.Fatal(err)
				}
			}
			iss := rotationIssuer(b, memory.New())
			raw := db.Rebind(`INSERT INTO bench_raw (k, a, b, c, d) VALUES (?, ?, ?, ?, ?)`)
			successor := make([]byte, 83)
			var seq uint64
			key := func() [32]byte {
				seq++
				var k [8]byte
				binary.BigEndian.PutUint64(k[:], seq)
				return sha256.Sum256(k[:])
			}
			var rawT, sketchT time.Duration
			b.ReportAllocs()
			for b.Loop() {
				now := time.Now().UnixMicro()
				t0 := time.Now()
				h := key()
				if _, err := db.ExecContext(ctx, raw, h[:], "0123456789abcdef0123456789abcdef", "user-1234567890", now, now); err != nil {
					b.Fatal(err)
				}
				t1 := time.Now()
				fam := key()
				args := []any{fam[:16], 1, successor, now, "user-1234567890", now}
				if c.driver == "mysql" {
					args = []any{fam[:16], 1, successor, now, fam[:16], now, "user-1234567890", now}
				}
				res, err := db.ExecContext(ctx, c.spend, args...)
				if err != nil {
					b.Fatal(err)
				}
				if n, err := res.RowsAffected(); err != nil || n != 1 {
					b.Fatalf("the spend inserted %d rows (%v), want 1", n, err)
				}
				if _, err := iss.IssueAccessToken(ctx, "user-1234567890"); err != nil {
					b.Fatal(err)
				}
				t2 := time.Now()
				rawT += t1.Sub(t0)
				sketchT += t2.Sub(t1)
			}
			storetest.ReportSketch(b, rawT, sketchT)
		})
	}
}
