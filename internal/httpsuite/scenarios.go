package httpsuite

import (
	"context"
	"encoding/base64"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/authkit-go/authkit"
	"github.com/authkit-go/authkit/adapters/httpauth"
	"github.com/authkit-go/authkit/verifier"
	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"
)

// The answers the scenarios expect, spelled out (RFC 6750 §3, RFC 6749
// §5.2): these are the contract, not whatever one framework happened to
// send. The verifier accepts Bearer and then Token, so a 401 or 400 has two
// WWW-Authenticate fields (separated by "\n" here), the error attributes on
// the challenge of the scheme the credential came under; a 403 has that
// scheme's challenge alone.
const (
	challengeNone         = `Bearer realm="authkit"` + "\n" + `Token realm="authkit"`
	challengeInvalid      = `Bearer realm="authkit", error="invalid_token", error_description="token invalid"` + "\n" + `Token realm="authkit"`
	challengeExpired      = `Bearer realm="authkit", error="invalid_token", error_description="token expired"` + "\n" + `Token realm="authkit"`
	challengeRevoked      = `Bearer realm="authkit", error="invalid_token", error_description="token revoked"` + "\n" + `Token realm="authkit"`
	challengeBadReq       = `Bearer realm="authkit", error="invalid_request", error_description="malformed credentials"` + "\n" + `Token realm="authkit"`
	challengeScope        = `Bearer realm="authkit", error="insufficient_scope", error_description="token lacks a required scope", scope="`
	challengeAPIOnly      = `Bearer realm="authkit", error="insufficient_scope", error_description="an API token cannot be used here"`
	challengeTokenInvalid = `Bearer realm="authkit"` + "\n" + `Token realm="authkit", error="invalid_token", error_description="token invalid"`
	challengeTokenBadReq  = `Bearer realm="authkit"` + "\n" + `Token realm="authkit", error="invalid_request", error_description="malformed credentials"`
	challengeTokenScope   = `Token realm="authkit", error="insufficient_scope", error_description="token lacks a required scope", scope="`

	bodyUnauthorized = `{"error":"unauthorized","error_description":"authentication required"}`
	bodyInvalid      = `{"error":"invalid_token","error_description":"token invalid"}`
	bodyExpired      = `{"error":"invalid_token","error_description":"token expired"}`
	bodyRevoked      = `{"error":"invalid_token","error_description":"token revoked"}`
	bodyBadReq       = `{"error":"invalid_request","error_description":"malformed credentials"}`
	bodyScope        = `{"error":"insufficient_scope","error_description":"token lacks a required scope"}`
	bodyAPIOnly      = `{"error":"insufficient_scope","error_description":"an API token cannot be used here"}`
	bodyUnavailable  = `{"error":"temporarily_unavailable","error_description":"the authentication service is temporarily unavailable"}`
	bodyBadGrant     = `{"error":"invalid_grant","error_description":"the refresh token is invalid, expired, revoked or issued to another client"}`
	bodyBadPassword  = `{"error":"invalid_grant","error_description":"invalid username or password"}`
	bodyMethod       = `{"error":"method_not_allowed","error_description":"method not allowed"}`
)

type scenario struct {
	name string
	run  func(c *client)
}

// scenarios run in this order; each gets a fresh fixture.
var scenarios = []scenario{
	{"no credential", noCredential},
	{"bad signature", badSignature},
	{"expired", expired},
	{"revoked", revoked},
	{"wrong scope", wrongScope},
	{"optional", optional},
	{"DRF Token scheme", drfTokenScheme},
	{"API token", apiToken},
	{"password grant", passwordGrant},
	{"refresh", refresh},
	{"refresh token reuse", refreshReuse},
	{"revoke", revoke},
	{"introspect", introspect},
	{"JWKS", jwks},
	{"sessions", sessions},
	{"API tokens", apiTokens},
	{"malformed and oversized headers", malformedHeaders},
	{"methods", methods},
	{"store down", storeDown},
	{"client authentication", clientAuthentication},
	{"OAuth 2.0 clients (golang.org/x/oauth2)", oauth2Clients},
}

func noCredential(c *client) {
	for _, p := range []string{MePath, AdminPath, AnyPath, AllPath, Prefix + "/sessions", Prefix + "/api-tokens"} {
		c.expect(c.get(p), 401, challengeNone, bodyUnauthorized)
	}
	r := c.form(Prefix+"/introspect", []string{"token", "whatever-token"})
	c.expect(r, 401, challengeNone, bodyUnauthorized)
	c.expectHeader(r, "Cache-Control", "no-store")
	// A scheme that is not configured is no credential either.
	c.expect(c.get(MePath, "Authorization", "Basic YWxpY2U6d29uZGVybGFuZA=="), 401, challengeNone, bodyUnauthorized)
}

// tamper changes one character in the middle of the signature, keeping
// the token well-formed base64url.
func tamper(c *client, tok string) string {
	i := strings.LastIndexByte(tok, '.') + 5
	b := []byte(tok)
	if b[i] == 'A' {
		b[i] = 'B'
	} else {
		b[i] = 'A'
	}
	out := string(b)
	c.m.name("tampered", out)
	return out
}

func badSignature(c *client) {
	tk := c.login("alice", ReadScope)
	bad := tamper(c, tk.AccessToken)
	c.expect(c.get(MePath, bearer(bad)...), 401, challengeInvalid, bodyInvalid)
	c.expect(c.get(MaybePath, bearer(bad)...), 401, challengeInvalid, bodyInvalid)
	c.expect(c.get(AnyPath, bearer(bad)...), 401, challengeInvalid, bodyInvalid)
	c.expect(c.get(MePath, bearer("not-a-token")...), 401, challengeInvalid, bodyInvalid)
}

