package httpauth_test

import (
	"cmp"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/authkit-go/authkit"
	"github.com/authkit-go/authkit/adapters/httpauth"
	"github.com/authkit-go/authkit/backends/memory"
	"github.com/authkit-go/authkit/issuer"
	"github.com/authkit-go/authkit/keys"
	"github.com/authkit-go/authkit/verifier"
)

const (
	bodyNoCreds   = `{"error":"unauthorized","error_description":"authentication required"}`
	bodyMalformed = `{"error":"invalid_request","error_description":"malformed credentials"}`
	bodyExpired   = `{"error":"invalid_token","error_description":"token expired"}`
	bodyRevoked   = `{"error":"invalid_token","error_description":"token revoked"}`
	bodyInvalid   = `{"error":"invalid_token","error_description":"token invalid"}`
	bodyScope     = `{"error":"insufficient_scope","error_description":"token lacks a required scope"}`
	bodyDown      = `{"error":"temporarily_unavailable","error_description":"the authentication service is temporarily unavailable"}`
	bodyCSRF      = `{"error":"csrf_failed","error_description":"missing or invalid CSRF token"}`
	// The default verifier accepts Bearer and then Token: a 401 or 400
	// carries both challenges, one field each, the error attributes on the
	// scheme the credential came under (Bearer in these tests).
	chalToken      = "\n" + `Token realm="authkit"`
	chalBare       = `Bearer realm="authkit"` + chalToken
	chalMalformed  = `Bearer realm="authkit", error="invalid_request", error_description="malformed credentials"` + chalToken
	chalExpired    = `Bearer realm="authkit", error="invalid_token", error_description="token expired"` + chalToken
	chalRevoked    = `Bearer realm="authkit", error="invalid_token", error_description="token revoked"` + chalToken
	chalInvalid    = `Bearer realm="authkit", error="invalid_token", error_description="token invalid"` + chalToken
	chalScopeWrite = `Bearer realm="authkit", error="insufficient_scope", error_description="token lacks a required scope", scope="write"`
)

// Every row of the error table, as a client sees it.
func TestErrorTable(t *testing.T) {
	f := newFx(t, fxOptions{})
	tk := f.login("alice", "read")
	other := newFx(t, fxOptions{}).login("alice", "read") // signed by a key this server does not know
	stale := f.login("bob", "read")
	revoked := f.login("carol", "read")
	if err := f.iss.Revoke(context.Background(), revoked.AccessToken); err != nil {
		t.Fatal(err)
	}
	parts := strings.Split(tk.AccessToken, ".")
	sig := []byte(parts[2])
	if sig[3] == 'A' {
		sig[3] = 'B'
	} else {
		sig[3] = 'A'
	}
	tampered := parts[0] + "." + parts[1] + "." + string(sig)

	cases := []struct {
		name      string
		path      string
		hdr       []string
		before    func()
		status    int
		challenge string
		body      string
	}{
		{"no credential", "/api/me", nil, nil, 401, chalBare, bodyNoCreds},
		{"unknown scheme", "/api/me", []string{"Authorization", "Digest abc"}, nil, 401, chalBare, bodyNoCreds},
		{"token in the query string is ignored", "/api/me?access_token=" + tk.AccessToken, nil, nil, 401, chalBare, bodyNoCreds},
		{"malformed header", "/api/me", []string{"Authorization", "Bearer a b"}, nil, 400, chalMalformed, bodyMalformed},
		{"two Authorization headers", "/api/me", []string{"Authorization", "Bearer " + tk.AccessToken, "Authorization", "Bearer " + tk.AccessToken}, nil, 400, chalMalformed, bodyMalformed},
		{"oversized header", "/api/me", bearer(strings.Repeat("a", verifier.MaxHeaderLen+1)), nil, 400, chalMalformed, bodyMalformed},
		{"garbage token", "/api/me", bearer("abc"), nil, 401, chalInvalid, bodyInvalid},
		{"bad signature", "/api/me", bearer(tampered), nil, 401, chalInvalid, bodyInvalid},
		{"unknown key", "/api/me", bearer(other.AccessToken), nil, 401, chalInvalid, bodyInvalid},
		{"refresh token as access token", "/api/me", bearer(tk.RefreshToken), nil, 401, chalInvalid, bodyInvalid},
		{"revoked", "/api/me", bearer(revoked.AccessToken), nil, 401, chalRevoked, bodyRevoked},
		{"insufficient scope", "/api/write", bearer(tk.AccessToken), nil, 403, chalScopeWrite, bodyScope},
		{"store down", "/api/me", bearer(tk.AccessToken), func() { f.store.down.Store(true) }, 503, "", bodyDown},
		{"expired", "/api/me", bearer(stale.AccessToken), func() { f.store.down.Store(false); f.clock.Add(time.Hour) }, 401, chalExpired, bodyExpired},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if c.before != nil {
				c.before()
			}
			r := f.do("GET", c.path, "", c.hdr...)
			expect(t, r, c.status, c.challenge, c.body)
			if got := r.header.Get("Cache-Control"); got != "no-store" {
				t.Errorf("Cache-Control %q", got)
			}
			if got := r.header.Get("Content-Type"); got != "application/json" {
				t.Errorf("Content-Type %q", got)
			}
			if got := r.header.Get("X-Content-Type-Options"); got != "nosniff" {
				t.Errorf("X-Content-Type-Options %q, want nosniff", got)
			}
			if c.status == 503 {
				if got := r.header.Get("Retry-After"); got != "5" {
					t.Errorf("Retry-After %q, want 5", got)
				}
			} else if r.header.Get("Retry-After") != "" {
				t.Error("Retry-After on a non-503")
			}
			if strings.Contains(r.body, tk.AccessToken[:20]) {
				t.Error("the body echoes the token")
			}
		})
	}
}

