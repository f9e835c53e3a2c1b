package httpsyntax

import (
	"strings"
	"testing"

	"github.com/authkit-go/authkit/internal/opaque"
)

func TestLogPath(t *testing.T) {
	api, err := opaque.New("ak", opaque.KindAPI)
	if err != nil {
		t.Fatal(err)
	}
	refresh, err := opaque.NewRefresh("zz", "0f0e0d0c-0b0a-4908-8706-050403020100")
	if err != nil {
		t.Fatal(err)
	}
	jwt := "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJhIn0.c2lnbmF0dXJl"
	for in, want := range map[string]string{
		"/me": "/me",
		"/sessions/0f0e0d0c-0b0a-4908-8706-050403020100": "/sessions/0f0e0d0c-0b0a-4908-8706-050403020100",
		"/api-tokens/" + api:                             "/api-tokens/[redacted]",
		"/api-tokens/" + api[:len(api)-1]:                "/api-tokens/[redacted]", // damaged
		"/x/" + refresh + "/y":                           "/x/[redacted]/y",
		"/me/" + jwt:                                     "/me/[redacted]",
		"/" + jwt + "/" + api:                            "/[redacted]/[redacted]",
		"/eyJ-but-no-token":                              "/eyJ-but-no-token",
		"/" + strings.Repeat("a/", 200):                  "/" + strings.Repeat("a/", 127) + "a…",
	} {
		if got := LogPath(in); got != want {
			t.Errorf("LogPath(%.60q) = %.80q, want %.80q", in, got, want)
		}
	}
	if n := testing.AllocsPerRun(100, func() { _ = LogPath("/sessions/0f0e0d0c-0b0a-4908-8706-050403020100") }); n != 0 {
		t.Errorf("LogPath of a path it keeps allocates %v times", n)
	}
}
