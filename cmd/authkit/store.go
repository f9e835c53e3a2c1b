package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"regexp"
	"strings"
	"time"

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
// case: memory, SQL (postgres, mysql, sqlite) and Redis. The database
// drivers log through log (see drivers.go).
//
// With migrate, a SQL store's migrations are applied first (idempotent, and
// safe when several servers start at once).
func openStore(ctx context.Context, spec string, migrate bool, log *slog.Logger) (openedStore, error) {
	scheme, ok := storeScheme(spec)
	if !ok {
		return openedStore{}, usagef("--store: not a store (want memory, postgres://…, mysql://…, sqlite:… or redis://…)")
	}
	switch scheme {
	case "memory":
		if spec != "memory" && spec != "memory:" {
			return openedStore{}, usagef("--store memory takes no options")
		}
		// Its revocations die with the process while keys from --keys
		// outlive it: refuse every token issued before this start, so a
		// restart never un-revokes one (authkit.ErrDataLoss).
		return openedStore{store: memory.New(memory.WithEpoch(time.Now())), kind: "memory"}, nil
	case "postgres", "postgresql", "mysql", "mariadb", "sqlite", "sqlite3", "file":
		if migrate {
			if err := migrateSQL(ctx, spec, log); err != nil {
				return openedStore{}, err
			}
		}
		// Connecting and checking the schema under a deadline: a database
		// that accepts the connection and then stalls fails the start
		// instead of hanging it (the store keeps no part of this ctx).
		openCtx, cancel := context.WithTimeout(ctx, storeOpenTimeout)
		defer cancel()
		s, err := sqlstore.Open(openCtx, spec, sqlOptions(log)...)
		if err != nil {
			return openedStore{}, fmt.Errorf("--store: %w", err)
		}
		return openedStore{store: s, kind: scheme, close: s.Close}, nil
	case "redis", "rediss", "unix", "redis+cluster", "rediss+cluster", "redis+sentinel", "rediss+sentinel":
		remove := redisLogs.add(log)
		s, err := redisstore.OpenURL(ctx, spec)
		if err != nil {
			remove()
			return openedStore{}, fmt.Errorf("--store: %w", err)
		}
		return openedStore{store: s, kind: "redis", close: func() error {
			defer remove()
			return s.Close()
		}}, nil
	}
	return openedStore{}, usagef("--store: unknown store kind %s (want memory, postgres://…, mysql://…, sqlite:… or redis://…)", quote(scheme))
}

// persistenceCheckTimeout bounds serve's start-up check of a Redis
// store's persistence (every node of a cluster is asked).
const persistenceCheckTimeout = 15 * time.Second

// checkPersistence refuses a Redis store that may lose its data — a
// restart of a Redis that keeps nothing on disk, or eviction, would bring
// revoked tokens back — unless accept (--accept-volatile-redis) says the
// operator takes that, in which case it logs one warning. Other stores
// pass. A Redis that cannot be asked fails serve like one that cannot be
// opened.
func checkPersistence(ctx context.Context, st openedStore, accept bool, log *slog.Logger) error {
	rs, ok := st.store.(*redisstore.Store)
	if !ok {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, persistenceCheckTimeout)
	defer cancel()
	err := rs.CheckPersistence(ctx)
	switch {
	case err == nil:
		return nil
	case !errors.Is(err, redisstore.ErrVolatile):
		return fmt.Errorf("--store: %w", err)
	case !accept:
		return fmt.Errorf("--store: refusing a Redis that may lose revocations, which would make revoked tokens valid again (fix it, or give --accept-volatile-redis to run anyway): %w", err)
	}
	log.Warn("--accept-volatile-redis: running on a Redis that may lose its data, revocations and sessions. A restart that keeps nothing is detected: the access tokens issued before it are refused and users log in again. An eviction is not always: a maxmemory-policy that evicts keys with a TTL (volatile-*) drops single revocations and leaves the markers that detect a loss, and the tokens they revoked are accepted again",
		"store", st.kind, "err", err)
	return nil
}

// persistenceCheck returns a Redis store's CheckPersistence, nil for
// other stores.
func persistenceCheck(st openedStore) func(context.Context) error {
	if rs, ok := st.store.(*redisstore.Store); ok {
		return rs.CheckPersistence
	}
	return nil
}

