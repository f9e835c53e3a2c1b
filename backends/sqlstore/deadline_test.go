package sqlstore_test

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"testing"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/authkit-go/authkit"
	"github.com/authkit-go/authkit/backends/sqlstore"
	"github.com/authkit-go/authkit/issuer"
	"github.com/authkit-go/authkit/keys"
)

// TestHonorsDeadlines checks which drivers the issuer and the verifier
// call on the request's goroutine (authkit.DeadlineStore): pgx only. That
// pgx and go-redis really end a call at its deadline through a stalled
// network is TestFaults' part: its issuer and verifier run under a 250 ms
// store timeout while the proxy swallows everything.
func TestHonorsDeadlines(t *testing.T) {
	for _, c := range []struct {
		b    backend
		want bool
	}{{pgxBackend, true}, {pqBackend, false}, {mysqlBackend, false}, {sqliteBackend, false}} {
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

// goroutineOnly hides the store's HonorsDeadlines, so that the issuer
// calls it in a goroutine as it does a driver it cannot trust.
type goroutineOnly struct{ *sqlstore.Store }

func (goroutineOnly) HonorsDeadlines() bool { return false }

// BenchmarkDeadlinePath times issuer.Refresh over PostgreSQL (pgx) as
// configured by default — called on the request's goroutine under its
// deadline — and with the same store called in a goroutine of its own,
// in turn in each iteration so that the disk's changing load weighs on
// both alike.
func BenchmarkDeadlinePath(b *testing.B) {
	s, _ := newStore(b, pgxBackend)
	mk := func(st authkit.Store) (*issuer.Issuer, authkit.TokenPair) {
		k, err := keys.Generate(keys.EdDSA)
		if err != nil {
			b.Fatal(err)
		}
		set, err := keys.NewSet(k)
		if err != nil {
			b.Fatal(err)
		}
		iss, err := issuer.New(authkit.WithKeys(set), authkit.WithStore(st), authkit.WithIssuer("https://auth.example.com"), authkit.WithAudience("api"))
		if err != nil {
			b.Fatal(err)
		}
		p, err := iss.IssuePair(context.Background(), "user-1234567890", issuer.WithScopes("read", "write"))
		if err != nil {
			b.Fatal(err)
		}
		return iss, p
	}
	direct, dp := mk(s)
	viaGoroutine, gp := mk(goroutineOnly{s})
	ctx := context.Background()
	var td, tg time.Duration
	var err error
	b.ReportAllocs()
	for b.Loop() {
		t0 := time.Now()
		if dp, err = direct.Refresh(ctx, dp.RefreshToken); err != nil {
			b.Fatal(err)
		}
		t1 := time.Now()
		if gp, err = viaGoroutine.Refresh(ctx, gp.RefreshToken); err != nil {
			b.Fatal(err)
		}
		td += t1.Sub(t0)
		tg += time.Since(t1)
	}
	n := float64(b.N)
	b.ReportMetric(td.Seconds()*1e6/n, "direct-µs/op")
	b.ReportMetric(tg.Seconds()*1e6/n, "goroutine-µs/op")
	b.ReportMetric(tg.Seconds()/td.Seconds(), "direct-speedup")
}
