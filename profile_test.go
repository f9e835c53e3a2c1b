package authkit_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/authkit-go/authkit"
	"github.com/authkit-go/authkit/keys"
	"github.com/authkit-go/authkit/verifier"
)

// sign makes a compact JWS of header and claims with k, as another
// issuer's library would.
func sign(k *keys.Key, header, claims any) string {
	h, _ := json.Marshal(header)
	c, _ := json.Marshal(claims)
	in := base64.RawURLEncoding.EncodeToString(h) + "." + base64.RawURLEncoding.EncodeToString(c)
	sig, err := k.Sign([]byte(in))
	if err != nil {
		panic(err)
	}
	return in + "." + base64.RawURLEncoding.EncodeToString(sig)
}

// A Django project with djangorestframework-simplejwt signs with its
// SIGNING_KEY (HS256) and, with ISSUER and AUDIENCE set, writes iss and
// aud. Its access tokens carry no kid: the verifier uses the one HS256 key.
func ExampleSimpleJWTProfile() {
	secret := []byte("the SIGNING_KEY shared with Django, 32 bytes or more")
	k, _ := keys.NewHMAC(keys.HS256, secret, "")
	set, _ := keys.NewSet(k)
	v, err := verifier.New(authkit.WithKeys(set), authkit.WithIssuer("https://shop.example"), authkit.WithAudience("shop-api"),
		authkit.WithProfile(authkit.SimpleJWTProfile("user_id")))
	if err != nil {
		fmt.Println(err)
		return
	}
	defer v.Close()

	now := time.Now()
	claims := map[string]any{"token_type": "access", "exp": now.Add(5 * time.Minute).Unix(), "iat": now.Unix(),
		"jti": "8f2b6c1e4a9d4c0b9e1f2a3b4c5d6e7f", "user_id": 42, "iss": "https://shop.example", "aud": "shop-api", "tenant": "acme"}
	p, err := v.Verify(context.Background(), sign(k, map[string]any{"alg": "HS256", "typ": "JWT"}, claims))
	fmt.Println(p.Subject, p.TokenID, p.Claims["tenant"], err)

	// simplejwt's refresh tokens are signed with the same key: refused.
	claims["token_type"] = "refresh"
	_, err = v.Verify(context.Background(), sign(k, map[string]any{"alg": "HS256", "typ": "JWT"}, claims))
	fmt.Println(errors.Is(err, authkit.ErrInvalidToken))
	// Output:
	// 42 8f2b6c1e4a9d4c0b9e1f2a3b4c5d6e7f acme <nil>
	// true
}

// A default djangorestframework-simplejwt deployment (no ISSUER, no
// AUDIENCE) writes tokens without "iss" and "aud"; with
// AUTH_HEADER_TYPES = ("JWT",) its clients send "Authorization: JWT …".
// Each of these needs an explicit opt-in on the profile.
func ExampleSimpleJWTProfile_defaultSettings() {
	k, _ := keys.NewHMAC(keys.HS256, []byte("the SIGNING_KEY shared with Django, 32 bytes or more"), "")
	set, _ := keys.NewSet(k)
	p := authkit.SimpleJWTProfile("user_id") // USER_ID_CLAIM
	p.HeaderTypes = []string{"JWT"}          // AUTH_HEADER_TYPES = ("JWT",)
	p.AllowMissingIssuer = true              // ISSUER = None: a token without iss is this issuer's
	p.AllowMissingAudience = true            // AUDIENCE = None: replayable wherever SIGNING_KEY is shared
	v, err := verifier.New(authkit.WithKeys(set), authkit.WithIssuer("https://shop.example"), authkit.WithProfile(p))
	if err != nil {
		fmt.Println(err)
		return
	}
	defer v.Close()

	now := time.Now()
	tok := sign(k, map[string]any{"alg": "HS256", "typ": "JWT"}, map[string]any{"token_type": "access",
		"exp": now.Add(5 * time.Minute).Unix(), "iat": now.Unix(), "jti": "8f2b6c1e4a9d4c0b9e1f2a3b4c5d6e7f", "user_id": 42})
	r, _ := http.NewRequest("GET", "https://api.example/orders", nil)
	r.Header.Set("Authorization", "JWT "+tok)
	pr, err := v.Authenticate(r)
	fmt.Println(pr.Subject, err)

	// A token that names an issuer is still checked against it.
	tok = sign(k, map[string]any{"alg": "HS256", "typ": "JWT"}, map[string]any{"token_type": "access", "iss": "https://other.example",
		"exp": now.Add(5 * time.Minute).Unix(), "iat": now.Unix(), "jti": "8f2b6c1e4a9d4c0b9e1f2a3b4c5d6e7f", "user_id": 42})
	_, err = v.Verify(context.Background(), tok)
	fmt.Println(errors.Is(err, authkit.ErrInvalidToken))
	// Output:
	// 42 <nil>
	// true
}

