package sqlstore_test

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"testing"

	"github.com/jmoiron/sqlx"

	"github.com/authkit-go/authkit"
	"github.com/authkit-go/authkit/backends/sqlstore"
	"github.com/authkit-go/authkit/internal/storetest"
)

// TestHonorsDeadlines checks which drivers the issuer and the verifier
// call on the request's goroutine (authkit.DeadlineStore): pgx and
// go-sql-driver/mysql. That they really end a call at its deadline through
// a stalled network is the conformance suite's …/Stalled checks' part
// (every method, through a stalled proxy) and TestFaults' (the issuer and
// the verifier under a 250 ms store timeout while the proxy swallows
// everything).
func TestHonorsDeadlines(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		b    backend
		want bool
	}{{pgxBackend, true}, {pqBackend, false}, {mysqlBackend, true}, {sqliteBackend, false}} {
		t.Run(c.b.name, func(t *testing.T) {
			s, _ := newStore(t, c.b)
			var ds authkit.DeadlineStore = s
			if got := ds.HonorsDeadlines(); got != c.want {
				t.Fatalf("HonorsDeadlines = %v, want %v", got, c.want)
			}
		})
	}
	t.Run("a driver the store does not know", func(t *testing.T) {
		// A pgx pool behind a wrapping connector (as tracing packages
		// make) is PostgreSQL by WithDriver, but its driver is not pgx's
		// own: the store cannot vouch for it.
		direct := openDB(t, pgxBackend, pgxBackend.fresh(t))
		db := sqlx.NewDb(sql.OpenDB(wrapped{direct.Driver(), pgxBackend.fresh(t)}), "traced")
		t.Cleanup(func() { db.Close() })
		s, err := sqlstore.New(db, sqlstore.WithDriver("pgx"))
		if err != nil {
			t.Fatal(err)
		}
		if s.HonorsDeadlines() {
			t.Fatal("HonorsDeadlines = true for a wrapped driver")
		}
	})
}

// wrapped is a connector of another package's driver type around drv.
type wrapped struct {
	drv driver.Driver
	dsn string
}

func (w wrapped) Connect(context.Context) (driver.Conn, error) { return w.drv.Open(w.dsn) }
func (w wrapped) Driver() driver.Driver                        { return wrappedDriver{w.drv} }

type wrappedDriver struct{ driver.Driver }

// BenchmarkDeadlinePath compares, over PostgreSQL through pgx and over
// MySQL, the store called on the request's goroutine (the default) with
// the goroutine of its own it had before (storetest.BenchDeadlinePath).
func BenchmarkDeadlinePath(b *testing.B) {
	for _, be := range []backend{pgxBackend, mysqlBackend} {
		b.Run(be.name, func(b *testing.B) {
			s, _ := newStore(b, be)
			storetest.BenchDeadlinePath(b, s)
		})
	}
}
