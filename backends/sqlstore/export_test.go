package sqlstore

import (
	"context"
	"database/sql"
	"time"
)

// SetSQLiteLifetime sets how long a SQLite connection of a pool Open made
// lives, until the test ends.
func SetSQLiteLifetime(t interface{ Cleanup(func()) }, d time.Duration) {
	old := sqliteLifetime
	sqliteLifetime = d
	t.Cleanup(func() { sqliteLifetime = old })
}

// MigrateTo applies the migrations up to version last only, for tests of
// an upgrade from an earlier schema.
func MigrateTo(ctx context.Context, db *sql.DB, driverName string, last int64) error {
	d, err := dialectFor(driverName)
	if err != nil {
		return err
	}
	return migrateTo(ctx, db, d, DefaultTablePrefix, last)
}

// CheckSearchPath is checkSearchPath: Open's refusal of a connection whose
// search_path is not the DSN's (want).
var CheckSearchPath = checkSearchPath

// TableWrite is one entry of tableWrites: the columns the store updates
// on each dialect and the privileges CheckSchema requires (INSERT, UPDATE,
// DELETE).
type TableWrite struct{ PGCols, MySQLCols, Privs []string }

// TableWrites is tableWrites by table name (without the prefix).
func TableWrites() map[string]TableWrite {
	m := make(map[string]TableWrite, len(tableWrites))
	for _, w := range tableWrites {
		m[w.table] = TableWrite{w.cols, w.mysqlCols(), w.privs}
	}
	return m
}
