// Package testservers finds the database servers that backend tests run
// against, and gives each test an isolated place on them.
//
// A server is looked for in the order DESIGN.md fixes:
//
//  1. an address in the environment (AUTHKIT_TEST_POSTGRES_DSN,
//     AUTHKIT_TEST_MYSQL_DSN);
//  2. else a container started with testcontainers-go, when a Docker engine
//     answers (one per server kind per test binary, removed by
//     testcontainers' reaper when the binary exits);
//  3. else the test is skipped with a message saying how to run it —
//     unless AUTHKIT_REQUIRE_BACKENDS=1, when a missing server fails it.
//
// A server named in the environment that does not answer always fails the
// test: it was asked for.
//
// Each call isolates its caller: Postgres creates a schema and MySQL a
// database, both dropped in t.Cleanup, so that runs never see each other's
// rows. A new kind of server (Redis, say) is one more [kind] value and a
// function that isolates a test on it (a key prefix).
package testservers

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"fmt"
	"net/url"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"
)

// RequireEnv is the variable that turns a missing server into a failure.
const RequireEnv = "AUTHKIT_REQUIRE_BACKENDS"

// Environment variables naming the servers.
const (
	PostgresEnv = "AUTHKIT_TEST_POSTGRES_DSN"
	MySQLEnv    = "AUTHKIT_TEST_MYSQL_DSN"
)

// PoolConns is the most connections a test's pool opens ([LimitPool]).
// database/sql opens as many as there are concurrent calls, and the
// conformance races run 128 goroutines on each pool: two such runs at
// once (pgx and lib/pq on one PostgreSQL, as CI runs them) went past
// PostgreSQL's default max_connections of 100, and the calls failed with
// SQLSTATE 53300 (too many connections) instead of racing. Ten concurrent
// transactions still race.
const PoolConns = 10

// admins holds, per server DSN, the pool that creates and drops the
// tests' schemas and databases, open for the life of the test binary: an
// administrative connection opened and closed per test was a PostgreSQL
// backend forked and torn down twice per test, most of the server's CPU
// in a conformance run.
var admins struct {
	sync.Mutex
	pools map[string]*sql.DB
}

// adminPool returns the administrative pool for the server named by dsn,
// opening it with open the first time.
func adminPool(dsn string, open func() (*sql.DB, error)) (*sql.DB, error) {
	admins.Lock()
	defer admins.Unlock()
	if db := admins.pools[dsn]; db != nil {
		return db, nil
	}
	db, err := open()
	if err != nil {
		return nil, err
	}
	db.SetMaxOpenConns(2)
	db.SetMaxIdleConns(2)
	if admins.pools == nil {
		admins.pools = map[string]*sql.DB{}
	}
	admins.pools[dsn] = db
	return db, nil
}

// LimitPool bounds db to PoolConns open connections and keeps them open
// while it lives (database/sql keeps two idle by default: a burst of ten
// closed eight, for the next burst to open again). Every test pool on a
// shared server is opened through it, or through sqlstore.Open (bounded
// to 4×GOMAXPROCS, at least 8, and as many kept idle).
func LimitPool(db *sql.DB) {
	db.SetMaxOpenConns(PoolConns)
	db.SetMaxIdleConns(PoolConns)
}

// kind describes one kind of server and how to find it.
type kind struct {
	// name is what messages call it.
	name string
	// env holds the server's address or DSN.
	env string
	// example is a value for env, for the skip message.
	example string
	// container starts a container and returns its address or DSN.
	container func(ctx context.Context) (string, error)

	once sync.Once
	addr string
	err  error
}

var (
	postgresKind = &kind{
		name:      "PostgreSQL",
		env:       PostgresEnv,
		example:   "postgres://postgres@127.0.0.1:5432/test?sslmode=disable",
		container: startPostgres,
	}
	mysqlKind = &kind{
		name:      "MySQL/MariaDB",
		env:       MySQLEnv,
		example:   "root@tcp(127.0.0.1:3306)/test?parseTime=true",
		container: startMySQL,
	}
)

// locate returns the server's address: from the environment, else from a
// container (started once per test binary), else it skips or fails t.
func (k *kind) locate(t testing.TB) string {
	t.Helper()
	if v := os.Getenv(k.env); v != "" {
		return v
	}
	k.once.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
		defer cancel()
		k.addr, k.err = k.container(ctx)
	})
	if k.err == nil {
		return k.addr
	}
	msg := fmt.Sprintf("no %s server: %s is not set and no container could be started (%v); run the test with %s=%s",
		k.name, k.env, k.err, k.env, k.example)
	if os.Getenv(RequireEnv) == "1" {
		t.Fatalf("%s (%s=1: a missing server is a failure)", msg, RequireEnv)
	}
	noteSkip(k.name, k.env)
	t.Skipf("%s, or with a Docker engine running (set AUTHKIT_REQUIRE_BACKENDS=1 to make this a failure)", msg)
	return ""
}

