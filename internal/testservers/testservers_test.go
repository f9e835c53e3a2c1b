package testservers

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/go-sql-driver/mysql"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"
)

// fakeTB records what locate does with a missing server instead of ending
// the test; like the real ones, its Skipf and Fatalf do not return.
type fakeTB struct {
	testing.TB
	skipped, failed string
}

type ended struct{}

func (f *fakeTB) Helper() {}
func (f *fakeTB) Skipf(format string, a ...any) {
	f.skipped = fmt.Sprintf(format, a...)
	panic(ended{})
}
func (f *fakeTB) Fatalf(format string, a ...any) {
	f.failed = fmt.Sprintf(format, a...)
	panic(ended{})
}

// locateWith runs k.locate on a fakeTB.
func locateWith(t *testing.T, k *kind) (f *fakeTB, addr string) {
	f = &fakeTB{TB: t}
	defer func() {
		if r := recover(); r != nil && r != (ended{}) {
			panic(r)
		}
	}()
	return f, k.locate(f)
}

func TestMissingServer(t *testing.T) {
	k := &kind{
		name:      "Nothing",
		env:       "AUTHKIT_TEST_NOTHING_ADDR",
		example:   "127.0.0.1:1",
		container: func(context.Context) (string, error) { return "", errors.New("no Docker engine") },
	}
	t.Setenv(k.env, "")
	t.Setenv(RequireEnv, "")
	f, got := locateWith(t, k)
	if got != "" || f.failed != "" || f.skipped == "" {
		t.Fatalf("locate = %q, failed %q; want a skip", got, f.failed)
	}
	for _, want := range []string{k.env, k.example, RequireEnv, "no Docker engine"} {
		if !strings.Contains(f.skipped, want) {
			t.Errorf("the skip message %q does not mention %q", f.skipped, want)
		}
	}
	t.Setenv(RequireEnv, "1")
	f, _ = locateWith(t, k)
	if f.failed == "" || f.skipped != "" {
		t.Errorf("with %s=1 a missing server skipped (%q) instead of failing", RequireEnv, f.skipped)
	}
	t.Setenv(k.env, "127.0.0.1:9")
	if f, got := locateWith(t, k); got != "127.0.0.1:9" || f.failed != "" || f.skipped != "" {
		t.Errorf("locate with %s set = %q (failed %q, skipped %q)", k.env, got, f.failed, f.skipped)
	}
}

func TestPostgres(t *testing.T) {
	postgresKind.locate(t) // no server: skip (or fail) here, not in the subtest
	var dsn, schema string
	t.Run("isolated", func(t *testing.T) {
		dsn = Postgres(t)
		cfg, err := pgx.ParseConfig(dsn)
		if err != nil {
			t.Fatal(err)
		}
		db := stdlib.OpenDB(*cfg)
		defer db.Close()
		if err := db.QueryRowContext(t.Context(), "SELECT current_schema()").Scan(&schema); err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(schema, "authkit_test_") {
			t.Fatalf("current_schema() = %q, want the test's own schema", schema)
		}
		if _, err := db.ExecContext(t.Context(), "CREATE TABLE t (x int)"); err != nil {
			t.Fatal(err)
		}
		if other := Postgres(t); other == dsn {
			t.Error("two calls returned the same DSN")
		}
		if got := WithAddr(t, dsn, Addr(t, dsn)); got != dsn {
			t.Errorf("WithAddr(Addr(dsn)) = %q, want %q", got, dsn)
		}
	})
	// The schema is gone once the test that made it has ended.
	cfg, _ := pgx.ParseConfig(dsn)
	db := stdlib.OpenDB(*cfg)
	defer db.Close()
	var n int
	if err := db.QueryRowContext(t.Context(), "SELECT COUNT(*) FROM information_schema.schemata WHERE schema_name = $1", schema).Scan(&n); err != nil || n != 0 {
		t.Errorf("schema %s: %d left after its test (%v)", schema, n, err)
	}
}

func TestMySQL(t *testing.T) {
	mysqlKind.locate(t)
	var dsn, name string
	t.Run("isolated", func(t *testing.T) {
		dsn = MySQL(t)
		cfg, err := mysql.ParseDSN(dsn)
		if err != nil {
			t.Fatal(err)
		}
		name = cfg.DBName
		db, err := openMySQL(cfg, name)
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		var cur sql.NullString
		if err := db.QueryRowContext(t.Context(), "SELECT DATABASE()").Scan(&cur); err != nil || cur.String != name || !strings.HasPrefix(name, "authkit_test_") {
			t.Fatalf("DATABASE() = %q (%v), want the test's own database", cur.String, err)
		}
		if got := WithAddr(t, dsn, Addr(t, dsn)); got != dsn {
			t.Errorf("WithAddr(Addr(dsn)) = %q, want %q", got, dsn)
		}
	})
	cfg, _ := mysql.ParseDSN(dsn)
	db, err := openMySQL(cfg, "")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var n int
	if err := db.QueryRowContext(t.Context(), "SELECT COUNT(*) FROM information_schema.schemata WHERE schema_name = ?", name).Scan(&n); err != nil || n != 0 {
		t.Errorf("database %s: %d left after its test (%v)", name, n, err)
	}
}
