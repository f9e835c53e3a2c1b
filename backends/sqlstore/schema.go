package sqlstore

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/authkit-go/authkit"
)

// Schema check. CheckSchema (run by Open) tells whether every migration
// this package embeds is in effect, without relying on the
// <prefix>schema_migrations table that only Migrate keeps: a team may
// apply the files with goose or golang-migrate. It looks for what each
// migration creates — tables with the columns the store reads, columns
// added to an earlier table, the rotation routine, a row the store cannot
// work without — with read-only queries that touch no row of data
// (SELECT … WHERE 1 = 0, catalog lookups, one primary-key read).
//
// migrationProbes holds one probe per migration, next to the files; a test
// checks that every embedded migration of every dialect has its probe and
// that each probe names exactly what its migration's statements create,
// so that a new migration cannot ship without one.
//
// The check only asks for what this binary's migrations create: extra
// tables, columns, rows of schema_migrations or routines (a schema newer
// than the binary, during a rolling deploy after migrate-then-deploy) are
// ignored.

// probeTable is a table a migration creates, or one whose columns it
// adds: name without the prefix, and the columns to find.
type probeTable struct {
	name string
	cols []string
}

// probeRow is a row a migration writes: where selects it in table.
type probeRow struct {
	what  string // for messages: "the epoch marker", …
	table string
	where string
	// conclusive says that a missing row means the migration was not
	// applied. When false (the epoch marker of 0005, which a data loss
	// takes away and IsRevoked writes again), a missing row only asks
	// <prefix>schema_migrations: the migration is missing if that table
	// exists and does not list it.
	conclusive bool
}

// probeRoutine is a stored routine a migration creates: its name without
// the prefix, and for PostgreSQL its argument types (to_regprocedure).
type probeRoutine struct {
	name   string
	pgArgs string
}

// probeKey is a unique key a migration creates (a primary key, a unique
// constraint or index): its table without the prefix and its columns.
// The store's safety rests on some of them: a replayed client assertion
// or a second API token with the same hash is refused by the key alone.
type probeKey struct {
	table string
	cols  []string
}

// probeFK is a foreign key a migration creates: table(col) references
// ref(refCol), with its ON DELETE action ("CASCADE", "SET NULL"). A later
// migration's key on the same column supersedes an earlier one's (0008
// changed 0007's CASCADE to SET NULL): only the latest is looked for.
// A version that looks for a key refuses a schema whose later migration
// changed it, so later migrations must not change a key a released
// version looks for (0008 changed 0007's before any version looked).
type probeFK struct {
	table, col, ref, refCol, onDelete string
}

// migrationProbe is what CheckSchema looks for to tell that one migration
// is in effect.
type migrationProbe struct {
	version int64
	name    string
	// dialects that have the migration; nil: all three. A migration
	// whose files differ in what they create has one probe per group of
	// dialects, each with the same version and name.
	dialects []string
	tables   []probeTable
	keys     []probeKey
	fks      []probeFK
	row      *probeRow
	routine  *probeRoutine
}

