package sqlstore_test

import (
	"bytes"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// drivers are the packages of the four database drivers the store
// supports.
var drivers = []string{"github.com/jackc/pgx", "github.com/lib/pq", "github.com/go-sql-driver/mysql", "modernc.org/sqlite"}

// The package links no database driver, as database/sql itself: a program
// links only the one it imports.
func TestLinksNoDriver(t *testing.T) {
	t.Parallel()
	out, err := exec.Command("go", "list", "-deps", ".").Output()
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range drivers {
		if bytes.Contains(out, []byte(d)) {
			t.Errorf("backends/sqlstore depends on %s; the application imports its driver, sqlstore must not", d)
		}
	}
}

// A program that registered no driver gets, for each DSN form, an error
// naming the import it lacks. The program is built and run for real
// (testdata/nodriver): this test binary links all four drivers.
func TestOpenWithoutDriver(t *testing.T) {
	t.Parallel()
	bin := filepath.Join(t.TempDir(), "nodriver")
	if out, err := exec.Command("go", "build", "-o", bin, "./testdata/nodriver").CombinedOutput(); err != nil {
		t.Fatalf("go build ./testdata/nodriver: %v\n%s", err, out)
	}
	deps, err := exec.Command("go", "list", "-deps", "./testdata/nodriver").Output()
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range drivers {
		if bytes.Contains(deps, []byte(d)) {
			t.Fatalf("testdata/nodriver links %s", d)
		}
	}
	cases := []struct{ dsn, want string }{
		{"postgres://u:hunter2@127.0.0.1:1/db", `import _ "github.com/jackc/pgx/v5/stdlib"`},
		{"mysql://u:hunter2@127.0.0.1:1/db", `import _ "github.com/go-sql-driver/mysql"`},
		{"sqlite:" + filepath.Join(t.TempDir(), "authkit.db"), `import _ "modernc.org/sqlite"`},
	}
	args := make([]string, len(cases))
	for i, c := range cases {
		args[i] = c.dsn
	}
	out, err := exec.Command(bin, args...).Output()
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	if len(lines) != len(cases) {
		t.Fatalf("nodriver printed %d lines, want %d:\n%s", len(lines), len(cases), out)
	}
	for i, c := range cases {
		isConfig, msg, _ := strings.Cut(lines[i], "\t")
		if isConfig != "true" || !strings.Contains(msg, c.want) {
			t.Errorf("Open(%s…) without its driver = %q (ErrInvalidConfig: %s), want an ErrInvalidConfig naming %s", c.dsn[:8], msg, isConfig, c.want)
		}
		if strings.Contains(msg, "hunter2") {
			t.Errorf("the error repeats the password: %s", msg)
		}
	}
}
