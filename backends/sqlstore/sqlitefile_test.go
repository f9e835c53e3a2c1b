package sqlstore_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/authkit-go/authkit"
	"github.com/authkit-go/authkit/backends/sqlstore"
)

// migratedSQLite makes a migrated SQLite database at path.
func migratedSQLite(t *testing.T, path string) {
	t.Helper()
	db, err := sqlstore.OpenDB(t.Context(), "sqlite:"+path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if err := sqlstore.Migrate(t.Context(), db.DB, "sqlite"); err != nil {
		t.Fatal(err)
	}
}

// A store Open made on a SQLite file fails closed once the file at its
// path is another one — removed and made again, or a backup moved over it
// — instead of answering from the old one, which no other process sees
// (found by review: a running serve kept accepting a token revoked
// through the new file, and its health check said ok). Ping says so at
// once; every call does within the connections' lifetime.
func TestSQLiteFileReplaced(t *testing.T) {
	sqlstore.SetSQLiteLifetime(t, 200*time.Millisecond) // not parallel: it sets a package variable
	dir := t.TempDir()
	path := filepath.Join(dir, "authkit.db")
	migratedSQLite(t, path)
	pinged, err := sqlstore.Open(t.Context(), "sqlite:"+path)
	if err != nil {
		t.Fatal(err)
	}
	defer pinged.Close()
	quiet, err := sqlstore.Open(t.Context(), "sqlite:"+path)
	if err != nil {
		t.Fatal(err)
	}
	defer quiet.Close()
	// Issued after both databases' data-loss epochs begin (their creation).
	issued := time.Now().Add(time.Minute)
	now := issued.Add(time.Second)
	q := authkit.RevocationQuery{Subject: "carol", TokenID: "jti-1", IssuedAt: issued}
	for _, s := range []*sqlstore.Store{pinged, quiet} {
		if revoked, err := s.IsRevoked(t.Context(), q, now); err != nil || revoked {
			t.Fatalf("before: %v %v", revoked, err)
		}
	}

	// A backup moved over the file (the old one stays open, unlinked).
	backup := filepath.Join(dir, "backup.db")
	migratedSQLite(t, backup)
	for _, suffix := range []string{"-wal", "-shm"} {
		os.Remove(path + suffix)
	}
	if err := os.Rename(backup, path); err != nil {
		t.Fatal(err)
	}
	other, err := sqlstore.Open(t.Context(), "sqlite:"+path)
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	if err := other.RevokeToken(t.Context(), "carol", "jti-1", now.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}

	err = pinged.Ping(t.Context())
	if !errors.Is(err, authkit.ErrStoreUnavailable) || !strings.Contains(err.Error(), "removed or replaced") {
		t.Fatalf("Ping after the file was replaced: %v, want ErrStoreUnavailable saying so", err)
	}
	if revoked, err := pinged.IsRevoked(t.Context(), q, now); !errors.Is(err, authkit.ErrStoreUnavailable) {
		t.Errorf("IsRevoked after a failed Ping: %v, %v; want ErrStoreUnavailable", revoked, err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		revoked, err := quiet.IsRevoked(t.Context(), q, now)
		if errors.Is(err, authkit.ErrStoreUnavailable) {
			break
		}
		if err != nil || revoked || time.Now().After(deadline) {
			t.Fatalf("IsRevoked on the replaced file without a Ping: %v, %v; want ErrStoreUnavailable within the connections' lifetime", revoked, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if revoked, err := other.IsRevoked(t.Context(), q, now); err != nil || !revoked {
		t.Errorf("the store on the new file: %v %v, want revoked", revoked, err)
	}
}

// Open of a SQLite path where there is no file refuses it as not migrated
// and creates nothing: a mistyped path in a command that only reads left
// an empty database behind (found by review). OpenDB, which Migrate's
// callers use, still creates it.
func TestOpenSQLiteMissingFile(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "typo.db")
	s, err := sqlstore.Open(t.Context(), "sqlite:"+path)
	if err == nil {
		s.Close()
	}
	if !errors.Is(err, sqlstore.ErrMigrationsNotApplied) || !strings.Contains(err.Error(), "does not exist") {
		t.Errorf("Open of a missing SQLite file = %v, want ErrMigrationsNotApplied saying it does not exist", err)
	}
	if _, err := os.Lstat(path); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("Open of a missing SQLite file left %s behind (%v)", path, err)
	}
	db, err := sqlstore.OpenDB(t.Context(), "sqlite:"+path)
	if err != nil {
		t.Fatal(err)
	}
	db.Close()
	if _, err := os.Stat(path); err != nil {
		t.Errorf("OpenDB did not create the SQLite file: %v", err)
	}
}