// migrationProbes are the probes of every migration, in version order.
var migrationProbes = []migrationProbe{
	{version: 1, name: "init", tables: []probeTable{
		{"sessions", []string{"id", "subject", "client_id", "scopes", "audience", "claims", "user_agent", "ip", "name",
			"created_at", "last_used_at", "expires_at", "idle_expires_at", "revoked_at", "gc_at"}},
		{"refresh_tokens", []string{"hash", "session_id", "subject", "issued_at", "expires_at", "used_at", "successor"}},
		{"revocations", []string{"subject", "kind", "ident", "expires_at", "cutoff_at"}},
		{"api_tokens", []string{"id", "hash", "subject", "name", "scopes", "created_at", "expires_at", "last_used_at", "revoked_at", "gc_at"}},
		{"api_token_subjects", []string{"subject"}},
	}, keys: []probeKey{
		{"sessions", []string{"id"}},
		{"refresh_tokens", []string{"hash"}},
		{"revocations", []string{"subject", "kind", "ident"}},
		{"api_tokens", []string{"id"}},
		{"api_tokens", []string{"hash"}},
		{"api_token_subjects", []string{"subject"}},
	}},
	{version: 2, name: "revocation_feed", tables: []probeTable{
		{"revocation_feed", []string{"k", "epoch", "seq"}},
		{"revocation_log", []string{"id", "kind", "subject", "ident", "cutoff_at", "expires_at", "written_at"}},
	}, keys: []probeKey{
		{"revocation_feed", []string{"k"}},
		{"revocation_log", []string{"id"}},
	}, row: &probeRow{what: "the counter row", table: "revocation_feed", where: "k = 1", conclusive: true}},
	{version: 3, name: "rotate_refresh", dialects: []string{"postgres", "mysql"},
		routine: &probeRoutine{name: "rotate_refresh", pgArgs: "bytea, bytea, bigint, bigint, bytea"}},
	{version: 4, name: "throttle", tables: []probeTable{
		{"throttle", []string{"k", "n", "last_at", "expires_at"}},
	}, keys: []probeKey{{"throttle", []string{"k"}}}},
	{version: 5, name: "epoch",
		row: &probeRow{what: "the epoch marker row", table: "revocations", where: "subject = '' AND kind = 4 AND ident = ''"}},
	{version: 6, name: "clients", tables: []probeTable{
		{"clients", []string{"id", "name", "secret_hash", "jwks", "grant_types", "scopes", "redirect_uris",
			"access_ttl_us", "refresh_ttl_us", "created_at", "secret_rotated_at"}},
		{"authorization_codes", []string{"hash", "client_id", "redirect_uri", "subject", "scopes", "challenge", "claims",
			"created_at", "expires_at", "used_at", "session_id"}},
	}, keys: []probeKey{
		{"clients", []string{"id"}},
		{"authorization_codes", []string{"hash"}},
	}, fks: []probeFK{{"authorization_codes", "client_id", "clients", "id", "CASCADE"}}},
	{version: 7, name: "client_assertions", tables: []probeTable{
		{"authorization_codes", []string{"session_ttl_us", "access_ttl_us"}},
		{"client_assertions", []string{"hash", "client_id", "expires_at"}},
	}, keys: []probeKey{{"client_assertions", []string{"hash"}}},
		fks: []probeFK{{"client_assertions", "client_id", "clients", "id", "CASCADE"}}},
	{version: 8, name: "client_assertions_kept", dialects: []string{"postgres", "mysql"},
		fks: []probeFK{{"client_assertions", "client_id", "clients", "id", "SET NULL"}}},
	// SQLite builds the table again (it cannot change a constraint in
	// place).
	{version: 8, name: "client_assertions_kept", dialects: []string{"sqlite"},
		tables: []probeTable{{"client_assertions", []string{"hash", "client_id", "expires_at"}}},
		keys:   []probeKey{{"client_assertions", []string{"hash"}}},
		fks:    []probeFK{{"client_assertions", "client_id", "clients", "id", "SET NULL"}}},
	{version: 9, name: "code_origin", tables: []probeTable{
		{"authorization_codes", []string{"user_agent", "ip"}},
	}},
}

// probesFor returns the probes of dialect d's migrations, in version order.
func probesFor(d *dialect) []migrationProbe {
	var out []migrationProbe
	for _, p := range migrationProbes {
		if p.dialects == nil || slices.Contains(p.dialects, d.name) {
			out = append(out, p)
		}
	}
	return out
}

// file is the migration's file name without .up.sql, as errors name it.
func (p migrationProbe) file() string { return fmt.Sprintf("%04d_%s", p.version, p.name) }

// schemaPart is one thing a probe looks for: expr, an SQL expression
// without parameters, is 0 when it is there, 1 when it is not (a row, a
// routine), or fails (a table, a column).
type schemaPart struct {
	what string // for messages: "table authkit_throttle", …
	expr string
	// table, for a table part: checked again table first then column by
	// column when the part fails, to name what is missing.
	table *probeTable
	// inconclusive: a missing row asks schema_migrations (probeRow).
	inconclusive bool
	// grant, for a PostgreSQL routine part: the routine is there, and
	// the part fails when the store's user may not execute it.
	grant string
	// hidden, for a MySQL routine part: information_schema lists only
	// the routines the user may execute, so a routine it does not list
	// is missing or not granted; the message says both, with grant.
	hidden string
	// constraint, for a unique key or a foreign key: a migration
	// listed as applied cannot be applied again to bring it back.
	constraint bool
	// fk, for a MySQL foreign key part: read from SHOW CREATE TABLE when
	// information_schema does not show it (showsFK).
	fk *probeFK
}

// superseded reports whether a later probe has a foreign key on fk's
// column.
func superseded(later []migrationProbe, fk probeFK) bool {
	for _, p := range later {
		for _, l := range p.fks {
			if l.table == fk.table && l.col == fk.col {
				return true
			}
		}
	}
	return false
}

// sqlList is names as a list of SQL string literals. Table and column
// names match [a-z_][a-z0-9_]* (the prefix too, WithTablePrefix): they
// stand in a literal as they are.
func sqlList(names []string) string {
	return "'" + strings.Join(names, "', '") + "'"
}

