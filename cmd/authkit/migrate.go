package main

import (
	"context"
	"fmt"
)

// migrate runs "authkit migrate": the SQL store's schema migrations.
func (c *cli) migrate(ctx context.Context, args []string) error {
	fs := c.newFlagSet("migrate", "authkit migrate --dsn DSN", `
Apply the database schema of a SQL store (backends/sqlstore): PostgreSQL
(postgres://…), MySQL/MariaDB (mysql://…) or SQLite (sqlite:PATH). It is
idempotent and takes a database lock, so it is safe to run when several
servers start at once. The same migrations ship as plain .sql files in
backends/sqlstore/migrations for goose, golang-migrate and the like. The
memory and Redis stores need no migration.`)
	var dsn string
	fs.StringVar(&dsn, "dsn", "", "the database `DSN`, as for serve --store (env AUTHKIT_DSN)")
	pos, err := parseArgs(fs, args)
	if err != nil {
		return err
	}
	if err := c.applyEnv(fs, "dsn"); err != nil {
		return err
	}
	if len(pos) > 0 {
		return usagef("migrate takes no arguments")
	}
	if dsn == "" {
		return usagef("migrate needs --dsn (or AUTHKIT_DSN)")
	}
	switch scheme, _ := storeScheme(dsn); scheme {
	case "postgres", "postgresql", "mysql", "mariadb", "sqlite", "sqlite3", "file":
	default:
		return usagef("migrate: --dsn must be a SQL store (postgres://…, mysql://…, sqlite:PATH)")
	}
	if err := migrateSQL(ctx, dsn); err != nil {
		return err
	}
	fmt.Fprintln(c.stdout, "migrations applied")
	return nil
}
