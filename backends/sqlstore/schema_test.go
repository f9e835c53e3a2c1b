package sqlstore_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"path"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"

	"github.com/authkit-go/authkit"
	"github.com/authkit-go/authkit/backends/sqlstore"
)

// shipped is one embedded migration file.
type shipped struct {
	version int64
	file    string // 0003_rotate_refresh
	path    string // migrations/postgres/0003_rotate_refresh.up.sql
}

// migrationDir is the directory of b's migrations.
func migrationDir(b backend) string {
	return map[string]string{"pgx": "postgres", "postgres": "postgres", "mysql": "mysql", "sqlite": "sqlite"}[b.driver]
}

// shippedFiles lists b's embedded migrations in version order.
func shippedFiles(t testing.TB, b backend) []shipped {
	t.Helper()
	paths, err := fs.Glob(sqlstore.Migrations(), "migrations/"+migrationDir(b)+"/*.up.sql")
	if err != nil || len(paths) < 2 {
		t.Fatalf("the %s migrations: %q, %v", b.name, paths, err)
	}
	slices.Sort(paths)
	var out []shipped
	for _, p := range paths {
		file := strings.TrimSuffix(path.Base(p), ".up.sql")
		v, err := strconv.ParseInt(file[:4], 10, 64)
		if err != nil {
			t.Fatalf("%s: %v", p, err)
		}
		out = append(out, shipped{version: v, file: file, path: p})
	}
	return out
}

// wantMissing fails t unless err is CheckSchema's refusal naming the
// migration file as not applied (and not a database failure).
func wantMissing(t *testing.T, err error, file, during string) {
	t.Helper()
	switch {
	case err == nil:
		t.Errorf("%s: CheckSchema = nil, want migration %s named as not applied", during, file)
	case !strings.Contains(err.Error(), "migration "+file+" is not applied"):
		t.Errorf("%s: CheckSchema = %v, want migration %s named as not applied", during, err, file)
	case !strings.Contains(err.Error(), "authkit migrate"):
		t.Errorf("%s: CheckSchema = %v, want it to say how to apply the migrations", during, err)
	case !errors.Is(err, sqlstore.ErrMigrationsNotApplied):
		t.Errorf("%s: CheckSchema = %v, does not match sqlstore.ErrMigrationsNotApplied", during, err)
	case errors.Is(err, authkit.ErrStoreUnavailable):
		t.Errorf("%s: CheckSchema = %v, matches ErrStoreUnavailable: a missing migration is not an outage", during, err)
	}
}

// schemaBackends are the dialects (and both PostgreSQL drivers) the schema
// check runs on.
var schemaBackends = []backend{pgxBackend, pqBackend, mysqlBackend, sqliteBackend}

// TestCheckSchemaNamesMissingMigration migrates a database one migration
// at a time with Migrate (up to version N-1 only) and checks that
// CheckSchema names migration N each time — the missing tables of 0001,
// the feed of 0002, the rotation routine of 0003, the epoch marker of
// 0005 (known missing from authkit_schema_migrations), the columns 0007
// adds, … — and passes once all are applied. The error of a missing table
// or column wraps the database's error and names what is missing.
func TestCheckSchemaNamesMissingMigration(t *testing.T) {
	t.Parallel()
	for _, b := range schemaBackends {
		t.Run(b.name, func(t *testing.T) {
			ctx := t.Context()
			db := openDB(t, b, b.fresh(t))
			s, err := sqlstore.New(db)
			if err != nil {
				t.Fatal(err)
			}
			files := shippedFiles(t, b)
			for i, f := range files {
				if i > 0 {
					if err := sqlstore.MigrateTo(ctx, db.DB, b.driver, files[i-1].version); err != nil {
						t.Fatalf("migrating to %s: %v", files[i-1].file, err)
					}
				}
				if f.file == "0005_epoch" {
					// A schema Migrate makes from nothing has its marker
					// from 0001 on (migrate.go); one an older version
					// made up to 0004 has none.
					if _, err := db.ExecContext(ctx, "DELETE FROM authkit_revocations WHERE kind = 4"); err != nil {
						t.Fatal(err)
					}
				}
				err := s.CheckSchema(ctx)
				wantMissing(t, err, f.file, "up to "+strconv.Itoa(i))
				if err != nil {
					t.Logf("at %d migrations: %v", i, err)
				}
				switch f.file {
				case "0007_client_assertions":
					// 0007 adds two columns to a table of 0006: the error
					// names the first, and wraps the database's refusal.
					if err == nil || !strings.Contains(err.Error(), "column authkit_authorization_codes.session_ttl_us") || errors.Unwrap(err) == nil {
						t.Errorf("CheckSchema before 0007 = %v, want the missing column named and the database's error wrapped", err)
					}
				case "0008_client_assertions_kept":
					// 0008 changes a foreign key's action: named with it.
					if err == nil || !strings.Contains(err.Error(), "foreign key authkit_client_assertions (client_id) referencing authkit_clients (id) ON DELETE SET NULL is missing") {
						t.Errorf("CheckSchema before 0008 = %v, want the foreign key named with its action", err)
					}
				}
			}
			if err := sqlstore.MigrateTo(ctx, db.DB, b.driver, files[len(files)-1].version); err != nil {
				t.Fatal(err)
			}
			start := time.Now()
			if err := s.CheckSchema(ctx); err != nil {
				t.Fatalf("CheckSchema of the complete schema: %v", err)
			}
			t.Logf("CheckSchema of the complete schema took %v", time.Since(start))
		})
	}
}

