package httpsyntax

import "testing"

func TestIsB64Token(t *testing.T) {
	for s, want := range map[string]bool{
		"abc": true, "a.b.c": true, "A-Z_0~9+/": true, "abc==": true, "a=": true,
		"": false, "=": false, "a b": false, "a=b": false, "a\"": false, "ä": false, "a,b": false,
	} {
		if IsB64Token(s) != want {
			t.Errorf("IsB64Token(%q) != %v", s, want)
		}
	}
}
