package wycheproof

import (
	"crypto/sha1"
	"encoding/hex"
	"fmt"
	"os"
	"regexp"
	"testing"
)

// TestFilesMatchSource holds every vector file to the git blob id that
// testdata/SOURCE.md records for it, so a vector edited by hand (or
// truncated by a bad copy) fails here instead of passing as a weaker test.
func TestFilesMatchSource(t *testing.T) {
	src, err := os.ReadFile("testdata/SOURCE.md")
	if err != nil {
		t.Fatal(err)
	}
	row := regexp.MustCompile("(?m)^\\| `([^`]+)` \\| [^|]* \\| `([0-9a-f]{40})` \\| ([0-9]+) \\|$")
	want := map[string]string{}
	for _, m := range row.FindAllStringSubmatch(string(src), -1) {
		want[m[1]] = m[2]
	}
	for _, name := range []string{JWSFile, JWKFile, "LICENSE"} {
		id, ok := want[name]
		if !ok {
			t.Errorf("SOURCE.md has no row for %s", name)
			continue
		}
		data, err := os.ReadFile("testdata/" + name)
		if err != nil {
			t.Fatal(err)
		}
		if got := blobID(data); got != id {
			t.Errorf("%s: git blob %s, SOURCE.md records %s: the file is not the published one", name, got, id)
		}
	}
	for _, name := range []string{JWSFile, JWKFile} {
		data, err := Read(name)
		if err != nil {
			t.Fatal(err)
		}
		if got := blobID(data); got != want[name] {
			t.Errorf("Read(%s) returns blob %s, want %s", name, got, want[name])
		}
	}
	if _, err := Read("LICENSE"); err == nil {
		t.Error("Read of a file that is not a vector file succeeded")
	}
}

// blobID is what `git hash-object` prints for data.
func blobID(data []byte) string {
	h := sha1.New()
	fmt.Fprintf(h, "blob %d\x00", len(data))
	h.Write(data)
	return hex.EncodeToString(h.Sum(nil))
}
