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
