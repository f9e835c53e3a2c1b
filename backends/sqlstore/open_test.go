package sqlstore_test

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"
	"github.com/jmoiron/sqlx"

	"github.com/authkit-go/authkit"
	"github.com/authkit-go/authkit/backends/sqlstore"
	"github.com/authkit-go/authkit/internal/testservers"
)

// urlDSN turns a fresh database of b into the DSN form Open takes.
func urlDSN(t *testing.T, b backend) string {
	t.Helper()
	switch b.driver {
	case "mysql":
		cfg, err := mysql.ParseDSN(b.fresh(t))
		if err != nil {
			t.Fatal(err)
		}
		return fmt.Sprintf("mysql://%s:%s@%s/%s", cfg.User, cfg.Passwd, cfg.Addr, cfg.DBName)
	case "sqlite":
		return "sqlite:" + filepath.Join(t.TempDir(), "authkit.db")
	}
	return b.fresh(t)
}

// TestOpen opens each dialect from a DSN: before the migrations Open
// refuses (naming the missing table), after them it works, and Close
// closes the pool it made.
func TestOpen(t *testing.T) {
	t.Parallel()
	for _, b := range allBackends {
		t.Run(b.name, func(t *testing.T) {
			dsn := urlDSN(t, b)
			var opts []sqlstore.Option
			if b.driver == "postgres" {
				opts = append(opts, sqlstore.WithDriver("postgres")) // lib/pq
			}
			ctx := t.Context()
			// SQLite's file is not there yet: Open names it and the first
			// migration (TestOpenSQLiteMissingFile).
			want := "authkit_"
			if b.driver == "sqlite" {
				want = "does not exist"
			}
			if _, err := sqlstore.Open(ctx, dsn, opts...); err == nil || !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), "migrat") {
				t.Fatalf("Open before the migrations = %v, want an error naming the missing table (or file) and the migrations", err)
			}
			db, err := sqlstore.OpenDB(ctx, dsn, opts...)
			if err != nil {
				t.Fatalf("OpenDB: %v", err)
			}
			if got := db.DriverName(); got != b.driver {
				t.Errorf("OpenDB's driver is %q, want %q", got, b.driver)
			}
			if err := sqlstore.Migrate(ctx, db.DB, db.DriverName()); err != nil {
				t.Fatalf("Migrate: %v", err)
			}
			db.Close()
			s, err := sqlstore.Open(ctx, dsn, opts...)
			if err != nil {
				t.Fatalf("Open after the migrations: %v", err)
			}
			if err := s.Ping(ctx); err != nil {
				t.Errorf("Ping: %v", err)
			}
			tok := authkit.APIToken{ID: "tok-1", Hash: authkit.TokenHash{1}, Subject: "alice", Name: "ci", CreatedAt: time.Now()}
			if err := s.CreateAPIToken(ctx, tok, 1, time.Now()); err != nil {
				t.Fatalf("CreateAPIToken: %v", err)
			}
			if got, err := s.LookupAPIToken(ctx, tok.Hash); err != nil || got.ID != tok.ID {
				t.Errorf("LookupAPIToken = %+v, %v", got, err)
			}
			if err := s.Close(); err != nil {
				t.Errorf("Close: %v", err)
			}
			if err := s.Ping(ctx); !errors.Is(err, authkit.ErrStoreUnavailable) {
				t.Errorf("Ping after Close = %v, want ErrStoreUnavailable", err)
			}
		})
	}
}

