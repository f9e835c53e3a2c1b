package pgxlisten_test

import (
	"context"
	"net"
	"strconv"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"

	"github.com/authkit-go/authkit/backends/sqlstore/pgxlisten"
	"github.com/authkit-go/authkit/internal/storetest"
	"github.com/authkit-go/authkit/internal/testservers"
)

func TestDedicatedNil(t *testing.T) {
	if _, err := pgxlisten.Dedicated(nil); err == nil {
		t.Fatal("Dedicated(nil) was accepted")
	}
}

// A server that refuses the connection makes Listen return an error
// without calling ready or notify; so does New without a pool.
func TestListenFails(t *testing.T) {
	addr := testservers.ClosedAddr(t)
	cfg, err := pgx.ParseConfig("postgres://u@" + addr + "/db?sslmode=disable&connect_timeout=5")
	if err != nil {
		t.Fatal(err)
	}
	l, err := pgxlisten.Dedicated(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	fail := func() { t.Error("called back without a connection") }
	if err := l.Listen(ctx, nil, "c", fail, fail); err == nil || ctx.Err() != nil {
		t.Fatalf("Listen on a refused port = %v (ctx %v), want a connection error", err, ctx.Err())
	}
	if err := pgxlisten.New().Listen(ctx, nil, "c", fail, fail); err == nil {
		t.Fatal("New().Listen without a pool returned nil")
	}
}

// Listen calls ready only once a notification sent through the pool has
// reached its LISTEN (found by review: through PgBouncer in transaction
// mode the LISTEN succeeded and delivered nothing, and the Store took it
// for pushed); see storetest.ListenProbe.
func TestListenProbe(t *testing.T) {
	cfg, err := pgx.ParseConfig(testservers.Postgres(t))
	if err != nil {
		t.Fatal(err)
	}
	other := cfg.Copy()
	other.Database = "postgres"
	if cfg.Database == "postgres" {
		other.Database = "template1"
	}
	db, elsewhere := stdlib.OpenDB(*cfg), stdlib.OpenDB(*other)
	defer db.Close()
	defer elsewhere.Close()
	t.Run("New", func(t *testing.T) { storetest.ListenProbe(t, pgxlisten.New().Listen, db, nil, false) })
	t.Run("Dedicated", func(t *testing.T) {
		l, err := pgxlisten.Dedicated(cfg)
		if err != nil {
			t.Fatal(err)
		}
		storetest.ListenProbe(t, l.Listen, db, elsewhere, true)
	})
}

// A LISTEN connection that goes silent (a partition: nothing reaches the
// client to say so) is found by the ping, and one that is cut ends Listen
// with an error, so that the Store connects again (found missing by
// mutation testing: a failed ping ignored, or a cut reported as nil,
// passed every test).
func TestListenPartition(t *testing.T) {
	t.Parallel()
	cfg, err := pgx.ParseConfig(testservers.Postgres(t))
	if err != nil {
		t.Fatal(err)
	}
	db := stdlib.OpenDB(*cfg)
	defer db.Close()
	const every = 200 * time.Millisecond
	target := net.JoinHostPort(cfg.Host, strconv.Itoa(int(cfg.Port)))
	storetest.ListenPartition(t, target, db, every, func(proxy string) storetest.ListenFunc {
		host, port, err := net.SplitHostPort(proxy)
		if err != nil {
			t.Fatal(err)
		}
		through := cfg.Copy()
		n, _ := strconv.Atoi(port)
		through.Host, through.Port, through.Fallbacks = host, uint16(n), nil
		l, err := pgxlisten.Dedicated(through)
		if err != nil {
			t.Fatal(err)
		}
		pgxlisten.SetPings(l, every, every)
		return l.Listen
	})
}
