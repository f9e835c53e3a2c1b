//go:build unix

package sqlstore

import "golang.org/x/sys/unix"

// writable asks the kernel whether this process may write the file at
// path, without opening it: access(2), the plain faccessat call with no
// flags. (With AT_EACCESS, x/sys falls back to comparing mode bits where
// faccessat2 answers EPERM or ENOSYS — an immutable file, an old kernel or
// seccomp profile — and passed a file no write could reach: found by
// review.) It checks the real user and group IDs, which are the effective
// ones unless the program is setuid.
func writable(path string) error {
	return unix.Access(path, unix.W_OK)
}