// TestOpenSQLiteSettings checks the pragmas Open sets on a SQLite file.
func TestOpenSQLiteSettings(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "authkit.db")
	db, err := sqlstore.OpenDB(t.Context(), "sqlite://"+path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	for pragma, want := range map[string]string{"journal_mode": "wal", "busy_timeout": "5000", "foreign_keys": "1", "synchronous": "2"} {
		var got string
		if err := db.QueryRowContext(t.Context(), "PRAGMA "+pragma).Scan(&got); err != nil {
			t.Fatal(err)
		}
		if got != want {
			t.Errorf("PRAGMA %s = %s, want %s", pragma, got, want)
		}
	}
	// A pragma given in the DSN wins over the default.
	db2, err := sqlstore.OpenDB(t.Context(), "sqlite:"+path+"?_pragma=busy_timeout(1234)")
	if err != nil {
		t.Fatal(err)
	}
	defer db2.Close()
	var got string
	if err := db2.QueryRowContext(t.Context(), "PRAGMA busy_timeout").Scan(&got); err != nil || got != "1234" {
		t.Errorf("PRAGMA busy_timeout with the DSN's own value = %s, %v, want 1234", got, err)
	}
}

// TestOpenRefuses covers DSNs Open cannot use, and checks that no error
// repeats a password.
func TestOpenRefuses(t *testing.T) {
	t.Parallel()
	const secret = "s3cr3t-pa55"
	for _, c := range []struct {
		name string
		dsn  string
		opts []sqlstore.Option
	}{
		{"empty", "", nil},
		{"unknown scheme", "redis://localhost:6379", nil},
		{"no scheme", "localhost", nil},
		{"postgres bad port", "postgres://u:" + secret + "@localhost:99999999/db", nil},
		{"postgres lib/pq bad", "postgres://u:" + secret + "@local host:5432/db", []sqlstore.Option{sqlstore.WithDriver("postgres")}},
		{"postgres with the mysql driver", "postgres://u:" + secret + "@localhost/db", []sqlstore.Option{sqlstore.WithDriver("mysql")}},
		{"mysql without a database", "mysql://u:" + secret + "@localhost:3306", nil},
		{"mysql with a bad parameter", "mysql://u:" + secret + "@localhost:3306/db?timeout=forever", nil},
		{"sqlite in memory", "sqlite::memory:", nil},
		{"sqlite in memory through its vfs", "sqlite:x.db?vfs=memdb", nil},
		{"sqlite without a path", "sqlite:", nil},
		{"sqlite with the pgx driver", "sqlite:x.db", []sqlstore.Option{sqlstore.WithDriver("pgx")}},
		{"bad prefix", "sqlite:x.db", []sqlstore.Option{sqlstore.WithTablePrefix("Auth-")}},
		{"unknown driver", "sqlite:x.db", []sqlstore.Option{sqlstore.WithDriver("sqlite3")}},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := sqlstore.Open(t.Context(), c.dsn, c.opts...)
			if err == nil {
				t.Fatal("Open succeeded")
			}
			if strings.Contains(err.Error(), secret) {
				t.Errorf("the error repeats the DSN's password: %v", err)
			}
		})
	}
}

// TestOpenUnreachable: a server that refuses connections is
// ErrStoreUnavailable at once, without the DSN's password in the message.
func TestOpenUnreachable(t *testing.T) {
	t.Parallel()
	for _, dsn := range []string{
		"postgres://u:hunter2@" + testservers.ClosedAddr(t) + "/db?sslmode=disable",
		"mysql://u:hunter2@" + testservers.ClosedAddr(t) + "/db",
	} {
		ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
		start := time.Now()
		_, err := sqlstore.Open(ctx, dsn)
		cancel()
		if !errors.Is(err, authkit.ErrStoreUnavailable) {
			t.Errorf("Open of a closed port = %v, want ErrStoreUnavailable", err)
		}
		if err != nil && strings.Contains(err.Error(), "hunter2") {
			t.Errorf("the error repeats the password: %v", err)
		}
		if d := time.Since(start); d > 5*time.Second {
			t.Errorf("Open of a closed port took %v", d)
		}
	}
}

