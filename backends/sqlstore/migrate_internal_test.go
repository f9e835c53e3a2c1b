package sqlstore

import (
	"io/fs"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// TestShippedPrefix checks what Migrate's prefix substitution relies on:
// outside comments, the shipped files use "authkit_" only at the start of
// an identifier (or of a string literal naming a table, as MySQL's 0007
// reads information_schema), and every table they create is one the store
// knows.
func TestShippedPrefix(t *testing.T) {
	t.Parallel()
	ident := regexp.MustCompile(`(^|[\s(,'])authkit_([a-z_]+)`)
	for _, d := range []*dialect{dialectPostgres, dialectMySQL, dialectSQLite} {
		ms, err := loadMigrations(d, DefaultTablePrefix)
		if err != nil || len(ms) == 0 {
			t.Fatalf("%s: %d migrations, %v", d.name, len(ms), err)
		}
		var tables []string
		for _, m := range ms {
			for _, stmt := range statements(m.body) {
				if n, k := strings.Count(stmt, "authkit_"), len(ident.FindAllString(stmt, -1)); n != k {
					t.Errorf("%s %04d: %d occurrences of authkit_, %d of them identifiers:\n%s", d.name, m.version, n, k, stmt)
				}
				if strings.HasPrefix(stmt, "CREATE TABLE") {
					tables = append(tables, strings.TrimPrefix(ident.FindStringSubmatch(stmt)[2], ""))
				}
			}
		}
		slices.Sort(tables)
		tables = slices.Compact(tables) // a table built again (SQLite's 0008)
		want := slices.Clone(tableNames)
		slices.Sort(want)
		if !slices.Equal(tables, want) {
			t.Errorf("%s creates tables %q, the store uses %q", d.name, tables, want)
		}
		// A custom prefix leaves no default one behind.
		other, err := loadMigrations(d, "x_")
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range other {
			for _, stmt := range statements(m.body) {
				if strings.Contains(stmt, "authkit_") {
					t.Errorf("%s with prefix x_ still says authkit_: %s", d.name, stmt)
				}
			}
		}
	}
	// Every file under migrations/ is a migration Migrate applies.
	err := fs.WalkDir(Migrations(), "migrations", func(p string, e fs.DirEntry, err error) error {
		if err == nil && !e.IsDir() && !migrationName.MatchString(e.Name()) {
			t.Errorf("%s is not named NNNN_name.up.sql: Migrate would ignore it", p)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestStatements(t *testing.T) {
	t.Parallel()
	got := statements("-- +goose Up\n-- a comment; with a semicolon\nCREATE TABLE a (x INT); -- trailing\n\nCREATE INDEX i ON a (x);\n-- end\n")
	want := []string{"CREATE TABLE a (x INT)", "CREATE INDEX i ON a (x)"}
	if !slices.Equal(got, want) {
		t.Errorf("statements = %q, want %q", got, want)
	}
}

// TestStatementsBlock checks goose's StatementBegin/StatementEnd: the lines
// between them are one statement, semicolons and all, without their
// trailing ";"; a StatementEnd without a Begin is only a comment, and a
// Begin left open is split like the rest.
func TestStatementsBlock(t *testing.T) {
	t.Parallel()
	got := statements(`-- +goose Up
CREATE TABLE a (x INT);
-- +goose StatementBegin
CREATE FUNCTION f() RETURNS INT LANGUAGE plpgsql AS $$
BEGIN
    -- a comment; inside
    RETURN 1;
END;
$$;
-- +goose StatementEnd
CREATE INDEX i ON a (x);
  -- +goose StatementEnd
CREATE TABLE b (y INT);
`)
	want := []string{
		"CREATE TABLE a (x INT)",
		"CREATE FUNCTION f() RETURNS INT LANGUAGE plpgsql AS $$\nBEGIN\n    \n    RETURN 1;\nEND;\n$$",
		"CREATE INDEX i ON a (x)",
		"CREATE TABLE b (y INT)",
	}
	if !slices.Equal(got, want) {
		t.Errorf("statements = %q,\nwant %q", got, want)
	}
	got = statements("-- +goose StatementBegin\nBEGIN x; y;\n")
	want = []string{"BEGIN x", "y"}
	if !slices.Equal(got, want) {
		t.Errorf("an open block: statements = %q, want %q", got, want)
	}
	// The shipped PostgreSQL function is one statement.
	ms, err := loadMigrations(dialectPostgres, DefaultTablePrefix)
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, m := range ms {
		for _, stmt := range statements(m.body) {
			if strings.HasPrefix(stmt, "CREATE OR REPLACE FUNCTION authkit_rotate_refresh(") {
				found = true
				if !strings.HasSuffix(stmt, "$$") || strings.Count(stmt, "$$") != 2 {
					t.Errorf("the rotation function is cut:\n%s", stmt)
				}
			}
		}
	}
	if !found {
		t.Error("no statement creates authkit_rotate_refresh")
	}
}