// keyExpr is 0 when table has a unique key (primary key, unique
// constraint or unique index, not partial) on exactly cols, else 1.
func (d *dialect) keyExpr(table string, cols []string) string {
	n, in := len(cols), sqlList(cols)
	switch d.name {
	case "postgres":
		// Resolved through search_path, as the store's statements are.
		// A valid, immediate (not deferrable) unique index whose key
		// columns (not its INCLUDE columns) are exactly cols: an invalid
		// one (a failed CREATE UNIQUE INDEX CONCURRENTLY) enforces
		// nothing reliably, and ON CONFLICT refuses a deferrable one.
		return fmt.Sprintf("CASE WHEN EXISTS (SELECT 1 FROM pg_index i WHERE i.indrelid = to_regclass('%s')"+
			" AND i.indisunique AND i.indisvalid AND i.indisready AND i.indimmediate AND i.indpred IS NULL AND i.indnkeyatts = %d"+
			" AND (SELECT count(*) FROM pg_attribute a WHERE a.attrelid = i.indrelid AND a.attnum = ANY (i.indkey[0:i.indnkeyatts-1]) AND a.attname IN (%s)) = %d)"+
			" THEN 0 ELSE 1 END", table, n, in, n)
	case "mysql":
		return fmt.Sprintf("CASE WHEN EXISTS (SELECT 1 FROM information_schema.statistics"+
			" WHERE table_schema = DATABASE() AND table_name = '%s' AND non_unique = 0 GROUP BY index_name"+
			" HAVING COUNT(*) = %d AND SUM(column_name IN (%s)) = %d) THEN 0 ELSE 1 END", table, n, in, n)
	default:
		// An INTEGER PRIMARY KEY is the rowid itself, which no index
		// lists.
		rowid := "0"
		if n == 1 {
			rowid = fmt.Sprintf("(EXISTS (SELECT 1 FROM pragma_table_info('%s') WHERE pk = 1 AND name = %s AND upper(type) = 'INTEGER')"+
				" AND (SELECT count(*) FROM pragma_table_info('%s') WHERE pk > 0) = 1)", table, in, table)
		}
		return fmt.Sprintf("CASE WHEN EXISTS (SELECT 1 FROM pragma_index_list('%s') il WHERE il.\"unique\" = 1 AND il.partial = 0"+
			" AND (SELECT count(*) FROM pragma_index_info(il.name)) = %d"+
			" AND (SELECT count(*) FROM pragma_index_info(il.name) ii WHERE ii.name IN (%s)) = %d) OR %s THEN 0 ELSE 1 END",
			table, n, in, n, rowid)
	}
}

// fkExpr is 0 when table has fk's foreign key to ref with its ON DELETE
// action, and no other foreign key from the same column with another
// action (a cascade left beside a SET NULL would still delete), else 1.
func (d *dialect) fkExpr(table, ref string, fk probeFK) string {
	switch d.name {
	case "postgres":
		action := map[string]string{"CASCADE": "c", "SET NULL": "n"}[fk.onDelete]
		attnum := fmt.Sprintf("(SELECT attnum FROM pg_attribute WHERE attrelid = to_regclass('%s') AND attname = '%s')", table, fk.col)
		return fmt.Sprintf("CASE WHEN EXISTS (SELECT 1 FROM pg_constraint c WHERE c.contype = 'f'"+
			" AND c.conrelid = to_regclass('%s') AND c.confrelid = to_regclass('%s') AND c.confdeltype = '%s'"+
			" AND c.conkey = ARRAY[%s]::int2[]"+
			" AND c.confkey = ARRAY[(SELECT attnum FROM pg_attribute WHERE attrelid = c.confrelid AND attname = '%s')]::int2[])"+
			" AND NOT EXISTS (SELECT 1 FROM pg_constraint o WHERE o.contype = 'f' AND o.conrelid = to_regclass('%s')"+
			" AND %s = ANY (o.conkey) AND o.confdeltype <> '%s')"+
			" THEN 0 ELSE 1 END", table, ref, action, attnum, fk.refCol, table, attnum, action)
	case "mysql":
		fks := "SELECT 1 FROM information_schema.referential_constraints rc" +
			" JOIN information_schema.key_column_usage k ON k.constraint_schema = rc.constraint_schema" +
			" AND k.constraint_name = rc.constraint_name AND k.table_name = rc.table_name" +
			" WHERE rc.constraint_schema = DATABASE() AND rc.table_name = '%s' AND k.column_name = '%s'"
		return fmt.Sprintf("CASE WHEN EXISTS ("+fks+" AND rc.referenced_table_name = '%s'"+
			" AND rc.delete_rule = '%s' AND k.referenced_column_name = '%s')"+
			" AND NOT EXISTS ("+fks+" AND rc.delete_rule <> '%s') THEN 0 ELSE 1 END",
			table, fk.col, ref, fk.onDelete, fk.refCol, table, fk.col, fk.onDelete)
	default:
		return fmt.Sprintf("CASE WHEN EXISTS (SELECT 1 FROM pragma_foreign_key_list('%s')"+
			" WHERE \"table\" = '%s' AND \"from\" = '%s' AND \"to\" = '%s' AND on_delete = '%s')"+
			" AND NOT EXISTS (SELECT 1 FROM pragma_foreign_key_list('%s') WHERE \"from\" = '%s' AND on_delete <> '%s')"+
			" THEN 0 ELSE 1 END",
			table, ref, fk.col, fk.refCol, fk.onDelete, table, fk.col, fk.onDelete)
	}
}

