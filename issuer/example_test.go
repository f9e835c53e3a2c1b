package issuer_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log"
	"strings"
	"time"

	"github.com/authkit-go/authkit"
	"github.com/authkit-go/authkit/backends/memory"
	"github.com/authkit-go/authkit/issuer"
	"github.com/authkit-go/authkit/keys"
	"github.com/authkit-go/authkit/verifier"
)

// Build an Issuer and log a user in: IssuePair starts a session and returns
// an access JWT and a refresh token, which marshal to the RFC 6749 §5.1
// token response.
func ExampleNew() {
	ctx := context.Background()
	key, err := keys.Generate(keys.EdDSA)
	if err != nil {
		log.Fatal(err)
	}
	set, err := keys.NewSet(key)
	if err != nil {
		log.Fatal(err)
	}
	iss, err := issuer.New(
		authkit.WithKeys(set),
		authkit.WithStore(memory.New()),
		authkit.WithIssuer("https://auth.example.com"),
		authkit.WithAudience("https://api.example.com"),
		authkit.WithAccessTTL(10*time.Minute),
	)
	if err != nil {
		log.Fatal(err)
	}

	pair, err := iss.IssuePair(ctx, "alice",
		issuer.WithScopes("orders:read", "orders:write"),
		issuer.WithClaims(map[string]any{"tenant": "acme"}),
		issuer.WithUserAgent("Mozilla/5.0 (X11; Linux x86_64)"),
		issuer.WithClientIP("203.0.113.7"),
		issuer.WithDeviceName("Alice's laptop"),
	)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("token type:", pair.TokenType)
	fmt.Println("expires in:", pair.ExpiresIn)
	fmt.Println("scope:", pair.Scope)
	fmt.Println("refresh token prefix:", strings.HasPrefix(pair.RefreshToken, "akrt_"))

	body, err := json.Marshal(pair)
	if err != nil {
		log.Fatal(err)
	}
	var fields map[string]any
	if err := json.Unmarshal(body, &fields); err != nil {
		log.Fatal(err)
	}
	fmt.Println("response members:", len(fields), fields["token_type"], fields["expires_in"])

	sessions, err := iss.Sessions(ctx, "alice")
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("sessions:", len(sessions), sessions[0].Name, sessions[0].IP)

	// A misconfiguration is refused at New, never at first use.
	_, err = issuer.New(authkit.WithStore(memory.New()))
	fmt.Println("no keys:", errors.Is(err, authkit.ErrInvalidConfig))
	_, err = issuer.New(authkit.WithKeys(set), authkit.WithLeeway(time.Minute))
	fmt.Println("verifier-only option:", errors.Is(err, authkit.ErrInvalidConfig))
	// Output:
	// token type: Bearer
	// expires in: 600
	// scope: orders:read orders:write
	// refresh token prefix: true
	// response members: 5 Bearer 600
	// sessions: 1 Alice's laptop 203.0.113.7
	// no keys: true
	// verifier-only option: true
}

// Refresh rotates the refresh token within its session. Presenting a token
// that was already rotated is reuse (RFC 9700 §4.14): the whole session is
// revoked, including the access tokens minted in it.
func ExampleIssuer_Refresh() {
	ctx := context.Background()
	key, err := keys.Generate(keys.ES256)
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

	login, err := iss.IssuePair(ctx, "alice", issuer.WithScopes("read"))
	if err != nil {
		log.Fatal(err)
	}

	// The client refreshes: it gets a new pair in the same session, and the
	// refresh token it presented is spent.
	next, err := iss.Refresh(ctx, login.RefreshToken)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("same session:", next.SessionID == login.SessionID)
	fmt.Println("new refresh token:", next.RefreshToken != login.RefreshToken)
	fmt.Println("scope kept:", next.Scope)

	// An attacker replays the old refresh token.
	_, err = iss.Refresh(ctx, login.RefreshToken)
	fmt.Println("reuse detected:", errors.Is(err, authkit.ErrTokenReused))
	if re, ok := errors.AsType[*authkit.ReuseError](err); ok {
		fmt.Println("session revoked:", re.SessionID == login.SessionID, re.Subject)
	}

	// The whole family is dead: the legitimate client's newer refresh token
	// and the access token minted with it.
	_, err = iss.Refresh(ctx, next.RefreshToken)
	fmt.Println("successor refresh:", errors.Is(err, authkit.ErrTokenRevoked))
	_, err = ver.Verify(ctx, next.AccessToken)
	fmt.Println("successor access token:", errors.Is(err, authkit.ErrTokenRevoked))

	// Something that is not a refresh token of ours never reaches the store.
	_, err = iss.Refresh(ctx, "akrt_not-a-token")
	fmt.Println("garbage:", errors.Is(err, authkit.ErrInvalidToken))
	// Output:
	// same session: true
	// new refresh token: true
	// scope kept: read
	// reuse detected: true
	// session revoked: true alice
	// successor refresh: true
	// successor access token: true
	// garbage: true
}