// TestOpenNamesMissingMigration: Open refuses a database one migration
// short, naming the last migration, and on PostgreSQL and MySQL one
// without the rotation routine, naming 0003_rotate_refresh.
func TestOpenNamesMissingMigration(t *testing.T) {
	t.Parallel()
	for _, b := range schemaBackends {
		t.Run(b.name, func(t *testing.T) {
			ctx := t.Context()
			files := shippedFiles(t, b)
			var opts []sqlstore.Option
			if b.driver == "postgres" {
				opts = append(opts, sqlstore.WithDriver("postgres"))
			}
			cases := []shipped{files[len(files)-1]}
			if b.driver != "sqlite" {
				if files[2].version != 3 {
					t.Fatalf("the third %s migration is %s", b.name, files[2].file)
				}
				cases = append(cases, files[2])
			}
			for _, missing := range cases {
				dsn := urlDSN(t, b)
				db, err := sqlstore.OpenDB(ctx, dsn, opts...)
				if err != nil {
					t.Fatal(err)
				}
				err = sqlstore.MigrateTo(ctx, db.DB, b.driver, missing.version-1)
				db.Close()
				if err != nil {
					t.Fatal(err)
				}
				s, err := sqlstore.Open(ctx, dsn, opts...)
				if err == nil {
					s.Close()
				}
				wantMissing(t, err, missing.file, "Open")
			}
		})
	}
}

// TestCheckSchemaPlainFiles applies the shipped files as another tool
// (goose, golang-migrate) would — each file as one script, no
// authkit_schema_migrations table — and checks CheckSchema before each:
// it names that file, except 0005_epoch, whose only trace is a row that a
// data loss also removes: without authkit's table nothing tells the two
// apart, so CheckSchema names the next migration (0006) instead. With
// every file applied it passes.
func TestCheckSchemaPlainFiles(t *testing.T) {
	t.Parallel()
	for _, b := range []backend{pgxBackend, mysqlBackend, sqliteBackend} {
		t.Run(b.name, func(t *testing.T) {
			ctx := t.Context()
			dsn := b.fresh(t)
			toolDSN := dsn
			if b.driver == "mysql" {
				toolDSN += "&multiStatements=true"
			}
			tool := openDB(t, b, toolDSN)
			s, err := sqlstore.New(openDB(t, b, dsn))
			if err != nil {
				t.Fatal(err)
			}
			files := shippedFiles(t, b)
			for i, f := range files {
				want := f.file
				if f.version == 5 {
					want = files[i+1].file
				}
				wantMissing(t, s.CheckSchema(ctx), want, "before "+f.file)
				body, err := fs.ReadFile(sqlstore.Migrations(), f.path)
				if err != nil {
					t.Fatal(err)
				}
				if _, err := tool.ExecContext(ctx, string(body)); err != nil {
					t.Fatalf("applying %s as one script: %v", f.file, err)
				}
			}
			if err := s.CheckSchema(ctx); err != nil {
				t.Fatalf("CheckSchema after every file: %v", err)
			}
			var n int
			if err := tool.QueryRowContext(ctx, "SELECT COUNT(*) FROM authkit_schema_migrations").Scan(&n); err == nil {
				t.Fatal("the files made authkit_schema_migrations: the test does not check a schema without it")
			}
		})
	}
}

