package sqlstore_test

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/authkit-go/authkit"
	"github.com/authkit-go/authkit/backends/sqlstore"
	"github.com/authkit-go/authkit/backends/sqlstore/pgxlisten"
	"github.com/authkit-go/authkit/backends/sqlstore/pqlisten"
	"github.com/authkit-go/authkit/internal/testservers"
)

// These tests run the PostgreSQL notifications (WithNotifications) on a
// real server. The followers poll every minute at most and ask for an
// hour's heartbeat, so that a change reaching them within the tests'
// few seconds came by a notification, not by a poll.

// countingListener counts the notifications and the LISTENs that come
// into effect through the Listener it wraps.
type countingListener struct {
	sqlstore.Listener
	notified, readied atomic.Int64
	lastErr           atomic.Value // string: the last Listen's error
}

func (c *countingListener) Listen(ctx context.Context, db *sql.DB, channel string, ready, notify func()) error {
	err := c.Listener.Listen(ctx, db, channel,
		func() { c.readied.Add(1); ready() },
		func() { c.notified.Add(1); notify() })
	c.lastErr.Store(fmt.Sprint(err))
	return err
}

// listenKind is how a test's store listens: pgx over the store's own
// pool, pgx on a dedicated connection, or lib/pq's (always dedicated).
type listenKind struct {
	name    string
	backend backend
	make    func(t *testing.T, dsn string) sqlstore.Listener
}

var (
	pgxPool = listenKind{"pgx-pool", pgxBackend, func(*testing.T, string) sqlstore.Listener { return pgxlisten.New() }}
	pgxOwn  = listenKind{"pgx-dedicated", pgxBackend, func(t *testing.T, dsn string) sqlstore.Listener {
		cfg, err := pgx.ParseConfig(dsn)
		if err != nil {
			t.Fatal(err)
		}
		l, err := pgxlisten.Dedicated(cfg)
		if err != nil {
			t.Fatal(err)
		}
		return l
	}}
	pqOwn = listenKind{"pq", pqBackend, func(t *testing.T, dsn string) sqlstore.Listener {
		l, err := pqlisten.New(dsn)
		if err != nil {
			t.Fatal(err)
		}
		return l
	}}
	listenKinds = []listenKind{pgxPool, pgxOwn, pqOwn}
)

// pushedFollower opens a second store on dsn with notifications on and
// polling an hour away, and follows its feed from now.
func pushedFollower(t *testing.T, k listenKind, dsn string, opts ...sqlstore.Option) (*sqlstore.Store, *countingListener, *feedRecorder) {
	t.Helper()
	b := k.backend
	cl := &countingListener{Listener: k.make(t, dsn)}
	opts = append(opts, sqlstore.WithFeedPollInterval(time.Minute), sqlstore.WithNotifications(cl))
	s, err := sqlstore.New(openDB(t, b, dsn), opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s, cl, followEvery(t, s, snapshotPos(t, s), time.Hour)
}

// followEvery is follow with a heartbeat of one's choosing.
func followEvery(t *testing.T, s *sqlstore.Store, after authkit.FeedPosition, heartbeat time.Duration) *feedRecorder {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	r := &feedRecorder{done: make(chan struct{}), cancel: cancel}
	go func() {
		defer close(r.done)
		r.err = s.FollowRevocations(ctx, after, heartbeat, func(c []authkit.Revocation, p authkit.FeedPosition) error {
			r.mu.Lock()
			defer r.mu.Unlock()
			r.changes = append(r.changes, c...)
			r.pos = p
			r.calls++
			return nil
		})
	}()
	t.Cleanup(func() { cancel(); <-r.done })
	return r
}

// eventually waits up to 10 s for cond.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); !cond(); time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("waited 10s for %s", what)
		}
	}
}

// listening waits until cl's LISTEN has come into effect n times. A
// revocation committed after that is notified to it.
func (cl *countingListener) listening(t *testing.T, n int64) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); cl.readied.Load() < n; time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("waited 10s for LISTEN number %d; the last Listen returned %v", n, cl.lastErr.Load())
		}
	}
}

