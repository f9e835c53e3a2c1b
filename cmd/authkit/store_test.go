package main

import (
	"context"
	"database/sql"
	"errors"
	"log/slog"
	"net"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/redis/go-redis/v9"

	"github.com/authkit-go/authkit"
	"github.com/authkit-go/authkit/internal/testservers"
)

var discardLog = slog.New(slog.DiscardHandler)

func TestOpenStoreMemory(t *testing.T) {
	t.Parallel()
	st, err := openStore(context.Background(), "memory", false, discardLog)
	if err != nil || st.store == nil || st.kind != "memory" {
		t.Fatalf("memory: %+v, %v", st, err)
	}
	for _, spec := range []string{"", "memory://x", "mongodb://u:s3cret@h", "u:s3cret@tcp(h)/db", "memcache", "?:s3cret"} {
		_, err := openStore(context.Background(), spec, false, discardLog)
		var ue *usageError
		if !errors.As(err, &ue) {
			t.Errorf("%q: %v, want a usage error", spec, err)
		}
		if err != nil && strings.Contains(err.Error(), "s3cret") {
			t.Errorf("%q: the error reveals the password: %v", spec, err)
		}
	}
}

// Unreachable servers fail at start-up, promptly, without repeating the
// password of the DSN.
func TestOpenStoreUnreachable(t *testing.T) {
	t.Parallel()
	for _, spec := range []string{
		"postgres://authkit:s3cret@127.0.0.1:1/authkit?sslmode=disable&connect_timeout=2",
		"mysql://authkit:s3cret@127.0.0.1:1/authkit?timeout=2s",
		"redis://:s3cret@127.0.0.1:1/0?dial_timeout=2s",
	} {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		_, err := openStore(ctx, spec, false, discardLog)
		cancel()
		if err == nil {
			t.Errorf("%s: opened an unreachable store", spec[:8])
			continue
		}
		if strings.Contains(err.Error(), "s3cret") {
			t.Errorf("%s: the error reveals the password: %v", spec[:8], err)
		}
	}
}

// serve's store flag reaches every real backend, and --migrate prepares a
// fresh SQL database.
func TestOpenStoreBackends(t *testing.T) {
	ctx := context.Background()
	check := func(t *testing.T, spec string, migrate bool) {
		t.Helper()
		st, err := openStore(ctx, spec, migrate, discardLog)
		if err != nil {
			t.Fatalf("openStore: %v", err)
		}
		defer st.close()
		if err := st.store.SetCutoff(ctx, "alice", time.Now(), time.Now().Add(time.Minute)); err != nil {
			t.Fatalf("a write through the opened store: %v", err)
		}
		if p, ok := st.store.(authkit.Pinger); !ok || p.Ping(ctx) != nil {
			t.Fatalf("the opened store does not answer Ping")
		}
	}
	t.Run("sqlite", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "authkit.db")
		if _, err := openStore(ctx, "sqlite:"+path, false, discardLog); err == nil || !strings.Contains(err.Error(), "migrat") {
			t.Fatalf("a fresh database without --migrate: %v, want an error that says to migrate", err)
		}
		check(t, "sqlite:"+path, true)
		check(t, "sqlite:"+path, false) // migrated already
	})
	t.Run("postgres", func(t *testing.T) {
		dsn := testservers.Postgres(t)
		if err := migrateSQL(ctx, dsn, discardLog); err != nil {
			t.Fatal(err)
		}
		check(t, dsn, false)
	})
	t.Run("redis", func(t *testing.T) {
		check(t, redisStoreURL(t), false)
	})
}

// A store that cannot be opened is reported without the database user,
// the database name or the server's address, which the drivers put in
// their messages: neither in openStore's error nor in what serve prints.
func TestOpenStoreNamesNoServer(t *testing.T) {
	pg := testservers.Addr(t, testservers.Postgres(t))
	my := testservers.Addr(t, testservers.MySQL(t))
	rd := testservers.Redis(t)
	refused := testservers.ClosedAddr(t)
	names := []string{"zed_user", "zed_db", "s3cret"}
	for _, a := range []string{pg, my, rd, refused} {
		host, port, _ := net.SplitHostPort(a)
		names = append(names, host, ":"+port)
	}
	check := func(t *testing.T, what, text string) {
		t.Helper()
		for _, n := range names {
			if strings.Contains(text, n) {
				t.Errorf("%s names %q: %s", what, n, text)
			}
		}
	}
	for _, spec := range []string{
		"postgres://zed_user:s3cret@" + refused + "/zed_db?sslmode=disable&connect_timeout=5",
		"postgres://zed_user:s3cret@" + pg + "/zed_db?sslmode=disable",
		"mysql://zed_user:s3cret@" + refused + "/zed_db?timeout=5s",
		"mysql://zed_user:s3cret@" + my + "/zed_db?timeout=5s",
		"redis://zed_user:s3cret@" + refused + "/0?dial_timeout=2s",
		"redis://zed_user:s3cret@" + rd + "/0?dial_timeout=2s",
	} {
		t.Run(spec[:strings.Index(spec, ":")], func(t *testing.T) {
			ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
			defer cancel()
			_, err := openStore(ctx, spec, false, discardLog)
			if !errors.Is(err, authkit.ErrStoreUnavailable) {
				t.Fatalf("openStore = %v, want ErrStoreUnavailable", err)
			}
			check(t, "openStore's error", err.Error())
			var stdout, stderr strings.Builder
			if code := run(ctx, []string{"serve", "--store", spec}, strings.NewReader(""), &stdout, &stderr); code == exitOK {
				t.Fatalf("serve with an unreachable store exited %d", code)
			}
			if !strings.Contains(stderr.String(), "store unavailable") {
				t.Errorf("serve's standard error does not report the store: %s", stderr.String())
			}
			check(t, "serve's standard error", stderr.String())
		})
	}
}