// TestCheckSchemaNewerSchema: a schema newer than the binary — a table, a
// column, a routine and a recorded migration it does not know, as a later
// version's migrations would leave during a rolling deploy — passes.
func TestCheckSchemaNewerSchema(t *testing.T) {
	t.Parallel()
	for _, b := range []backend{pgxBackend, mysqlBackend, sqliteBackend} {
		t.Run(b.name, func(t *testing.T) {
			ctx := t.Context()
			s, _ := newStore(t, b)
			stmts := []string{
				"CREATE TABLE authkit_future (id INTEGER NOT NULL PRIMARY KEY)",
				"ALTER TABLE authkit_sessions ADD COLUMN future_col INTEGER",
				"ALTER TABLE authkit_revocation_feed ADD COLUMN future_col INTEGER",
				"INSERT INTO authkit_schema_migrations (version, name, applied_at) VALUES (9999, 'future', 0)",
			}
			switch b.driver {
			case "pgx":
				stmts = append(stmts, "CREATE FUNCTION authkit_rotate_refresh(BIGINT) RETURNS BIGINT LANGUAGE sql AS 'SELECT 1::BIGINT'")
			case "mysql":
				stmts = append(stmts, "CREATE FUNCTION authkit_future_fn() RETURNS BIGINT DETERMINISTIC RETURN 1")
			}
			for _, q := range stmts {
				if _, err := s.DB().ExecContext(ctx, q); err != nil {
					t.Fatalf("%s: %v", q, err)
				}
			}
			if err := s.CheckSchema(ctx); err != nil {
				t.Errorf("CheckSchema of a newer schema: %v", err)
			}
		})
	}
}