// parts returns what probes[i] looks for on the Store's dialect and
// prefix; probes are the dialect's, in version order.
func (s *Store) parts(probes []migrationProbe, i int) []schemaPart {
	p := probes[i]
	pre := s.cfg.prefix
	var out []schemaPart
	for i := range p.tables {
		t := &p.tables[i]
		out = append(out, schemaPart{what: "table " + pre + t.name, expr: readable(pre+t.name, t.cols), table: t})
	}
	for _, k := range p.keys {
		out = append(out, schemaPart{what: fmt.Sprintf("unique key %s%s (%s)", pre, k.table, strings.Join(k.cols, ", ")),
			expr: s.d.keyExpr(pre+k.table, k.cols), constraint: true})
	}
	for _, fk := range p.fks {
		if superseded(probes[i+1:], fk) {
			continue
		}
		part := schemaPart{what: fmt.Sprintf("foreign key %s%s (%s) referencing %s%s (%s) ON DELETE %s", pre, fk.table, fk.col, pre, fk.ref, fk.refCol, fk.onDelete),
			expr: s.d.fkExpr(pre+fk.table, pre+fk.ref, fk), constraint: true}
		if s.d.name == "mysql" {
			part.fk = &probeFK{table: pre + fk.table, col: fk.col, ref: pre + fk.ref, refCol: fk.refCol, onDelete: fk.onDelete}
		}
		out = append(out, part)
	}
	if r := p.row; r != nil {
		out = append(out, schemaPart{
			what:         fmt.Sprintf("%s of %s%s", r.what, pre, r.table),
			expr:         fmt.Sprintf("CASE WHEN EXISTS (SELECT 1 FROM %s%s WHERE %s) THEN 0 ELSE 1 END", pre, r.table, r.where),
			inconclusive: !r.conclusive,
		})
	}
	if r := p.routine; r != nil {
		// The prefix matches [a-z_][a-z0-9_]* (WithTablePrefix): it may
		// stand in a string literal as it is.
		name := pre + r.name
		part := schemaPart{what: "routine " + name}
		switch s.d.name {
		case "postgres":
			// Resolved through search_path, as the store's call is.
			part.expr = fmt.Sprintf("CASE WHEN to_regprocedure('%s(%s)') IS NULL THEN 1 ELSE 0 END", name, r.pgArgs)
			out = append(out, part)
			// Then whether the store's user may call it: without EXECUTE
			// every rotation would fail. NULL (no routine) counts as 1.
			part = schemaPart{what: "EXECUTE on routine " + name,
				expr:  fmt.Sprintf("CASE WHEN has_function_privilege(to_regprocedure('%s(%s)'), 'EXECUTE') THEN 0 ELSE 1 END", name, r.pgArgs),
				grant: fmt.Sprintf("GRANT EXECUTE ON FUNCTION %s(%s) TO <the store's user>", name, r.pgArgs)}
		case "mysql":
			// Listed for a user with EXECUTE on it, as the store's is.
			part.expr = fmt.Sprintf("CASE WHEN EXISTS (SELECT 1 FROM information_schema.routines"+
				" WHERE routine_schema = DATABASE() AND routine_name = '%s' AND routine_type = 'PROCEDURE') THEN 0 ELSE 1 END", name)
			part.hidden = fmt.Sprintf("GRANT EXECUTE ON PROCEDURE %s TO <the store's user>", name)
		default:
			part.expr = "1" // SQLite has no routines: none of its probes names one (a test checks)
		}
		out = append(out, part)
	}
	return out
}

