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

func TestCredentials(t *testing.T) {
	for _, c := range []struct {
		in, scheme, rest string
		tab              bool
	}{
		{"Bearer abc", "Bearer", "abc", false},
		{"Bearer   abc", "Bearer", "abc", false},
		{"Bearer\tabc", "Bearer", "abc", true},
		{"Bearer \tabc", "Bearer", "abc", true},
		{"Bearer", "Bearer", "", false},
		{"", "", "", false},
		{"Basic YTpi ", "Basic", "YTpi ", false},
	} {
		s, r, tab := Credentials(c.in)
		if s != c.scheme || r != c.rest || tab != c.tab {
			t.Errorf("Credentials(%q) = %q, %q, %v; want %q, %q, %v", c.in, s, r, tab, c.scheme, c.rest, c.tab)
		}
	}
}

func TestSchemeIs(t *testing.T) {
	for _, c := range []struct {
		scheme, name string
		want         bool
	}{
		{"bearer", "Bearer", true},
		{"BASIC", "Basic", true},
		{"Ba\u017Fic", "Basic", false}, // long s folds to s in Unicode only
		{"To\u212Aen", "Token", false}, // Kelvin sign
		{"Bearer2", "Bearer", false},
		{"", "", true},
	} {
		if got := SchemeIs(c.scheme, c.name); got != c.want {
			t.Errorf("SchemeIs(%q, %q) = %v, want %v", c.scheme, c.name, got, c.want)
		}
	}
}