func expired(c *client) {
	tk := c.login("alice", ReadScope)
	c.expect(c.get(MePath, bearer(tk.AccessToken)...), 200, "", `{"subject":"alice","method":"jwt","scopes":["read"]}`)
	c.advance(6 * time.Minute) // access TTL 5 minutes, leeway 30 seconds
	r := c.get(MePath, bearer(tk.AccessToken)...)
	c.expect(r, 401, challengeExpired, bodyExpired)
	c.expectHeader(r, "Cache-Control", "no-store")
	c.expectHeader(r, "Content-Type", "application/json")
	c.expect(c.get(AdminPath, bearer(tk.AccessToken)...), 401, challengeExpired, bodyExpired)
}

func revoked(c *client) {
	tk := c.login("alice", ReadScope)
	c.expect(c.form(Prefix+"/revoke", []string{"token", tk.AccessToken, "token_type_hint", "access_token"}), 200, "", "")
	c.expect(c.get(MePath, bearer(tk.AccessToken)...), 401, challengeRevoked, bodyRevoked)
	c.expect(c.get(AnyPath, bearer(tk.AccessToken)...), 401, challengeRevoked, bodyRevoked)
	// The session's refresh token still works: only that access token died.
	r := c.refresh(tk.RefreshToken)
	c.expectStatus(r, 200, "")
	var next tokens
	c.decode(r, &next)
	c.expect(c.get(MePath, bearer(next.AccessToken)...), 200, "", `{"subject":"alice","method":"jwt","scopes":["read"]}`)
}

func wrongScope(c *client) {
	alice := c.login("alice", ReadScope)
	c.expect(c.get(AdminPath, bearer(alice.AccessToken)...), 403, challengeScope+`admin"`, bodyScope)
	c.expect(c.get(AnyPath, bearer(alice.AccessToken)...), 200, "", `{"subject":"alice","method":"jwt","scopes":["read"]}`)
	bob := c.login("bob", "")
	c.expect(c.get(AnyPath, bearer(bob.AccessToken)...), 403, challengeScope+`read admin"`, bodyScope)
	c.expect(c.get(AdminPath, bearer(bob.AccessToken)...), 403, challengeScope+`admin"`, bodyScope)
	carol := c.login("carol", AdminScope)
	c.expect(c.get(AdminPath, bearer(carol.AccessToken)...), 200, "", `{"subject":"carol","method":"jwt","scopes":["admin"]}`)
	c.expect(c.get(AnyPath, bearer(carol.AccessToken)...), 200, "", `{"subject":"carol","method":"jwt","scopes":["admin"]}`)
	// RequireScopes wants every one of its scopes: one of two is not
	// enough (an all-of check turned any-of passed every scenario before).
	c.expect(c.get(AllPath, bearer(alice.AccessToken)...), 403, challengeScope+`read admin"`, bodyScope)
	c.expect(c.get(AllPath, bearer(carol.AccessToken)...), 403, challengeScope+`read admin"`, bodyScope)
	c.expect(c.get(AllPath, bearer(bob.AccessToken)...), 403, challengeScope+`read admin"`, bodyScope)
	both := c.login("alice", ReadScope+" "+AdminScope)
	c.expect(c.get(AllPath, bearer(both.AccessToken)...), 200, "", `{"subject":"alice","method":"jwt","scopes":["read","admin"]}`)
}

func optional(c *client) {
	c.expect(c.get(MaybePath), 200, "", `{"anonymous":true}`)
	tk := c.login("bob", "")
	c.expect(c.get(MaybePath, bearer(tk.AccessToken)...), 200, "", `{"subject":"bob","method":"jwt","scopes":[]}`)
	c.advance(6 * time.Minute)
	c.expect(c.get(MaybePath, bearer(tk.AccessToken)...), 401, challengeExpired, bodyExpired)
}

func drfTokenScheme(c *client) {
	tk := c.login("alice", ReadScope)
	hdr := []string{"Authorization", "Token " + tk.AccessToken}
	c.expect(c.get(MePath, hdr...), 200, "", `{"subject":"alice","method":"jwt","scopes":["read"]}`)
	// The error attributes go on the Token challenge: the credential came
	// under Token.
	c.expect(c.get(AdminPath, hdr...), 403, challengeTokenScope+`admin"`, bodyScope)
	c.expect(c.get(MePath, "Authorization", "token "+tk.AccessToken), 200, "", `{"subject":"alice","method":"jwt","scopes":["read"]}`)
	c.expect(c.get(MePath, "Authorization", "Token "+tamper(c, tk.AccessToken)), 401, challengeTokenInvalid, bodyInvalid)
	c.expect(c.get(MePath, "Authorization", "Token a b"), 400, challengeTokenBadReq, bodyBadReq)
}

func apiToken(c *client) {
	tk := c.login("alice", ReadScope)
	r := c.postJSON(Prefix+"/api-tokens", `{"name":"ci","scopes":["read"]}`, bearer(tk.AccessToken)...)
	c.expectStatus(r, 201, "")
	c.expectHeader(r, "Cache-Control", "no-store")
	var created struct {
		Token   string   `json:"token"`
		ID      string   `json:"id"`
		Subject string   `json:"subject"`
		Name    string   `json:"name"`
		Scopes  []string `json:"scopes"`
	}
	c.decode(r, &created)
	if !strings.HasPrefix(created.Token, "ak_") || created.ID == "" || created.Subject != "alice" || created.Name != "ci" || len(created.Scopes) != 1 || created.Scopes[0] != ReadScope {
		c.t.Errorf("created API token: %s", r.body)
	}
	c.expect(c.get(MePath, bearer(created.Token)...), 200, "", `{"subject":"alice","method":"api_token","scopes":["read"]}`)
	c.expect(c.get(MePath, "Authorization", "Token "+created.Token), 200, "", `{"subject":"alice","method":"api_token","scopes":["read"]}`)
	c.expect(c.get(AdminPath, bearer(created.Token)...), 403, challengeScope+`admin"`, bodyScope)
	// An API token cannot manage credentials.
	c.expect(c.get(Prefix+"/sessions", bearer(created.Token)...), 403, challengeAPIOnly, bodyAPIOnly)
	c.expect(c.postJSON(Prefix+"/api-tokens", `{"name":"more"}`, bearer(created.Token)...), 403, challengeAPIOnly, bodyAPIOnly)
	// A new token never holds more than its creator.
	c.expect(c.postJSON(Prefix+"/api-tokens", `{"name":"root","scopes":["admin"]}`, bearer(tk.AccessToken)...), 403, challengeScope+`admin"`, bodyScope)
	// A wrong secret with a valid form.
	wrong := created.Token[:len(created.Token)-4] + "AAAA"
	c.m.name("wrong", wrong)
	c.expect(c.get(MePath, bearer(wrong)...), 401, challengeInvalid, bodyInvalid)
}

