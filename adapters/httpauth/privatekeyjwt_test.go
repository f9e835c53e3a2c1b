package httpauth_test

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/hmac"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/authkit-go/authkit"
	"github.com/authkit-go/authkit/adapters/httpauth"
	"github.com/authkit-go/authkit/keys"
)

// issuerID is the fixtures' issuer identifier, the audience an assertion
// names; tokenURL is the token endpoint's URL, which it may name only with
// WithEndpointAssertionAudiences.
const (
	issuerID = "https://auth.example"
	tokenURL = issuerID + "/token"
)

// syncBuf is a log destination safe for the server's goroutines.
type syncBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuf) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuf) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// pkFx is a clientFx with clients that authenticate with private_key_jwt:
// "kjwt" (keys k1 and k3, ES256, and k2, EdDSA; client_credentials,
// scopes read and introspect) and "badset" (a key set holding a private
// key, which no client may register).
type pkFx struct {
	*clientFx
	logs       *syncBuf
	k1, k2, k3 *keys.Key
	jti        atomic.Int64
}

func newPKFx(t *testing.T, auth ...httpauth.Option) *pkFx {
	t.Helper()
	return newPKFxWith(t, fxOptions{auth: auth})
}

// newPKFxWith is newPKFx with further options of every kind.
func newPKFxWith(t *testing.T, o fxOptions) *pkFx {
	t.Helper()
	logs := &syncBuf{}
	log := slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	o.auth = append([]httpauth.Option{httpauth.WithLogger(log)}, o.auth...)
	f := &pkFx{clientFx: newClientFxWith(t, o), logs: logs}
	f.k1, f.k2, f.k3 = genKey(t, keys.ES256, "k1"), genKey(t, keys.EdDSA, "k2"), genKey(t, keys.ES256, "k3")
	f.register(t, authkit.Client{ID: "kjwt", GrantTypes: []string{authkit.GrantClientCredentials}, Scopes: []string{"read", "introspect"},
		JWKS: publicJWKS(t, f.k1, f.k2, f.k3)})
	priv, err := f.k1.MarshalJWK()
	if err != nil {
		t.Fatal(err)
	}
	f.register(t, authkit.Client{ID: "badset", GrantTypes: []string{authkit.GrantClientCredentials},
		JWKS: []byte(`{"keys":[` + string(priv) + `]}`)})
	return f
}

func (f *pkFx) register(t *testing.T, c authkit.Client) {
	t.Helper()
	c.CreatedAt = base
	if err := f.clients.CreateClient(context.Background(), c); err != nil {
		t.Fatal(err)
	}
}

