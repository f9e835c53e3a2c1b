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
	rows     []string            // tables it inserts a row into
	routines []string            // routines it creates (without prefix)
}

var (
	createTableRE = regexp.MustCompile(`^CREATE TABLE (?:IF NOT EXISTS )?authkit_([a-z_]+) \(`)
	columnRE      = regexp.MustCompile(`^([a-z][a-z0-9_]*)\s`)
	alterRE       = regexp.MustCompile(`ALTER TABLE authkit_([a-z_]+)\s+([^;']*)`)
	addColumnRE   = regexp.MustCompile(`ADD COLUMN (?:IF NOT EXISTS )?([a-z][a-z0-9_]*)`)
	insertRE      = regexp.MustCompile(`^INSERT (?:OR IGNORE |IGNORE )?INTO authkit_([a-z_]+)`)
	routineRE     = regexp.MustCompile(`^CREATE (?:OR REPLACE )?(?:FUNCTION|PROCEDURE) authkit_([a-z_]+)`)
)

// whatCreates reads a migration's statements: the tables it creates with
// their columns (a lower-case word at the start of a line of the column
// list: keywords are upper case), the columns ALTER TABLE adds (also
// inside a string a statement prepares, as MySQL's 0007 does), the rows
// it inserts and the routines it creates.
func whatCreates(m migration) created {
	c := created{cols: map[string][]string{}}
	for _, stmt := range statements(m.body) {
		if sm := createTableRE.FindStringSubmatch(stmt); sm != nil {
			for line := range strings.Lines(stmt[len(sm[0]):]) {
				if cm := columnRE.FindStringSubmatch(strings.TrimSpace(line) + " "); cm != nil {
					c.cols[sm[1]] = append(c.cols[sm[1]], cm[1])
				}
			}
		}
		for _, am := range alterRE.FindAllStringSubmatch(stmt, -1) {
			for _, col := range addColumnRE.FindAllStringSubmatch(am[2], -1) {
				c.cols[am[1]] = append(c.cols[am[1]], col[1])
			}
		}
		if im := insertRE.FindStringSubmatch(stmt); im != nil {
			c.rows = append(c.rows, im[1])
		}
		if rm := routineRE.FindStringSubmatch(stmt); rm != nil {
			c.routines = append(c.routines, rm[1])
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
			if len(p.tables) == 0 && p.row == nil && p.routine == nil {
				t.Errorf("%s %s: the probe looks for nothing", d.name, p.file())
			}
		}
	}
	// The probes are in version order, each version once.
	for i := 1; i < len(migrationProbes); i++ {
		if migrationProbes[i].version <= migrationProbes[i-1].version {
			t.Errorf("migrationProbes: %s after %s", migrationProbes[i].file(), migrationProbes[i-1].file())
		}
	}
}

// TestWhatCreates checks the reader TestMigrationProbes relies on.
func TestWhatCreates(t *testing.T) {
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
-- +goose StatementBegin
CREATE OR REPLACE FUNCTION authkit_f() RETURNS INT LANGUAGE sql AS $$ SELECT 1; $$;
-- +goose StatementEnd
`})
	want := map[string][]string{"a": {"id", "n"}, "b": {"x", "y", "z"}, "c": {"w", "v"}}
	if !maps.EqualFunc(got.cols, want, slices.Equal) || !slices.Equal(got.rows, []string{"a"}) || !slices.Equal(got.routines, []string{"f"}) {
		t.Errorf("whatCreates = %+v, want columns %v, rows [a], routines [f]", got, want)
	}
}
