package routeparam

import (
	"net/http/httptest"
	"testing"
)

func TestUnescape(t *testing.T) {
	for _, c := range []struct {
		target, param, want string
	}{
		{"/s/abc", "abc", "abc"},
		{"/s/a%2Fb", "a%2Fb", "a/b"},                   // from the escaped path
		{"/s/x%2541%2F", "x%2541%2F", "x%41/"},         // decoded once, not twice
		{"/s/x%2541", "x%41", "x%41"},                  // from the decoded path: left alone
		{"/s/x%2541", "x%2541", "x%41"},                // from the escaped path
		{"/s/x%2541/", "x%41", "x%41"},                 // a route path set from r.URL.Path (StripSlashes)
		{"/s/%E2%9C%93%2F", "%E2%9C%93%2F", "\u2713/"}, // non-ASCII, escaped
		{"/s/a%2Fb/", "a%2Fb", "a/b"},                  // a route path trimmed of its slash, escaped
		{"/s/ax%41", "x%41", "x%41"},                   // part of a segment only: left alone
	} {
		r := httptest.NewRequest("GET", "http://h"+c.target, nil)
		if got := Unescape(r, c.param); got != c.want {
			t.Errorf("Unescape(%q, %q) = %q, want %q", c.target, c.param, got, c.want)
		}
	}
	// A middleware trimmed the decoded path's slash and kept RawPath
	// (echo's RemoveTrailingSlash): still the escaped path's segment.
	r := httptest.NewRequest("GET", "http://h/s/x%2541%2F", nil)
	r.URL.Path = "/s/x%41"
	if got := Unescape(r, "x%2541%2F"); got != "x%41/" {
		t.Errorf("Unescape with RawPath kept and Path trimmed = %q, want %q", got, "x%41/")
	}
	// A parameter that does not decode is returned as it is.
	r = httptest.NewRequest("GET", "http://h/s/a", nil)
	r.URL.RawPath = "/s/%zz"
	if got := Unescape(r, "%zz"); got != "%zz" {
		t.Errorf("Unescape of a segment that does not decode = %q, want it as it is", got)
	}
}