func genKey(t testing.TB, alg keys.Algorithm, kid string) *keys.Key {
	t.Helper()
	g, err := keys.Generate(alg)
	if err != nil {
		t.Fatal(err)
	}
	// Package keys derives the kid; a PEM round trip gives the test's own.
	pem, err := g.MarshalPEM()
	if err != nil {
		t.Fatal(err)
	}
	k, err := keys.ParsePEM(pem, alg, kid)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// publicJWKS is the public JWK set of ks.
func publicJWKS(t testing.TB, ks ...*keys.Key) []byte {
	t.Helper()
	set, err := keys.NewVerificationSet(ks...)
	if err != nil {
		t.Fatal(err)
	}
	b, err := set.JWKS()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func b64(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

// claimsFor are valid assertion claims of client id at the fixture's
// clock, with a fresh jti.
func (f *pkFx) claimsFor(id string) map[string]any {
	now := f.clock.Now()
	return map[string]any{"iss": id, "sub": id, "aud": issuerID, "exp": now.Add(5 * time.Minute).Unix(),
		"iat": now.Unix(), "jti": fmt.Sprintf("jti-%d", f.jti.Add(1))}
}

// compact signs a JWS with k over the given header and claims.
func compact(t testing.TB, k *keys.Key, hdr, cl map[string]any) string {
	t.Helper()
	hb, err := json.Marshal(hdr)
	if err != nil {
		t.Fatal(err)
	}
	pb, err := json.Marshal(cl)
	if err != nil {
		t.Fatal(err)
	}
	in := b64(hb) + "." + b64(pb)
	sig, err := k.Sign([]byte(in))
	if err != nil {
		t.Fatal(err)
	}
	return in + "." + b64(sig)
}

// sign is compact with the key's own alg and kid.
func sign(t testing.TB, k *keys.Key, cl map[string]any) string {
	return compact(t, k, map[string]any{"alg": string(k.Algorithm()), "kid": k.ID()}, cl)
}

// withAssertion is a form with a client assertion.
func withAssertion(a string, kv ...string) []string {
	return append([]string{"client_assertion_type", httpauth.ClientAssertionTypeJWT, "client_assertion", a}, kv...)
}

func (f *pkFx) clientCredentials(a string, kv ...string) resp {
	f.t.Helper()
	return f.form("/token", withAssertion(a, append([]string{"grant_type", "client_credentials"}, kv...)...))
}

// TestPrivateKeyJWTAudienceInjection: by default an assertion's audience
// is the issuer identifier alone. One naming the token endpoint's URL is
// what a malicious authorization server whose metadata names this
// server's token endpoint obtains from a client (CVE-2025-27370), and is
// refused; WithEndpointAssertionAudiences accepts it for clients that
// cannot change, still as a single value.
func TestPrivateKeyJWTAudienceInjection(t *testing.T) {
	f := newPKFx(t)
	for name, aud := range map[string]any{
		"token endpoint":            tokenURL,
		"introspection endpoint":    issuerID + "/introspect",
		"foreign server and issuer": []string{"https://attacker.example", issuerID},
		"foreign server and token":  []string{"https://attacker.example", tokenURL},
	} {
		if r := f.clientCredentials(sign(t, f.k1, with(f.claimsFor("kjwt"), "aud", aud))); r.status != 401 {
			t.Errorf("aud %s: %d %s, want 401", name, r.status, r.body)
		}
	}

	f = newPKFxWith(t, fxOptions{handler: []httpauth.HandlerOption{httpauth.WithEndpointAssertionAudiences()}})
	for name, aud := range map[string]any{"issuer": issuerID, "token endpoint": tokenURL, "token endpoint, array of one": []string{tokenURL}} {
		if r := f.clientCredentials(sign(t, f.k1, with(f.claimsFor("kjwt"), "aud", aud))); r.status != 200 {
			t.Errorf("with the option, aud %s: %d %s, want 200", name, r.status, r.body)
		}
	}
	for name, aud := range map[string]any{
		"introspection endpoint at /token": issuerID + "/introspect",
		"foreign server and token":         []string{"https://attacker.example", tokenURL},
		"issuer and token":                 []string{issuerID, tokenURL},
	} {
		if r := f.clientCredentials(sign(t, f.k1, with(f.claimsFor("kjwt"), "aud", aud))); r.status != 401 {
			t.Errorf("with the option, aud %s: %d %s, want 401", name, r.status, r.body)
		}
	}
	// The endpoint called may be named there.
	tk := f.login("alice", "read")
	r := f.form("/introspect", withAssertion(sign(t, f.k1, with(f.claimsFor("kjwt"), "aud", issuerID+"/introspect")), "token", tk.AccessToken))
	if r.status != 200 || r.json(t)["active"] != true {
		t.Errorf("with the option, introspection naming its own URL: %d %s", r.status, r.body)
	}
}

func TestPrivateKeyJWTGrantIntrospectRevoke(t *testing.T) {
	f := newPKFx(t)
	r := f.clientCredentials(sign(t, f.k1, f.claimsFor("kjwt")))
	if r.status != 200 {
		t.Fatalf("client_credentials with private_key_jwt: %d %s", r.status, r.body)
	}
	at := r.json(t)["access_token"].(string)
	p, err := f.ver.Verify(context.Background(), at)
	if err != nil {
		t.Fatal(err)
	}
	if p.Subject != "kjwt" || p.ClientID != "kjwt" {
		t.Errorf("sub %q client_id %q, want kjwt", p.Subject, p.ClientID)
	}
	// Every key of the set works, each by its kid; EdDSA is alone in its
	// algorithm, so it also works without a kid.
	for name, a := range map[string]string{
		"k2":               sign(t, f.k2, f.claimsFor("kjwt")),
		"k3":               sign(t, f.k3, f.claimsFor("kjwt")),
		"k2 no kid":        compact(t, f.k2, map[string]any{"alg": "EdDSA"}, f.claimsFor("kjwt")),
		"client_id":        sign(t, f.k1, f.claimsFor("kjwt")),
		"aud array of one": sign(t, f.k1, with(f.claimsFor("kjwt"), "aud", []string{issuerID})),
	} {
		kv := []string{}
		if name == "client_id" {
			kv = []string{"client_id", "kjwt"}
		}
		if r := f.clientCredentials(a, kv...); r.status != 200 {
			t.Errorf("%s: %d %s", name, r.status, r.body)
		}
	}

	// Introspection takes the same audience.
	tk := f.login("alice", "read")
	r = f.form("/introspect", withAssertion(sign(t, f.k1, f.claimsFor("kjwt")), "token", tk.AccessToken))
	if r.status != 200 || r.json(t)["active"] != true || r.json(t)["sub"] != "alice" {
		t.Fatalf("introspection with private_key_jwt: %d %s", r.status, r.body)
	}

	// Revocation of its own token.
	r = f.form("/revoke", withAssertion(sign(t, f.k1, f.claimsFor("kjwt")), "token", at))
	if r.status != 200 {
		t.Fatalf("revocation with private_key_jwt: %d %s", r.status, r.body)
	}
	if _, err := f.ver.Verify(context.Background(), at); err == nil {
		t.Error("the token still verifies after its client revoked it")
	}
	// The same without authentication is refused for a confidential client.
	r = f.clientCredentials(sign(t, f.k1, f.claimsFor("kjwt")))
	at2 := r.json(t)["access_token"].(string)
	expect(t, f.form("/revoke", []string{"token", at2}), 401, clientChallenge, bodyBadClient)
}

func with(m map[string]any, k string, v any) map[string]any { m[k] = v; return m }
func without(m map[string]any, k string) map[string]any     { delete(m, k); return m }

func TestPrivateKeyJWTRefused(t *testing.T) {
	// A throttle that lets every case through to its own refusal.
	lenient := httpauth.DefaultThrottlePolicy()
	lenient.Pair.Free, lenient.Address.Free, lenient.User.Free = 1000, 1000, 1000
	f := newPKFx(t, httpauth.WithThrottlePolicy(lenient))
	other := genKey(t, keys.ES256, "k1") // same kid, another key
	now := f.clock.Now()
	pubJWK, err := f.k1.PublicJWK()
	if err != nil {
		t.Fatal(err)
	}
	hs := func(secret []byte) string {
		hb, _ := json.Marshal(map[string]any{"alg": "HS256", "kid": "k1"})
		pb, _ := json.Marshal(f.claimsFor("kjwt"))
		in := b64(hb) + "." + b64(pb)
		m := hmac.New(sha256.New, secret)
		m.Write([]byte(in))
		return in + "." + b64(m.Sum(nil))
	}
	none := func() string {
		hb, _ := json.Marshal(map[string]any{"alg": "none"})
		pb, _ := json.Marshal(f.claimsFor("kjwt"))
		return b64(hb) + "." + b64(pb) + "."
	}
	noneSig := func() string { return none() + "AAAA" }
	good := sign(t, f.k1, f.claimsFor("kjwt"))
	cases := map[string][]string{
		"wrong signature":         withAssertion(sign(t, other, f.claimsFor("kjwt"))),
		"tampered payload":        withAssertion(strings.Replace(good, ".", ".e30", 1)),
		"HS256 with the JWK":      withAssertion(hs(pubJWK)),
		"HS256 with the JWKS":     withAssertion(hs(publicJWKS(t, f.k1, f.k2, f.k3))),
		"alg none":                withAssertion(none()),
		"alg none with sig":       withAssertion(noneSig()),
		"alg of another key":      withAssertion(compact(t, f.k2, map[string]any{"alg": "EdDSA", "kid": "k1"}, f.claimsFor("kjwt"))),
		"ambiguous without kid":   withAssertion(compact(t, f.k1, map[string]any{"alg": "ES256"}, f.claimsFor("kjwt"))),
		"unknown kid":             withAssertion(compact(t, f.k1, map[string]any{"alg": "ES256", "kid": "nope"}, f.claimsFor("kjwt"))),
		"embedded jwk":            withAssertion(compact(t, f.k1, map[string]any{"alg": "ES256", "kid": "k1", "jwk": json.RawMessage(pubJWK)}, f.claimsFor("kjwt"))),
		"wrong aud":               withAssertion(sign(t, f.k1, with(f.claimsFor("kjwt"), "aud", "https://elsewhere.example/token"))),
		"relative aud":            withAssertion(sign(t, f.k1, with(f.claimsFor("kjwt"), "aud", "/token"))),
		"aud token endpoint":      withAssertion(sign(t, f.k1, with(f.claimsFor("kjwt"), "aud", tokenURL))),
		"aud array, foreign too":  withAssertion(sign(t, f.k1, with(f.claimsFor("kjwt"), "aud", []string{"https://attacker.example", issuerID}))),
		"aud array, issuer twice": withAssertion(sign(t, f.k1, with(f.claimsFor("kjwt"), "aud", []string{issuerID, issuerID}))),
		"no aud":                  withAssertion(sign(t, f.k1, without(f.claimsFor("kjwt"), "aud"))),
		"expired":                 withAssertion(sign(t, f.k1, with(f.claimsFor("kjwt"), "exp", now.Add(-2*time.Minute).Unix()))),
		"no exp":                  withAssertion(sign(t, f.k1, without(f.claimsFor("kjwt"), "exp"))),
		"too long-lived":          withAssertion(sign(t, f.k1, with(f.claimsFor("kjwt"), "exp", now.Add(11*time.Minute).Unix()))),
		"iat too old":             withAssertion(sign(t, f.k1, with(f.claimsFor("kjwt"), "iat", now.Add(-11*time.Minute).Unix()))),
		"iat in the future":       withAssertion(sign(t, f.k1, with(f.claimsFor("kjwt"), "iat", now.Add(2*time.Minute).Unix()))),
		"nbf in the future":       withAssertion(sign(t, f.k1, with(f.claimsFor("kjwt"), "nbf", now.Add(2*time.Minute).Unix()))),
		"no jti":                  withAssertion(sign(t, f.k1, without(f.claimsFor("kjwt"), "jti"))),
		"empty jti":               withAssertion(sign(t, f.k1, with(f.claimsFor("kjwt"), "jti", ""))),
		"long jti":                withAssertion(sign(t, f.k1, with(f.claimsFor("kjwt"), "jti", strings.Repeat("j", 257)))),
		"iss not sub":             withAssertion(sign(t, f.k1, with(f.claimsFor("kjwt"), "iss", "web"))),
		"no iss":                  withAssertion(sign(t, f.k1, without(f.claimsFor("kjwt"), "iss"))),
		"other client_id":         withAssertion(sign(t, f.k1, f.claimsFor("kjwt")), "client_id", "web"),
		"client with a secret":    withAssertion(sign(t, f.k1, f.claimsFor("web"))),
		"public client":           withAssertion(sign(t, f.k1, f.claimsFor("spa"))),
		"unknown client":          withAssertion(sign(t, f.k1, f.claimsFor("ghost"))),
		"private key in its set":  withAssertion(sign(t, f.k1, f.claimsFor("badset"))),
		"oversize":                withAssertion(sign(t, f.k1, with(f.claimsFor("kjwt"), "pad", strings.Repeat("x", httpauth.MaxClientAssertionLen)))),
		"not a JWT":               withAssertion("abc.def"),
		"empty assertion":         withAssertion(""),
		"wrong assertion type":    {"client_assertion_type", "urn:ietf:params:oauth:client-assertion-type:saml2-bearer", "client_assertion", sign(t, f.k1, f.claimsFor("kjwt"))},
		"assertion without type":  {"client_assertion", sign(t, f.k1, f.claimsFor("kjwt"))},
		"type without assertion":  {"client_assertion_type", httpauth.ClientAssertionTypeJWT},
	}
	for name, kv := range cases {
		r := f.form("/token", append([]string{"grant_type", "client_credentials"}, kv...))
		if r.status != 401 || r.header.Get("WWW-Authenticate") != clientChallenge || r.body != bodyBadClient {
			t.Errorf("%s: %d %q %s, want 401 invalid_client with the Basic challenge", name, r.status, r.header.Get("WWW-Authenticate"), r.body)
		}
	}
	if e, ok := f.events.findFor(authkit.EventLoginFailed, httpauth.MethodPrivateKeyJWT, "kjwt"); !ok || e.Err == nil {
		t.Errorf("no EventLoginFailed with Method %s for kjwt and a reason (%+v)", httpauth.MethodPrivateKeyJWT, e)
	}
	logs := f.logs.String()
	if !strings.Contains(logs, "unusable key set") || !strings.Contains(logs, "client_id=badset") {
		t.Errorf("no warning naming the client with an unusable key set; logs:\n%s", logs)
	}
	if strings.Contains(logs, good[:40]) || strings.Contains(logs, "eyJ") {
		t.Errorf("an assertion reached the logs:\n%s", logs)
	}
	// None of the refusals spent the good assertion's jti.
	if r := f.clientCredentials(good); r.status != 200 {
		t.Errorf("the good assertion after the refusals: %d %s", r.status, r.body)
	}
}

func TestPrivateKeyJWTTwoMethods(t *testing.T) {
	f := newPKFx(t)
	a := sign(t, f.k1, f.claimsFor("kjwt"))
	r := f.form("/token", withAssertion(a, "grant_type", "client_credentials"), clientBasic("web", f.secrets["web"])...)
	expect(t, r, 400, "", bodyTwoMethods)
	r = f.form("/token", withAssertion(a, "grant_type", "client_credentials", "client_id", "kjwt", "client_secret", "x"))
	expect(t, r, 400, "", bodyTwoMethods)
	r = f.form("/introspect", withAssertion(a, "token", "x"), clientBasic("svc+1", f.secrets["svc+1"])...)
	expect(t, r, 400, "", bodyTwoMethods)
	// The assertion was not spent by the refused requests.
	if r := f.clientCredentials(a); r.status != 200 {
		t.Errorf("the assertion after refused two-method requests: %d %s", r.status, r.body)
	}
}

func TestPrivateKeyJWTReplay(t *testing.T) {
	f := newPKFx(t)
	// A second Handler on the same client store (another instance of the
	// service).
	h2, err := httpauth.NewHandler(f.iss, f.auth, httpauth.WithClock(f.clock.Now), httpauth.WithClientStore(f.clients))
	if err != nil {
		t.Fatal(err)
	}
	srv2 := httptest.NewServer(h2)
	t.Cleanup(srv2.Close)
	f2 := *f.fx
	f2.srv = srv2

	a := sign(t, f.k1, f.claimsFor("kjwt"))
	if r := f.clientCredentials(a); r.status != 200 {
		t.Fatalf("first use: %d %s", r.status, r.body)
	}
	expect(t, f2.form("/token", withAssertion(a, "grant_type", "client_credentials")), 401, clientChallenge, bodyBadClient)
	expect(t, f.clientCredentials(a), 401, clientChallenge, bodyBadClient)
	if e, ok := f.events.findFor(authkit.EventLoginFailed, httpauth.MethodPrivateKeyJWT, "kjwt"); !ok || e.Err != authkit.ErrTokenReused {
		t.Errorf("replay event %+v, want Subject kjwt, Err ErrTokenReused", e)
	}
	// Another jti from the same client passes, through either Handler.
	if r := f2.form("/token", withAssertion(sign(t, f.k1, f.claimsFor("kjwt")), "grant_type", "client_credentials")); r.status != 200 {
		t.Errorf("a fresh assertion on the second Handler: %d %s", r.status, r.body)
	}
	// The same jti from another client is another assertion.
	f.register(t, authkit.Client{ID: "kjwt2", GrantTypes: []string{authkit.GrantClientCredentials}, JWKS: publicJWKS(t, f.k1)})
	cl := f.claimsFor("kjwt")
	a1 := sign(t, f.k1, cl)
	cl["iss"], cl["sub"] = "kjwt2", "kjwt2"
	a2 := sign(t, f.k1, cl)
	for i, a := range []string{a1, a2} {
		if r := f.clientCredentials(a); r.status != 200 {
			t.Errorf("assertion %d with a shared jti: %d %s", i, r.status, r.body)
		}
	}
}

func TestPrivateKeyJWTConcurrentReplay(t *testing.T) {
	f := newPKFx(t)
	a := sign(t, f.k1, f.claimsFor("kjwt"))
	var ok atomic.Int32
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if f.clientCredentials(a).status == 200 {
				ok.Add(1)
			}
		}()
	}
	wg.Wait()
	if ok.Load() != 1 {
		t.Errorf("%d of 8 concurrent uses of one assertion passed, want 1", ok.Load())
	}
}

// assertionlessStore is a ClientStore without ClientAssertionStore.
type assertionlessStore struct{ authkit.ClientStore }

func TestPrivateKeyJWTNeedsAssertionStore(t *testing.T) {
	logs := &syncBuf{}
	log := slog.New(slog.NewTextHandler(logs, nil))
	f := newClientFxWith(t, fxOptions{auth: []httpauth.Option{httpauth.WithLogger(log)}})
	k := genKey(t, keys.ES256, "k1")
	if err := f.clients.CreateClient(context.Background(), authkit.Client{ID: "kjwt", GrantTypes: []string{authkit.GrantClientCredentials}, JWKS: publicJWKS(t, k), CreatedAt: base}); err != nil {
		t.Fatal(err)
	}
	h, err := httpauth.NewHandler(f.iss, f.auth, httpauth.WithClock(f.clock.Now), httpauth.WithClientStore(assertionlessStore{f.clients}))
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	g := *f.fx
	g.srv = srv
	pk := &pkFx{clientFx: f}
	for range 2 {
		r := g.form("/token", withAssertion(sign(t, k, pk.claimsFor("kjwt")), "grant_type", "client_credentials"))
		expect(t, r, 401, clientChallenge, bodyBadClient)
	}
	if n := strings.Count(logs.String(), "ClientAssertionStore"); n != 1 {
		t.Errorf("%d errors about the missing ClientAssertionStore, want 1; logs:\n%s", n, logs)
	}
	if !strings.Contains(logs.String(), "level=ERROR") {
		t.Errorf("the missing ClientAssertionStore is not logged as an error:\n%s", logs)
	}
	// Secrets still work on that Handler.
	if r := g.form("/token", []string{"grant_type", "client_credentials"}, clientBasic("svc+1", f.secrets["svc+1"])...); r.status != 200 {
		t.Errorf("client_secret_basic on a store without ClientAssertionStore: %d %s", r.status, r.body)
	}
}

func TestPrivateKeyJWTStoreDown(t *testing.T) {
	f := newPKFx(t)
	f.clients.mu.Lock()
	f.clients.down = true
	f.clients.mu.Unlock()
	r := f.clientCredentials(sign(t, f.k1, f.claimsFor("kjwt")))
	expect(t, r, 503, "", bodyUnavailableJSON)
}

func TestPrivateKeyJWTThrottled(t *testing.T) {
	f := newPKFx(t)
	other := genKey(t, keys.ES256, "k1")
	for i := 0; i < httpauth.DefaultThrottlePolicy().Pair.Free+1; i++ {
		expect(t, f.clientCredentials(sign(t, other, f.claimsFor("kjwt"))), 401, clientChallenge, bodyBadClient)
	}
	r := f.clientCredentials(sign(t, f.k1, f.claimsFor("kjwt")))
	if r.status != 429 || r.json(t)["error"] != "slow_down" {
		t.Fatalf("after failures beyond the free allowance: %d %s, want 429 slow_down", r.status, r.body)
	}
	if _, ok := f.events.find(authkit.EventThrottled, httpauth.MethodPrivateKeyJWT); !ok {
		t.Error("no EventThrottled with Method private_key_jwt")
	}
	f.clock.Add(time.Hour + time.Second)
	if r := f.clientCredentials(sign(t, f.k1, f.claimsFor("kjwt"))); r.status != 200 {
		t.Errorf("after the window: %d %s", r.status, r.body)
	}
}

func TestPrivateKeyJWTKeyRotation(t *testing.T) {
	f := newPKFx(t)
	if r := f.clientCredentials(sign(t, f.k1, f.claimsFor("kjwt"))); r.status != 200 {
		t.Fatalf("before rotation: %d %s", r.status, r.body)
	}
	// The client is registered again with a new key set under the same ID:
	// the old keys stop working at once, the new one works.
	if err := f.clients.DeleteClient(context.Background(), "kjwt"); err != nil {
		t.Fatal(err)
	}
	k4 := genKey(t, keys.PS256, "k4")
	f.register(t, authkit.Client{ID: "kjwt", GrantTypes: []string{authkit.GrantClientCredentials}, JWKS: publicJWKS(t, k4)})
	expect(t, f.clientCredentials(sign(t, f.k1, f.claimsFor("kjwt"))), 401, clientChallenge, bodyBadClient)
	if r := f.clientCredentials(sign(t, k4, f.claimsFor("kjwt"))); r.status != 200 {
		t.Errorf("with the new key: %d %s", r.status, r.body)
	}
}

// TestPrivateKeyJWTInterop makes assertions with github.com/golang-jwt/jwt
// rather than package keys.
func TestPrivateKeyJWTInterop(t *testing.T) {
	f := newPKFx(t)
	ec, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	rk, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	ecPub, err := keys.NewPublic(keys.ES256, &ec.PublicKey, "ec")
	if err != nil {
		t.Fatal(err)
	}
	rsPub, err := keys.NewPublic(keys.RS256, &rk.PublicKey, "rs")
	if err != nil {
		t.Fatal(err)
	}
	f.register(t, authkit.Client{ID: "lib", GrantTypes: []string{authkit.GrantClientCredentials}, JWKS: publicJWKS(t, ecPub, rsPub)})
	now := f.clock.Now()
	for i, tc := range []struct {
		method jwt.SigningMethod
		kid    string
		key    any
	}{{jwt.SigningMethodES256, "ec", ec}, {jwt.SigningMethodRS256, "rs", rk}} {
		tok := jwt.NewWithClaims(tc.method, jwt.RegisteredClaims{
			Issuer: "lib", Subject: "lib", Audience: jwt.ClaimStrings{issuerID},
			ExpiresAt: jwt.NewNumericDate(now.Add(2 * time.Minute)), IssuedAt: jwt.NewNumericDate(now),
			ID: fmt.Sprintf("interop-%d", i),
		})
		tok.Header["kid"] = tc.kid
		a, err := tok.SignedString(tc.key)
		if err != nil {
			t.Fatal(err)
		}
		if r := f.clientCredentials(a, "client_id", "lib"); r.status != 200 {
			t.Errorf("%s assertion made by golang-jwt: %d %s", tc.method.Alg(), r.status, r.body)
		}
		// golang-jwt's HS256 with the RSA public key's DER as the secret
		// (a key a verifier that takes alg from the token would use):
		// the classic confusion, refused.
		if tc.kid == "rs" {
			der, err := x509.MarshalPKIXPublicKey(rsPub.PublicKey())
			if err != nil {
				t.Fatal(err)
			}
			hs := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.RegisteredClaims{
				Issuer: "lib", Subject: "lib", Audience: jwt.ClaimStrings{issuerID},
				ExpiresAt: jwt.NewNumericDate(now.Add(2 * time.Minute)), ID: "interop-hs",
			})
			hs.Header["kid"] = "rs"
			forged, err := hs.SignedString(der)
			if err != nil {
				t.Fatal(err)
			}
			expect(t, f.clientCredentials(forged), 401, clientChallenge, bodyBadClient)
		}
	}
}

