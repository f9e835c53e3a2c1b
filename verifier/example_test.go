package verifier_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"net/http"
	"net/http/httptest"
	"time"

	"github.com/authkit-go/authkit"
	"github.com/authkit-go/authkit/backends/memory"
	"github.com/authkit-go/authkit/issuer"
	"github.com/authkit-go/authkit/keys"
	"github.com/authkit-go/authkit/verifier"
)

// A Verifier needs only verification keys, never the signing key: here
// the public half of the issuer's key. (A service elsewhere would use
// authkit.WithJWKSURL pointing at the issuer's published JWKS instead.)
func ExampleNew() {
	ctx := context.Background()
	signing, err := keys.Generate(keys.ES256)
	if err != nil {
		log.Fatal(err)
	}
	signingSet, err := keys.NewSet(signing)
	if err != nil {
		log.Fatal(err)
	}
	iss, err := issuer.New(authkit.WithKeys(signingSet),
		authkit.WithIssuer("https://auth.example.com"), authkit.WithAudience("https://api.example.com"))
	if err != nil {
		log.Fatal(err)
	}

	publicSet, err := keys.NewVerificationSet(signing.Public())
	if err != nil {
		log.Fatal(err)
	}
	ver, err := verifier.New(authkit.WithKeys(publicSet),
		authkit.WithIssuer("https://auth.example.com"), authkit.WithAudience("https://api.example.com"))
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("verifier holds a signing key:", publicSet.Active() != nil)

	tok, err := iss.IssueAccessToken(ctx, "alice")
	if err != nil {
		log.Fatal(err)
	}
	p, err := ver.Verify(ctx, tok.AccessToken)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("verified:", p.Subject, p.Method)

	// A verifier for another audience refuses the token.
	other, err := verifier.New(authkit.WithKeys(publicSet),
		authkit.WithIssuer("https://auth.example.com"), authkit.WithAudience("https://billing.example.com"))
	if err != nil {
		log.Fatal(err)
	}
	_, err = other.Verify(ctx, tok.AccessToken)
	fmt.Println("other audience:", errors.Is(err, authkit.ErrInvalidToken))

	// Misconfigurations are refused at New.
	_, err = verifier.New()
	fmt.Println("no keys:", errors.Is(err, authkit.ErrInvalidConfig))
	_, err = verifier.New(authkit.WithJWKSURL("http://auth.example.com/jwks.json"))
	fmt.Println("plain-http JWKS URL:", errors.Is(err, authkit.ErrInvalidConfig))
	// Output:
	// verifier holds a signing key: false
	// verified: alice jwt
	// other audience: true
	// no keys: true
	// plain-http JWKS URL: true
}

// Verify checks a JWT access token (or an API token, told apart by form)
// and returns its principal: subject, scopes, session and application
// claims. Failures match the root package's sentinel errors.
func ExampleVerifier_Verify() {
	ctx := context.Background()
	key, err := keys.Generate(keys.HS256)
	if err != nil {
		log.Fatal(err)
	}
	set, err := keys.NewSet(key)
	if err != nil {
		log.Fatal(err)
	}
	store := memory.New()
	iss, err := issuer.New(authkit.WithKeys(set), authkit.WithStore(store))
	if err != nil {
		log.Fatal(err)
	}
	ver, err := verifier.New(authkit.WithKeys(set), authkit.WithStore(store))
	if err != nil {
		log.Fatal(err)
	}

	pair, err := iss.IssuePair(ctx, "alice",
		issuer.WithScopes("orders:read", "orders:write"),
		issuer.WithClaims(map[string]any{"tenant": "acme"}))
	if err != nil {
		log.Fatal(err)
	}

	p, err := ver.Verify(ctx, pair.AccessToken)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("subject:", p.Subject)
	fmt.Println("method:", p.Method)
	fmt.Println("scopes:", p.Scopes, p.HasScope("orders:write"), p.HasScope("admin"))
	fmt.Println("session:", p.SessionID == pair.SessionID)
	fmt.Println("token ID:", p.TokenID == pair.TokenID)
	fmt.Println("tenant claim:", p.Claims["tenant"])

	// Revoking the access token (by its jti) kills it at once.
	if err := iss.Revoke(ctx, pair.AccessToken); err != nil {
		log.Fatal(err)
	}
	_, err = ver.Verify(ctx, pair.AccessToken)
	fmt.Println("revoked:", errors.Is(err, authkit.ErrTokenRevoked))

	// A refresh token is not an access credential.
	_, err = ver.Verify(ctx, pair.RefreshToken)
	fmt.Println("refresh token:", errors.Is(err, authkit.ErrInvalidToken))
	_, err = ver.Verify(ctx, "")
	fmt.Println("empty:", errors.Is(err, authkit.ErrNoCredentials))
	// Output:
	// subject: alice
	// method: jwt
	// scopes: [orders:read orders:write] true false
	// session: true
	// token ID: true
	// tenant claim: acme
	// revoked: true
	// refresh token: true
	// empty: true
}

