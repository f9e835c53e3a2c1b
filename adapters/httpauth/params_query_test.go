package httpauth_test

import (
	"net/url"
	"strings"
	"testing"
)

const (
	bodyInURL    = `{"error":"invalid_request","error_description":"credentials must be sent in the request body, never in the URL"}`
	bodyBadQuery = `{"error":"invalid_request","error_description":"malformed query string"}`
)

// Every parameter that carries a credential or decides a grant is refused
// in the query string of the token, revocation and introspection
// endpoints, even beside a valid body; other query parameters are not.
func TestCredentialParamsInQuery(t *testing.T) {
	f := newClientFx(t)
	good := "grant_type=password&username=alice&password=wonderland"
	names := []string{"grant_type", "username", "password", "refresh_token", "scope", "token", "token_type_hint",
		"access_token", "client_secret", "code", "code_verifier", "client_assertion", "client_assertion_type", "assertion"}
	for _, path := range []string{"/token", "/revoke", "/introspect"} {
		for _, name := range names {
			for _, q := range []string{url.QueryEscape(name) + "=x", "a=b&" + name + "=x", name} {
				r := f.do("POST", path+"?"+q, good, "Content-Type", formType)
				if r.status != 400 || r.body != bodyInURL {
					t.Errorf("POST %s?%s: %d %s, want 400 %s", path, q, r.status, r.body, bodyInURL)
				}
			}
		}
	}
	// A name escaped in the query is the same name.
	if r := f.do("POST", "/token?pass%77ord=x", good, "Content-Type", formType); r.status != 400 || r.body != bodyInURL {
		t.Errorf("escaped name: %d %s", r.status, r.body)
	}
	// A harmless query does not stand in the way.
	if r := f.do("POST", "/token?utm_source=x", good, "Content-Type", formType); r.status != 200 {
		t.Errorf("harmless query: %d %s", r.status, r.body)
	}
}

// A query string that does not parse is refused without being echoed:
// url.ParseQuery drops a pair holding ';' or a bad escape, so such a query
// could hide a credential.
func TestUnparsableQueryRefused(t *testing.T) {
	f := newFx(t, fxOptions{})
	good := "grant_type=password&username=alice&password=wonderland"
	// Without a client store the introspection endpoint authenticates its
	// caller before it reads the request.
	caller := bearer(f.login("bob", "introspect").AccessToken)
	for _, q := range []string{"password=secret;", "password=secret;x=1", "x=1;password=secret", "code=secret%zz", "a=%", "token=secret%g0"} {
		for _, path := range []string{"/token", "/revoke", "/introspect"} {
			hdr := []string{"Content-Type", formType}
			if path == "/introspect" {
				hdr = append(hdr, caller...)
			}
			r := f.do("POST", path+"?"+q, good, hdr...)
			if r.status != 400 || r.body != bodyBadQuery {
				t.Errorf("POST %s?%s: %d %s, want 400 %s", path, q, r.status, r.body, bodyBadQuery)
			}
			if strings.Contains(r.body, "secret") || strings.Contains(strings.Join(r.header.Values("Set-Cookie"), ""), "secret") {
				t.Errorf("POST %s?%s: the query is echoed: %s", path, q, r.body)
			}
		}
	}
}
