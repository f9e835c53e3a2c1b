package sqlstore

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/authkit-go/authkit"
	"github.com/authkit-go/authkit/internal/testservers"
	"github.com/authkit-go/authkit/issuer"
	"github.com/authkit-go/authkit/keys"
)

// BenchmarkRotation measures a refresh against the cheapest write the same
// server does, side by side in one run, on each dialect:
//
//   - RawInsert: one single-row INSERT, outside any explicit transaction,
//     of a row the size of a refresh record (a 32-byte key, two short
//     strings, two BIGINTs) into a scratch table: one round trip and one
//     commit, the floor of any durable write;
//   - RotateRefresh: the store's rotation alone, of a chain of tokens;
//   - Refresh/EdDSA: issuer.Refresh of the current token (a rotation in
//     the store plus an EdDSA-signed access token), as an application
//     sees it;
//   - Refresh/EdDSA/tx: the same with the rotation forced onto the
//     transaction of four statements (what every dialect ran before
//     migration 0003, and SQLite still runs);
//
// each reporting ops/s; and Interleaved, which runs the three in turn in
// each iteration and reports each one's time per call and the ratios of
// throughput, refresh/raw (the figure the issue asks for: ≥ 0.8 on
// PostgreSQL) and refresh-tx/raw, robust to load that comes and goes
// during the run. Interleaved rotates one session, so that its row is
// updated on every iteration; InterleavedPool rotates rotationPool sessions
// in turn, closer to a server with many clients:
//
//	go test -run - -bench Rotation -benchtime 2s -count 3 ./backends/sqlstore/
func BenchmarkRotation(b *testing.B) {
	for _, c := range []struct {
		name, driver string
		dsn          func(testing.TB) string
		scratch      string
	}{
		{"postgres-pgx", "pgx", testservers.Postgres,
			`CREATE TABLE bench_raw (k BYTEA PRIMARY KEY, a TEXT NOT NULL, b TEXT NOT NULL, c BIGINT NOT NULL, d BIGINT NOT NULL)`},
		{"mysql", "mysql", interpolated(testservers.MySQL), // as Open does
			`CREATE TABLE bench_raw (k BINARY(32) PRIMARY KEY, a VARBINARY(255) NOT NULL, b VARBINARY(1024) NOT NULL, c BIGINT NOT NULL, d BIGINT NOT NULL) ENGINE = InnoDB`},
		{"sqlite", "sqlite", func(t testing.TB) string {
			return filepath.Join(t.TempDir(), "bench.db") + "?_pragma=busy_timeout(10000)&_pragma=journal_mode(WAL)&_pragma=synchronous(NORMAL)"
		}, `CREATE TABLE bench_raw (k BLOB PRIMARY KEY, a TEXT NOT NULL, b TEXT NOT NULL, c INTEGER NOT NULL, d INTEGER NOT NULL)`},
	} {
		b.Run(c.name, func(b *testing.B) {
			db, err := sqlx.Open(c.driver, c.dsn(b))
			if err != nil {
				b.Fatal(err)
			}
			b.Cleanup(func() { db.Close() })
			ctx := context.Background()
			if err := Migrate(ctx, db.DB, c.driver); err != nil {
				b.Fatal(err)
			}
			if _, err := db.ExecContext(ctx, c.scratch); err != nil {
				b.Fatal(err)
			}
			s, err := New(db)
			if err != nil {
				b.Fatal(err)
			}
			insert := sqlx.Rebind(s.d.bind, `INSERT INTO bench_raw (k, a, b, c, d) VALUES (?, ?, ?, ?, ?)`)
			var seq uint64
			b.Run("RawInsert", func(b *testing.B) {
				now := time.Now().UnixMicro()
				b.ReportAllocs()
				for b.Loop() {
					seq++
					var k [8]byte
					binary.BigEndian.PutUint64(k[:], seq)
					h := sha256.Sum256(k[:])
					if _, err := s.db.ExecContext(ctx, insert, h[:], "0123456789abcdef0123456789abcdef", "user-1234567890", now, now); err != nil {
						b.Fatal(err)
					}
				}
				opsPerSec(b)
			})
			refresh := func(b *testing.B, st authkit.Store) {
				iss := rotationIssuer(b, st)
				pair, err := iss.IssuePair(ctx, "user-1234567890", issuer.WithScopes("read", "write"))
				if err != nil {
					b.Fatal(err)
				}
				b.ReportAllocs()
				for b.Loop() {
					if pair, err = iss.Refresh(ctx, pair.RefreshToken); err != nil {
						b.Fatal(err)
					}
				}
				opsPerSec(b)
			}
			b.Run("RotateRefresh", func(b *testing.B) {
				now := time.Now()
				hash := func(i uint64) authkit.TokenHash {
					var k [8]byte
					binary.BigEndian.PutUint64(k[:], i)
					return sha256.Sum256(k[:])
				}
				seq++
				id := fmt.Sprint("bench-", seq)
				cur := hash(seq)
				sess := authkit.Session{ID: id, Subject: "user-1234567890", ClientID: "web", Scopes: []string{"read", "write"},
					CreatedAt: now, LastUsedAt: now, ExpiresAt: now.Add(90 * 24 * time.Hour), IdleExpiresAt: now.Add(time.Hour)}
				if err := s.CreateSession(ctx, sess, authkit.RefreshRecord{Hash: cur, SessionID: id, Subject: sess.Subject,
					IssuedAt: now, ExpiresAt: now.Add(time.Hour)}); err != nil {
					b.Fatal(err)
				}
				sealed := make([]byte, 80)
				b.ReportAllocs()
				for b.Loop() {
					seq++
					next := hash(seq)
					if _, err := s.RotateRefresh(ctx, authkit.Rotation{Old: cur, Next: next, NextExpiresAt: now.Add(time.Hour),
						Successor: sealed, Now: now}); err != nil {
						b.Fatal(err)
					}
					cur = next
				}
				opsPerSec(b)
			})
			b.Run("Refresh/EdDSA", func(b *testing.B) { refresh(b, s) })
			// Interleaved: each iteration runs a raw insert, a refresh and,
			// where the dialect has the routine, a refresh through the
			// transaction, timing each apart, so that a neighbour's load
			// (a shared disk's fsync above all) weighs on the three alike.
			// Interleaved rotates one session over and over (each rotation
			// updates the same session row); InterleavedPool spreads the
			// rotations over many sessions in turn, as many clients do.
			b.Run("Interleaved", func(b *testing.B) { interleaved(b, db, s, insert, &seq, 1) })
			b.Run("InterleavedPool", func(b *testing.B) { interleaved(b, db, s, insert, &seq, rotationPool) })
			b.Run("Refresh/EdDSA/tx", func(b *testing.B) {
				if s.q.rotateCall == "" {
					b.Skip("the dialect always rotates with the transaction")
				}
				tx, err := New(db)
				if err != nil {
					b.Fatal(err)
				}
				tx.q.rotateCall = ""
				refresh(b, tx)
			})
		})
	}
}

