//go:build unix

package main

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// users add and remove through a symbolic link change the file it names,
// and keep that file's owner (found by review: the link was replaced by a
// file of its own, and a command run as root took the file from the
// account serve runs as).
func TestUsersFileLinkAndOwner(t *testing.T) {
	dir := t.TempDir()
	real := filepath.Join(dir, "real", "users.txt")
	if err := os.MkdirAll(filepath.Dir(real), 0o700); err != nil {
		t.Fatal(err)
	}
	runCLI(t, "first password\n", "users", "add", "alice", "--file", real).must(t, exitOK, nil, nil)
	link := filepath.Join(dir, "link.txt")
	if err := os.Symlink(real, link); err != nil {
		t.Fatal(err)
	}
	if os.Geteuid() == 0 { // as root, give the file to another account first
		if err := os.Chown(real, 65534, 65534); err != nil {
			t.Fatal(err)
		}
	}
	before, _ := os.Stat(real)
	runCLI(t, "second password\n", "users", "add", "bob", "--file", link).must(t, exitOK, nil, nil)
	if fi, err := os.Lstat(link); err != nil || fi.Mode()&os.ModeSymlink == 0 {
		t.Fatalf("the link was replaced: %v %v", fi, err)
	}
	data, err := os.ReadFile(real)
	if err != nil || !strings.Contains(string(data), "bob:") || !strings.Contains(string(data), "alice:") {
		t.Fatalf("the linked file does not hold both users: %q %v", data, err)
	}
	after, _ := os.Stat(real)
	if b, a := before.Sys().(*syscall.Stat_t), after.Sys().(*syscall.Stat_t); b.Uid != a.Uid || b.Gid != a.Gid {
		t.Errorf("the users file changed owner: %d:%d → %d:%d", b.Uid, b.Gid, a.Uid, a.Gid)
	}
	runCLI(t, "", "users", "remove", "alice", "--file", link).must(t, exitOK, nil, nil)
	if data, _ := os.ReadFile(real); strings.Contains(string(data), "alice:") {
		t.Errorf("users remove through the link left the user in the file: %q", data)
	}
}

