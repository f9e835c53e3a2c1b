package main

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"strings"

	"github.com/authkit-go/authkit"
	"github.com/authkit-go/authkit/backends/memory"
)

// errStoreNotInBuild reports a --store whose backend has not landed yet.
var errStoreNotInBuild = errors.New("this store is not available in this build yet")

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
func openStore(ctx context.Context, spec string) (openedStore, error) {
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
	case "postgres", "postgresql":
		return notInBuild("PostgreSQL", "backends/sqlstore")
	case "mysql", "mariadb":
		return notInBuild("MySQL/MariaDB", "backends/sqlstore")
	case "sqlite", "sqlite3", "file":
		return notInBuild("SQLite", "backends/sqlstore")
	case "redis", "rediss", "redis+sentinel", "redis+cluster":
		return notInBuild("Redis", "backends/redisstore")
	}
	return openedStore{}, usagef("--store: unknown store kind %s (want memory, postgres://…, mysql://…, sqlite:… or redis://…)", quote(scheme))
}

func notInBuild(what, pkg string) (openedStore, error) {
	return openedStore{}, fmt.Errorf("--store: the %s store: %w (it arrives with %s); use --store memory for now", what, errStoreNotInBuild, pkg)
}
