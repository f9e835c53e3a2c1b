//go:build !unix

package sqlstore

import "os"

// writable opens the file at path for writing and closes it: without
// access(2), and where closing a handle does not drop the locks of the
// process's other handles on the file (Windows locks belong to a handle,
// not to the process, unlike POSIX locks).
func writable(path string) error {
	f, err := os.OpenFile(path, os.O_WRONLY, 0)
	if err != nil {
		return err
	}
	return f.Close()
}
