package verifier_test

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/authkit-go/authkit"
	"github.com/authkit-go/authkit/backends/memory"
	"github.com/authkit-go/authkit/internal/eventlog"
	"github.com/authkit-go/authkit/issuer"
	"github.com/authkit-go/authkit/keys"
	"github.com/authkit-go/authkit/verifier"
)

// wantEvent is what a test expects of one event; Err is checked with
// errors.Is when set, and must be nil when not.
type wantEvent struct {
	Type      authkit.EventType
	Subject   string
	SessionID string
	TokenID   string
	Method    string
	Err       error
}

// expectOne checks that got is the one event w, and that it carries none
// of secrets in any field or in its error's text.
func expectOne(t *testing.T, what string, got []authkit.Event, secrets []string, w wantEvent) {
	t.Helper()
	if len(got) != 1 {
		t.Fatalf("%s: %d events %+v, want 1", what, len(got), got)
	}
	e := got[0]
	if e.Type != w.Type || e.Subject != w.Subject || e.SessionID != w.SessionID || e.TokenID != w.TokenID || e.Method != w.Method {
		t.Errorf("%s: event {%s sub=%q sid=%q tid=%q method=%q}, want {%s sub=%q sid=%q tid=%q method=%q}",
			what, e.Type, e.Subject, e.SessionID, e.TokenID, e.Method, w.Type, w.Subject, w.SessionID, w.TokenID, w.Method)
	}
	switch {
	case w.Err == nil && e.Err != nil:
		t.Errorf("%s: Err %v, want none", what, e.Err)
	case w.Err != nil && !errors.Is(e.Err, w.Err):
		t.Errorf("%s: Err %v, want %v", what, e.Err, w.Err)
	}
	if e.Time.IsZero() {
		t.Errorf("%s: no Time", what)
	}
	noSecrets(t, what, e, secrets)
}

func noSecrets(t *testing.T, what string, e authkit.Event, secrets []string) {
	t.Helper()
	text := fmt.Sprintf("%+v %#v", e, e)
	if e.Err != nil {
		text += " " + e.Err.Error()
	}
	for _, s := range secrets {
		if s != "" && strings.Contains(text, s) {
			t.Errorf("%s: event carries a secret: %s", what, text)
		}
	}
}