func TestAcceptedCredentials(t *testing.T) {
	f := newFx(t, fxOptions{})
	tk := f.login("alice", "read write")
	for _, c := range []struct{ name, header, want string }{
		{"bearer", "Bearer " + tk.AccessToken, "alice jwt [read write]"},
		{"bearer, lower case", "bearer " + tk.AccessToken, "alice jwt [read write]"},
		{"DRF Token scheme", "Token " + tk.AccessToken, "alice jwt [read write]"},
	} {
		r := f.do("GET", "/api/me", "", "Authorization", c.header)
		if r.status != 200 || r.body != c.want {
			t.Errorf("%s: %d %q", c.name, r.status, r.body)
		}
	}
	secret, _, err := f.iss.CreateAPIToken(context.Background(), "alice", "ci", issuer.WithTokenScopes("read"))
	if err != nil {
		t.Fatal(err)
	}
	if r := f.do("GET", "/api/me", "", bearer(secret)...); r.status != 200 || r.body != "alice api_token [read]" {
		t.Errorf("API token: %d %q", r.status, r.body)
	}
	if r := f.do("GET", "/api/me", "", "Authorization", "Token "+secret); r.status != 200 {
		t.Errorf("API token, Token scheme: %d %q", r.status, r.body)
	}
}

func TestClassify(t *testing.T) {
	f := newFx(t, fxOptions{})
	cases := []struct {
		err    error
		status int
		code   string
		scopes []string
	}{
		{nil, 401, "invalid_token", nil},
		{errors.New("something nobody expected"), 401, "invalid_token", nil},
		{fmt.Errorf("x: %w", authkit.ErrStoreUnavailable), 503, "temporarily_unavailable", nil},
		{fmt.Errorf("x: %w", context.DeadlineExceeded), 503, "temporarily_unavailable", nil},
		{context.Canceled, 503, "temporarily_unavailable", nil},
		{fmt.Errorf("both: %w and %w", authkit.ErrInvalidToken, authkit.ErrStoreUnavailable), 503, "temporarily_unavailable", nil},
		{&authkit.ReuseError{SessionID: "s"}, 401, "invalid_token", nil},
		{authkit.ErrNoCredentials, 401, "unauthorized", nil},
		{httpauth.ErrCSRF, 403, "csrf_failed", nil},
		{httpauth.ErrAPITokenNotAllowed, 403, "insufficient_scope", nil},
		{&httpauth.ScopeError{Scopes: []string{"x", "y"}}, 403, "insufficient_scope", []string{"x", "y"}},
		{fmt.Errorf("wrapped: %w", authkit.ErrInsufficientScope), 403, "insufficient_scope", nil},
		{authkit.ErrNotFound, 401, "invalid_token", nil},
	}
	for _, c := range cases {
		d := f.auth.Classify(c.err)
		if d.Status != c.status || d.Code != c.code || fmt.Sprint(d.Scopes) != fmt.Sprint(c.scopes) || d.Err != c.err {
			t.Errorf("Classify(%v) = %+v, want %d %s %v", c.err, d, c.status, c.code, c.scopes)
		}
		if strings.ContainsAny(d.Description, `"\`) || d.Description == "" {
			t.Errorf("Classify(%v): description %q", c.err, d.Description)
		}
	}
	if !errors.Is(httpauth.ErrAPITokenNotAllowed, authkit.ErrInsufficientScope) {
		t.Error("ErrAPITokenNotAllowed does not match ErrInsufficientScope")
	}
}

func TestDenyDirect(t *testing.T) {
	f := newFx(t, fxOptions{})
	rec := httptest.NewRecorder()
	f.auth.Deny(rec, httptest.NewRequest("GET", "/", nil), &httpauth.ScopeError{Scopes: []string{"a", `bad"scope`}})
	if got := rec.Header().Get("WWW-Authenticate"); got != `Bearer realm="authkit", error="insufficient_scope", error_description="token lacks a required scope"` {
		t.Errorf("an invalid scope must drop the scope attribute: %q", got)
	}
	// A throttled denial that says not when to retry: Retry-After 1.
	rec = httptest.NewRecorder()
	f.auth.Deny(rec, httptest.NewRequest("GET", "/", nil), httpauth.ErrThrottled)
	if rec.Code != 429 || rec.Header().Get("Retry-After") != "1" {
		t.Errorf("Deny(ErrThrottled): %d, Retry-After %q; want 429 with 1", rec.Code, rec.Header().Get("Retry-After"))
	}
	rec = httptest.NewRecorder()
	f.auth.Deny(rec, httptest.NewRequest("GET", "/", nil), errors.New(`secret "value" \ here`))
	if rec.Code != 401 || strings.Contains(rec.Body.String(), "secret") || strings.Contains(rec.Header().Get("WWW-Authenticate"), "secret") {
		t.Errorf("an unknown error leaked or was not denied: %d %s", rec.Code, rec.Body)
	}
}

func TestRealmAndSchemes(t *testing.T) {
	f := newFx(t, fxOptions{auth: []httpauth.Option{httpauth.WithRealm(`a "quoted" \ realm`)}})
	expect(t, f.do("GET", "/api/me", ""), 401, `Bearer realm="a \"quoted\" \\ realm"`+"\n"+`Token realm="a \"quoted\" \\ realm"`, bodyNoCreds)

	for _, bad := range []string{"", "line\nbreak", "tab\there", "caf\u00e9", strings.Repeat("r", 257)} {
		if _, err := httpauth.New(f.ver, httpauth.WithRealm(bad)); !errors.Is(err, authkit.ErrInvalidConfig) {
			t.Errorf("WithRealm(%q): %v", bad, err)
		}
	}

	// The challenges follow the verifier's order.
	tf := newFx(t, fxOptions{verifier: []authkit.Option{authkit.WithSchemes(authkit.SchemeToken, authkit.SchemeBearer)}})
	expect(t, tf.do("GET", "/api/me", ""), 401, `Token realm="authkit"`+"\n"+`Bearer realm="authkit"`, bodyNoCreds)
	expect(t, tf.do("GET", "/api/me", "", bearer("abc")...), 401, `Token realm="authkit"`+"\n"+`Bearer realm="authkit", error="invalid_token", error_description="token invalid"`, bodyInvalid)

	bf := newFx(t, fxOptions{verifier: []authkit.Option{authkit.WithBasicAuth(basicAlice), authkit.WithSchemes(authkit.SchemeBasic, authkit.SchemeBearer)}})
	expect(t, bf.do("GET", "/api/me", ""), 401, `Basic realm="authkit", charset="UTF-8"`+"\n"+`Bearer realm="authkit"`, bodyNoCreds)
	good := "Basic " + base64.StdEncoding.EncodeToString([]byte("alice:wonderland"))
	if r := bf.do("GET", "/api/me", "", "Authorization", good); r.status != 200 || r.body != "alice basic [read]" {
		t.Errorf("Basic: %d %s", r.status, r.body)
	}
	// A Basic challenge goes with 401 only, and a Basic credential gets no
	// Bearer error: a 403 for it has no challenge.
	expect(t, bf.do("GET", "/api/write", "", "Authorization", good), 403, "", bodyScope)
}

// basicAlice is a Basic checker that knows alice, with scope read.
func basicAlice(_ context.Context, u, p string) (*authkit.Principal, error) {
	if u == "alice" && p == "wonderland" {
		return &authkit.Principal{Subject: "alice", Scopes: []string{"read"}}, nil
	}
	return nil, errors.New("no")
}

// With several schemes, a 401 or 400 names every one the verifier accepts,
// one WWW-Authenticate field each in its order (Basic on 401 only, and
// only as the first scheme), and the RFC 6750 error attributes go on the
// challenge of the scheme the credential came under — none for a Basic
// credential, whose scheme has no such attributes; a request without a
// credential gets bare challenges. A 403 carries the presented scheme's
// challenge alone.
func TestChallengesPerScheme(t *testing.T) {
	f := newFx(t, fxOptions{verifier: []authkit.Option{authkit.WithBasicAuth(basicAlice)}})
	read := f.login("alice", "read")
	const (
		bearerBare = `Bearer realm="authkit"`
		tokenBare  = `Token realm="authkit"`
		basicBare  = `Basic realm="authkit", charset="UTF-8"`
		invalid    = `, error="invalid_token", error_description="token invalid"`
		malformed  = `, error="invalid_request", error_description="malformed credentials"`
		scope      = `, error="insufficient_scope", error_description="token lacks a required scope", scope="write"`
	)
	basic := func(user, pass string) string {
		return "Basic " + base64.StdEncoding.EncodeToString([]byte(user+":"+pass))
	}
	cases := []struct {
		name   string
		path   string
		hdr    []string
		status int
		chal   string
		body   string
	}{
		{"no credential", "/api/me", nil, 401, bearerBare + "\n" + tokenBare, bodyNoCreds},
		{"another scheme", "/api/me", []string{"Authorization", "Digest abc"}, 401, bearerBare + "\n" + tokenBare, bodyNoCreds},
		{"bad Bearer", "/api/me", []string{"Authorization", "Bearer abc"}, 401, bearerBare + invalid + "\n" + tokenBare, bodyInvalid},
		{"bad Token", "/api/me", []string{"Authorization", "Token abc"}, 401, bearerBare + "\n" + tokenBare + invalid, bodyInvalid},
		{"bad token, scheme in lower case", "/api/me", []string{"Authorization", "token abc"}, 401, bearerBare + "\n" + tokenBare + invalid, bodyInvalid},
		{"bad Basic", "/api/me", []string{"Authorization", basic("alice", "wrong")}, 401, bearerBare + "\n" + tokenBare, bodyInvalid},
		{"malformed Bearer", "/api/me", []string{"Authorization", "Bearer a b"}, 400, bearerBare + malformed + "\n" + tokenBare, bodyMalformed},
		{"malformed Token", "/api/me", []string{"Authorization", "Token a b"}, 400, bearerBare + "\n" + tokenBare + malformed, bodyMalformed},
		{"malformed Basic", "/api/me", []string{"Authorization", "Basic !!!"}, 400, bearerBare + "\n" + tokenBare, bodyMalformed},
		{"two headers", "/api/me", []string{"Authorization", "Token a", "Authorization", "Token b"}, 400, bearerBare + malformed + "\n" + tokenBare, bodyMalformed},
		{"Bearer lacks scope", "/api/write", []string{"Authorization", "Bearer " + read.AccessToken}, 403, bearerBare + scope, bodyScope},
		{"Token lacks scope", "/api/write", []string{"Authorization", "Token " + read.AccessToken}, 403, tokenBare + scope, bodyScope},
		{"Basic lacks scope", "/api/write", []string{"Authorization", basic("alice", "wonderland")}, 403, "", bodyScope},
		{"Token lacks any scope", "/api/none", []string{"Authorization", "Token " + read.AccessToken}, 403, tokenBare + `, error="insufficient_scope", error_description="token lacks a required scope"`, bodyScope},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			expect(t, f.do("GET", c.path, "", c.hdr...), c.status, c.chal, c.body)
		})
	}

	// Basic after Bearer and Token is accepted but never challenged (a
	// browser would prompt and then send the password by itself); first,
	// it is challenged on 401, and the error attributes still go on the
	// scheme the credential came under.
	for _, c := range cases {
		if strings.Contains(c.chal, "Basic") {
			t.Errorf("%s: a Basic challenge with Basic as the last scheme", c.name)
		}
	}
	bf := newFx(t, fxOptions{verifier: []authkit.Option{authkit.WithBasicAuth(basicAlice), authkit.WithSchemes(authkit.SchemeBasic, authkit.SchemeBearer, authkit.SchemeToken)}})
	expect(t, bf.do("GET", "/api/me", ""), 401, basicBare+"\n"+bearerBare+"\n"+tokenBare, bodyNoCreds)
	expect(t, bf.do("GET", "/api/me", "", "Authorization", basic("alice", "wrong")), 401, basicBare+"\n"+bearerBare+"\n"+tokenBare, bodyInvalid)
	expect(t, bf.do("GET", "/api/me", "", "Authorization", "Token abc"), 401, basicBare+"\n"+bearerBare+"\n"+tokenBare+invalid, bodyInvalid)
	expect(t, bf.do("GET", "/api/me", "", "Authorization", "Bearer a b"), 400, bearerBare+malformed+"\n"+tokenBare, bodyMalformed)
	expect(t, bf.do("GET", "/api/me", "", "Authorization", "Basic !!!"), 400, bearerBare+"\n"+tokenBare, bodyMalformed)

	// One scheme: one challenge, exactly as before there were several.
	one := newFx(t, fxOptions{verifier: []authkit.Option{authkit.WithSchemes(authkit.SchemeBearer)}})
	tk := one.login("alice", "read")
	expect(t, one.do("GET", "/api/me", ""), 401, bearerBare, bodyNoCreds)
	expect(t, one.do("GET", "/api/me", "", bearer("abc")...), 401, bearerBare+invalid, bodyInvalid)
	expect(t, one.do("GET", "/api/me", "", "Authorization", "Token abc"), 401, bearerBare, bodyNoCreds)
	expect(t, one.do("GET", "/api/me", "", "Authorization", "Bearer a b"), 400, bearerBare+malformed, bodyMalformed)
	expect(t, one.do("GET", "/api/write", "", bearer(tk.AccessToken)...), 403, bearerBare+scope, bodyScope)
}

