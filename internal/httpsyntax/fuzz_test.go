package httpsyntax

import (
	"encoding/base64"
	"regexp"
	"testing"
)

// b64TokenRE is RFC 6750 §2.1's b64token written as a regular expression,
// the reference IsB64Token is checked against.
var b64TokenRE = regexp.MustCompile(`\A[A-Za-z0-9\-._~+/]+=*\z`)

// FuzzIsB64Token checks IsB64Token against the grammar's regular
// expression, and that whatever it accepts is safe to carry in an
// Authorization header: no space, comma, quote or control byte, nothing
// outside ASCII.
func FuzzIsB64Token(f *testing.F) {
	for _, s := range []string{
		"", "=", "==", "a", "a=", "a==", "a=b", "a b", "a,b", "a\"", "a\x00", "a\n", "a\t", "ä", "\xff",
		"eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJhIn0.c2ln", "ak_0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefg",
		"A-Z_0~9+/", "abc=d=", "abc= ", " abc", "abc\r\n",
		base64.StdEncoding.EncodeToString([]byte{0xfb, 0xff, 0xfe}),
		base64.URLEncoding.EncodeToString([]byte("any carnal pleas")),
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got := IsB64Token(s)
		if want := b64TokenRE.MatchString(s); got != want {
			t.Fatalf("IsB64Token(%q) = %v, the RFC 6750 grammar says %v", s, got, want)
		}
		// Base64 of any bytes, padded or not, is a b64token (padding is a
		// b64token's only allowed suffix).
		if len(s) > 0 {
			for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
				if e := enc.EncodeToString([]byte(s)); !IsB64Token(e) {
					t.Fatalf("IsB64Token refuses the base64 %q", e)
				}
			}
		}
		if !got {
			return
		}
		for i := 0; i < len(s); i++ {
			if c := s[i]; c <= ' ' || c >= 0x7f || c == ',' || c == '"' || c == '\\' || c == ';' {
				t.Fatalf("IsB64Token(%q) accepts byte %#x", s, c)
			}
		}
	})
}
