package testservers

import (
	"flag"
	"runtime"
	"strconv"
	"testing"
)

// setParallel raises -test.parallel only when the command line left it at
// its default, and never lowers it.
func TestSetParallel(t *testing.T) {
	f := flag.Lookup("test.parallel")
	if f == nil {
		t.Fatal("no test.parallel flag: the testing package renamed it, and MainWaiting would do nothing")
	}
	before := f.Value.String()
	t.Cleanup(func() { f.Value.Set(before) })
	given := false
	flag.Visit(func(v *flag.Flag) { given = given || v.Name == "test.parallel" })

	n := runtime.GOMAXPROCS(0) + 3
	got := setParallel(n)
	switch {
	case given && (got || f.Value.String() != before):
		t.Errorf("with -test.parallel=%s given, setParallel(%d) changed it to %s", before, n, f.Value.String())
	case !given && (!got || f.Value.String() != strconv.Itoa(n)):
		t.Errorf("setParallel(%d) left -test.parallel at %s (reported %v), want %d", n, f.Value.String(), got, n)
	}
	f.Value.Set(before)
	if setParallel(1) || f.Value.String() != before {
		t.Errorf("setParallel(1) changed -test.parallel from %s to %s", before, f.Value.String())
	}
}
