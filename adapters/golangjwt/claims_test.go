package golangjwt_test

import (
	"encoding/json"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/authkit-go/authkit"
	"github.com/authkit-go/authkit/adapters/golangjwt"
)

func TestRegisteredClaims(t *testing.T) {
	iat := time.Unix(1_800_000_000, 0)
	p := &authkit.Principal{
		Subject:   "alice",
		Scopes:    []string{"read", "write"},
		Method:    authkit.MethodJWT,
		TokenID:   "0b9c7b6e-1d7a-4f4c-9f58-3a4c1f7e2d10",
		SessionID: "fam-1",
		ClientID:  "web",
		Issuer:    "https://tenant.auth0.example/",
		IssuedAt:  iat,
		ExpiresAt: iat.Add(5 * time.Minute),
		Claims:    map[string]any{"tenant": "acme"},
	}
	want := jwt.RegisteredClaims{
		Issuer:    "https://tenant.auth0.example/",
		Subject:   "alice",
		ID:        "0b9c7b6e-1d7a-4f4c-9f58-3a4c1f7e2d10",
		IssuedAt:  jwt.NewNumericDate(iat),
		ExpiresAt: jwt.NewNumericDate(iat.Add(5 * time.Minute)),
	}
	if got := golangjwt.RegisteredClaims(p); !reflect.DeepEqual(got, want) {
		t.Fatalf("RegisteredClaims = %+v, want %+v", got, want)
	}

	ac := golangjwt.AccessTokenClaims(p)
	if !reflect.DeepEqual(ac.RegisteredClaims, want) || ac.ClientID != "web" || ac.Scope != "read write" ||
		ac.SessionID != "fam-1" || !slices.Equal(ac.Scopes(), p.Scopes) {
		t.Fatalf("AccessTokenClaims = %+v", ac)
	}
	b, err := json.Marshal(ac)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	wantJSON := map[string]any{
		"iss": "https://tenant.auth0.example/", "sub": "alice", "jti": "0b9c7b6e-1d7a-4f4c-9f58-3a4c1f7e2d10", "iat": float64(1_800_000_000),
		"exp": float64(1_800_000_300), "client_id": "web", "scope": "read write", "sid": "fam-1",
	}
	if !reflect.DeepEqual(m, wantJSON) {
		t.Fatalf("JSON = %s", b)
	}
}

// What a Principal does not carry stays empty; zero times stay nil.
func TestRegisteredClaimsEmpty(t *testing.T) {
	if got := golangjwt.RegisteredClaims(nil); !reflect.DeepEqual(got, jwt.RegisteredClaims{}) {
		t.Fatalf("RegisteredClaims(nil) = %+v", got)
	}
	if got := golangjwt.AccessTokenClaims(nil); !reflect.DeepEqual(got, golangjwt.AccessClaims{}) {
		t.Fatalf("AccessTokenClaims(nil) = %+v", got)
	}
	got := golangjwt.RegisteredClaims(&authkit.Principal{Subject: "svc", Method: authkit.MethodAPIToken, TokenID: "tok-1"})
	if got.ExpiresAt != nil || got.IssuedAt != nil || got.NotBefore != nil || got.Issuer != "" || got.Audience != nil {
		t.Fatalf("RegisteredClaims of an API-token principal = %+v", got)
	}
	if got.Subject != "svc" || got.ID != "tok-1" {
		t.Fatalf("RegisteredClaims = %+v", got)
	}
	if (*golangjwt.AccessClaims)(nil).Scopes() != nil || (&golangjwt.AccessClaims{}).Scopes() != nil {
		t.Fatal("Scopes of no scope is not nil")
	}
}
