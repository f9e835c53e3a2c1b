package authkit_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/authkit-go/authkit"
	"github.com/authkit-go/authkit/backends/memory"
	"github.com/authkit-go/authkit/issuer"
	"github.com/authkit-go/authkit/keys"
	"github.com/authkit-go/authkit/verifier"
)

// The quick start of README.md: generate a key, build an issuer and a
// verifier on the in-memory store, log a user in and check the access token.
// TestReadmeQuickStart keeps the README's copy identical to this one.
func Example_quickStart() {
	ctx := context.Background()
	key, _ := keys.Generate(keys.EdDSA) // errors elided for brevity: check them in real code
	set, _ := keys.NewSet(key)
	opts := []authkit.Option{authkit.WithKeys(set), authkit.WithStore(memory.New()),
		authkit.WithIssuer("https://auth.example.com"), authkit.WithAudience("https://api.example.com")}
	iss, _ := issuer.New(opts...)
	pair, _ := iss.IssuePair(ctx, "alice", issuer.WithScopes("read", "write"))

	ver, _ := verifier.New(opts...)
	p, err := ver.Verify(ctx, pair.AccessToken)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(p.Subject, p.Scopes) // alice [read write]
	// Output:
	// alice [read write]
}

// Act on the class of an error with errors.Is, never on its text: the
// authkit counterpart of golang-jwt's ExampleParse_errorChecking. Each case
// names the HTTP answer the HTTP layer gives it (RFC 6750).
func Example_errorChecking() {
	ctx := context.Background()
	// A settable clock, so that the example can let a token expire.
	now := time.Date(2030, time.January, 2, 3, 4, 5, 0, time.UTC)
	clock := func() time.Time { return now }

	key, err := keys.Generate(keys.ES256)
	if err != nil {
		log.Fatal(err)
	}
	set, err := keys.NewSet(key)
	if err != nil {
		log.Fatal(err)
	}
	store := memory.New()
	opts := []authkit.Option{authkit.WithKeys(set), authkit.WithStore(store), authkit.WithClock(clock)}
	iss, err := issuer.New(opts...)
	if err != nil {
		log.Fatal(err)
	}
	ver, err := verifier.New(opts...)
	if err != nil {
		log.Fatal(err)
	}

	valid, _ := iss.IssuePair(ctx, "alice")
	revoked, _ := iss.IssuePair(ctx, "bob")
	if err := iss.RevokeSession(ctx, revoked.SessionID); err != nil {
		log.Fatal(err)
	}
	expiring, _ := iss.IssueAccessToken(ctx, "carol")
	foreignKey, _ := keys.Generate(keys.ES256)
	foreignSet, _ := keys.NewSet(foreignKey)
	foreignIss, _ := issuer.New(authkit.WithKeys(foreignSet), authkit.WithClock(clock))
	foreign, _ := foreignIss.IssueAccessToken(ctx, "mallory")
	// Alice's header and claims under the signature of Bob's token.
	tampered := valid.AccessToken[:strings.LastIndexByte(valid.AccessToken, '.')] +
		revoked.AccessToken[strings.LastIndexByte(revoked.AccessToken, '.'):]
	cancelled, cancel := context.WithCancel(ctx)
	cancel()

	cases := []struct {
		name   string
		header []string // Authorization header values
		ctx    context.Context
		later  time.Duration // how far the clock moves first
	}{
		{"valid", []string{"Bearer " + valid.AccessToken}, ctx, 0},
		{"no header", nil, ctx, 0},
		{"two headers", []string{"Bearer " + valid.AccessToken, "Bearer " + valid.AccessToken}, ctx, 0},
		{"not a token", []string{"Bearer not a token"}, ctx, 0},
		{"tampered", []string{"Bearer " + tampered}, ctx, 0},
		{"unknown key", []string{"Bearer " + foreign.AccessToken}, ctx, 0},
		{"revoked session", []string{"Bearer " + revoked.AccessToken}, ctx, 0},
		{"client went away", []string{"Bearer " + valid.AccessToken}, cancelled, 0},
		{"expired", []string{"Bearer " + expiring.AccessToken}, ctx, 10 * time.Minute},
	}
	for _, c := range cases {
		now = now.Add(c.later)
		r := httptest.NewRequestWithContext(c.ctx, http.MethodGet, "/orders", nil)
		r.Header["Authorization"] = c.header
		p, err := ver.Authenticate(r)

		var answer string
		switch {
		case err == nil:
			answer = "200, hello " + p.Subject
		case errors.Is(err, authkit.ErrNoCredentials):
			answer = "401, bare Bearer challenge (RFC 6750 §3.1)"
		case errors.Is(err, authkit.ErrInvalidRequest):
			answer = "400 invalid_request"
		case errors.Is(err, authkit.ErrTokenExpired):
			answer = "401 invalid_token: expired, refresh and retry"
		case errors.Is(err, authkit.ErrTokenRevoked):
			answer = "401 invalid_token: revoked, log in again"
		case errors.Is(err, authkit.ErrStoreUnavailable):
			answer = "503: refused, the store cannot answer (fail closed)"
		case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
			answer = "no answer: the request's context ended"
		case errors.Is(err, authkit.ErrInvalidToken):
			answer = "401 invalid_token"
		default:
			answer = "401 invalid_token (unknown errors deny)"
		}
		fmt.Printf("%-17s %s\n", c.name+":", answer)
	}

	// On the refresh side, a second use of a rotated refresh token is reuse
	// (RFC 9700 §4.14): the session is revoked and the error carries it.
	_, _ = iss.Refresh(ctx, valid.RefreshToken)
	_, err = iss.Refresh(ctx, valid.RefreshToken)
	if re, ok := errors.AsType[*authkit.ReuseError](err); ok {
		fmt.Println("refresh reused:", errors.Is(err, authkit.ErrTokenReused), re.SessionID == valid.SessionID)
	}
	// Output:
	// valid:            200, hello alice
	// no header:        401, bare Bearer challenge (RFC 6750 §3.1)
	// two headers:      400 invalid_request
	// not a token:      400 invalid_request
	// tampered:         401 invalid_token
	// unknown key:      401 invalid_token
	// revoked session:  401 invalid_token: revoked, log in again
	// client went away: no answer: the request's context ended
	// expired:          401 invalid_token: expired, refresh and retry
	// refresh reused: true true
}