// Authenticate reads the credential from the Authorization header, trying
// the configured schemes in order as Django REST framework does: Bearer
// (a JWT or an API token) and Token (DRF's scheme) by default.
func ExampleVerifier_Authenticate() {
	ctx := context.Background()
	key, err := keys.Generate(keys.EdDSA)
	if err != nil {
		log.Fatal(err)
	}
	set, err := keys.NewSet(key)
	if err != nil {
		log.Fatal(err)
	}
	store := memory.New()
	iss, err := issuer.New(authkit.WithKeys(set), authkit.WithStore(store))
	if err != nil {
		log.Fatal(err)
	}
	ver, err := verifier.New(authkit.WithKeys(set), authkit.WithStore(store))
	if err != nil {
		log.Fatal(err)
	}
	pair, err := iss.IssuePair(ctx, "alice", issuer.WithScopes("read"))
	if err != nil {
		log.Fatal(err)
	}
	apiToken, _, err := iss.CreateAPIToken(ctx, "ci-bot", "deploy")
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("schemes:", ver.Schemes())

	for _, header := range []string{
		"Bearer " + pair.AccessToken, // a JWT
		"Bearer " + apiToken,         // an API token, told apart by form
		"Token " + apiToken,          // DRF's TokenAuthentication scheme
		"",                           // nothing presented
		"Digest username=alice",      // a scheme none of ours: passes
		"Bearer two words",           // ours, but malformed: stops the chain
		"Bearer " + pair.RefreshToken,
	} {
		r := httptest.NewRequest(http.MethodGet, "/orders", nil)
		if header != "" {
			r.Header.Set("Authorization", header)
		}
		p, err := ver.Authenticate(r)
		switch {
		case err == nil:
			fmt.Println("ok:", p.Subject, p.Method)
		case errors.Is(err, authkit.ErrNoCredentials):
			fmt.Println("no credentials")
		case errors.Is(err, authkit.ErrInvalidRequest):
			fmt.Println("invalid request")
		default:
			fmt.Println("refused:", errors.Is(err, authkit.ErrInvalidToken))
		}
	}
	// Output:
	// schemes: [bearer token]
	// ok: alice jwt
	// ok: ci-bot api_token
	// ok: ci-bot api_token
	// no credentials
	// no credentials
	// invalid request
	// refused: true
}

