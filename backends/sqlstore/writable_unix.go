//go:build unix

package sqlstore

import "golang.org/x/sys/unix"

// writable asks the kernel whether this process (its effective IDs) may
// write the file at path, without opening it.
func writable(path string) error {
	return unix.Faccessat(unix.AT_FDCWD, path, unix.W_OK, unix.AT_EACCESS)
}