// TestNewDetectsDialect covers New's driver detection and WithDriver.
func TestNewDetectsDialect(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		driver string
		opts   []sqlstore.Option
		ok     bool
	}{
		{"pgx", nil, true},
		{"postgres", nil, true},
		{"mysql", nil, true},
		{"sqlite", nil, true},
		{"sqlite3", nil, false},
		{"otelsql-wrapped", nil, false},
		{"otelsql-wrapped", []sqlstore.Option{sqlstore.WithDriver("pgx")}, true},
		{"pgx", []sqlstore.Option{sqlstore.WithTablePrefix("app_authkit_")}, true},
		{"pgx", []sqlstore.Option{sqlstore.WithTablePrefix("")}, false},
		{"pgx", []sqlstore.Option{sqlstore.WithTablePrefix("a; DROP TABLE x")}, false},
		{"pgx", []sqlstore.Option{sqlstore.WithTablePrefix(strings.Repeat("a", sqlstore.MaxTablePrefixLen+1))}, false},
		{"pgx", []sqlstore.Option{nil}, false},
	} {
		db := sqlx.NewDb(nil, c.driver)
		_, err := sqlstore.New(db, c.opts...)
		if (err == nil) != c.ok {
			t.Errorf("New(driver %q, %d options) error = %v, want ok %v", c.driver, len(c.opts), err, c.ok)
		}
	}
	if _, err := sqlstore.New(nil); err == nil {
		t.Error("New(nil) succeeded")
	}
}

// TestMigrate checks that Migrate is idempotent and safe when several
// servers run it at once, and that CheckSchema tells a migrated database
// from one that is not.
func TestMigrate(t *testing.T) {
	t.Parallel()
	for _, b := range []backend{pgxBackend, mysqlBackend, sqliteBackend} {
		t.Run(b.name, func(t *testing.T) {
			dsn := b.fresh(t)
			ctx := t.Context()
			probe, err := sqlstore.New(openDB(t, b, dsn))
			if err != nil {
				t.Fatal(err)
			}
			if err := probe.CheckSchema(ctx); err == nil {
				t.Fatal("CheckSchema on an empty database = nil")
			}
			// Four servers start at once, each with its own pool.
			var wg sync.WaitGroup
			errs := make([]error, 4)
			for i := range errs {
				db := openDB(t, b, dsn)
				wg.Go(func() { errs[i] = sqlstore.Migrate(ctx, db.DB, b.driver) })
			}
			wg.Wait()
			for i, err := range errs {
				if err != nil {
					t.Errorf("concurrent Migrate #%d: %v", i, err)
				}
			}
			db := openDB(t, b, dsn)
			// The Store's Migrate: the same, with the Store's dialect and prefix.
			if err := probe.Migrate(ctx); err != nil {
				t.Errorf("Migrate again: %v", err)
			}
			dir := map[string]string{"pgx": "postgres", "postgres": "postgres", "mysql": "mysql", "sqlite": "sqlite"}[b.driver]
			files, err := fs.Glob(sqlstore.Migrations(), "migrations/"+dir+"/*.up.sql")
			if err != nil || len(files) < 2 {
				t.Fatalf("the %s migrations: %q, %v", dir, files, err)
			}
			var n int
			if err := db.QueryRowContext(ctx, "SELECT COUNT(*) FROM authkit_schema_migrations").Scan(&n); err != nil || n != len(files) {
				t.Errorf("authkit_schema_migrations holds %d rows (%v), want one per migration, %d", n, err, len(files))
			}
			if err := probe.CheckSchema(ctx); err != nil {
				t.Errorf("CheckSchema after Migrate: %v", err)
			}
		})
	}
}

