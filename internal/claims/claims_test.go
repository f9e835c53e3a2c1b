package claims

import (
	"encoding/json"
	"testing"
	"time"
)

func TestAppendParseRoundTrip(t *testing.T) {
	iat := time.Date(2030, 1, 2, 3, 4, 5, 123_456_789, time.UTC)
	f := Fields{
		Issuer:    "https://issuer.example",
		Subject:   "ユーザー \"quoted\" \\ \n\t\x01",
		Audience:  []string{"api", "admin"},
		ExpiresAt: iat.Add(5 * time.Minute),
		IssuedAt:  iat,
		TokenID:   "jti-1",
		ClientID:  "cli",
		Scopes:    []string{"read", "write"},
		SessionID: "sid-1",
		Extra:     []byte(`{"org":"acme","n":3}`),
	}
	b := Append(nil, f)
	if !json.Valid(b) {
		t.Fatalf("Append wrote invalid JSON: %s", b)
	}
	var c Claims
	if err := Parse(b, &c); err != nil {
		t.Fatalf("Parse: %v (%s)", err, b)
	}
	if c.Issuer != f.Issuer || c.Subject != f.Subject || c.TokenID != f.TokenID || c.ClientID != f.ClientID || c.SessionID != f.SessionID {
		t.Errorf("strings differ: %+v", c)
	}
	if !c.IssuedAt.Equal(iat.Truncate(time.Millisecond)) {
		t.Errorf("iat %v, want millisecond precision %v", c.IssuedAt, iat.Truncate(time.Millisecond))
	}
	if !c.ExpiresAt.Equal(f.ExpiresAt.Truncate(time.Second)) || !c.NotBefore.Equal(iat.Truncate(time.Second)) {
		t.Errorf("exp %v nbf %v", c.ExpiresAt, c.NotBefore)
	}
	if !c.HasAudience([]string{"x", "admin"}) || c.HasAudience([]string{"Admin"}) {
		t.Error("HasAudience wrong")
	}
	if s := c.Scopes(); len(s) != 2 || s[0] != "read" || s[1] != "write" {
		t.Errorf("scopes %q", s)
	}
	if c.Extra["org"] != "acme" || c.Extra["n"] != float64(3) || len(c.Extra) != 2 {
		t.Errorf("extra %v", c.Extra)
	}
}

func TestParseRejects(t *testing.T) {
	for name, in := range map[string]string{
		"duplicate":       `{"sub":"a","sub":"b"}`,
		"case variant":    `{"exp":1,"EXP":2}`,
		"exp string":      `{"exp":"1"}`,
		"negative exp":    `{"exp":-1}`,
		"huge exp":        `{"exp":1e300}`,
		"sub number":      `{"sub":1}`,
		"aud number":      `{"aud":1}`,
		"aud empty array": `{"aud":[]}`,
		"aud mixed":       `{"aud":["a",1]}`,
		"bad utf8":        "{\"sub\":\"\xff\"}",
		"not object":      `["sub"]`,
		"trailing":        `{"sub":"a"} x`,
	} {
		var c Claims
		if err := Parse([]byte(in), &c); err == nil {
			t.Errorf("%s: accepted %s", name, in)
		}
	}
}

func TestAppendMillis(t *testing.T) {
	for _, tc := range []struct {
		t    time.Time
		want string
	}{
		{time.Unix(100, 0), "100"},
		{time.Unix(100, 5_000_000), "100.005"},
		{time.Unix(100, 999_999_999), "100.999"},
		{time.Unix(100, 120_000_000), "100.120"},
	} {
		if got := string(AppendMillis(nil, tc.t)); got != tc.want {
			t.Errorf("AppendMillis(%v) = %s, want %s", tc.t, got, tc.want)
		}
	}
}

func TestIsAccessTokenType(t *testing.T) {
	for typ, want := range map[string]bool{"at+jwt": true, "AT+JWT": true, "application/at+jwt": true, "JWT": false, "": false} {
		if IsAccessTokenType(typ) != want {
			t.Errorf("IsAccessTokenType(%q) != %v", typ, want)
		}
	}
}
