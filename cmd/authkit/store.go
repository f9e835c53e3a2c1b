package main

import (
	"context"
	"fmt"
	"regexp"
	"strings"

	"github.com/authkit-go/authkit"
	"github.com/authkit-go/authkit/backends/memory"
	"github.com/authkit-go/authkit/backends/redisstore"
	"github.com/authkit-go/authkit/backends/sqlstore"
)

// openedStore is the store serve runs on.
type openedStore struct {
	store authkit.Store
	// kind names the store for logs, never with credentials.
	kind string
	// close releases it (a connection pool); nil when there is nothing to do.
	close func() error
}

var storeSchemeRE = regexp.MustCompile(`^[a-z][a-z0-9+.-]{0,31}$`)

// storeScheme returns the part of a --store value that names its kind:
// "memory", or the scheme of a URL or DSN ("postgres://…" → "postgres",
// "sqlite:…" → "sqlite"). It never returns the rest, which may hold a
// password.
func storeScheme(spec string) (string, bool) {
	scheme, _, _ := strings.Cut(spec, ":")
	scheme = strings.ToLower(scheme)
	return scheme, storeSchemeRE.MatchString(scheme)
}

// openStore opens the store a --store value names. Each backend is one
// case: the SQL and Redis stores plug in here as they land.
//
// With migrate, a SQL store's migrations are applied first (idempotent, and
// safe when several servers start at once).
func openStore(ctx context.Context, spec string, migrate bool) (openedStore, error) {
	scheme, ok := storeScheme(spec)
	if !ok {
		return openedStore{}, usagef("--store: not a store (want memory, postgres://…, mysql://…, sqlite:… or redis://…)")
	}
	switch scheme {
	case "memory":
		if spec != "memory" && spec != "memory:" {
			return openedStore{}, usagef("--store memory takes no options")
		}
		return openedStore{store: memory.New(), kind: "memory"}, nil
	case "postgres", "postgresql", "mysql", "mariadb", "sqlite", "sqlite3", "file":
		if migrate {
			if err := migrateSQL(ctx, spec); err != nil {
				return openedStore{}, err
			}
		}
		s, err := sqlstore.Open(ctx, spec)
		if err != nil {
			return openedStore{}, fmt.Errorf("--store: %w", err)
		}
		return openedStore{store: s, kind: scheme, close: s.Close}, nil
	case "redis", "rediss", "unix", "redis+cluster", "rediss+cluster", "redis+sentinel", "rediss+sentinel":
		s, err := redisstore.OpenURL(ctx, spec)
		if err != nil {
			return openedStore{}, fmt.Errorf("--store: %w", err)
		}
		return openedStore{store: s, kind: "redis", close: s.Close}, nil
	}
	return openedStore{}, usagef("--store: unknown store kind %s (want memory, postgres://…, mysql://…, sqlite:… or redis://…)", quote(scheme))
}

// migrateSQL applies the SQL store's migrations to the database dsn names.
func migrateSQL(ctx context.Context, dsn string) error {
	db, err := sqlstore.OpenDB(ctx, dsn)
	if err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	defer db.Close()
	if err := sqlstore.Migrate(ctx, db.DB, db.DriverName()); err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	return nil
}
