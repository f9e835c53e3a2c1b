package textsafe_test

import (
	"testing"

	"github.com/authkit-go/authkit/internal/textsafe"
)

func TestValid(t *testing.T) {
	for s, want := range map[string]bool{
		"alice":              true,
		"Zoë Ünal":           true,
		"名前":                 true,
		"עברית":              true, // right-to-left text itself is fine
		"a\tb":               false,
		"a\x7fb":             false,
		"a\u0085b":           false, // NEL (C1)
		"a\u009b31mb":        false, // CSI (C1)
		"a\u202eb":           false, // right-to-left override
		"a\u2066b":           false, // left-to-right isolate
		"a\u200fb":           false, // right-to-left mark (Bidi_Control)
		"a\u2028b":           false,
		"a\u2029b":           false,
		string([]byte{0xff}): false,
		"\xe2\x80":           false,
	} {
		if got := textsafe.Valid(s); got != want {
			t.Errorf("Valid(%q) = %v, want %v", s, got, want)
		}
	}
}

func TestClean(t *testing.T) {
	for in, want := range map[string]string{
		"Mozilla/5.0":           "Mozilla/5.0",
		"Mozilla\u202e/gpj.exe": "Mozilla\ufffd/gpj.exe",
		"a\u009b31m\u2028x\ty":  "a\ufffd31m\ufffdx\ufffdy",
		"bad \xff utf8":         "bad \ufffd utf8",
		"Zoë":                   "Zoë",
	} {
		if got := textsafe.Clean(in); got != want {
			t.Errorf("Clean(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestClip(t *testing.T) {
	for _, c := range []struct {
		in   string
		n    int
		want string
	}{{"abc", 3, "abc"}, {"abc", 2, "ab"}, {"aé", 2, "a"}, {"aé", 3, "aé"}, {"é", 1, ""}, {"€x", 2, ""}, {"", 0, ""}} {
		if got := textsafe.Clip(c.in, c.n); got != c.want {
			t.Errorf("Clip(%q, %d) = %q, want %q", c.in, c.n, got, c.want)
		}
	}
}
