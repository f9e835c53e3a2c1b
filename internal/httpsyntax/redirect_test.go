package httpsyntax

import "testing"

func TestIsPort(t *testing.T) {
	for port, want := range map[string]bool{
		"1": true, "80": true, "8080": true, "65535": true,
		"": false, "0": false, "00": false, "080": false, "65536": false, "99999": false,
		"123456": false, "+80": false, "-1": false, "8o": false, " 80": false, "1e3": false,
	} {
		if got := IsPort(port); got != want {
			t.Errorf("IsPort(%q) = %v, want %v", port, got, want)
		}
	}
}

func TestLoopbackWithoutPort(t *testing.T) {
	for u, want := range map[string]string{
		"http://127.0.0.1/cb":        "http://127.0.0.1/cb",
		"http://127.0.0.1:51004/cb":  "http://127.0.0.1/cb",
		"http://127.8.9.10:1?x=1":    "http://127.8.9.10?x=1",
		"http://[::1]:8080/cb":       "http://[::1]/cb",
		"http://[0:0::1]/cb":         "http://[0:0::1]/cb",
		"http://127.0.0.1:65535":     "http://127.0.0.1",
		"http://127.0.0.1:0/cb":      "",
		"http://127.0.0.1:080/cb":    "",
		"http://127.0.0.1:65536/cb":  "",
		"http://127.0.0.1:+80/cb":    "",
		"http://[::ffff:127.0.0.1]/": "",
		"http://::1/cb":              "",
		"http://::1:8080/cb":         "", // an IPv6 literal unbracketed
		"http://[::1%25lo]:8080/cb":  "", // a zone on loopback
		"http://[::1%lo]/cb":         "",
		"http://[fe80::1%25lo]/cb":   "",
		"http://localhost:8080/cb":   "",
		"http://10.0.0.1/cb":         "",
		"http://0177.0.0.1/cb":       "",
		"https://127.0.0.1/cb":       "",
	} {
		got, ok := LoopbackWithoutPort(u)
		if ok != (want != "") || got != want {
			t.Errorf("LoopbackWithoutPort(%q) = %q, %v; want %q", u, got, ok, want)
		}
	}
}
