package sqlstore_test

import (
	"testing"
	"time"

	"github.com/authkit-go/authkit/backends/sqlstore"
	"github.com/authkit-go/authkit/internal/storetest"
	"github.com/authkit-go/authkit/internal/testservers"
)

// TestFaults runs the shared fault scenario (storetest.Faults) on
// PostgreSQL (with pgx and with lib/pq) and MySQL, each reached through a
// proxy. lib/pq cannot end a query at its deadline through a stalled
// network, so the store's own calls are not timed during the stall; the
// issuer's and the verifier's are, as on every other driver.
func TestFaults(t *testing.T) {
	t.Parallel()
	for _, b := range []backend{pgxBackend, pqBackend, mysqlBackend} {
		t.Run(b.name, func(t *testing.T) {
			direct := b.fresh(t)
			if err := sqlstore.Migrate(t.Context(), openDB(t, b, direct).DB, b.driver); err != nil {
				t.Fatal(err)
			}
			px := testservers.NewProxy(t, testservers.Addr(t, direct))
			s, err := sqlstore.New(openDB(t, b, testservers.WithAddr(t, direct, px.Addr())))
			if err != nil {
				t.Fatal(err)
			}
			storetest.Faults(t, storetest.FaultHarness{
				Server:        "the database",
				Proxy:         px,
				Store:         s,
				CutDeadline:   2 * time.Second,
				Slack:         500 * time.Millisecond,
				RecoverWithin: 15 * time.Second,
				StoreTimeout:  250 * time.Millisecond,
				// lib/pq sends a cancel request, which the stall swallows too.
				DriverIgnoresDeadline: b.driver == pqBackend.driver,
			})
		})
	}
}
