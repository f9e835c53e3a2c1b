package sqlstore_test

import (
	"testing"
	"time"

	"github.com/authkit-go/authkit/backends/sqlstore"
	"github.com/authkit-go/authkit/internal/storetest"
	"github.com/authkit-go/authkit/internal/testservers"
)

// TestFaults runs the shared fault scenario (storetest.Faults) on
// PostgreSQL and MySQL, each reached through a proxy.
func TestFaults(t *testing.T) {
	for _, b := range []backend{pgxBackend, mysqlBackend} {
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
			})
		})
	}
}
