//go:build !unix

package main

import (
	"context"
	"os"
	"path/filepath"
)

// lockFile does nothing where flock(2) is not available: run one
// users command or keygen rotation at a time there.
func lockFile(context.Context, string, func()) (unlock func(), err error) {
	return func() {}, nil
}

// keepOwner does nothing where files have no Unix owner.
func keepOwner(*os.File, string) error { return nil }

// resolveLinks follows every link where files have no Unix owner.
func resolveLinks(path string) (string, error) {
	if _, err := os.Stat(path); err != nil {
		dir, err := filepath.EvalSymlinks(filepath.Dir(path))
		if err != nil {
			return "", err
		}
		return filepath.Join(dir, filepath.Base(path)), nil
	}
	return filepath.EvalSymlinks(path)
}

// openNoWait opens path for reading: see openRegular.
func openNoWait(path string) (*os.File, error) { return os.Open(path) }

// fileOwner is not known here.
func fileOwner(os.FileInfo) (int, bool) { return 0, false }
