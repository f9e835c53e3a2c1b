package sqlstore

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/authkit-go/authkit"
)

// A call the driver ended with the context's own error names it once, and
// still matches it (found by review: "context deadline exceeded: context
// deadline exceeded").
func TestFailSaysContextOnce(t *testing.T) {
	s := &Store{}
	ctx, cancel := context.WithTimeout(context.Background(), -time.Second)
	defer cancel()
	err := s.fail(ctx, "Op", context.DeadlineExceeded)
	if n := strings.Count(err.Error(), context.DeadlineExceeded.Error()); n != 1 ||
		!errors.Is(err, context.DeadlineExceeded) || !errors.Is(err, authkit.ErrStoreUnavailable) {
		t.Errorf("deadline: %v (said %d times); want it once, matching DeadlineExceeded and ErrStoreUnavailable", err, n)
	}
	cctx, ccancel := context.WithCancel(context.Background())
	ccancel()
	err = s.fail(cctx, "Op", context.Canceled)
	if n := strings.Count(err.Error(), context.Canceled.Error()); n != 1 || !errors.Is(err, context.Canceled) {
		t.Errorf("cancel: %v (said %d times); want it once, matching Canceled", err, n)
	}
	err = s.fail(ctx, "Op", errors.New("driver: bad connection"))
	if !errors.Is(err, context.DeadlineExceeded) || !errors.Is(err, authkit.ErrStoreUnavailable) {
		t.Errorf("deadline with a driver error: %v", err)
	}
}

// A SQLite file this process cannot write is refused at Open as a
// configuration mistake (found by review: serve started, answered every
// login 503 and said it was healthy). As root the permission cannot be
// taken away, so the classification is tested on the errors themselves.
func TestNotWritable(t *testing.T) {
	for _, err := range []error{fs.ErrPermission, &fs.PathError{Op: "open", Path: "/x", Err: syscall.EACCES}, &fs.PathError{Op: "open", Path: "/x", Err: syscall.EROFS}} {
		if got := notWritable(err); !errors.Is(got, authkit.ErrInvalidConfig) || !strings.Contains(got.Error(), "cannot be written") {
			t.Errorf("notWritable(%v) = %v", err, got)
		}
	}
	for _, err := range []error{fs.ErrNotExist, syscall.EISDIR} {
		if got := notWritable(err); got != nil {
			t.Errorf("notWritable(%v) = %v, want nil (the driver says)", err, got)
		}
	}
	// And a real file that can be written passes.
	f := filepath.Join(t.TempDir(), "ok.db")
	if err := os.WriteFile(f, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := checkWritable(f); err != nil {
		t.Error(err)
	}
}