// Middleware stores the authenticated principal in the request context;
// handlers read it back with PrincipalFrom.
func ExamplePrincipalFrom() {
	ctx := context.Background()
	key, err := keys.Generate(keys.HS256)
	if err != nil {
		log.Fatal(err)
	}
	set, err := keys.NewSet(key)
	if err != nil {
		log.Fatal(err)
	}
	iss, err := issuer.New(authkit.WithKeys(set))
	if err != nil {
		log.Fatal(err)
	}
	ver, err := verifier.New(authkit.WithKeys(set))
	if err != nil {
		log.Fatal(err)
	}
	tok, err := iss.IssueAccessToken(ctx, "alice", issuer.WithScopes("orders:read"))
	if err != nil {
		log.Fatal(err)
	}

	// A minimal authenticating middleware (adapters/httpauth will provide
	// the real one, with RFC 6750 responses).
	requireAuth := func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			p, err := ver.Authenticate(r)
			if err != nil {
				http.Error(w, "unauthorized", http.StatusUnauthorized)
				return
			}
			next.ServeHTTP(w, r.WithContext(authkit.WithPrincipal(r.Context(), p)))
		})
	}
	orders := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p, ok := authkit.PrincipalFrom(r.Context())
		if !ok || !p.HasScope("orders:read") {
			http.Error(w, "forbidden", http.StatusForbidden)
			return
		}
		fmt.Fprintf(w, "orders of %s", p.Subject)
	})

	r := httptest.NewRequest(http.MethodGet, "/orders", nil)
	r.Header.Set("Authorization", "Bearer "+tok.AccessToken)
	w := httptest.NewRecorder()
	requireAuth(orders).ServeHTTP(w, r)
	fmt.Println(w.Code, w.Body.String())

	_, ok := authkit.PrincipalFrom(context.Background())
	fmt.Println("principal in a bare context:", ok)
	// Output:
	// 200 orders of alice
	// principal in a bare context: false
}

