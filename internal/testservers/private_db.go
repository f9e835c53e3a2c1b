package testservers

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"
)

// DBServer is a private PostgreSQL or MariaDB server a test started from
// the machine's binaries, in a data directory of its own on a loopback
// port, which the test can restart as a crash would: [RestartablePostgres],
// [RestartableMariaDB]. t.Cleanup stops it (whichever process is current)
// and removes its data.
type DBServer struct {
	kind  string
	dsn   string
	start func(port string) (stop func(), err error)
	port  string
	stop  func()
}

// DSN returns the server's DSN (a postgres:// URL on database postgres,
// or a go-sql-driver DSN on database test); it stays the same across
// restarts. Fresh gives a test a place of its own on the server.
func (p *DBServer) DSN() string { return p.dsn }

// Restart stops the server as a crash would — MariaDB killed (SIGKILL),
// PostgreSQL in an immediate shutdown (SIGQUIT to the postmaster, which
// makes its next start replay the write-ahead log) — and starts it again
// on the same port and data. Connections open before it are broken.
func (p *DBServer) Restart(t testing.TB) {
	t.Helper()
	p.stop()
	var lastErr error
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) { // the port may linger a moment
		stop, err := p.start(p.port)
		if err == nil {
			p.stop = stop
			return
		}
		lastErr = err
		time.Sleep(100 * time.Millisecond)
	}
	p.stop = func() {}
	t.Fatalf("restarting the private %s on port %s: %v", p.kind, p.port, lastErr)
}

// first starts p on a free loopback port, trying another if one is taken
// between picking and binding, and stops it when t ends.
func (p *DBServer) first(t testing.TB) {
	t.Helper()
	var lastErr error
	for range 3 {
		port, err := freePort()
		if err != nil {
			t.Fatal(err)
		}
		stop, err := p.start(port)
		if err == nil {
			p.port, p.stop = port, stop
			t.Cleanup(func() { p.stop() })
			return
		}
		lastErr = err
	}
	t.Fatalf("starting the private %s: %v", p.kind, lastErr)
}

// Fresh returns a DSN of p whose unqualified tables land in a place of
// t's own: a schema on PostgreSQL (the search_path parameter), a database
// on MariaDB. It is not dropped when t ends (the whole server is), so
// that a test that restarts the server has no cleanup to fail.
func (p *DBServer) Fresh(t testing.TB) string {
	t.Helper()
	name := uniqueName()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var (
		db  *sql.DB
		err error
		dsn string
	)
	if p.kind == "PostgreSQL" {
		cfg, perr := pgx.ParseConfig(p.dsn)
		if perr != nil {
			t.Fatalf("Fresh: %v", perr)
		}
		db = stdlib.OpenDB(*cfg)
		_, err = db.ExecContext(ctx, "CREATE SCHEMA "+name)
		dsn = p.dsn + "&search_path=" + name
	} else {
		cfg, perr := mysql.ParseDSN(p.dsn)
		if perr != nil {
			t.Fatalf("Fresh: %v", perr)
		}
		db, err = openMySQL(cfg, "")
		if err == nil {
			_, err = db.ExecContext(ctx, "CREATE DATABASE "+name+" CHARACTER SET utf8mb4")
		}
		cfg.DBName = name
		dsn = cfg.FormatDSN()
	}
	if db != nil {
		db.Close()
	}
	if err != nil {
		t.Fatalf("Fresh on the private %s: %v", p.kind, err)
	}
	return dsn
}

// freePort returns a loopback port no one listened on a moment ago.
func freePort() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer l.Close()
	return strconv.Itoa(l.Addr().(*net.TCPAddr).Port), nil
}

// missingBinaries skips t for want (the server it needed) without the
// binaries named, or fails it under AUTHKIT_REQUIRE_BACKENDS=1.
func missingBinaries(t testing.TB, want, binaries string, errs ...error) {
	t.Helper()
	msg := fmt.Sprintf("no %s to start %s from (%v)", binaries, want, errors.Join(errs...))
	if os.Getenv(RequireEnv) == "1" {
		t.Fatalf("%s (%s=1: a missing server is a failure)", msg, RequireEnv)
	}
	noteSkip(want, "PATH")
	t.Skipf("%s (set AUTHKIT_REQUIRE_BACKENDS=1 to make this a failure)", msg)
}
