package sqlstore

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"hash/fnv"
	"io/fs"
	"math"
	"path"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/jmoiron/sqlx"
)

//go:embed migrations
var migrationFS embed.FS

// Migrations returns the schema migrations as plain SQL files, for a team
// that applies them with its own tool: migrations/postgres,
// migrations/mysql and migrations/sqlite each hold NNNN_name.up.sql files
// in golang-migrate's naming, each starting with goose's "-- +goose Up"
// annotation. They use the default table prefix, "authkit_". With
// golang-migrate, for example:
//
//	src, _ := iofs.New(sqlstore.Migrations(), "migrations/postgres")
//
// The same files are in the repository under
// backends/sqlstore/migrations.
func Migrations() fs.FS { return migrationFS }

// migration is one versioned file.
type migration struct {
	version int64
	name    string
	body    string
}

var migrationName = regexp.MustCompile(`^([0-9]{4})_([a-z0-9_]+)\.up\.sql$`)

// loadMigrations returns the dialect's migrations in version order, with
// the default prefix replaced by prefix.
func loadMigrations(d *dialect, prefix string) ([]migration, error) {
	dir := path.Join("migrations", d.name)
	entries, err := fs.ReadDir(migrationFS, dir)
	if err != nil {
		return nil, fmt.Errorf("sqlstore: reading the %s migrations: %w", d.name, err)
	}
	var out []migration
	for _, e := range entries {
		m := migrationName.FindStringSubmatch(e.Name())
		if m == nil {
			continue
		}
		b, err := fs.ReadFile(migrationFS, path.Join(dir, e.Name()))
		if err != nil {
			return nil, fmt.Errorf("sqlstore: reading migration %s: %w", e.Name(), err)
		}
		v, _ := strconv.ParseInt(m[1], 10, 64)
		out = append(out, migration{version: v, name: m[2], body: withPrefix(string(b), prefix)})
	}
	slices.SortFunc(out, func(a, b migration) int { return int(a.version - b.version) })
	return out, nil
}

// withPrefix rewrites the default prefix of the shipped files. The files
// use "authkit_" only at the start of table, index and constraint names (a
// test checks this), so a plain replacement is exact.
func withPrefix(sqlText, prefix string) string {
	if prefix == DefaultTablePrefix {
		return sqlText
	}
	return strings.ReplaceAll(sqlText, DefaultTablePrefix, prefix)
}

// statements splits a migration into its statements: "--" comments are
// dropped (the files hold no string literal containing "--" or ";") and
// the rest is cut at each ";", except between goose's "-- +goose
// StatementBegin" and "-- +goose StatementEnd" lines, which enclose one
// statement whose body has semicolons of its own (a function or a
// procedure); its trailing ";" is dropped. Drivers differ in whether one
// Exec may run several statements (MySQL's needs multiStatements=true), so
// each runs alone.
func statements(body string) []string {
	var (
		out     []string
		b       strings.Builder
		inBlock bool // after a StatementBegin
	)
	flush := func() {
		for stmt := range strings.SplitSeq(b.String(), ";") {
			if stmt = strings.TrimSpace(stmt); stmt != "" {
				out = append(out, stmt)
			}
		}
		b.Reset()
	}
	for line := range strings.Lines(body) {
		switch strings.TrimSpace(line) {
		case "-- +goose StatementBegin":
			flush()
			inBlock = true
			continue
		case "-- +goose StatementEnd":
			if inBlock {
				if stmt := strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(b.String()), ";")); stmt != "" {
					out = append(out, stmt)
				}
				b.Reset()
				inBlock = false
			}
			continue
		}
		if i := strings.Index(line, "--"); i >= 0 {
			line = line[:i] + "\n"
		}
		b.WriteString(line)
	}
	// A block left open is split like the rest: the database then refuses
	// its pieces rather than running part of it.
	flush()
	return out
}

// Migrate brings the schema of db up to date: it creates the
// <prefix>schema_migrations table if needed and applies, in order, every
// embedded migration of the dialect that it does not list. It is
// idempotent, and safe when several application servers call it at once:
// they serialise on a lock (PostgreSQL: pg_advisory_xact_lock; MySQL:
// GET_LOCK; SQLite: BEGIN IMMEDIATE), and each finds what the others did.
// On PostgreSQL and SQLite all pending migrations apply in one transaction;
// MySQL commits DDL as it goes, so there each migration's statements are
// written to be re-run safely (IF NOT EXISTS) should one be interrupted.
//
// It takes what NewFromDB takes: the pool and the name of its driver
// ("pgx", "postgres", "mysql", "sqlite"); with a *sqlx.DB, pass db.DB and
// db.DriverName(), or call the Store's Migrate. The options are New's:
// WithTablePrefix (the same prefix as the Store's) and WithDriver (to
// override driverName, for a wrapping driver).
func Migrate(ctx context.Context, db *sql.DB, driverName string, opts ...Option) error {
	if db == nil {
		return errors.New("sqlstore: Migrate: nil *sql.DB")
	}
	c, err := buildConfig(opts)
	if err != nil {
		return err
	}
	if c.driver != "" {
		driverName = c.driver
	}
	d, err := dialectFor(driverName)
	if err != nil {
		return err
	}
	return migrate(ctx, db, d, c.prefix)
}