// The MySQL driver's and go-redis's own log lines go to the logger given
// to openStore, attributed to the driver and without addresses, not raw
// to standard error.
func TestDriverLogsReachSlog(t *testing.T) {
	t.Run("mysql", func(t *testing.T) {
		// A server that accepts connections and never greets: the driver
		// logs the read that timed out (with both addresses, in its own
		// words).
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { l.Close() })
		go func() {
			for {
				c, err := l.Accept()
				if err != nil {
					return
				}
				t.Cleanup(func() { c.Close() })
			}
		}()
		var logs syncBuffer
		log := slog.New(slog.NewTextHandler(&logs, nil))
		ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
		defer cancel()
		_, err = openStore(ctx, "mysql://zed_user:s3cret@"+l.Addr().String()+"/zed_db?timeout=2s&readTimeout=300ms", false, log)
		if err == nil {
			t.Fatal("opened a store on a server that never answers")
		}
		t.Logf("openStore: %v", err)
		checkDriverLog(t, logs.String(), "mysql", l.Addr().String())
	})
	t.Run("go-redis", func(t *testing.T) {
		var logs syncBuffer
		log := slog.New(slog.NewTextHandler(&logs, nil))
		ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
		defer cancel()
		addr := testservers.ClosedAddr(t)
		if _, err := openStore(ctx, "redis://zed_user:s3cret@"+addr+"/0?dial_timeout=1s&max_retries=-1", false, log); err == nil {
			t.Fatal("opened a store on a closed port")
		}
		checkDriverLog(t, logs.String(), "go-redis", addr)
	})
}

func checkDriverLog(t *testing.T, logs, driver, addr string) {
	t.Helper()
	t.Logf("logged:\n%s", logs)
	if !strings.Contains(logs, "level=WARN") || !strings.Contains(logs, "driver="+driver) {
		t.Errorf("no Warn line attributed to %s reached the logger", driver)
	}
	_, port, _ := net.SplitHostPort(addr)
	for _, n := range []string{"zed_user", "zed_db", "s3cret", addr, ":" + port} {
		if strings.Contains(logs, n) {
			t.Errorf("the %s log lines name %q", driver, n)
		}
	}
}

// redisStoreURL is a --store URL on the test Redis under a key prefix of
// t's own, whose keys are deleted when t ends.
func redisStoreURL(t *testing.T) string {
	t.Helper()
	addr := testservers.Redis(t)
	rdb := redis.NewClient(&redis.Options{Addr: addr})
	t.Cleanup(func() { rdb.Close() })
	return "redis://" + addr + "/0?key_prefix=" + testservers.RedisPrefix(t, rdb)
}

// failingListener fails every Listen with err.
type failingListener struct{ err error }

func (l failingListener) Listen(context.Context, *sql.DB, string, func(), func()) error { return l.err }

// The LISTEN connection's failure is logged with the PostgreSQL error's
// SQLSTATE and name (found by review: a terminated connection was logged
// as "*pgconn.PgError (message withheld)"), never with its message.
func TestListenFailureNamesSQLState(t *testing.T) {
	var logs syncBuffer
	l := &loggedListener{Listener: failingListener{&pgconn.PgError{Code: "57P01", Message: "terminating connection due to administrator command at db.internal"}}, log: newLogger(&logs, "text", "info")}
	_ = l.Listen(t.Context(), nil, "authkit_revocations", func() {}, func() {})
	out := logs.String()
	if !strings.Contains(out, "SQLSTATE 57P01") || strings.Contains(out, "db.internal") {
		t.Errorf("the LISTEN failure's warning:\n%s\nwant the SQLSTATE, not the message", out)
	}
}
