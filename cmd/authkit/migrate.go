package main

import (
	"context"
	"fmt"
)

// migrate runs "authkit migrate": the SQL store's schema migrations.
func (c *cli) migrate(ctx context.Context, args []string) error {
	fs := c.newFlagSet("migrate", "authkit migrate --store DSN", `
Apply the database schema of a SQL store (backends/sqlstore): PostgreSQL
(postgres://…), MySQL/MariaDB (mysql://…) or SQLite (sqlite:PATH). It is
idempotent and takes a database lock, so it is safe to run when several
servers start at once. The same migrations ship as plain .sql files in
backends/sqlstore/migrations for goose, golang-migrate and the like. The
memory and Redis stores need no migration.

--store and AUTHKIT_STORE are the same as for authkit serve; the old
spellings --dsn and AUTHKIT_DSN are still accepted but deprecated.`)
	store := addStoreFlags(fs, "", "the SQL store's `DSN`, as for serve --store")
	pos, err := parseArgs(fs, args)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return usagef("migrate takes no arguments")
	}
	dsn, warning, err := store.resolve(c, fs)
	if err != nil {
		return err
	}
	if warning != "" {
		fmt.Fprintf(c.stderr, "authkit migrate: warning: %s\n", warning)
	}
	if dsn == "" {
		return usagef("migrate needs --store (or AUTHKIT_STORE)")
	}
	switch scheme, _ := storeScheme(dsn); scheme {
	case "postgres", "postgresql", "mysql", "mariadb", "sqlite", "sqlite3", "file":
	default:
		return usagef("migrate: --store must be a SQL store (postgres://…, mysql://…, sqlite:PATH); memory and Redis need no migration")
	}
	if err := migrateSQL(ctx, dsn, c.stderrLogger()); err != nil {
		return err
	}
	fmt.Fprintln(c.stdout, "migrations applied")
	return nil
}
