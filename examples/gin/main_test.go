package main

import (
	"io"
	"os"
	"testing"

	"github.com/gin-gonic/gin"

	"github.com/authkit-go/authkit/internal/httpsuite"
)

func TestMain(m *testing.M) {
	gin.SetMode(gin.TestMode)      // no debug route listing in test output
	gin.DefaultWriter = io.Discard // nor gin.Default's request log
	os.Exit(m.Run())
}

// TestProgram runs the walk-through of docs/frameworks/gin.md against the
// program's handler.
func TestProgram(t *testing.T) {
	h, err := newServer()
	if err != nil {
		t.Fatal(err)
	}
	httpsuite.CheckExample(t, h)
}

// TestDocShowsThisProgram keeps docs/frameworks/gin.md's program identical
// to main.go.
func TestDocShowsThisProgram(t *testing.T) {
	httpsuite.CheckDocCopy(t, "../../docs/frameworks/gin.md", "main.go")
}
