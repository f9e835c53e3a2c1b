package main

import (
	"context"
	"errors"
)

// migrate runs "authkit migrate": a placeholder until the SQL backend lands.
func (c *cli) migrate(ctx context.Context, args []string) error {
	fs := c.newFlagSet("migrate", "authkit migrate", `
Apply the database schema of a SQL store. Migrations arrive with the SQL
backend (backends/sqlstore); the memory store needs none. Until then this
command only says so and exits with status 1.`)
	if _, err := parseArgs(fs, args); err != nil {
		return err
	}
	return errors.New("migrations arrive with the SQL backend (backends/sqlstore), which is not in this build yet; the memory store needs no migration")
}
