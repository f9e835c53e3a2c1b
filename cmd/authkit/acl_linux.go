//go:build linux

package main

import (
	"errors"
	"fmt"
	"os"
	"syscall"
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
