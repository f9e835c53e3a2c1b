package storetest

import (
	"context"
	"crypto/rand"
	"database/sql"
	"strings"
	"testing"
	"time"
)

// ListenFunc is a sqlstore.Listener's Listen method.
type ListenFunc func(ctx context.Context, db *sql.DB, channel string, ready, notify func()) error

// ListenProbe checks that listen calls ready only once a notification sent
// through the pool has reached its LISTEN: with db, a pool on the
// listener's database, it is ready and a NOTIFY sent through db reaches
// notify; with poolless, also without a pool (db nil: the listener sends
// the test notification on its own connection); with elsewhere, a pool on
// another database than the listener's own connection (nil skips this, for
// a listener that takes its connection from the pool), which stands for a
// LISTEN that succeeds and never delivers (as through PgBouncer in
// transaction mode), it returns an error saying so and never calls back.
func ListenProbe(t *testing.T, listen ListenFunc, db, elsewhere *sql.DB, poolless bool) {
	t.Helper()
	channel := "probe_" + strings.ToLower(rand.Text())
	pools := []*sql.DB{db}
	if poolless {
		pools = append(pools, nil)
	}
	for _, pool := range pools {
		name := "the pool's database"
		if pool == nil {
			name = "no pool"
		}
		ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
		ready, notes, errc := make(chan struct{}), make(chan struct{}, 16), make(chan error, 1)
		go func() { errc <- listen(ctx, pool, channel, func() { close(ready) }, func() { notes <- struct{}{} }) }()
		select {
		case <-ready:
		case err := <-errc:
			cancel()
			t.Fatalf("Listen with %s = %v before ready", name, err)
		}
		if _, err := db.ExecContext(ctx, "SELECT pg_notify($1, '')", channel); err != nil {
			cancel()
			t.Fatal(err)
		}
		select {
		case <-notes:
		case err := <-errc:
			cancel()
			t.Fatalf("Listen with %s = %v before the notification", name, err)
		}
		cancel()
		<-errc
	}

	if elsewhere == nil {
		return
	}
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	fail := func() { t.Error("called back, though no notification can reach the LISTEN") }
	if err := listen(ctx, elsewhere, channel, fail, fail); err == nil || ctx.Err() != nil || !strings.Contains(err.Error(), "did not reach") {
		t.Fatalf("Listen with a pool on another database = %v (ctx %v), want an error saying the test notification did not reach it", err, ctx.Err())
	}
}