// With a reuse grace window, two browser tabs that refresh with the same
// token at once both succeed and end up with the same successor refresh
// token: the session does not fork and is not revoked.
func ExampleIssuer_Refresh_reuseGrace() {
	ctx := context.Background()
	key, err := keys.Generate(keys.EdDSA)
	if err != nil {
		log.Fatal(err)
	}
	set, err := keys.NewSet(key)
	if err != nil {
		log.Fatal(err)
	}
	iss, err := issuer.New(authkit.WithKeys(set), authkit.WithStore(memory.New()),
		authkit.WithReuseGrace(10*time.Second))
	if err != nil {
		log.Fatal(err)
	}
	login, err := iss.IssuePair(ctx, "alice")
	if err != nil {
		log.Fatal(err)
	}

	tab1, err := iss.Refresh(ctx, login.RefreshToken)
	if err != nil {
		log.Fatal(err)
	}
	tab2, err := iss.Refresh(ctx, login.RefreshToken) // within the window
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("same successor:", tab1.RefreshToken == tab2.RefreshToken)
	fmt.Println("fresh access tokens:", tab1.TokenID != tab2.TokenID)

	// The successor is still current and rotates normally.
	_, err = iss.Refresh(ctx, tab2.RefreshToken)
	fmt.Println("successor rotates:", err == nil)
	// Output:
	// same successor: true
	// fresh access tokens: true
	// successor rotates: true
}

// Create a long-lived API token (DRF/knox style). The secret is returned
// once; the store keeps only its hash. The verifier accepts it like a JWT,
// told apart by its form.
func ExampleIssuer_CreateAPIToken() {
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
	iss, err := issuer.New(authkit.WithKeys(set), authkit.WithStore(store),
		authkit.WithTokenPrefix("acme"), authkit.WithAPITokenLimit(2))
	if err != nil {
		log.Fatal(err)
	}
	ver, err := verifier.New(authkit.WithKeys(set), authkit.WithStore(store),
		authkit.WithTokenPrefix("acme"))
	if err != nil {
		log.Fatal(err)
	}

	secret, rec, err := iss.CreateAPIToken(ctx, "ci-bot", "deploy pipeline",
		issuer.WithTokenScopes("deploy"), issuer.WithTokenTTL(90*24*time.Hour))
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("prefix:", strings.HasPrefix(secret, "acme_"))
	fmt.Println("record:", rec.Name, rec.Scopes, rec.ExpiresAt.Sub(rec.CreatedAt))
	fmt.Println("hash returned:", !rec.Hash.IsZero())

	p, err := ver.Verify(ctx, secret)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("verified:", p.Subject, p.Method, p.Scopes, p.TokenID == rec.ID)

	// A mistyped token fails its checksum before any store call.
	mistyped := secret[:len(secret)-1] + string(secret[len(secret)-1]^1)
	_, err = ver.Verify(ctx, mistyped)
	fmt.Println("mistyped:", errors.Is(err, authkit.ErrInvalidToken))

	// The per-subject limit (knox's TOKEN_LIMIT_PER_USER).
	_, _, err = iss.CreateAPIToken(ctx, "ci-bot", "second")
	fmt.Println("second token:", err == nil)
	_, _, err = iss.CreateAPIToken(ctx, "ci-bot", "third")
	fmt.Println("third token:", errors.Is(err, authkit.ErrLimitExceeded))

	// List (never with secrets) and revoke by ID.
	live, err := iss.APITokens(ctx, "ci-bot")
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("live tokens:", len(live))
	if err := iss.RevokeAPIToken(ctx, "ci-bot", rec.ID); err != nil {
		log.Fatal(err)
	}
	_, err = ver.Verify(ctx, secret)
	fmt.Println("after revocation:", errors.Is(err, authkit.ErrTokenRevoked))
	// Output:
	// prefix: true
	// record: deploy pipeline [deploy] 2160h0m0s
	// hash returned: false
	// verified: ci-bot api_token [deploy] true
	// mistyped: true
	// second token: true
	// third token: true
	// live tokens: 2
	// after revocation: true
}