func passwordGrant(c *client) {
	r := c.form(Prefix+"/token", []string{"grant_type", "password", "username", "alice", "password", "wonderland", "scope", "read"})
	c.expectStatus(r, 200, "")
	c.expectHeader(r, "Cache-Control", "no-store")
	c.expectHeader(r, "Pragma", "no-cache")
	c.expectHeader(r, "Content-Type", "application/json")
	var tk tokens
	c.decode(r, &tk)
	if tk.TokenType != "Bearer" || tk.ExpiresIn != 300 || tk.Scope != ReadScope || !strings.HasPrefix(tk.RefreshToken, "akrt_") || strings.Count(tk.AccessToken, ".") != 2 {
		c.t.Errorf("token response %s", r.body)
	}
	c.expect(c.get(MePath, bearer(tk.AccessToken)...), 200, "", `{"subject":"alice","method":"jwt","scopes":["read"]}`)
	// The JSON extension for simplejwt clients.
	r = c.postJSON(Prefix+"/token", `{"grant_type":"password","username":"carol","password":"singer"}`)
	c.expectStatus(r, 200, "")
	c.decode(r, &tk)
	c.expect(c.get(MePath, bearer(tk.AccessToken)...), 200, "", `{"subject":"carol","method":"jwt","scopes":[]}`)

	r = c.form(Prefix+"/token", []string{"grant_type", "password", "username", "alice", "password", "guess"})
	c.expect(r, 400, "", bodyBadPassword)
	c.expectHeader(r, "Cache-Control", "no-store")
	c.expect(c.form(Prefix+"/token", []string{"grant_type", "password", "username", "mallory", "password", "guess"}), 400, "", bodyBadPassword)
	c.expect(c.form(Prefix+"/token", []string{"username", "alice", "password", "wonderland"}), 400, "",
		`{"error":"invalid_request","error_description":"grant_type is required"}`)
	c.expect(c.form(Prefix+"/token", []string{"grant_type", "urn:ietf:params:oauth:grant-type:device_code"}), 400, "",
		`{"error":"unsupported_grant_type","error_description":"unsupported grant_type"}`)
	c.expect(c.form(Prefix+"/token", []string{"grant_type", "password", "username", "alice", "password", "wonderland", "scope", "root"}), 400, "",
		`{"error":"invalid_scope","error_description":"the requested scope is invalid or not granted"}`)
	c.expect(c.do(http.MethodPost, Prefix+"/token", "grant_type=password", "Content-Type", "text/plain"), 400, "",
		`{"error":"invalid_request","error_description":"the body must be application/x-www-form-urlencoded or application/json"}`)
}

func refresh(c *client) {
	tk := c.login("alice", ReadScope+" "+AdminScope)
	c.advance(time.Minute)
	r := c.refresh(tk.RefreshToken)
	c.expectStatus(r, 200, "")
	c.expectHeader(r, "Cache-Control", "no-store")
	var next tokens
	c.decode(r, &next)
	if next.RefreshToken == tk.RefreshToken || next.AccessToken == tk.AccessToken || next.Scope != "read admin" {
		c.t.Errorf("refresh response %s", r.body)
	}
	c.expect(c.get(AdminPath, bearer(next.AccessToken)...), 200, "", `{"subject":"alice","method":"jwt","scopes":["read","admin"]}`)
	// A refresh may narrow the scopes (RFC 6749 §6), never widen them.
	r = c.form(Prefix+"/token", []string{"grant_type", "refresh_token", "refresh_token", next.RefreshToken, "scope", ReadScope})
	c.expectStatus(r, 200, "")
	c.decode(r, &next)
	c.expect(c.get(AdminPath, bearer(next.AccessToken)...), 403, challengeScope+`admin"`, bodyScope)
	c.expect(c.refresh("akrt_not-a-real-token"), 400, "", bodyBadGrant)
	c.expect(c.form(Prefix+"/token", []string{"grant_type", "refresh_token"}), 400, "",
		`{"error":"invalid_request","error_description":"refresh_token is required"}`)
}

func refreshReuse(c *client) {
	first := c.login("alice", ReadScope)
	r := c.refresh(first.RefreshToken)
	c.expectStatus(r, 200, "")
	var second tokens
	c.decode(r, &second)
	c.expect(c.get(MePath, bearer(second.AccessToken)...), 200, "", `{"subject":"alice","method":"jwt","scopes":["read"]}`)
	// The rotated token comes back: the whole family is revoked.
	c.expect(c.refresh(first.RefreshToken), 400, "", bodyBadGrant)
	c.expect(c.refresh(second.RefreshToken), 400, "", bodyBadGrant)
	c.expect(c.get(MePath, bearer(second.AccessToken)...), 401, challengeRevoked, bodyRevoked)
	c.expect(c.get(MePath, bearer(first.AccessToken)...), 401, challengeRevoked, bodyRevoked)
}

