package httpauth_test

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/authkit-go/authkit"
	"github.com/authkit-go/authkit/adapters/httpauth"
	"github.com/authkit-go/authkit/backends/memory"
)

const (
	clientChallenge = `Basic realm="authkit", charset="UTF-8"`
	bodyBadClient   = `{"error":"invalid_client","error_description":"client authentication failed"}`
	bodyTwoMethods  = `{"error":"invalid_request","error_description":"more than one client authentication method"}`
	bodyUnauthGrant = `{"error":"unauthorized_client","error_description":"the client is not authorized to use this grant type"}`
	bodyNotClients  = `{"error":"unauthorized_client","error_description":"the token was not issued to this client"}`
)

// clientFx is a server with a client store and a few registered clients:
// "svc+1" (confidential, client_credentials, scopes read and introspect,
// access TTL 60s), "web" (confidential, password and refresh_token, scope
// read), "spa" (public, password and refresh_token, scope read), "rs"
// (confidential, client_credentials, no introspect scope).
type clientFx struct {
	*fx
	clients *downClients
	secrets map[string]string
	events  *eventLog
}

type eventLog struct {
	mu sync.Mutex
	ev []authkit.Event
}

func (l *eventLog) hook(_ context.Context, e authkit.Event) {
	l.mu.Lock()
	l.ev = append(l.ev, e)
	l.mu.Unlock()
}

func (l *eventLog) find(typ authkit.EventType, method string) (authkit.Event, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, e := range l.ev {
		if e.Type == typ && e.Method == method {
			return e, true
		}
	}
	return authkit.Event{}, false
}

// findFor is find for events about one subject.
func (l *eventLog) findFor(typ authkit.EventType, method, subject string) (authkit.Event, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, e := range l.ev {
		if e.Type == typ && e.Method == method && e.Subject == subject {
			return e, true
		}
	}
	return authkit.Event{}, false
}

// downClients is a client store that can be made unreachable, and whose
// recording of a code's session a test can hold (holdSessions).
type downClients struct {
	*memory.Store
	mu   sync.Mutex
	down bool
	// noCreatedAt makes GetClient hand out clients without a registration
	// time, as a store that breaks authkit.ValidateClient would.
	noCreatedAt bool
	used        map[authkit.TokenHash]time.Time // UseClientAssertion without the memory store's
	// With hold set, SetAuthorizationCodeSession closes reached and waits
	// until a redemption finds a code used (which closes hold).
	hold, reached chan struct{}
	// failSet makes SetAuthorizationCodeSession fail.
	failSet bool
	// scopes, when set for a client ID, replaces its registered scopes (a
	// registration edited in place, as a custom store allows).
	scopes map[string][]string
	// gets counts GetClient calls.
	gets atomic.Int32
}

// holdSessions makes the next SetAuthorizationCodeSession wait until a
// second redemption of a code has been refused, and returns a channel
// closed when that SetAuthorizationCodeSession has begun waiting.
func (d *downClients) holdSessions() <-chan struct{} {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.hold, d.reached = make(chan struct{}), make(chan struct{})
	return d.reached
}

func (d *downClients) RedeemAuthorizationCode(ctx context.Context, h authkit.TokenHash, now time.Time) (authkit.AuthorizationCode, error) {
	rec, err := d.Store.RedeemAuthorizationCode(ctx, h, now)
	if errors.Is(err, authkit.ErrTokenReused) {
		d.mu.Lock()
		if d.hold != nil {
			close(d.hold)
			d.hold = nil
		}
		d.mu.Unlock()
	}
	return rec, err
}

func (d *downClients) SetAuthorizationCodeSession(ctx context.Context, h authkit.TokenHash, sessionID string) error {
	d.mu.Lock()
	hold, reached, fail := d.hold, d.reached, d.failSet
	d.reached = nil
	d.mu.Unlock()
	if fail {
		return errDown
	}
	if reached != nil {
		close(reached)
		if hold != nil {
			// Held until a second redemption finds the code used, for 10 s
			// at most (the store embeds the memory store, so the Handler
			// gives its calls no deadline): a second use that never
			// reaches the reuse path then fails the test instead of
			// hanging it (found by mutation testing).
			select {
			case <-hold:
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(10 * time.Second):
				return fmt.Errorf("downClients: held 10 s, and no second redemption found the code used: %w", errDown)
			}
		}
	}
	return d.Store.SetAuthorizationCodeSession(ctx, h, sessionID)
}

