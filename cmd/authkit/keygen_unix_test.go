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

// keygen refuses to print a private key into a file another account may
// read or write, or one another account owns, and writes nothing: it used
// to narrow a 0644 file and write the key, which an account that had
// opened the file in the meantime read, and wrote into a 0600 file another
// account had planted (found by review). A public JWKS, and a file of this
// account's that is 0600 or 0640, take the output.
func TestKeygenRefusesSharedOutput(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	const nobody = 65534
	cases := []struct {
		name  string
		args  []string
		mode  os.FileMode
		owner int // -1: this account
		says  string
	}{
		{"private.json", []string{"keygen"}, 0o644, -1, "other accounts can read or write (mode 0644)"},
		{"writable.json", []string{"keygen", "--alg", "HS256"}, 0o666, -1, "(mode 0666)"},
		{"rsa.json", []string{"keygen", "--alg", "RS256", "--bits", "8192"}, 0o604, -1, "(mode 0604)"},
		// Group-writable: a serve account in the group may read (0640)
		// but not write it.
		{"group-writable.json", []string{"keygen"}, 0o620, -1, "(mode 0620)"},
		{"narrow.json", []string{"keygen"}, 0o600, -1, ""},
		{"group.json", []string{"keygen"}, 0o640, -1, ""},
		{"public.json", []string{"keygen", "--public"}, 0o644, -1, ""},
	}
	if os.Geteuid() == 0 {
		// Root writing into a file another account planted, 0600.
		cases = append(cases, struct {
			name  string
			args  []string
			mode  os.FileMode
			owner int
			says  string
		}{"planted.json", []string{"keygen"}, 0o600, nobody, "owned by uid 65534"})
	}
	for _, c := range cases {
		path := filepath.Join(dir, c.name)
		f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, c.mode)
		if err != nil {
			t.Fatal(err)
		}
		if err := f.Chmod(c.mode); err != nil { // whatever the umask
			t.Fatal(err)
		}
		if c.owner >= 0 {
			if err := f.Chown(c.owner, c.owner); err != nil {
				t.Fatal(err)
			}
		}
		var errOut strings.Builder
		code := run(cheapHashing(context.Background()), c.args, strings.NewReader(""), f, &errOut)
		f.Close()
		fi, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		if c.says == "" {
			if code != exitOK || fi.Size() == 0 || fi.Mode().Perm() != c.mode || errOut.Len() != 0 {
				t.Errorf("%v > %s (mode %#o): exit %d, %d bytes, mode %#o, stderr %q; want the key written, the mode kept, nothing said",
					c.args, c.name, c.mode, code, fi.Size(), fi.Mode().Perm(), errOut.String())
			}
			continue
		}
		if code != exitFailure || fi.Size() != 0 || !strings.Contains(errOut.String(), c.says) || !strings.Contains(errOut.String(), "nothing was written") {
			t.Errorf("%v > %s (mode %#o): exit %d, %d bytes, stderr %q; want exit %d, nothing written, and %q said",
				c.args, c.name, c.mode, code, fi.Size(), errOut.String(), exitFailure, c.says)
		}
	}
}
