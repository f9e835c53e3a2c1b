package main

import (
	"bytes"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
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

// A credential a client wrongly puts in the URL is refused by authkit and
// never written to the request log (found by review: gin.Default's logger
// wrote the query string, password and tokens included).
func TestRequestLogHoldsNoQuery(t *testing.T) {
	var log bytes.Buffer
	gin.DefaultWriter = &log
	defer func() { gin.DefaultWriter = io.Discard }()
	h, err := newServer()
	if err != nil {
		t.Fatal(err)
	}
	for _, target := range []string{
		"/auth/token?grant_type=password&username=alice&password=wonderland",
		"/api/me?access_token=eyJhbGciOiJIUzI1NiJ9.e30.c2VjcmV0LXNpZ25hdHVyZQ",
	} {
		method := http.MethodPost
		if strings.HasPrefix(target, "/api/") {
			method = http.MethodGet
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(method, target, nil))
		if rec.Code < 400 {
			t.Errorf("%s %s: %d, want a refusal", method, target, rec.Code)
		}
	}
	for _, secret := range []string{"wonderland", "c2VjcmV0LXNpZ25hdHVyZQ", "access_token="} {
		if strings.Contains(log.String(), secret) {
			t.Errorf("the request log holds %q:\n%s", secret, log.String())
		}
	}
	if !strings.Contains(log.String(), "/auth/token") {
		t.Errorf("the request log lacks the path:\n%s", log.String())
	}
}