// Migrate applies the migrations to the Store's database, with its
// dialect and table prefix: Migrate(ctx, s.DB().DB, …) without repeating
// them.
func (s *Store) Migrate(ctx context.Context) error {
	return migrate(ctx, s.db.DB, s.d, s.cfg.prefix)
}

func migrate(ctx context.Context, db *sql.DB, d *dialect, prefix string) error {
	return migrateTo(ctx, db, d, prefix, math.MaxInt64)
}

// migrateTo is migrate with the migrations after version last left out
// (tests build a database of an earlier schema with it).
func migrateTo(ctx context.Context, db *sql.DB, d *dialect, prefix string, last int64) error {
	ms, err := loadMigrations(d, prefix)
	if err != nil {
		return err
	}
	ms = slices.DeleteFunc(ms, func(m migration) bool { return m.version > last })
	conn, err := db.Conn(ctx)
	if err != nil {
		return fmt.Errorf("sqlstore: migrate: %w", dbErr(err))
	}
	defer conn.Close()
	m := migrator{d: d, prefix: prefix, conn: conn, bind: func(q string) string { return sqlx.Rebind(d.bind, q) }}
	switch d {
	case dialectMySQL:
		err = m.mysql(ctx, ms)
	default:
		err = m.transactional(ctx, ms)
	}
	if err != nil {
		return fmt.Errorf("sqlstore: migrate (%s, prefix %s): %w", d.name, prefix, err)
	}
	return nil
}

// startEpoch writes the epoch marker at the clock's now when the tables
// 0001 makes hold nothing (not a row: no marker, no revocation, session,
// refresh token or API token), that is when the schema is new. (The
// tables of later migrations are not looked at: a deployment whose only
// rows are throttle counters or log entries is taken for new, and refuses
// the access tokens issued before, once.) Tables that hold data were
// made before, by an earlier run that was stopped, or by another tool
// applying the .sql files (no bookkeeping table): their marker, if any, is
// kept, and 0005 writes a missing one at 0, as on an upgrade.
func (m migrator) startEpoch(ctx context.Context, q querier) error {
	var held int
	var probe strings.Builder
	probe.WriteString("SELECT 0")
	for i, table := range []string{"revocations", "sessions", "refresh_tokens", "api_tokens", "api_token_subjects"} {
		fmt.Fprintf(&probe, " + (SELECT COUNT(*) FROM (SELECT 1 FROM %s%s LIMIT 1) t%d)", m.prefix, table, i)
	}
	if err := q.QueryRowContext(ctx, probe.String()).Scan(&held); err != nil {
		return err
	}
	if held > 0 {
		return nil
	}
	_, err := q.ExecContext(ctx, buildQueries(m.d, m.prefix).insertEpoch, time.Now().UnixMicro())
	return err
}

type migrator struct {
	d      *dialect
	prefix string
	conn   *sql.Conn
	bind   func(string) string
}

// lockTimeout bounds how long Migrate waits for another server's Migrate.
const lockTimeout = 5 * time.Minute

// transactional applies the migrations in one transaction that first
// takes the migration lock (PostgreSQL, SQLite: DDL is transactional).
func (m migrator) transactional(ctx context.Context, ms []migration) (err error) {
	var tx txn
	if m.d.immediate {
		// BEGIN IMMEDIATE is the lock: one writer at a time. It waits
		// busy_timeout (5s) for another writer, and is tried again until
		// lockTimeout, as the other databases wait for their locks (found
		// by review: a second server's migrate gave up after 5s).
		lctx, cancel := context.WithTimeout(ctx, lockTimeout)
		err := retryBusy(lctx, func() error {
			_, err := m.conn.ExecContext(lctx, "BEGIN IMMEDIATE")
			return err
		})
		cancel()
		if err != nil {
			return dbErr(err)
		}
		tx = &heldTx{Conn: m.conn, end: context.Background()}
	} else {
		// READ COMMITTED whatever the database's default: at REPEATABLE
		// READ the snapshot would predate the lock, and a server that
		// waited for another's migrations would not see them and apply
		// them again (found by review).
		t, err := m.conn.BeginTx(ctx, m.d.txOptions) // the store's own: READ COMMITTED
		if err != nil {
			return dbErr(err)
		}
		tx = t
		if _, err := tx.ExecContext(ctx, "SELECT pg_advisory_xact_lock($1)", m.lockKey()); err != nil {
			_ = tx.Rollback()
			return fmt.Errorf("taking the migration lock: %w", dbErr(err))
		}
	}
	if err := m.apply(ctx, tx, ms); err != nil {
		_ = tx.Rollback()
		return err
	}
	return dbErr(tx.Commit())
}

// lockKey is the advisory lock of this prefix's migrations.
func (m migrator) lockKey() int64 {
	h := fnv.New64a()
	h.Write([]byte("authkit/sqlstore/migrate:" + m.prefix))
	return int64(h.Sum64())
}