// Changing a client means removing it and adding it again under the same
// ID, often with the same keys. An assertion the earlier client already
// used (its use record may have gone with it: the memory and SQL stores
// drop them together) must not authenticate the new one: one whose iat is
// before the new registration is refused (found by review: it was
// accepted again).
func TestAssertionFromBeforeReRegistration(t *testing.T) {
	f := newPKFx(t)
	used := sign(t, f.k1, f.claimsFor("kjwt"))
	if r := f.clientCredentials(used); r.status != 200 {
		t.Fatalf("first use: %d %s", r.status, r.body)
	}
	f.wantReplayRefused(t, used, "an assertion")
}

// A client removed and added again within the second of an assertion's
// use: the registration is compared with iat exactly, not rounded down to
// iat's whole second, so the used assertion stays refused whether its iat
// is whole (the second it was made in, rounded down) or fractional (found
// by review: both passed again).
func TestAssertionUsedInTheSecondOfReRegistration(t *testing.T) {
	for _, fractional := range []bool{false, true} {
		t.Run(fmt.Sprint("fractional=", fractional), func(t *testing.T) {
			f := newPKFx(t)
			f.clock.Add(time.Minute + 200*time.Millisecond) // X.2
			cl := f.claimsFor("kjwt")                       // iat X
			if fractional {
				cl["iat"] = float64(f.clock.Now().UnixMilli()) / 1000 // X.2
			}
			used := sign(t, f.k1, cl)
			f.clock.Add(100 * time.Millisecond) // X.3
			if r := f.clientCredentials(used); r.status != 200 {
				t.Fatalf("first use: %d %s", r.status, r.body)
			}
			f.reRegister(t, "kjwt", 500*time.Millisecond) // X.8
			f.clock.Add(100 * time.Millisecond)           // X.9
			if r := f.clientCredentials(used); r.status != 401 {
				t.Errorf("iat %v, used at X.3, client added again at X.8, replayed at X.9: %d %s, want 401", cl["iat"], r.status, r.body)
			}
			// A new assertion passes from the next second on.
			f.clock.Add(200 * time.Millisecond)
			if r := f.clientCredentials(sign(t, f.k1, f.claimsFor("kjwt"))); r.status != 200 {
				t.Errorf("a new assertion the second after the registration: %d %s", r.status, r.body)
			}
		})
	}
}