// Log a subject out everywhere: every session is revoked, and a cutoff
// kills every access token issued to the subject up to that moment, even
// one issued earlier in the same second. A new login afterwards works.
func ExampleIssuer_RevokeSubject() {
	ctx := context.Background()
	// A settable clock keeps the example exact to the millisecond.
	now := time.Date(2030, time.January, 2, 3, 4, 5, 0, time.UTC)
	clock := func() time.Time { return now }

	key, err := keys.Generate(keys.EdDSA)
	if err != nil {
		log.Fatal(err)
	}
	set, err := keys.NewSet(key)
	if err != nil {
		log.Fatal(err)
	}
	store := memory.New()
	iss, err := issuer.New(authkit.WithKeys(set), authkit.WithStore(store), authkit.WithClock(clock))
	if err != nil {
		log.Fatal(err)
	}
	ver, err := verifier.New(authkit.WithKeys(set), authkit.WithStore(store), authkit.WithClock(clock))
	if err != nil {
		log.Fatal(err)
	}

	laptop, _ := iss.IssuePair(ctx, "alice", issuer.WithDeviceName("laptop"))
	now = now.Add(300 * time.Millisecond)
	phone, _ := iss.IssuePair(ctx, "alice", issuer.WithDeviceName("phone"))
	stateless, _ := iss.IssueAccessToken(ctx, "alice") // no session at all
	bob, _ := iss.IssuePair(ctx, "bob")

	now = now.Add(300 * time.Millisecond)
	if err := iss.RevokeSubject(ctx, "alice"); err != nil {
		log.Fatal(err)
	}

	for _, tok := range []string{laptop.AccessToken, phone.AccessToken, stateless.AccessToken} {
		_, err := ver.Verify(ctx, tok)
		fmt.Println("alice's earlier token revoked:", errors.Is(err, authkit.ErrTokenRevoked))
	}
	_, err = iss.Refresh(ctx, phone.RefreshToken)
	fmt.Println("alice's refresh revoked:", errors.Is(err, authkit.ErrTokenRevoked))
	sessions, _ := iss.Sessions(ctx, "alice")
	fmt.Println("alice's live sessions:", len(sessions))
	_, err = ver.Verify(ctx, bob.AccessToken)
	fmt.Println("bob unaffected:", err == nil)

	// A new login, still in the same second as the logout-all.
	now = now.Add(200 * time.Millisecond)
	again, _ := iss.IssuePair(ctx, "alice")
	p, err := ver.Verify(ctx, again.AccessToken)
	fmt.Println("new login:", err == nil, p.Subject)
	// Output:
	// alice's earlier token revoked: true
	// alice's earlier token revoked: true
	// alice's earlier token revoked: true
	// alice's refresh revoked: true
	// alice's live sessions: 0
	// bob unaffected: true
	// new login: true alice
}

// A login that may be remembered: the issuer is configured with the
// longest session ("remember me"), and a login without it gets a shorter
// one.
func ExampleWithSessionLifetime() {
	ctx := context.Background()
	now := time.Date(2030, time.January, 2, 3, 4, 5, 0, time.UTC)
	key, _ := keys.Generate(keys.EdDSA)
	set, _ := keys.NewSet(key)
	iss, err := issuer.New(authkit.WithKeys(set), authkit.WithStore(memory.New()),
		authkit.WithClock(func() time.Time { return now }),
		authkit.WithRefreshTTL(24*time.Hour), authkit.WithSessionLifetime(30*24*time.Hour))
	if err != nil {
		log.Fatal(err)
	}
	remembered, _ := iss.IssuePair(ctx, "alice")
	once, _ := iss.IssuePair(ctx, "alice", issuer.WithSessionLifetime(8*time.Hour))
	fmt.Println("remembered:", remembered.RefreshExpiresAt.Sub(now))
	fmt.Println("this browser session only:", once.RefreshExpiresAt.Sub(now))
	// Output:
	// remembered: 24h0m0s
	// this browser session only: 8h0m0s
}