// readable is 0 when table and its cols can be read, and fails otherwise.
// WHERE 1 = 0 reads no row: every dialect plans it as empty.
func readable(table string, cols []string) string {
	return fmt.Sprintf("(SELECT COUNT(*) FROM (SELECT %s FROM %s WHERE 1 = 0) x)", strings.Join(cols, ", "), table)
}

// CheckSchema reports whether every migration this package embeds for the
// Store's dialect is in effect in its database, whichever tool applied
// it: nil, or an error naming the first migration that is not, by its
// file name ("sqlstore: migration 0003_rotate_refresh is not applied: …
// (apply the migrations: authkit migrate, or sqlstore.Migrate)"), and what
// it found missing (a table, a column, a routine, a row, a unique key, a
// foreign key with its ON DELETE action), wrapping the
// database's error when there is one. It does not depend on
// <prefix>schema_migrations, which only Migrate writes: it looks for what
// each migration creates, with read-only queries that read no row of
// data. On a complete schema that is one query after the ping. That
// table, when there is one, only words the error of a migration it lists
// whose pieces are gone (a restore that left out a routine), and decides
// for the epoch marker of 0005, whose absence is otherwise taken for a
// data loss, which the store handles, not for a missing migration.
//
// A schema newer than the package's (a later version migrated first, as
// in a rolling deploy) passes: tables, columns and routines it does not
// know are ignored.
//
// On MySQL it also refuses, with authkit.ErrInvalidConfig, a connection
// whose character set (big5, cp932, gb18030, gbk, sjis) makes escaping
// query parameters by backslash unsafe: with the driver's
// interpolateParams, which Open turns on, a crafted User-Agent or token
// name would otherwise escape its string literal (SQL injection). On
// PostgreSQL it refuses, with authkit.ErrInvalidConfig, a connection
// whose transactions default to another isolation level than READ
// COMMITTED, at which concurrent revocations would fail. On both, with
// every migration in effect, it refuses, with authkit.ErrInvalidConfig, a
// database user that may not write the tables as the store does, naming
// each write it lacks (asked without writing: PostgreSQL's privilege
// functions, MySQL's EXPLAIN).
//
// A database that does not answer, or refuses a query for another reason
// than a missing table or column, gives an error matching
// authkit.ErrStoreUnavailable. Open calls it.
func (s *Store) CheckSchema(ctx context.Context) error {
	const op = "check schema"
	if err := ctx.Err(); err != nil {
		return deadCtx(op, err)
	}
	if err := s.db.PingContext(ctx); err != nil {
		return s.fail(ctx, op, err)
	}
	if s.d.name == "mysql" {
		if err := s.checkCharset(ctx, op); err != nil {
			return err
		}
	}
	if s.d.name == "postgres" {
		if err := s.checkIsolation(ctx, op); err != nil {
			return err
		}
	}
	probes := probesFor(s.d)
	// Everything at once: the answer on a complete schema.
	var all []string
	for i := range probes {
		for _, part := range s.parts(probes, i) {
			all = append(all, part.expr)
		}
	}
	var missing int64
	err := s.db.QueryRowContext(ctx, "SELECT "+strings.Join(all, " + ")).Scan(&missing)
	if err == nil && missing == 0 {
		return s.checkWrites(ctx, op)
	}
	if err != nil && ctx.Err() != nil {
		return s.fail(ctx, op, err)
	}
	// Something is missing (or the query failed): migration by migration,
	// in order, to name the first.
	for i, p := range probes {
		for _, part := range s.parts(probes, i) {
			if err := s.checkPart(ctx, p, part); err != nil {
				return err
			}
		}
	}
	return s.checkWrites(ctx, op)
}