// TestAuthEvents asserts the verifier's events: authenticated for each
// method, auth_failed for each kind of refusal, with the identities of a
// credential known to be ours and none of one that is not.
func TestAuthEvents(t *testing.T) {
	ctx := context.Background()
	var log eventlog.Log
	f := newFixture(t, keys.ES256, authkit.WithEventHook(log.Hook))
	pair, err := f.iss.IssuePair(ctx, "alice")
	if err != nil {
		t.Fatal(err)
	}
	apiSecret, apiTok, err := f.iss.CreateAPIToken(ctx, "alice", "ci")
	if err != nil {
		t.Fatal(err)
	}
	secrets := []string{pair.AccessToken, pair.RefreshToken, apiSecret}

	if _, err := f.ver.Verify(ctx, pair.AccessToken); err != nil {
		t.Fatal(err)
	}
	expectOne(t, "JWT", log.Take(), secrets,
		wantEvent{Type: authkit.EventAuthenticated, Subject: "alice", SessionID: pair.SessionID, TokenID: pair.TokenID, Method: authkit.MethodJWT})
	if _, err := f.ver.Verify(ctx, apiSecret); err != nil {
		t.Fatal(err)
	}
	expectOne(t, "API token", log.Take(), secrets,
		wantEvent{Type: authkit.EventAuthenticated, Subject: "alice", TokenID: apiTok.ID, Method: authkit.MethodAPIToken})

	// A signature by another key under our kid: refused, and the subject
	// it claims ("mallory") is not reported: nobody vouched for it.
	other, _ := keys.Generate(keys.ES256)
	c := f.claims()
	c["sub"] = "mallory"
	forged := forge(t, other, f.header(), c)
	_, err = f.ver.Verify(ctx, forged)
	expectOne(t, "bad signature", log.Take(), append(secrets, forged),
		wantEvent{Type: authkit.EventAuthFailed, Method: authkit.MethodJWT, Err: authkit.ErrInvalidToken})
	if err == nil {
		t.Fatal("a forged token verified")
	}

	// An API token of the right form that is not in the store.
	otherIss, err := issuer.New(authkit.WithKeys(f.set), authkit.WithStore(memory.New()))
	if err != nil {
		t.Fatal(err)
	}
	stranger, _, _ := otherIss.CreateAPIToken(ctx, "alice", "elsewhere")
	f.ver.Verify(ctx, stranger)
	expectOne(t, "unknown API token", log.Take(), append(secrets, stranger),
		wantEvent{Type: authkit.EventAuthFailed, Method: authkit.MethodAPIToken, Err: authkit.ErrInvalidToken})

	// A refresh token is not an access credential.
	f.ver.Verify(ctx, pair.RefreshToken)
	if got := log.Take(); len(got) != 1 || got[0].Type != authkit.EventAuthFailed || !errors.Is(got[0].Err, authkit.ErrInvalidToken) {
		t.Fatalf("refresh token: events %+v", got)
	} else {
		noSecrets(t, "refresh token", got[0], secrets)
	}

	// Revoked: the session, then the API token. The events name them.
	if err := f.iss.RevokeSession(ctx, pair.SessionID); err != nil {
		t.Fatal(err)
	}
	f.ver.Verify(ctx, pair.AccessToken)
	expectOne(t, "revoked JWT", log.Take(), secrets,
		wantEvent{Type: authkit.EventAuthFailed, Subject: "alice", SessionID: pair.SessionID, TokenID: pair.TokenID, Method: authkit.MethodJWT, Err: authkit.ErrTokenRevoked})
	if err := f.iss.RevokeAPIToken(ctx, "alice", apiTok.ID); err != nil {
		t.Fatal(err)
	}
	f.ver.Verify(ctx, apiSecret)
	expectOne(t, "revoked API token", log.Take(), secrets,
		wantEvent{Type: authkit.EventAuthFailed, Subject: "alice", TokenID: apiTok.ID, Method: authkit.MethodAPIToken, Err: authkit.ErrTokenRevoked})

	// Expired: a live session's access token once its TTL has passed, and
	// an API token past its TTL.
	p2, _ := f.iss.IssuePair(ctx, "bob")
	shortSecret, shortTok, _ := f.iss.CreateAPIToken(ctx, "bob", "short", issuer.WithTokenTTL(time.Minute))
	secrets = append(secrets, p2.AccessToken, p2.RefreshToken, shortSecret)
	f.clock.Add(time.Hour)
	f.ver.Verify(ctx, p2.AccessToken)
	expectOne(t, "expired JWT", log.Take(), secrets,
		wantEvent{Type: authkit.EventAuthFailed, Subject: "bob", SessionID: p2.SessionID, TokenID: p2.TokenID, Method: authkit.MethodJWT, Err: authkit.ErrTokenExpired})
	f.ver.Verify(ctx, shortSecret)
	expectOne(t, "expired API token", log.Take(), secrets,
		wantEvent{Type: authkit.EventAuthFailed, Subject: "bob", TokenID: shortTok.ID, Method: authkit.MethodAPIToken, Err: authkit.ErrTokenExpired})

	// A malformed token names nothing.
	f.ver.Verify(ctx, "not.a.jwt")
	expectOne(t, "malformed", log.Take(), secrets,
		wantEvent{Type: authkit.EventAuthFailed, Method: authkit.MethodJWT, Err: authkit.ErrInvalidToken})
}

// The verify cache answers a repeat without verifying afresh; its answers
// are reported the same way.
func TestAuthEventsFromTheCache(t *testing.T) {
	ctx := context.Background()
	var log eventlog.Log
	f := newFixture(t, keys.EdDSA, authkit.WithEventHook(log.Hook), authkit.WithVerifyCache(100))
	pair, _ := f.iss.IssuePair(ctx, "alice")
	r := httptest.NewRequest("GET", "/", nil)
	r.Header.Set("Authorization", "Bearer "+pair.AccessToken)
	secrets := []string{pair.AccessToken, pair.RefreshToken}
	for i := range 2 {
		if _, err := f.ver.Authenticate(r); err != nil {
			t.Fatal(err)
		}
		expectOne(t, fmt.Sprintf("authenticate %d", i), log.Take(), secrets,
			wantEvent{Type: authkit.EventAuthenticated, Subject: "alice", SessionID: pair.SessionID, TokenID: pair.TokenID, Method: authkit.MethodJWT})
	}
	if err := f.iss.RevokeSession(ctx, pair.SessionID); err != nil {
		t.Fatal(err)
	}
	f.ver.Authenticate(r)
	expectOne(t, "revoked, cached", log.Take(), secrets,
		wantEvent{Type: authkit.EventAuthFailed, Subject: "alice", SessionID: pair.SessionID, TokenID: pair.TokenID, Method: authkit.MethodJWT, Err: authkit.ErrTokenRevoked})
	p2, _ := f.iss.IssuePair(ctx, "bob")
	r.Header.Set("Authorization", "Bearer "+p2.AccessToken)
	f.ver.Authenticate(r)
	log.Take()
	f.clock.Add(time.Hour)
	f.ver.Authenticate(r)
	expectOne(t, "expired, cached", log.Take(), append(secrets, p2.AccessToken),
		wantEvent{Type: authkit.EventAuthFailed, Subject: "bob", SessionID: p2.SessionID, TokenID: p2.TokenID, Method: authkit.MethodJWT, Err: authkit.ErrTokenExpired})
}