// revokeAndSee revokes jti through w and waits for r to receive it.
func revokeAndSee(t *testing.T, w *sqlstore.Store, r *feedRecorder, jti string) {
	t.Helper()
	if err := w.RevokeToken(t.Context(), "alice", jti, time.Now().Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	r.until(t, jti+" through a notification", func(c []authkit.Revocation, _ int) bool {
		return len(c) > 0 && c[len(c)-1].ID == jti
	})
}

// listeners returns the server's backends that listen on channel, by
// the LISTEN they ran last.
func listeners(t *testing.T, db *sql.DB, channel string) []int {
	t.Helper()
	rows, err := db.QueryContext(t.Context(), `SELECT pid FROM pg_stat_activity
		WHERE query = $1 AND pid <> pg_backend_pid() ORDER BY pid`, "LISTEN "+pgx.Identifier{channel}.Sanitize())
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var pids []int
	for rows.Next() {
		var pid int
		if err := rows.Scan(&pid); err != nil {
			t.Fatal(err)
		}
		pids = append(pids, pid)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return pids
}

// waitListeners waits up to 10 s for cond over the channel's listeners.
func waitListeners(t *testing.T, db *sql.DB, channel, what string, cond func([]int) bool) []int {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		pids := listeners(t, db, channel)
		if cond(pids) {
			return pids
		}
		if time.Now().After(deadline) {
			t.Fatalf("waited 10s for %s; the backends listening on %s are %v", what, channel, pids)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// uniquePrefix is a table prefix no other test uses, so that a test may
// look for its channel's listeners on the shared server.
var prefixSeq atomic.Int64

func uniquePrefix(tag string) string {
	return fmt.Sprintf("n%d%s%d_", time.Now().UnixNano()%1e9, tag, prefixSeq.Add(1))
}

// TestNotifyWakesFollower: a revocation through one pool reaches a
// follower on another, whose polls are a minute apart, by its
// notification; with each Listener.
func TestNotifyWakesFollower(t *testing.T) {
	t.Parallel()
	for _, k := range listenKinds {
		t.Run(k.name, func(t *testing.T) {
			// A prefix of its own: stores with the default prefix in other
			// schemas of the server (other tests) notify on its channel.
			p := sqlstore.WithTablePrefix(uniquePrefix("w"))
			w, dsn := newStore(t, k.backend, p)
			_, cl, r := pushedFollower(t, k, dsn, p)
			cl.listening(t, 1)
			// The follower's first poll and the wake-up it gets when the
			// LISTEN comes into effect may each bring one; the third can
			// only come by a notification.
			for i := range 3 {
				revokeAndSee(t, w, r, fmt.Sprint("jti-", i))
			}
			// Each was committed while the LISTEN was in effect.
			eventually(t, "3 notifications", func() bool { return cl.notified.Load() >= 3 })
			if n := cl.notified.Load(); n != 3 {
				t.Errorf("%d notifications for 3 revocations, want 3", n)
			}
			if n := cl.readied.Load(); n != 1 {
				t.Errorf("the LISTEN came into effect %d times, want once", n)
			}
			r.mu.Lock()
			defer r.mu.Unlock()
			if len(r.changes) != 3 {
				t.Errorf("the follower received %d changes, want 3: %+v", len(r.changes), r.changes)
			}
		})
	}
}

// TestNotifyPrefixes: two stores with their own prefixes on one schema
// each notify only their own followers.
func TestNotifyPrefixes(t *testing.T) {
	t.Parallel()
	b := pgxBackend
	pa, pb := uniquePrefix("a"), uniquePrefix("b")
	wa, dsn := newStore(t, b, sqlstore.WithTablePrefix(pa))
	db := openDB(t, b, dsn)
	if err := sqlstore.Migrate(t.Context(), db.DB, b.driver, sqlstore.WithTablePrefix(pb)); err != nil {
		t.Fatal(err)
	}
	wb, err := sqlstore.New(db, sqlstore.WithTablePrefix(pb))
	if err != nil {
		t.Fatal(err)
	}
	_, cla, ra := pushedFollower(t, pgxPool, dsn, sqlstore.WithTablePrefix(pa))
	_, clb, rb := pushedFollower(t, pgxPool, dsn, sqlstore.WithTablePrefix(pb))
	cla.listening(t, 1)
	clb.listening(t, 1)
	revokeAndSee(t, wa, ra, "a-0")
	for i := range 5 {
		if err := wb.RevokeToken(t.Context(), "bob", fmt.Sprint("b-", i), time.Now().Add(time.Hour)); err != nil {
			t.Fatal(err)
		}
	}
	revokeAndSee(t, wa, ra, "a-1")
	rb.until(t, "b's five changes", func(c []authkit.Revocation, _ int) bool { return len(c) == 5 })
	// PostgreSQL delivers notifications in commit order: had b's five
	// reached a's listener, they would have come before a-1's.
	eventually(t, "a's two notifications", func() bool { return cla.notified.Load() >= 2 })
	if n := cla.notified.Load(); n != 2 {
		t.Errorf("%s's listener got %d notifications for two revocations under %s and five under %s, want 2", pa, n, pa, pb)
	}
	eventually(t, "b's five notifications", func() bool { return clb.notified.Load() >= 5 })
	if n := clb.notified.Load(); n != 5 {
		t.Errorf("%s's listener got %d notifications for its five revocations, want 5", pb, n)
	}
	ra.mu.Lock()
	defer ra.mu.Unlock()
	for _, c := range ra.changes {
		if !strings.HasPrefix(c.ID, "a-") {
			t.Errorf("%s's follower received %+v, a change under %s", pa, c, pb)
		}
	}
}

// TestNotifyReconnects: the LISTEN connection killed by the server is
// replaced; what was written while it was down reaches the follower, and
// notifications flow again on the new one. Close then closes it.
func TestNotifyReconnects(t *testing.T) {
	t.Parallel()
	for _, k := range []listenKind{pgxPool, pqOwn} {
		t.Run(k.name, func(t *testing.T) { testNotifyReconnects(t, k) })
	}
}

func testNotifyReconnects(t *testing.T, k listenKind) {
	b := k.backend
	prefix := uniquePrefix("k")
	channel := sqlstore.NotifyChannel(prefix)
	w, dsn := newStore(t, b, sqlstore.WithTablePrefix(prefix))
	admin := w.DB().DB
	s, cl, r := pushedFollower(t, k, dsn, sqlstore.WithTablePrefix(prefix))
	// The first LISTEN in effect (its test notification come back) before
	// it is killed: killed while it waited for that notification, it
	// never counted as ready, and the reconnection below was the first
	// ready one, not the second (the failure of 2026-12-05: "waited 10s
	// for LISTEN number 2; the last Listen returned … waiting for the test
	// notification: FATAL: terminating connection").
	cl.listening(t, 1)
	revokeAndSee(t, w, r, "before")
	old := waitListeners(t, admin, channel, "one LISTEN connection", func(p []int) bool { return len(p) == 1 })

	var killed bool
	if err := admin.QueryRowContext(t.Context(), "SELECT pg_terminate_backend($1)", old[0]).Scan(&killed); err != nil || !killed {
		t.Fatalf("pg_terminate_backend(%d) = %v, %v", old[0], killed, err)
	}
	// Written while the connection is down, or just after: it reaches the
	// follower by the wake-up of the new LISTEN at the latest.
	revokeAndSee(t, w, r, "while-down")
	waitListeners(t, admin, channel, "a new LISTEN connection", func(p []int) bool { return len(p) == 1 && p[0] != old[0] })
	cl.listening(t, 2)
	n := cl.notified.Load()
	revokeAndSee(t, w, r, "after")
	eventually(t, "the notification of the revocation after the reconnection", func() bool { return cl.notified.Load() > n })
	r.mu.Lock()
	got := make([]string, len(r.changes))
	for i, c := range r.changes {
		got[i] = c.ID
	}
	r.mu.Unlock()
	if fmt.Sprint(got) != "[before while-down after]" {
		t.Errorf("the follower received %v, want [before while-down after], once each", got)
	}

	// Close ends the LISTEN; the follower goes on by polling.
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	waitListeners(t, admin, channel, "no LISTEN connection after Close", func(p []int) bool { return len(p) == 0 })
	select {
	case <-r.done:
		t.Fatalf("FollowRevocations returned %v when its store's LISTEN closed", r.err)
	default:
	}
}

// TestNotifyFollowersShareOneConnection: every follower of a Store shares
// its one LISTEN connection, which closes when the last one returns.
func TestNotifyFollowersShareOneConnection(t *testing.T) {
	t.Parallel()
	b := pgxBackend
	prefix := uniquePrefix("s")
	channel := sqlstore.NotifyChannel(prefix)
	w, dsn := newStore(t, b, sqlstore.WithTablePrefix(prefix))
	admin := w.DB().DB
	s, _, r1 := pushedFollower(t, pgxPool, dsn, sqlstore.WithTablePrefix(prefix))
	r2 := followEvery(t, s, snapshotPos(t, s), time.Hour)
	r3 := followEvery(t, s, snapshotPos(t, s), time.Hour)
	revokeAndSee(t, w, r1, "one")
	for _, r := range []*feedRecorder{r2, r3} {
		r.until(t, "the change", func(c []authkit.Revocation, _ int) bool { return len(c) == 1 })
	}
	waitListeners(t, admin, channel, "one LISTEN connection for three followers", func(p []int) bool { return len(p) == 1 })
	for _, r := range []*feedRecorder{r1, r2, r3} {
		r.cancel()
		r.ended(t)
	}
	waitListeners(t, admin, channel, "no LISTEN connection once the followers returned", func(p []int) bool { return len(p) == 0 })
}

// TestNotifyWrongPool: pgxlisten.New over a pool of another driver fails
// with an error that says what to use, and leaves the pool working.
func TestNotifyWrongPool(t *testing.T) {
	t.Parallel()
	db := openDB(t, pqBackend, testservers.Postgres(t))
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	err := pgxlisten.New().Listen(ctx, db.DB, "x_revocation_feed", func() { t.Error("ready called") }, func() { t.Error("notify called") })
	if err == nil || !strings.Contains(err.Error(), "Dedicated") {
		t.Fatalf("Listen over a lib/pq pool = %v, want an error naming Dedicated", err)
	}
	if err := db.PingContext(ctx); err != nil {
		t.Fatalf("the pool after a refused Listen: %v", err)
	}
}
