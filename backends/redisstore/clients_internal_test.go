package redisstore

import (
	"errors"
	"testing"
	"time"

	"github.com/authkit-go/authkit"
)

// A code's metadata of version 3 carries SessionTTL, AccessTTL, UserAgent
// and IP; one of version 2 (without the last two) and one of version 1
// (without any), written before them, still read, with those zero; a
// negative or garbled lifetime is corruption.
func TestCodeMetaVersions(t *testing.T) {
	fields := func(m string) []any { return []any{"https://app.example/cb", "alice", m, "1", "2", "", ""} }
	in := authkit.AuthorizationCode{Scopes: []string{"read"}, Challenge: "ch", Claims: []byte(`{"a":1}`),
		SessionTTL: 30 * 24 * time.Hour, AccessTTL: 5*time.Minute + time.Microsecond, UserAgent: "Firefox", IP: "192.0.2.1"}
	got, err := decodeCode(authkit.TokenHash{}, "app", fields(encodeCodeMeta(in)))
	if err != nil || got.SessionTTL != in.SessionTTL || got.AccessTTL != in.AccessTTL || got.Challenge != "ch" || got.UserAgent != "Firefox" || got.IP != "192.0.2.1" {
		t.Errorf("a version 3 code read back as %+v, %v", got, err)
	}
	v2 := []byte{codeMetaVersion2}
	v2 = appendStrList(v2, in.Scopes)
	v2 = appendStr(v2, in.Challenge)
	v2 = appendStr(v2, string(in.Claims))
	v2 = appendStr(v2, "7")
	v2 = appendStr(v2, "8")
	got, err = decodeCode(authkit.TokenHash{}, "app", fields(string(v2)))
	if err != nil || got.SessionTTL != 7 || got.AccessTTL != 8 || got.UserAgent != "" || got.IP != "" || string(got.Claims) != `{"a":1}` {
		t.Errorf("a version 2 code read back as %+v, %v", got, err)
	}
	v1 := []byte{codeMetaVersion1}
	v1 = appendStrList(v1, in.Scopes)
	v1 = appendStr(v1, in.Challenge)
	v1 = appendStr(v1, string(in.Claims))
	got, err = decodeCode(authkit.TokenHash{}, "app", fields(string(v1)))
	if err != nil || got.SessionTTL != 0 || got.AccessTTL != 0 || got.Challenge != "ch" || string(got.Claims) != `{"a":1}` {
		t.Errorf("a version 1 code read back as %+v, %v", got, err)
	}
	for _, ttl := range []string{"-1", "x", ""} {
		bad := []byte{codeMetaVersion2}
		bad = appendStrList(bad, in.Scopes)
		bad = appendStr(bad, in.Challenge)
		bad = appendStr(bad, string(in.Claims))
		bad = appendStr(bad, ttl)
		bad = appendStr(bad, "0")
		if _, err := decodeCode(authkit.TokenHash{}, "app", fields(string(bad))); !errors.Is(err, errCorrupt) {
			t.Errorf("a code with SessionTTL %q read back with %v, want errCorrupt", ttl, err)
		}
	}
}