func revoke(c *client) {
	tk := c.login("alice", ReadScope)
	r := c.form(Prefix+"/revoke", []string{"token", tk.RefreshToken, "token_type_hint", "refresh_token"})
	c.expect(r, 200, "", "")
	c.expectHeader(r, "Cache-Control", "no-store")
	c.expect(c.refresh(tk.RefreshToken), 400, "", bodyBadGrant)
	c.expect(c.get(MePath, bearer(tk.AccessToken)...), 401, challengeRevoked, bodyRevoked)
	// RFC 7009 §2.2: an unknown or repeated token is no error.
	c.expect(c.form(Prefix+"/revoke", []string{"token", tk.RefreshToken}), 200, "", "")
	c.expect(c.form(Prefix+"/revoke", []string{"token", "no-such-token"}), 200, "", "")
	c.expect(c.form(Prefix+"/revoke", nil), 400, "", `{"error":"invalid_request","error_description":"token is required"}`)
	c.expect(c.form(Prefix+"/revoke?token=x", []string{"token", "no-such-token"}), 400, "",
		`{"error":"invalid_request","error_description":"credentials must be sent in the request body, never in the URL"}`)
}

func introspect(c *client) {
	alice := c.login("alice", ReadScope)
	c.advance(time.Second)
	carol := c.login("carol", "introspect")
	r := c.form(Prefix+"/introspect", []string{"token", alice.AccessToken}, bearer(carol.AccessToken)...)
	c.expectStatus(r, 200, "")
	c.expectHeader(r, "Cache-Control", "no-store")
	var got struct {
		Active bool   `json:"active"`
		Sub    string `json:"sub"`
		Scope  string `json:"scope"`
		Kind   string `json:"authkit_token_kind"`
	}
	c.decode(r, &got)
	if !got.Active || got.Sub != "alice" || got.Scope != ReadScope || got.Kind != "access_token" {
		c.t.Errorf("introspection %s", r.body)
	}
	r = c.form(Prefix+"/introspect", []string{"token", alice.RefreshToken, "token_type_hint", "refresh_token"}, bearer(carol.AccessToken)...)
	c.expectStatus(r, 200, "")
	c.decode(r, &got)
	if !got.Active || got.Sub != "alice" || got.Kind != "refresh_token" {
		c.t.Errorf("introspection %s", r.body)
	}
	c.expect(c.form(Prefix+"/introspect", []string{"token", "garbage"}, bearer(carol.AccessToken)...), 200, "", `{"active":false}`)
	c.advance(6 * time.Minute) // alice's access token expires; carol's too
	carol = c.login("carol", "introspect")
	c.expect(c.form(Prefix+"/introspect", []string{"token", alice.AccessToken}, bearer(carol.AccessToken)...), 200, "", `{"active":false}`)
	// The caller needs the introspect scope.
	alice = c.login("alice", ReadScope)
	c.expect(c.form(Prefix+"/introspect", []string{"token", carol.AccessToken}, bearer(alice.AccessToken)...), 403, challengeScope+`introspect"`, bodyScope)
}

func jwks(c *client) {
	r := c.get(Prefix + "/.well-known/jwks.json")
	c.expectStatus(r, 200, "")
	c.expectHeader(r, "Content-Type", "application/jwk-set+json")
	c.expectHeader(r, "Cache-Control", "public, max-age=300")
	want, err := c.f.env.Issuer.JWKS()
	if err != nil {
		c.t.Fatal(err)
	}
	if r.body != string(want) || !strings.Contains(r.body, `"kid":"`+keyID+`"`) || !strings.Contains(r.body, `"kty":"OKP"`) || strings.Contains(r.body, `"d":`) {
		c.t.Errorf("JWKS %s, want the public key set %s", r.body, want)
	}
	etag := r.header.Get("ETag")
	if etag == "" {
		c.t.Fatal("no ETag")
	}
	r = c.get(Prefix+"/.well-known/jwks.json", "If-None-Match", etag)
	c.expect(r, 304, "", "")
	c.expectHeader(r, "ETag", etag)
	r = c.do(http.MethodHead, Prefix+"/.well-known/jwks.json", "")
	c.expect(r, 200, "", "")
	c.expectHeader(r, "Content-Type", "application/jwk-set+json")
	r = c.do(http.MethodPost, Prefix+"/.well-known/jwks.json", "")
	c.expect(r, 405, "", bodyMethod)
	c.expectHeader(r, "Allow", "GET, HEAD")
}

