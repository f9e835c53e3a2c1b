package httpauth

import (
	"encoding/base64"
	"strings"
	"testing"
	"time"
)

// cookieExpired reads exp without checking the signature, allocates
// nothing on the cookie path for ordinary tokens, and leaves the leeway to
// the verifier.
func TestCookieExpired(t *testing.T) {
	now := time.Unix(1_900_000_000, 0)
	a := &Auth{now: func() time.Time { return now }}
	jwt := func(claims string) string {
		return "eyJhbGciOiJFZERTQSJ9." + base64.RawURLEncoding.EncodeToString([]byte(claims)) + ".c2ln"
	}
	for claims, want := range map[string]bool{
		`{"exp":1899999000,"sub":"a"}`:   true,  // expired 1000 s ago
		`{"exp":1899999800,"sub":"a"}`:   false, // 200 s ago: within the leeway, the verifier decides
		`{"exp":1900000100}`:             false,
		`{"sub":"a"}`:                    false,
		`{"exp":"1899999000"}`:           false,
		`not json`:                       false,
		`{"exp":1,"exp":2}`:              false, // strict JSON refuses duplicates
		`{"exp":1899999000.5,"x":[1,2]}`: true,
	} {
		if got := a.cookieExpired(jwt(claims)); got != want {
			t.Errorf("cookieExpired(%s) = %v, want %v", claims, got, want)
		}
	}
	for _, tok := range []string{"", "abc", "a.b", "a.!!!.c"} {
		if a.cookieExpired(tok) {
			t.Errorf("cookieExpired(%q) = true", tok)
		}
	}
	tok := jwt(`{"iss":"https://auth.example","sub":"alice","aud":"api","exp":1899999000,"iat":1899998700,"jti":"` + strings.Repeat("j", 36) + `","scope":"read write"}`)
	if n := testing.AllocsPerRun(100, func() { a.cookieExpired(tok) }); n != 0 {
		t.Errorf("cookieExpired allocates %v times per call, want 0", n)
	}
}