// TestShippedFiles applies the shipped .sql files the way another
// migration tool would (each file whole, in one Exec; MySQL with
// multiStatements=true), then checks that the store works on the result.
func TestShippedFiles(t *testing.T) {
	t.Parallel()
	for _, b := range []backend{pgxBackend, mysqlBackend, sqliteBackend} {
		t.Run(b.name, func(t *testing.T) {
			dsn := b.fresh(t)
			toolDSN := dsn
			if b.driver == "mysql" {
				toolDSN += "&multiStatements=true"
			}
			tool := openDB(t, b, toolDSN)
			dir := "migrations/" + map[string]string{"pgx": "postgres", "mysql": "mysql", "sqlite": "sqlite"}[b.driver]
			files, err := filepath.Glob(filepath.Join(dir, "*.up.sql"))
			if err != nil || len(files) == 0 {
				t.Fatalf("no migrations in %s (%v)", dir, err)
			}
			for _, f := range files {
				body, err := sqlstoreFS(t, f)
				if err != nil {
					t.Fatal(err)
				}
				if _, err := tool.ExecContext(t.Context(), body); err != nil {
					t.Fatalf("applying %s as one script: %v", f, err)
				}
			}
			s, err := sqlstore.New(openDB(t, b, dsn))
			if err != nil {
				t.Fatal(err)
			}
			if err := s.CheckSchema(t.Context()); err != nil {
				t.Fatalf("CheckSchema after the shipped files: %v", err)
			}
			if err := s.RevokeToken(t.Context(), "alice", "jti-1", time.Now().Add(time.Hour)); err != nil {
				t.Fatal(err)
			}
			dead, err := s.IsRevoked(t.Context(), authkit.RevocationQuery{TokenID: "jti-1", Subject: "alice", IssuedAt: time.Now()}, time.Now())
			if err != nil || !dead {
				t.Errorf("IsRevoked = %v, %v, want true", dead, err)
			}
		})
	}
}

// sqlstoreFS reads a shipped migration and checks that the embedded copy
// Migrations serves is the same file.
func sqlstoreFS(t *testing.T, path string) (string, error) {
	t.Helper()
	onDisk, err := os.ReadFile(path)
	if err != nil {
		return "", err
	}
	embedded, err := fs.ReadFile(sqlstore.Migrations(), filepath.ToSlash(path))
	if err != nil {
		return "", err
	}
	if string(onDisk) != string(embedded) {
		t.Errorf("the embedded %s differs from the file", path)
	}
	return string(onDisk), nil
}

