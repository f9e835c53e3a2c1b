package main

import (
	"context"
	"encoding/binary"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// keygen refuses to print a private key into a file with a POSIX ACL,
// whose named entries let another account read it at mode 0640 (found by
// review: the mode check passed, and uid 65534 read the key).
func TestKeygenRefusesACLOutput(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "acl.json")
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	// user::rw-, user:65534:r--, group::---, mask::r--, other::---, in
	// the kernel's format (version 2, then tag, permissions, id).
	acl := binary.LittleEndian.AppendUint32(nil, 2)
	for _, e := range []struct {
		tag, perm uint16
		id        uint32
	}{{0x01, 6, ^uint32(0)}, {0x02, 4, 65534}, {0x04, 0, ^uint32(0)}, {0x10, 4, ^uint32(0)}, {0x20, 0, ^uint32(0)}} {
		acl = binary.LittleEndian.AppendUint16(acl, e.tag)
		acl = binary.LittleEndian.AppendUint16(acl, e.perm)
		acl = binary.LittleEndian.AppendUint32(acl, e.id)
	}
	if err := syscall.Setxattr(path, aclAttr, acl, 0); err != nil {
		t.Fatalf("setting an ACL on %s (the file system must support them): %v", path, err)
	}
	fi, err := f.Stat()
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o640 {
		t.Fatalf("mode with the ACL = %#o, want 0640 (the case this checks: the mode alone passes)", fi.Mode().Perm())
	}
	var errOut strings.Builder
	code := run(cheapHashing(context.Background()), []string{"keygen"}, strings.NewReader(""), f, &errOut)
	if fi, _ = f.Stat(); code != exitFailure || fi.Size() != 0 || !strings.Contains(errOut.String(), "POSIX ACL") {
		t.Errorf("keygen > a file with an ACL: exit %d, %d bytes, %q; want it refused, nothing written", code, fi.Size(), errOut.String())
	}
}
