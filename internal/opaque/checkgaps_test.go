package opaque

import (
	"hash/crc32"
	"strings"
	"testing"
)

// withChecksum returns s (prefix, kind, underscore and body, without a
// checksum) with the checksum Check wants: anyone can compute it, so it
// proves nothing about the rest.
func withChecksum(s string) string {
	return string(appendCheck([]byte(s), crc32.ChecksumIEEE([]byte(s))))
}

// The tests below were found missing by mutation testing: each check they
// cover could be removed with every test passing.

// Every kind's token fails every other kind's check, the kinds of the
// same length too (a client secret is no refresh token, an authorization
// code no client secret).
func TestCheckKindsApart(t *testing.T) {
	kinds := []string{KindAPI, KindRefresh, KindClientSecret, KindAuthCode}
	for _, k1 := range kinds {
		tok, err := New("ak", k1)
		if err != nil {
			t.Fatal(err)
		}
		for _, k2 := range kinds {
			if err := Check(tok, "ak", k2); (err == nil) != (k1 == k2) {
				t.Errorf("a token of kind %q, checked as kind %q: %v", k1, k2, err)
			}
		}
	}
}

// A body outside the base62 alphabet is refused, even with a checksum
// that matches it.
func TestCheckAlphabet(t *testing.T) {
	for _, kind := range []string{KindAPI, KindRefresh} {
		head := "ak" + kind + "_"
		good := withChecksum(head + strings.Repeat("a", bodyLen))
		if err := Check(good, "ak", kind); err != nil {
			t.Fatalf("kind %q: a base62 body with its checksum: %v", kind, err)
		}
		for _, c := range []string{"-", "_", "+", "/", "=", " ", "\x00", "é"[:1]} {
			bad := withChecksum(head + strings.Repeat("a", bodyLen-1) + c)
			if Check(bad, "ak", kind) == nil {
				t.Errorf("kind %q: a body holding %q, with a matching checksum, passes", kind, c)
			}
		}
	}
}

// Only a refresh token may carry a session part.
func TestCheckSessionPartRefreshOnly(t *testing.T) {
	body, session := strings.Repeat("a", bodyLen), strings.Repeat("1", sessionLen) // below 2^128
	for _, kind := range []string{KindAPI, KindRefresh, KindClientSecret, KindAuthCode} {
		tok := withChecksum("ak" + kind + "_" + body + session)
		if err := Check(tok, "ak", kind); (err == nil) != (kind == KindRefresh) {
			t.Errorf("a token of kind %q with a session part: %v", kind, err)
		}
	}
}
