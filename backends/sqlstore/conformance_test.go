package sqlstore_test

import (
	"testing"

	"github.com/authkit-go/authkit"
	"github.com/authkit-go/authkit/backends/sqlstore"
	"github.com/authkit-go/authkit/conformance"
)

// TestConformance runs the whole conformance suite on PostgreSQL through
// pgx and through lib/pq and on MySQL/MariaDB, the three at once (each
// mostly waits on its server: one after the other took most of CI's 15
// minutes under -race), each New in its own schema or database, with a
// second pool as Peer.
//
// The MySQL run uses another table prefix than the default, so that every
// statement and the migrations are seen to honour WithTablePrefix without
// a fifth run (the statements are the same on every dialect but for a few
// words; the other tests use the default prefix on MySQL).
//
// It runs in parallel with TestConformanceSQLite too: SQLite needs no
// server, and its CPU-bound run (slow under -race, where the transpiled C
// of modernc.org/sqlite is instrumented) overlaps the networked runs'
// waits on their servers.
//
// Every run includes the data-loss checks ("DataLoss/…", with
// Harness.LoseData truncating the store's revocations table): under a
// second each, and the loss path is where the drivers differ (a NULL read
// back, a SELECT pg_notify run as a statement in a transaction).
func TestConformance(t *testing.T) {
	t.Parallel()
	for _, b := range []backend{pgxBackend, pqBackend, mysqlBackend} {
		t.Run(b.name, func(t *testing.T) {
			t.Parallel()
			b.fresh(t) // skips (or fails, under AUTHKIT_REQUIRE_BACKENDS=1) once when there is no server
			prefix := sqlstore.DefaultTablePrefix
			var opts []sqlstore.Option
			if b.driver == "mysql" {
				prefix = "ak2_"
				opts = append(opts, sqlstore.WithTablePrefix(prefix))
			}
			h := harness(b, opts...)
			h.LoseData = loseData(prefix)
			h.TrimFeed = trimFeed(prefix)
			if b.driver == "postgres" {
				// lib/pq runs the suite on the PostgreSQL the pgx run
				// checks at the default scale: its Scale checks take
				// the fewest records (CI time: a minute of the
				// package's run under -race).
				h.ScaleRecords = conformance.MinScaleRecords
			}
			conformance.Run(t, h)
		})
	}
}

// TestConformanceSQLite runs the suite on SQLite files, each New its own
// file in a temporary directory.
func TestConformanceSQLite(t *testing.T) {
	t.Parallel()
	h := harness(sqliteBackend)
	h.LoseData = loseData(sqlstore.DefaultTablePrefix)
	h.TrimFeed = trimFeed(sqlstore.DefaultTablePrefix)
	if raceEnabled {
		// The race detector instruments the whole pure-Go engine: the
		// Scale checks took three minutes of the package's run at the
		// default scale. Without -race they run at it.
		h.ScaleRecords = conformance.MinScaleRecords
	}
	conformance.Run(t, h)
}

// loseData is a Harness.LoseData: it empties the store's revocations
// table (tables prefixed prefix) as an operator's TRUNCATE, or a restore
// of a backup taken before the table held anything, would (SQLite has no
// TRUNCATE: DELETE FROM), with every handle left open. The revocation
// log and the feed row survive, as they do when only that table is lost.
func loseData(prefix string) func(t *testing.T, s authkit.Store) {
	return func(t *testing.T, s authkit.Store) {
		t.Helper()
		db := s.(*sqlstore.Store).DB()
		stmt := "TRUNCATE TABLE " + prefix + "revocations"
		if db.DriverName() == "sqlite" {
			stmt = "DELETE FROM " + prefix + "revocations"
		}
		if _, err := db.ExecContext(t.Context(), stmt); err != nil {
			t.Fatalf("LoseData: %s: %v", stmt, err)
		}
	}
}

// trimFeed is a Harness.TrimFeed: it deletes every row of the store's
// revocation log (tables prefixed prefix), as WithFeedRetention's trim
// does with old ones.
func trimFeed(prefix string) func(t *testing.T, s authkit.Store) {
	return func(t *testing.T, s authkit.Store) {
		t.Helper()
		stmt := "DELETE FROM " + prefix + "revocation_log"
		if _, err := s.(*sqlstore.Store).DB().ExecContext(t.Context(), stmt); err != nil {
			t.Fatalf("TrimFeed: %s: %v", stmt, err)
		}
	}
}