func sessions(c *client) {
	first := c.login("alice", ReadScope)
	c.advance(time.Second)
	second := c.login("alice", "")
	r := c.get(Prefix+"/sessions", bearer(second.AccessToken)...)
	c.expectStatus(r, 200, "")
	c.expectHeader(r, "Cache-Control", "no-store")
	type view struct {
		ID      string `json:"id"`
		Subject string `json:"subject"`
		Current bool   `json:"current"`
	}
	var list struct {
		Sessions []view `json:"sessions"`
	}
	c.decode(r, &list)
	if len(list.Sessions) != 2 || !list.Sessions[0].Current || list.Sessions[1].Current || list.Sessions[1].Subject != "alice" {
		c.t.Fatalf("sessions %s", r.body)
	}
	// One session: the caller's own, as in the listing; not another
	// user's (the same 404 as an unknown ID).
	var one view
	r = c.get(Prefix+"/sessions/"+escapeAll(list.Sessions[0].ID), bearer(second.AccessToken)...)
	c.expectStatus(r, 200, "")
	c.expectHeader(r, "Cache-Control", "no-store")
	if c.decode(r, &one); one.ID != list.Sessions[0].ID || !one.Current || one.Subject != "alice" {
		c.t.Errorf("GET of the caller's current session: %s", r.body)
	}
	c.decode(c.get(Prefix+"/sessions/"+list.Sessions[1].ID, bearer(second.AccessToken)...), &one)
	if one.ID != list.Sessions[1].ID || one.Current {
		c.t.Errorf("GET of the caller's other session: %+v", one)
	}
	stranger := c.login("carol", "")
	c.expect(c.get(Prefix+"/sessions/"+list.Sessions[1].ID, bearer(stranger.AccessToken)...), 404, "",
		`{"error":"not_found","error_description":"no such session"}`)
	// The ID with a percent-encoded byte is the same ID, as net/http
	// decodes it (chi and echo route on the escaped path).
	c.expect(c.do(http.MethodDelete, Prefix+"/sessions/"+escapeAll(list.Sessions[1].ID), "", bearer(second.AccessToken)...), 204, "", "")
	c.expect(c.get(Prefix+"/sessions/"+list.Sessions[1].ID, bearer(second.AccessToken)...), 404, "",
		`{"error":"not_found","error_description":"no such session"}`)
	c.expect(c.get(MePath, bearer(first.AccessToken)...), 401, challengeRevoked, bodyRevoked)
	c.expect(c.refresh(first.RefreshToken), 400, "", bodyBadGrant)
	c.decode(c.get(Prefix+"/sessions", bearer(second.AccessToken)...), &list)
	if len(list.Sessions) != 1 {
		c.t.Errorf("after a delete: %d sessions", len(list.Sessions))
	}
	c.expect(c.do(http.MethodDelete, Prefix+"/sessions/"+list.Sessions[0].ID+"x", "", bearer(second.AccessToken)...), 404, "",
		`{"error":"not_found","error_description":"no such session"}`)
	// Another user's session is not found either.
	bob := c.login("bob", "")
	c.expect(c.do(http.MethodDelete, Prefix+"/sessions/"+list.Sessions[0].ID, "", bearer(bob.AccessToken)...), 404, "",
		`{"error":"not_found","error_description":"no such session"}`)
	c.expect(c.do(http.MethodPost, Prefix+"/logout-all", "", bearer(second.AccessToken)...), 204, "", "")
	c.expect(c.get(MePath, bearer(second.AccessToken)...), 401, challengeRevoked, bodyRevoked)
	c.expect(c.get(MePath, bearer(bob.AccessToken)...), 200, "", `{"subject":"bob","method":"jwt","scopes":[]}`)
}

func apiTokens(c *client) {
	tk := c.login("alice", ReadScope)
	auth := bearer(tk.AccessToken)
	c.expect(c.get(Prefix+"/api-tokens", auth...), 200, "", `{"api_tokens":[]}`)
	var one, two struct {
		Token string `json:"token"`
		ID    string `json:"id"`
	}
	c.decode(c.postJSON(Prefix+"/api-tokens", `{"name":"laptop","scopes":["read"],"expires_in":86400}`, auth...), &one)
	c.advance(time.Second)
	c.decode(c.postJSON(Prefix+"/api-tokens", `{"name":"ci"}`, auth...), &two)
	r := c.get(Prefix+"/api-tokens", auth...)
	c.expectStatus(r, 200, "")
	if strings.Count(r.body, `"id":`) != 2 || strings.Contains(r.body, one.Token) || strings.Contains(r.body, two.Token) || strings.Contains(r.body, `"token"`) {
		c.t.Errorf("a listing shows both tokens, never their secrets: %s", r.body)
	}
	c.expect(c.get(MePath, bearer(one.Token)...), 200, "", `{"subject":"alice","method":"api_token","scopes":["read"]}`)
	// One token: the caller's own, as in the listing, never its secret;
	// not another user's (the same 404 as an unknown ID).
	r = c.get(Prefix+"/api-tokens/"+escapeAll(one.ID), auth...)
	c.expectStatus(r, 200, "")
	c.expectHeader(r, "Cache-Control", "no-store")
	if !strings.Contains(r.body, `"id":"`+one.ID+`"`) || !strings.Contains(r.body, `"name":"laptop"`) || strings.Contains(r.body, one.Token) || strings.Contains(r.body, `"token"`) {
		c.t.Errorf("GET of the caller's API token: %s", r.body)
	}
	c.expect(c.get(Prefix+"/api-tokens/"+one.ID, bearer(c.login("carol", "").AccessToken)...), 404, "",
		`{"error":"not_found","error_description":"no such API token"}`)
	c.expect(c.do(http.MethodDelete, Prefix+"/api-tokens/"+escapeAll(one.ID), "", auth...), 204, "", "")
	c.expect(c.get(Prefix+"/api-tokens/"+one.ID, auth...), 404, "",
		`{"error":"not_found","error_description":"no such API token"}`)
	c.expect(c.get(MePath, bearer(one.Token)...), 401, challengeRevoked, bodyRevoked)
	// Revoking twice is no error; an ID the caller does not own is not found.
	c.expect(c.do(http.MethodDelete, Prefix+"/api-tokens/"+one.ID, "", auth...), 204, "", "")
	c.expect(c.do(http.MethodDelete, Prefix+"/api-tokens/"+one.ID+"x", "", auth...), 404, "",
		`{"error":"not_found","error_description":"no such API token"}`)
	bob := c.login("bob", "")
	c.expect(c.do(http.MethodDelete, Prefix+"/api-tokens/"+two.ID, "", bearer(bob.AccessToken)...), 404, "",
		`{"error":"not_found","error_description":"no such API token"}`)
	r = c.get(Prefix+"/api-tokens", auth...)
	if strings.Count(r.body, `"id":`) != 1 {
		c.t.Errorf("after a delete: %s", r.body)
	}
	c.expect(c.postJSON(Prefix+"/api-tokens", `{"scopes":["read"]}`, auth...), 400, "",
		`{"error":"invalid_request","error_description":"invalid API token request"}`)
	c.expect(c.get(MePath, bearer(two.Token)...), 200, "", `{"subject":"alice","method":"api_token","scopes":[]}`)
	// The same fields form-encoded, the scopes as one space-separated scope
	// parameter (RFC 6749 §3.3), with the token endpoint's rules.
	r = c.form(Prefix+"/api-tokens", []string{"name", "cli", "scope", ReadScope, "expires_in", "3600"}, auth...)
	c.expectStatus(r, 201, "")
	c.expectHeader(r, "Cache-Control", "no-store")
	var three struct {
		Token     string    `json:"token"`
		Name      string    `json:"name"`
		Scopes    []string  `json:"scopes"`
		CreatedAt time.Time `json:"created_at"`
		ExpiresAt time.Time `json:"expires_at"`
	}
	c.decode(r, &three)
	if three.Name != "cli" || len(three.Scopes) != 1 || three.Scopes[0] != ReadScope || three.ExpiresAt.Sub(three.CreatedAt) != time.Hour {
		c.t.Errorf("created from a form: %s", r.body)
	}
	c.expect(c.get(MePath, bearer(three.Token)...), 200, "", `{"subject":"alice","method":"api_token","scopes":["read"]}`)
	c.expect(c.form(Prefix+"/api-tokens", []string{"name", "x", "scope", AdminScope}, auth...), 403, challengeScope+`admin"`, bodyScope)
	c.expect(c.form(Prefix+"/api-tokens", []string{"name", "x", "name", "y"}, auth...), 400, "",
		`{"error":"invalid_request","error_description":"a parameter is repeated"}`)
	c.expect(c.form(Prefix+"/api-tokens", []string{"name", "x", "scopes", ReadScope}, auth...), 400, "",
		`{"error":"invalid_request","error_description":"invalid API token request"}`)
	c.expect(c.do(http.MethodPost, Prefix+"/api-tokens", "name=x", append([]string{"Content-Type", "text/plain"}, auth...)...), 400, "",
		`{"error":"invalid_request","error_description":"the body must be application/x-www-form-urlencoded or application/json"}`)
}