// A login records its session in the application's own table before the
// tokens go out; when that write fails, the login fails and leaves no
// session behind (and, under a session limit, ends none of the others).
func ExampleWithSessionCreated() {
	ctx := context.Background()
	key, _ := keys.Generate(keys.EdDSA)
	set, _ := keys.NewSet(key)
	iss, err := issuer.New(authkit.WithKeys(set), authkit.WithStore(memory.New()), authkit.WithSessionLimit(1))
	if err != nil {
		log.Fatal(err)
	}
	devices := map[string]string{} // session ID -> device, the application's table
	laptop, err := iss.IssuePair(ctx, "alice", issuer.WithSessionCreated(func(_ context.Context, id string) error {
		devices[id] = "laptop"
		return nil
	}))
	if err != nil {
		log.Fatal(err)
	}
	_, err = iss.IssuePair(ctx, "alice", issuer.WithSessionCreated(func(context.Context, string) error {
		return errors.New("device table unavailable")
	}))
	fmt.Println("second login:", err)
	sessions, _ := iss.Sessions(ctx, "alice")
	fmt.Println("alice's sessions:", len(sessions), devices[sessions[0].ID], sessions[0].ID == laptop.SessionID)
	// Output:
	// second login: device table unavailable
	// alice's sessions: 1 laptop true
}

// A refresh asks the application whether the user is still active and
// which of the session's scopes it may still hold.
func ExampleWithRefreshCheck() {
	ctx := context.Background()
	key, _ := keys.Generate(keys.EdDSA)
	set, _ := keys.NewSet(key)
	iss, err := issuer.New(authkit.WithKeys(set), authkit.WithStore(memory.New()))
	if err != nil {
		log.Fatal(err)
	}
	disabled := map[string]bool{}
	check := issuer.WithRefreshCheck(func(_ context.Context, s authkit.Session) ([]string, error) {
		if disabled[s.Subject] {
			return nil, errors.New("account disabled")
		}
		return []string{"orders:read"}, nil // orders:write was withdrawn
	})

	pair, _ := iss.IssuePair(ctx, "alice", issuer.WithScopes("orders:read", "orders:write"))
	pair, err = iss.Refresh(ctx, pair.RefreshToken, check)
	fmt.Printf("refreshed: %v, scope %q\n", err == nil, pair.Scope)

	disabled["alice"] = true
	_, err = iss.Refresh(ctx, pair.RefreshToken, check)
	fmt.Println("disabled user refused:", errors.Is(err, authkit.ErrTokenRevoked))
	// Output:
	// refreshed: true, scope "orders:read"
	// disabled user refused: true
}

// Logging a subject out everywhere, API tokens included (knox's
// LogoutAllView).
func ExampleWithAPITokens() {
	ctx := context.Background()
	key, _ := keys.Generate(keys.EdDSA)
	set, _ := keys.NewSet(key)
	store := memory.New()
	iss, err := issuer.New(authkit.WithKeys(set), authkit.WithStore(store))
	if err != nil {
		log.Fatal(err)
	}
	_, _, _ = iss.CreateAPIToken(ctx, "alice", "ci")
	_, _ = iss.IssuePair(ctx, "alice")
	if err := iss.RevokeSubject(ctx, "alice", issuer.WithAPITokens()); err != nil {
		log.Fatal(err)
	}
	sessions, _ := iss.Sessions(ctx, "alice")
	tokens, _ := iss.APITokens(ctx, "alice")
	fmt.Println("sessions:", len(sessions), "API tokens:", len(tokens))
	// Output:
	// sessions: 0 API tokens: 0
}