func (d *downClients) GetClient(ctx context.Context, id string) (authkit.Client, error) {
	d.gets.Add(1)
	d.mu.Lock()
	down, zero := d.down, d.noCreatedAt
	scopes, edited := d.scopes[id]
	d.mu.Unlock()
	if down {
		return authkit.Client{}, errDown
	}
	c, err := d.Store.GetClient(ctx, id)
	if zero {
		c.CreatedAt = time.Time{}
	}
	if edited && err == nil {
		c.Scopes = scopes
	}
	return c, err
}

// UseClientAssertion is the memory store's when it has one; until then a
// map here keeps the assertions as authkit.ClientAssertionStore asks.
func (d *downClients) UseClientAssertion(ctx context.Context, clientID string, h authkit.TokenHash, expiresAt, now time.Time) error {
	d.mu.Lock()
	down := d.down
	d.mu.Unlock()
	if down {
		return errDown
	}
	if as, ok := any(d.Store).(authkit.ClientAssertionStore); ok {
		return as.UseClientAssertion(ctx, clientID, h, expiresAt, now)
	}
	if _, err := d.Store.GetClient(ctx, clientID); err != nil {
		return err
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.used == nil {
		d.used = map[authkit.TokenHash]time.Time{}
	}
	if exp, ok := d.used[h]; ok && exp.After(now) {
		return authkit.ErrTokenReused
	}
	d.used[h] = expiresAt
	return nil
}

func newClientFx(t *testing.T, extra ...httpauth.HandlerOption) *clientFx {
	t.Helper()
	return newClientFxWith(t, fxOptions{handler: extra})
}

// newClientFxWith is newClientFx with further options of every kind.
func newClientFxWith(t *testing.T, o fxOptions) *clientFx {
	t.Helper()
	cs := &downClients{Store: memory.New()}
	ev := &eventLog{}
	f := newFx(t, fxOptions{
		handler:  append([]httpauth.HandlerOption{httpauth.WithClientStore(cs)}, o.handler...),
		issuer:   append([]authkit.Option{authkit.WithEventHook(ev.hook)}, o.issuer...),
		auth:     append([]httpauth.Option{httpauth.WithEventHook(ev.hook)}, o.auth...),
		verifier: o.verifier,
		noGrant:  o.noGrant,
	})
	c := &clientFx{fx: f, clients: cs, secrets: map[string]string{}, events: ev}
	for _, cl := range []authkit.Client{
		{ID: "svc+1", GrantTypes: []string{authkit.GrantClientCredentials}, Scopes: []string{"read", "introspect"}, AccessTTL: time.Minute},
		{ID: "web", GrantTypes: []string{authkit.GrantPassword, authkit.GrantRefreshToken}, Scopes: []string{"read"}},
		{ID: "rs", GrantTypes: []string{authkit.GrantClientCredentials}, Scopes: []string{"read"}},
		{ID: "spa", GrantTypes: []string{authkit.GrantPassword, authkit.GrantRefreshToken}, Scopes: []string{"read"}},
	} {
		if cl.ID != "spa" {
			secret, h, err := f.iss.NewClientSecret()
			if err != nil {
				t.Fatal(err)
			}
			cl.SecretHash, c.secrets[cl.ID] = h, secret
		}
		cl.CreatedAt = base
		if err := cs.CreateClient(context.Background(), cl); err != nil {
			t.Fatal(err)
		}
	}
	return c
}

// basicAuth is client_secret_basic: each part form-urlencoded, then Basic.
func clientBasic(id, secret string) []string {
	raw := url.QueryEscape(id) + ":" + url.QueryEscape(secret)
	return []string{"Authorization", "Basic " + base64.StdEncoding.EncodeToString([]byte(raw))}
}

// A client secret longer than any authkit makes (512 bytes) is refused
// as a bad client before the store is asked, by Basic and by POST (found
// by mutation testing: no test failed without the bound).
func TestClientSecretBounded(t *testing.T) {
	f := newClientFx(t)
	long := strings.Repeat("s", 513)
	for name, req := range map[string]struct{ kv, hdr []string }{
		"Basic": {nil, clientBasic("svc+1", long)},
		"post":  {[]string{"client_id", "svc+1", "client_secret", long}, nil},
	} {
		before := f.clients.gets.Load()
		r := f.form("/token", append([]string{"grant_type", "client_credentials"}, req.kv...), req.hdr...)
		expect(t, r, 401, clientChallenge, bodyBadClient)
		if n := f.clients.gets.Load() - before; n != 0 {
			t.Errorf("%s: a 513-byte secret made %d client lookups, want none", name, n)
		}
	}
}

func TestClientCredentialsGrant(t *testing.T) {
	f := newClientFx(t)
	svc := clientBasic("svc+1", f.secrets["svc+1"])

	r := f.form("/token", []string{"grant_type", "client_credentials"}, svc...)
	if r.status != 200 {
		t.Fatalf("client_secret_basic: %d %s", r.status, r.body)
	}
	m := r.json(t)
	if _, ok := m["refresh_token"]; ok {
		t.Error("client_credentials returned a refresh token (RFC 6749 §4.4.3: it should not)")
	}
	if m["scope"] != "read introspect" || m["expires_in"] != float64(60) || m["token_type"] != "Bearer" {
		t.Errorf("response %s: want the client's scopes and its 60s access TTL", r.body)
	}
	if r.header.Get("Cache-Control") != "no-store" {
		t.Error("token response without Cache-Control: no-store")
	}
	p, err := f.ver.Verify(context.Background(), m["access_token"].(string))
	if err != nil {
		t.Fatal(err)
	}
	if p.Subject != "svc+1" || p.ClientID != "svc+1" {
		t.Errorf("sub %q client_id %q, want the client ID for both", p.Subject, p.ClientID)
	}
	if e, ok := f.events.find(authkit.EventIssued, "client_credentials"); !ok || e.Subject != "svc+1" {
		t.Errorf("no EventIssued with Method client_credentials for svc+1 (%+v)", e)
	}

	// client_secret_post, narrower scope.
	r = f.form("/token", []string{"grant_type", "client_credentials", "client_id", "svc+1", "client_secret", f.secrets["svc+1"], "scope", "read"})
	if r.status != 200 || r.json(t)["scope"] != "read" {
		t.Errorf("client_secret_post with scope read: %d %s", r.status, r.body)
	}
	// A scope the client was not registered with.
	expect(t, f.form("/token", []string{"grant_type", "client_credentials", "scope", "write"}, svc...), 400, "", bodyBadScope)

	for _, tc := range []struct {
		name      string
		kv        []string
		hdr       []string
		status    int
		challenge string
		body      string
	}{
		{"wrong secret (Basic)", nil, clientBasic("svc+1", f.secrets["web"]), 401, clientChallenge, bodyBadClient},
		{"wrong secret (post)", []string{"client_id", "svc+1", "client_secret", f.secrets["web"]}, nil, 401, clientChallenge, bodyBadClient},
		{"unknown client", []string{"client_id", "ghost", "client_secret", f.secrets["svc+1"]}, nil, 401, clientChallenge, bodyBadClient},
		{"id not percent-decoded", nil, []string{"Authorization", "Basic " + base64.StdEncoding.EncodeToString([]byte("svc%2B1x:"+f.secrets["svc+1"]))}, 401, clientChallenge, bodyBadClient},
		{"no client authentication", nil, nil, 401, clientChallenge, bodyBadClient},
		{"confidential client without its secret", []string{"client_id", "svc+1"}, nil, 401, clientChallenge, bodyBadClient},
		{"public client", []string{"client_id", "spa"}, nil, 401, clientChallenge, bodyBadClient},
		{"public client with a secret", []string{"client_id", "spa", "client_secret", f.secrets["svc+1"]}, nil, 401, clientChallenge, bodyBadClient},
		{"both methods", []string{"client_id", "svc+1", "client_secret", f.secrets["svc+1"]}, svc, 400, "", bodyTwoMethods},
		{"Basic and another client_id", []string{"client_id", "web"}, svc, 400, "", bodyTwoMethods},
		{"secret without id", []string{"client_secret", f.secrets["svc+1"]}, nil, 400, "", `{"error":"invalid_request","error_description":"client_secret requires client_id"}`},
		{"client not allowed the grant", nil, clientBasic("web", f.secrets["web"]), 400, "", bodyUnauthGrant},
		{"malformed Basic", nil, []string{"Authorization", "Basic !!!"}, 401, clientChallenge, bodyBadClient},
		{"Basic without colon", nil, []string{"Authorization", "Basic " + base64.StdEncoding.EncodeToString([]byte("svc"))}, 401, clientChallenge, bodyBadClient},
		{"oversized Basic", nil, []string{"Authorization", "Basic " + strings.Repeat("A", 8<<10)}, 401, clientChallenge, bodyBadClient},
		{"client_id too long", []string{"client_id", strings.Repeat("c", authkit.MaxClientIDLen+1), "client_secret", "x"}, nil, 401, clientChallenge, bodyBadClient},
		{"two Authorization headers", nil, append(svc, svc...), 400, "", `{"error":"invalid_request","error_description":"more than one Authorization header"}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := f.form("/token", append([]string{"grant_type", "client_credentials"}, tc.kv...), tc.hdr...)
			expect(t, r, tc.status, tc.challenge, tc.body)
			for _, s := range f.secrets {
				if strings.Contains(r.body, s) {
					t.Error("the response echoes a client secret")
				}
			}
		})
	}
	if e, ok := f.events.find(authkit.EventLoginFailed, httpauth.MethodClientSecret); !ok || e.Subject == "" {
		t.Errorf("no EventLoginFailed for a failed client authentication (%+v)", e)
	}
}

func TestClientCredentialsOffWithoutClientStore(t *testing.T) {
	f := newFx(t, fxOptions{})
	r := f.form("/token", []string{"grant_type", "client_credentials", "client_id", "svc", "client_secret", "x"})
	expect(t, r, 400, "", `{"error":"unsupported_grant_type","error_description":"unsupported grant_type"}`)
	// Client credentials on other grants are ignored, as before.
	if tk := f.login("alice", ""); tk.RefreshToken == "" {
		t.Fatal("no refresh token")
	}
	r = f.form("/token", []string{"grant_type", "password", "username", "alice", "password", users["alice"], "client_id", "whoever"})
	if r.status != 200 {
		t.Errorf("password grant with an unknown client_id and no client store: %d %s", r.status, r.body)
	}
}

func TestClientAuthStoreDown(t *testing.T) {
	f := newClientFx(t)
	f.clients.mu.Lock()
	f.clients.down = true
	f.clients.mu.Unlock()
	r := f.form("/token", []string{"grant_type", "client_credentials"}, clientBasic("svc+1", f.secrets["svc+1"])...)
	expect(t, r, 503, "", bodyUnavailableJSON)
	if r.header.Get("Retry-After") == "" {
		t.Error("503 without Retry-After")
	}
}

const bodyUnavailableJSON = `{"error":"temporarily_unavailable","error_description":"the authentication service is temporarily unavailable"}`

func TestClientAuthThrottled(t *testing.T) {
	f := newClientFx(t)
	wrong := clientBasic("svc+1", f.secrets["web"])
	for i := 0; i < httpauth.DefaultThrottlePolicy().Pair.Free+1; i++ {
		expect(t, f.form("/token", []string{"grant_type", "client_credentials"}, wrong...), 401, clientChallenge, bodyBadClient)
	}
	r := f.form("/token", []string{"grant_type", "client_credentials"}, clientBasic("svc+1", f.secrets["svc+1"])...)
	if r.status != 429 || r.header.Get("Retry-After") == "" || r.json(t)["error"] != "slow_down" {
		t.Fatalf("after failures beyond the free allowance: %d %s, want 429 slow_down", r.status, r.body)
	}
	// Another client from the same address is not held back by svc+1's pair.
	r = f.form("/token", []string{"grant_type", "client_credentials"}, clientBasic("rs", f.secrets["rs"])...)
	if r.status != 200 {
		t.Errorf("another client: %d %s", r.status, r.body)
	}
	// The counters are kept for the window only.
	f.clock.Add(time.Hour + time.Second)
	r = f.form("/token", []string{"grant_type", "client_credentials"}, clientBasic("svc+1", f.secrets["svc+1"])...)
	if r.status != 200 {
		t.Errorf("after the window: %d %s", r.status, r.body)
	}
}

// A client's right secret clears its (client, address) counter, unlike a
// user's right password: client IDs are compared exactly, so no other
// client can clear it (internal/throttle Policy.ClearPair).
func TestClientAuthSuccessClearsThePair(t *testing.T) {
	f := newClientFx(t)
	wrong := clientBasic("svc+1", f.secrets["web"])
	right := clientBasic("svc+1", f.secrets["svc+1"])
	for i := 0; i < httpauth.DefaultThrottlePolicy().Pair.Free+1; i++ {
		expect(t, f.form("/token", []string{"grant_type", "client_credentials"}, wrong...), 401, clientChallenge, bodyBadClient)
	}
	f.clock.Add(2 * time.Second) // past the wait the sixth failure began
	if r := f.form("/token", []string{"grant_type", "client_credentials"}, right...); r.status != 200 {
		t.Fatalf("the right secret after the wait: %d %s", r.status, r.body)
	}
	// Five failures are free again: the next is checked, not held.
	expect(t, f.form("/token", []string{"grant_type", "client_credentials"}, wrong...), 401, clientChallenge, bodyBadClient)
	if r := f.form("/token", []string{"grant_type", "client_credentials"}, right...); r.status != 200 {
		t.Errorf("a failure after the right secret holds the client: %d %s", r.status, r.body)
	}
}

// refreshWith refreshes rt with extra parameters and headers.
func (f *clientFx) refreshWith(rt string, kv []string, hdr ...string) resp {
	f.t.Helper()
	return f.form("/token", append([]string{"grant_type", "refresh_token", "refresh_token", rt}, kv...), hdr...)
}

func (f *clientFx) loginAs(t *testing.T, kv []string, hdr ...string) tokens {
	t.Helper()
	r := f.form("/token", append([]string{"grant_type", "password", "username", "alice", "password", users["alice"]}, kv...), hdr...)
	if r.status != 200 {
		t.Fatalf("login: %d %s", r.status, r.body)
	}
	var tk tokens
	m := r.json(t)
	tk.AccessToken, _ = m["access_token"].(string)
	tk.RefreshToken, _ = m["refresh_token"].(string)
	tk.Scope, _ = m["scope"].(string)
	return tk
}

func TestClientPasswordAndRefreshBinding(t *testing.T) {
	f := newClientFx(t)
	web := clientBasic("web", f.secrets["web"])

	// A public client's login carries its client_id.
	spa := f.loginAs(t, []string{"client_id", "spa", "scope", "read"})
	p, err := f.ver.Verify(context.Background(), spa.AccessToken)
	if err != nil || p.ClientID != "spa" {
		t.Fatalf("client_id %q (%v), want spa", p.ClientID, err)
	}
	expect(t, f.form("/token", []string{"grant_type", "password", "username", "alice", "password", users["alice"], "client_id", "spa", "scope", "write"}), 400, "", bodyBadScope)
	// The client needs the password grant.
	expect(t, f.form("/token", []string{"grant_type", "password", "username", "alice", "password", users["alice"]}, clientBasic("rs", f.secrets["rs"])...), 400, "", bodyUnauthGrant)

	// The refresh token is the spa's alone.
	expect(t, f.refreshWith(spa.RefreshToken, nil), 400, "", bodyBadRefresh)
	expect(t, f.refreshWith(spa.RefreshToken, nil, web...), 400, "", bodyBadRefresh)
	r := f.refreshWith(spa.RefreshToken, []string{"client_id", "spa"})
	if r.status != 200 {
		t.Fatalf("refresh by its client: %d %s", r.status, r.body)
	}
	spaRT := r.json(t)["refresh_token"].(string)
	// A refusal left the token unspent: the right refresh was not reuse.
	if r := f.refreshWith(spaRT, []string{"client_id", "spa"}); r.status != 200 {
		t.Errorf("second refresh by its client: %d %s", r.status, r.body)
	}

	// A confidential client must authenticate to refresh its tokens.
	wt := f.loginAs(t, nil, web...)
	expect(t, f.refreshWith(wt.RefreshToken, []string{"client_id", "web"}), 401, clientChallenge, bodyBadClient)
	expect(t, f.refreshWith(wt.RefreshToken, []string{"client_id", "web", "client_secret", f.secrets["rs"]}), 401, clientChallenge, bodyBadClient)
	if r := f.refreshWith(wt.RefreshToken, []string{"client_id", "web", "client_secret", f.secrets["web"]}); r.status != 200 {
		t.Errorf("refresh by web with client_secret_post: %d %s", r.status, r.body)
	}

	// First-party sessions keep working without a client, and are no
	// client's to refresh.
	fp := f.loginAs(t, nil)
	expect(t, f.refreshWith(fp.RefreshToken, []string{"client_id", "spa"}), 400, "", bodyBadRefresh)
	if r := f.refreshWith(fp.RefreshToken, nil); r.status != 200 {
		t.Errorf("first-party refresh: %d %s", r.status, r.body)
	}

	// A deleted client's refresh tokens refresh for no one.
	gone := f.loginAs(t, []string{"client_id", "spa"})
	if err := f.clients.DeleteClient(context.Background(), "spa"); err != nil {
		t.Fatal(err)
	}
	expect(t, f.refreshWith(gone.RefreshToken, nil), 400, "", bodyBadRefresh)
	expect(t, f.refreshWith(gone.RefreshToken, []string{"client_id", "spa"}), 401, clientChallenge, bodyBadClient)

	// A client store outage while authenticating the client is a 503.
	f.clients.mu.Lock()
	f.clients.down = true
	f.clients.mu.Unlock()
	expect(t, f.refreshWith(wt.RefreshToken, []string{"client_id", "web", "client_secret", f.secrets["web"]}), 503, "", bodyUnavailableJSON)
}

func TestClientRefreshFirstPartyClientID(t *testing.T) {
	cs := memory.New()
	f := newFx(t, fxOptions{
		handler: []httpauth.HandlerOption{httpauth.WithClientStore(cs)},
		issuer:  []authkit.Option{authkit.WithClientID("first-party")},
	})
	tk := f.login("alice", "")
	if r := f.form("/token", []string{"grant_type", "refresh_token", "refresh_token", tk.RefreshToken}); r.status != 200 {
		t.Errorf("a session of the issuer's own client_id refreshes without a client: %d %s", r.status, r.body)
	}
}

func TestClientRevocation(t *testing.T) {
	f := newClientFx(t)
	svc := clientBasic("svc+1", f.secrets["svc+1"])
	rs := clientBasic("rs", f.secrets["rs"])
	r := f.form("/token", []string{"grant_type", "client_credentials"}, svc...)
	at := r.json(t)["access_token"].(string)

	// A confidential client's token: not anonymously, not by another client.
	expect(t, f.form("/revoke", []string{"token", at}), 401, clientChallenge, bodyBadClient)
	expect(t, f.form("/revoke", []string{"token", at}, rs...), 400, "", bodyNotClients)
	expect(t, f.form("/revoke", []string{"token", at}, clientBasic("svc+1", "wrong")...), 401, clientChallenge, bodyBadClient)
	if _, err := f.ver.Verify(context.Background(), at); err != nil {
		t.Fatalf("a refused revocation revoked the token: %v", err)
	}
	if r := f.form("/revoke", []string{"token", at}, svc...); r.status != 200 {
		t.Fatalf("revocation by its client: %d %s", r.status, r.body)
	}
	if _, err := f.ver.Verify(context.Background(), at); err == nil {
		t.Error("the token still verifies after its client revoked it")
	}
	// An invalid token is 200 (RFC 7009 §2.2), even for a client.
	if r := f.form("/revoke", []string{"token", "not-a-token"}, rs...); r.status != 200 {
		t.Errorf("invalid token: %d", r.status)
	}

	// A public client's refresh token: by possession, or by that client.
	spa := f.loginAs(t, []string{"client_id", "spa"})
	expect(t, f.form("/revoke", []string{"token", spa.RefreshToken, "client_id", "web", "client_secret", f.secrets["web"]}), 400, "", bodyNotClients)
	if r := f.form("/revoke", []string{"token", spa.RefreshToken, "client_id", "spa"}); r.status != 200 {
		t.Errorf("revocation by the public client: %d %s", r.status, r.body)
	}
	expect(t, f.refreshWith(spa.RefreshToken, []string{"client_id", "spa"}), 400, "", bodyBadRefresh)
	// A first-party token is revoked by possession, as without a client store.
	fp := f.loginAs(t, nil)
	if r := f.form("/revoke", []string{"token", fp.RefreshToken}); r.status != 200 {
		t.Errorf("first-party revocation: %d %s", r.status, r.body)
	}
}

func TestClientIntrospection(t *testing.T) {
	f := newClientFx(t)
	svc := clientBasic("svc+1", f.secrets["svc+1"])
	tk := f.login("alice", "read")

	r := f.form("/introspect", []string{"token", tk.AccessToken}, svc...)
	if r.status != 200 || r.json(t)["active"] != true || r.json(t)["sub"] != "alice" {
		t.Fatalf("introspection by a client with the introspect scope: %d %s", r.status, r.body)
	}
	r = f.form("/introspect", []string{"token", tk.AccessToken, "client_id", "svc+1", "client_secret", f.secrets["svc+1"]})
	if r.status != 200 || r.json(t)["active"] != true {
		t.Errorf("client_secret_post: %d %s", r.status, r.body)
	}
	// Refused without a Bearer challenge: the client sent no access token
	// (found by review: insufficient_scope blamed one).
	r = f.form("/introspect", []string{"token", tk.AccessToken}, clientBasic("rs", f.secrets["rs"])...)
	if r.status != 403 || r.json(t)["error"] != "unauthorized_client" || r.header.Get("WWW-Authenticate") != "" {
		t.Errorf("client without the introspect scope: %d %s, WWW-Authenticate %q", r.status, r.body, r.header.Get("WWW-Authenticate"))
	}
	expect(t, f.form("/introspect", []string{"token", tk.AccessToken, "client_id", "spa"}), 401, clientChallenge, bodyBadClient)
	expect(t, f.form("/introspect", []string{"token", tk.AccessToken}, clientBasic("svc+1", "nope")...), 401, clientChallenge, bodyBadClient)
	// A bearer caller holding the scope still may.
	caller := f.login("bob", "introspect")
	r = f.form("/introspect", []string{"token", tk.AccessToken}, bearer(caller.AccessToken)...)
	if r.status != 200 || r.json(t)["active"] != true {
		t.Errorf("bearer caller: %d %s", r.status, r.body)
	}
	// Neither: 401 from the Auth, as before.
	if r := f.form("/introspect", []string{"token", tk.AccessToken}); r.status != 401 {
		t.Errorf("no caller: %d", r.status)
	}
}

// A client registered for the password grant but not for refresh_token
// gets no refresh token, as with the authorization code (found by review:
// the password grant handed it one it could never use).
func TestPasswordGrantWithoutRefreshGrant(t *testing.T) {
	f := newClientFx(t)
	secret, h, err := f.iss.NewClientSecret()
	if err != nil {
		t.Fatal(err)
	}
	if err := f.clients.CreateClient(t.Context(), authkit.Client{ID: "pw", SecretHash: h, CreatedAt: base,
		GrantTypes: []string{authkit.GrantPassword}, Scopes: []string{"read"}}); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		id, secret  string
		wantRefresh bool
	}{{"pw", secret, false}, {"web", f.secrets["web"], true}} {
		r := f.form("/token", []string{"grant_type", "password", "username", "alice", "password", users["alice"], "scope", "read"},
			clientBasic(c.id, c.secret)...)
		if r.status != 200 {
			t.Fatalf("password grant through %s: %d %s", c.id, r.status, r.body)
		}
		if got := strings.Contains(r.body, `"refresh_token"`); got != c.wantRefresh {
			t.Errorf("password grant through %s: a refresh_token in %s is %v, want %v", c.id, r.body, got, c.wantRefresh)
		}
	}
}

// A credential sent where a name belongs — an API or refresh token as the
// user name, a client secret as the client_id (swapped Basic parts), a
// JWT as the user name — never reaches an event: the Subject is
// redacted. Found by review: they reached serve's audit log verbatim.
func TestEventsRedactCredentialsAsNames(t *testing.T) {
	f := newClientFx(t)
	apiTok, _, err := f.iss.CreateAPIToken(t.Context(), "alice", "ci")
	if err != nil {
		t.Fatal(err)
	}
	pair := f.login("alice", "read")
	secret := f.secrets["svc+1"]
	f.form("/token", []string{"grant_type", "password", "username", apiTok, "password", "x"}, clientBasic("web", f.secrets["web"])...)
	f.form("/token", []string{"grant_type", "password", "username", pair.RefreshToken, "password", "x"}, clientBasic("web", f.secrets["web"])...)
	f.form("/token", []string{"grant_type", "password", "username", pair.AccessToken, "password", "x"}, clientBasic("web", f.secrets["web"])...)
	f.form("/token", []string{"grant_type", "client_credentials"}, clientBasic(secret, "svc+1")...)
	f.form("/token", []string{"grant_type", "client_credentials", "client_id", secret, "client_secret", "svc+1"})
	// A name is still reported as typed.
	f.form("/token", []string{"grant_type", "password", "username", "mallory", "password", "x"}, clientBasic("web", f.secrets["web"])...)
	if _, ok := f.events.findFor(authkit.EventLoginFailed, httpauth.MethodPassword, "mallory"); !ok {
		t.Error("no login_failed event naming mallory")
	}
	f.events.mu.Lock()
	defer f.events.mu.Unlock()
	redacted := 0
	for _, e := range f.events.ev {
		for _, s := range []string{apiTok, pair.RefreshToken, pair.AccessToken, secret} {
			if e.Subject == s || strings.Contains(e.Subject, s[:20]) {
				t.Errorf("event %s (%s) carries a credential as its subject", e.Type, e.Method)
			}
		}
		if e.Type == authkit.EventLoginFailed && e.Subject == "[redacted: a token]" {
			redacted++
		}
	}
	if redacted < 5 {
		t.Errorf("%d login_failed events with a redacted subject, want 5 (one per attempt): %+v", redacted, f.events.ev)
	}
}

// A refresh token of a client since removed, or removed and registered
// again, refreshes for no one (clientBinding) and so introspects as
// inactive, naming no one (found by review: active, with its owner and
// session). A first-party session's is unaffected, and a client store
// that cannot answer fails the introspection rather than guess.
func TestIntrospectRefreshOfRemovedClient(t *testing.T) {
	f := newClientFx(t)
	caller := bearer(f.login("bob", "introspect").AccessToken)
	introspect := func(tok string) map[string]any {
		t.Helper()
		r := f.form("/introspect", []string{"token", tok, "token_type_hint", "refresh_token"}, caller...)
		if r.status != 200 {
			t.Fatalf("introspection: %d %s", r.status, r.body)
		}
		return r.json(t)
	}
	spa := f.loginAs(t, []string{"client_id", "spa"})
	own := f.login("alice", "read")
	if m := introspect(spa.RefreshToken); m["active"] != true || m["client_id"] != "spa" {
		t.Fatalf("a live client's refresh token: %v", m)
	}
	ctx := context.Background()
	if err := f.clients.DeleteClient(ctx, "spa"); err != nil {
		t.Fatal(err)
	}
	if m := introspect(spa.RefreshToken); m["active"] != false || len(m) != 1 {
		t.Errorf("the refresh token of a removed client introspects as %v, want only active: false", m)
	}
	if r := f.refreshWith(spa.RefreshToken, []string{"client_id", "spa"}); r.status == 200 {
		t.Fatal("the refresh token of a removed client refreshed")
	}
	again := authkit.Client{ID: "spa", GrantTypes: []string{authkit.GrantPassword, authkit.GrantRefreshToken}, Scopes: []string{"read"}, CreatedAt: base.Add(time.Hour)}
	if err := f.clients.CreateClient(ctx, again); err != nil {
		t.Fatal(err)
	}
	if m := introspect(spa.RefreshToken); m["active"] != false {
		t.Errorf("the refresh token of a client registered again introspects as %v", m)
	}
	if m := introspect(own.RefreshToken); m["active"] != true {
		t.Errorf("a first-party refresh token: %v", m)
	}
	f.clients.mu.Lock()
	f.clients.down = true
	f.clients.mu.Unlock()
	if r := f.form("/introspect", []string{"token", spa.RefreshToken, "token_type_hint", "refresh_token"}, caller...); r.status != 503 {
		t.Errorf("introspection with the client store down: %d %s, want 503", r.status, r.body)
	}
}

// A client's registered scopes bound its sessions' refreshes as they are
// now: a registration narrowed since the login narrows the refreshed token
// (and what introspection shows), and one that no longer holds any of the
// session's scopes refuses the refresh with invalid_scope (found by
// review: the refresh kept the scopes the client had lost).
func TestRefreshBoundByClientScopesNow(t *testing.T) {
	f := newClientFx(t)
	f.clients.mu.Lock()
	f.clients.scopes = map[string][]string{"web": {"read", "write"}}
	f.clients.mu.Unlock()
	web := clientBasic("web", f.secrets["web"])
	r := f.form("/token", []string{"grant_type", "password", "username", "alice", "password", users["alice"], "scope", "read write"}, web...)
	if r.status != 200 || r.json(t)["scope"] != "read write" {
		t.Fatalf("login through web: %d %s", r.status, r.body)
	}
	rt := r.json(t)["refresh_token"].(string)
	set := func(s ...string) {
		f.clients.mu.Lock()
		f.clients.scopes["web"] = s
		f.clients.mu.Unlock()
	}
	set("read")
	in := f.form("/introspect", []string{"token", rt}, clientBasic("svc+1", f.secrets["svc+1"])...)
	if in.status != 200 || in.json(t)["scope"] != "read" {
		t.Errorf("introspection after the client lost write: %d %s, want scope read", in.status, in.body)
	}
	r = f.form("/token", []string{"grant_type", "refresh_token", "refresh_token", rt}, web...)
	if r.status != 200 || r.json(t)["scope"] != "read" {
		t.Fatalf("refresh after the client lost write: %d %s, want scope read", r.status, r.body)
	}
	rt = r.json(t)["refresh_token"].(string)
	set("admin")
	r = f.form("/token", []string{"grant_type", "refresh_token", "refresh_token", rt}, web...)
	if r.status != 400 || r.body != bodyBadScope {
		t.Errorf("refresh after the client lost every scope of the session: %d %s, want 400 invalid_scope", r.status, r.body)
	}
}

// A client registered for more scopes than one token carries (allowed up
// to authkit.MaxClientScopes) is asked to name the ones it needs, not
// answered 500 (found by review).
func TestClientCredentialsManyScopes(t *testing.T) {
	f := newClientFx(t)
	secret, h, err := f.iss.NewClientSecret()
	if err != nil {
		t.Fatal(err)
	}
	c := authkit.Client{ID: "many", SecretHash: h, GrantTypes: []string{authkit.GrantClientCredentials}, CreatedAt: base}
	for i := range authkit.MaxScopes + 36 {
		c.Scopes = append(c.Scopes, "s"+strconv.Itoa(i))
	}
	if err := f.clients.CreateClient(context.Background(), c); err != nil {
		t.Fatal(err)
	}
	r := f.form("/token", []string{"grant_type", "client_credentials"}, clientBasic("many", secret)...)
	if r.status != 400 || r.json(t)["error"] != "invalid_scope" {
		t.Errorf("no scope named by a client of %d scopes: %d %s, want 400 invalid_scope", len(c.Scopes), r.status, r.body)
	}
	r = f.form("/token", []string{"grant_type", "client_credentials", "scope", "s1 s2"}, clientBasic("many", secret)...)
	if r.status != 200 || r.json(t)["scope"] != "s1 s2" {
		t.Errorf("two scopes named: %d %s", r.status, r.body)
	}
}