func malformedHeaders(c *client) {
	long := "Bearer " + strings.Repeat("a", verifier.MaxHeaderLen)
	c.expect(c.get(MePath, "Authorization", long), 400, challengeBadReq, bodyBadReq)
	c.expect(c.get(MaybePath, "Authorization", long), 400, challengeBadReq, bodyBadReq)
	c.expect(c.get(AnyPath, "Authorization", long), 400, challengeBadReq, bodyBadReq)
	c.expect(c.get(Prefix+"/sessions", "Authorization", long), 400, challengeBadReq, bodyBadReq)
	c.expect(c.get(MePath, "Authorization", "Bearer a", "Authorization", "Bearer b"), 400, challengeBadReq, bodyBadReq)
	c.expect(c.get(MePath, "Authorization", "Bearer a,b"), 400, challengeBadReq, bodyBadReq)
	c.expect(c.get(MePath, "Authorization", "Bearer"), 400, challengeBadReq, bodyBadReq)
}

func methods(c *client) {
	tk := c.login("alice", "")
	auth := bearer(tk.AccessToken)
	for _, m := range []struct{ method, path, allow string }{
		{http.MethodGet, Prefix + "/token", "POST"},
		{http.MethodPut, Prefix + "/revoke", "POST"},
		{http.MethodGet, Prefix + "/introspect", "POST"},
		{http.MethodGet, Prefix + "/logout-all", "POST"},
		{http.MethodDelete, Prefix + "/sessions", "GET, HEAD"},
		{http.MethodPut, Prefix + "/sessions/some-id", "GET, HEAD, DELETE"},
		{http.MethodPatch, Prefix + "/api-tokens", "GET, HEAD, POST"},
		{http.MethodPost, Prefix + "/api-tokens/some-id", "GET, HEAD, DELETE"},
	} {
		r := c.do(m.method, m.path, "", auth...)
		c.expect(r, 405, "", bodyMethod)
		c.expectHeader(r, "Allow", m.allow)
	}
	r := c.do(http.MethodHead, Prefix+"/sessions", "", auth...)
	c.expect(r, 200, "", "")
	c.expectHeader(r, "Content-Type", "application/json")
}

func storeDown(c *client) {
	tk := c.login("alice", ReadScope)
	var created struct {
		Token string `json:"token"`
	}
	c.decode(c.postJSON(Prefix+"/api-tokens", `{"name":"ci","scopes":["read"]}`, bearer(tk.AccessToken)...), &created)
	c.f.store.down.Store(true)
	c.note("the store goes down")
	check := func(r response) {
		c.t.Helper()
		c.expect(r, 503, "", bodyUnavailable)
		c.expectHeader(r, "Retry-After", "5")
		c.expectHeader(r, "Cache-Control", "no-store")
	}
	check(c.get(MePath, bearer(tk.AccessToken)...))
	check(c.get(MaybePath, bearer(tk.AccessToken)...))
	check(c.get(AdminPath, bearer(tk.AccessToken)...))
	check(c.get(AnyPath, bearer(tk.AccessToken)...))
	check(c.get(MePath, bearer(created.Token)...))
	check(c.get(MePath, "Authorization", "Token "+created.Token))
	check(c.refresh(tk.RefreshToken))
	check(c.form(Prefix+"/token", []string{"grant_type", "password", "username", "bob", "password", "builder"}))
	check(c.form(Prefix+"/revoke", []string{"token", tk.RefreshToken}))
	check(c.get(Prefix+"/sessions", bearer(tk.AccessToken)...))
	// No credential needs no store: still a 401.
	c.expect(c.get(MePath), 401, challengeNone, bodyUnauthorized)
	c.expect(c.get(MaybePath), 200, "", `{"anonymous":true}`)
	c.f.store.down.Store(false)
	c.note("the store is back")
	c.expect(c.get(MePath, bearer(tk.AccessToken)...), 200, "", `{"subject":"alice","method":"jwt","scopes":["read"]}`)
	r := c.refresh(tk.RefreshToken)
	c.expectStatus(r, 200, "")
}

const (
	challengeClient = `Basic realm="authkit", charset="UTF-8"`
	bodyBadClient   = `{"error":"invalid_client","error_description":"client authentication failed"}`
)

