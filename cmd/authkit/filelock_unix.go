//go:build unix

package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// lockWait bounds how long a users command waits for another's lock.
const lockWait = 30 * time.Second

// lockFile takes an exclusive lock that serialises the commands that
// change path (the users commands, keygen's rotation steps), so that one's
// write does not undo another's (a users add that loaded the file, then a
// users remove that wrote it, then the add's write bringing the removed
// user back). The lock is an
// flock(2) on a hidden file beside path, which stays; the kernel releases
// it when the process ends. It waits at most lockWait for another command,
// and no longer than ctx lasts; waiting, when not nil, is called once when
// it starts to wait.
//
// The lock file is never reached through a symbolic link: one planted in
// place of it by an account that can write the directory would have a
// command run as root create an empty file wherever it points (found by
// review: /etc/nologin locks every other account out). Its directory is
// path's, whose links resolveLinks has already checked.
func lockFile(ctx context.Context, path string, waiting func()) (unlock func(), err error) {
	name := filepath.Join(filepath.Dir(path), "."+filepath.Base(path)+".lock")
	// Opened for reading (flock needs no more), readable by the file's
	// owner and group, and given the file's owner when created by
	// another account (root): a lock file root made 0600 kept the file's
	// owner from ever locking it again (found by review).
	// Created here (O_EXCL), or opened as it is: only a lock file with no
	// other name is given the file's owner, so that one hard-linked to
	// another file (by an account that can write the directory) never has
	// root hand that file to the users file's owner (found by review).
	created := true
	f, err := os.OpenFile(name, os.O_RDONLY|os.O_CREATE|os.O_EXCL|syscall.O_NOFOLLOW|syscall.O_NONBLOCK, 0o640)
	if errors.Is(err, os.ErrExist) {
		created = false
		f, err = os.OpenFile(name, os.O_RDONLY|syscall.O_NOFOLLOW|syscall.O_NONBLOCK, 0)
	}
	if errors.Is(err, syscall.ELOOP) {
		return nil, fmt.Errorf("locking %s: %s is a symbolic link: remove it (the lock file is never followed)", path, name)
	}
	if errors.Is(err, os.ErrPermission) && created {
		return nil, fmt.Errorf("locking %s: cannot create %s: %w (this account cannot write the directory %s)", path, name, err, filepath.Dir(name))
	}
	if errors.Is(err, os.ErrPermission) {
		return nil, fmt.Errorf("locking %s: %w (made by another account? remove it: it holds nothing)", path, err)
	}
	if err != nil {
		return nil, fmt.Errorf("locking %s: %w", path, err)
	}
	fi, err := f.Stat()
	if err != nil || !fi.Mode().IsRegular() {
		f.Close()
		return nil, fmt.Errorf("locking %s: %s is not a regular file: remove it", path, name)
	}
	if st, ok := fi.Sys().(*syscall.Stat_t); ok && st.Nlink != 1 {
		f.Close()
		return nil, fmt.Errorf("locking %s: %s has %d names (a hard link to another file?): remove it", path, name, st.Nlink)
	}
	if err := keepOwner(f, path); err != nil && os.Geteuid() == 0 {
		f.Close()
		return nil, fmt.Errorf("locking %s: %w", path, err)
	}
	deadline := time.Now().Add(lockWait)
	for {
		err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		if err == nil {
			return func() {
				_ = syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
				f.Close()
			}, nil
		}
		if !errors.Is(err, syscall.EWOULDBLOCK) && !errors.Is(err, syscall.EINTR) {
			f.Close()
			return nil, fmt.Errorf("locking %s: %w", path, err)
		}
		if time.Now().After(deadline) {
			f.Close()
			return nil, fmt.Errorf("locking %s: another authkit command has held it for %v", path, lockWait)
		}
		if waiting != nil {
			waiting()
			waiting = nil
		}
		select {
		case <-ctx.Done():
			f.Close()
			return nil, fmt.Errorf("locking %s: %w", path, ctx.Err())
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// keepOwner gives tmp the owner and group of the file at path, if there is
// one and they differ, or says why it cannot (a users command run as
// another account than the file's, which only root may write for).
func keepOwner(tmp *os.File, path string) error {
	old, err := os.Stat(path)
	if err != nil {
		return nil // a new file: the caller's
	}
	st, ok := old.Sys().(*syscall.Stat_t)
	if !ok {
		return nil
	}
	cur, err := tmp.Stat()
	if err != nil {
		return err
	}
	if now, ok := cur.Sys().(*syscall.Stat_t); ok && now.Uid == st.Uid && now.Gid == st.Gid {
		return nil
	}
	if err := tmp.Chown(int(st.Uid), int(st.Gid)); err != nil {
		return fmt.Errorf("%s belongs to uid %d, gid %d, which this account cannot give the new file (run the command as its owner): %w", path, st.Uid, st.Gid, err)
	}
	return nil
}

// resolveLinks follows the symbolic links along path one at a time, in
// its directories too, and returns where they lead, refusing when one of
// them is owned by another account than this one or root: a link another
// account planted, even behind one of ours, would have root write where
// it chooses (found by review: only the first link was checked).
func resolveLinks(path string) (string, error) {
	// Not filepath.Abs, which cleans: "conf/../users.txt" through a link
	// conf must go where the kernel goes, to the parent of conf's target
	// (found by review).
	abs := path
	if !filepath.IsAbs(path) {
		wd, err := os.Getwd()
		if err != nil {
			return "", err
		}
		abs = wd + "/" + path
	}
	todo := strings.Split(strings.TrimPrefix(abs, "/"), "/")
	cur := "/"
	for hops := 0; len(todo) > 0; {
		c := todo[0]
		todo = todo[1:]
		switch c {
		case "", ".":
			continue
		case "..":
			cur = filepath.Dir(cur)
			continue
		}
		next := filepath.Join(cur, c)
		fi, err := os.Lstat(next)
		if errors.Is(err, os.ErrNotExist) && len(todo) == 0 {
			return next, nil // a users file to create
		}
		if err != nil {
			return "", err
		}
		if fi.Mode()&os.ModeSymlink == 0 {
			cur = next
			continue
		}
		if hops++; hops > 40 {
			return "", fmt.Errorf("%s: too many symbolic links", path)
		}
		st, ok := fi.Sys().(*syscall.Stat_t)
		if !ok {
			return "", fmt.Errorf("%s: the symbolic link %s is of unknown owner", path, next)
		}
		if int(st.Uid) != os.Geteuid() && st.Uid != 0 {
			return "", fmt.Errorf("%s: the symbolic link %s is owned by uid %d, neither this account nor root: give the file it names", path, next, st.Uid)
		}
		target, err := os.Readlink(next)
		if err != nil {
			return "", err
		}
		if filepath.IsAbs(target) {
			cur = "/"
		}
		todo = append(strings.Split(strings.Trim(target, "/"), "/"), todo...)
	}
	return cur, nil
}

// openNoWait opens path for reading without waiting for a writer, should
// it be a FIFO (O_NONBLOCK, which changes nothing for a regular file's
// reads): see openRegular.
func openNoWait(path string) (*os.File, error) {
	return os.OpenFile(path, os.O_RDONLY|syscall.O_NONBLOCK, 0)
}

// fileOwner returns the uid that owns fi's file.
func fileOwner(fi os.FileInfo) (int, bool) {
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return 0, false
	}
	return int(st.Uid), true
}
