package routeparam

import "testing"

func TestUnescape(t *testing.T) {
	for in, want := range map[string]string{
		"abc":       "abc",
		"%61bc":     "abc",
		"a%2Fb":     "a/b",
		"a%zz":      "a%zz", // does not decode: as it is
		"%E2%9C%93": "\u2713",
	} {
		if got := Unescape(in); got != want {
			t.Errorf("Unescape(%q) = %q, want %q", in, got, want)
		}
	}
}
