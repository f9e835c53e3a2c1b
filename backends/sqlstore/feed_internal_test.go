package sqlstore

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jmoiron/sqlx"

	"github.com/authkit-go/authkit/internal/testservers"
)

// BenchmarkRevokeFeedCost measures what the revocation log costs a
// revocation: "upsert" is the single statement RevokeToken ran before the
// feed, "upsert+log" is RevokeToken now (a transaction that takes the next
// log id, appends the change and upserts). On PostgreSQL "upsert+log" is
// that one statement without its NOTIFY, "upsert+log+notify" RevokeToken
// as it is, and "…/listened" the same while a connection listens.
// "Parallel" runs 8×GOMAXPROCS writers, which queue on the counter row.
//
//	go test -run - -bench RevokeFeedCost -benchtime 2s ./backends/sqlstore/
func BenchmarkRevokeFeedCost(b *testing.B) {
	for _, c := range []struct {
		name, driver string
		dsn          func(testing.TB) string
	}{
		{"postgres-pgx", "pgx", testservers.Postgres},
		{"mysql", "mysql", testservers.MySQL},
		{"sqlite", "sqlite", func(t testing.TB) string {
			return filepath.Join(t.TempDir(), "bench.db") + "?_pragma=busy_timeout(10000)&_pragma=journal_mode(WAL)&_pragma=synchronous(NORMAL)"
		}},
	} {
		b.Run(c.name, func(b *testing.B) {
			db, err := sqlx.Open(c.driver, c.dsn(b))
			if err != nil {
				b.Fatal(err)
			}
			b.Cleanup(func() { db.Close() })
			if err := Migrate(b.Context(), db.DB, c.driver); err != nil {
				b.Fatal(err)
			}
			s, err := New(db)
			if err != nil {
				b.Fatal(err)
			}
			until := time.Now().Add(time.Hour)
			var n atomic.Int64
			upsert := func(ctx context.Context) error {
				_, err := s.exec(ctx, s.q.upsertRevocation, "alice", kindJTI, fmt.Sprint("u-", n.Add(1)), micros(until), nil)
				return err
			}
			revoke := func(ctx context.Context) error {
				return s.RevokeToken(ctx, "alice", fmt.Sprint("r-", n.Add(1)), until)
			}
			type write struct {
				name string
				fn   func(context.Context) error
			}
			writes := []write{{"upsert", upsert}, {"upsert+log", revoke}}
			if s.push.revoke != "" {
				// PostgreSQL: the write without its NOTIFY, the write as
				// RevokeToken makes it, and the same while a connection
				// listens on the channel (as every node of WithNotifications
				// does) and reads what comes.
				logged := func(ctx context.Context) error {
					_, err := s.exec(ctx, s.q.revokeLogged, "alice", kindJTI, fmt.Sprint("l-", n.Add(1)), micros(until), nil, time.Now().UnixMicro())
					return err
				}
				var listening sync.Once
				listened := func(ctx context.Context) error {
					listening.Do(func() { listen(b, s) })
					return revoke(ctx)
				}
				writes = []write{{"upsert", upsert}, {"upsert+log", logged}, {"upsert+log+notify", revoke}, {"upsert+log+notify/listened", listened}}
			}
			for _, w := range writes {
				b.Run(w.name, func(b *testing.B) {
					for b.Loop() {
						if err := w.fn(b.Context()); err != nil {
							b.Fatal(err)
						}
					}
				})
				b.Run(w.name+"/Parallel", func(b *testing.B) {
					b.SetParallelism(8)
					b.RunParallel(func(pb *testing.PB) {
						for pb.Next() {
							if err := w.fn(b.Context()); err != nil {
								b.Error(err)
								return
							}
						}
					})
				})
			}
		})
	}
}

