package httpauth_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
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

var base = time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)

// clock is a settable fake clock.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time      { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Add(d time.Duration) { c.mu.Lock(); c.t = c.t.Add(d); c.mu.Unlock() }

var errDown = fmt.Errorf("flaky: connection refused: %w", authkit.ErrStoreUnavailable)

// flakyStore is the memory store with a switch that makes every call fail
// as an unreachable backend would.
type flakyStore struct {
	*memory.Store
	down atomic.Bool
	// beforeCreateAPIToken, when set, runs as CreateAPIToken begins.
	beforeCreateAPIToken atomic.Pointer[func()]
}

func (s *flakyStore) CreateSession(ctx context.Context, x authkit.Session, r authkit.RefreshRecord) error {
	if s.down.Load() {
		return errDown
	}
	return s.Store.CreateSession(ctx, x, r)
}

func (s *flakyStore) RotateRefresh(ctx context.Context, r authkit.Rotation) (authkit.Session, error) {
	if s.down.Load() {
		return authkit.Session{}, errDown
	}
	return s.Store.RotateRefresh(ctx, r)
}

func (s *flakyStore) LookupRefresh(ctx context.Context, h authkit.TokenHash) (authkit.RefreshRecord, error) {
	if s.down.Load() {
		return authkit.RefreshRecord{}, errDown
	}
	return s.Store.LookupRefresh(ctx, h)
}

func (s *flakyStore) Session(ctx context.Context, id string) (authkit.Session, error) {
	if s.down.Load() {
		return authkit.Session{}, errDown
	}
	return s.Store.Session(ctx, id)
}

func (s *flakyStore) ListSessions(ctx context.Context, sub string, now time.Time) ([]authkit.Session, error) {
	if s.down.Load() {
		return nil, errDown
	}
	return s.Store.ListSessions(ctx, sub, now)
}

func (s *flakyStore) RevokeSession(ctx context.Context, id string, now time.Time) error {
	if s.down.Load() {
		return errDown
	}
	return s.Store.RevokeSession(ctx, id, now)
}

func (s *flakyStore) RevokeSubjectSessions(ctx context.Context, sub string, now time.Time) ([]string, error) {
	if s.down.Load() {
		return nil, errDown
	}
	return s.Store.RevokeSubjectSessions(ctx, sub, now)
}

func (s *flakyStore) RevokeToken(ctx context.Context, subject, jti string, until time.Time) error {
	if s.down.Load() {
		return errDown
	}
	return s.Store.RevokeToken(ctx, subject, jti, until)
}

func (s *flakyStore) RevokeSessionTokens(ctx context.Context, subject, sid string, until time.Time) error {
	if s.down.Load() {
		return errDown
	}
	return s.Store.RevokeSessionTokens(ctx, subject, sid, until)
}

func (s *flakyStore) SetCutoff(ctx context.Context, sub string, cutoff, until time.Time) error {
	if s.down.Load() {
		return errDown
	}
	return s.Store.SetCutoff(ctx, sub, cutoff, until)
}

func (s *flakyStore) IsRevoked(ctx context.Context, q authkit.RevocationQuery, now time.Time) (bool, error) {
	if s.down.Load() {
		return false, errDown
	}
	return s.Store.IsRevoked(ctx, q, now)
}

func (s *flakyStore) CreateAPIToken(ctx context.Context, t authkit.APIToken, limit int, now time.Time) error {
	if s.down.Load() {
		return errDown
	}
	if f := s.beforeCreateAPIToken.Swap(nil); f != nil {
		(*f)()
	}
	return s.Store.CreateAPIToken(ctx, t, limit, now)
}

func (s *flakyStore) LookupAPIToken(ctx context.Context, h authkit.TokenHash) (authkit.APIToken, error) {
	if s.down.Load() {
		return authkit.APIToken{}, errDown
	}
	return s.Store.LookupAPIToken(ctx, h)
}

func (s *flakyStore) ListAPITokens(ctx context.Context, sub string, now time.Time) ([]authkit.APIToken, error) {
	if s.down.Load() {
		return nil, errDown
	}
	return s.Store.ListAPITokens(ctx, sub, now)
}

func (s *flakyStore) RevokeAPIToken(ctx context.Context, sub, id string, now time.Time) error {
	if s.down.Load() {
		return errDown
	}
	return s.Store.RevokeAPIToken(ctx, sub, id, now)
}

var users = map[string]string{"alice": "wonderland", "bob": "builder", "carol": "singer"}

// checkPassword is the application's credential checker of the tests.
func checkPassword(_ context.Context, username, password string) (string, error) {
	if want, ok := users[username]; ok && want == password {
		return username, nil
	}
	return "", errors.New("bad credentials")
}

type fxOptions struct {
	auth     []httpauth.Option
	handler  []httpauth.HandlerOption
	verifier []authkit.Option
	issuer   []authkit.Option
	noGrant  bool
}

// fx is one complete server: issuer, verifier, Auth, Handler and a few
// protected routes, over a real httptest server.
type fx struct {
	t     testing.TB
	clock *clock
	store *flakyStore
	key   *keys.Key
	iss   *issuer.Issuer
	ver   *verifier.Verifier
	auth  *httpauth.Auth
	h     *httpauth.Handler
	srv   *httptest.Server
}