// TestReadmeQuickStart checks that the quick start in README.md is, line
// for line, the body of Example_quickStart, so the README's code compiles
// and runs.
func TestReadmeQuickStart(t *testing.T) {
	readme, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	const begin, end = "<!-- quickstart:begin -->\n```go\n", "```\n<!-- quickstart:end -->"
	i := bytes.Index(readme, []byte(begin))
	j := bytes.Index(readme, []byte(end))
	if i < 0 || j < i {
		t.Fatalf("README.md has no quick start between %q and %q", begin, end)
	}
	inReadme := string(readme[i+len(begin) : j])

	src, err := os.ReadFile("example_test.go")
	if err != nil {
		t.Fatal(err)
	}
	const fn, out = "func Example_quickStart() {\n", "\t// Output:\n"
	k := bytes.Index(src, []byte(fn))
	if k < 0 {
		t.Fatal("example_test.go has no Example_quickStart")
	}
	body := src[k+len(fn):]
	body = body[:bytes.Index(body, []byte(out))]
	var inExample strings.Builder
	for line := range strings.Lines(string(body)) {
		if line != "\n" && !strings.HasPrefix(line, "\t") {
			t.Fatalf("Example_quickStart line %q is not indented by a tab", line)
		}
		inExample.WriteString(strings.TrimPrefix(line, "\t"))
	}
	if inReadme != inExample.String() {
		t.Errorf("README.md quick start and Example_quickStart differ; keep them identical.\nREADME:\n%s\nexample:\n%s", inReadme, inExample.String())
	}
}

// Several API servers share one store: each verifier keeps a mirror of the
// revocations, fed by the store, and checks tokens against it without a
// store round trip. A revocation made anywhere reaches every mirror within
// maxLag (on the memory store, within microseconds; on PostgreSQL and Redis,
// within milliseconds); a mirror that has not heard from the store for
// longer than maxLag asks the store directly. Close the verifier to stop
// following the feed.
func ExampleWithRevocationMirror() {
	ctx := context.Background()
	key, err := keys.Generate(keys.EdDSA)
	if err != nil {
		log.Fatal(err)
	}
	set, err := keys.NewSet(key)
	if err != nil {
		log.Fatal(err)
	}
	store := memory.New() // in production: sqlstore or redisstore, shared by every server
	opts := []authkit.Option{authkit.WithKeys(set), authkit.WithStore(store),
		authkit.WithIssuer("https://auth.example.com"), authkit.WithAudience("https://api.example.com")}
	iss, err := issuer.New(opts...)
	if err != nil {
		log.Fatal(err)
	}
	ver, err := verifier.New(append(opts, authkit.WithRevocationMirror(5*time.Second))...)
	if err != nil {
		log.Fatal(err)
	}
	defer ver.Close()

	pair, err := iss.IssuePair(ctx, "alice")
	if err != nil {
		log.Fatal(err)
	}
	if _, err := ver.Verify(ctx, pair.AccessToken); err != nil {
		log.Fatal(err)
	}
	fmt.Println("before: accepted")

	// Log alice out everywhere, as another server might.
	if err := iss.RevokeSubject(ctx, "alice"); err != nil {
		log.Fatal(err)
	}
	// The change travels through the feed: wait for it, at most maxLag.
	deadline := time.Now().Add(5 * time.Second)
	for {
		_, err = ver.Verify(ctx, pair.AccessToken)
		if err != nil || time.Now().After(deadline) {
			break
		}
		time.Sleep(time.Millisecond)
	}
	fmt.Println("after: revoked:", errors.Is(err, authkit.ErrTokenRevoked))
	// Output:
	// before: accepted
	// after: revoked: true
}
