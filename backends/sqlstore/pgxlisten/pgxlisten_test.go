package pgxlisten_test

import (
	"context"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

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