func newFx(t testing.TB, o fxOptions) *fx {
	t.Helper()
	k, err := keys.Generate(keys.EdDSA)
	if err != nil {
		t.Fatal(err)
	}
	set, err := keys.NewSet(k)
	if err != nil {
		t.Fatal(err)
	}
	f := &fx{t: t, clock: &clock{t: base}, store: &flakyStore{Store: memory.New()}, key: k}
	common := []authkit.Option{authkit.WithKeys(set), authkit.WithStore(f.store), authkit.WithClock(f.clock.Now),
		authkit.WithIssuer("https://auth.example"), authkit.WithAudience("api")}
	if f.iss, err = issuer.New(append(common, o.issuer...)...); err != nil {
		t.Fatal(err)
	}
	if f.ver, err = verifier.New(append(common, o.verifier...)...); err != nil {
		t.Fatal(err)
	}
	if f.auth, err = httpauth.New(f.ver, append([]httpauth.Option{httpauth.WithThrottleClock(f.clock.Now)}, o.auth...)...); err != nil {
		t.Fatal(err)
	}
	hopts := []httpauth.HandlerOption{httpauth.WithClock(f.clock.Now), httpauth.WithAllowedScopes("read", "write", "introspect", "a", "b")}
	if !o.noGrant {
		hopts = append(hopts, httpauth.WithPasswordGrant(checkPassword))
	}
	if f.h, err = httpauth.NewHandler(f.iss, f.auth, append(hopts, o.handler...)...); err != nil {
		t.Fatal(err)
	}
	me := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p, ok := authkit.PrincipalFrom(r.Context())
		if !ok {
			fmt.Fprint(w, "anonymous")
			return
		}
		fmt.Fprintf(w, "%s %s [%s]", p.Subject, p.Method, strings.Join(p.Scopes, " "))
	})
	mux := http.NewServeMux()
	mux.Handle("/", f.h)
	mux.Handle("/api/me", f.auth.Require(me))
	mux.Handle("/api/opt", f.auth.Optional(me))
	mux.Handle("/api/write", f.auth.RequireScopes("write")(me))
	mux.Handle("/api/both", f.auth.RequireScopes("read", "write")(me))
	mux.Handle("/api/any", f.auth.RequireAnyScope("a", "b")(me))
	mux.Handle("/api/none", f.auth.RequireAnyScope()(me))
	mux.Handle("/api/chain", f.auth.Require(f.auth.RequireScopes("read")(me)))
	f.srv = httptest.NewServer(mux)
	t.Cleanup(f.srv.Close)
	return f
}

type resp struct {
	status int
	header http.Header
	body   string
}

func (r resp) json(t testing.TB) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal([]byte(r.body), &m); err != nil {
		t.Fatalf("body %q is not a JSON object: %v", r.body, err)
	}
	return m
}

// do sends a request; hdr alternates names and values.
func (f *fx) do(method, path, body string, hdr ...string) resp {
	f.t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, f.srv.URL+path, rd)
	if err != nil {
		f.t.Fatal(err)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Add(hdr[i], hdr[i+1])
	}
	res, err := f.srv.Client().Do(req)
	if err != nil {
		f.t.Fatal(err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		f.t.Fatal(err)
	}
	return resp{status: res.StatusCode, header: res.Header, body: string(b)}
}

const formType = "application/x-www-form-urlencoded"

// form posts form-encoded values (name, value, name, value…).
func (f *fx) form(path string, kv []string, hdr ...string) resp {
	f.t.Helper()
	v := url.Values{}
	for i := 0; i+1 < len(kv); i += 2 {
		v.Add(kv[i], kv[i+1])
	}
	return f.do("POST", path, v.Encode(), append([]string{"Content-Type", formType}, hdr...)...)
}

type tokens struct {
	AccessToken  string `json:"access_token"`
	TokenType    string `json:"token_type"`
	ExpiresIn    int64  `json:"expires_in"`
	RefreshToken string `json:"refresh_token"`
	Scope        string `json:"scope"`
}

// login runs the password grant and returns the tokens.
func (f *fx) login(user, scope string) tokens {
	f.t.Helper()
	kv := []string{"grant_type", "password", "username", user, "password", users[user]}
	if scope != "" {
		kv = append(kv, "scope", scope)
	}
	r := f.form("/token", kv)
	if r.status != 200 {
		f.t.Fatalf("login %s: %d %s", user, r.status, r.body)
	}
	var tk tokens
	if err := json.Unmarshal([]byte(r.body), &tk); err != nil {
		f.t.Fatal(err)
	}
	return tk
}

func bearer(tok string) []string { return []string{"Authorization", "Bearer " + tok} }

// challenges returns the WWW-Authenticate fields of a response, one per
// line, in order ("" = none).
func challenges(h http.Header) string { return strings.Join(h.Values("WWW-Authenticate"), "\n") }

// expect checks status, the exact WWW-Authenticate fields ("" = absent,
// several separated by "\n"; see challenges) and an exact body.
func expect(t *testing.T, r resp, status int, challenge, body string) {
	t.Helper()
	if r.status != status {
		t.Errorf("status %d, want %d (body %s)", r.status, status, r.body)
	}
	if got := challenges(r.header); got != challenge {
		t.Errorf("WWW-Authenticate %q, want %q", got, challenge)
	}
	if body != "" && r.body != body {
		t.Errorf("body %s, want %s", r.body, body)
	}
}