// TestErrorsNameNoServer: a store error says what went wrong — refused,
// no such host, the server's error code — without the database user, the
// database name, the server's host and port or a SQLite file's path, all
// of which pgx, lib/pq and the MySQL driver put in their messages; the
// driver's error stays reachable with errors.As.
func TestErrorsNameNoServer(t *testing.T) {
	t.Parallel()
	pg := testservers.Addr(t, testservers.Postgres(t))
	my := testservers.Addr(t, testservers.MySQL(t))
	refused := testservers.ClosedAddr(t)
	dir := filepath.Join(t.TempDir(), "zed_dir")
	names := []string{"zed_user", "zed_db", "zed-host", "zed_dir", "s3cret"}
	for _, a := range []string{pg, my, refused} {
		host, port, _ := net.SplitHostPort(a)
		names = append(names, host, ":"+port, port+")", port+" ")
	}
	for _, c := range []struct {
		name, dsn, driver, want string
	}{
		{"pgx refused", "postgres://zed_user:s3cret@" + refused + "/zed_db?sslmode=disable&connect_timeout=5", "pgx", "connection refused"},
		{"pgx no such user", "postgres://zed_user:s3cret@" + pg + "/zed_db?sslmode=disable", "pgx", "SQLSTATE 28"},
		{"pgx no such database", "postgres://postgres@" + pg + "/zed_db?sslmode=disable", "pgx", "SQLSTATE 3D000"},
		{"pgx no such host", "postgres://zed_user:s3cret@zed-host.invalid:5432/zed_db?sslmode=disable&connect_timeout=5", "pgx", "lookup"},
		{"lib/pq refused", "postgres://zed_user:s3cret@" + refused + "/zed_db?sslmode=disable&connect_timeout=5", "postgres", "connection refused"},
		{"lib/pq no such user", "postgres://zed_user:s3cret@" + pg + "/zed_db?sslmode=disable", "postgres", "SQLSTATE 28"},
		{"lib/pq no such database", "postgres://postgres@" + pg + "/zed_db?sslmode=disable", "postgres", "SQLSTATE 3D000"},
		{"mysql refused", "mysql://zed_user:s3cret@" + refused + "/zed_db?timeout=5s", "mysql", "connection refused"},
		{"mysql no such user", "mysql://zed_user:s3cret@" + my + "/zed_db?timeout=5s", "mysql", "MySQL error 1045"},
		{"mysql no such database", "mysql://root@" + my + "/zed_db?timeout=5s", "mysql", "MySQL error 1049"},
		{"mysql no such host", "mysql://zed_user:s3cret@zed-host.invalid:3306/zed_db?timeout=5s", "mysql", "lookup"},
		{"sqlite no such directory", "sqlite:" + filepath.Join(dir, "zed_db.db"), "sqlite", "SQLite error 14"},
	} {
		t.Run(c.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
			defer cancel()
			_, err := sqlstore.Open(ctx, c.dsn, sqlstore.WithDriver(c.driver))
			if !errors.Is(err, authkit.ErrStoreUnavailable) {
				t.Fatalf("Open = %v, want ErrStoreUnavailable", err)
			}
			msg := err.Error()
			t.Logf("Open: %s", msg)
			if !strings.Contains(msg, c.want) {
				t.Errorf("the error does not say %q", c.want)
			}
			for _, n := range names {
				if strings.Contains(msg, n) {
					t.Errorf("the error names %q", n)
				}
			}
		})
	}
	// The same through a Store's methods, over a pool the application made.
	db, err := sql.Open("pgx", "postgres://zed_user:s3cret@"+refused+"/zed_db?sslmode=disable&connect_timeout=5")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	s, err := sqlstore.NewFromDB(db, "pgx")
	if err != nil {
		t.Fatal(err)
	}
	err = s.RevokeToken(t.Context(), "alice", "jti-1", time.Now().Add(time.Hour))
	if !errors.Is(err, authkit.ErrStoreUnavailable) {
		t.Fatalf("RevokeToken = %v, want ErrStoreUnavailable", err)
	}
	for _, n := range names {
		if strings.Contains(err.Error(), n) {
			t.Errorf("RevokeToken's error %q names %q", err, n)
		}
	}
	if _, ok := errors.AsType[*net.OpError](err); !ok {
		t.Errorf("errors.As does not reach the dial error through %v", err)
	}
}

// TestNewFromDBDriverMismatch: a pool of a known driver named as another
// dialect is refused at once, rather than running another dialect's
// statements; a wrapped driver is taken at its name (WithDriver).
func TestNewFromDBDriverMismatch(t *testing.T) {
	t.Parallel()
	pools := map[string]string{
		"pgx":      "postgres://nobody@127.0.0.1:1/none",
		"postgres": "postgres://nobody@127.0.0.1:1/none",
		"mysql":    "nobody@tcp(127.0.0.1:1)/none",
		"sqlite":   filepath.Join(t.TempDir(), "x.db"),
	}
	dialect := map[string]string{"pgx": "postgres", "postgres": "postgres", "mysql": "mysql", "sqlite": "sqlite"}
	for opened, dsn := range pools {
		db, err := sql.Open(opened, dsn)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() })
		for named := range pools {
			_, err := sqlstore.NewFromDB(db, named)
			if dialect[named] == dialect[opened] {
				if err != nil {
					t.Errorf("a %s pool named %q: %v", opened, named, err)
				}
			} else if !errors.Is(err, authkit.ErrInvalidConfig) {
				t.Errorf("a %s pool named %q: %v, want ErrInvalidConfig", opened, named, err)
			}
		}
	}
}