// uniqueName returns a fresh identifier for a schema or database.
func uniqueName() string {
	var b [6]byte
	_, _ = rand.Read(b[:])
	return "authkit_test_" + hex.EncodeToString(b[:])
}

// Postgres returns a postgres:// DSN whose search_path is a schema created
// for t alone and dropped when t ends. Both pgx and lib/pq honour the
// search_path parameter, so every unqualified table the test creates lands
// in that schema.
func Postgres(t testing.TB) string {
	t.Helper()
	base := postgresKind.locate(t)
	u, err := url.Parse(base)
	if err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") {
		t.Fatalf("%s must be a postgres:// URL", PostgresEnv)
	}
	cfg, err := pgx.ParseConfig(base)
	if err != nil {
		t.Fatalf("%s does not parse: %v", PostgresEnv, err)
	}
	admin, _ := adminPool(base, func() (*sql.DB, error) { return stdlib.OpenDB(*cfg), nil })
	schema := uniqueName()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := admin.ExecContext(ctx, "CREATE SCHEMA "+schema); err != nil {
		t.Fatalf("the PostgreSQL server named by %s does not answer or refuses CREATE SCHEMA: %v", PostgresEnv, err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if _, err := admin.ExecContext(ctx, "DROP SCHEMA IF EXISTS "+schema+" CASCADE"); err != nil {
			t.Errorf("dropping schema %s: %v", schema, err)
		}
	})
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return u.String()
}

// MySQL returns a github.com/go-sql-driver/mysql DSN
// (user:pass@tcp(host:port)/db?…) naming a database created for t alone
// and dropped when t ends.
func MySQL(t testing.TB) string {
	t.Helper()
	base := mysqlKind.locate(t)
	cfg, err := mysql.ParseDSN(base)
	if err != nil {
		t.Fatalf("%s does not parse as a go-sql-driver/mysql DSN: %v", MySQLEnv, err)
	}
	admin, err := adminPool(base, func() (*sql.DB, error) { return openMySQL(cfg, "") })
	if err != nil {
		t.Fatalf("%s: %v", MySQLEnv, err)
	}
	name := uniqueName()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := admin.ExecContext(ctx, "CREATE DATABASE "+name+" CHARACTER SET utf8mb4"); err != nil {
		t.Fatalf("the MySQL server named by %s does not answer or refuses CREATE DATABASE: %v", MySQLEnv, err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if _, err := admin.ExecContext(ctx, "DROP DATABASE IF EXISTS "+name); err != nil {
			t.Errorf("dropping database %s: %v", name, err)
		}
	})
	own := cfg.Clone()
	own.DBName = name
	return own.FormatDSN()
}

// openMySQL opens cfg with its database replaced by db.
func openMySQL(cfg *mysql.Config, db string) (*sql.DB, error) {
	c := cfg.Clone()
	c.DBName = db
	conn, err := mysql.NewConnector(c)
	if err != nil {
		return nil, err
	}
	return sql.OpenDB(conn), nil
}

// Addr returns the host:port a DSN from Postgres or MySQL connects to, and
// WithAddr returns the DSN pointed at another address (a proxy in front of
// the server, say).
func Addr(t testing.TB, dsn string) string {
	t.Helper()
	if strings.HasPrefix(dsn, "postgres") {
		u, err := url.Parse(dsn)
		if err != nil {
			t.Fatalf("Addr: %v", err)
		}
		port := u.Port()
		if port == "" {
			port = "5432"
		}
		return u.Hostname() + ":" + port
	}
	cfg, err := mysql.ParseDSN(dsn)
	if err != nil {
		t.Fatalf("Addr: %v", err)
	}
	return cfg.Addr
}

// WithAddr returns dsn (from Postgres or MySQL) pointed at addr.
func WithAddr(t testing.TB, dsn, addr string) string {
	t.Helper()
	if strings.HasPrefix(dsn, "postgres") {
		u, err := url.Parse(dsn)
		if err != nil {
			t.Fatalf("WithAddr: %v", err)
		}
		u.Host = addr
		return u.String()
	}
	cfg, err := mysql.ParseDSN(dsn)
	if err != nil {
		t.Fatalf("WithAddr: %v", err)
	}
	cfg.Addr = addr
	return cfg.FormatDSN()
}