// persistenceRecheck is how often serve asks a Redis store again whether
// it may lose its data: the start-up check (checkPersistence) cannot see
// a CONFIG SET of maxmemory-policy made while serve runs.
const persistenceRecheck = 5 * time.Minute

// watchPersistence runs check every interval until ctx ends and logs an
// error, at every check while it lasts, when the store has become one
// that may lose revocations (found by review: eviction turned on with
// CONFIG SET after start-up brought revoked tokens back, and nothing was
// said), and an info line when it no longer is. With accept
// (--accept-volatile-redis) the operator took that at start-up: nothing
// is logged. Errors other than ErrVolatile (the store unreachable) are
// left to the requests, which fail closed.
func watchPersistence(ctx context.Context, check func(context.Context) error, accept bool, every time.Duration, log *slog.Logger) {
	if accept {
		return
	}
	t := time.NewTicker(every)
	defer t.Stop()
	volatile := false
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		cctx, cancel := context.WithTimeout(ctx, persistenceCheckTimeout)
		err := check(cctx)
		cancel()
		switch {
		case errors.Is(err, redisstore.ErrVolatile):
			volatile = true
			log.Error("the Redis store may now lose revocations, which would make revoked tokens valid again: its configuration changed since serve started (restore persistence and maxmemory-policy noeviction)", "err", err)
		case err == nil && volatile:
			volatile = false
			log.Info("the Redis store keeps its data again")
		}
	}
}

// checkReplication warns, once at start-up, when a Redis store's
// revocations are not confirmed by the replicas a failover would promote
// (the Store's replica_acks is off while a primary has replicas), or when
// fewer replicas are connected than replica_acks waits for, so every
// revocation would fail. It does not refuse: asynchronous replication is
// the common setup, and the window is the replication lag at the moment
// of a failover. Other stores pass; a Redis that cannot be asked fails
// serve, as in checkPersistence.
func checkReplication(ctx context.Context, st openedStore, log *slog.Logger) error {
	rs, ok := st.store.(*redisstore.Store)
	if !ok {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, persistenceCheckTimeout)
	defer cancel()
	err := rs.CheckReplication(ctx)
	switch {
	case err == nil:
		return nil
	case !errors.Is(err, redisstore.ErrUnconfirmedReplication):
		return fmt.Errorf("--store: %w", err)
	}
	log.Warn("the Redis store's revocations are not confirmed by its replicas as configured (err names each primary and why): replica_acks in --store (with replica_ack_timeout) should equal the number of replicas of each primary; with fewer acks a failover may promote a replica that lacks the latest revocations, with more every revocation is refused until enough replicas connect (docs/backends/redis.md, Replication and failover)",
		"store", st.kind, "err", err)
	return nil
}

// Deadlines of a SQL store's start: a database that stops answering (a
// stalled server accepts connections and never replies) fails serve and
// migrate, so that a supervisor restarts them, instead of hanging them
// for ever. Variables so that tests can shorten them.
var (
	// storeOpenTimeout bounds connecting to the database and checking its
	// schema.
	storeOpenTimeout = time.Minute
	// migrateTimeout bounds applying the migrations, waiting for another
	// server's Migrate included: generous, since a migration may rebuild
	// a large table.
	migrateTimeout = 15 * time.Minute
)

// migrateSQL applies the SQL store's migrations to the database dsn names;
// the drivers log through log.
func migrateSQL(ctx context.Context, dsn string, log *slog.Logger) error {
	openCtx, cancel := context.WithTimeout(ctx, storeOpenTimeout)
	defer cancel()
	db, err := sqlstore.OpenDB(openCtx, dsn, sqlOptions(log)...)
	if err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	defer db.Close()
	ctx, cancel = context.WithTimeout(ctx, migrateTimeout)
	defer cancel()
	if err := sqlstore.Migrate(ctx, db.DB, db.DriverName()); err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	return nil
}

// stderrLogger is the logger of a command without --log flags (migrate):
// text on the command's standard error.
func (c *cli) stderrLogger() *slog.Logger {
	return slog.New(slog.NewTextHandler(c.stderr, nil))
}