// One verifier accepts authkit's own tokens and those of an OpenID Connect
// provider (here shaped like Okta's: no typ, scopes in an "scp" array, the
// client in "cid"), each checked with its own keys, audience and profile.
func ExampleWithTrustedIssuer() {
	own, _ := keys.Generate(keys.EdDSA)
	okta, _ := keys.Generate(keys.RS256)
	ownKeys, _ := keys.NewVerificationSet(own.Public())
	oktaKeys, _ := keys.NewVerificationSet(okta.Public()) // in production: JWKSURL or Discover
	oidc := authkit.OIDCProfile()
	v, err := verifier.New(
		authkit.WithKeys(ownKeys), authkit.WithIssuer("https://auth.example"), authkit.WithAudience("api"),
		authkit.WithTrustedIssuer(authkit.TrustedIssuer{
			Issuer:   "https://example.okta.com/oauth2/default",
			Keys:     oktaKeys,
			Audience: []string{"api://default"},
			Profile:  &oidc,
		}))
	if err != nil {
		fmt.Println(err)
		return
	}
	defer v.Close()

	now := time.Now()
	tok := sign(okta, map[string]any{"alg": "RS256", "kid": okta.ID()}, map[string]any{
		"ver": 1, "jti": "AT.abc", "iss": "https://example.okta.com/oauth2/default", "aud": "api://default",
		"iat": now.Unix(), "exp": now.Add(time.Hour).Unix(), "cid": "0oa1b2c3", "uid": "00u1", "scp": []string{"openid", "orders:read"},
		"sub": "alice@example.com"})
	p, err := v.Verify(context.Background(), tok)
	fmt.Println(p.Subject, p.ClientID, strings.Join(p.Scopes, " "), err)

	// The provider's key never verifies a token that claims to be ours.
	forged := sign(okta, map[string]any{"alg": "RS256", "kid": okta.ID(), "typ": "at+jwt"}, map[string]any{
		"iss": "https://auth.example", "aud": "api", "sub": "admin", "iat": now.Unix(), "exp": now.Add(time.Hour).Unix(),
		"jti": "x", "client_id": "x"})
	_, err = v.Verify(context.Background(), forged)
	fmt.Println(errors.Is(err, authkit.ErrInvalidToken))
	// Output:
	// alice@example.com 0oa1b2c3 openid orders:read <nil>
	// true
}

// DecodeClaims reads the application claims into the application's own
// type, keeping integers exact.
func ExamplePrincipal_DecodeClaims() {
	k, _ := keys.Generate(keys.ES256)
	set, _ := keys.NewVerificationSet(k.Public())
	v, _ := verifier.New(authkit.WithKeys(set), authkit.WithIssuer("https://auth.example"), authkit.WithAudience("api"))
	defer v.Close()
	now := time.Now()
	payload := fmt.Sprintf(`{"iss":"https://auth.example","sub":"alice","aud":"api","exp":%d,"iat":%d,"jti":"j1","client_id":"web",`+
		`"org":{"id":9007199254740993,"name":"Acme"},"roles":["admin"]}`, now.Add(time.Minute).Unix(), now.Unix())
	h, _ := json.Marshal(map[string]any{"alg": "ES256", "kid": k.ID(), "typ": "at+jwt"})
	in := base64.RawURLEncoding.EncodeToString(h) + "." + base64.RawURLEncoding.EncodeToString([]byte(payload))
	sig, _ := k.Sign([]byte(in))
	p, err := v.Verify(context.Background(), in+"."+base64.RawURLEncoding.EncodeToString(sig))
	if err != nil {
		fmt.Println(err)
		return
	}

	var claims struct {
		Org struct {
			ID   int64  `json:"id"`
			Name string `json:"name"`
		} `json:"org"`
		Roles []string `json:"roles"`
	}
	if err := p.DecodeClaims(&claims); err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(claims.Org.ID, claims.Org.Name, claims.Roles)
	// Output:
	// 9007199254740993 Acme [admin]
}

