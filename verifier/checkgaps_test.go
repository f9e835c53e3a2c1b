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
