package main

import (
	"testing"

	"github.com/authkit-go/authkit/internal/httpsuite"
)

// TestProgram runs the walk-through of docs/frameworks/nethttp.md against the
// program's handler.
func TestProgram(t *testing.T) {
	h, err := newServer()
	if err != nil {
		t.Fatal(err)
	}
	httpsuite.CheckExample(t, h)
}

// TestDocShowsThisProgram keeps docs/frameworks/nethttp.md's program identical
// to main.go.
func TestDocShowsThisProgram(t *testing.T) {
	httpsuite.CheckDocCopy(t, "../../docs/frameworks/nethttp.md", "main.go")
}