// checkPart runs one part of p's probe and returns nil when it finds what
// it looks for.
func (s *Store) checkPart(ctx context.Context, p migrationProbe, part schemaPart) error {
	op := fmt.Sprintf("check schema: migration %s: %s", p.file(), part.what)
	gone, cause, err := s.probe(ctx, part.expr)
	if err != nil {
		return s.fail(ctx, op, err)
	}
	if !gone {
		return nil
	}
	if part.fk != nil {
		// MariaDB's information_schema shows a foreign key's rule only to
		// a user with a database-level privilege beyond SELECT (found by
		// a test: a user granted INSERT, UPDATE and DELETE table by table
		// was refused as if the key were missing); SHOW CREATE TABLE
		// shows it to any user who may read the table.
		shown, err := s.showsFK(ctx, *part.fk)
		if err != nil {
			return s.fail(ctx, op, err)
		}
		if shown {
			return nil
		}
	}
	what := part.what
	if part.table != nil {
		// Name the table, or its first missing column.
		t := part.table
		if gone, c, err := s.probe(ctx, readable(s.cfg.prefix+t.name, []string{"1"})); err != nil {
			return s.fail(ctx, op, err)
		} else if gone {
			cause = c
		} else {
			for _, col := range t.cols {
				gone, c, err := s.probe(ctx, readable(s.cfg.prefix+t.name, []string{col}))
				if err != nil {
					return s.fail(ctx, op, err)
				}
				if gone {
					what, cause = fmt.Sprintf("column %s%s.%s", s.cfg.prefix, t.name, col), c
					break
				}
			}
		}
	}
	if part.grant != "" {
		// The routine is there (the part before found it); its user may
		// not run it. No migration will fix that.
		return &schemaError{msg: fmt.Sprintf("sqlstore: the store's database user lacks EXECUTE on routine %s%s of migration %s, so every refresh would fail (%s)",
			s.cfg.prefix, p.routine.name, p.file(), part.grant)}
	}
	recorded, known, err := s.recorded(ctx, p.version)
	if err != nil {
		return s.fail(ctx, op, err)
	}
	if part.hidden != "" {
		// MySQL lists a routine only to a user who may run it: missing,
		// or not granted; the message says both. Unlisted, it matches
		// ErrMigrationsNotApplied, as a missing table does.
		book := s.cfg.prefix + "schema_migrations"
		if recorded {
			return &schemaError{msg: fmt.Sprintf("sqlstore: migration %s is listed in %s but not in effect: %s is missing, or the store's database user lacks EXECUTE on it (information_schema lists only the routines a user may run: %s; if it is missing, delete version %d from %s, then run the migrations again: authkit migrate, or sqlstore.Migrate)",
				p.file(), book, what, part.hidden, p.version, book)}
		}
		return &schemaError{msg: fmt.Sprintf("sqlstore: migration %s is not applied: %s is missing, or the store's database user lacks EXECUTE on it (information_schema lists only the routines a user may run: %s) (apply the migrations: authkit migrate, or sqlstore.Migrate)",
			p.file(), what, part.hidden), notApplied: true}
	}
	if part.inconclusive && (recorded || !known) {
		// The migration's row is gone, but nothing says the migration was
		// never applied: a data loss, which the store handles (epoch.go).
		return nil
	}
	missing := what + " is missing"
	if part.constraint && recorded {
		// Migrate skips a listed migration, and running its file again
		// would not add a key to a table that is there.
		return &schemaError{msg: fmt.Sprintf("sqlstore: migration %s is listed in %s but not in effect: its %s (restored without the dump's constraints?): the store relies on it to refuse what it must; add it again as migrations/%s/%s.up.sql creates it",
			p.file(), s.cfg.prefix+"schema_migrations", missing, s.d.name, p.file())}
	}
	// Both messages say how to apply the migrations: the listed one
	// without "apply the migrations", which authkit serve reads as
	// "--migrate would fix it" (Migrate skips a listed migration).
	book := s.cfg.prefix + "schema_migrations"
	var msg string
	if recorded {
		msg = fmt.Sprintf("sqlstore: migration %s is listed in %s but not in effect: %s (restored without it? delete version %d from %s, then run the migrations again: authkit migrate, or sqlstore.Migrate)",
			p.file(), book, missing, p.version, book)
	} else {
		msg = fmt.Sprintf("sqlstore: migration %s is not applied: %s (apply the migrations: authkit migrate, or sqlstore.Migrate)", p.file(), missing)
	}
	e := &schemaError{msg: msg, notApplied: !recorded}
	if cause != nil {
		e.cause = dbErr(cause)
	}
	return e
}

// ErrMigrationsNotApplied reports, from CheckSchema and so from Open, a
// database on which a migration this binary embeds has not been applied:
// Migrate (authkit migrate, or authkit serve --migrate) applies it. A
// migration that is listed as applied but whose tables, columns or
// routine are missing (a restore without them) does not match it: Migrate
// skips a listed migration, so the error says what to do instead.
var ErrMigrationsNotApplied = errors.New("sqlstore: migrations not applied")

// schemaError is CheckSchema's report of a migration not in effect.
type schemaError struct {
	msg        string
	cause      error // the database's refusal of the probe, if any
	notApplied bool  // matches ErrMigrationsNotApplied
}

func (e *schemaError) Error() string {
	if e.cause != nil {
		return e.msg + ": " + e.cause.Error()
	}
	return e.msg
}

