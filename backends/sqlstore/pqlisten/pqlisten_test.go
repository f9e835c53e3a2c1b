package pqlisten_test

import (
	"context"
	"database/sql"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/authkit-go/authkit/backends/sqlstore/pqlisten"
	"github.com/authkit-go/authkit/internal/storetest"
	"github.com/authkit-go/authkit/internal/testservers"
)

// A DSN that does not parse is refused without being repeated.
func TestNewRefusesBadDSN(t *testing.T) {
	_, err := pqlisten.New("postgres://u:hunter2@[::1")
	if err == nil || strings.Contains(err.Error(), "hunter2") {
		t.Fatalf("New of a malformed DSN = %v, want an error without the password", err)
	}
}

// A server that refuses the connection makes Listen return an error
// without calling ready or notify; a Listen whose ctx is already done
// returns its error.
func TestListenFails(t *testing.T) {
	addr := testservers.ClosedAddr(t)
	l, err := pqlisten.New("postgres://u@" + addr + "/db?sslmode=disable&connect_timeout=5")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	fail := func() { t.Error("called back without a connection") }
	if err := l.Listen(ctx, nil, "c", fail, fail); err == nil || ctx.Err() != nil {
		t.Fatalf("Listen on a refused port = %v (ctx %v), want a connection error", err, ctx.Err())
	}
	done, stop := context.WithCancel(t.Context())
	stop()
	if err := l.Listen(done, nil, "c", fail, fail); err == nil {
		t.Fatal("Listen with a done ctx returned nil")
	}
}

// Listen calls ready only once a notification sent through the pool has
// reached its LISTEN (see storetest.ListenProbe).
func TestListenProbe(t *testing.T) {
	dsn := testservers.Postgres(t)
	u, err := url.Parse(dsn)
	if err != nil {
		t.Fatal(err)
	}
	o := *u
	o.Path = "/postgres"
	if u.Path == "/postgres" {
		o.Path = "/template1"
	}
	db, err := sql.Open("postgres", dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	elsewhere, err := sql.Open("postgres", o.String())
	if err != nil {
		t.Fatal(err)
	}
	defer elsewhere.Close()
	l, err := pqlisten.New(dsn)
	if err != nil {
		t.Fatal(err)
	}
	storetest.ListenProbe(t, l.Listen, db, elsewhere, true)
}

// A LISTEN connection that goes silent (a partition: nothing reaches the
// client to say so) is found by the ping, and one that is cut ends Listen
// with an error, so that the Store connects again (found missing by
// mutation testing: a failed ping ignored, or a cut reported as nil,
// passed every test).
func TestListenPartition(t *testing.T) {
	t.Parallel()
	dsn := testservers.Postgres(t)
	u, err := url.Parse(dsn)
	if err != nil {
		t.Fatal(err)
	}
	db, err := sql.Open("postgres", dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	const every = 200 * time.Millisecond
	storetest.ListenPartition(t, u.Host, db, every, func(proxy string) storetest.ListenFunc {
		through := *u
		through.Host = proxy
		l, err := pqlisten.New(through.String())
		if err != nil {
			t.Fatal(err)
		}
		pqlisten.SetPings(l, every, every)
		return l.Listen
	})
}