// clientAuthentication: RFC 6749 §2.3 client authentication, the
// client_credentials grant, refresh tokens bound to their client, and
// client-aware revocation and introspection (httpauth.WithClientStore).
func clientAuthentication(c *client) {
	ctx := context.Background()
	secret, hash, err := c.f.env.Issuer.NewClientSecret()
	if err != nil {
		c.t.Fatal(err)
	}
	c.m.name("client_secret", secret)
	for _, cl := range []authkit.Client{
		{ID: "svc", SecretHash: hash, GrantTypes: []string{authkit.GrantClientCredentials}, Scopes: []string{ReadScope, httpauth.IntrospectScope}, CreatedAt: start},
		{ID: "spa", GrantTypes: []string{authkit.GrantPassword, authkit.GrantRefreshToken}, Scopes: []string{ReadScope}, CreatedAt: start},
	} {
		if err := c.f.env.Clients.CreateClient(ctx, cl); err != nil {
			c.t.Fatal(err)
		}
	}
	c.note("clients svc (confidential: client_credentials, scopes read introspect) and spa (public: password, refresh_token, scope read) are registered")
	basic := func(id, secret string) []string {
		v := base64.StdEncoding.EncodeToString([]byte(url.QueryEscape(id) + ":" + url.QueryEscape(secret)))
		c.m.name("basic", v)
		return []string{"Authorization", "Basic " + v}
	}
	svc := basic("svc", secret)

	r := c.form(Prefix+"/token", []string{"grant_type", "client_credentials"}, svc...)
	c.expectStatus(r, 200, "")
	c.expectHeader(r, "Cache-Control", "no-store")
	var tk tokens
	c.decode(r, &tk)
	if tk.RefreshToken != "" || tk.Scope != "read introspect" {
		c.t.Errorf("client_credentials: %s, want the client's scopes and no refresh token", r.body)
	}
	c.expect(c.get(MePath, bearer(tk.AccessToken)...), 200, "", `{"subject":"svc","method":"jwt","scopes":["read","introspect"]}`)
	r = c.form(Prefix+"/token", []string{"grant_type", "client_credentials", "client_id", "svc", "client_secret", secret, "scope", ReadScope})
	c.expectStatus(r, 200, "")

	c.expect(c.form(Prefix+"/token", []string{"grant_type", "client_credentials"}, basic("svc", "wrong")...), 401, challengeClient, bodyBadClient)
	c.expect(c.form(Prefix+"/token", []string{"grant_type", "client_credentials", "client_id", "nobody", "client_secret", secret}), 401, challengeClient, bodyBadClient)
	c.expect(c.form(Prefix+"/token", []string{"grant_type", "client_credentials"}), 401, challengeClient, bodyBadClient)
	c.expect(c.form(Prefix+"/token", []string{"grant_type", "client_credentials", "client_id", "spa"}), 401, challengeClient, bodyBadClient)
	c.expect(c.form(Prefix+"/token", []string{"grant_type", "client_credentials", "client_secret", secret, "client_id", "svc"}, svc...), 400, "",
		`{"error":"invalid_request","error_description":"more than one client authentication method"}`)
	c.expect(c.form(Prefix+"/token", []string{"grant_type", "client_credentials", "scope", AdminScope}, svc...), 400, "",
		`{"error":"invalid_scope","error_description":"the requested scope is invalid or not granted"}`)

	// A public client's refresh token is its own.
	r = c.form(Prefix+"/token", []string{"grant_type", "password", "username", "alice", "password", users["alice"], "client_id", "spa"})
	c.expectStatus(r, 200, "")
	var spa tokens
	c.decode(r, &spa)
	c.expect(c.refresh(spa.RefreshToken), 400, "", bodyBadGrant)
	r = c.form(Prefix+"/token", []string{"grant_type", "refresh_token", "refresh_token", spa.RefreshToken, "client_id", "spa"})
	c.expectStatus(r, 200, "")
	c.expect(c.form(Prefix+"/token", []string{"grant_type", "password", "username", "alice", "password", users["alice"]}, svc...), 400, "",
		`{"error":"unauthorized_client","error_description":"the client is not authorized to use this grant type"}`)

	// A resource server introspects as a client.
	alice := c.login("alice", ReadScope)
	r = c.form(Prefix+"/introspect", []string{"token", alice.AccessToken}, svc...)
	c.expectStatus(r, 200, "")
	var in struct {
		Active bool   `json:"active"`
		Sub    string `json:"sub"`
	}
	c.decode(r, &in)
	if !in.Active || in.Sub != "alice" {
		c.t.Errorf("introspection by svc: %s", r.body)
	}
	c.expect(c.form(Prefix+"/introspect", []string{"token", alice.AccessToken, "client_id", "spa"}), 401, challengeClient, bodyBadClient)

	// A confidential client's token is revoked by that client only.
	c.expect(c.form(Prefix+"/revoke", []string{"token", tk.AccessToken}), 401, challengeClient, bodyBadClient)
	c.expect(c.form(Prefix+"/revoke", []string{"token", tk.AccessToken, "client_id", "spa"}), 400, "",
		`{"error":"unauthorized_client","error_description":"the token was not issued to this client"}`)
	c.expectStatus(c.form(Prefix+"/revoke", []string{"token", tk.AccessToken}, svc...), 200, "")
	c.expect(c.get(MePath, bearer(tk.AccessToken)...), 401, challengeRevoked, bodyRevoked)
}

// Redirect URI and PKCE verifier of the oauth2Clients scenario (fixed, so
// that the transcript is the same in every run).
const (
	appRedirect  = "https://app.example/cb"
	codeVerifier = "authkit-httpsuite-pkce-verifier-0123456789-abcdefghijkl"
)

