package sqlstore

import (
	"maps"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// created is what a migration's statements create, as TestMigrationProbes
// reads it from the file.
type created struct {
	cols     map[string][]string // table (without prefix) -> columns it creates or adds
	keys     []probeKey          // unique keys it creates, columns sorted
	fks      []probeFK           // foreign keys it creates
	rows     []string            // tables it inserts a row into
	routines []string            // routines it creates (without prefix)
	// unread are the statements that name more keys (PRIMARY KEY,
	// UNIQUE, REFERENCES) than whatCreates could read: a form it does
	// not know, which TestMigrationProbes refuses rather than miss.
	unread []string
}

var (
	createTableRE = regexp.MustCompile(`^CREATE TABLE (?:IF NOT EXISTS )?authkit_([a-z_]+) \(`)
	columnRE      = regexp.MustCompile(`^([a-z][a-z0-9_]*)\s`)
	alterRE       = regexp.MustCompile(`ALTER TABLE authkit_([a-z_]+)\s+([^;']*(?:'[^']*'[^;']*)*)`) // quoted strings ('' defaults) included
	addColumnRE   = regexp.MustCompile(`ADD COLUMN (?:IF NOT EXISTS )?([a-z][a-z0-9_]*)`)
	insertRE      = regexp.MustCompile(`^INSERT (?:OR IGNORE |IGNORE )?INTO authkit_([a-z_]+)[^;]*?(VALUES|SELECT)`)
	// A table's key: PRIMARY KEY (…), UNIQUE (…), UNIQUE INDEX name (…),
	// with or without CONSTRAINT name before it; a column's: PRIMARY KEY
	// or UNIQUE on its line, without a column list after it.
	tableKeyRE  = regexp.MustCompile(`^(?:CONSTRAINT [a-z_]+ )?(?:PRIMARY KEY|UNIQUE(?: INDEX| KEY)?(?: [a-z_]+)?) ?\(([a-z_, ]+)\)`)
	columnKeyRE = regexp.MustCompile(` (?:PRIMARY KEY|UNIQUE)(?: |,|$)`)
	// FOREIGN KEY (col) REFERENCES authkit_ref (refcol) ON DELETE …, or a
	// column's REFERENCES authkit_ref (refcol) ON DELETE ….
	fkRE       = regexp.MustCompile(`FOREIGN KEY \(([a-z_]+)\)\s+REFERENCES authkit_([a-z_]+) \(([a-z_]+)\) ON DELETE (CASCADE|SET NULL)`)
	columnFKRE = regexp.MustCompile(`REFERENCES authkit_([a-z_]+) \(([a-z_]+)\) ON DELETE (CASCADE|SET NULL)`)
	alterFKRE  = regexp.MustCompile(`ALTER TABLE authkit_([a-z_]+)\s+(?:[^;']*?)ADD CONSTRAINT [a-z_]+\s+`)
	routineRE  = regexp.MustCompile(`^CREATE (?:OR REPLACE )?(?:FUNCTION|PROCEDURE) authkit_([a-z_]+)`)
)

// whatCreates reads a migration's statements: the tables it creates with
// their columns (a lower-case word at the start of a line of the column
// list: keywords are upper case), the columns ALTER TABLE adds (also
// inside a string a statement prepares, as MySQL's 0007 does), the rows
// it inserts and the routines it creates.
func whatCreates(m migration) created {
	c := created{cols: map[string][]string{}}
	for _, stmt := range statements(m.body) {
		read := len(c.keys) + len(c.fks)
		named := strings.Count(stmt, "PRIMARY KEY") + strings.Count(stmt, "UNIQUE") + strings.Count(stmt, "REFERENCES")
		if sm := createTableRE.FindStringSubmatch(stmt); sm != nil {
			table := sm[1]
			for line := range strings.Lines(stmt[len(sm[0]):]) {
				line = strings.TrimSpace(line)
				if cm := columnRE.FindStringSubmatch(line + " "); cm != nil {
					c.cols[table] = append(c.cols[table], cm[1])
					if columnKeyRE.MatchString(line) {
						c.keys = append(c.keys, probeKey{table, []string{cm[1]}})
					}
					if fm := columnFKRE.FindStringSubmatch(line); fm != nil {
						c.fks = append(c.fks, probeFK{table, cm[1], fm[1], fm[2], fm[3]})
					}
				}
				if km := tableKeyRE.FindStringSubmatch(line); km != nil {
					cols := strings.Split(strings.ReplaceAll(km[1], " ", ""), ",")
					c.keys = append(c.keys, probeKey{table, slices.Sorted(slices.Values(cols))})
				}
			}
			for _, fm := range fkRE.FindAllStringSubmatch(stmt, -1) {
				c.fks = append(c.fks, probeFK{table, fm[1], fm[2], fm[3], fm[4]})
			}
		}
		for _, am := range alterRE.FindAllStringSubmatch(stmt, -1) {
			for _, col := range addColumnRE.FindAllStringSubmatch(am[2], -1) {
				c.cols[am[1]] = append(c.cols[am[1]], col[1])
			}
		}
		if am := alterFKRE.FindStringSubmatch(stmt); am != nil {
			for _, fm := range fkRE.FindAllStringSubmatch(stmt, -1) {
				c.fks = append(c.fks, probeFK{am[1], fm[1], fm[2], fm[3], fm[4]})
			}
		}
		// A row it writes; INSERT … SELECT copies rows (a table built
		// again) and writes none of its own.
		if im := insertRE.FindStringSubmatch(stmt); im != nil && im[2] == "VALUES" {
			c.rows = append(c.rows, im[1])
		}
		if rm := routineRE.FindStringSubmatch(stmt); rm != nil {
			c.routines = append(c.routines, rm[1])
		}
		if len(c.keys)+len(c.fks)-read != named {
			c.unread = append(c.unread, stmt)
		}
	}
	return c
}

// TestMigrationProbes checks that CheckSchema knows every migration: each
// embedded migration of each dialect has a probe of the same version and
// name (and no probe names a migration the dialect does not have), and
// each probe looks for exactly what its migration creates — its tables
// with all their columns, the columns it adds, the rows it inserts, its
// routine. A new migration fails here until migrationProbes describes it.
func TestMigrationProbes(t *testing.T) {
	t.Parallel()
	for _, d := range []*dialect{dialectPostgres, dialectMySQL, dialectSQLite} {
		ms, err := loadMigrations(d, DefaultTablePrefix)
		if err != nil || len(ms) == 0 {
			t.Fatalf("%s: %d migrations, %v", d.name, len(ms), err)
		}
		probes := probesFor(d)
		var files, probed []string
		for _, m := range ms {
			files = append(files, migrationProbe{version: m.version, name: m.name}.file())
		}
		for _, p := range probes {
			probed = append(probed, p.file())
		}
		if !slices.Equal(files, probed) {
			t.Errorf("%s: the embedded migrations are %q, CheckSchema probes %q: add a probe to migrationProbes (schema.go) for each new migration", d.name, files, probed)
			continue
		}
		for i, m := range ms {
			p := probes[i]
			got := whatCreates(m)
			want := map[string][]string{}
			for _, pt := range p.tables {
				want[pt.name] = append(want[pt.name], pt.cols...)
			}
			if len(want) != len(got.cols) {
				t.Errorf("%s %s: creates columns in tables %q, the probe reads %q", d.name, p.file(), slices.Sorted(maps.Keys(got.cols)), slices.Sorted(maps.Keys(want)))
			}
			for table, cols := range got.cols {
				if w := want[table]; !slices.Equal(slices.Sorted(slices.Values(cols)), slices.Sorted(slices.Values(w))) {
					t.Errorf("%s %s: table %s gets columns %q, the probe reads %q", d.name, p.file(), table, cols, w)
				}
			}
			var keys []probeKey
			for _, k := range p.keys {
				keys = append(keys, probeKey{k.table, slices.Sorted(slices.Values(k.cols))})
			}
			if !slices.EqualFunc(sortKeys(got.keys), sortKeys(keys), func(a, b probeKey) bool { return a.table == b.table && slices.Equal(a.cols, b.cols) }) {
				t.Errorf("%s %s: creates unique keys %v, the probe looks for %v", d.name, p.file(), got.keys, keys)
			}
			for _, stmt := range got.unread {
				t.Errorf("%s %s: a statement names a key or a foreign key in a form whatCreates does not read (teach it, so that the probe can be checked):\n%s", d.name, p.file(), stmt)
			}
			if !slices.Equal(got.fks, p.fks) {
				t.Errorf("%s %s: creates foreign keys %v, the probe looks for %v", d.name, p.file(), got.fks, p.fks)
			}
			var rows []string
			if p.row != nil {
				rows = []string{p.row.table}
			}
			if !slices.Equal(got.rows, rows) {
				t.Errorf("%s %s: inserts rows into %q, the probe looks for a row of %q", d.name, p.file(), got.rows, rows)
			}
			var routines []string
			if p.routine != nil {
				routines = []string{p.routine.name}
				if d == dialectPostgres && p.routine.pgArgs == "" {
					t.Errorf("%s %s: the routine's probe has no PostgreSQL argument types", d.name, p.file())
				}
				if d == dialectSQLite {
					t.Errorf("%s %s: SQLite has no routines", d.name, p.file())
				}
			}
			if !slices.Equal(got.routines, routines) {
				t.Errorf("%s %s: creates routines %q, the probe looks for %q", d.name, p.file(), got.routines, routines)
			}
			if len(p.tables) == 0 && len(p.keys) == 0 && len(p.fks) == 0 && p.row == nil && p.routine == nil {
				t.Errorf("%s %s: the probe looks for nothing", d.name, p.file())
			}
		}
	}
	// The probes are in version order, each version once per dialect
	// (the slices compared above), and never in one dialect's twice.
	for i := 1; i < len(migrationProbes); i++ {
		if migrationProbes[i].version < migrationProbes[i-1].version {
			t.Errorf("migrationProbes: %s after %s", migrationProbes[i].file(), migrationProbes[i-1].file())
		}
	}
}

// sortKeys returns keys in a fixed order, to compare two lists.
func sortKeys(keys []probeKey) []probeKey {
	return slices.SortedFunc(slices.Values(keys), func(a, b probeKey) int {
		return strings.Compare(a.table+"("+strings.Join(a.cols, ",")+")", b.table+"("+strings.Join(b.cols, ",")+")")
	})
}

// TestWhatCreates checks the reader TestMigrationProbes relies on.
func TestWhatCreates(t *testing.T) {
	t.Parallel()
	got := whatCreates(migration{body: `-- +goose Up
CREATE TABLE IF NOT EXISTS authkit_a (
    id   TEXT NOT NULL, -- a comment
    n    BIGINT,
    CONSTRAINT authkit_a_pkey PRIMARY KEY (id),
    PRIMARY KEY (id)
) STRICT;
ALTER TABLE authkit_b ADD COLUMN x INTEGER NOT NULL DEFAULT 0;
ALTER TABLE authkit_b
    ADD COLUMN IF NOT EXISTS y BIGINT,
    ADD COLUMN z BIGINT;
SET @s = IF(1, 'ALTER TABLE authkit_c ADD COLUMN w BIGINT, ADD COLUMN v BIGINT', 'DO 0');
INSERT IGNORE INTO authkit_a (id, n) VALUES ('', 0);
CREATE TABLE authkit_d (
    k   INTEGER NOT NULL PRIMARY KEY,
    h   BLOB NOT NULL UNIQUE CHECK (length(h) = 32),
    r   TEXT REFERENCES authkit_a (id) ON DELETE SET NULL,
    s   TEXT NOT NULL,
    t   TEXT NOT NULL,
    UNIQUE INDEX authkit_d_st_key (t, s),
    CONSTRAINT authkit_d_r_fk FOREIGN KEY (s)
        REFERENCES authkit_a (id) ON DELETE CASCADE
);
INSERT INTO authkit_d (k, h) SELECT k, h FROM authkit_e;
ALTER TABLE authkit_e ADD CONSTRAINT authkit_e_fk FOREIGN KEY (x) REFERENCES authkit_a (id) ON DELETE SET NULL;
-- +goose StatementBegin
CREATE OR REPLACE FUNCTION authkit_f() RETURNS INT LANGUAGE sql AS $$ SELECT 1; $$;
-- +goose StatementEnd
`})
	want := map[string][]string{"a": {"id", "n"}, "b": {"x", "y", "z"}, "c": {"w", "v"}, "d": {"k", "h", "r", "s", "t"}}
	if !maps.EqualFunc(got.cols, want, slices.Equal) || !slices.Equal(got.rows, []string{"a"}) || !slices.Equal(got.routines, []string{"f"}) {
		t.Errorf("whatCreates = %+v, want columns %v, rows [a], routines [f]", got, want)
	}
	keys := []probeKey{{"a", []string{"id"}}, {"a", []string{"id"}}, {"d", []string{"k"}}, {"d", []string{"h"}}, {"d", []string{"s", "t"}}}
	if !slices.EqualFunc(sortKeys(got.keys), sortKeys(keys), func(a, b probeKey) bool { return a.table == b.table && slices.Equal(a.cols, b.cols) }) {
		t.Errorf("whatCreates keys = %v, want %v", got.keys, keys)
	}
	fks := []probeFK{{"d", "r", "a", "id", "SET NULL"}, {"d", "s", "a", "id", "CASCADE"}, {"e", "x", "a", "id", "SET NULL"}}
	if !slices.Equal(got.fks, fks) {
		t.Errorf("whatCreates foreign keys = %v, want %v", got.fks, fks)
	}
	if len(got.unread) != 0 {
		t.Errorf("whatCreates could not read %q", got.unread)
	}
	// Forms it does not read are reported, never skipped.
	for _, stmt := range []string{
		"CREATE UNIQUE INDEX authkit_x_key ON authkit_x (y)",
		"ALTER TABLE authkit_x ADD CONSTRAINT authkit_x_key UNIQUE (y)",
		"ALTER TABLE authkit_x ADD PRIMARY KEY (y)",
		"ALTER TABLE authkit_x ADD FOREIGN KEY (y) REFERENCES authkit_a (id) ON DELETE CASCADE",
		"ALTER TABLE authkit_x ADD CONSTRAINT authkit_x_fk FOREIGN KEY (y) REFERENCES authkit_a (id)",
		"CREATE TABLE authkit_x (\n    y TEXT REFERENCES authkit_a (id) ON UPDATE CASCADE ON DELETE CASCADE\n)",
	} {
		if got := whatCreates(migration{body: stmt + ";\n"}); len(got.unread) != 1 {
			t.Errorf("whatCreates(%q): keys %v, foreign keys %v, unread %q; want the statement unread", stmt, got.keys, got.fks, got.unread)
		}
	}
}

// TestFKInCreate checks the reading of SHOW CREATE TABLE that stands in
// for information_schema when MariaDB hides a foreign key's rule: quoted
// and unquoted identifiers (sql_quote_show_create), an ON UPDATE rule
// after ON DELETE, MySQL's omitted RESTRICT, another database's table,
// and a second key from the same column with another action.
func TestFKInCreate(t *testing.T) {
	want := probeFK{table: "authkit_client_assertions", col: "client_id", ref: "authkit_clients", refCol: "id", onDelete: "SET NULL"}
	table := func(keys ...string) string {
		return "CREATE TABLE `authkit_client_assertions` (\n  `hash` varbinary(32) NOT NULL,\n  `client_id` varbinary(128) DEFAULT NULL,\n  PRIMARY KEY (`hash`),\n" +
			strings.Join(keys, ",\n") + "\n) ENGINE=InnoDB"
	}
	for _, c := range []struct {
		name, create string
		ok           bool
	}{
		{"quoted", table("  CONSTRAINT `fk1` FOREIGN KEY (`client_id`) REFERENCES `authkit_clients` (`id`) ON DELETE SET NULL"), true},
		{"unquoted", table("  CONSTRAINT fk1 FOREIGN KEY (client_id) REFERENCES authkit_clients (id) ON DELETE SET NULL"), true},
		// ANSI_QUOTES (found by review: taken for a missing key).
		{"double quotes", table(`  CONSTRAINT "fk1" FOREIGN KEY ("client_id") REFERENCES "authkit_clients" ("id") ON DELETE SET NULL`), true},
		{"double quotes, another database", table(`  CONSTRAINT "fk1" FOREIGN KEY ("client_id") REFERENCES "other"."authkit_clients" ("id") ON DELETE SET NULL`), false},
		{"double quotes, cascade", table(`  CONSTRAINT "fk1" FOREIGN KEY ("client_id") REFERENCES "authkit_clients" ("id") ON DELETE CASCADE`), false},
		{"with ON UPDATE", table("  CONSTRAINT `fk1` FOREIGN KEY (`client_id`) REFERENCES `authkit_clients` (`id`) ON DELETE SET NULL ON UPDATE CASCADE"), true},
		{"no key", table("  KEY `client_id` (`client_id`)"), false},
		{"restrict left out", table("  CONSTRAINT `fk1` FOREIGN KEY (`client_id`) REFERENCES `authkit_clients` (`id`)"), false},
		{"cascade", table("  CONSTRAINT `fk1` FOREIGN KEY (`client_id`) REFERENCES `authkit_clients` (`id`) ON DELETE CASCADE"), false},
		{"another database", table("  CONSTRAINT `fk1` FOREIGN KEY (`client_id`) REFERENCES `other`.`authkit_clients` (`id`) ON DELETE SET NULL"), false},
		{"another column", table("  CONSTRAINT `fk1` FOREIGN KEY (`client_id`) REFERENCES `authkit_clients` (`name`) ON DELETE SET NULL"), false},
		{"a cascade beside", table("  CONSTRAINT `fk1` FOREIGN KEY (`client_id`) REFERENCES `authkit_clients` (`id`) ON DELETE SET NULL",
			"  CONSTRAINT `fk2` FOREIGN KEY (`client_id`) REFERENCES `authkit_clients` (`id`) ON DELETE CASCADE"), false},
		{"another column's key", table("  CONSTRAINT `fk1` FOREIGN KEY (`client_id`) REFERENCES `authkit_clients` (`id`) ON DELETE SET NULL",
			"  CONSTRAINT `fk2` FOREIGN KEY (`hash`) REFERENCES `authkit_x` (`h`) ON DELETE CASCADE"), true},
	} {
		if got := fkInCreate(c.create, want); got != c.ok {
			t.Errorf("%s: fkInCreate = %v, want %v\n%s", c.name, got, c.ok, c.create)
		}
	}
}
