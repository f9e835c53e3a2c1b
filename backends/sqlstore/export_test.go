package sqlstore

import (
	"context"
	"database/sql"
)

// MigrateTo applies the migrations up to version last only, for tests of
// an upgrade from an earlier schema.
func MigrateTo(ctx context.Context, db *sql.DB, driverName string, last int64) error {
	d, err := dialectFor(driverName)
	if err != nil {
		return err
	}
	return migrateTo(ctx, db, d, DefaultTablePrefix, last)
}
