//go:build unix

package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
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

// keygen printing a private key into a file others can read narrows the
// file first, as the rewriting commands do (found by review: "authkit
// keygen > keys.json" under umask 022 made a world-readable key file, as
// the README's own command did); a public JWKS and a file already narrow
// are left alone.
func TestKeygenNarrowsItsOutputFile(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	for _, c := range []struct {
		name       string
		args       []string
		mode, want os.FileMode
		says       string
	}{
		{"private.json", []string{"keygen"}, 0o644, 0o640, "narrowed to 0640"},
		{"writable.json", []string{"keygen", "--alg", "HS256"}, 0o666, 0o640, "narrowed to 0640"},
		{"narrow.json", []string{"keygen"}, 0o600, 0o600, ""},
		{"group.json", []string{"keygen"}, 0o640, 0o640, ""},
		{"public.json", []string{"keygen", "--public"}, 0o644, 0o644, ""},
	} {
		path := filepath.Join(dir, c.name)
		f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, c.mode)
		if err != nil {
			t.Fatal(err)
		}
		if err := f.Chmod(c.mode); err != nil { // whatever the umask
			t.Fatal(err)
		}
		var errOut strings.Builder
		code := run(cheapHashing(context.Background()), c.args, strings.NewReader(""), f, &errOut)
		f.Close()
		if code != exitOK {
			t.Fatalf("%v: exit %d: %s", c.args, code, errOut.String())
		}
		fi, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != c.want || fi.Size() == 0 {
			t.Errorf("%v > %s (mode %#o): mode %#o, %d bytes; want mode %#o", c.args, c.name, c.mode, fi.Mode().Perm(), fi.Size(), c.want)
		}
		if c.says != "" && !strings.Contains(errOut.String(), c.says) || c.says == "" && errOut.Len() != 0 {
			t.Errorf("%v > %s: stderr %q, want it to say %q", c.args, c.name, errOut.String(), c.says)
		}
	}
}