// Basic credentials: the subject the application's check vouches for is
// reported; a refused password is reported without the name tried or the
// password.
func TestBasicEvents(t *testing.T) {
	ctx := context.Background()
	var log eventlog.Log
	const password = "correct horse battery staple"
	check := func(_ context.Context, user, pass string) (*authkit.Principal, error) {
		if user == "carol" && pass == password {
			return &authkit.Principal{Subject: "user-42"}, nil
		}
		return nil, errors.New("wrong username or password")
	}
	f := newFixture(t, keys.EdDSA, authkit.WithEventHook(log.Hook), authkit.WithBasicAuth(check),
		authkit.WithSchemes(authkit.SchemeBearer, authkit.SchemeBasic))
	_ = ctx
	r := httptest.NewRequest("GET", "/", nil)
	r.Header.Set("Authorization", "Basic "+base64.StdEncoding.EncodeToString([]byte("carol:"+password)))
	if _, err := f.ver.Authenticate(r); err != nil {
		t.Fatal(err)
	}
	expectOne(t, "Basic", log.Take(), []string{password},
		wantEvent{Type: authkit.EventAuthenticated, Subject: "user-42", Method: authkit.MethodBasic})
	r.Header.Set("Authorization", "Basic "+base64.StdEncoding.EncodeToString([]byte("carol:hunter2")))
	if _, err := f.ver.Authenticate(r); !errors.Is(err, authkit.ErrInvalidToken) {
		t.Fatalf("wrong password: %v", err)
	}
	expectOne(t, "Basic, wrong password", log.Take(), []string{password, "hunter2"},
		wantEvent{Type: authkit.EventAuthFailed, Method: authkit.MethodBasic, Err: authkit.ErrInvalidToken})
}

// outageStore is a memory store standing for a remote one that is down:
// its revocation checks and API token lookups fail.
type outageStore struct{ *memory.Store }

func (outageStore) InProcess() bool { return false }

func (outageStore) IsRevoked(context.Context, authkit.RevocationQuery, time.Time) (bool, error) {
	return false, fmt.Errorf("%w: connection refused", authkit.ErrStoreUnavailable)
}

func (outageStore) LookupAPIToken(context.Context, authkit.TokenHash) (authkit.APIToken, error) {
	return authkit.APIToken{}, fmt.Errorf("%w: connection refused", authkit.ErrStoreUnavailable)
}

// A store outage reaches the hook once per authkit.OutageEventInterval of
// the verifier's clock, beside the auth_failed of each refused request.
func TestStoreOutageEvents(t *testing.T) {
	ctx := context.Background()
	var log eventlog.Log
	k, _ := keys.Generate(keys.EdDSA)
	set, _ := keys.NewSet(k)
	mem := memory.New()
	clk := &clock{t: base}
	common := []authkit.Option{authkit.WithKeys(set), authkit.WithClock(clk.Now)}
	is, _ := issuer.New(append(common, authkit.WithStore(mem))...)
	v, err := verifier.New(append(common, authkit.WithStore(outageStore{mem}), authkit.WithEventHook(log.Hook))...)
	if err != nil {
		t.Fatal(err)
	}
	pair, _ := is.IssuePair(ctx, "alice")
	apiSecret, _, _ := is.CreateAPIToken(ctx, "alice", "ci")
	secrets := []string{pair.AccessToken, pair.RefreshToken, apiSecret}

	if _, err := v.Verify(ctx, pair.AccessToken); !errors.Is(err, authkit.ErrStoreUnavailable) {
		t.Fatalf("Verify with the store down: %v", err)
	}
	got := log.Take()
	if len(got) != 2 || got[0].Type != authkit.EventStoreUnavailable || !errors.Is(got[0].Err, authkit.ErrStoreUnavailable) ||
		got[0].Subject != "" || got[0].Method != "" {
		t.Fatalf("first failure: events %+v, want store_unavailable then auth_failed", got)
	}
	expectOne(t, "refused in the outage", got[1:], secrets,
		wantEvent{Type: authkit.EventAuthFailed, Subject: "alice", SessionID: pair.SessionID, TokenID: pair.TokenID, Method: authkit.MethodJWT, Err: authkit.ErrStoreUnavailable})
	noSecrets(t, "store_unavailable", got[0], secrets)

	clk.Add(authkit.OutageEventInterval / 2)
	for range 4 {
		v.Verify(ctx, pair.AccessToken)
		v.Verify(ctx, apiSecret)
	}
	for _, e := range log.Take() {
		if e.Type != authkit.EventAuthFailed {
			t.Errorf("within the interval: %+v, want only auth_failed", e)
		}
	}
	clk.Add(authkit.OutageEventInterval / 2)
	v.Verify(ctx, apiSecret)
	got = log.Take()
	if len(got) != 2 || got[0].Type != authkit.EventStoreUnavailable || !strings.Contains(got[0].Err.Error(), "and 8 more store failures") {
		t.Fatalf("a minute on: %+v, want store_unavailable counting the 8 failures not reported", got)
	}
	expectOne(t, "API token in the outage", got[1:], secrets,
		wantEvent{Type: authkit.EventAuthFailed, Method: authkit.MethodAPIToken, Err: authkit.ErrStoreUnavailable})
}