// Unwrap returns the database's refusal of the probe, or nil.
func (e *schemaError) Unwrap() error { return e.cause }

// Is makes a migration not applied match ErrMigrationsNotApplied.
func (e *schemaError) Is(target error) bool {
	return e.notApplied && target == ErrMigrationsNotApplied
}

// probe evaluates expr: gone when it is 1 or fails for want of a table
// or a column (cause is then the database's error); err when the
// database failed otherwise.
func (s *Store) probe(ctx context.Context, expr string) (gone bool, cause, err error) {
	var n int64
	if err := s.db.QueryRowContext(ctx, "SELECT "+expr).Scan(&n); err != nil {
		if ctx.Err() == nil && isUndefined(err) {
			return true, err, nil
		}
		return false, nil, err
	}
	return n != 0, nil, nil
}

// recorded reports whether <prefix>schema_migrations lists version; known
// is false when there is no such table (the migrations were applied by
// another tool) or it cannot be read.
func (s *Store) recorded(ctx context.Context, version int64) (recorded, known bool, err error) {
	var n int64
	q := "SELECT COUNT(*) FROM " + s.cfg.prefix + "schema_migrations WHERE version = " + strconv.FormatInt(version, 10)
	if err := s.db.QueryRowContext(ctx, q).Scan(&n); err != nil {
		if ctx.Err() != nil || !isUndefined(err) {
			return false, false, err
		}
		return false, false, nil // no bookkeeping table: another tool migrated
	}
	return n > 0, true, nil
}

// Codes of a missing table or column.
const (
	pgUndefinedTable  = "42P01" // undefined_table
	pgUndefinedColumn = "42703" // undefined_column
	myNoSuchTable     = 1146    // ER_NO_SUCH_TABLE
	myBadField        = 1054    // ER_BAD_FIELD_ERROR
	sqliteError       = 1       // SQLITE_ERROR: "no such table", "no such column"
)

// isUndefined reports a statement refused for naming a table or a column
// that does not exist.
func isUndefined(err error) bool {
	c := codes(err)
	return c.pg == pgUndefinedTable || c.pg == pgUndefinedColumn ||
		c.mysql == myNoSuchTable || c.mysql == myBadField ||
		c.sqlite&0xff == sqliteError
}

// checkCharset refuses (authkit.ErrInvalidConfig) a MySQL connection whose
// client character set makes escaping by backslash unsafe
// (unsafeMySQLCharset): with the driver's interpolateParams, which Open
// turns on, a parameter such as a User-Agent could then escape its string
// literal and rewrite the statement.
func (s *Store) checkCharset(ctx context.Context, op string) error {
	var client, conn, mode string
	var autocommit int64
	if err := s.db.QueryRowContext(ctx, "SELECT @@character_set_client, @@character_set_connection, @@autocommit, @@SESSION.sql_mode").Scan(&client, &conn, &autocommit, &mode); err != nil {
		return s.fail(ctx, op, err)
	}
	if !slices.ContainsFunc(strings.Split(strings.ToUpper(mode), ","), func(m string) bool { return m == "STRICT_TRANS_TABLES" || m == "STRICT_ALL_TABLES" }) {
		// Without a strict mode a value too long for its column is cut
		// short and stored, where the store counts on an error (found by
		// review: a 70,000-byte user agent read back as 65,535 bytes on a
		// server with sql_mode='', and was refused on a strict one).
		return fmt.Errorf("sqlstore: %s: %w: the connection's sql_mode (%q) is not strict, under which a value too long for its column is silently cut: add STRICT_TRANS_TABLES (Open's DSNs do, unless they set sql_mode)", op, authkit.ErrInvalidConfig, mode)
	}
	if autocommit != 1 {
		// Every statement the store runs outside its own transactions
		// would open one never committed: writes lost, reads frozen at
		// their first snapshot, a revocation made elsewhere never seen
		// (found by review).
		return fmt.Errorf("sqlstore: %s: %w: the connection has autocommit off (a DSN's autocommit=0, or the server's init_connect): the store's writes would never commit and its reads would not see other connections' revocations; leave autocommit on", op, authkit.ErrInvalidConfig)
	}
	for _, cs := range []string{client, conn} {
		if unsafeMySQLCharset(cs) {
			return fmt.Errorf("sqlstore: %s: %w: the connection's character set is %s, under which escaping query parameters by backslash is unsafe (SQL injection with interpolateParams): connect with charset=utf8mb4", op, authkit.ErrInvalidConfig, cs)
		}
	}
	return nil
}