// Deny writes the challenges New computed: answering a refused request
// allocates as much with two schemes as with one, and a hook that edits
// the response's WWW-Authenticate values cannot change later answers.
func TestDenyChallengeAllocations(t *testing.T) {
	req := httptest.NewRequest("GET", "/", nil)
	req.Header.Set("Authorization", "Token abc")
	deny := func(a *httpauth.Auth) float64 {
		w := &nopWriter{h: http.Header{}}
		return testing.AllocsPerRun(200, func() { a.Deny(w, req, authkit.ErrInvalidToken) })
	}
	one := newFx(t, fxOptions{verifier: []authkit.Option{authkit.WithSchemes(authkit.SchemeBearer)}})
	two := newFx(t, fxOptions{})
	if n1, n2 := deny(one.auth), deny(two.auth); n1 != n2 {
		t.Errorf("Deny allocates %v with one scheme, %v with two", n1, n2)
	}

	a, err := httpauth.New(two.ver, httpauth.WithDenyHandler(func(w http.ResponseWriter, _ *http.Request, _ httpauth.Denial) {
		w.WriteHeader(http.StatusTeapot)
		w.Header()["Www-Authenticate"][0] = "tampered"
	}))
	if err != nil {
		t.Fatal(err)
	}
	for range 2 {
		rec := httptest.NewRecorder()
		a.Deny(rec, req, authkit.ErrInvalidToken)
		if got := challenges(rec.Result().Header); got != `Bearer realm="authkit"`+"\n"+`Token realm="authkit", error="invalid_token", error_description="token invalid"` {
			t.Fatalf("WWW-Authenticate %q", got)
		}
	}
}

