//go:build unix

package main

import (
	"os"
	"path/filepath"
	"syscall"
	"testing"
)

// The lock file beside a key file is the file's owner's, readable by its
// group: one that root created 0600 kept the owner from ever rotating the
// file again (found by review).
func TestKeyFileLockKeepsOwner(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "keys.json")
	if err := os.WriteFile(file, []byte(runCLI(t, "", "keygen", "--kid", "k1").stdout), 0o640); err != nil {
		t.Fatal(err)
	}
	const nobody = 65534
	root := os.Geteuid() == 0
	if root {
		// Run as root on a file another account owns.
		if err := os.Chown(file, nobody, nobody); err != nil {
			t.Fatal(err)
		}
	}
	runCLI(t, "", "keygen", "--keys", file, "--add", "--kid", "k2").must(t, exitOK, nil, nil)
	fi, err := os.Stat(filepath.Join(dir, ".keys.json.lock"))
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o640 {
		t.Errorf("lock file mode %v, want 0640", fi.Mode().Perm())
	}
	if st, ok := fi.Sys().(*syscall.Stat_t); root && ok && (st.Uid != nobody || st.Gid != nobody) {
		t.Errorf("a lock file root created for a file of uid %d is uid %d gid %d", nobody, st.Uid, st.Gid)
	}
}
