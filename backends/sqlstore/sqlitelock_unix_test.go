//go:build unix

package sqlstore_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/authkit-go/authkit"
	"github.com/authkit-go/authkit/backends/sqlstore"
)

// lockProbeEnv names the file TestSQLiteLockProbe probes when the test
// binary runs it as another process.
const lockProbeEnv = "AUTHKIT_TEST_SQLITE_LOCK_PROBE"

// TestSQLiteLockProbe is the other process of TestSQLiteSecondOpenKeepsLocks:
// it asks, without taking it, whether SQLite's lock bytes of the file
// (from PENDING_BYTE, 0x40000000) could be locked exclusively, and prints
// "locked" or "free". Run alone it does nothing.
func TestSQLiteLockProbe(t *testing.T) {
	path := os.Getenv(lockProbeEnv)
	if path == "" {
		return // only as the probe process
	}
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	lk := unix.Flock_t{Type: unix.F_WRLCK, Whence: 0, Start: 0x40000000, Len: 512}
	if err := unix.FcntlFlock(f.Fd(), unix.F_GETLK, &lk); err != nil {
		t.Fatal(err)
	}
	if lk.Type == unix.F_UNLCK {
		os.Stdout.WriteString("probe:free\n")
	} else {
		os.Stdout.WriteString("probe:locked\n")
	}
}

func probeLocks(t *testing.T, path string) string {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestSQLiteLockProbe$", "-test.count=1")
	cmd.Env = append(os.Environ(), lockProbeEnv+"="+path)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("probe: %v\n%s", err, out)
	}
	for _, w := range []string{"probe:locked", "probe:free"} {
		if strings.Contains(string(out), w) {
			return strings.TrimPrefix(w, "probe:")
		}
	}
	t.Fatalf("probe said nothing:\n%s", out)
	return ""
}

// A second Open of a SQLite file in a process that has a store open on it
// leaves that store's locks alone (found by review: its writability check
// opened and closed the file, which drops every POSIX lock the process
// holds on it; another process then checkpointed the WAL away and missed
// this one's writes for up to 10 s).
func TestSQLiteSecondOpenKeepsLocks(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "authkit.db")
	migratedSQLite(t, path)
	first, err := sqlstore.Open(t.Context(), "sqlite:"+path)
	if err != nil {
		t.Fatal(err)
	}
	defer first.Close()
	issued := time.Now().Add(time.Minute)
	q := authkit.RevocationQuery{Subject: "carol", TokenID: "jti-1", IssuedAt: issued}
	if _, err := first.IsRevoked(t.Context(), q, issued.Add(time.Second)); err != nil {
		t.Fatal(err)
	}
	if got := probeLocks(t, path); got != "locked" {
		t.Fatalf("a store open on the file holds no lock (%s): the probe cannot tell", got)
	}
	second, err := sqlstore.Open(t.Context(), "sqlite:"+path)
	if err != nil {
		t.Fatal(err)
	}
	defer second.Close()
	if got := probeLocks(t, path); got != "locked" {
		t.Errorf("after a second Open the first store's locks are gone (%s)", got)
	}
}