// mysql applies the migrations under a named lock held by the connection.
func (m migrator) mysql(ctx context.Context, ms []migration) error {
	name := "SELECT LEFT(CONCAT('authkit:', SHA2(CONCAT(COALESCE(DATABASE(), ''), ':', ?), 256)), 64)"
	var lock string
	if err := m.conn.QueryRowContext(ctx, name, m.prefix).Scan(&lock); err != nil {
		return dbErr(err)
	}
	var got sql.NullInt64
	if err := m.conn.QueryRowContext(ctx, "SELECT GET_LOCK(?, ?)", lock, int(lockTimeout/time.Second)).Scan(&got); err != nil {
		return fmt.Errorf("taking the migration lock: %w", dbErr(err))
	}
	if !got.Valid || got.Int64 != 1 {
		return fmt.Errorf("taking the migration lock: another Migrate held it for %v", lockTimeout)
	}
	defer func() {
		// Released with the connection in any case; say so explicitly.
		var released sql.NullInt64
		_ = m.conn.QueryRowContext(context.WithoutCancel(ctx), "SELECT RELEASE_LOCK(?)", lock).Scan(&released)
	}()
	return m.apply(ctx, m.conn, ms)
}

// apply creates the bookkeeping table and runs each migration not yet
// recorded in it, recording it.
func (m migrator) apply(ctx context.Context, q querier, ms []migration) error {
	table := m.prefix + "schema_migrations"
	create := fmt.Sprintf(`CREATE TABLE IF NOT EXISTS %s (version BIGINT NOT NULL PRIMARY KEY, name VARCHAR(255) NOT NULL, applied_at BIGINT NOT NULL)`, table)
	if _, err := q.ExecContext(ctx, create); err != nil {
		return fmt.Errorf("creating %s: %w", table, dbErr(err))
	}
	rows, err := q.QueryContext(ctx, "SELECT version FROM "+table)
	if err != nil {
		return fmt.Errorf("reading %s: %w", table, dbErr(err))
	}
	done := map[int64]bool{}
	for rows.Next() {
		var v int64
		if err := rows.Scan(&v); err != nil {
			rows.Close()
			return dbErr(err)
		}
		done[v] = true
	}
	if err := rows.Close(); err != nil {
		return dbErr(err)
	}
	if err := rows.Err(); err != nil {
		return dbErr(err)
	}
	record := m.bind("INSERT INTO " + table + " (version, name, applied_at) VALUES (?, ?, ?)")
	// A schema made from nothing starts its epoch now, not at 0: nothing
	// was issued against this database before, and a database wiped and
	// migrated again (DROP DATABASE, a new empty primary) must not vouch
	// for the revocations it never held (see epoch.go).
	fresh := !done[1]
	for _, mg := range ms {
		if done[mg.version] {
			continue
		}
		for _, stmt := range statements(mg.body) {
			if m.d.immediate {
				has, err := hasAddedColumn(ctx, q, stmt)
				if err != nil {
					return fmt.Errorf("migration %04d_%s: %w", mg.version, mg.name, dbErr(err))
				}
				if has {
					continue
				}
			}
			if _, err := q.ExecContext(ctx, stmt); err != nil {
				return fmt.Errorf("migration %04d_%s: %w", mg.version, mg.name, dbErr(err))
			}
		}
		if fresh && mg.version == 1 {
			// Before 0001 is recorded: on MySQL, where each migration
			// commits on its own, a run that stops after it must leave
			// the marker behind, or the next run, no longer fresh, would
			// let 0005 write it at 0. 0005 keeps a marker already there.
			if err := m.startEpoch(ctx, q); err != nil {
				return fmt.Errorf("starting the epoch of a new schema: %w", dbErr(err))
			}
		}
		if _, err := q.ExecContext(ctx, record, mg.version, mg.name, time.Now().UnixMicro()); err != nil {
			return fmt.Errorf("recording migration %04d_%s: %w", mg.version, mg.name, dbErr(err))
		}
	}
	return nil
}

// sqliteAddColumn matches a SQLite migration's ALTER TABLE … ADD COLUMN,
// after any comment lines.
var sqliteAddColumn = regexp.MustCompile(`(?is)^(?:\s*--[^\n]*\n)*\s*ALTER\s+TABLE\s+(\w+)\s+ADD\s+COLUMN\s+(\w+)\s`)

// hasAddedColumn reports whether stmt is an ALTER TABLE … ADD COLUMN
// (SQLite) whose column the table already has. SQLite has no ADD COLUMN IF
// NOT EXISTS: without this, Migrate over tables another tool migrated (no
// bookkeeping table, so every file runs again), or after a bookkeeping row
// was deleted to redo a migration, failed on a column already there
// (found by review), where the other dialects' files are written to run
// again.
func hasAddedColumn(ctx context.Context, q querier, stmt string) (bool, error) {
	m := sqliteAddColumn.FindStringSubmatch(stmt)
	if m == nil {
		return false, nil
	}
	var n int64
	err := q.QueryRowContext(ctx, "SELECT COUNT(*) FROM pragma_table_info(?) WHERE name = ?", m[1], m[2]).Scan(&n)
	return n > 0, err
}