// A client that omits iat is refused in its first MaxClientAssertionLifetime
// with a valid signature: those refusals are not guesses and are not
// counted by the throttle, so it never sees 429 and works once the window
// has passed (found by review: 429 from the fifth minute on).
func TestAssertionWithoutIatNotThrottled(t *testing.T) {
	f := newPKFx(t)
	for i := range 30 {
		if r := f.clientCredentials(sign(t, f.k1, without(f.claimsFor("kjwt"), "iat"))); r.status != 401 {
			t.Fatalf("no iat, attempt %d at +%v: %d %s, want 401", i, f.clock.Now().Sub(base), r.status, r.body)
		}
		f.clock.Add(10 * time.Second)
	}
	f.clock.Add(httpauth.MaxClientAssertionLifetime - 300*time.Second + time.Second)
	if r := f.clientCredentials(sign(t, f.k1, without(f.claimsFor("kjwt"), "iat"))); r.status != 200 {
		t.Errorf("no iat, %v after the registration: %d %s", f.clock.Now().Sub(base), r.status, r.body)
	}
}

// An assertion from a client whose clock runs 50 s ahead, used just
// before the client is removed and added again 10 s later: its iat is
// after the new registration, so only the record of its use can refuse
// the replay. The memory store (like the Redis store) now keeps that
// record through DeleteClient until it expires; it used to drop it with
// the client, and the replay passed (found by review; the SQL store still
// drops it, see docs/security.md).
func TestAssertionFromClockAheadAcrossReRegistration(t *testing.T) {
	f := newPKFx(t)
	f.clock.Add(time.Minute)
	cl := f.claimsFor("kjwt")
	cl["iat"] = f.clock.Now().Add(50 * time.Second).Unix()
	used := sign(t, f.k1, cl)
	if r := f.clientCredentials(used); r.status != 200 {
		t.Fatalf("first use: %d %s", r.status, r.body)
	}
	f.reRegister(t, "kjwt", 10*time.Second)
	if r := f.clientCredentials(used); r.status != 401 {
		t.Errorf("an assertion stamped 50 s ahead, replayed after the client was added again 10 s later: %d %s, want 401", r.status, r.body)
	}
}

