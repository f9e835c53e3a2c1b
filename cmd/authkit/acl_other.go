//go:build !linux

package main

import "os"

// copyACL keeps nothing: ACLs are read on Linux only.
func copyACL(string, *os.File) error { return nil }

// hasACL reports no ACL: they are read on Linux only.
func hasACL(string) bool { return false }

// fileACL reports no ACL: they are read on Linux only.
func fileACL(*os.File) (bool, error) { return false, nil }