func TestProfileValidate(t *testing.T) {
	ok := authkit.Profile{Types: []string{"JWT"}}
	if err := ok.Validate(); err != nil {
		t.Fatal(err)
	}
	for name, p := range map[string]authkit.Profile{
		"nothing accepted":               {},
		"empty type":                     {Types: []string{""}},
		"type twice":                     {Types: []string{"JWT", "JWT"}},
		"unknown shape":                  {Types: []string{"JWT"}, ScopeClaims: []string{"scp"}, ScopeShapes: 8},
		"scope claim jti":                {Types: []string{"JWT"}, ScopeClaims: []string{"jti"}, ScopeShapes: authkit.ScopeString},
		"client claim iss":               {Types: []string{"JWT"}, ClientClaims: []string{"iss"}},
		"subject exp":                    {Types: []string{"JWT"}, SubjectClaim: "exp"},
		"subject is scope":               {Types: []string{"JWT"}, SubjectClaim: "scp", ScopeClaims: []string{"scp"}, ScopeShapes: authkit.ScopeString},
		"negative leeway":                {Types: []string{"JWT"}, Leeway: -time.Second},
		"value alone":                    {Types: []string{"JWT"}, TokenTypeValue: "access"},
		"header type empty":              {Types: []string{"JWT"}, HeaderTypes: []string{""}},
		"header type space":              {Types: []string{"JWT"}, HeaderTypes: []string{"J WT"}},
		"header type slash":              {Types: []string{"JWT"}, HeaderTypes: []string{"JWT/1"}},
		"header type long":               {Types: []string{"JWT"}, HeaderTypes: []string{strings.Repeat("J", 33)}},
		"header type twice":              {Types: []string{"JWT"}, HeaderTypes: []string{"JWT", "jwt"}},
		"header type bearer":             {Types: []string{"JWT"}, HeaderTypes: []string{"Bearer"}},
		"header type token":              {Types: []string{"JWT"}, HeaderTypes: []string{"TOKEN"}},
		"header type basic":              {Types: []string{"JWT"}, HeaderTypes: []string{"basic"}},
		"header types many":              {Types: []string{"JWT"}, HeaderTypes: []string{"a", "b", "c", "d", "e", "f", "g", "h", "i"}},
		"no iss with at+jwt":             {Types: []string{"JWT", "at+jwt"}, AllowMissingIssuer: true},
		"no aud with application/at+jwt": {Types: []string{"Application/AT+JWT"}, AllowMissingAudience: true},
	} {
		if err := p.Validate(); !errors.Is(err, authkit.ErrInvalidConfig) {
			t.Errorf("%s: %v, want ErrInvalidConfig", name, err)
		}
	}
	// The built-in profiles relax nothing; RFC9068Profile and OIDCProfile
	// cannot be relaxed; SimpleJWTProfile can, and takes words.
	for _, p := range []authkit.Profile{authkit.RFC9068Profile(), authkit.OIDCProfile(), authkit.SimpleJWTProfile("")} {
		if p.AllowMissingIssuer || p.AllowMissingAudience || len(p.HeaderTypes) != 0 {
			t.Errorf("%s relaxes by default: %+v", p.Name, p)
		}
		p.AllowMissingIssuer, p.AllowMissingAudience = true, true
		if err := p.Validate(); (err == nil) != (p.Name == "simplejwt") {
			t.Errorf("%s with AllowMissingIssuer and AllowMissingAudience: %v", p.Name, err)
		}
	}
	sj := authkit.SimpleJWTProfile("")
	sj.HeaderTypes = []string{"JWT", "Django-JWT", "a.b_c", strings.Repeat("J", 32), "e", "f", "g", "h"}
	if err := sj.Validate(); err != nil {
		t.Errorf("valid HeaderTypes: %v", err)
	}
	// WithProfile copies: changing the caller's slices later changes nothing.
	p := authkit.OIDCProfile()
	opt := authkit.WithProfile(p)
	p.Types[0], p.Types[1] = "", ""
	k, _ := keys.Generate(keys.ES256)
	set, _ := keys.NewVerificationSet(k.Public())
	c, err := authkit.BuildConfig(authkit.RoleVerifier, opt, authkit.WithKeys(set))
	if err != nil || c.Profile.Types[0] != "at+jwt" {
		t.Fatalf("WithProfile did not copy: %v %v", c, err)
	}
	// Without WithKeys or WithJWKSURL it would apply to nothing.
	if _, err := authkit.BuildConfig(authkit.RoleVerifier, opt); !errors.Is(err, authkit.ErrInvalidConfig) {
		t.Errorf("WithProfile with no issuer of its own: %v", err)
	}
	if _, err := authkit.BuildConfig(authkit.RoleIssuer, authkit.WithProfile(authkit.OIDCProfile())); !errors.Is(err, authkit.ErrInvalidConfig) {
		t.Errorf("WithProfile given to the issuer: %v", err)
	}
}

func TestProfileNamed(t *testing.T) {
	for _, name := range []string{"rfc9068", "oidc", "simplejwt"} {
		p, err := authkit.ProfileNamed(name)
		if err != nil || p.Name != name || p.Validate() != nil {
			t.Errorf("ProfileNamed(%q) = %+v, %v", name, p, err)
		}
	}
	if _, err := authkit.ProfileNamed("RFC9068"); !errors.Is(err, authkit.ErrInvalidConfig) {
		t.Errorf("unknown name: %v", err)
	}
}