// listen starts a connection that listens on s's channel and reads its
// notifications until b ends.
func listen(b *testing.B, s *Store) {
	c, err := s.db.Conn(b.Context())
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	b.Cleanup(func() { cancel(); <-done; _ = c.Close() })
	ready := make(chan error, 1)
	go func() {
		defer close(done)
		_ = c.Raw(func(dc any) error {
			conn := dc.(interface{ Conn() *pgx.Conn }).Conn()
			_, err := conn.Exec(ctx, "LISTEN "+NotifyChannel(s.cfg.prefix))
			ready <- err
			for err == nil {
				_, err = conn.WaitForNotification(ctx)
			}
			return driver.ErrBadConn
		})
	}()
	if err := <-ready; err != nil {
		b.Fatal(err)
	}
}

// TestNotifyStatement: PostgreSQL's one-statement revocation write carries
// its NOTIFY on the prefix's channel, next to the log id it takes (if the
// write's text changed and lost notifyMarker, this fails rather than the
// writes going silent); the other dialects neither notify nor listen,
// whatever the options say.
func TestNotifyStatement(t *testing.T) {
	t.Parallel()
	c, err := buildConfig([]Option{WithTablePrefix("tenant_a_"), WithNotifications(nopListener{})})
	if err != nil {
		t.Fatal(err)
	}
	q := buildQueries(dialectPostgres, c.prefix)
	p := newPush(dialectPostgres, q, c, nil)
	want := "RETURNING seq, pg_notify('tenant_a_revocation_feed', '') AS notified)"
	if !strings.Contains(p.revoke, want) || strings.Count(p.revoke, "pg_notify") != 1 {
		t.Errorf("the PostgreSQL revocation write is\n%s\nwant one %s in it", p.revoke, want)
	}
	if p.hub == nil || p.hub.channel != "tenant_a_revocation_feed" {
		t.Errorf("the PostgreSQL store's hub is %+v, want one on tenant_a_revocation_feed", p.hub)
	}
	if _, err := buildConfig([]Option{WithNotifications(nil)}); err == nil {
		t.Error("WithNotifications(nil) was accepted")
	}
	for _, d := range []*dialect{dialectMySQL, dialectSQLite} {
		if p := newPush(d, buildQueries(d, c.prefix), c, nil); p.revoke != "" || p.hub != nil {
			t.Errorf("%s: notifications %+v, want none", d.name, p)
		}
	}
}

type nopListener struct{}

func (nopListener) Listen(ctx context.Context, _ *sql.DB, _ string, _, _ func()) error {
	<-ctx.Done()
	return ctx.Err()
}

// fakeListener hands each Listen call to the test, which drives it.
type fakeListener struct {
	calls chan *fakeSession
	// hold: a cancelled Listen returns only once its session's release
	// is closed (a connection slow to close).
	hold atomic.Bool
}

type fakeSession struct {
	ctx           context.Context
	ready, notify func()
	fail          chan error
	release       chan struct{}
}

// next is the fake's next Listen call, within 10 s.
func (l *fakeListener) next(t *testing.T) *fakeSession {
	t.Helper()
	select {
	case s := <-l.calls:
		return s
	case <-time.After(10 * time.Second):
		t.Fatal("no Listen call within 10s")
		return nil
	}
}

func (l *fakeListener) Listen(ctx context.Context, _ *sql.DB, _ string, ready, notify func()) error {
	s := &fakeSession{ctx: ctx, ready: ready, notify: notify, fail: make(chan error), release: make(chan struct{})}
	l.calls <- s
	select {
	case <-ctx.Done():
		if l.hold.Load() {
			<-s.release
		}
		return ctx.Err()
	case err := <-s.fail:
		return err
	}
}

