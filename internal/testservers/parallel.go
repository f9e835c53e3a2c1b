package testservers

import (
	"flag"
	"runtime"
	"strconv"
	"testing"
)

// MainWaiting is Main for a package whose parallel tests spend most of
// their time waiting on servers (a commit's flush, a deadline running
// out, another process) rather than on the CPU: unless -test.parallel is
// given, it lets up to n of them run at once instead of GOMAXPROCS. On a
// two-core machine the default of two left the package's backend suites
// waiting their turn with the CPU mostly idle. An explicit -parallel (or
// -test.parallel) always wins, and n below GOMAXPROCS changes nothing.
func MainWaiting(m *testing.M, n int) {
	setParallel(n)
	Main(m)
}

// setParallel raises the testing package's -test.parallel to n when the
// command line left it at its default; it reports whether it did.
func setParallel(n int) bool {
	if !flag.Parsed() {
		flag.Parse()
	}
	f := flag.Lookup("test.parallel")
	if f == nil || n <= runtime.GOMAXPROCS(0) {
		return false
	}
	given := false
	flag.Visit(func(v *flag.Flag) {
		if v.Name == "test.parallel" {
			given = true
		}
	})
	if given {
		return false
	}
	return flag.Set("test.parallel", strconv.Itoa(n)) == nil
}
