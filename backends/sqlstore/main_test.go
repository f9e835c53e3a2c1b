package sqlstore_test

import (
	"testing"

	"github.com/authkit-go/authkit/internal/testservers"
)

// TestMain says once, after the run, which server suites were skipped and
// which variable turns each on (a plain `go test` would print a bare ok).
//
// It lets four parallel tests run at once: the conformance runs
// (PostgreSQL through pgx and through lib/pq, MySQL/MariaDB, SQLite)
// mostly wait on their servers' commits, and ran two at a time. Every
// test of the package is parallel, each in a schema, database or file of
// its own: the others (faults, the feed's trim and positions, the
// EXPLAIN checks, about 100 s under -race) ran one at a time before the
// conformance runs could start.
func TestMain(m *testing.M) { testservers.MainWaiting(m, 4) }