// TestNotifyHubLateRun: a run stopped by the last follower's leave that
// returns only after the next follower started another run does not
// disturb the new run: its LISTEN coming up, its notifications and its
// failure all count (found by review: the old run's last numbering made
// every callback of the new one stale, so notifications woke no one and
// listening() stayed wrong for the connection's life).
func TestNotifyHubLateRun(t *testing.T) {
	t.Parallel()
	l := &fakeListener{calls: make(chan *fakeSession)}
	l.hold.Store(true)
	h := &notifyHub{l: l, channel: "c", subs: map[*follower]struct{}{}}
	next := func() *fakeSession { t.Helper(); return l.next(t) }
	f1 := h.subscribe()
	s1 := next()
	s1.ready()
	left := make(chan struct{})
	go func() { f1.leave(); close(left) }() // stops run 1 and waits for it
	<-s1.ctx.Done()
	f2 := h.subscribe() // run 2
	s2 := next()
	close(s1.release) // run 1 returns now
	<-left
	l.hold.Store(false)
	defer f2.leave()
	s2.ready()
	if !f2.listening() {
		t.Fatal("run 2's LISTEN is in effect, but listening() is false")
	}
	select {
	case <-f2.woken(): // the LISTEN coming up
	case <-time.After(10 * time.Second):
		t.Fatal("run 2's LISTEN coming up woke no follower")
	}
	s2.notify()
	select {
	case <-f2.woken():
	case <-time.After(10 * time.Second):
		t.Fatal("run 2's notification woke no follower")
	}
	s2.fail <- errors.New("connection reset")
	deadline := time.Now().Add(10 * time.Second)
	for f2.listening() {
		if time.Now().After(deadline) {
			t.Fatal("run 2's LISTEN is down, but listening() stays true")
		}
		time.Sleep(time.Millisecond)
	}
	next() // run 2's next attempt, which the deferred leave stops
}

// TestNotifyHub drives the hub with a fake Listener: the LISTEN starts
// with the first follower; its coming up, its notifications and its
// failure each wake the followers; a failed LISTEN is tried again, and
// the run that failed can no longer change anything; the last follower
// to leave stops it, and so does close, for good.
func TestNotifyHub(t *testing.T) {
	t.Parallel()
	l := &fakeListener{calls: make(chan *fakeSession)}
	h := &notifyHub{l: l, channel: "c", subs: map[*follower]struct{}{}}
	next := func() *fakeSession { t.Helper(); return l.next(t) }
	woken := func(f *follower, what string) {
		t.Helper()
		select {
		case <-f.woken():
		case <-time.After(10 * time.Second):
			t.Fatalf("no wake-up within 10s for %s", what)
		}
	}
	f1, f2 := h.subscribe(), h.subscribe()
	s1 := next()
	if f1.listening() {
		t.Fatal("listening before ready")
	}
	s1.ready()
	for _, f := range []*follower{f1, f2} {
		woken(f, "the LISTEN coming up")
		if !f.listening() {
			t.Fatal("not listening after ready")
		}
	}
	s1.notify()
	s1.notify() // coalesces with the first
	woken(f1, "a notification")
	select {
	case <-f1.woken():
		t.Fatal("two wake-ups pending for one follower")
	default:
	}
	s1.fail <- errors.New("connection reset")
	woken(f2, "the LISTEN going down")
	s2 := next() // after the pause
	if f1.listening() {
		t.Fatal("listening after the LISTEN failed")
	}
	s1.ready() // a stale run: ignored
	if f1.listening() {
		t.Fatal("a failed run's ready counted")
	}
	s2.ready()
	woken(f1, "the new LISTEN coming up")
	if !f1.listening() {
		t.Fatal("not listening after the new ready")
	}
	f1.leave()
	if s2.ctx.Err() != nil {
		t.Fatal("the LISTEN stopped while a follower remains")
	}
	f2.leave() // waits for the run to end
	if s2.ctx.Err() == nil || h.run != nil {
		t.Fatal("the LISTEN runs on with no follower")
	}
	f3 := h.subscribe()
	s3 := next()
	h.close()
	if s3.ctx.Err() == nil || h.run != nil || f3.listening() {
		t.Fatal("the LISTEN runs on after close")
	}
	f4 := h.subscribe()
	if h.run != nil {
		t.Fatal("a follower after close started a LISTEN")
	}
	f3.leave()
	f4.leave()
	var none *notifyHub
	if f := none.subscribe(); f != nil || f.listening() || f.woken() != nil {
		t.Fatal("a nil hub's follower does something")
	}
	none.close()
}
