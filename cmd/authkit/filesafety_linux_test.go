//go:build linux

package main

import (
	"encoding/binary"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// A lock file that is a hard link to another file is refused, and that
// file keeps its owner: root gave it the users file's owner (found by
// review).
func TestLockFileHardLink(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "users.txt")
	if err := os.WriteFile(path, []byte("alice:x\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	victim := filepath.Join(dir, "victim")
	if err := os.WriteFile(victim, []byte("secret"), 0o600); err != nil {
		t.Fatal(err)
	}
	if os.Geteuid() == 0 {
		if err := os.Chown(path, 65534, 65534); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Link(victim, filepath.Join(dir, ".users.txt.lock")); err != nil {
		t.Fatal(err)
	}
	unlock, err := lockFile(t.Context(), path, nil)
	if err == nil {
		unlock()
		t.Fatal("a lock file hard-linked to another file was used")
	}
	if !strings.Contains(err.Error(), "2 names") {
		t.Errorf("the refusal: %v", err)
	}
	fi, err := os.Stat(victim)
	if err != nil {
		t.Fatal(err)
	}
	if st := fi.Sys().(*syscall.Stat_t); int(st.Uid) != os.Geteuid() {
		t.Errorf("the linked file now belongs to uid %d", st.Uid)
	}
}

// A rewrite keeps the users file's access ACL (found by review: it was
// dropped, and serve's account, reading through it, was locked out).
func TestReplaceSecretFileKeepsACL(t *testing.T) {
	path := filepath.Join(t.TempDir(), "users.txt")
	if err := os.WriteFile(path, []byte("alice:x\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	// u::rw-, u:65534:r--, g::---, m::r--, o::---.
	acl := aclOf(aclEntry{0x01, 6, anyID}, aclEntry{0x02, 4, 65534}, aclEntry{0x04, 0, anyID}, aclEntry{0x10, 4, anyID}, aclEntry{0x20, 0, anyID})
	setACL(t, path, acl)
	if err := replaceSecretFile(path, []byte("bob:y\n")); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 4096)
	n, err := syscall.Getxattr(path, aclAttr, buf)
	if err != nil || string(buf[:n]) != string(acl) {
		t.Fatalf("the ACL after a rewrite: %x, %v; want %x", buf[:max(n, 0)], err, acl)
	}
	if b, _ := os.ReadFile(path); string(b) != "bob:y\n" {
		t.Errorf("content %q", b)
	}
}

// A rewrite narrows the mode of a file with an ACL as it does any other's:
// nothing for others, the mask (the group bits) read at most, and the
// named account's read entry kept (found by review: the ACL's other::r
// came back with the ACL, and a key file stayed readable by everyone).
func TestReplaceSecretFileNarrowsACLFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "keys.json")
	if err := os.WriteFile(path, []byte("{}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	// u::rw-, u:65534:r--, g::r--, m::rw-, o::rw- (mode 0666).
	setACL(t, path, aclOf(aclEntry{0x01, 6, anyID}, aclEntry{0x02, 4, 65534}, aclEntry{0x04, 4, anyID}, aclEntry{0x10, 6, anyID}, aclEntry{0x20, 6, anyID}))
	if err := replaceSecretFile(path, []byte("{\"keys\":[]}\n")); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if perm := fi.Mode().Perm(); perm != 0o640 {
		t.Errorf("mode after a rewrite %#o, want 0640", perm)
	}
	buf := make([]byte, 4096)
	n, err := syscall.Getxattr(path, aclAttr, buf)
	want := aclOf(aclEntry{0x01, 6, anyID}, aclEntry{0x02, 4, 65534}, aclEntry{0x04, 4, anyID}, aclEntry{0x10, 4, anyID}, aclEntry{0x20, 0, anyID})
	if err != nil || string(buf[:n]) != string(want) {
		t.Errorf("the ACL after a rewrite: %x, %v; want %x (the named read kept, mask r--, other ---)", buf[:max(n, 0)], err, want)
	}
}

// aclEntry is one entry of an access ACL: tag (0x01 owner, 0x02 named
// user, 0x04 owning group, 0x10 mask, 0x20 others), permissions, and the
// named user's ID (anyID for the others).
type aclEntry struct {
	tag, perm uint16
	id        uint32
}

const anyID = ^uint32(0)

// aclOf is es in the kernel's xattr form: version 2, then the entries,
// which must be sorted by tag.
func aclOf(es ...aclEntry) []byte {
	acl := binary.LittleEndian.AppendUint32(nil, 2)
	for _, e := range es {
		acl = binary.LittleEndian.AppendUint16(acl, e.tag)
		acl = binary.LittleEndian.AppendUint16(acl, e.perm)
		acl = binary.LittleEndian.AppendUint32(acl, e.id)
	}
	return acl
}

// setACL gives path the access ACL acl, or skips the test where the file
// system keeps none (never in CI).
func setACL(t *testing.T, path string, acl []byte) {
	t.Helper()
	if err := syscall.Setxattr(path, aclAttr, acl, 0); err != nil {
		if errors.Is(err, syscall.ENOTSUP) && os.Getenv("AUTHKIT_REQUIRE_BACKENDS") == "" {
			t.Skipf("this file system keeps no ACLs (%v); with AUTHKIT_REQUIRE_BACKENDS=1 (CI) this fails instead", err)
		}
		t.Fatal(err)
	}
}