// reRegister removes client id after the clock has moved on by after, and
// adds it again unchanged but for its new registration time: how a client
// is changed.
func (f *pkFx) reRegister(t *testing.T, id string, after time.Duration) {
	t.Helper()
	ctx := context.Background()
	f.clock.Add(after)
	c, err := f.clients.GetClient(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.clients.DeleteClient(ctx, id); err != nil {
		t.Fatal(err)
	}
	c.CreatedAt = f.clock.Now()
	if err := f.clients.CreateClient(ctx, c); err != nil {
		t.Fatal(err)
	}
}

// wantReplayRefused removes client kjwt 30 seconds on and adds it again
// (reRegister), then wants used, an assertion it accepted before, refused,
// and a new assertion with iat accepted.
func (f *pkFx) wantReplayRefused(t *testing.T, used, what string) {
	t.Helper()
	f.reRegister(t, "kjwt", 30*time.Second)
	if r := f.clientCredentials(used); r.status != 401 {
		t.Errorf("%s used before the client was registered again: %d %s, want 401", what, r.status, r.body)
	}
	if r := f.clientCredentials(sign(t, f.k1, f.claimsFor("kjwt"))); r.status != 200 {
		t.Errorf("a new assertion with iat for the client registered again: %d %s", r.status, r.body)
	}
}

// An assertion without iat (RFC 7523 makes it optional) carries no issue
// time to compare with the registration: the earliest instant it could
// have been accepted, exp less MaxClientAssertionLifetime (or nbf less
// the leeway, when later), stands in for it. So one the earlier client
// used is refused after the client is registered again (found by review:
// it was accepted again on the memory and SQL stores), and a client that
// omits iat authenticates from MaxClientAssertionLifetime after its
// registration on.
func TestAssertionWithoutIatFromBeforeReRegistration(t *testing.T) {
	f := newPKFx(t)
	noIat := func(extra ...any) string {
		cl := without(f.claimsFor("kjwt"), "iat")
		for i := 0; i+1 < len(extra); i += 2 {
			cl[extra[i].(string)] = extra[i+1]
		}
		return sign(t, f.k1, cl)
	}
	// The fixture's clients were registered at base, the clock's start.
	if r := f.clientCredentials(noIat()); r.status != 401 {
		t.Errorf("no iat, exp 5 minutes ahead, right after the registration: %d %s, want 401", r.status, r.body)
	}
	if e, ok := f.events.find(authkit.EventLoginFailed, httpauth.MethodPrivateKeyJWT); !ok || !errors.Is(e.Err, authkit.ErrTokenReused) || !strings.Contains(e.Err.Error(), "send iat") {
		t.Errorf("the failure event does not say why: %+v", e)
	}
	// A later nbf shows the assertion was not usable before the
	// registration.
	if r := f.clientCredentials(noIat("nbf", f.clock.Now().Add(time.Minute).Unix())); r.status != 200 {
		t.Errorf("no iat, nbf a minute ahead (within the leeway): %d %s", r.status, r.body)
	}
	f.clock.Add(httpauth.MaxClientAssertionLifetime)
	used := noIat()
	if r := f.clientCredentials(used); r.status != 200 {
		t.Fatalf("no iat, %v after the registration: %d %s", httpauth.MaxClientAssertionLifetime, r.status, r.body)
	}
	f.wantReplayRefused(t, used, "an assertion without iat")
}

// A client without CreatedAt cannot be told from an earlier client of its
// ID, so neither private_key_jwt nor a refresh of one of its sessions
// passes (both skipped the check before): the Handler refuses, and logs
// why once.
func TestClientWithoutCreatedAtFailsClosed(t *testing.T) {
	f := newPKFx(t)
	// A session of the client "web", started with its registration time
	// known.
	web := clientBasic("web", f.secrets["web"])
	r := f.form("/token", []string{"grant_type", "password", "username", "alice", "password", users["alice"], "scope", "read"}, web...)
	if r.status != 200 {
		t.Fatalf("password grant: %d %s", r.status, r.body)
	}
	rt, _ := r.json(t)["refresh_token"].(string)

	f.clients.mu.Lock()
	f.clients.noCreatedAt = true
	f.clients.mu.Unlock()
	if r := f.clientCredentials(sign(t, f.k1, f.claimsFor("kjwt"))); r.status != 401 {
		t.Errorf("private_key_jwt for a client without CreatedAt: %d %s, want 401", r.status, r.body)
	}
	if r := f.form("/token", []string{"grant_type", "refresh_token", "refresh_token", rt}, web...); r.status != 400 {
		t.Errorf("refresh by a client without CreatedAt: %d %s, want 400", r.status, r.body)
	}
	if n := strings.Count(f.logs.String(), "has no CreatedAt"); n != 1 {
		t.Errorf("the refusal is logged %d times, want once:\n%s", n, f.logs.String())
	}

	// With the registration time back, the same token refreshes: the
	// refusal left it unspent.
	f.clients.mu.Lock()
	f.clients.noCreatedAt = false
	f.clients.mu.Unlock()
	if r := f.form("/token", []string{"grant_type", "refresh_token", "refresh_token", rt}, web...); r.status != 200 {
		t.Errorf("refresh with CreatedAt back: %d %s", r.status, r.body)
	}
}