// checkIsolation refuses a PostgreSQL connection whose statements run at
// another isolation level than READ COMMITTED (a database's, role's or
// DSN's default_transaction_isolation). The store's statements that run
// outside its transactions rely on it: at REPEATABLE READ or SERIALIZABLE,
// two revocations at once (both bump the revocation feed's counter row),
// two cutoffs of one subject, or a reuse racing its rotation fail with a
// serialization error instead of waiting for each other (found by review:
// the conformance suite's concurrent cutoffs failed with SQLSTATE 40001).
// The store's own transactions ask for READ COMMITTED themselves.
//
// It refuses a connection that cannot write too: a hot standby
// (pg_is_in_recovery) or a read-only default (default_transaction_read_only
// of the role, database or DSN). The store would start, its health check
// would pass, and every login and revocation would fail (found by review).
func (s *Store) checkIsolation(ctx context.Context, op string) error {
	var (
		level, readOnly string
		standby         bool
	)
	if err := s.db.QueryRowContext(ctx, "SELECT current_setting('transaction_isolation'), current_setting('transaction_read_only'), pg_is_in_recovery()").Scan(&level, &readOnly, &standby); err != nil {
		return s.fail(ctx, op, err)
	}
	if standby {
		return fmt.Errorf("sqlstore: %s: %w: the server is a standby (pg_is_in_recovery), which cannot write: point the DSN at the primary (target_session_attrs=read-write with several hosts)", op, authkit.ErrInvalidConfig)
	}
	if readOnly == "on" {
		return fmt.Errorf("sqlstore: %s: %w: the connection's transactions are read-only (default_transaction_read_only of the store's role, its database or the DSN), and the store writes on every login and revocation", op, authkit.ErrInvalidConfig)
	}
	if level != "read committed" {
		return fmt.Errorf("sqlstore: %s: %w: the connection's transactions default to %s isolation; the store needs read committed, under which concurrent revocations wait for each other instead of failing: set default_transaction_isolation to 'read committed' for the store's role (ALTER ROLE … SET default_transaction_isolation = 'read committed'; this works behind PgBouncer too) or, connecting directly, in its DSN (?default_transaction_isolation=read%%20committed)", op, authkit.ErrInvalidConfig, level)
	}
	return nil
}

// createFK matches a single-column foreign key in MySQL's SHOW CREATE
// TABLE: its column, the referenced table's database (when another) and
// name, the referenced column, and the rest of the line (its rules).
// Identifiers are quoted with back quotes, with double quotes under the
// ANSI_QUOTES sql_mode (found by review: the key was taken for missing),
// or not at all when sql_quote_show_create is off.
var createFK = regexp.MustCompile(strings.NewReplacer("@Q", "[`\"]", "@N", "[^`\",().\\s]").Replace(
	`(?m)^\s*CONSTRAINT\s+(?:@Q[^\x60"]*@Q|\S+)\s+FOREIGN KEY\s+\(@Q?(@N+)@Q?\)\s+REFERENCES\s+(?:@Q?(@N+)@Q?\.)?@Q?(@N+)@Q?\s*\(@Q?(@N+)@Q?\)(.*)$`))

// showsFK reports whether fk (prefixed table names) is in effect as
// fkExpr judges it, read from SHOW CREATE TABLE: a key from fk.col to
// fk.ref (fk.refCol) with fk.onDelete, and none from the same column with
// another action.
func (s *Store) showsFK(ctx context.Context, fk probeFK) (bool, error) {
	var name, create string
	if err := s.db.QueryRowContext(ctx, "SHOW CREATE TABLE "+fk.table).Scan(&name, &create); err != nil {
		if ctx.Err() == nil && isUndefined(err) {
			return false, nil
		}
		return false, err
	}
	return fkInCreate(create, fk), nil
}

// fkInCreate is showsFK's judgement of create, a SHOW CREATE TABLE.
func fkInCreate(create string, fk probeFK) bool {
	found := false
	for _, m := range createFK.FindAllStringSubmatch(create, -1) {
		col, db, ref, refCol, rest := m[1], m[2], m[3], m[4], m[5]
		if col != fk.col {
			continue
		}
		action := "RESTRICT" // what MySQL leaves out
		if _, after, ok := strings.Cut(rest, "ON DELETE "); ok {
			for _, a := range []string{"CASCADE", "SET NULL", "SET DEFAULT", "NO ACTION", "RESTRICT"} {
				if strings.HasPrefix(after, a) {
					action = a
					break
				}
			}
		}
		if action != fk.onDelete {
			return false // another action from the same column
		}
		if db == "" && ref == fk.ref && refCol == fk.refCol {
			found = true
		}
	}
	return found
}
