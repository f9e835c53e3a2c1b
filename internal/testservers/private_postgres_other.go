//go:build !unix

package testservers

import (
	"os"
	"os/exec"
)

// unprivileged runs commands as they are: there is no root to step down
// from.
func unprivileged(string) (func(*exec.Cmd), error) { return func(*exec.Cmd) {}, nil }

// quit stops p at once.
func quit(p *os.Process) error { return p.Kill() }
