package verifier_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/authkit-go/authkit"
	"github.com/authkit-go/authkit/backends/memory"
	"github.com/authkit-go/authkit/keys"
	"github.com/authkit-go/authkit/verifier"
)

// The tests in this file were found missing by mutation testing: each
// check they cover could be removed or loosened with every test passing.

// TestLeewayBoundsOnFirstVerify: exp and nbf are judged with the leeway,
// not more, by a full verification (a token seen for the first time, or
// any token without the verify cache). TestLeeway and TestProfileLeeway
// make their "past the leeway" call on a token already cached, so they
// only held the cache's copy of the checks.
func TestLeewayBoundsOnFirstVerify(t *testing.T) {
	ctx := context.Background()
	const leeway = 10 * time.Second
	for _, cache := range []int{0, 1024} {
		f := newFixture(t, keys.HS256, authkit.WithLeeway(leeway), authkit.WithVerifyCache(cache))
		exp := base.Add(time.Minute)
		nbf := base.Add(time.Hour)
		expiring := func() string {
			c := f.claims()
			c["exp"], c["iat"], c["jti"] = exp.Unix(), base.Unix(), "exp-"+f.clock.Now().String()
			return forge(t, f.key, f.header(), c)
		}
		early := func() string {
			c := f.claims()
			c["nbf"], c["iat"], c["exp"], c["jti"] = nbf.Unix(), base.Unix(), nbf.Add(time.Minute).Unix(), "nbf-"+f.clock.Now().String()
			return forge(t, f.key, f.header(), c)
		}
		at := func(when time.Time) { f.clock.Add(when.Sub(f.clock.Now())) }

		at(exp.Add(leeway - time.Second))
		if _, err := f.ver.Verify(ctx, expiring()); err != nil {
			t.Errorf("cache %d: a new token 1s inside the leeway past exp: %v", cache, err)
		}
		at(exp.Add(leeway))
		if _, err := f.ver.Verify(ctx, expiring()); !errors.Is(err, authkit.ErrTokenExpired) {
			t.Errorf("cache %d: a new token at exp + leeway: %v, want ErrTokenExpired", cache, err)
		}
		at(nbf.Add(-leeway - time.Second))
		if _, err := f.ver.Verify(ctx, early()); !errors.Is(err, authkit.ErrInvalidToken) {
			t.Errorf("cache %d: a new token 1s before nbf - leeway: %v, want ErrInvalidToken", cache, err)
		}
		at(nbf.Add(-leeway))
		if _, err := f.ver.Verify(ctx, early()); err != nil {
			t.Errorf("cache %d: a new token at nbf - leeway: %v", cache, err)
		}
	}
}

// TestVerifyCacheTimeChecksOnHitEach: a cached token is refused on a hit
// once the clock is back before its iat (a token without nbf, as most
// OpenID Connect tokens) or before its nbf (with an iat an hour old).
// TestVerifyCacheTimeChecksOnHit's tokens carry both at the same time, so
// either check alone passed it.
func TestVerifyCacheTimeChecksOnHitEach(t *testing.T) {
	ctx := context.Background()
	for _, claim := range []string{"iat", "nbf"} {
		f := newFixture(t, keys.HS256, authkit.WithLeeway(0))
		c := f.claims()
		c["iat"] = base.Add(-time.Hour).Unix()
		c[claim] = base.Unix()
		tok := forge(t, f.key, f.header(), c)
		if _, err := f.ver.Verify(ctx, tok); err != nil {
			t.Fatalf("%s: %v", claim, err)
		}
		if n := verifier.CacheLen(f.ver); n != 1 {
			t.Fatalf("%s: %d cached, want 1", claim, n)
		}
		f.clock.Add(-time.Second)
		if _, err := f.ver.Verify(ctx, tok); !errors.Is(err, authkit.ErrInvalidToken) {
			t.Errorf("hit with %s a second in the future: %v; want ErrInvalidToken", claim, err)
		}
	}
}

// wrongHashStore answers every API token lookup with a record whose hash
// is not the one asked for: a store whose index or query went wrong (a
// collation folding the hash's bytes, say).
type wrongHashStore struct{ *memory.Store }

func (s *wrongHashStore) LookupAPIToken(ctx context.Context, h authkit.TokenHash) (authkit.APIToken, error) {
	t, err := s.Store.LookupAPIToken(ctx, h)
	t.Hash[0] ^= 1
	return t, err
}

// TestAPITokenHashRechecked: the verifier compares the hash of the record
// a store returns with the presented token's, so a store that returns the
// wrong record does not let one token stand for another.
func TestAPITokenHashRechecked(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, keys.HS256)
	secret, _, err := f.iss.CreateAPIToken(ctx, "alice", "ci")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.ver.Verify(ctx, secret); err != nil {
		t.Fatalf("the token through the store as it is: %v", err)
	}
	v, err := verifier.New(authkit.WithKeys(f.set), authkit.WithAPITokenStore(&wrongHashStore{Store: f.store}),
		authkit.WithClock(f.clock.Now))
	if err != nil {
		t.Fatal(err)
	}
	if p, err := v.Verify(ctx, secret); p != nil || !errors.Is(err, authkit.ErrInvalidToken) {
		t.Errorf("a store answering with a record of another hash: %+v, %v; want ErrInvalidToken", p, err)
	}
}