// A link another account owns is not followed: planted beside a users
// file, it would have root write a file of the planter's choosing (found
// by review).
func TestUsersFileForeignLink(t *testing.T) {
	if os.Geteuid() != 0 {
		// Only root can give a link to another account. CI runs as root
		// and must run this check.
		if os.Getenv("AUTHKIT_REQUIRE_BACKENDS") != "" {
			t.Fatal("not root: no link of another account can be made, and AUTHKIT_REQUIRE_BACKENDS asks for every check")
		}
		t.Skip("not root: no link of another account can be made (CI runs it as root)")
	}
	dir := t.TempDir()
	target := filepath.Join(dir, "important.conf")
	if err := os.WriteFile(target, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(dir, "users.txt")
	if err := os.Symlink(target, link); err != nil {
		t.Fatal(err)
	}
	if err := os.Lchown(link, 65534, 65534); err != nil {
		t.Fatal(err)
	}
	r := runCLI(t, "a password here\n", "users", "add", "alice", "--file", link)
	r.must(t, exitFailure, nil, []string{"is owned by uid 65534"})
	// Behind a link of root's: a second link, and a directory link (found
	// by review: only the first link was checked).
	bob := filepath.Join(dir, "bob")
	if err := os.Mkdir(bob, 0o755); err != nil {
		t.Fatal(err)
	}
	chained := filepath.Join(dir, "chained.txt")
	if err := os.Symlink("bob/users.txt", chained); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(target, filepath.Join(bob, "users.txt")); err != nil {
		t.Fatal(err)
	}
	if err := os.Lchown(filepath.Join(bob, "users.txt"), 65534, 65534); err != nil {
		t.Fatal(err)
	}
	etc := filepath.Join(dir, "etc")
	if err := os.Mkdir(etc, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(etc, filepath.Join(bob, "d")); err != nil {
		t.Fatal(err)
	}
	if err := os.Lchown(filepath.Join(bob, "d"), 65534, 65534); err != nil {
		t.Fatal(err)
	}
	viaDir := filepath.Join(dir, "viadir")
	if err := os.Symlink(filepath.Join(bob, "d"), viaDir); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{chained, filepath.Join(viaDir, "users.txt")} {
		runCLI(t, "a password here\n", "users", "add", "alice", "--file", p).must(t, exitFailure, nil, []string{"is owned by uid 65534"})
	}
	if data, _ := os.ReadFile(target); len(data) != 0 {
		t.Errorf("the link's target was written: %q", data)
	}
	if _, err := os.Stat(filepath.Join(etc, "users.txt")); err == nil {
		t.Error("a users file was written through another account's directory link")
	}
	// Links of root's own lead where they point.
	mine := filepath.Join(dir, "mine.txt")
	if err := os.Symlink("etc/users.txt", mine); err != nil {
		t.Fatal(err)
	}
	runCLI(t, "a password here\n", "users", "add", "carol", "--file", mine).must(t, exitOK, nil, nil)
	if data, _ := os.ReadFile(filepath.Join(etc, "users.txt")); !strings.Contains(string(data), "carol:") {
		t.Errorf("users add through root's own link did not write the file it names: %q", data)
	}
}

// ".." after a link goes to the parent of the link's target, as the
// kernel (and serve --users) resolves it, not to the parent of the link
// (found by review: users add wrote a stray file beside the link).
func TestUsersFileDotDotAfterLink(t *testing.T) {
	dir := t.TempDir()
	for _, d := range []string{"etc/authkit/conf.d", "app"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Symlink(filepath.Join(dir, "etc/authkit/conf.d"), filepath.Join(dir, "app/conf")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(filepath.Join(dir, "app"), filepath.Join(dir, "current")); err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(dir, "current") + "/conf/../users.txt"
	runCLI(t, "a password here\n", "users", "add", "alice", "--file", p).must(t, exitOK, nil, nil)
	if data, _ := os.ReadFile(filepath.Join(dir, "etc/authkit/users.txt")); !strings.Contains(string(data), "alice:") {
		t.Errorf("the file the path names holds %q, want alice", data)
	}
	if _, err := os.Stat(filepath.Join(dir, "app/users.txt")); err == nil {
		t.Error("a stray users file was written beside the link")
	}
}

// The lock file beside the users file is never followed through a link,
// whoever owns it: a link planted there would have a users command create
// the file it names (found by review: as root, any file, /etc/nologin
// among them). A FIFO in its place does not hang the command either.
func TestUsersLockFileLink(t *testing.T) {
	dir := t.TempDir()
	victim := filepath.Join(dir, "victim")
	users := filepath.Join(dir, "users.txt")
	lock := filepath.Join(dir, ".users.txt.lock")
	if err := os.Symlink(victim, lock); err != nil {
		t.Fatal(err)
	}
	runCLI(t, "a password here\n", "users", "add", "alice", "--file", users).must(t, exitFailure, nil, []string{"is a symbolic link"})
	if _, err := os.Lstat(victim); err == nil {
		t.Error("the lock file's link was followed: its target was created")
	}
	if err := os.Remove(lock); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Mkfifo(lock, 0o600); err != nil {
		t.Fatal(err)
	}
	runCLI(t, "a password here\n", "users", "add", "alice", "--file", users).must(t, exitFailure, nil, []string{"not a regular file"})
	if err := os.Remove(lock); err != nil {
		t.Fatal(err)
	}
	runCLI(t, "a password here\n", "users", "add", "alice", "--file", users).must(t, exitOK, nil, nil)
}

// serve itself checks the users file and the key file it is given, and
// warns of each that other accounts can read: TestServeWarnsUnsafeSetups
// checks warnSharedFile alone, and either call could go unnoticed (found
// by mutation testing).
func TestServeWarnsOfSharedFiles(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	users := filepath.Join(dir, "users.txt")
	runCLI(t, "alice's password\n", "users", "add", "alice", "--file", users).must(t, exitOK, nil, nil)
	keyFile := filepath.Join(dir, "keys.json")
	if err := os.WriteFile(keyFile, []byte(runCLI(t, "", "keygen", "--alg", "ES256").stdout), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{users, keyFile} {
		if err := os.Chmod(f, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	s := startServe(t, "", "--users", users, "--keys", keyFile)
	if code := s.stop(t); code != exitOK {
		t.Fatalf("serve: exit status %d\n%s", code, s.stderr)
	}
	for _, what := range []string{"the users file (password hashes)", "the key file"} {
		if !strings.Contains(s.stderr.String(), what+" can be read or written by other accounts") {
			t.Errorf("serve with %s of mode 0644 did not warn of it:\n%s", what, s.stderr)
		}
	}
}
