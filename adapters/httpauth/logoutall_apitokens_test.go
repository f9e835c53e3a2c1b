package httpauth_test

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/authkit-go/authkit/adapters/httpauth"
)

// POST /logout-all, end to end over the memory store: it ends every
// session of the caller (its access and refresh tokens stop working) and,
// with WithLogoutAllAPITokens, revokes the caller's API tokens too, while
// other users' credentials keep working. Without the option the caller's
// API tokens survive.
func TestLogoutAllRevokesAPITokensEndToEnd(t *testing.T) {
	for _, with := range []bool{true, false} {
		name := "WithLogoutAllAPITokens"
		var o fxOptions
		if with {
			o.handler = []httpauth.HandlerOption{httpauth.WithLogoutAllAPITokens()}
		} else {
			name = "without the option"
		}
		t.Run(name, func(t *testing.T) {
			f := newFx(t, o)
			ctx := context.Background()
			alice := f.login("alice", "")
			var aliceAPI []string
			for _, label := range []string{"ci", "deploy"} {
				secret, _, err := f.iss.CreateAPIToken(ctx, "alice", label)
				if err != nil {
					t.Fatal(err)
				}
				aliceAPI = append(aliceAPI, secret)
			}
			bob := f.login("bob", "")
			bobAPI, _, err := f.iss.CreateAPIToken(ctx, "bob", "ci")
			if err != nil {
				t.Fatal(err)
			}
			// Everything works before.
			for what, tok := range map[string]string{"alice's access token": alice.AccessToken, "alice's API token 1": aliceAPI[0], "alice's API token 2": aliceAPI[1], "bob's API token": bobAPI} {
				if r := f.do("GET", "/api/me", "", bearer(tok)...); r.status != http.StatusOK {
					t.Fatalf("%s before logout-all: %d %s", what, r.status, r.body)
				}
			}
			f.clock.Add(time.Second)

			if r := f.do("POST", "/logout-all", "", bearer(alice.AccessToken)...); r.status != http.StatusNoContent {
				t.Fatalf("POST /logout-all: %d %s", r.status, r.body)
			}
			f.clock.Add(time.Second)

			// Alice's session is over: her access token is refused, and so
			// is her refresh token, on a protected route and at the token
			// endpoint.
			if r := f.do("GET", "/api/me", "", bearer(alice.AccessToken)...); r.status != http.StatusUnauthorized {
				t.Errorf("alice's access token after logout-all: %d %s, want 401", r.status, r.body)
			}
			if r := f.do("GET", "/api/me", "", bearer(alice.RefreshToken)...); r.status != http.StatusUnauthorized {
				t.Errorf("alice's refresh token on a protected route after logout-all: %d %s, want 401", r.status, r.body)
			}
			if r := f.form("/token", []string{"grant_type", "refresh_token", "refresh_token", alice.RefreshToken}); r.status != http.StatusBadRequest {
				t.Errorf("refreshing with alice's refresh token after logout-all: %d %s, want 400", r.status, r.body)
			}
			// Her API tokens: revoked with the option, alive without.
			for i, tok := range aliceAPI {
				r := f.do("GET", "/api/me", "", bearer(tok)...)
				switch {
				case with && r.status != http.StatusUnauthorized:
					t.Errorf("alice's API token %d after logout-all: %d %s, want 401", i+1, r.status, r.body)
				case !with && r.status != http.StatusOK:
					t.Errorf("alice's API token %d after logout-all without the option: %d %s, want 200", i+1, r.status, r.body)
				}
			}
			ts, err := f.iss.APITokens(ctx, "alice")
			if err != nil {
				t.Fatal(err)
			}
			if with && len(ts) != 0 || !with && len(ts) != 2 {
				t.Errorf("alice has %d API tokens listed after logout-all", len(ts))
			}
			// Bob is untouched.
			if r := f.do("GET", "/api/me", "", bearer(bobAPI)...); r.status != http.StatusOK || r.body != "bob api_token []" {
				t.Errorf("bob's API token after alice's logout-all: %d %s, want 200", r.status, r.body)
			}
			if r := f.do("GET", "/api/me", "", bearer(bob.AccessToken)...); r.status != http.StatusOK {
				t.Errorf("bob's access token after alice's logout-all: %d %s, want 200", r.status, r.body)
			}
			// Alice can log in again, and her new token works.
			again := f.login("alice", "")
			if r := f.do("GET", "/api/me", "", bearer(again.AccessToken)...); r.status != http.StatusOK {
				t.Errorf("alice's new login after logout-all: %d %s, want 200", r.status, r.body)
			}
		})
	}
}

// A POST /api-tokens whose JWT was checked before a logout-all, and whose
// token is stored after the logout-all listed the caller's API tokens,
// must not leave that token alive: the Handler passes the caller to
// issuer.WithCreator, which checks the JWT again once the token is stored.
func TestAPITokenCreatedDuringLogoutAll(t *testing.T) {
	f := newFx(t, fxOptions{handler: []httpauth.HandlerOption{httpauth.WithLogoutAllAPITokens()}})
	alice := f.login("alice", "")
	f.clock.Add(time.Second)
	race := func() {
		// The logout-all runs between the request's check of its JWT
		// and the store's write of the new token.
		if r := f.do("POST", "/logout-all", "", bearer(alice.AccessToken)...); r.status != http.StatusNoContent {
			t.Errorf("POST /logout-all: %d %s", r.status, r.body)
		}
	}
	f.store.beforeCreateAPIToken.Store(&race)
	r := f.do("POST", "/api-tokens", `{"name":"thief"}`, append(bearer(alice.AccessToken), "Content-Type", "application/json")...)
	if r.status != http.StatusUnauthorized {
		t.Errorf("POST /api-tokens racing logout-all: %d %s, want 401", r.status, r.body)
	}
	ts, err := f.iss.APITokens(context.Background(), "alice")
	if err != nil {
		t.Fatal(err)
	}
	if len(ts) != 0 {
		t.Errorf("%d API tokens of alice alive after a creation that raced logout-all", len(ts))
	}
	// Without a race, creation works.
	f.clock.Add(time.Second)
	bob := f.login("bob", "")
	r = f.do("POST", "/api-tokens", `{"name":"ci"}`, append(bearer(bob.AccessToken), "Content-Type", "application/json")...)
	if r.status != http.StatusCreated {
		t.Fatalf("POST /api-tokens: %d %s", r.status, r.body)
	}
	if r := f.do("GET", "/api/me", "", bearer(r.json(t)["token"].(string))...); r.status != http.StatusOK {
		t.Errorf("the new API token: %d %s", r.status, r.body)
	}
}