func TestOptional(t *testing.T) {
	f := newFx(t, fxOptions{})
	tk := f.login("alice", "read")
	if r := f.do("GET", "/api/opt", ""); r.status != 200 || r.body != "anonymous" {
		t.Errorf("anonymous: %d %q", r.status, r.body)
	}
	if r := f.do("GET", "/api/opt", "", "Authorization", "Digest x"); r.status != 200 || r.body != "anonymous" {
		t.Errorf("foreign scheme: %d %q", r.status, r.body)
	}
	if r := f.do("GET", "/api/opt", "", bearer(tk.AccessToken)...); r.status != 200 || r.body != "alice jwt [read]" {
		t.Errorf("authenticated: %d %q", r.status, r.body)
	}
	expect(t, f.do("GET", "/api/opt", "", bearer("abc")...), 401, chalInvalid, bodyInvalid)
	expect(t, f.do("GET", "/api/opt", "", "Authorization", "Bearer"), 400, chalMalformed, bodyMalformed)
	f.store.down.Store(true)
	expect(t, f.do("GET", "/api/opt", "", bearer(tk.AccessToken)...), 503, "", bodyDown)
}

func TestScopes(t *testing.T) {
	f := newFx(t, fxOptions{})
	none := f.login("alice", "")
	read := f.login("alice", "read")
	rw := f.login("alice", "read write")
	a := f.login("alice", "a")
	b := f.login("alice", "b")
	cases := []struct {
		path   string
		tok    string
		status int
		chal   string
	}{
		{"/api/write", rw.AccessToken, 200, ""},
		{"/api/write", read.AccessToken, 403, chalScopeWrite},
		{"/api/both", rw.AccessToken, 200, ""},
		{"/api/both", read.AccessToken, 403, `Bearer realm="authkit", error="insufficient_scope", error_description="token lacks a required scope", scope="read write"`},
		{"/api/any", a.AccessToken, 200, ""},
		{"/api/any", b.AccessToken, 200, ""},
		{"/api/any", rw.AccessToken, 403, `Bearer realm="authkit", error="insufficient_scope", error_description="token lacks a required scope", scope="a b"`},
		{"/api/none", rw.AccessToken, 403, `Bearer realm="authkit", error="insufficient_scope", error_description="token lacks a required scope"`},
		{"/api/chain", read.AccessToken, 200, ""},
		{"/api/chain", none.AccessToken, 403, `Bearer realm="authkit", error="insufficient_scope", error_description="token lacks a required scope", scope="read"`},
		{"/api/write", "", 401, chalBare},
	}
	for _, c := range cases {
		var hdr []string
		if c.tok != "" {
			hdr = bearer(c.tok)
		}
		r := f.do("GET", c.path, "", hdr...)
		if r.status != c.status || challenges(r.header) != c.chal {
			t.Errorf("%s: %d %q, want %d %q", c.path, r.status, challenges(r.header), c.status, c.chal)
		}
	}
}