// Introspect checks as Verify does but is not the token's use: it reports
// no event for the token and does not move an API token's LastUsedAt
// (found by review: a resource server introspecting a revoked token raised
// the theft alarm, and introspection marked API tokens as used).
func TestIntrospectIsNotUse(t *testing.T) {
	ctx := context.Background()
	var log eventlog.Log
	f := newFixture(t, keys.HS256, authkit.WithEventHook(log.Hook))
	pair, err := f.iss.IssuePair(ctx, "alice", issuer.WithScopes("read"))
	if err != nil {
		t.Fatal(err)
	}
	apiSecret, apiTok, err := f.iss.CreateAPIToken(ctx, "alice", "ci")
	if err != nil {
		t.Fatal(err)
	}
	f.clock.Add(2 * time.Hour) // past the last-used step; the access token has expired
	pair2, err := f.iss.IssuePair(ctx, "alice")
	if err != nil {
		t.Fatal(err)
	}
	log.Take()
	for name, tok := range map[string]string{"access token": pair2.AccessToken, "API token": apiSecret} {
		p, err := f.ver.Introspect(ctx, tok)
		if err != nil || p.Subject != "alice" {
			t.Fatalf("Introspect(%s): %v, %v", name, p, err)
		}
	}
	if _, err := f.ver.Introspect(ctx, pair.AccessToken); !errors.Is(err, authkit.ErrTokenExpired) {
		t.Fatalf("Introspect(expired): %v", err)
	}
	if err := f.iss.RevokeSession(ctx, pair2.SessionID); err != nil {
		t.Fatal(err)
	}
	log.Take()
	if _, err := f.ver.Introspect(ctx, pair2.AccessToken); !errors.Is(err, authkit.ErrTokenRevoked) {
		t.Fatalf("Introspect(revoked): %v", err)
	}
	if got := log.Take(); len(got) != 0 {
		t.Errorf("Introspect reported %d events: %+v", len(got), got)
	}
	lastUsed := func() time.Time {
		list, err := f.store.ListAPITokens(ctx, "alice", f.clock.Now())
		if err != nil || len(list) != 1 || list[0].ID != apiTok.ID {
			t.Fatalf("ListAPITokens: %v %+v", err, list)
		}
		return list[0].LastUsedAt
	}
	if got := lastUsed(); !got.Equal(apiTok.LastUsedAt) {
		t.Errorf("Introspect moved the API token's LastUsedAt: %v → %v", apiTok.LastUsedAt, got)
	}
	// Verify, the token's use, still reports and records.
	if _, err := f.ver.Verify(ctx, apiSecret); err != nil {
		t.Fatal(err)
	}
	if got := log.Take(); len(got) != 1 || got[0].Type != authkit.EventAuthenticated {
		t.Errorf("Verify: events %+v, want one authenticated", got)
	}
	if got := lastUsed(); !got.After(apiTok.LastUsedAt) {
		t.Errorf("Verify did not move LastUsedAt (%v)", got)
	}
}

// Now is the verifier's clock (authkit.WithClock), which an introspection
// endpoint compares a principal's ExpiresAt with.
func TestVerifierNow(t *testing.T) {
	f := newFixture(t, keys.HS256)
	if got, want := f.ver.Now(), f.clock.Now(); !got.Equal(want) {
		t.Errorf("Now() = %v, want the verifier's clock %v", got, want)
	}
	f.clock.Add(time.Hour)
	if got, want := f.ver.Now(), f.clock.Now(); !got.Equal(want) {
		t.Errorf("Now() after an hour = %v, want %v", got, want)
	}
}
