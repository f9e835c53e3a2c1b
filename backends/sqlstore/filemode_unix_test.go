//go:build unix

package sqlstore_test

import (
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/authkit-go/authkit/backends/sqlstore"
)

// A SQLite database Open creates is readable by its owner only, and so
// are its WAL and shared-memory files, whatever the umask (found by
// review: 0644 under the usual 022). A file that exists keeps its mode.
func TestOpenSQLiteFileMode(t *testing.T) {
	t.Parallel()
	old := syscall.Umask(0o022)
	defer syscall.Umask(old)
	dir := t.TempDir()
	path := filepath.Join(dir, "authkit.db")
	db, err := sqlstore.OpenDB(t.Context(), "sqlite:"+path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if err := sqlstore.Migrate(t.Context(), db.DB, "sqlite"); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{path, path + "-wal", path + "-shm"} {
		fi, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		if m := fi.Mode().Perm(); m != 0o600 {
			t.Errorf("%s has mode %o, want 600", filepath.Base(p), m)
		}
	}
	// A "mode=ro" parameter, which the driver ignores without a file: URI,
	// does not let it create the file with the umask's mode either.
	ro := filepath.Join(dir, "ro.db")
	db3, err := sqlstore.OpenDB(t.Context(), "sqlite:"+ro+"?mode=ro")
	if err == nil {
		defer db3.Close()
	}
	if fi, err := os.Stat(ro); err == nil && fi.Mode().Perm() != 0o600 {
		t.Errorf("a database opened with mode=ro was created with mode %o", fi.Mode().Perm())
	}
	shared := filepath.Join(dir, "shared.db")
	if err := os.WriteFile(shared, nil, 0o640); err != nil {
		t.Fatal(err)
	}
	db2, err := sqlstore.OpenDB(t.Context(), "sqlite:"+shared)
	if err != nil {
		t.Fatal(err)
	}
	defer db2.Close()
	if fi, err := os.Stat(shared); err != nil || fi.Mode().Perm() != 0o640 {
		t.Errorf("an existing database's mode changed: %v %v", fi.Mode(), err)
	}
}

// A database reached through a symbolic link that leads nowhere yet is
// created 0600 where the link points (found by review: the driver created
// it with the umask's mode); a link owned by another account is refused
// when the process runs as root.
func TestOpenSQLiteThroughLink(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	target := filepath.Join(dir, "real.db")
	link := filepath.Join(dir, "link.db")
	if err := os.Symlink("real.db", link); err != nil {
		t.Fatal(err)
	}
	db, err := sqlstore.OpenDB(t.Context(), "sqlite:"+link)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if err := sqlstore.Migrate(t.Context(), db.DB, "sqlite"); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(target)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("the database behind the link: %v, %v; want mode 600", fi, err)
	}
	if os.Geteuid() != 0 {
		return // only root can make a link another account owns
	}
	foreign := filepath.Join(dir, "foreign.db")
	if err := os.Symlink(filepath.Join(dir, "elsewhere.db"), foreign); err != nil {
		t.Fatal(err)
	}
	if err := os.Lchown(foreign, 65534, 65534); err != nil {
		t.Fatal(err)
	}
	if db, err := sqlstore.OpenDB(t.Context(), "sqlite:"+foreign); err == nil {
		db.Close()
		t.Fatal("a database reached through another account's link was opened")
	}
	if _, err := os.Lstat(filepath.Join(dir, "elsewhere.db")); err == nil {
		t.Error("the other account's link made root create its target")
	}
}