// TestCheckSchemaLostPieces removes, from a fully migrated database, what
// a restore or a hand may lose. The epoch marker is a data loss the store
// handles on its own (epoch.go), not a missing migration: CheckSchema
// passes. The rotation routine (left out by a dump made without routines)
// and the feed's row are needed: CheckSchema names their migration, and,
// since authkit_schema_migrations lists it, says so and how to apply it
// again. The names follow the table prefix.
func TestCheckSchemaLostPieces(t *testing.T) {
	t.Parallel()
	for _, b := range []backend{pgxBackend, mysqlBackend, sqliteBackend} {
		t.Run(b.name, func(t *testing.T) {
			ctx := t.Context()
			s, _ := newStore(t, b)
			exec := func(q string) {
				t.Helper()
				if _, err := s.DB().ExecContext(ctx, q); err != nil {
					t.Fatalf("%s: %v", q, err)
				}
			}
			exec("DELETE FROM authkit_revocations WHERE subject = '' AND kind = 4 AND ident = ''")
			if err := s.CheckSchema(ctx); err != nil {
				t.Errorf("CheckSchema without the epoch marker (a data loss): %v", err)
			}
			listed := func(err error, file, what string) {
				t.Helper()
				if err == nil || !strings.Contains(err.Error(), "migration "+file+" is listed in ") ||
					!strings.Contains(err.Error(), what+" is missing") || !strings.Contains(err.Error(), "authkit migrate") {
					t.Errorf("CheckSchema = %v, want migration %s listed but %s missing, and how to apply it again", err, file, what)
				}
				// authkit serve adds "or start serve with --migrate" to an
				// error saying "apply the migrations": Migrate alone would
				// not help here.
				if errors.Is(err, sqlstore.ErrMigrationsNotApplied) {
					t.Errorf("CheckSchema = %v matches ErrMigrationsNotApplied, which Migrate alone does not fix for a listed migration", err)
				}
				if err != nil && strings.Contains(err.Error(), "apply the migrations") {
					t.Errorf("CheckSchema = %v: says \"apply the migrations\", which Migrate alone does not do for a listed migration", err)
				}
			}
			if b.driver != "sqlite" {
				drop := map[string]string{"pgx": "DROP FUNCTION authkit_rotate_refresh", "mysql": "DROP PROCEDURE authkit_rotate_refresh"}[b.driver]
				exec(drop)
				listed(s.CheckSchema(ctx), "0003_rotate_refresh", "routine authkit_rotate_refresh")
				// With another prefix, that prefix's routine.
				p, _ := newStore(t, b, sqlstore.WithTablePrefix("ak2_"))
				if err := p.CheckSchema(ctx); err != nil {
					t.Fatalf("CheckSchema with prefix ak2_: %v", err)
				}
				if _, err := p.DB().ExecContext(ctx, strings.ReplaceAll(drop, "authkit_", "ak2_")); err != nil {
					t.Fatal(err)
				}
				if err := p.CheckSchema(ctx); err == nil || !strings.Contains(err.Error(), "routine ak2_rotate_refresh") || !strings.Contains(err.Error(), "ak2_schema_migrations") {
					t.Errorf("CheckSchema with prefix ak2_ without its routine = %v, want ak2_rotate_refresh named", err)
				}
				// Migrate skips what its table lists; the error's advice
				// works.
				if err := s.Migrate(ctx); err != nil {
					t.Fatal(err)
				}
				listed(s.CheckSchema(ctx), "0003_rotate_refresh", "routine authkit_rotate_refresh")
				exec("DELETE FROM authkit_schema_migrations WHERE version = 3")
				if err := s.Migrate(ctx); err != nil {
					t.Fatal(err)
				}
				if err := s.CheckSchema(ctx); err != nil {
					t.Errorf("CheckSchema after 0003 applied again: %v", err)
				}
			}
			// Keys and foreign keys: a restore without the dump's
			// constraints (a table rebuilt by CREATE TABLE … AS keeps
			// its rows and columns, none of its keys). Without its key
			// the table of client assertions would record a replay as a
			// second row and refuse nothing.
			constraint := func(err error, file, what string) {
				t.Helper()
				if err == nil || !strings.Contains(err.Error(), "migration "+file+" is listed in ") ||
					!strings.Contains(err.Error(), "its "+what+" is missing") || !strings.Contains(err.Error(), "add it again as migrations/") {
					t.Errorf("CheckSchema = %v, want migration %s listed but its %s missing, and how to add it again", err, file, what)
				}
				if errors.Is(err, sqlstore.ErrMigrationsNotApplied) || errors.Is(err, authkit.ErrStoreUnavailable) {
					t.Errorf("CheckSchema = %v matches ErrMigrationsNotApplied or ErrStoreUnavailable: Migrate would not add the key back", err)
				}
			}
			exec("ALTER TABLE authkit_client_assertions RENAME TO authkit_client_assertions_copy")
			exec("CREATE TABLE authkit_client_assertions AS SELECT * FROM authkit_client_assertions_copy")
			exec("DROP TABLE authkit_client_assertions_copy")
			constraint(s.CheckSchema(ctx), "0007_client_assertions", "unique key authkit_client_assertions (hash)")
			exec("DROP TABLE authkit_client_assertions")
			if b.driver == "sqlite" {
				// 0007 adds columns, which SQLite cannot add twice: the
				// table as 0008 builds it.
				exec("CREATE TABLE authkit_client_assertions (hash BLOB NOT NULL PRIMARY KEY CHECK (length(hash) = 32)," +
					" client_id TEXT REFERENCES authkit_clients (id) ON DELETE SET NULL, expires_at INTEGER NOT NULL) STRICT")
			} else {
				exec("DELETE FROM authkit_schema_migrations WHERE version IN (7, 8)")
				if err := s.Migrate(ctx); err != nil {
					t.Fatal(err)
				}
			}
			if err := s.CheckSchema(ctx); err != nil {
				t.Errorf("CheckSchema with the table built again: %v", err)
			}
			if b.driver != "sqlite" { // SQLite cannot drop a constraint in place
				dropKey := map[string]string{"pgx": "ALTER TABLE authkit_api_tokens DROP CONSTRAINT authkit_api_tokens_hash_key",
					"mysql": "ALTER TABLE authkit_api_tokens DROP INDEX authkit_api_tokens_hash_key"}[b.driver]
				exec(dropKey)
				constraint(s.CheckSchema(ctx), "0001_init", "unique key authkit_api_tokens (hash)")
				exec("CREATE UNIQUE INDEX authkit_api_tokens_hash_key ON authkit_api_tokens (hash)")
				dropFK := map[string]string{"pgx": "ALTER TABLE authkit_authorization_codes DROP CONSTRAINT authkit_authorization_codes_client_fk",
					"mysql": "ALTER TABLE authkit_authorization_codes DROP FOREIGN KEY authkit_authorization_codes_client_fk"}[b.driver]
				exec(dropFK)
				constraint(s.CheckSchema(ctx), "0006_clients", "foreign key authkit_authorization_codes (client_id) referencing authkit_clients (id) ON DELETE CASCADE")
				// The same key with another action is not it.
				exec("ALTER TABLE authkit_authorization_codes ADD CONSTRAINT authkit_authorization_codes_client_fk FOREIGN KEY (client_id) REFERENCES authkit_clients (id) ON DELETE NO ACTION")
				constraint(s.CheckSchema(ctx), "0006_clients", "foreign key authkit_authorization_codes (client_id) referencing authkit_clients (id) ON DELETE CASCADE")
				exec(dropFK)
				exec("ALTER TABLE authkit_authorization_codes ADD CONSTRAINT authkit_authorization_codes_client_fk FOREIGN KEY (client_id) REFERENCES authkit_clients (id) ON DELETE CASCADE")
				if err := s.CheckSchema(ctx); err != nil {
					t.Errorf("CheckSchema with the key and the foreign key added again: %v", err)
				}
				// A cascading key beside 0008's SET NULL one would still
				// delete the records with their client.
				exec("ALTER TABLE authkit_client_assertions ADD CONSTRAINT authkit_client_assertions_extra_fk FOREIGN KEY (client_id) REFERENCES authkit_clients (id) ON DELETE CASCADE")
				constraint(s.CheckSchema(ctx), "0008_client_assertions_kept", "foreign key authkit_client_assertions (client_id) referencing authkit_clients (id) ON DELETE SET NULL")
				exec(map[string]string{"pgx": "ALTER TABLE authkit_client_assertions DROP CONSTRAINT authkit_client_assertions_extra_fk",
					"mysql": "ALTER TABLE authkit_client_assertions DROP FOREIGN KEY authkit_client_assertions_extra_fk"}[b.driver])
				if err := s.CheckSchema(ctx); err != nil {
					t.Errorf("CheckSchema with the extra foreign key dropped: %v", err)
				}
			}
			if b.driver == "pgx" {
				// Unique indexes that do not hold as the store needs: a
				// deferrable one (ON CONFLICT refuses it), and an invalid
				// one, which a CREATE UNIQUE INDEX CONCURRENTLY that met
				// duplicates leaves behind.
				exec("DROP INDEX authkit_api_tokens_hash_key") // as added again above
				exec("ALTER TABLE authkit_api_tokens ADD CONSTRAINT authkit_api_tokens_hash_key UNIQUE (hash) DEFERRABLE INITIALLY DEFERRED")
				constraint(s.CheckSchema(ctx), "0001_init", "unique key authkit_api_tokens (hash)")
				exec("ALTER TABLE authkit_api_tokens DROP CONSTRAINT authkit_api_tokens_hash_key")
				for _, id := range []string{"dup-1", "dup-2"} {
					exec("INSERT INTO authkit_api_tokens (id, hash, subject, name, created_at) VALUES ('" + id + "', decode(repeat('ab', 32), 'hex'), 'alice', 'n', 0)")
				}
				if _, err := s.DB().ExecContext(ctx, "CREATE UNIQUE INDEX CONCURRENTLY authkit_api_tokens_hash_key ON authkit_api_tokens (hash)"); err == nil {
					t.Fatal("CREATE UNIQUE INDEX over duplicates succeeded")
				}
				constraint(s.CheckSchema(ctx), "0001_init", "unique key authkit_api_tokens (hash)")
				exec("DROP INDEX authkit_api_tokens_hash_key")
				exec("DELETE FROM authkit_api_tokens WHERE id LIKE 'dup-%'")
				exec("ALTER TABLE authkit_api_tokens ADD CONSTRAINT authkit_api_tokens_hash_key UNIQUE (hash)")
				if err := s.CheckSchema(ctx); err != nil {
					t.Errorf("CheckSchema with the API tokens' key added again: %v", err)
				}
			}
			exec("DELETE FROM authkit_revocation_feed")
			listed(s.CheckSchema(ctx), "0002_revocation_feed", "the counter row of authkit_revocation_feed")
			exec("DELETE FROM authkit_schema_migrations WHERE version = 2")
			if err := s.Migrate(ctx); err != nil {
				t.Fatal(err)
			}
			if err := s.CheckSchema(ctx); err != nil {
				t.Errorf("CheckSchema after 0002 applied again: %v", err)
			}
		})
	}
}