// A token verified once is remembered (authkit.WithVerifyCache, on by
// default), so presenting it again skips the signature check. Everything
// that can change is still checked on every hit: here, a revocation made
// after the token was cached refuses it.
func ExampleVerifier_Verify_cached() {
	ctx := context.Background()
	key, err := keys.Generate(keys.EdDSA)
	if err != nil {
		log.Fatal(err)
	}
	set, err := keys.NewSet(key)
	if err != nil {
		log.Fatal(err)
	}
	store := memory.New()
	iss, err := issuer.New(authkit.WithKeys(set), authkit.WithStore(store))
	if err != nil {
		log.Fatal(err)
	}
	ver, err := verifier.New(authkit.WithKeys(set), authkit.WithStore(store),
		authkit.WithVerifyCache(10_000)) // the default is 1024 tokens; 0 turns it off
	if err != nil {
		log.Fatal(err)
	}
	pair, err := iss.IssuePair(ctx, "alice", issuer.WithScopes("read"))
	if err != nil {
		log.Fatal(err)
	}
	for range 2 { // a miss, then a hit
		p, err := ver.Verify(ctx, pair.AccessToken)
		if err != nil {
			log.Fatal(err)
		}
		fmt.Println("verified:", p.Subject, p.Scopes)
		p.Scopes = append(p.Scopes[:0], "admin") // a copy: the next hit is unaffected
	}
	if err := iss.RevokeSession(ctx, pair.SessionID); err != nil {
		log.Fatal(err)
	}
	_, err = ver.Verify(ctx, pair.AccessToken)
	fmt.Println("after logout:", errors.Is(err, authkit.ErrTokenRevoked))
	// Output:
	// verified: alice [read]
	// verified: alice [read]
	// after logout: true
}

// A Verifier that takes its keys from a JWKS URL keeps them fresh in a
// background goroutine, which Close stops. A closed Verifier no longer
// trusts its remote keys.
func ExampleVerifier_Close() {
	ctx := context.Background()
	key, err := keys.Generate(keys.EdDSA)
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
	// The issuer's published keys (httpauth serves them at
	// /.well-known/jwks.json). max-age sets how long they are trusted
	// before the background refresh, within the verifier's bounds.
	jwks := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		doc, err := set.JWKS()
		if err != nil {
			http.Error(w, "no keys", http.StatusInternalServerError)
			return
		}
		w.Header().Set("Cache-Control", "max-age=300")
		w.Write(doc)
	}))
	defer jwks.Close()

	ver, err := verifier.New(authkit.WithJWKSURL(jwks.URL))
	if err != nil {
		log.Fatal(err)
	}
	defer ver.Close() // idempotent: safe even after the explicit Close below

	tok, err := iss.IssueAccessToken(ctx, "alice")
	if err != nil {
		log.Fatal(err)
	}
	p, err := ver.Verify(ctx, tok.AccessToken)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("verified:", p.Subject)

	if err := ver.Close(); err != nil {
		log.Fatal(err)
	}
	_, err = ver.Verify(ctx, tok.AccessToken)
	fmt.Println("after Close:", errors.Is(err, authkit.ErrStoreUnavailable))
	// Output:
	// verified: alice
	// after Close: true
}

// A Verifier with a revocation mirror answers revocation checks from its
// copy once the copy holds the store's snapshot; MirrorStats tells a
// metrics scrape whether it does (a stale copy sends every check to the
// store).
func ExampleVerifier_MirrorStats() {
	key, err := keys.Generate(keys.HS256)
	if err != nil {
		log.Fatal(err)
	}
	set, err := keys.NewSet(key)
	if err != nil {
		log.Fatal(err)
	}
	ver, err := verifier.New(authkit.WithKeys(set), authkit.WithStore(memory.New()),
		authkit.WithRevocationMirror(5*time.Second))
	if err != nil {
		log.Fatal(err)
	}
	defer ver.Close()
	for { // the snapshot is taken in the background
		if s, _ := ver.MirrorStats(); s.Fresh {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	s, ok := ver.MirrorStats()
	fmt.Println("mirror:", ok, "fresh:", s.Fresh, "entries:", s.Entries, "snapshots:", s.Snapshots)

	plain, err := verifier.New(authkit.WithKeys(set))
	if err != nil {
		log.Fatal(err)
	}
	_, ok = plain.MirrorStats()
	fmt.Println("without WithRevocationMirror:", ok)
	// Output:
	// mirror: true fresh: true entries: 0 snapshots: 1
	// without WithRevocationMirror: false
}