// A deny hook changes the body, never the decision.
func TestDenyHandlerCannotAllow(t *testing.T) {
	var called atomic.Bool
	hook := func(w http.ResponseWriter, r *http.Request, d httpauth.Denial) {
		w.Header().Del("WWW-Authenticate")
		w.Header().Set("Cache-Control", "public, max-age=3600")
		w.Header().Set("Content-Type", "text/plain")
		w.WriteHeader(http.StatusOK)
		fmt.Fprintf(w, "denied: %s %d", d.Code, d.Status)
	}
	f := newFx(t, fxOptions{auth: []httpauth.Option{httpauth.WithDenyHandler(hook)}})
	f.srv.Config.Handler.(*http.ServeMux).Handle("/hooked", f.auth.Require(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { called.Store(true) })))
	r := f.do("GET", "/hooked", "", bearer("abc")...)
	expect(t, r, 401, chalInvalid, "denied: invalid_token 401")
	if called.Load() {
		t.Fatal("the protected handler ran after a denial")
	}
	if r.header.Get("Cache-Control") != "no-store" || r.header.Get("Content-Type") != "text/plain" {
		t.Errorf("headers: %v", r.header)
	}

	silent := newFx(t, fxOptions{auth: []httpauth.Option{httpauth.WithDenyHandler(func(http.ResponseWriter, *http.Request, httpauth.Denial) {})}})
	expect(t, silent.do("GET", "/api/me", ""), 401, chalBare, bodyNoCreds)

	writeOnly := newFx(t, fxOptions{auth: []httpauth.Option{httpauth.WithDenyHandler(func(w http.ResponseWriter, _ *http.Request, _ httpauth.Denial) {
		fmt.Fprint(w, "custom")
	})}})
	tok := mustToken(t, writeOnly)
	writeOnly.store.down.Store(true)
	r = writeOnly.do("GET", "/api/me", "", bearer(tok)...)
	expect(t, r, 503, "", "custom")
	if r.header.Get("Retry-After") != "5" {
		t.Errorf("Retry-After %q", r.header.Get("Retry-After"))
	}

	// WithRetryAfter is sent in whole seconds, rounded up.
	slow := newFx(t, fxOptions{auth: []httpauth.Option{httpauth.WithRetryAfter(1500 * time.Millisecond)}})
	tok = mustToken(t, slow)
	slow.store.down.Store(true)
	if r := slow.do("GET", "/api/me", "", bearer(tok)...); r.status != 503 || r.header.Get("Retry-After") != "2" {
		t.Errorf("WithRetryAfter(1.5s), store down: %d, Retry-After %q; want 503 with 2", r.status, r.header.Get("Retry-After"))
	}

	// A hook that adds a challenge or a Retry-After where the decision has
	// none: a Basic challenge on a 503 or a CSRF 403 would have a browser
	// prompt for a password, a Retry-After on a 401 tell a client to wait.
	meddler := newFx(t, fxOptions{auth: []httpauth.Option{httpauth.WithDenyHandler(func(w http.ResponseWriter, _ *http.Request, d httpauth.Denial) {
		w.Header().Set("WWW-Authenticate", `Basic realm="meddler"`)
		w.Header().Set("Retry-After", "99")
		w.WriteHeader(d.Status)
		fmt.Fprint(w, "meddled")
	})}})
	tok = mustToken(t, meddler)
	r = meddler.do("GET", "/api/me", "", bearer("abc")...)
	expect(t, r, 401, chalInvalid, "meddled")
	if r.header.Get("Retry-After") != "" {
		t.Errorf("a hook's Retry-After kept on a 401: %q", r.header.Get("Retry-After"))
	}
	meddler.store.down.Store(true)
	r = meddler.do("GET", "/api/me", "", bearer(tok)...)
	expect(t, r, 503, "", "meddled")
	if r.header.Get("Retry-After") != "5" {
		t.Errorf("a hook's Retry-After on a 503: %q, want the Auth's 5", r.header.Get("Retry-After"))
	}
}

// lateWriter sends its header only at the first Write or at finish, as
// gin's ResponseWriter does: what the header map holds then is what the
// client gets.
type lateWriter struct {
	rec    *httptest.ResponseRecorder
	h      http.Header
	status int
	sent   bool
}

func (l *lateWriter) Header() http.Header { return l.h }

func (l *lateWriter) WriteHeader(code int) {
	if !l.sent && l.status == 0 {
		l.status = code
	}
}

func (l *lateWriter) Write(b []byte) (int, error) {
	l.finish()
	return l.rec.Write(b)
}

