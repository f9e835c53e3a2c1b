//go:build unix

package sqlstore

import (
	"os"
	"syscall"
)

// ownLink reports whether the symbolic link fi describes belongs to this
// process's account or to root.
func ownLink(fi os.FileInfo) bool {
	st, ok := fi.Sys().(*syscall.Stat_t)
	return ok && (int(st.Uid) == os.Geteuid() || st.Uid == 0)
}