// oauth2Clients: clients no one here wrote — golang.org/x/oauth2's
// clientcredentials package and its authorization-code flow with PKCE
// (AuthCodeURL with S256ChallengeOption, Exchange with the verifier) —
// against the mounted endpoints; then a code's second use is refused and
// revokes what the first issued.
func oauth2Clients(c *client) {
	ctx := context.WithValue(context.Background(), oauth2.HTTPClient, c.f.srv.Client())
	secret, hash, err := c.f.env.Issuer.NewClientSecret()
	if err != nil {
		c.t.Fatal(err)
	}
	c.m.name("client_secret", secret)
	for _, cl := range []authkit.Client{
		{ID: "svc", Name: "Service", SecretHash: hash, GrantTypes: []string{authkit.GrantClientCredentials}, Scopes: []string{ReadScope}, CreatedAt: start},
		{ID: "app", Name: "The App", GrantTypes: []string{authkit.GrantAuthorizationCode, authkit.GrantRefreshToken}, Scopes: []string{ReadScope, AdminScope},
			RedirectURIs: []string{appRedirect}, CreatedAt: start},
	} {
		if err := c.f.env.Clients.CreateClient(ctx, cl); err != nil {
			c.t.Fatal(err)
		}
	}
	c.note("clients svc (confidential: client_credentials, scope read) and app (public: authorization_code, refresh_token, scopes read admin, redirect %s) are registered", appRedirect)

	cc := clientcredentials.Config{ClientID: "svc", ClientSecret: secret, TokenURL: c.f.srv.URL + Prefix + "/token", Scopes: []string{ReadScope}}
	tok, err := cc.Token(ctx)
	if err != nil {
		c.t.Fatalf("clientcredentials: %v", err)
	}
	if tok.RefreshToken != "" || tok.Extra("scope") != ReadScope || tok.Type() != "Bearer" {
		c.t.Errorf("clientcredentials token %+v: want scope read and no refresh token", tok)
	}
	c.note("golang.org/x/oauth2/clientcredentials got an access token for svc")
	c.m.name("access_token", tok.AccessToken)
	c.expect(c.get(MePath, bearer(tok.AccessToken)...), 200, "", `{"subject":"svc","method":"jwt","scopes":["read"]}`)

	conf := oauth2.Config{
		ClientID:    "app",
		RedirectURL: appRedirect,
		Scopes:      []string{ReadScope},
		Endpoint: oauth2.Endpoint{
			AuthURL:   c.f.srv.URL + Prefix + "/authorize",
			TokenURL:  c.f.srv.URL + Prefix + "/token",
			AuthStyle: oauth2.AuthStyleInParams,
		},
	}
	authURL, err := url.Parse(conf.AuthCodeURL("st-1", oauth2.S256ChallengeOption(codeVerifier)))
	if err != nil {
		c.t.Fatal(err)
	}
	page := authURL.Path + "?" + authURL.RawQuery
	shown := c.get(page)
	c.expectStatus(shown, 200, "")
	// The page's form posts to FormAction: the URL as the browser sent it,
	// whatever prefix the framework's mounting stripped.
	_, action, _ := strings.Cut(shown.body, "form action: ")
	if action = strings.TrimSpace(action); action != page {
		c.t.Fatalf("FormAction %q, want the request's own %q", action, page)
	}
	login := c.do(http.MethodPost, action, url.Values{"username": {"alice"}, "password": {users["alice"]}}.Encode(), "Content-Type", formType)
	c.expectStatus(login, http.StatusSeeOther, "")
	loc, err := url.Parse(login.header.Get("Location"))
	if err != nil || !strings.HasPrefix(loc.String(), appRedirect+"?") {
		c.t.Fatalf("redirect %q: want %s with a code", login.header.Get("Location"), appRedirect)
	}
	q := loc.Query()
	if q.Get("state") != "st-1" || q.Get("iss") != issuerURL || q.Get("code") == "" {
		c.t.Fatalf("redirect query %v: want the code, state st-1 and iss %s", q, issuerURL)
	}
	code := q.Get("code")
	at, err := conf.Exchange(ctx, code, oauth2.VerifierOption(codeVerifier))
	if err != nil {
		c.t.Fatalf("Exchange: %v", err)
	}
	if at.RefreshToken == "" || at.Extra("scope") != ReadScope {
		c.t.Errorf("Exchange: %+v scope %v, want a refresh token and scope read", at, at.Extra("scope"))
	}
	c.note("golang.org/x/oauth2 exchanged the code with its PKCE verifier")
	c.m.name("access_token", at.AccessToken)
	c.m.name("refresh_token", at.RefreshToken)
	c.expect(c.get(MePath, bearer(at.AccessToken)...), 200, "", `{"subject":"alice","method":"jwt","scopes":["read"]}`)

	// The code again: refused, and the session it started is revoked.
	c.expect(c.form(Prefix+"/token", []string{"grant_type", "authorization_code", "code", code, "redirect_uri", appRedirect,
		"code_verifier", codeVerifier, "client_id", "app"}), 400, "",
		`{"error":"invalid_grant","error_description":"the authorization code is invalid, expired or used, or was issued to another client, redirect URI or code challenge"}`)
	c.expect(c.get(MePath, bearer(at.AccessToken)...), 401, challengeRevoked, bodyRevoked)
	c.expect(c.form(Prefix+"/token", []string{"grant_type", "refresh_token", "refresh_token", at.RefreshToken, "client_id", "app"}), 400, "", bodyBadGrant)

	// A redirect URI that is not registered is never redirected to.
	bad := strings.Replace(page, url.QueryEscape(appRedirect), url.QueryEscape(appRedirect+"/evil"), 1)
	c.expect(c.get(bad), 400, "", `{"error":"invalid_request","error_description":"redirect_uri is missing or is not one registered for the client"}`)
	// The user denies.
	r := c.do(http.MethodPost, page, "deny=1", "Content-Type", formType)
	c.expectStatus(r, http.StatusSeeOther, "")
}

// escapeAll percent-encodes every byte of id: the same ID, written as a
// client may write it.
func escapeAll(id string) string {
	var b strings.Builder
	for i := 0; i < len(id); i++ {
		fmt.Fprintf(&b, "%%%02X", id[i])
	}
	return b.String()
}