func (l *lateWriter) finish() {
	if l.sent {
		return
	}
	l.sent = true
	for k, v := range l.h {
		l.rec.Header()[k] = slices.Clone(v)
	}
	l.rec.WriteHeader(cmp.Or(l.status, http.StatusOK))
}

// A deny hook cannot change the decision's headers through a
// ResponseWriter that sends them late (found by review: on gin a hook that
// changed them after WriteHeader sent a 401 without WWW-Authenticate and
// with a public Cache-Control).
func TestDenyHandlerLateHeaderWriter(t *testing.T) {
	spoil := func(w http.ResponseWriter) {
		w.Header().Del("WWW-Authenticate")
		w.Header().Set("Cache-Control", "public, max-age=3600")
		w.Header().Del("Retry-After")
	}
	hooks := map[string]func(http.ResponseWriter, *http.Request, httpauth.Denial){
		"between WriteHeader and Write": func(w http.ResponseWriter, _ *http.Request, _ httpauth.Denial) {
			w.WriteHeader(http.StatusOK)
			spoil(w)
			fmt.Fprint(w, "please log in")
		},
		"after WriteHeader, no body": func(w http.ResponseWriter, _ *http.Request, _ httpauth.Denial) {
			w.WriteHeader(http.StatusOK)
			spoil(w)
		},
	}
	for name, hook := range hooks {
		t.Run(name, func(t *testing.T) {
			f := newFx(t, fxOptions{auth: []httpauth.Option{httpauth.WithDenyHandler(hook)}})
			lw := &lateWriter{rec: httptest.NewRecorder(), h: http.Header{}}
			f.auth.Require(http.NotFoundHandler()).ServeHTTP(lw, httptest.NewRequest("GET", "/api/me", nil))
			lw.finish()
			res := lw.rec.Result()
			if got := strings.Join(res.Header.Values("Www-Authenticate"), "\n"); res.StatusCode != http.StatusUnauthorized || got != chalBare {
				t.Errorf("status %d, WWW-Authenticate %q; want 401 and %q", res.StatusCode, got, chalBare)
			}
			if cc := res.Header.Get("Cache-Control"); cc != "no-store" {
				t.Errorf("Cache-Control %q, want no-store", cc)
			}
		})
	}
}

// mustToken mints an access token directly (works while the store is down).
func mustToken(t *testing.T, f *fx) string {
	t.Helper()
	p, err := f.iss.IssueAccessToken(context.Background(), "alice")
	if err != nil {
		t.Fatal(err)
	}
	return p.AccessToken
}

func TestNewValidation(t *testing.T) {
	f := newFx(t, fxOptions{})
	bad := []struct {
		name string
		v    *verifier.Verifier
		opts []httpauth.Option
	}{
		{"nil verifier", nil, nil},
		{"nil option", f.ver, []httpauth.Option{nil}},
		{"nil hook", f.ver, []httpauth.Option{httpauth.WithDenyHandler(nil)}},
		{"nil logger", f.ver, []httpauth.Option{httpauth.WithLogger(nil)}},
		{"zero logger", f.ver, []httpauth.Option{httpauth.WithLogger(new(slog.Logger))}},
		{"retry after too short", f.ver, []httpauth.Option{httpauth.WithRetryAfter(time.Millisecond)}},
		{"retry after too long", f.ver, []httpauth.Option{httpauth.WithRetryAfter(2 * time.Hour)}},
		{"SameSite=None without Secure", f.ver, []httpauth.Option{httpauth.WithCookies(httpauth.Cookies{SameSite: http.SameSiteNoneMode, Insecure: true})}},
		{"__Host- with Domain", f.ver, []httpauth.Option{httpauth.WithCookies(httpauth.Cookies{AccessName: "__Host-at", Domain: "example.com"})}},
		{"__Host- insecure", f.ver, []httpauth.Option{httpauth.WithCookies(httpauth.Cookies{CSRFName: "__Host-csrf", Insecure: true})}},
		{"__Host- refresh not at /", f.ver, []httpauth.Option{httpauth.WithCookies(httpauth.Cookies{RefreshName: "__Host-rt"})}},
		{"__Secure- insecure", f.ver, []httpauth.Option{httpauth.WithCookies(httpauth.Cookies{AccessName: "__Secure-at", Insecure: true})}},
		{"same names", f.ver, []httpauth.Option{httpauth.WithCookies(httpauth.Cookies{AccessName: "x", RefreshName: "x"})}},
		{"bad name", f.ver, []httpauth.Option{httpauth.WithCookies(httpauth.Cookies{AccessName: "a;b"})}},
		{"CSRF header is Authorization", f.ver, []httpauth.Option{httpauth.WithCookies(httpauth.Cookies{CSRFHeader: "authorization"})}},
		{"bad domain", f.ver, []httpauth.Option{httpauth.WithCookies(httpauth.Cookies{Domain: "a b"})}},
		{"bad refresh path", f.ver, []httpauth.Option{httpauth.WithCookies(httpauth.Cookies{RefreshPath: "token"})}},
		{"bad SameSite", f.ver, []httpauth.Option{httpauth.WithCookies(httpauth.Cookies{SameSite: 42})}},
	}
	for _, c := range bad {
		if _, err := httpauth.New(c.v, c.opts...); !errors.Is(err, authkit.ErrInvalidConfig) {
			t.Errorf("%s: %v", c.name, err)
		}
	}
	if _, err := httpauth.New(f.ver, httpauth.WithCookies(httpauth.Cookies{AccessName: "__Host-at", CSRFName: "__Host-csrf", RefreshName: "__Secure-rt"})); err != nil {
		t.Errorf("__Host- names: %v", err)
	}
}

