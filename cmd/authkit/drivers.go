package main

// backends/sqlstore links no database driver, as database/sql itself does
// not: a program links only the driver it imports. authkit serve and
// authkit migrate open whatever database --store names, so the command
// imports all four drivers the store supports.
import (
	_ "github.com/go-sql-driver/mysql" // mysql://, mariadb://
	_ "github.com/jackc/pgx/v5/stdlib" // postgres:// (driver "pgx", the default)
	_ "github.com/lib/pq"              // postgres:// with sqlstore.WithDriver("postgres")
	_ "modernc.org/sqlite"             // sqlite:
)
