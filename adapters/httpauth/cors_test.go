package httpauth_test

import (
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/authkit-go/authkit"
	"github.com/authkit-go/authkit/adapters/httpauth"
)

// WithCORSOrigins: a single-page app on a listed origin may call the token
// and revocation endpoints from script (found by an adoption test: the
// docs sent such apps to the authorization code grant, and no browser
// could reach /token); other origins, other endpoints and credentials are
// never allowed.
func TestCORSOrigins(t *testing.T) {
	const app = "https://app.example"
	f := newFx(t, fxOptions{handler: []httpauth.HandlerOption{httpauth.WithCORSOrigins(app, "capacitor://localhost")}})
	preflight := func(path, origin string) resp {
		return f.do("OPTIONS", path, "", "Origin", origin, "Access-Control-Request-Method", "POST", "Access-Control-Request-Headers", "content-type")
	}
	for _, path := range []string{"/token", "/revoke"} {
		r := preflight(path, app)
		h := r.header
		if r.status != http.StatusNoContent || h.Get("Access-Control-Allow-Origin") != app || h.Get("Access-Control-Allow-Methods") != "POST" ||
			!strings.EqualFold(h.Get("Access-Control-Allow-Headers"), "Content-Type") || h.Get("Access-Control-Allow-Credentials") != "" || !varies(h) {
			t.Errorf("preflight of %s from %s: %d %v", path, app, r.status, h)
		}
		if r := preflight(path, "CAPACITOR://localhost"); r.status != http.StatusNoContent || r.header.Get("Access-Control-Allow-Origin") != "CAPACITOR://localhost" {
			t.Errorf("preflight of %s from an app origin in another case: %d %v", path, r.status, r.header)
		}
		for _, other := range []string{"https://evil.example", "null", app + ".evil.example", "http://app.example"} {
			if r := preflight(path, other); r.status != http.StatusMethodNotAllowed || r.header.Get("Access-Control-Allow-Origin") != "" || !varies(r.header) {
				t.Errorf("preflight of %s from %s: %d %v, want 405 without CORS headers", path, other, r.status, r.header)
			}
		}
	}
	login := []string{"grant_type", "password", "username", "alice", "password", "wonderland"}
	r := f.form("/token", login, "Origin", app)
	if r.status != 200 || r.header.Get("Access-Control-Allow-Origin") != app || r.header.Get("Access-Control-Allow-Credentials") != "" || !varies(r.header) {
		t.Errorf("a token request from %s: %d %v", app, r.status, r.header)
	}
	// The app's script may read a 429's Retry-After (found by review).
	for i := 0; ; i++ {
		r := f.form("/token", []string{"grant_type", "password", "username", "mallory", "password", "nope"}, "Origin", app)
		if r.status == http.StatusTooManyRequests {
			if r.header.Get("Retry-After") == "" || !strings.Contains(r.header.Get("Access-Control-Expose-Headers"), "Retry-After") {
				t.Errorf("a 429 from %s: %v, want Retry-After exposed", app, r.header)
			}
			break
		}
		if i == 20 {
			t.Fatalf("no 429 after %d wrong passwords: %d %s", i, r.status, r.body)
		}
	}
	rt, _ := r.json(t)["refresh_token"].(string)
	at, _ := r.json(t)["access_token"].(string)
	if r := f.form("/token", login, "Origin", "https://evil.example"); r.status != 200 || r.header.Get("Access-Control-Allow-Origin") != "" {
		t.Errorf("a token request from another origin: %d %v, want answered, without CORS headers", r.status, r.header)
	}
	if r := f.form("/token", login, "Origin", app, "Origin", app); r.header.Get("Access-Control-Allow-Origin") != "" {
		t.Errorf("two Origin headers: %v, want no CORS headers", r.header)
	}
	if r := f.form("/revoke", []string{"token", rt}, "Origin", app); r.status != 200 || r.header.Get("Access-Control-Allow-Origin") != app {
		t.Errorf("a revocation from %s: %d %v", app, r.status, r.header)
	}
	// No other endpoint answers CORS.
	for _, path := range []string{"/introspect", "/logout-all", "/api-tokens", "/sessions", "/.well-known/jwks.json"} {
		if r := preflight(path, app); r.status == http.StatusNoContent || r.header.Get("Access-Control-Allow-Origin") != "" {
			t.Errorf("preflight of %s from %s: %d %v, want no CORS", path, app, r.status, r.header)
		}
	}
	if r := f.do("GET", "/sessions", "", append(bearer(at), "Origin", app)...); r.header.Get("Access-Control-Allow-Origin") != "" {
		t.Errorf("GET /sessions from %s: %v, want no CORS headers", app, r.header)
	}

	// Without the option nothing changes.
	g := newFx(t, fxOptions{})
	if r := g.do("OPTIONS", "/token", "", "Origin", app, "Access-Control-Request-Method", "POST"); r.status != http.StatusMethodNotAllowed || r.header.Get("Access-Control-Allow-Origin") != "" || varies(r.header) {
		t.Errorf("preflight without WithCORSOrigins: %d %v", r.status, r.header)
	}

	many := make([]string, 65)
	for i := range many {
		many[i] = fmt.Sprintf("https://a%d.example", i)
	}
	for what, opt := range map[string]httpauth.HandlerOption{
		"a path":         httpauth.WithCORSOrigins("https://app.example/"),
		"a wildcard":     httpauth.WithCORSOrigins("*"),
		"null":           httpauth.WithCORSOrigins("null"),
		"empty":          httpauth.WithCORSOrigins(""),
		"a file origin":  httpauth.WithCORSOrigins("file://x"),
		"65 origins":     httpauth.WithCORSOrigins(many...),
		"a query string": httpauth.WithCORSOrigins("https://app.example?x"),
		// Browsers leave the default port out of Origin: such an entry
		// would never match (found by review).
		"the default port":           httpauth.WithCORSOrigins("https://app.example:443"),
		"the default port, any case": httpauth.WithCORSOrigins("HTTP://app.example:80"),
		// Entries no browser's Origin can match were accepted and
		// matched nothing (found by review).
		"a wildcard host":      httpauth.WithCORSOrigins("https://*.example.com"),
		"a non-ASCII host":     httpauth.WithCORSOrigins("https://bücher.example"),
		"a colon without port": httpauth.WithCORSOrigins("https://app.example.com:"),
		"a port with a zero":   httpauth.WithCORSOrigins("https://app.example.com:0443"),
		"a port out of range":  httpauth.WithCORSOrigins("https://app.example:99999"),
		"port zero":            httpauth.WithCORSOrigins("https://app.example:0"),
		"a malformed IP":       httpauth.WithCORSOrigins("https://[::g]"),
		"an uncompressed IPv6": httpauth.WithCORSOrigins("http://[2001:db8:0::1]:8080"),
		"a dotted mapped IPv6": httpauth.WithCORSOrigins("http://[::ffff:127.0.0.1]"),
		"a hex IPv4":           httpauth.WithCORSOrigins("http://0x7f.1:5173"),
		"a zero-padded IPv4":   httpauth.WithCORSOrigins("http://127.000.000.001:5173"),
		"a short IPv4":         httpauth.WithCORSOrigins("http://127.1"),
	} {
		if _, err := httpauth.NewHandler(f.iss, f.auth, opt); !errors.Is(err, authkit.ErrInvalidConfig) {
			t.Errorf("WithCORSOrigins with %s: %v, want ErrInvalidConfig", what, err)
		}
	}
}

// varies reports whether h says the answer varies with Origin.
func varies(h http.Header) bool {
	for _, v := range h.Values("Vary") {
		for _, p := range strings.Split(v, ",") {
			if strings.EqualFold(strings.TrimSpace(p), "Origin") {
				return true
			}
		}
	}
	return false
}
