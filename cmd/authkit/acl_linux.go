//go:build linux

package main

import (
	"errors"
	"fmt"
	"os"
	"syscall"

	"golang.org/x/sys/unix"
)

// aclAttr holds a file's POSIX access ACL on Linux.
const aclAttr = "system.posix_acl_access"

// copyACL gives tmp the access ACL of the file at path, if it has one
// (its group bits are then the ACL's mask, which the ACL brings back).
func copyACL(path string, tmp *os.File) error {
	buf := make([]byte, 4096)
	n, err := syscall.Getxattr(path, aclAttr, buf)
	switch {
	case errors.Is(err, syscall.ENODATA), errors.Is(err, syscall.ENOTSUP), errors.Is(err, os.ErrNotExist):
		return nil // no ACL, none on this file system, or a new file
	case err != nil:
		return fmt.Errorf("reading the ACL of %s: %w", path, err)
	}
	if err := syscall.Setxattr(tmp.Name(), aclAttr, buf[:n], 0); err != nil {
		return fmt.Errorf("%s has an ACL that its replacement could not be given: %w", path, err)
	}
	return nil
}

// hasACL reports whether the file at path has a POSIX access ACL, whose
// named entries can let other accounts read it whatever its mode says
// (its group bits are then the ACL's mask). A file system without ACLs
// has none.
func hasACL(path string) bool {
	_, err := syscall.Getxattr(path, aclAttr, nil)
	return err == nil
}

// fileACL reports whether the open file f has a POSIX access ACL, asking
// by its descriptor (found by review: a path under /proc/self/fd read as
// "no ACL" where /proc was not mounted). A file system without ACLs has
// none; any other failure is an error, for the caller to refuse on.
func fileACL(f *os.File) (bool, error) {
	_, err := unix.Fgetxattr(int(f.Fd()), aclAttr, nil)
	switch {
	case err == nil:
		return true, nil
	case errors.Is(err, unix.ENODATA), errors.Is(err, unix.ENOTSUP), errors.Is(err, unix.EOPNOTSUPP):
		return false, nil
	}
	return false, err
}
