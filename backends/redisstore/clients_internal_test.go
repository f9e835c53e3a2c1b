package redisstore

import (
	"errors"
	"testing"
	"time"

	"github.com/authkit-go/authkit"
)

// A code's metadata of version 2 carries SessionTTL and AccessTTL; one of
// version 1, written before them, still reads (with both zero); a
// negative or garbled lifetime is corruption.
func TestCodeMetaVersions(t *testing.T) {
	fields := func(m string) []any { return []any{"https://app.example/cb", "alice", m, "1", "2", "", "", "", ""} }
	in := authkit.AuthorizationCode{Scopes: []string{"read"}, Challenge: "ch", Claims: []byte(`{"a":1}`),
		SessionTTL: 30 * 24 * time.Hour, AccessTTL: 5*time.Minute + time.Microsecond}
	got, err := decodeCode(authkit.TokenHash{}, "app", fields(encodeCodeMeta(in)))
	if err != nil || got.SessionTTL != in.SessionTTL || got.AccessTTL != in.AccessTTL || got.Challenge != "ch" {
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
		bad := []byte{codeMetaVersion}
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