// TestCheckSchemaRefused: a database that refuses the check for another
// reason than a missing table — here a PostgreSQL role without SELECT on
// the tables — is not reported as a missing migration but as a store
// failure (authkit.ErrStoreUnavailable), naming the migration and the
// table it was checking.
func TestCheckSchemaRefused(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	s, dsn := newStore(t, pgxBackend)
	weak, err := sqlstore.New(openDB(t, pgxBackend, pgRole(t, s, dsn)))
	if err != nil {
		t.Fatal(err)
	}
	err = weak.CheckSchema(ctx)
	t.Logf("CheckSchema: %v", err)
	if !errors.Is(err, authkit.ErrStoreUnavailable) || strings.Contains(err.Error(), "not applied") ||
		!strings.Contains(err.Error(), "0001_init") || !strings.Contains(err.Error(), "SQLSTATE 42501") {
		t.Errorf("CheckSchema without SELECT on the tables = %v, want ErrStoreUnavailable naming 0001_init and SQLSTATE 42501", err)
	}
}

// pgRole creates a login role on s's PostgreSQL database, dropped when t
// ends, with USAGE on s's schema and then each grant of grants ("GRANT …
// TO %s" with the role's name), and returns dsn with the role as its user.
func pgRole(t *testing.T, s *sqlstore.Store, dsn string, grants ...string) string {
	t.Helper()
	ctx := t.Context()
	var b [6]byte
	_, _ = rand.Read(b[:])
	role := "authkit_probe_" + hex.EncodeToString(b[:])
	var schema string
	if err := s.DB().QueryRowContext(ctx, "SELECT current_schema()").Scan(&schema); err != nil {
		t.Fatal(err)
	}
	if _, err := s.DB().ExecContext(ctx, "CREATE ROLE "+role+" LOGIN"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		admin := openDB(t, pgxBackend, dsn)
		for _, q := range []string{"DROP OWNED BY " + role, "DROP ROLE " + role} {
			if _, err := admin.ExecContext(ctx, q); err != nil {
				t.Errorf("%s: %v", q, err)
			}
		}
	})
	for _, q := range append([]string{"GRANT USAGE ON SCHEMA " + schema + " TO %s"}, grants...) {
		if _, err := s.DB().ExecContext(ctx, fmt.Sprintf(q, role)); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	u, err := url.Parse(dsn)
	if err != nil {
		t.Fatal(err)
	}
	u.User = url.User(role)
	return u.String()
}

