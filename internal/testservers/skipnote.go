package testservers

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
)

// skips records, for the test binary, which kinds of server were missing
// and how many tests skipped for each, so that Main can say so once.
var skips struct {
	sync.Mutex
	byKind map[string]*skipNote
}

type skipNote struct {
	name  string // "PostgreSQL"
	env   string // the variable that names the server
	tests int
}

// noteSkip records that a test is about to skip for want of the server
// kind name, which env names.
func noteSkip(name, env string) {
	skips.Lock()
	defer skips.Unlock()
	if skips.byKind == nil {
		skips.byKind = map[string]*skipNote{}
	}
	n := skips.byKind[name]
	if n == nil {
		n = &skipNote{name: name, env: env}
		skips.byKind[name] = n
	}
	n.tests++
}

// Main runs a backend package's tests and then, when any of them skipped
// for want of a server, says so once for the whole package: which suites
// were skipped and which environment variable turns each on. Call it from
// the package's TestMain:
//
//	func TestMain(m *testing.M) { testservers.Main(m) }
//
// `go test` shows a passing package's output only with -v, so a plain
// `go test ./...` would print a bare "ok" for a package whose backend
// suites all skipped. The note is therefore written where the person
// running the tests sees it: to standard output with -v, or when the
// binary is run by hand; when `go test` runs it, to the go command's own
// standard error (on Linux, where /proc names it), so that it stands
// beside the package's "ok" line.
func Main(m *testing.M) {
	code := m.Run()
	if note := skipSummary(); note != "" {
		writeNote(note)
	}
	os.Exit(code)
}

// skipSummary is the one-line note for what skipped, or "".
func skipSummary() string {
	skips.Lock()
	defer skips.Unlock()
	if len(skips.byKind) == 0 {
		return ""
	}
	names := make([]string, 0, len(skips.byKind))
	for name := range skips.byKind {
		names = append(names, name)
	}
	sort.Strings(names)
	parts := make([]string, 0, len(names))
	for _, name := range names {
		n := skips.byKind[name]
		tests := "tests"
		if n.tests == 1 {
			tests = "test"
		}
		parts = append(parts, fmt.Sprintf("%s (%d %s; set %s)", n.name, n.tests, tests, n.env))
	}
	return fmt.Sprintf("authkit: %s: skipped the suites that need %s; %s=1 makes a missing server a failure\n",
		packageName(), strings.Join(parts, ", "), RequireEnv)
}

// packageName is the import path of the package under test, read from the
// test binary's build information ("….test" is trimmed), or the binary's
// name when that is missing.
func packageName() string {
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Path != "" {
		p := strings.TrimSuffix(bi.Path, ".test")
		return strings.TrimPrefix(p, "github.com/authkit-go/authkit/")
	}
	return strings.TrimSuffix(filepath.Base(os.Args[0]), ".test")
}

// writeNote writes note where a person running the tests sees it.
func writeNote(note string) {
	if w, closeFn := goCommandStderr(); w != nil && !testing.Verbose() {
		_, _ = io.WriteString(w, note)
		closeFn()
		return
	}
	_, _ = io.WriteString(os.Stdout, note)
}

// goCommandStderr opens the standard error of the parent process when that
// parent is the go command (the binary runs under `go test`), or returns
// nil. Only Linux names another process's descriptors in /proc.
func goCommandStderr() (io.Writer, func()) {
	if runtime.GOOS != "linux" {
		return nil, nil
	}
	ppid := strconv.Itoa(os.Getppid())
	exe, err := os.Readlink("/proc/" + ppid + "/exe")
	if err != nil || strings.TrimSuffix(filepath.Base(exe), ".exe") != "go" {
		return nil, nil
	}
	f, err := os.OpenFile("/proc/"+ppid+"/fd/2", os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		return nil, nil
	}
	return f, func() { _ = f.Close() }
}
