package sqlstore_test

import (
	"context"
	"errors"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/authkit-go/authkit"
	"github.com/authkit-go/authkit/backends/sqlstore"
	"github.com/authkit-go/authkit/internal/testservers"
)

// A PostgreSQL whose transactions default to REPEATABLE READ or
// SERIALIZABLE (a database's, role's or DSN's default_transaction_isolation):
// servers migrating it at once all succeed, the migrations running at READ
// COMMITTED (found by review: a server that waited for the lock saw a
// snapshot from before it and applied the migrations again), and Open
// refuses the store with an error that says how to fix it, since its
// statements outside transactions would fail concurrent revocations with
// serialization errors. With read committed in the DSN it opens, and
// concurrent cutoffs of one subject all land.
// (The strict level is given in the DSN too: the shared test database's
// own default must not change.)
func TestPostgresIsolation(t *testing.T) {
	t.Parallel()
	for _, b := range []backend{pgxBackend, pqBackend} {
		for _, level := range []string{"repeatable%20read", "serializable"} {
			t.Run(b.name+"/"+level, func(t *testing.T) {
				dsn := b.fresh(t)
				strict := dsn + "&default_transaction_isolation=" + level
				ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
				defer cancel()
				var wg sync.WaitGroup
				errs := make([]error, 4)
				for i := range errs {
					db := openDB(t, b, strict)
					wg.Go(func() { errs[i] = sqlstore.Migrate(ctx, db.DB, b.driver) })
				}
				wg.Wait()
				for i, err := range errs {
					if err != nil {
						t.Errorf("Migrate %d of 4 at once: %v", i, err)
					}
				}

				_, err := sqlstore.Open(ctx, strict, sqlstore.WithDriver(b.driver))
				if !errors.Is(err, authkit.ErrInvalidConfig) || !strings.Contains(fmtErr(err), "default_transaction_isolation") {
					t.Fatalf("Open at %s: %v, want ErrInvalidConfig naming default_transaction_isolation", level, err)
				}

				// (A DSN's startup parameter overrides a database's or a
				// role's default.)
				s, err := sqlstore.Open(ctx, dsn+"&default_transaction_isolation=read%20committed", sqlstore.WithDriver(b.driver))
				if err != nil {
					t.Fatalf("Open with read committed in the DSN: %v", err)
				}
				defer s.Close()
				now := time.Now()
				errs = make([]error, 8)
				for i := range errs {
					wg.Go(func() {
						errs[i] = s.SetCutoff(ctx, "alice", now.Add(time.Duration(i)*time.Millisecond), now.Add(time.Hour))
					})
				}
				wg.Wait()
				for i, err := range errs {
					if err != nil {
						t.Errorf("SetCutoff %d of 8 at once: %v", i, err)
					}
				}
			})
		}
	}
}

