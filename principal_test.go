package authkit_test

import (
	"encoding/json"
	"slices"
	"testing"
	"time"

	"github.com/authkit-go/authkit"
)

func TestPrincipalJSON(t *testing.T) {
	berlin := time.FixedZone("CET", 3600)
	cases := []struct {
		name string
		p    authkit.Principal
		want string
	}{
		{
			"session",
			authkit.Principal{
				Subject: "alice", Scopes: []string{"read", "write"}, Method: authkit.MethodJWT,
				TokenID: "jti-1", SessionID: "sid-1", ClientID: "authkit", Issuer: "https://auth.example",
				IssuedAt:  time.Date(2030, 1, 2, 4, 4, 5, 123e6, berlin),
				ExpiresAt: time.Date(2030, 1, 2, 3, 9, 5, 0, time.UTC),
				Claims:    map[string]any{"tenant": "acme", "level": 3.0, "staff": true},
			},
			`{"subject":"alice","scopes":["read","write"],"method":"jwt","token_id":"jti-1","session_id":"sid-1",` +
				`"client_id":"authkit","issuer":"https://auth.example","issued_at":"2030-01-02T03:04:05.123Z","expires_at":"2030-01-02T03:09:05Z",` +
				`"claims":{"level":3,"staff":true,"tenant":"acme"}}`,
		},
		{
			"API token without scopes or expiry",
			authkit.Principal{Subject: "bob", Method: authkit.MethodAPIToken, TokenID: "tok-1",
				IssuedAt: time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)},
			`{"subject":"bob","scopes":[],"method":"api_token","token_id":"tok-1","issued_at":"2030-01-02T03:04:05Z"}`,
		},
		{
			"bare",
			authkit.Principal{Subject: "carol", Method: authkit.MethodBasic, Scopes: []string{}, Claims: map[string]any{}},
			`{"subject":"carol","scopes":[],"method":"basic"}`,
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			b, err := json.Marshal(tc.p)
			if err != nil {
				t.Fatal(err)
			}
			if string(b) != tc.want {
				t.Fatalf("json.Marshal(Principal)\n got %s\nwant %s", b, tc.want)
			}
			// A pointer encodes the same.
			if bp, err := json.Marshal(&tc.p); err != nil || string(bp) != tc.want {
				t.Errorf("json.Marshal(*Principal) = %s, %v", bp, err)
			}
			var back authkit.Principal
			if err := json.Unmarshal(b, &back); err != nil {
				t.Fatalf("json.Unmarshal: %v", err)
			}
			if back.Subject != tc.p.Subject || back.Method != tc.p.Method || back.TokenID != tc.p.TokenID ||
				back.SessionID != tc.p.SessionID || back.ClientID != tc.p.ClientID ||
				!slices.Equal(back.Scopes, tc.p.Scopes) || !back.IssuedAt.Equal(tc.p.IssuedAt) ||
				!back.ExpiresAt.Equal(tc.p.ExpiresAt) || len(back.Claims) != len(tc.p.Claims) {
				t.Errorf("round trip: got %+v, want %+v", back, tc.p)
			}
			for k, v := range tc.p.Claims {
				if back.Claims[k] != v {
					t.Errorf("round trip: claim %q = %v, want %v", k, back.Claims[k], v)
				}
			}
			if again, err := json.Marshal(back); err != nil || string(again) != tc.want {
				t.Errorf("re-encoding the decoded principal: %s, %v", again, err)
			}
		})
	}
}

func TestPrincipalJSONRefusesUnencodableClaims(t *testing.T) {
	_, err := json.Marshal(authkit.Principal{Subject: "a", Method: authkit.MethodJWT, Claims: map[string]any{"c": make(chan int)}})
	if err == nil {
		t.Fatal("a claim that JSON cannot encode was encoded")
	}
}

// A claim named like a registered one but for its case ("SUB") is left out
// of DecodeClaims: encoding/json matches tags without regard to case, so it
// filled a field tagged "sub" with a value the token's subject is not
// (found by review, with a simplejwt token whose subject is user_id).
func TestDecodeClaimsLeavesOutCaseVariantsOfRegisteredNames(t *testing.T) {
	p := &authkit.Principal{
		Subject:    "1",
		ClaimsJSON: `{"user_id":"1","SUB":"admin","Iss":"https://evil.example","team":"blue"}`,
		Claims:     map[string]any{"SUB": "admin", "Iss": "https://evil.example", "team": "blue"},
	}
	var got struct {
		Sub  string `json:"sub"`
		Iss  string `json:"iss"`
		Team string `json:"team"`
	}
	if err := p.DecodeClaims(&got); err != nil {
		t.Fatal(err)
	}
	if got.Sub != "" || got.Iss != "" || got.Team != "blue" {
		t.Errorf("DecodeClaims = %+v, want no sub and no iss (only case variants were in the token), team blue", got)
	}
}
