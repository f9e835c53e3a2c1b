package pgxlisten_test

import (
	"context"
	"crypto/rand"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"

	"github.com/authkit-go/authkit/backends/sqlstore/pgxlisten"
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
// reached its LISTEN. A pool on another database stands for a LISTEN that
// succeeds and never delivers, as through PgBouncer in transaction mode
// (found by review: the Store took it for pushed and its followers polled
// only every half heartbeat): Listen reports an error and never calls
// ready.
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
	channel := "probe_" + strings.ToLower(rand.Text())
	for _, l := range []struct {
		name string
		l    func() *pgxlisten.Listener
	}{
		{"New", pgxlisten.New},
		{"Dedicated", func() *pgxlisten.Listener {
			l, err := pgxlisten.Dedicated(cfg)
			if err != nil {
				t.Fatal(err)
			}
			return l
		}},
	} {
		t.Run(l.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
			defer cancel()
			ready, notes, errc := make(chan struct{}), make(chan struct{}, 16), make(chan error, 1)
			go func() {
				errc <- l.l().Listen(ctx, db, channel, func() { close(ready) }, func() { notes <- struct{}{} })
			}()
			select {
			case <-ready:
			case err := <-errc:
				t.Fatalf("Listen on the pool's database = %v before ready", err)
			}
			if _, err := db.ExecContext(ctx, "SELECT pg_notify($1, '')", channel); err != nil {
				t.Fatal(err)
			}
			select {
			case <-notes:
			case err := <-errc:
				t.Fatalf("Listen = %v before the notification", err)
			}
			cancel()
			<-errc
		})
	}
	t.Run("Dedicated without a pool", func(t *testing.T) {
		l, err := pgxlisten.Dedicated(cfg)
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
		defer cancel()
		ready, errc := make(chan struct{}), make(chan error, 1)
		go func() { errc <- l.Listen(ctx, nil, channel, func() { close(ready) }, func() {}) }()
		select {
		case <-ready:
		case err := <-errc:
			t.Fatalf("Listen without a pool = %v before ready", err)
		}
		cancel()
		<-errc
	})
	t.Run("another database", func(t *testing.T) {
		l, err := pgxlisten.Dedicated(cfg)
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
		defer cancel()
		fail := func() { t.Error("called back, though no notification can reach the LISTEN") }
		if err := l.Listen(ctx, elsewhere, channel, fail, fail); err == nil || ctx.Err() != nil || !strings.Contains(err.Error(), "did not reach") {
			t.Fatalf("Listen with a pool on another database = %v (ctx %v), want an error saying the test notification did not reach it", err, ctx.Err())
		}
	})
}