// A DSN parameter the driver refuses is a configuration mistake named in
// the error (ErrInvalidConfig), not an outage with the reason withheld
// (found by review: sslmode=verify_full read "store unavailable:
// *errors.errorString (message withheld)", and a supervisor restarted it
// for ever). Nothing is dialled, and the password is never repeated.
func TestOpenNamesBadParameters(t *testing.T) {
	t.Parallel()
	const secret = "s3cr3t-pa55"
	closed := testservers.ClosedAddr(t)
	for _, c := range []struct {
		name, dsn, want string
		opts            []sqlstore.Option
	}{
		{"sslmode", "postgres://u:" + secret + "@" + closed + "/db?sslmode=verify_full", "sslmode must be one of", nil},
		{"sslmode, lib/pq", "postgres://u:" + secret + "@" + closed + "/db?sslmode=verify_full", "sslmode must be one of", []sqlstore.Option{sqlstore.WithDriver("postgres")}},
		{"sslrootcert", "postgres://u:" + secret + "@" + closed + "/db?sslmode=verify-full&sslrootcert=/nonexistent/ca.pem", "sslrootcert cannot be read", nil},
		{"connect_timeout, lib/pq", "postgres://u:" + secret + "@" + closed + "/db?connect_timeout=abc", "connect_timeout must be a whole number", []sqlstore.Option{sqlstore.WithDriver("postgres")}},
		{"pgx's own parse", "postgres://u:" + secret + "@" + closed + "/db?sslmode=disable&port=99999", "does not parse: invalid port", nil},
		{"pgx's inner reason", "postgres://u:" + secret + "@" + closed + "/db?sslmode=disable&statement_cache_capacity=abc", "statement_cache_capacity (strconv.ParseInt: invalid syntax)", nil},
		{"a connector's own words", "mysql://u:" + secret + "@" + closed + "/db", "the tls parameter is wrong", []sqlstore.Option{sqlstore.WithConnector("mysql", func(string) (driver.Connector, error) {
			return nil, fmt.Errorf("%w: the tls parameter is wrong", authkit.ErrInvalidConfig)
		})}},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := sqlstore.Open(t.Context(), c.dsn, c.opts...)
			if !errors.Is(err, authkit.ErrInvalidConfig) || errors.Is(err, authkit.ErrStoreUnavailable) || !strings.Contains(fmt.Sprint(err), c.want) {
				t.Errorf("Open = %v, want ErrInvalidConfig saying %q", err, c.want)
			}
			if err != nil && strings.Contains(err.Error(), secret) {
				t.Errorf("the error repeats the DSN's password: %v", err)
			}
		})
	}
	// What the drivers take is not refused: an empty sslmode (the default),
	// lib/pq's inline certificates. The server is not there: unavailable.
	for _, c := range []struct {
		dsn  string
		opts []sqlstore.Option
	}{
		{"postgres://u:" + secret + "@" + closed + "/db?sslmode=", nil},
		{"postgres://u:" + secret + "@" + closed + "/db?sslmode=&connect_timeout=5", []sqlstore.Option{sqlstore.WithDriver("postgres")}},
		{"postgres://u:" + secret + "@" + closed + "/db?sslmode=disable&sslinline=true&sslcert=-----BEGIN&sslkey=-----BEGIN", []sqlstore.Option{sqlstore.WithDriver("postgres")}},
	} {
		ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
		_, err := sqlstore.Open(ctx, c.dsn, c.opts...)
		cancel()
		if errors.Is(err, authkit.ErrInvalidConfig) {
			t.Errorf("Open(%s) = %v: a DSN the driver takes was refused", strings.ReplaceAll(c.dsn, secret, "…"), err)
		}
	}
	// Any other error of a connector stays withheld.
	_, err := sqlstore.Open(t.Context(), "mysql://u:"+secret+"@"+closed+"/db", sqlstore.WithConnector("mysql", func(dsn string) (driver.Connector, error) {
		return nil, errors.New("cannot reach " + dsn)
	}))
	if err == nil || strings.Contains(err.Error(), secret) || strings.Contains(err.Error(), "cannot reach") {
		t.Errorf("a connector's error: %v, want its text withheld", err)
	}
}
