package sqlstore_test

import (
	"testing"

	"github.com/authkit-go/authkit/backends/sqlstore"
	"github.com/authkit-go/authkit/conformance"
)

// TestConformance runs the whole conformance suite on PostgreSQL through
// pgx and through lib/pq and on MySQL/MariaDB, one after the other, each
// New in its own schema or database, with a second pool as Peer.
//
// The MySQL run uses another table prefix than the default, so that every
// statement and the migrations are seen to honour WithTablePrefix without
// a fifth run (the statements are the same on every dialect but for a few
// words; the other tests use the default prefix on MySQL).
//
// It runs in parallel with TestConformanceSQLite only: SQLite needs no
// server, and its CPU-bound run (slow under -race, where the transpiled C
// of modernc.org/sqlite is instrumented) overlaps the networked runs'
// waits on their servers.
func TestConformance(t *testing.T) {
	t.Parallel()
	for _, b := range []backend{pgxBackend, pqBackend, mysqlBackend} {
		t.Run(b.name, func(t *testing.T) {
			b.fresh(t) // skips (or fails, under AUTHKIT_REQUIRE_BACKENDS=1) once when there is no server
			var opts []sqlstore.Option
			if b.driver == "mysql" {
				opts = append(opts, sqlstore.WithTablePrefix("ak2_"))
			}
			conformance.Run(t, harness(b, opts...))
		})
	}
}

// TestConformanceSQLite runs the suite on SQLite files, each New its own
// file in a temporary directory.
func TestConformanceSQLite(t *testing.T) {
	t.Parallel()
	conformance.Run(t, harness(sqliteBackend))
}