// TestExternalAPITokenWithoutSubject: a record from an external token
// store with no subject is refused, not turned into a principal nobody is.
func TestExternalAPITokenWithoutSubject(t *testing.T) {
	ctx := context.Background()
	k, _ := keys.Generate(keys.HS256)
	set, _ := keys.NewSet(k)
	tok := "0123456789abcdef0123456789abcdef01234567"
	st := &externalStore{Store: memory.New(), tokens: map[string]authkit.APIToken{tok: {ID: "drf-1", CreatedAt: base.Add(-time.Hour)}}}
	v, err := verifier.New(authkit.WithKeys(set), authkit.WithStore(st), authkit.WithClock((&clock{t: base}).Now))
	if err != nil {
		t.Fatal(err)
	}
	if p, err := v.Verify(ctx, tok); p != nil || !errors.Is(err, authkit.ErrInvalidToken) {
		t.Errorf("an external record without a subject: %+v, %v; want ErrInvalidToken", p, err)
	}
}

// TestIssuerMatchedExactly: a token's iss must be a trusted issuer's
// identifier exactly, with one issuer and with several sharing a key set
// (a multi-tenant provider): not one that extends it, adds a slash or
// differs in case (found by mutation testing: an issuer check by prefix
// passed every test).
func TestIssuerMatchedExactly(t *testing.T) {
	ctx := context.Background()
	k := mustKey(t, keys.EdDSA)
	set, _ := keys.NewSet(k)
	clk := &clock{t: base}
	const iss = "https://auth.example/t1"
	single, err := verifier.New(authkit.WithKeys(set), authkit.WithClock(clk.Now), authkit.WithIssuer(iss), authkit.WithAudience("api"))
	if err != nil {
		t.Fatal(err)
	}
	pub := pubSet(t, k)
	several := newVerifier(t, authkit.WithClock(clk.Now),
		authkit.WithTrustedIssuer(authkit.TrustedIssuer{Issuer: iss, Keys: pub, Audience: []string{"api"}}),
		authkit.WithTrustedIssuer(authkit.TrustedIssuer{Issuer: "https://auth.example/t2", Keys: pub, Audience: []string{"api"}}))
	token := func(issuer string) string {
		return forge(t, k, map[string]any{"alg": "EdDSA", "typ": "at+jwt", "kid": k.ID()}, map[string]any{"iss": issuer, "aud": "api", "sub": "bob",
			"exp": base.Add(time.Hour).Unix(), "iat": base.Unix(), "jti": "j-" + issuer, "client_id": "c"})
	}
	for name, v := range map[string]*verifier.Verifier{"one issuer": single, "several issuers": several} {
		if _, err := v.Verify(ctx, token(iss)); err != nil {
			t.Fatalf("%s: the issuer's own token: %v", name, err)
		}
		for _, other := range []string{iss + "0", iss + "/", "https://AUTH.example/t1", "https://auth.example/T1", "https://auth.example/t"} {
			if p, err := v.Verify(ctx, token(other)); p != nil || !errors.Is(err, authkit.ErrInvalidToken) {
				t.Errorf("%s: a token of iss %q: %+v, %v; want ErrInvalidToken", name, other, p, err)
			}
		}
	}
}

// TestJWKSKidlessHonoursContext: a token without a kid, verified before
// the remote key set's first fetch has answered, waits no longer than
// its own context (TestJWKSBeforeFirstFetch's tokens carry a kid; found
// missing by mutation testing: a kid-less wait that ignored the context
// passed, and held the request for the fetch's 30 s).
func TestJWKSKidlessHonoursContext(t *testing.T) {
	set, _ := keys.NewSet(mustKey(t, keys.EdDSA))
	slow := newJWKSServer(t, set)
	slow.hold()
	defer slow.release()
	v, err := verifier.New(authkit.WithJWKSURL(slow.URL), authkit.WithIssuer("https://auth.example"), authkit.WithAudience("api"))
	if err != nil {
		t.Fatal(err)
	}
	defer v.Close()
	now := time.Now()
	tok := forge(t, set.Active(), map[string]any{"alg": "EdDSA", "typ": "at+jwt"}, map[string]any{"iss": "https://auth.example", "aud": "api",
		"sub": "bob", "exp": now.Add(time.Hour).Unix(), "iat": now.Unix(), "jti": "j", "client_id": "c"})
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	done := make(chan error, 1)
	go func() { _, err := v.Verify(ctx, tok); done <- err }()
	select {
	case err := <-done:
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("a kid-less token, the first fetch hanging: %v; want context.DeadlineExceeded", err)
		}
	case <-time.After(5 * time.Second):
		t.Error("a kid-less token's Verify was still waiting 5 s after its 50 ms deadline")
	}
}