func fmtErr(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

// A PostgreSQL connection that cannot write — a read-only default of the
// role, database or DSN (here the DSN's) — is refused by Open with an
// error that says so (found by review: the store opened, /healthz said ok,
// and every login and revocation failed with SQLSTATE 25006).
func TestPostgresReadOnlyRefused(t *testing.T) {
	t.Parallel()
	for _, b := range []backend{pgxBackend, pqBackend} {
		t.Run(b.name, func(t *testing.T) {
			_, dsn := newStore(t, b) // migrated
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			_, err := sqlstore.Open(ctx, dsn+"&default_transaction_read_only=on", sqlstore.WithDriver(b.driver))
			if !errors.Is(err, authkit.ErrInvalidConfig) || !strings.Contains(fmtErr(err), "read-only") {
				t.Fatalf("Open read-only: %v, want ErrInvalidConfig saying read-only", err)
			}
			s, err := sqlstore.Open(ctx, dsn, sqlstore.WithDriver(b.driver))
			if err != nil {
				t.Fatalf("Open read-write: %v", err)
			}
			s.Close()
		})
	}
}

// A PostgreSQL server that can no longer write after Open (a standby now,
// or read-only by default) fails Ping, which serve's /healthz runs (found
// by review: every write failed while /healthz said ok). A read-only
// default of the store's role stands in for the standby: Ping asks both.
func TestPostgresPingReadOnlyLater(t *testing.T) {
	t.Parallel()
	s, dsn := newStore(t, pgxBackend)
	var schema string
	if err := s.DB().QueryRowContext(t.Context(), "SELECT current_schema()").Scan(&schema); err != nil {
		t.Fatal(err)
	}
	roleDSN := pgRole(t, s, dsn, "GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA "+schema+" TO %s")
	role := strings.SplitN(strings.TrimPrefix(roleDSN, "postgres://"), "@", 2)[0]
	st, err := sqlstore.Open(t.Context(), roleDSN)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	if err := st.Ping(t.Context()); err != nil {
		t.Fatalf("Ping of a writable server: %v", err)
	}
	if _, err := s.DB().ExecContext(t.Context(), "ALTER ROLE "+role+" SET default_transaction_read_only = on"); err != nil {
		t.Fatal(err)
	}
	st.DB().SetMaxIdleConns(0) // the next connection is a new one, read-only
	err = st.Ping(t.Context())
	if !errors.Is(err, authkit.ErrStoreUnavailable) || !strings.Contains(err.Error(), "standby, or the connection's transactions are read-only") {
		t.Errorf("Ping once the server cannot write = %v, want ErrStoreUnavailable saying so", err)
	}
}

// Open (and OpenDB, which migrate uses) refuses a connection whose
// search_path is not the one its DSN gives (found by review: behind
// PgBouncer, told to ignore that startup parameter, the store and migrate
// used the role's default schema). The drop itself needs a pooler: the
// check is called here with another path than the connection's. Every
// spelling of the DSN's own path passes (found by the review of the first
// version, which parsed it itself: a quoted "$user", a quoted name with a
// comma, non-ASCII and long names were refused).
func TestPostgresSearchPathHonoured(t *testing.T) {
	t.Parallel()
	for _, b := range []backend{pgxBackend, pqBackend} {
		t.Run(b.name, func(t *testing.T) {
			_, dsn := newStore(t, b) // migrated, its search_path its own schema
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			u, err := url.Parse(dsn)
			if err != nil {
				t.Fatal(err)
			}
			q := u.Query()
			own := q.Get("search_path")
			db := openDB(t, b, dsn)
			if err := sqlstore.CheckSearchPath(ctx, db.DB, "some_other_schema, public"); !errors.Is(err, authkit.ErrInvalidConfig) || !strings.Contains(fmtErr(err), "some_other_schema") {
				t.Errorf("a connection whose search_path is not the DSN's: %v, want ErrInvalidConfig naming both", err)
			}
			if err := sqlstore.CheckSearchPath(ctx, db.DB, own); err != nil {
				t.Errorf("the connection's own search_path: %v", err)
			}
			for _, path := range []string{own, " " + own + " ", strings.ToUpper(own), `"` + own + `"`, `"$user", ` + own, "$user," + own} {
				q.Set("search_path", path)
				// %20, not '+', for a space: lib/pq reads '+' as a space, pgx as '+'.
				u.RawQuery = strings.ReplaceAll(q.Encode(), "+", "%20")
				s, err := sqlstore.Open(ctx, u.String(), sqlstore.WithDriver(b.driver))
				if err != nil {
					t.Errorf("Open with search_path %q: %v", path, err)
					continue
				}
				s.Close()
			}
		})
	}
}

// A MySQL/MariaDB server made read_only after Open (a primary demoted in a
// failover) fails Ping, as on PostgreSQL (found by review: /healthz said
// ok while each write failed with error 1290). On a private server: the
// shared one must not be made read-only.
func TestMySQLPingReadOnlyLater(t *testing.T) {
	t.Parallel()
	rootDSN := testservers.PrivateMariaDB(t)
	root := openDB(t, mysqlBackend, rootDSN)
	ctx := t.Context()
	if err := sqlstore.Migrate(ctx, root.DB, "mysql"); err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{"CREATE USER 'app'@'%'", "GRANT SELECT, INSERT, UPDATE, DELETE, EXECUTE ON test.* TO 'app'@'%'"} {
		if _, err := root.ExecContext(ctx, q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	addr := testservers.Addr(t, rootDSN)
	s, err := sqlstore.Open(ctx, "mysql://app@"+addr+"/test")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	if err := s.Ping(ctx); err != nil {
		t.Fatalf("Ping of a writable server: %v", err)
	}
	if _, err := root.ExecContext(ctx, "SET GLOBAL read_only = ON"); err != nil {
		t.Fatal(err)
	}
	err = s.Ping(ctx)
	if !errors.Is(err, authkit.ErrStoreUnavailable) || !strings.Contains(err.Error(), "read-only") {
		t.Errorf("Ping of a read_only server = %v, want ErrStoreUnavailable saying read-only", err)
	}
	if err := s.RevokeToken(ctx, "alice", "j", time.Now().Add(time.Hour)); err == nil {
		t.Error("RevokeToken on a read_only server = nil (the case this checks: writes fail)")
	}
}