// BenchmarkCheckSchema measures CheckSchema (what Open adds to connecting)
// on a complete schema: a ping and one query.
func BenchmarkCheckSchema(b *testing.B) {
	for _, bk := range schemaBackends {
		b.Run(bk.name, func(b *testing.B) {
			s, _ := newStore(b, bk)
			ctx := b.Context()
			for b.Loop() {
				if err := s.CheckSchema(ctx); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// TestCheckSchemaNoExecute checks a store whose database user may read
// and write every table but not run the rotation routine (on PostgreSQL, EXECUTE
// revoked from PUBLIC; on MySQL/MariaDB, a user granted no EXECUTE), which
// would fail every refresh: CheckSchema refuses it and names the missing
// grant, and passes once it is granted. On PostgreSQL the routine is
// visible, so the error is the grant alone (no migration, no outage); on
// MySQL information_schema hides it, so the error names both causes.
func TestCheckSchemaNoExecute(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	var b [6]byte
	_, _ = rand.Read(b[:])
	user := "authkit_noexec_" + hex.EncodeToString(b[:])
	t.Run("postgres", func(t *testing.T) {
		s, dsn := newStore(t, pgxBackend)
		var schema string
		if err := s.DB().QueryRowContext(ctx, "SELECT current_schema()").Scan(&schema); err != nil {
			t.Fatal(err)
		}
		fn := schema + ".authkit_rotate_refresh(bytea, bytea, bigint, bigint, bytea)"
		if _, err := s.DB().ExecContext(ctx, "REVOKE EXECUTE ON FUNCTION "+fn+" FROM PUBLIC"); err != nil {
			t.Fatal(err)
		}
		weak, err := sqlstore.New(openDB(t, pgxBackend, pgRole(t, s, dsn, "GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA "+schema+" TO %s")))
		if err != nil {
			t.Fatal(err)
		}
		err = weak.CheckSchema(ctx)
		if err == nil || !strings.Contains(err.Error(), "lacks EXECUTE on routine authkit_rotate_refresh") ||
			!strings.Contains(err.Error(), "GRANT EXECUTE ON FUNCTION") ||
			errors.Is(err, sqlstore.ErrMigrationsNotApplied) || errors.Is(err, authkit.ErrStoreUnavailable) {
			t.Errorf("CheckSchema without EXECUTE = %v, want the missing grant named, neither a missing migration nor an outage", err)
		}
		if _, err := s.DB().ExecContext(ctx, "GRANT EXECUTE ON FUNCTION "+fn+" TO PUBLIC"); err != nil {
			t.Fatal(err)
		}
		if err := weak.CheckSchema(ctx); err != nil {
			t.Errorf("CheckSchema with EXECUTE granted = %v", err)
		}
	})
	t.Run("mysql", func(t *testing.T) {
		s, dsn := newStore(t, mysqlBackend)
		var db string
		if err := s.DB().QueryRowContext(ctx, "SELECT DATABASE()").Scan(&db); err != nil {
			t.Fatal(err)
		}
		account := "'" + user + "'@'%'"
		for _, q := range []string{
			"CREATE USER " + account,
			// What a store's user has, but EXECUTE (MariaDB shows a
			// foreign key's rule only to a user with more than SELECT).
			"GRANT SELECT, INSERT, UPDATE, DELETE ON " + db + ".* TO " + account,
		} {
			if _, err := s.DB().ExecContext(ctx, q); err != nil {
				t.Fatalf("%s: %v", q, err)
			}
		}
		t.Cleanup(func() {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			if _, err := s.DB().ExecContext(ctx, "DROP USER "+account); err != nil {
				t.Errorf("DROP USER: %v", err)
			}
		})
		cfg, err := mysql.ParseDSN(dsn)
		if err != nil {
			t.Fatal(err)
		}
		cfg.User, cfg.Passwd = user, ""
		weak, err := sqlstore.New(openDB(t, mysqlBackend, cfg.FormatDSN()))
		if err != nil {
			t.Fatal(err)
		}
		err = weak.CheckSchema(ctx)
		if err == nil || !strings.Contains(err.Error(), "routine authkit_rotate_refresh is missing, or the store's database user lacks EXECUTE on it") ||
			!strings.Contains(err.Error(), "GRANT EXECUTE ON PROCEDURE") ||
			errors.Is(err, sqlstore.ErrMigrationsNotApplied) || errors.Is(err, authkit.ErrStoreUnavailable) {
			t.Errorf("CheckSchema without EXECUTE = %v, want the missing grant named (the migration is listed), neither ErrMigrationsNotApplied nor an outage", err)
		}
		if _, err := s.DB().ExecContext(ctx, "GRANT EXECUTE ON "+db+".* TO "+account); err != nil {
			t.Fatal(err)
		}
		// A database-level grant reaches sessions opened after it.
		granted, err := sqlstore.New(openDB(t, mysqlBackend, cfg.FormatDSN()))
		if err != nil {
			t.Fatal(err)
		}
		if err := granted.CheckSchema(ctx); err != nil {
			t.Errorf("CheckSchema with EXECUTE granted = %v", err)
		}
	})
}

// A Store made by New over a schema never migrated fails closed, and says
// why: its calls name the missing migrations (found by review: each
// request was a 503 whose error gave only the driver's code).
func TestUnmigratedSchemaNamed(t *testing.T) {
	t.Parallel()
	for _, b := range allBackends {
		t.Run(b.name, func(t *testing.T) {
			t.Parallel()
			db := openDB(t, b, b.fresh(t))
			s, err := sqlstore.New(db)
			if err != nil {
				t.Fatal(err)
			}
			_, err = s.IsRevoked(t.Context(), authkit.RevocationQuery{TokenID: "j", Subject: "alice", IssuedAt: time.Now()}, time.Now())
			if !errors.Is(err, authkit.ErrStoreUnavailable) || !strings.Contains(err.Error(), "migrations are not all applied") {
				t.Errorf("IsRevoked on an unmigrated schema: %v, want ErrStoreUnavailable naming the migrations", err)
			}
			_, err = s.LookupAPIToken(t.Context(), authkit.TokenHash{1})
			if !errors.Is(err, authkit.ErrStoreUnavailable) || !strings.Contains(err.Error(), "migrations are not all applied") {
				t.Errorf("LookupAPIToken on an unmigrated schema: %v", err)
			}
		})
	}
}
