package sqlstore_test

// The package links no driver; its tests register the four it supports,
// as an application imports the one it uses.
import (
	_ "github.com/go-sql-driver/mysql"
	_ "github.com/jackc/pgx/v5/stdlib"
	_ "github.com/lib/pq"
	_ "modernc.org/sqlite"
)
