package testservers

import (
	"database/sql"
	"testing"

	_ "github.com/go-sql-driver/mysql"
	_ "github.com/jackc/pgx/v5/stdlib"
)

// TestRestartableServers: a private PostgreSQL and MariaDB keep a
// committed row across Restart (a crash: no checkpoint, no clean
// shutdown), break the connections open before it, and give each Fresh
// call a place of its own.
func TestRestartableServers(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		name, driver string
		start        func(testing.TB) *DBServer
	}{
		{"postgres", "pgx", RestartablePostgres},
		{"mariadb", "mysql", RestartableMariaDB},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			srv := c.start(t)
			open := func(dsn string) *sql.DB {
				db, err := sql.Open(c.driver, dsn)
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { db.Close() })
				db.SetMaxOpenConns(1)
				return db
			}
			one, two := open(srv.Fresh(t)), open(srv.Fresh(t))
			ctx := t.Context()
			for _, stmt := range []string{"CREATE TABLE kept (v INT)", "INSERT INTO kept VALUES (42)"} {
				if _, err := one.ExecContext(ctx, stmt); err != nil {
					t.Fatalf("%s: %v", stmt, err)
				}
			}
			if _, err := two.ExecContext(ctx, "SELECT v FROM kept"); err == nil {
				t.Error("a second Fresh place sees the first's table")
			}
			conn, err := one.Conn(ctx)
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			srv.Restart(t)
			if err := conn.PingContext(ctx); err == nil {
				t.Error("a connection opened before the restart still answers")
			}
			conn.Close()
			var v int
			if err := open(srv.Fresh(t)).PingContext(ctx); err != nil {
				t.Fatalf("a new place after the restart: %v", err)
			}
			if err := one.QueryRowContext(ctx, "SELECT v FROM kept").Scan(&v); err != nil || v != 42 {
				t.Errorf("after the restart: v = %d, %v; want the committed 42", v, err)
			}
		})
	}
}