// The middleware's cost over the verifier is the principal's context, the
// mark of the Auth that vouches for it (RequireScopes reuses a principal
// only from its own Auth), and the request copy that carries them.
func TestRequireAllocations(t *testing.T) {
	f := newFx(t, fxOptions{})
	tk := mustToken(t, f)
	req := httptest.NewRequest("GET", "/api/me", nil)
	req.Header.Set("Authorization", "Bearer "+tk)
	w := &nopWriter{h: http.Header{}}
	mw := f.auth.Require(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	base := testing.AllocsPerRun(200, func() {
		if _, err := f.ver.Authenticate(req); err != nil {
			t.Fatal(err)
		}
	})
	with := testing.AllocsPerRun(200, func() { mw.ServeHTTP(w, req) })
	if with-base > 3 {
		t.Errorf("Require allocates %v per request, the verifier %v: more than the two context values and the request copy", with, base)
	}
}

type nopWriter struct{ h http.Header }

func (w *nopWriter) Header() http.Header         { return w.h }
func (w *nopWriter) Write(b []byte) (int, error) { return len(b), nil }
func (w *nopWriter) WriteHeader(int)             {}

func BenchmarkRequire(b *testing.B) {
	f := newFx(b, fxOptions{})
	p, err := f.iss.IssueAccessToken(context.Background(), "alice")
	if err != nil {
		b.Fatal(err)
	}
	req := httptest.NewRequest("GET", "/api/me", nil)
	req.Header.Set("Authorization", "Bearer "+p.AccessToken)
	w := &nopWriter{h: http.Header{}}
	mw := f.auth.Require(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	b.Run("verifier", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			_, _ = f.ver.Authenticate(req)
		}
	})
	b.Run("Require", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			mw.ServeHTTP(w, req)
		}
	})
	// The cookie transport: the access token in its cookie (its exp read
	// before it is verified).
	c := newFx(b, fxOptions{auth: []httpauth.Option{httpauth.WithCookies(httpauth.Cookies{})}})
	cp, err := c.iss.IssueAccessToken(context.Background(), "alice")
	if err != nil {
		b.Fatal(err)
	}
	creq := httptest.NewRequest("GET", "/api/me", nil)
	creq.Header.Set("Cookie", "authkit_access="+cp.AccessToken)
	cmw := c.auth.Require(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	b.Run("Require/cookie", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			cmw.ServeHTTP(w, creq)
		}
	})
}

// A route that requires a scope no token can hold denies every request;
// building it logs an error naming the scope, and valid scopes log
// nothing.
func TestScopeMiddlewareLogsImpossibleScopes(t *testing.T) {
	f := newFx(t, fxOptions{})
	logs := &syncBuf{}
	a, err := httpauth.New(f.ver, httpauth.WithLogger(slog.New(slog.NewTextHandler(logs, nil))))
	if err != nil {
		t.Fatal(err)
	}
	a.RequireScopes("orders:read", "write")
	a.RequireAnyScope("a", "b")
	if logs.String() != "" {
		t.Fatalf("valid scopes logged: %s", logs)
	}
	a.RequireScopes("orders write")
	a.RequireAnyScope("ok", "")
	a.RequireAnyScope()
	got := logs.String()
	for _, want := range []string{`RequireScopes names a scope no token can hold`, `scope="\"orders write\""`,
		`RequireAnyScope names a scope no token can hold`, `scope="\"\""`, `RequireAnyScope() with no scopes denies every request`} {
		if !strings.Contains(got, want) {
			t.Errorf("the log lacks %q:\n%s", want, got)
		}
	}
	if n := strings.Count(got, "level=ERROR"); n != 3 {
		t.Errorf("%d error lines, want 3:\n%s", n, got)
	}
}

// A denial's debug line says why (found by review: a token for another
// audience was logged as a bare invalid_token), and never the token.
func TestDenialLogSaysWhy(t *testing.T) {
	f := newFx(t, fxOptions{})
	logs := &syncBuf{}
	a, err := httpauth.New(f.ver, httpauth.WithLogger(slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))))
	if err != nil {
		t.Fatal(err)
	}
	p, err := f.iss.IssueAccessToken(context.Background(), "alice", issuer.WithAudience("https://other.example"))
	if err != nil {
		t.Fatal(err)
	}
	h := a.Require(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { t.Error("reached the handler") }))
	req := httptest.NewRequest("GET", "/x", nil)
	req.Header.Set("Authorization", "Bearer "+p.AccessToken)
	h.ServeHTTP(httptest.NewRecorder(), req)
	got := logs.String()
	if !strings.Contains(got, "request denied") || !strings.Contains(got, "audience") {
		t.Errorf("the denial's log line does not say why:\n%s", got)
	}
	if strings.Contains(got, p.AccessToken[len(p.AccessToken)-20:]) {
		t.Errorf("the log holds the token:\n%s", got)
	}
}