// rotationPool is how many sessions InterleavedPool rotates in turn.
const rotationPool = 256

// interleaved runs a raw insert, a refresh and (where the dialect has the
// rotation routine) a refresh through the transaction in each iteration,
// over sessions sessions in turn, and reports each one's time per call and
// the throughput ratios refresh/raw and refresh-tx/raw.
func interleaved(b *testing.B, db *sqlx.DB, s *Store, insert string, seq *uint64, sessions int) {
	ctx := context.Background()
	iss := rotationIssuer(b, s)
	pairs := make([]authkit.TokenPair, sessions)
	for i := range pairs {
		p, err := iss.IssuePair(ctx, "user-1234567890", issuer.WithScopes("read", "write"))
		if err != nil {
			b.Fatal(err)
		}
		pairs[i] = p
	}
	var (
		txIss   *issuer.Issuer
		txPairs []authkit.TokenPair
	)
	if s.q.rotateCall != "" {
		tx, err := New(db)
		if err != nil {
			b.Fatal(err)
		}
		tx.q.rotateCall = ""
		txIss = rotationIssuer(b, tx)
		txPairs = make([]authkit.TokenPair, sessions)
		for i := range txPairs {
			if txPairs[i], err = txIss.IssuePair(ctx, "user-1234567890", issuer.WithScopes("read", "write")); err != nil {
				b.Fatal(err)
			}
		}
	}
	now := time.Now().UnixMicro()
	var (
		raw, ref, txRef time.Duration
		i               int
		err             error
	)
	for b.Loop() {
		*seq++
		var k [8]byte
		binary.BigEndian.PutUint64(k[:], *seq)
		h := sha256.Sum256(k[:])
		t0 := time.Now()
		if _, err := s.db.ExecContext(ctx, insert, h[:], "0123456789abcdef0123456789abcdef", "user-1234567890", now, now); err != nil {
			b.Fatal(err)
		}
		t1 := time.Now()
		if pairs[i], err = iss.Refresh(ctx, pairs[i].RefreshToken); err != nil {
			b.Fatal(err)
		}
		t2 := time.Now()
		raw += t1.Sub(t0)
		ref += t2.Sub(t1)
		if txIss != nil {
			if txPairs[i], err = txIss.Refresh(ctx, txPairs[i].RefreshToken); err != nil {
				b.Fatal(err)
			}
			txRef += time.Since(t2)
		}
		if i++; i == sessions {
			i = 0
		}
	}
	n := float64(b.N)
	b.ReportMetric(raw.Seconds()*1e6/n, "raw-µs/op")
	b.ReportMetric(ref.Seconds()*1e6/n, "refresh-µs/op")
	b.ReportMetric(raw.Seconds()/ref.Seconds(), "refresh/raw")
	if txIss != nil {
		b.ReportMetric(txRef.Seconds()*1e6/n, "refresh-tx-µs/op")
		b.ReportMetric(raw.Seconds()/txRef.Seconds(), "refresh-tx/raw")
	}
}

// opsPerSec reports the loop's rate, the unit the ratios are taken in.
func opsPerSec(b *testing.B) {
	if d := b.Elapsed(); d > 0 {
		b.ReportMetric(float64(b.N)/d.Seconds(), "ops/s")
	}
}

// rotationIssuer is an issuer over st that signs with a fresh Ed25519 key
// (the default of authkit serve).
func rotationIssuer(b *testing.B, st authkit.Store) *issuer.Issuer {
	b.Helper()
	k, err := keys.Generate(keys.EdDSA)
	if err != nil {
		b.Fatal(err)
	}
	set, err := keys.NewSet(k)
	if err != nil {
		b.Fatal(err)
	}
	iss, err := issuer.New(authkit.WithKeys(set), authkit.WithStore(st), authkit.WithIssuer("https://auth.example.com"),
		authkit.WithAudience("api"))
	if err != nil {
		b.Fatal(fmt.Errorf("issuer.New: %w", err))
	}
	return iss
}
