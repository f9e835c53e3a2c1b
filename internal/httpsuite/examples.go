package httpsuite

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"strings"
	"testing"
)

// CheckExample walks a program of examples/ through the steps its page in
// docs/frameworks shows with curl, against h on a real httptest server:
// log in as alice (password "wonderland") with scope orders:read, GET
// /api/me, be refused POST /api/orders (403 insufficient_scope: it needs
// orders:write), log in with orders:write and be admitted, refresh,
// revoke the refresh token, and be refused GET /api/me with the revoked
// session's access token. Without a token /api/me is a 401 challenge.
func CheckExample(t *testing.T, h http.Handler) {
	t.Helper()
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	call := func(method, path, token string, form url.Values) (int, http.Header, string) {
		t.Helper()
		var body io.Reader
		if form != nil {
			body = strings.NewReader(form.Encode())
		}
		req, err := http.NewRequest(method, srv.URL+path, body)
		if err != nil {
			t.Fatal(err)
		}
		if form != nil {
			req.Header.Set("Content-Type", formType)
		}
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		res, err := srv.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		b, err := io.ReadAll(res.Body)
		if err != nil {
			t.Fatal(err)
		}
		return res.StatusCode, res.Header, string(b)
	}
	login := func(scope string) tokens {
		t.Helper()
		status, _, body := call("POST", "/auth/token", "", url.Values{
			"grant_type": {"password"}, "username": {"alice"}, "password": {"wonderland"}, "scope": {scope}})
		var tk tokens
		if status != 200 || json.Unmarshal([]byte(body), &tk) != nil || tk.AccessToken == "" || tk.RefreshToken == "" || tk.Scope != scope {
			t.Fatalf("login with scope %s: %d %s", scope, status, body)
		}
		return tk
	}
	want := func(what string, status int, gotStatus int, gotBody, contains string) {
		t.Helper()
		if gotStatus != status || !strings.Contains(gotBody, contains) {
			t.Errorf("%s: %d %s, want %d with %s", what, gotStatus, gotBody, status, contains)
		}
	}

	status, hdr, body := call("GET", "/api/me", "", nil)
	want("no token", 401, status, body, `"error":"unauthorized"`)
	if got := strings.Join(hdr.Values("WWW-Authenticate"), "\n"); got != challengeNone {
		t.Errorf("no token: WWW-Authenticate %q", got)
	}
	status, _, body = call("POST", "/auth/token", "", url.Values{"grant_type": {"password"}, "username": {"alice"}, "password": {"guess"}})
	want("wrong password", 400, status, body, `"error":"invalid_grant"`)
	status, _, body = call("POST", "/auth/token", "", url.Values{"grant_type": {"password"}, "username": {"bob"}, "password": {"wonderland"}})
	want("another name with alice's password", 400, status, body, `"error":"invalid_grant"`)
	status, _, body = call("POST", "/auth/token", "", url.Values{"grant_type": {"password"}, "username": {"alice"}, "password": {"wonderland"}, "scope": {"admin"}})
	want("a scope the example does not grant", 400, status, body, `"error":"invalid_scope"`)

	reader := login("orders:read")
	status, _, body = call("GET", "/api/me", reader.AccessToken, nil)
	want("me", 200, status, body, `"subject":"alice"`)
	want("me", 200, status, body, `"scopes":["orders:read"]`)
	status, hdr, body = call("POST", "/api/orders", reader.AccessToken, nil)
	want("order without orders:write", 403, status, body, `"error":"insufficient_scope"`)
	if got := hdr.Values("WWW-Authenticate"); len(got) != 1 || !strings.HasSuffix(got[0], `scope="orders:write"`) {
		t.Errorf("order without orders:write: WWW-Authenticate %q", got)
	}
	writer := login("orders:write")
	status, _, body = call("POST", "/api/orders", writer.AccessToken, nil)
	want("order", 201, status, body, `"created_by":"alice"`)

	status, _, body = call("POST", "/auth/token", "", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {reader.RefreshToken}})
	var next tokens
	if status != 200 || json.Unmarshal([]byte(body), &next) != nil || next.AccessToken == "" || next.RefreshToken == reader.RefreshToken {
		t.Fatalf("refresh: %d %s", status, body)
	}
	status, _, body = call("GET", "/api/me", next.AccessToken, nil)
	want("me after refresh", 200, status, body, `"subject":"alice"`)
	status, _, body = call("POST", "/auth/revoke", "", url.Values{"token": {next.RefreshToken}})
	want("revoke", 200, status, body, "")
	status, _, body = call("GET", "/api/me", next.AccessToken, nil)
	want("me after revoke", 401, status, body, `"error_description":"token revoked"`)
	status, _, body = call("GET", "/api/me", writer.AccessToken, nil)
	want("another session", 200, status, body, `"subject":"alice"`)
}

// Markers around the program in a docs/frameworks page.
const (
	docBegin = "<!-- example:begin -->\n```go\n"
	docEnd   = "```\n<!-- example:end -->"
)

// CheckDocCopy checks that the Go code block of the page doc, between the
// lines "<!-- example:begin -->" + "```go" and "```" + "<!-- example:end
// -->", is the file src byte for byte, so that the page shows a program
// that compiles and passes its test.
func CheckDocCopy(t *testing.T, doc, src string) {
	t.Helper()
	page, err := os.ReadFile(doc)
	if err != nil {
		t.Fatal(err)
	}
	i, j := bytes.Index(page, []byte(docBegin)), bytes.Index(page, []byte(docEnd))
	if i < 0 || j < i {
		t.Fatalf("%s has no program between %q and %q", doc, docBegin, docEnd)
	}
	inDoc := page[i+len(docBegin) : j]
	code, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(inDoc, code) {
		got, want := strings.Split(string(inDoc), "\n"), strings.Split(string(code), "\n")
		n := 0
		for n < len(got) && n < len(want) && got[n] == want[n] {
			n++
		}
		line := func(ls []string) string {
			if n < len(ls) {
				return ls[n]
			}
			return "(end)"
		}
		t.Errorf("%s differs from %s at line %d of the program:\n  doc  %s\n  file %s\n(copy %s into the page)", doc, src, n+1, line(got), line(want), src)
	}
}
