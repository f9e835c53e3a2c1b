//go:build !unix

package main

import "os"

// lockUsersFile does nothing where flock(2) is not available: run one
// users command at a time there.
func lockUsersFile(string) (unlock func(), err error) { return func() {}, nil }

// keepOwner does nothing where files have no Unix owner.
func keepOwner(*os.File, string) error { return nil }

// safeLink follows every link where files have no Unix owner.
func safeLink(os.FileInfo) error { return nil }
