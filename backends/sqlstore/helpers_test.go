package sqlstore_test

import (
	"context"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/authkit-go/authkit"
	"github.com/authkit-go/authkit/backends/sqlstore"
	"github.com/authkit-go/authkit/conformance"
	"github.com/authkit-go/authkit/internal/testservers"
)

// backend is one dialect (and driver) the tests run on.
type backend struct {
	name string
	// driver is the database/sql driver name sqlx.Open uses.
	driver string
	// fresh returns a DSN (for driver) of an empty, isolated database.
	fresh func(t testing.TB) string
	// unreachable returns a DSN (for driver) no server answers.
	unreachable func(t testing.TB) string
}

func postgresBackend(driver string) backend {
	return backend{
		name:   "postgres-" + driver,
		driver: driver,
		fresh:  func(t testing.TB) string { return testservers.Postgres(t) },
		unreachable: func(t testing.TB) string {
			return "postgres://postgres@" + testservers.ClosedAddr(t) + "/test?sslmode=disable&connect_timeout=5"
		},
	}
}

var (
	pgxBackend   = postgresBackend("pgx")
	pqBackend    = postgresBackend("postgres")
	mysqlBackend = backend{
		name:   "mysql",
		driver: "mysql",
		fresh:  func(t testing.TB) string { return testservers.MySQL(t) },
		unreachable: func(t testing.TB) string {
			return "root@tcp(" + testservers.ClosedAddr(t) + ")/test?timeout=5s"
		},
	}
	sqliteBackend = backend{
		name:   "sqlite",
		driver: "sqlite",
		fresh: func(t testing.TB) string {
			return filepath.Join(t.TempDir(), "authkit.db") + "?_pragma=busy_timeout(10000)&_pragma=journal_mode(WAL)&_pragma=synchronous(NORMAL)"
		},
		unreachable: func(t testing.TB) string {
			return filepath.Join(t.TempDir(), "no-such-directory", "authkit.db")
		},
	}
	allBackends = []backend{pgxBackend, pqBackend, mysqlBackend, sqliteBackend}
)

// openDB opens dsn with b's driver, its pool bounded as
// testservers.LimitPool bounds it, and closes it when t ends.
func openDB(t testing.TB, b backend, dsn string) *sqlx.DB {
	t.Helper()
	db, err := sqlx.Open(b.driver, dsn)
	if err != nil {
		t.Fatalf("sqlx.Open(%s): %v", b.driver, err)
	}
	t.Cleanup(func() { db.Close() })
	testservers.LimitPool(db.DB)
	return db
}

// newStore opens a fresh isolated database for b, migrates it and returns
// a store over it and its DSN.
func newStore(t testing.TB, b backend, opts ...sqlstore.Option) (*sqlstore.Store, string) {
	t.Helper()
	dsn := b.fresh(t)
	db := openDB(t, b, dsn)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := sqlstore.Migrate(ctx, db.DB, b.driver, opts...); err != nil {
		t.Fatalf("Migrate: %v", err)
	}
	s, err := sqlstore.New(db, opts...)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return s, dsn
}

// harness makes the conformance harness of b: every New is its own schema,
// database or file; Peer is a second pool on it, as a second application
// server would hold.
func harness(b backend, opts ...sqlstore.Option) conformance.Harness {
	var (
		mu   sync.Mutex
		dsns = map[authkit.Store]string{}
	)
	dsnOf := func(t *testing.T, s authkit.Store) string {
		t.Helper()
		mu.Lock()
		defer mu.Unlock()
		dsn, ok := dsns[s]
		if !ok {
			t.Fatal("harness: a store this harness did not make")
		}
		return dsn
	}
	attach := func(t *testing.T, dsn string) *sqlstore.Store {
		t.Helper()
		s, err := sqlstore.New(openDB(t, b, dsn), opts...)
		if err != nil {
			t.Fatalf("New: %v", err)
		}
		mu.Lock()
		dsns[s] = dsn
		mu.Unlock()
		return s
	}
	var severable func(t *testing.T, s authkit.Store) (authkit.Store, conformance.Link)
	if b.driver != sqliteBackend.driver { // SQLite has no connection to cut
		severable = func(t *testing.T, s authkit.Store) (authkit.Store, conformance.Link) {
			dsn := dsnOf(t, s)
			px := testservers.NewProxy(t, testservers.Addr(t, dsn))
			return attach(t, testservers.WithAddr(t, dsn, px.Addr())), px
		}
	}
	return conformance.Harness{
		Severable: severable,
		New: func(t *testing.T) authkit.Store {
			s, dsn := newStore(t, b, opts...)
			mu.Lock()
			dsns[s] = dsn
			mu.Unlock()
			return s
		},
		Peer: func(t *testing.T, s authkit.Store) authkit.Store { return attach(t, dsnOf(t, s)) },
		Reopen: func(t *testing.T, s authkit.Store) authkit.Store {
			dsn := dsnOf(t, s)
			if err := s.(*sqlstore.Store).DB().Close(); err != nil {
				t.Fatalf("closing the pool: %v", err)
			}
			return attach(t, dsn)
		},
		Unavailable: func(t *testing.T) authkit.Store {
			s, err := sqlstore.New(openDB(t, b, b.unreachable(t)), opts...)
			if err != nil {
				t.Fatalf("New: %v", err)
			}
			return s
		},
		Stalled: func(t *testing.T) authkit.Store { return stalled(t, b, opts...) },
	}
}

// stalled returns a store over a migrated database of b that it reaches
// through a proxy, stalled once a connection is open: the server stops
// answering, as in a partition or a hang. SQLite, in process, has no
// network to stall: its store is returned as it is (it does not claim
// authkit.DeadlineStore, so the suite only reads that claim).
func stalled(t *testing.T, b backend, opts ...sqlstore.Option) authkit.Store {
	t.Helper()
	if b.driver == sqliteBackend.driver {
		s, _ := newStore(t, b, opts...)
		return s
	}
	direct := b.fresh(t)
	if err := sqlstore.Migrate(t.Context(), openDB(t, b, direct).DB, b.driver, opts...); err != nil {
		t.Fatalf("Migrate: %v", err)
	}
	px := testservers.NewProxy(t, testservers.Addr(t, direct))
	s, err := sqlstore.New(openDB(t, b, testservers.WithAddr(t, direct, px.Addr())), opts...)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	if err := s.Ping(t.Context()); err != nil {
		t.Fatalf("Ping through the proxy before the stall: %v", err)
	}
	px.Stall()
	return s
}