// WithIssuer has New refuse an issuer and a verifier that would not work
// together, as NewHandler does (found by a new-user review: two
// memory.New() calls made every logout report success and change nothing,
// with nothing said).
func TestWithIssuerChecksPair(t *testing.T) {
	k, err := keys.Generate(keys.EdDSA)
	if err != nil {
		t.Fatal(err)
	}
	set, _ := keys.NewSet(k)
	st := memory.New()
	newIss := func(opts ...authkit.Option) *issuer.Issuer {
		iss, err := issuer.New(append([]authkit.Option{authkit.WithKeys(set)}, opts...)...)
		if err != nil {
			t.Fatal(err)
		}
		return iss
	}
	newVer := func(opts ...authkit.Option) *verifier.Verifier {
		v, err := verifier.New(append([]authkit.Option{authkit.WithKeys(set)}, opts...)...)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	for _, c := range []struct {
		name string
		iss  *issuer.Issuer
		ver  *verifier.Verifier
		want string // "" for no error
	}{
		{"one store", newIss(authkit.WithStore(st)), newVer(authkit.WithStore(st)), ""},
		{"two memory stores", newIss(authkit.WithStore(memory.New())), newVer(authkit.WithStore(memory.New())), "two different in-process stores"},
		{"a verifier that checks no revocation", newIss(authkit.WithStore(st)), newVer(), "does not check them"},
		{"an issuer without revocations", newIss(authkit.WithRefreshStore(st)), newVer(), ""},
		{"another issuer", newIss(authkit.WithStore(st), authkit.WithIssuer("https://a.example")), newVer(authkit.WithStore(st), authkit.WithIssuer("https://b.example")), "would refuse every access token"},
	} {
		_, err := httpauth.New(c.ver, httpauth.WithIssuer(c.iss))
		switch {
		case c.want == "" && err != nil:
			t.Errorf("%s: %v", c.name, err)
		case c.want != "" && (!errors.Is(err, authkit.ErrInvalidConfig) || !strings.Contains(err.Error(), c.want)):
			t.Errorf("%s: %v, want ErrInvalidConfig saying %q", c.name, err, c.want)
		}
	}
	if _, err := httpauth.New(newVer(), httpauth.WithIssuer(nil)); !errors.Is(err, authkit.ErrInvalidConfig) {
		t.Errorf("nil issuer: %v", err)
	}
}

// A scope check reuses a principal only when its own Auth put it in the
// context (found by review: Optional of one Auth in front of
// RequireScopes of another admitted the first one's tokens, which the
// second one's verifier refuses, on the second one's routes).
func TestRequireScopesOwnPrincipalOnly(t *testing.T) {
	a, b := newFx(t, fxOptions{}), newFx(t, fxOptions{})
	pair, err := a.iss.IssueAccessToken(t.Context(), "intern", issuer.WithScopes("write"))
	if err != nil {
		t.Fatal(err)
	}
	reached := 0
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { reached++ })
	serve := func(mw http.Handler, ctx context.Context) int {
		req := httptest.NewRequestWithContext(ctx, "POST", "/orders", nil)
		req.Header.Set("Authorization", "Bearer "+pair.AccessToken)
		w := httptest.NewRecorder()
		mw.ServeHTTP(w, req)
		return w.Code
	}
	before := reached
	if code := serve(a.auth.Optional(b.auth.RequireScopes("write")(h)), t.Context()); code != http.StatusUnauthorized || reached != before {
		t.Errorf("a token of A's behind A's Optional and B's RequireScopes: %d (handler reached %d times), want 401 from B's own check", code, reached-before)
	}
	if code := serve(a.auth.Require(b.auth.RequireAnyScope("write")(h)), t.Context()); code != http.StatusUnauthorized || reached != before {
		t.Errorf("a token of A's behind A's Require and B's RequireAnyScope: %d, want 401", code)
	}
	// A principal the application put in the context is not vouched for
	// by any Auth: the scope check authenticates the request itself.
	forged := authkit.WithPrincipal(t.Context(), &authkit.Principal{Subject: "root", Scopes: []string{"write"}})
	if code := serve(b.auth.RequireScopes("write")(h), forged); code != http.StatusUnauthorized || reached != before {
		t.Errorf("a principal set with authkit.WithPrincipal and a token B refuses: %d, want 401", code)
	}
	// Nor is one the application puts on top of the principal an Auth
	// vouched for (found by review: the Auth's mark alone was checked).
	swap := func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			next.ServeHTTP(w, r.WithContext(authkit.WithPrincipal(r.Context(), &authkit.Principal{Subject: "root", Scopes: []string{"admin"}})))
		})
	}
	if code := serve(a.auth.Require(swap(a.auth.RequireScopes("admin")(h))), t.Context()); code != http.StatusForbidden || reached != before {
		t.Errorf("a principal swapped in after A's Require, at A's RequireScopes(admin): %d, want 403 (the token's own scopes)", code)
	}
	// Within one Auth the principal is reused, as before.
	if code := serve(a.auth.Optional(a.auth.RequireScopes("write")(h)), t.Context()); code != http.StatusOK || reached != before+1 {
		t.Errorf("a token of A's behind A's Optional and RequireScopes: %d, want 200", code)
	}
}

// httpauth.New warns when the verifier's store is shared (not in-process)
// but keeps no throttle counters, so that failed passwords are counted
// per process: a decorator that embeds authkit.Store hides them (found by
// review: the meteredstore example made N replicas give N budgets, and
// nothing said so). The memory store itself, in-process, is quiet.
func TestWarnsUnsharedThrottle(t *testing.T) {
	k, err := keys.Generate(keys.EdDSA)
	if err != nil {
		t.Fatal(err)
	}
	set, _ := keys.NewSet(k)
	for _, c := range []struct {
		name  string
		store authkit.Store
		warn  bool
	}{
		{"memory", memory.New(), false},
		{"a decorator hiding it", struct{ authkit.Store }{memory.New()}, true},
		{"no store (a JWT-only resource server)", nil, false},
	} {
		opts := []authkit.Option{authkit.WithKeys(set)}
		if c.store != nil {
			opts = append(opts, authkit.WithStore(c.store))
		}
		v, err := verifier.New(opts...)
		if err != nil {
			t.Fatal(err)
		}
		var buf strings.Builder
		if _, err := httpauth.New(v, httpauth.WithLogger(slog.New(slog.NewTextHandler(&buf, nil)))); err != nil {
			t.Fatal(err)
		}
		if got := strings.Contains(buf.String(), "keeps no shared throttle counters"); got != c.warn {
			t.Errorf("%s: warned %v, want %v: %q", c.name, got, c.warn, buf.String())
		}
	}
}
