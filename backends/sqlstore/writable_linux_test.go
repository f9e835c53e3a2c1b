//go:build linux

package sqlstore

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/authkit-go/authkit"
)

// writable takes the kernel's answer, which mode bits do not give: a
// sysctl file no one may write, root included; and, where this process may
// set it (root, on a file system that has it), an immutable file, for
// which faccessat2 answers EPERM and x/sys's AT_EACCESS fallback compared
// mode bits and said yes (found by review: Open then passed a file every
// write to which failed with SQLITE_READONLY).
func TestWritableAsksTheKernel(t *testing.T) {
	if err := writable("/proc/sys/kernel/osrelease"); !errors.Is(err, os.ErrPermission) {
		t.Errorf("writable(/proc/sys/kernel/osrelease) = %v, want a permission error", err)
	}
	path := filepath.Join(t.TempDir(), "immutable.db")
	if err := os.WriteFile(path, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := writable(path); err != nil {
		t.Fatalf("a fresh file: %v", err)
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() }) // after the flag is cleared (cleanups run last first)
	flags, err := unix.IoctlGetUint32(int(f.Fd()), unix.FS_IOC_GETFLAGS)
	if err != nil || unix.IoctlSetPointerInt(int(f.Fd()), unix.FS_IOC_SETFLAGS, int(flags|fsImmutableFL)) != nil {
		t.Logf("cannot make %s immutable here (not root, or the file system has no such flag): checked the sysctl file only", path)
		return
	}
	t.Cleanup(func() { _ = unix.IoctlSetPointerInt(int(f.Fd()), unix.FS_IOC_SETFLAGS, int(flags)) })
	if err := checkWritable(path); !errors.Is(err, authkit.ErrInvalidConfig) {
		t.Errorf("checkWritable of an immutable file = %v, want ErrInvalidConfig", err)
	}
}

// fsImmutableFL is the kernel's FS_IMMUTABLE_FL (linux/fs.h).
const fsImmutableFL = 0x00000010
